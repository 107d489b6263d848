//! `cargo lab bench --lab`: the wall time of each phase of a `cargo lab test` run, next to a bare
//! boot of the same kernel.

use std::fs;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use super::bench_dir;
use super::watch::{self, WatchFigures};
use crate::build;
use crate::cmd::{split_vm, BootPlan, GuestTask, Prepared};
use crate::contract::{Mode, GUEST_REPORT};
use crate::error::EXIT_INFRA_FAILED;
use crate::flags::BenchArgs;
use crate::kernel::Kernel;
use crate::verdict::Outcome;

/// Wall time of each phase of a `cargo lab test` run, in seconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LabPhases {
    pub kernel_resolve: f64,
    pub client_build: f64,
    pub suite_build: f64,
    pub module_build: f64,
    pub boot: f64,
    pub tests: f64,
    pub shutdown: f64,
    /// `vng -r <image> --exec true`, nothing else.
    pub bare_boot: f64,
}

impl LabPhases {
    /// Everything a `cargo lab test` of one kernel spends.
    pub fn total(&self) -> f64 {
        self.kernel_resolve
            + self.client_build
            + self.suite_build
            + self.module_build
            + self.boot
            + self.tests
            + self.shutdown
    }

    /// The rows of the report: phase, seconds, share of the total.
    fn report(&self) -> String {
        let total = self.total();
        let mut out = String::from("| phase | seconds | share |\n|---|---:|---:|\n");
        for (name, s) in [
            ("kernel resolve", self.kernel_resolve),
            ("client build", self.client_build),
            ("suite build", self.suite_build),
            ("module build", self.module_build),
            ("boot (vng start to guest side done booting)", self.boot),
            ("tests (guest side)", self.tests),
            ("shutdown (guest side done to vng exit)", self.shutdown),
        ] {
            out.push_str(&format!(
                "| {name} | {s:.2} | {:.0}% |\n",
                100.0 * s / total.max(f64::EPSILON)
            ));
        }
        out.push_str(&format!("| **total** | {total:.2} | 100% |\n"));
        out.push_str(&format!(
            "| bare boot (the same VM, `--exec true`) | {:.2} | |\n",
            self.bare_boot
        ));
        if self.bare_boot > 0.0 {
            out.push_str(&format!(
                "\nlab run / bare boot: {:.2}×; boot + shutdown / bare boot: {:.2}×\n",
                total / self.bare_boot,
                (self.boot + self.shutdown) / self.bare_boot
            ));
        }
        out
    }
}

pub(super) fn lab(args: &BenchArgs) -> Result<u8> {
    // The same preparation `cargo lab test` makes, timed phase by phase.
    let prep = crate::cmd::prepare(&args.vm)?;
    let kernel_resolve = prep.timings.kernel_resolve / prep.kernels.len().max(1) as f64;
    let client_build = prep.timings.client_build;
    let t = Instant::now();
    let suite = build::suite(&prep.sh)?;
    let suite_build = t.elapsed().as_secs_f64();
    let dir = bench_dir();
    fs::create_dir_all(&dir)?;
    let mut code = 0;
    let mut singles = Vec::new();
    let plan = BootPlan::new(&args.vm, 1);
    let task = GuestTask::new(Mode::Test {
        suite,
        args: Vec::new(),
    });
    for kernel in &prep.kernels {
        let run = crate::cmd::run_on(&prep, kernel, &plan, &task)?;
        run.verdict.print();
        let (Some(vm_window), Some(report)) = (run.vm_window, run.report.as_ref()) else {
            code = EXIT_INFRA_FAILED;
            continue;
        };
        if run.verdict.result != Outcome::Passed {
            code = code.max(run.verdict.result.exit_code());
        }
        let guest_end = fs::metadata(run.verdict.logs.join(GUEST_REPORT))
            .and_then(|m| m.modified())
            .unwrap_or(vm_window.1);
        let (boot, tests, shutdown) = split_vm(vm_window, guest_end, report.seconds);
        let vm_secs = vm_window
            .1
            .duration_since(vm_window.0)
            .unwrap_or_default()
            .as_secs_f64();
        let guest_clock = report.finished - unix_secs(guest_end);
        eprintln!(
            "==> [{}] guest clock is {guest_clock:+.2} s off the host's (not used)",
            kernel.name
        );
        eprintln!(
            "==> [{}] bare boot: the same VM with --exec true",
            kernel.name
        );
        let bare_boot = bare_boot(&prep, kernel, &plan)?;
        let timeout = std::time::Duration::from_secs(args.vm.timeout);
        let watch = watch::figures(kernel, prep.accel.name(), timeout)?;
        let phases = LabPhases {
            kernel_resolve,
            client_build,
            suite_build,
            module_build: (run.verdict.seconds - vm_secs).max(0.0),
            boot,
            tests,
            shutdown,
            bare_boot,
        };
        let report_md = format!("{}\n{}", phases.report(), targets(&phases, &watch));
        println!("\n{} ({}):\n\n{report_md}", kernel.name, prep.accel.name());
        let date = super::now_iso();
        let file = dir.join(format!(
            "lab-{}-{}.json",
            kernel.name,
            date.replace(':', "")
        ));
        let json = serde_json::json!({
            "kernel": kernel.name,
            "release": kernel.release,
            "accel": run.verdict.accel,
            "date": date,
            "phases": phases,
            "watch": watch,
            "total": phases.total(),
            "tests": { "passed": report.passed, "failed": report.failed },
        });
        fs::write(&file, serde_json::to_string_pretty(&json)? + "\n")?;
        fs::write(dir.join(format!("lab-{}.md", kernel.name)), &report_md)?;
        eprintln!("==> [{}] results: {}", kernel.name, file.display());
        singles.push((kernel.name.clone(), phases.total()));
    }
    if singles.len() > 1 {
        let all = together(&singles, prep.accel.name())?;
        println!("\n{all}");
        fs::write(dir.join("lab-together.md"), &all)?;
    }
    Ok(code)
}

