//! `cargo lab bench`: the benchmarks (issue 8). Being written; until then it says so and fails.

use anyhow::{bail, Result};
use clap::Args;

use crate::VmArgs;

/// Arguments of `cargo lab bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    pub vm: VmArgs,
}

/// Not implemented yet: fails with a clear message.
pub fn run(_args: &BenchArgs) -> Result<u8> {
    bail!("cargo lab bench is not implemented yet")
}
