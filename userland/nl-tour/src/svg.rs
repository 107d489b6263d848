//! A diagram of one generic netlink request, drawn from its bytes.

use anyhow::Result;

use crate::capture::Capture;

/// The first echo request of the capture, drawn.
pub fn from_capture(_capture: &Capture) -> Result<String> {
    anyhow::bail!("not yet")
}
