//! KTAP, the kernel's test output format (what KUnit, kselftest and netdev's CI read), next to
//! JUnit: `target/lab/<kernel>/results.ktap`, version 1, one subtest per suite module with a
//! result line per test, SKIP for ignored tests, failure output as diagnostics, flaky tests named,
//! and a last `verdict` test for the kernel's health, boot and build.

use std::fmt::Write as _;

use anyhow::Result;

use super::libtest::{parse_cases, Case, Status};
use super::{Outcome, Verdict};
use crate::contract::RESULTS_KTAP;

/// A KTAP test name: one line, no `#` (which would start a directive).
fn name(text: &str) -> String {
    text.replace(['#', '\n', '\r'], " ")
}

/// Diagnostic lines (`# ...`) for `text`, indented by `indent`.
fn diagnostics(out: &mut String, indent: &str, text: &str) {
    for line in text.lines() {
        let line: String = line.chars().filter(|c| !c.is_control()).collect();
        let _ = writeln!(out, "{indent}# {}", line.trim_end());
    }
}

/// The cases grouped by module (`suite::echo::works` is `works` in `suite::echo`), in order of
/// first appearance.
fn by_module(cases: &[Case]) -> Vec<(String, Vec<(&str, &Status)>)> {
    let mut groups: Vec<(String, Vec<(&str, &Status)>)> = Vec::new();
    for case in cases {
        let (module, test) = case.name.rsplit_once("::").unwrap_or(("tests", &case.name));
        match groups.iter_mut().find(|(m, _)| m == module) {
            Some((_, tests)) => tests.push((test, &case.status)),
            None => groups.push((module.to_owned(), vec![(test, &case.status)])),
        }
    }
    groups
}

/// One kernel's results as a KTAP version 1 document.
pub fn document(verdict: &Verdict, cases: &[Case]) -> String {
    let groups = by_module(cases);
    let mut out = String::from("KTAP version 1\n");
    let _ = writeln!(
        out,
        "# genl-lab on {} ({}, {}): {}",
        name(&verdict.kernel),
        verdict.release,
        verdict.accel,
        verdict.result.label()
    );
    let _ = writeln!(out, "1..{}", groups.len() + 1);
    for (number, (module, tests)) in groups.iter().enumerate() {
        let mut failed = false;
        let _ = writeln!(out, "    KTAP version 1\n    # Subtest: {}", name(module));
        let _ = writeln!(out, "    1..{}", tests.len());
        for (i, (test, status)) in tests.iter().enumerate() {
            let test = name(test);
            let n = i + 1;
            match status {
                Status::Ok => {
                    let _ = writeln!(out, "    ok {n} {test}");
                }
                Status::Ignored => {
                    let _ = writeln!(out, "    ok {n} {test} # SKIP ignored by the suite");
                }
                Status::Failed(text) => {
                    failed = true;
                    diagnostics(&mut out, "    ", text);
                    let _ = writeln!(out, "    not ok {n} {test}");
                }
                Status::Flaky(text) => {
                    diagnostics(&mut out, "    ", "flaky: failed, then passed on the rerun:");
                    diagnostics(&mut out, "    ", text);
                    let _ = writeln!(out, "    ok {n} {test} # FLAKY passed on the rerun");
                }
            }
        }
        let result = if failed { "not ok" } else { "ok" };
        let _ = writeln!(out, "{result} {} {}", number + 1, name(module));
    }
    let last = groups.len() + 1;
    if verdict.result == Outcome::Passed || verdict.result == Outcome::Flaky {
        let _ = writeln!(out, "ok {last} verdict");
    } else {
        diagnostics(
            &mut out,
            "",
            &format!(
                "{} (exit {}): {}\nlogs: {}",
                verdict.result.label(),
                verdict.result.exit_code(),
                verdict.reason,
                verdict.logs.display()
            ),
        );
        let _ = writeln!(out, "not ok {last} verdict");
    }
    out
}

/// Writes `results.ktap` next to the kernel's `junit.xml`, from the run's console log.
pub fn write_kernel(verdict: &Verdict, console: &str) -> Result<()> {
    let cases = parse_cases(console);
    crate::project::write_then_rename(&verdict.logs.join(RESULTS_KTAP), &document(verdict, &cases))
}

/// The `results.ktap` files earlier runs left in `target/lab/*/`.
pub fn written() -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(crate::project::lab_dir())
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join(RESULTS_KTAP))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A run whose `dump::counts` failed twice and `echo::races` failed once, then passed.
    pub const CONSOLE: &str = "\
running 4 tests
test suite::echo::works ... ok
test suite::echo::races ... FAILED
test suite::dump::counts ... FAILED
test suite::slow ... ignored, needs KVM

failures:

---- suite::echo::races stdout ----
reply # 2 came late

---- suite::dump::counts stdout ----
assertion `left == right` failed
  left: 3

failures:
    suite::dump::counts
    suite::echo::races

test result: FAILED. 1 passed; 2 failed; 1 ignored; 0 measured; 0 filtered out
lab: rerunning the 2 failed tests once
running 2 tests
test suite::echo::races ... ok
test suite::dump::counts ... FAILED
";

    /// A verdict for the run of [`CONSOLE`], its logs in `target/lab/6.1`.
    pub fn verdict(result: Outcome) -> Verdict {
        Verdict {
            reason: "1 of 3 tests failed".into(),
            flaky: vec!["suite::echo::races".into()],
            ..crate::verdict::fixtures::verdict(result)
        }
    }

    #[test]
    fn suites_nest_and_each_test_has_its_line() {
        let ktap = document(&verdict(Outcome::TestsFailed), &parse_cases(CONSOLE));
        let expected_lines = [
            "KTAP version 1",
            "1..4",
            "    # Subtest: suite::echo",
            "    ok 1 works",
            "    # reply # 2 came late",
            "    ok 2 races # FLAKY passed on the rerun",
            "ok 1 suite::echo",
            "    # Subtest: suite::dump",
            "    #   left: 3",
            "    not ok 1 counts",
            "not ok 2 suite::dump",
            "    ok 1 slow # SKIP ignored by the suite",
            "ok 3 suite",
            "# tests failed (exit 1): 1 of 3 tests failed",
            "not ok 4 verdict",
        ];
        let mut rest = ktap.lines();
        for want in expected_lines {
            assert!(rest.any(|l| l == want), "no {want:?} in order in:\n{ktap}");
        }
    }
}
