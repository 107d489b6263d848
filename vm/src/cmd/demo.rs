//! `cargo lab demo`: the newcomer's tour. Inserts the module, runs each client's echo, dump and
//! error in readable sections, then prints the module's kernel-log lines.

use anyhow::Result;

use crate::flags::VmArgs;
use crate::verdict::overall_exit_code;

/// Runs the demo on each kernel asked for.
pub fn run(args: &VmArgs) -> Result<u8> {
    let prep = super::prepare(args)?;
    let mut verdicts = Vec::new();
    for kernel in &prep.kernels {
        let run = super::boot_guest(&prep, kernel, args, &["demo".to_owned()])?;
        run.verdict.print();
        verdicts.push(run.verdict);
    }
    Ok(overall_exit_code(&verdicts))
}
