//! `cargo lab demo`: the newcomer's tour. Inserts the module, runs each client's echo, dump and
//! error in readable sections, then prints the module's kernel-log lines.

use anyhow::Result;

use super::{BootPlan, GuestTask};
use crate::contract::Mode;
use crate::{flags, verdict};

impl flags::DemoArgs {
    /// Runs the demo on each kernel asked for.
    pub fn run(&self) -> Result<u8> {
        let prep = super::prepare(&self.vm)?;
        let plan = BootPlan::new(&self.vm, 1);
        let task = GuestTask::new(Mode::Demo);
        let verdicts = super::each_kernel(&prep, 1, |prep, kernel| {
            let run = super::run_on(prep, kernel, &plan, &task)?;
            run.verdict.print();
            Ok(run.verdict)
        })?;
        Ok(verdict::overall_exit_code(&verdicts))
    }
}
