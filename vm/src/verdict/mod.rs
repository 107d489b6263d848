//! Verdicts: what a run on one kernel came to, decided from everything the boot left behind
//! (console, dmesg, kmemleak, the guest's report, the debug kernel's coverage) in [`judge`] and
//! written once by [`Verdict::record`] (`summary.json`, `junit.xml`); its exit code, and the
//! summary printed at the end.

pub mod fingerprint;
#[cfg(test)]
mod fixtures;
pub mod junit;
pub mod ktap;
mod libtest;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use serde::Serialize;

use crate::boot::{Accel, BootResult};
use crate::contract::{GuestReport, CONSOLE_LOG, DMESG, KMEMLEAK_REPORT, SUMMARY};
use crate::error::{
    EXIT_FLAKY, EXIT_INFRA_FAILED, EXIT_KERNEL_UNHEALTHY, EXIT_PASSED, EXIT_TESTS_FAILED,
};
use crate::health;
use crate::kernel::Kernel;

/// What one kernel's run came to, worst last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Passed,
    Flaky,
    TestsFailed,
    KernelUnhealthy,
    InfraFailed,
}

impl Outcome {
    /// The process exit code for this outcome.
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Passed => EXIT_PASSED,
            Outcome::Flaky => EXIT_FLAKY,
            Outcome::TestsFailed => EXIT_TESTS_FAILED,
            Outcome::KernelUnhealthy => EXIT_KERNEL_UNHEALTHY,
            Outcome::InfraFailed => EXIT_INFRA_FAILED,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Flaky => "flaky",
            Outcome::TestsFailed => "tests failed",
            Outcome::KernelUnhealthy => "kernel unhealthy",
            Outcome::InfraFailed => "infrastructure failed",
        }
    }
}

/// The verdict for one kernel, as printed and as saved to `summary.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub kernel: String,
    /// `uname -r` of the kernel that ran.
    pub release: String,
    /// The compiler the module was built with.
    pub compiler: String,
    pub accel: String,
    pub result: Outcome,
    /// One line saying why, empty when passed.
    pub reason: String,
    pub passed: u32,
    pub failed: u32,
    /// Tests that failed, then passed on their rerun (counted in `passed`).
    pub flaky: Vec<String>,
    /// One per distinct kernel report (splat): its kind and first stack frames.
    pub fingerprints: Vec<String>,
    /// The whole run: module build, boot, guest side, shutdown.
    pub seconds: f64,
    /// From starting the VM to the guest side's start (None when the guest never reported).
    pub boot_seconds: Option<f64>,
    /// The guest side (the suite, for `cargo lab test`), by the guest's monotonic clock.
    pub guest_seconds: Option<f64>,
    /// Where to read more: the directory with console.log and dmesg.txt.
    pub logs: PathBuf,
}

impl Verdict {
    /// A verdict for a run that stopped before the guest reported anything.
    pub fn infra(
        kernel: &Kernel,
        accel: &str,
        reason: String,
        logs: &Path,
        took: Duration,
    ) -> Self {
        Verdict {
            kernel: kernel.name.clone(),
            release: kernel.release.clone(),
            compiler: kernel.compiler.clone(),
            accel: accel.to_owned(),
            result: Outcome::InfraFailed,
            reason,
            passed: 0,
            failed: 0,
            flaky: Vec::new(),
            fingerprints: Vec::new(),
            seconds: took.as_secs_f64(),
            boot_seconds: None,
            guest_seconds: None,
            logs: logs.to_owned(),
        }
    }

    /// Prints the verdict line and where the logs are.
    pub fn print(&self) {
        let why = if self.reason.is_empty() {
            String::new()
        } else {
            format!(": {}", self.reason)
        };
        eprintln!(
            "==> [{}] {} (exit {}){}",
            self.kernel,
            self.result.label().to_uppercase(),
            self.result.exit_code(),
            why
        );
        eprintln!("    logs: {}", self.logs.display());
    }

    /// Writes the verdict next to the logs: `summary.json`, the kernel's `junit.xml` and
    /// `results.ktap`. The only writer of them, called once the verdict is final.
    pub fn record(&self) -> Result<()> {
        let path = self.logs.join(SUMMARY);
        fs::write(&path, serde_json::to_string_pretty(self)? + "\n")
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
        junit::write_kernel(self)?;
        let console = fs::read_to_string(self.logs.join(CONSOLE_LOG)).unwrap_or_default();
        ktap::write_kernel(self, &console)
    }
}

