//! `cargo lab test`: the snapshot suite on each kernel, a verdict per kernel and a summary.

use anyhow::Result;

use super::{BootPlan, GuestTask};
use crate::contract::Mode;
use crate::{build, flags, project, verdict};

impl flags::TestArgs {
    /// Runs the suite on every kernel asked for and returns the exit code of the worst verdict.
    pub fn run(&self) -> Result<u8> {
        let prep = super::prepare(&self.vm)?;
        let plan = BootPlan::new(&self.vm, prep.side_by_side(self.jobs));
        eprintln!("==> building the test suite");
        let suite = build::suite(&prep.sh)?;
        let task = GuestTask {
            coverage: Some("test"),
            ..GuestTask::new(Mode::Test {
                suite,
                args: self.suite_args.clone(),
            })
        };
        let verdicts = super::each_kernel(&prep, self.jobs, |prep, kernel| {
            let run = super::run_on(prep, kernel, &plan, &task)?;
            run.verdict.print();
            Ok(run.verdict)
        })?;
        verdict::conclude(&project::lab_dir(), &verdicts)?;
        let passed: u32 = verdicts.iter().map(|v| v.passed).sum();
        let failed: u32 = verdicts.iter().map(|v| v.failed).sum();
        // The closing line in the form CI systems read: every test of every kernel.
        println!("lab: {passed} passed, {failed} failed");
        if pending_snapshots() {
            eprintln!(
                "==> snapshots changed: review them with `cargo insta review` (or `just review`)"
            );
        }
        Ok(verdict::overall_exit_code(&verdicts))
    }
}

/// Whether the run left `.snap.new` files in the source tree.
fn pending_snapshots() -> bool {
    fn walk(dir: &std::path::Path) -> bool {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                let path = e.path();
                if path.is_dir() {
                    walk(&path)
                } else {
                    path.extension().is_some_and(|x| x == "new")
                }
            })
    }
    walk(&project::root().join("tests"))
}