/// The kernels in one `cargo lab test --kernel A,B,...` (side by side as its `--jobs` default
/// allows), next to the slowest of their single runs above.
fn together(singles: &[(String, f64)], accel: &str) -> Result<String> {
    let names: Vec<&str> = singles.iter().map(|(n, _)| n.as_str()).collect();
    let list = names.join(",");
    eprintln!(
        "==> bench: the {} kernels in one run: cargo lab test --kernel {list}",
        names.len()
    );
    let exe = std::env::current_exe()?;
    let t = Instant::now();
    let status = std::process::Command::new(exe)
        .args(["test", "--kernel", &list, "--accel", accel])
        .current_dir(crate::project::root())
        .stdin(std::process::Stdio::null())
        .status()?;
    let seconds = t.elapsed().as_secs_f64();
    if !status.success() {
        bail!("cargo lab test --kernel {list} failed ({status}): its output is above");
    }
    let (slowest, slowest_s) = singles
        .iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .expect("more than one kernel");
    Ok(format!(
        "| figure | measured | target |\n|---|---:|---|\n\
         | `cargo lab test --kernel {list}` ({} at a time) / slowest single run ({slowest}, {slowest_s:.1} s) | {seconds:.1} s, {:.2}× | under 1.5× |\n",
        crate::flags::default_jobs(),
        seconds / slowest_s
    ))
}

/// The inner loop's targets (issue 18), each figure next to its target.
fn targets(phases: &LabPhases, watch: &WatchFigures) -> String {
    let mut out = String::from("| figure | measured | target |\n|---|---:|---|\n");
    if phases.bare_boot > 0.0 {
        out += &format!(
            "| warm `cargo lab test` / bare boot | {:.2}× | at most 2× |\n",
            phases.total() / phases.bare_boot
        );
    }
    out += &format!(
        "| `cargo lab watch -- {}`: save to verdict | {:.1} s | under 10 s |\n",
        watch::FILTER,
        watch.filtered.to_verdict
    );
    out += &format!(
        "| `cargo lab watch`, whole suite: save to verdict | {:.1} s (suite {:.1} s, +{:.1} s) | under the suite + 10 s |\n",
        watch.whole.to_verdict,
        watch.whole.suite,
        watch.whole.to_verdict - watch.whole.suite
    );
    out
}

pub(super) fn unix_secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Seconds of the lab's own VM of `kernel` (the same `vng` options) running `true` instead of
/// the guest side: the floor any lab run stands on.
pub(super) fn bare_boot(prep: &Prepared, kernel: &Kernel, plan: &BootPlan) -> Result<f64> {
    let mut boot = crate::cmd::guest_boot(prep, kernel, plan, vec!["true".to_owned()]);
    // Its console goes beside the results, not over the test run's log.
    boot.out_dir = bench_dir().join(format!("bare-boot-{}", kernel.name));
    boot.quiet = true;
    let t = Instant::now();
    let ended = boot.run()?;
    let seconds = t.elapsed().as_secs_f64();
    if ended.status != Some(0) {
        bail!(
            "the bare boot (vng --exec true) failed: see {}",
            ended.console_log.display()
        );
    }
    Ok(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_vm_time_splits_into_boot_tests_and_shutdown() {
        let t0 = UNIX_EPOCH + Duration::from_secs(1000);
        let end = t0 + Duration::from_secs(30);
        let guest_end = t0 + Duration::from_secs(28);
        let (boot, tests, shutdown) = split_vm((t0, end), guest_end, 10.0);
        assert!((boot - 18.0).abs() < 1e-9 && (tests - 10.0).abs() < 1e-9);
        assert!((shutdown - 2.0).abs() < 1e-9);
        // A guest duration longer than the VM's cannot be: it is capped.
        let (boot, tests, _) = split_vm((t0, end), guest_end, 99.0);
        assert_eq!((boot, tests), (0.0, 28.0));
        let phases = LabPhases {
            boot: 18.0,
            tests: 10.0,
            shutdown: 2.0,
            bare_boot: 12.0,
            ..LabPhases::default()
        };
        assert_eq!(phases.total(), 30.0);
        assert!(phases.report().contains("lab run / bare boot: 2.50×"));
    }
}
