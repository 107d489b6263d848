//! Verdicts: what a run on one kernel came to, its exit code, and the summary printed at the end.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::kernel::Kernel;

/// Every test passed and the kernel log is clean.
pub const EXIT_PASSED: u8 = 0;
/// At least one test failed (or the suite could not finish its own checks).
pub const EXIT_TESTS_FAILED: u8 = 1;
/// The kernel log shows an Oops, BUG, WARNING, panic, slab corruption or KFENCE report.
pub const EXIT_KERNEL_UNHEALTHY: u8 = 2;
/// Download, build, boot or timeout: the lab could not get as far as a test result.
pub const EXIT_INFRA_FAILED: u8 = 3;
/// Every test passed in the end, but some only on their rerun: flaky (CI may choose to accept it).
pub const EXIT_FLAKY: u8 = 4;
/// Bad command line or bad input (unknown kernel, not a kernel tree...): nothing was run.
pub const EXIT_USAGE: u8 = 64;

/// An error in what the user asked for, as opposed to a failure while doing it.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Shorthand for returning a [`UsageError`].
pub fn usage_error(msg: impl Into<String>) -> anyhow::Error {
    UsageError(msg.into()).into()
}

/// The exit code for an error that stopped a command: usage errors are 64, the rest infrastructure.
pub fn exit_code_of_error(err: &anyhow::Error) -> u8 {
    if err.downcast_ref::<UsageError>().is_some() {
        EXIT_USAGE
    } else {
        EXIT_INFRA_FAILED
    }
}

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

    /// Writes `summary.json` next to the logs.
    pub fn save(&self) -> anyhow::Result<()> {
        let path = self.logs.join("summary.json");
        std::fs::write(&path, serde_json::to_string_pretty(self)? + "\n")
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
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
    out += &crate::fingerprint::by_fingerprint(
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

/// The exit code of a whole run: the worst outcome among the kernels.
pub fn overall_exit_code(verdicts: &[Verdict]) -> u8 {
    verdicts
        .iter()
        .map(|v| v.result)
        .max()
        .unwrap_or(Outcome::Passed)
        .exit_code()
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }

    #[test]
    fn usage_errors_map_to_64_and_the_rest_to_infra() {
        assert_eq!(
            exit_code_of_error(&usage_error("unknown kernel")),
            EXIT_USAGE
        );
        assert_eq!(
            exit_code_of_error(&anyhow::anyhow!("boot failed")),
            EXIT_INFRA_FAILED
        );
        let wrapped = usage_error("bad").context("while resolving");
        assert_eq!(exit_code_of_error(&wrapped), EXIT_USAGE);
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
}
