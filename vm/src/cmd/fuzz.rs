//! `cargo lab fuzz`: the reliability runs (issue 9). Being written; until then it says so and fails.

use anyhow::{bail, Result};
use clap::Args;

use crate::VmArgs;

/// Arguments of `cargo lab fuzz`.
#[derive(Args, Debug)]
pub struct FuzzArgs {
    #[command(flatten)]
    pub vm: VmArgs,
}

/// Not implemented yet: fails with a clear message.
pub fn run(_args: &FuzzArgs) -> Result<u8> {
    bail!("cargo lab fuzz is not implemented yet")
}
