//! `cargo lab selfcheck`: proves that the verdict catches what the debug kernel reports. Boots
//! the debug kernel once per deliberate bug of `vm/selfcheck/lab_broken.c` (a use-after-free, a
//! leak, a lock-order inversion, sleeping in atomic context, an out-of-bounds index) and once
//! with none, and checks each verdict: unhealthy with the right report, or passed.

use anyhow::Result;

use super::{BootPlan, GuestTask};
use crate::contract::Mode;
use crate::error::usage_error;
use crate::kernel::debug as debug_kernel;
use crate::verdict::{Outcome, Verdict};
use crate::{flags, project};

/// Each bug, and the text the verdict's reason must quote from the kernel's report.
const CASES: &[(&str, Option<&str>)] = &[
    ("none", None),
    ("uaf", Some("BUG: KASAN: slab-use-after-free")),
    ("leak", Some("unreferenced object")),
    ("lockorder", Some("possible circular locking dependency")),
    (
        "sleep",
        Some("sleeping function called from invalid context"),
    ),
    ("ubsan", Some("UBSAN: array-index-out-of-bounds")),
];

impl flags::SelfcheckArgs {
    /// Runs every case; exit 0 when each verdict is the expected one.
    pub fn run(&self) -> Result<u8> {
        run(self)
    }
}

fn run(args: &flags::SelfcheckArgs) -> Result<u8> {
    let known: Vec<&str> = CASES.iter().map(|(bug, _)| *bug).collect();
    if let Some(bad) = args.cases.iter().find(|c| !known.contains(&c.as_str())) {
        return Err(usage_error(format!(
            "no selfcheck case {bad:?}: the cases are {}",
            known.join(", ")
        )));
    }
    let mut vm = args.vm.clone();
    vm.kernel = Some(vm.kernel.unwrap_or_else(|| debug_kernel::NAME.to_owned()));
    let prep = super::prepare(&vm)?;
    let plan = BootPlan::new(&vm, 1);
    let src = project::root().join("vm/selfcheck");
    let mut wrong = Vec::new();
    let mut rows = Vec::new();
    for kernel in &prep.kernels {
        let chosen = CASES
            .iter()
            .filter(|(bug, _)| args.cases.is_empty() || args.cases.iter().any(|c| c == bug));
        for (bug, expected) in chosen {
            // Each case keeps its own logs: target/lab/selfcheck-<bug>/.
            let mut case = kernel.clone();
            case.name = format!("selfcheck-{bug}");
            let trigger = format!("echo {bug} > /sys/module/lab_broken/parameters/trigger");
            let task = GuestTask {
                kmod_src: src.clone(),
                ..GuestTask::new(Mode::Exec {
                    command: ["sh", "-c", &trigger].map(str::to_owned).to_vec(),
                })
            };
            eprintln!("==> selfcheck: {bug} on {}", kernel.name);
            let run = super::run_on(&prep, &case, &plan, &task)?;
            let ok = caught(&run.verdict, *expected);
            rows.push(format!(
                "{:<10} {:<7} {:<17} {}",
                bug,
                if ok { "ok" } else { "WRONG" },
                run.verdict.result.label(),
                run.verdict.reason
            ));
            if !ok {
                wrong.push(format!(
                    "{bug}: expected {}, got {} ({})",
                    expected.map_or("passed".to_owned(), |e| format!("unhealthy quoting '{e}'")),
                    run.verdict.result.label(),
                    run.verdict.logs.display()
                ));
            }
        }
    }
    println!("\n{:<10} {:<7} {:<17} reason", "bug", "check", "verdict");
    for r in &rows {
        println!("{r}");
    }
    if wrong.is_empty() {
        println!("selfcheck: every deliberate bug was caught, and the clean run passed");
        Ok(0)
    } else {
        for w in &wrong {
            println!("selfcheck: {w}");
        }
        Ok(1)
    }
}

/// Whether a verdict is what the case expects.
fn caught(v: &Verdict, expected: Option<&str>) -> bool {
    match expected {
        None => v.result == Outcome::Passed,
        Some(text) => v.result == Outcome::KernelUnhealthy && v.reason.contains(text),
    }
}