/// The table printed after a run over several kernels: the result and where the time went, then
/// which build of each kernel ran and the compiler its module was built with.
pub fn summary_table(verdicts: &[Verdict]) -> String {
    let secs = |s: Option<f64>| s.map_or_else(|| "-".to_owned(), |s| format!("{s:.1}s"));
    // No libtest counts (a fuzz run, a VM that never reported) is not "0 passed".
    let count = |v: &Verdict, n: u32| {
        if v.passed + v.failed == 0 {
            "-".to_owned()
        } else {
            n.to_string()
        }
    };
    let mut out = String::from(
        "kernel     accel  result                 passed failed    boot   suite   total\n",
    );
    for v in verdicts {
        out += &format!(
            "{:<10} {:<6} {:<22} {:>6} {:>6} {:>7} {:>7} {:>6.1}s\n",
            v.kernel,
            v.accel,
            v.result.label(),
            count(v, v.passed),
            count(v, v.failed),
            secs(v.boot_seconds),
            secs(v.guest_seconds),
            v.seconds
        );
    }
    out += "\n";
    for v in verdicts {
        out += &format!(
            "{:<10} {} (module built with {})\n",
            v.kernel, v.release, v.compiler
        );
    }
    out += &fingerprint::by_fingerprint(
        verdicts
            .iter()
            .map(|v| (v.kernel.as_str(), v.fingerprints.as_slice())),
    );
    for v in verdicts.iter().filter(|v| !v.flaky.is_empty()) {
        out += &format!(
            "\nflaky on {} (failed, then passed on the rerun): {}\n",
            v.kernel,
            v.flaky.join(", ")
        );
    }
    out
}

/// The end of a run over the kernels: the summary table, and the run's `target/lab/junit.xml`.
pub fn conclude(lab_dir: &Path, verdicts: &[Verdict]) -> Result<()> {
    eprintln!();
    eprint!("{}", summary_table(verdicts));
    junit::write_run(lab_dir, verdicts)
}

/// The exit code of a whole run: the worst outcome among the kernels.
pub fn overall_exit_code(verdicts: &[Verdict]) -> u8 {
    verdicts
        .iter()
        .map(|v| v.result)
        .max()
        .unwrap_or(Outcome::Passed)
        .exit_code()
}

