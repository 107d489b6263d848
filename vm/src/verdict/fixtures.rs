//! What the verdict's unit tests share: a suite's console and a verdict of that run.

use std::path::PathBuf;

use super::{Outcome, Verdict};

/// A suite run of three tests as libtest prints it: one passed, one failed, one ignored.
pub const CONSOLE: &str = "\
[    1.0] virtme-init: starting
running 3 tests
test suite::echo::works ... ok
test suite::dump::counts ... FAILED
test suite::slow ... ignored, needs KVM
\u{1b}[0m
failures:

---- suite::dump::counts stdout ----
assertion `left == right` failed: <3> & \"4\"
  left: 3

failures:
    suite::dump::counts

test result: FAILED. 1 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out
";

/// The verdict of the run of [`CONSOLE`] on 6.1, its logs in `target/lab/6.1`.
pub fn verdict(result: Outcome) -> Verdict {
    Verdict {
        kernel: "6.1".into(),
        release: "6.1.0-57-amd64".into(),
        compiler: "gcc-12".into(),
        accel: "tcg".into(),
        result,
        reason: if result == Outcome::Passed {
            String::new()
        } else {
            "1 of 2 tests failed".into()
        },
        passed: 1,
        failed: 1,
        flaky: Vec::new(),
        fingerprints: Vec::new(),
        seconds: 12.5,
        boot_seconds: None,
        guest_seconds: None,
        logs: PathBuf::from("target/lab/6.1"),
    }
}
