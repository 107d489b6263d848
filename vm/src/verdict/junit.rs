//! JUnit XML for CI test reports: `target/lab/<kernel>/junit.xml` per kernel, `target/lab/junit.xml`
//! for the run; one test case per suite test (read from libtest's lines in the console log) and
//! one for the kernel's verdict, so an unhealthy kernel or a failed boot is red in the report too.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;

use super::libtest::{parse_cases, Status};
use super::{Outcome, Verdict};
use crate::contract::{CONSOLE_LOG, JUNIT_XML};

/// Text safe inside XML 1.0: markup escaped, control characters (ANSI colours) dropped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

/// One `<testsuite>` element for one kernel's verdict and the tests in its console log.
fn testsuite(verdict: &Verdict, console: &str) -> String {
    let cases = parse_cases(console);
    let kernel = escape(&verdict.kernel);
    // A flaky run's verdict is no failure: its flaky tests carry <flakyFailure> themselves.
    let verdict_failed = !matches!(verdict.result, Outcome::Passed | Outcome::Flaky);
    let failures = cases
        .iter()
        .filter(|c| matches!(c.status, Status::Failed(_)))
        .count()
        + usize::from(verdict_failed);
    let skipped = cases.iter().filter(|c| c.status == Status::Ignored).count();
    let mut xml = String::new();
    let _ = writeln!(
        xml,
        "  <testsuite name=\"genl-lab {kernel}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" \
         skipped=\"{skipped}\" time=\"{:.3}\">",
        cases.len() + 1,
        verdict.seconds
    );
    let _ = writeln!(
        xml,
        "    <properties>\n      <property name=\"kernel\" value=\"{kernel}\"/>\n      \
         <property name=\"accel\" value=\"{}\"/>\n      <property name=\"logs\" value=\"{}\"/>\n    \
         </properties>",
        escape(&verdict.accel),
        escape(&verdict.logs.display().to_string())
    );
    // The verdict: the kernel log's health, the boot, the build, the module unloading.
    let _ = write!(
        xml,
        "    <testcase classname=\"{kernel}\" name=\"verdict\" time=\"{:.3}\"",
        verdict.seconds
    );
    if verdict_failed {
        let label = serde_json::to_value(verdict.result)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let _ = writeln!(
            xml,
            ">\n      <failure type=\"{label}\" message=\"{}\">exit {}: {}\nlogs: {}</failure>\n    \
             </testcase>",
            escape(&verdict.reason),
            verdict.result.exit_code(),
            escape(&verdict.reason),
            escape(&verdict.logs.display().to_string())
        );
    } else {
        xml.push_str("/>\n");
    }
    for case in &cases {
        // `suite::echo::works` -> classname `6.1.suite::echo`, name `works`.
        let (module, name) = case.name.rsplit_once("::").unwrap_or(("", &case.name));
        let classname = if module.is_empty() {
            kernel.clone()
        } else {
            format!("{kernel}.{}", escape(module))
        };
        let _ = write!(
            xml,
            "    <testcase classname=\"{classname}\" name=\"{}\"",
            escape(name)
        );
        match &case.status {
            Status::Ok => xml.push_str("/>\n"),
            Status::Ignored => xml.push_str(">\n      <skipped/>\n    </testcase>\n"),
            // Surefire's form for a pass on rerun: CI tools show it as flaky, not as a plain pass.
            Status::Flaky(out) => {
                let _ = writeln!(
                    xml,
                    ">\n      <flakyFailure message=\"flaky: failed, then passed on the rerun\">{}\
                     </flakyFailure>\n    </testcase>",
                    escape(out)
                );
            }
            Status::Failed(out) => {
                let first = out
                    .lines()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("failed");
                let _ = writeln!(
                    xml,
                    ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                    escape(first),
                    escape(out)
                );
            }
        }
    }
    xml.push_str("  </testsuite>\n");
    xml
}

fn document(suites: &[String]) -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"genl-lab\">\n",
    );
    for s in suites {
        xml.push_str(s);
    }
    xml.push_str("</testsuites>\n");
    xml
}

fn suite_of(verdict: &Verdict) -> String {
    let console = std::fs::read_to_string(verdict.logs.join(CONSOLE_LOG)).unwrap_or_default();
    testsuite(verdict, &console)
}

/// Writes `junit.xml` next to the kernel's `summary.json` (only through [`Verdict::record`]).
pub(super) fn write_kernel(verdict: &Verdict) -> Result<()> {
    let path = verdict.logs.join(JUNIT_XML);
    crate::project::write_then_rename(&path, &document(&[suite_of(verdict)]))
}

/// Writes `target/lab/junit.xml`: every kernel of the run, one `<testsuite>` each.
pub fn write_run(lab_dir: &Path, verdicts: &[Verdict]) -> Result<()> {
    let suites: Vec<String> = verdicts.iter().map(suite_of).collect();
    let path = lab_dir.join(JUNIT_XML);
    std::fs::create_dir_all(lab_dir)?;
    crate::project::write_then_rename(&path, &document(&suites))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::verdict::fixtures::{verdict, CONSOLE};

    #[test]
    fn a_failed_verdict_is_a_failed_case_and_the_xml_is_escaped() {
        let xml = document(&[testsuite(&verdict(Outcome::TestsFailed), CONSOLE)]);
        assert!(
            xml.contains("tests=\"4\" failures=\"2\" errors=\"0\" skipped=\"1\""),
            "{xml}"
        );
        assert!(
            xml.contains("classname=\"6.1.suite::dump\" name=\"counts\""),
            "{xml}"
        );
        assert!(xml.contains("&lt;3&gt; &amp; &quot;4&quot;"), "{xml}");
        assert!(xml.contains("<failure type=\"tests-failed\""), "{xml}");
        assert!(!xml.contains('\u{1b}'));
        let passed = document(&[testsuite(&verdict(Outcome::Passed), "")]);
        assert!(
            passed.contains("name=\"verdict\" time=\"12.500\"/>"),
            "{passed}"
        );
        assert!(passed.contains("tests=\"1\" failures=\"0\""), "{passed}");
    }

    #[test]
    fn a_flaky_test_is_a_flaky_failure_not_a_failure() {
        let console = "test suite::echo::races ... FAILED\n\
                       ---- suite::echo::races stdout ----\nreply came late\n\
                       test result: FAILED. 0 passed; 1 failed; 0 ignored\n\
                       test suite::echo::races ... ok\n";
        let xml = document(&[testsuite(&verdict(Outcome::Flaky), console)]);
        assert!(xml.contains("tests=\"2\" failures=\"0\""), "{xml}");
        assert!(
            xml.contains(
                "<flakyFailure message=\"flaky: failed, then passed on the rerun\">\
                 reply came late</flakyFailure>"
            ),
            "{xml}"
        );
    }
}
