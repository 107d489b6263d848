//! `cargo lab coverage`: the modules' line and branch coverage from the debug kernel's runs.

use anyhow::Result;

use crate::{coverage, flags};

impl flags::CoverageArgs {
    /// Merges the saved runs and writes the HTML report.
    pub fn run(&self) -> Result<u8> {
        coverage::report()
    }
}
