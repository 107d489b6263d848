//! `cargo lab test`: the snapshot suite on each kernel, a verdict per kernel and a summary.

use anyhow::Result;

use crate::flags::TestArgs;
use crate::verdict::{overall_exit_code, summary_table};
use crate::{build, project};

/// Runs the suite on every kernel asked for and returns the exit code of the worst verdict.
pub fn run(args: &TestArgs) -> Result<u8> {
    let mut vm = args.vm.clone();
    let prep = super::prepare(&vm)?;
    let side_by_side = prep.side_by_side(args.jobs);
    vm.quiet = side_by_side > 1;
    vm.cpus = Some(super::vcpus(&vm, side_by_side));
    eprintln!("==> building the test suite");
    let suite = build::suite(&prep.sh)?;
    let verdicts = super::each_kernel(&prep, args.jobs, |prep, kernel| {
        let mut mode = vec![
            "test".to_owned(),
            "--suite".to_owned(),
            suite.display().to_string(),
        ];
        if args.no_retry {
            mode.push("--no-retry".to_owned());
        }
        mode.push("--".to_owned());
        mode.extend(args.suite_args.iter().cloned());
        let mut run = super::boot_guest(prep, kernel, &vm, &mode)?;
        super::capture_coverage(prep, kernel, &mut run.verdict, "test");
        run.verdict.print();
        Ok(run.verdict)
    })?;
    eprintln!();
    eprint!("{}", summary_table(&verdicts));
    crate::junit::write_run(&project::lab_dir(), &verdicts)?;
    let passed: u32 = verdicts.iter().map(|v| v.passed).sum();
    let failed: u32 = verdicts.iter().map(|v| v.failed).sum();
    let flaky: usize = verdicts.iter().map(|v| v.flaky.len()).sum();
    // The closing line in the form CI systems read: every test of every kernel.
    println!("lab: {passed} passed, {failed} failed, {flaky} flaky (passed on the rerun)");
    if pending_snapshots() {
        eprintln!(
            "==> snapshots changed: review them with `cargo insta review` (or `just review`)"
        );
    }
    Ok(overall_exit_code(&verdicts))
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