/// Turns the logs, the guest's report and `coverage` into a verdict: an unhealthy kernel outranks
/// failed tests, and no report at all is an infrastructure failure. `coverage` (the debug kernel's
/// capture) runs unless the infrastructure failed, and its failure fails a run that passed.
pub fn judge(
    kernel: &Kernel,
    accel: Accel,
    out: &Path,
    boot: &BootResult,
    timeout: u64,
    coverage: Option<&dyn Fn() -> Result<()>>,
) -> (Verdict, Option<GuestReport>) {
    let console = fs::read_to_string(&boot.console_log).unwrap_or_default();
    let dmesg = fs::read_to_string(out.join(DMESG)).unwrap_or_default();
    let kmemleak = fs::read_to_string(out.join(KMEMLEAK_REPORT)).unwrap_or_default();
    let report = GuestReport::read(out);
    let guest_accel = if dmesg.contains("Hypervisor detected: KVM") {
        "kvm"
    } else if dmesg.is_empty() {
        accel.name()
    } else {
        "tcg"
    };
    let mut verdict = Verdict {
        kernel: kernel.name.clone(),
        release: kernel.release.clone(),
        compiler: kernel.compiler.clone(),
        accel: guest_accel.to_owned(),
        result: Outcome::Passed,
        reason: String::new(),
        passed: report.as_ref().map_or(0, |r| r.passed),
        failed: report.as_ref().map_or(0, |r| r.failed),
        flaky: report.as_ref().map_or_else(Vec::new, |r| r.flaky.clone()),
        fingerprints: Vec::new(),
        seconds: boot.took.as_secs_f64(),
        boot_seconds: None,
        guest_seconds: report.as_ref().map(|r| r.seconds),
        logs: out.to_owned(),
    };
    let findings: Vec<String> = health::scan(&dmesg)
        .iter()
        .map(|f| f.describe(DMESG))
        .chain(
            health::scan_console(&console)
                .iter()
                .map(|f| f.describe(CONSOLE_LOG)),
        )
        .chain(
            health::scan(&kmemleak)
                .iter()
                .map(|f| f.describe(KMEMLEAK_REPORT)),
        )
        .collect();
    (verdict.result, verdict.reason) = if let Some(first) = findings.first() {
        // dmesg has the whole kernel log; the console has it when the guest never got to save it.
        let kernel_log = if dmesg.is_empty() { &console } else { &dmesg };
        verdict.fingerprints = fingerprint::of_log(kernel_log);
        let named = if verdict.fingerprints.is_empty() {
            String::new()
        } else {
            format!(" [{}]", verdict.fingerprints.join("; "))
        };
        (Outcome::KernelUnhealthy, format!("{first}{named}"))
    } else if boot.timed_out {
        (
            Outcome::InfraFailed,
            format!("the VM did not finish within {timeout} s and was killed (raise --timeout?)"),
        )
    } else if accel == Accel::Kvm && guest_accel != "kvm" {
        (
            Outcome::InfraFailed,
            "KVM was asked for but the guest ran without it".to_owned(),
        )
    } else {
        match &report {
            None => (
                Outcome::InfraFailed,
                format!(
                    "the guest never reported (vng exited with {}): see {}",
                    boot.status.map_or("a signal".to_owned(), |c| c.to_string()),
                    CONSOLE_LOG
                ),
            ),
            Some(r) if !r.problems.is_empty() => (Outcome::TestsFailed, r.problems.join("; ")),
            Some(r) if r.failed > 0 => (
                Outcome::TestsFailed,
                format!("{} of {} tests failed", r.failed, r.failed + r.passed),
            ),
            Some(r) if r.exit_code != 0 => (
                Outcome::TestsFailed,
                format!("the guest command exited with {}", r.exit_code),
            ),
            Some(r) if !r.flaky.is_empty() => (
                Outcome::Flaky,
                format!(
                    "{} flaky (failed, then passed on the rerun): {}",
                    r.flaky.len(),
                    r.flaky.join(", ")
                ),
            ),
            Some(_) => (Outcome::Passed, String::new()),
        }
    };
    if let Some(capture) = coverage.filter(|_| verdict.result != Outcome::InfraFailed) {
        if let Err(err) = capture() {
            eprintln!("==> [{}] coverage: {err:#}", kernel.name);
            if verdict.result == Outcome::Passed {
                verdict.result = Outcome::TestsFailed;
                verdict.reason = format!("coverage: {err:#}");
            }
        }
    }
    (verdict, report)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::contract::GUEST_REPORT;
    use crate::contract::JUNIT_XML;

    fn verdict(result: Outcome) -> Verdict {
        Verdict {
            kernel: "6.1".into(),
            release: "6.1.0-57-amd64".into(),
            compiler: "gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0".into(),
            accel: "tcg".into(),
            result,
            reason: String::new(),
            passed: 3,
            failed: 0,
            flaky: Vec::new(),
            fingerprints: Vec::new(),
            seconds: 1.0,
            boot_seconds: Some(0.5),
            guest_seconds: None,
            logs: PathBuf::from("target/lab/6.1"),
        }
    }

    #[test]
    fn worst_outcome_decides_the_exit_code() {
        assert_eq!(overall_exit_code(&[]), EXIT_PASSED);
        let all = [
            verdict(Outcome::Passed),
            verdict(Outcome::KernelUnhealthy),
            verdict(Outcome::TestsFailed),
        ];
        assert_eq!(overall_exit_code(&all), EXIT_KERNEL_UNHEALTHY);
        let infra = [verdict(Outcome::InfraFailed), verdict(Outcome::TestsFailed)];
        assert_eq!(overall_exit_code(&infra), EXIT_INFRA_FAILED);
        assert_eq!(overall_exit_code(&[verdict(Outcome::Passed)]), EXIT_PASSED);
    }

    #[test]
    fn summary_lists_every_kernel() {
        let table = summary_table(&[verdict(Outcome::Passed), verdict(Outcome::TestsFailed)]);
        // A header and a row per kernel, a blank line, then each kernel's build and compiler.
        assert_eq!(table.lines().count(), 6);
        assert!(table.contains("tests failed"));
        assert!(table.contains("   0.5s       -    1.0s"), "{table}");
        assert!(
            table.contains("6.1.0-57-amd64 (module built with gcc-12"),
            "{table}"
        );
        // A run without libtest counts (fuzz) shows none, not "0 passed".
        let mut fuzz = verdict(Outcome::Passed);
        (fuzz.passed, fuzz.failed) = (0, 0);
        let row: Vec<String> = summary_table(&[fuzz])
            .lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        assert_eq!(row[3..5], ["-", "-"], "{row:?}");
        let json = serde_json::to_string(&verdict(Outcome::KernelUnhealthy)).unwrap();
        assert!(json.contains("\"result\":\"kernel-unhealthy\""), "{json}");
    }
    /// The files a guest would leave behind, in a directory of their own.
    fn left_behind(console: &str, dmesg: Option<&str>, report: Option<&str>) -> PathBuf {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!("lab-judge-{}-{nanos}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(CONSOLE_LOG), console).unwrap();
        if let Some(d) = dmesg {
            fs::write(dir.join(DMESG), d).unwrap();
        }
        if let Some(r) = report {
            fs::write(dir.join(GUEST_REPORT), r).unwrap();
        }
        dir
    }

    /// Judges the files a guest left in `dir`.
    fn judge_dir(
        dir: &Path,
        timed_out: bool,
        coverage: Option<&dyn Fn() -> Result<()>>,
    ) -> Verdict {
        let ended = BootResult {
            status: Some(0),
            timed_out,
            console_log: dir.join(CONSOLE_LOG),
            took: Duration::from_secs(1),
        };
        judge(&Kernel::for_tests(), Accel::Tcg, dir, &ended, 60, coverage).0
    }

    /// Judges a run from the files a guest would leave behind.
    fn judge_files(
        console: &str,
        dmesg: Option<&str>,
        report: Option<&str>,
        timed_out: bool,
    ) -> Verdict {
        let dir = left_behind(console, dmesg, report);
        let verdict = judge_dir(&dir, timed_out, None);
        fs::remove_dir_all(&dir).ok();
        verdict
    }

    const PASSED: &str = r#"{"exit_code":0,"passed":10,"failed":0,"problems":[]}"#;

    #[test]
    fn a_clean_run_passes() {
        let v = judge_files(
            "ok\n",
            Some("[ 1.0] gnl_foobar_xmpl: registered\n"),
            Some(PASSED),
            false,
        );
        assert_eq!(v.result, Outcome::Passed);
        assert_eq!((v.passed, v.failed), (10, 0));
        assert_eq!(v.accel, "tcg");
    }

    #[test]
    fn a_warning_makes_the_kernel_unhealthy_even_when_tests_pass() {
        let v = judge_files(
            "",
            Some("[ 2.0] WARNING: CPU: 0 PID: 1 at x\n"),
            Some(PASSED),
            false,
        );
        assert_eq!(v.result, Outcome::KernelUnhealthy);
        assert!(
            v.reason.starts_with("WARNING in dmesg.txt line 1"),
            "{}",
            v.reason
        );
    }

    #[test]
    fn a_panic_on_the_console_is_found_without_dmesg() {
        let v = judge_files(
            "[ 3.0] Kernel panic - not syncing: Fatal exception\n",
            None,
            None,
            false,
        );
        assert_eq!(v.result, Outcome::KernelUnhealthy);
    }

    #[test]
    fn failures_timeouts_and_silence_have_their_own_outcomes() {
        let failed = r#"{"exit_code":101,"passed":8,"failed":2,"problems":[]}"#;
        let v = judge_files("", Some(""), Some(failed), false);
        assert_eq!(v.result, Outcome::TestsFailed);
        assert_eq!(v.reason, "2 of 10 tests failed");
        assert_eq!(
            judge_files("", None, None, true).result,
            Outcome::InfraFailed
        );
        let silent = judge_files("", None, None, false);
        assert_eq!(silent.result, Outcome::InfraFailed);
        assert!(silent.reason.contains("never reported"));
        let leak = r#"{"exit_code":0,"passed":3,"failed":0,"problems":["gnl_foobar_xmpl does not unload"]}"#;
        assert_eq!(
            judge_files("", Some(""), Some(leak), false).result,
            Outcome::TestsFailed
        );
    }

    /// The JUnit bug of 85d5ae8: `junit.xml` was written before the coverage capture could fail
    /// the run, so it said passed where `summary.json` said failed.
    #[test]
    fn a_coverage_failure_fails_the_summary_and_the_junit_report_alike() {
        let dir = left_behind("ok\n", Some(""), Some(PASSED));
        let no_counters = || -> Result<()> { anyhow::bail!("no gcov counters") };
        let verdict = judge_dir(&dir, false, Some(&no_counters));
        assert_eq!(verdict.result, Outcome::TestsFailed);
        verdict.record().unwrap();
        let summary = fs::read_to_string(dir.join(SUMMARY)).unwrap();
        let junit = fs::read_to_string(dir.join(JUNIT_XML)).unwrap();
        fs::remove_dir_all(&dir).ok();
        assert!(
            summary.contains("\"result\": \"tests-failed\""),
            "{summary}"
        );
        assert!(
            junit.contains("<failure type=\"tests-failed\" message=\"coverage: no gcov counters\""),
            "{junit}"
        );
    }

    #[test]
    fn coverage_is_not_asked_for_when_the_infrastructure_failed() {
        let dir = left_behind("", None, None);
        let asked = std::cell::Cell::new(false);
        let capture = || -> Result<()> {
            asked.set(true);
            Ok(())
        };
        let verdict = judge_dir(&dir, false, Some(&capture));
        fs::remove_dir_all(&dir).ok();
        assert_eq!(verdict.result, Outcome::InfraFailed);
        assert!(!asked.get());
    }
}
