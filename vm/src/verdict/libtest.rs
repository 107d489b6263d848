//! The suite's results as libtest prints them on the console (`test NAME ... ok|FAILED|ignored`,
//! each failure's `---- NAME stdout ----` section), the guest's rerun of failed tests included:
//! what the JUnit and KTAP reports are written from.

/// What libtest said about one test, its rerun included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Ok,
    Failed(String),
    Ignored,
    /// Failed (with this output), then passed when the guest reran it.
    Flaky(String),
}

/// One test of the suite and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    pub name: String,
    pub status: Status,
}

/// The tests libtest reported in `console`: `test NAME ... ok|FAILED|ignored`, each failure with its
/// `---- NAME stdout ----` section. A test seen twice was rerun: failed then ok is flaky.
pub fn parse_cases(console: &str) -> Vec<Case> {
    let mut cases: Vec<Case> = Vec::new();
    for line in console.lines() {
        let Some(rest) = line.trim_end().strip_prefix("test ") else {
            continue;
        };
        let Some((name, result)) = rest.split_once(" ... ") else {
            continue;
        };
        let status = match result {
            "ok" => Status::Ok,
            "FAILED" => Status::Failed(String::new()),
            r if r.starts_with("ignored") => Status::Ignored,
            _ => continue,
        };
        if let Some(earlier) = cases.iter_mut().find(|c| c.name == name) {
            if earlier.status != status {
                earlier.status = match (&earlier.status, status) {
                    (Status::Failed(_), Status::Ok) => Status::Flaky(String::new()),
                    (_, status) => status,
                };
            }
            continue;
        }
        cases.push(Case {
            name: name.to_owned(),
            status,
        });
    }
    // Attach each failure's output.
    let mut current: Option<(String, String)> = None;
    let mut sections: Vec<(String, String)> = Vec::new();
    for line in console.lines() {
        let line = line.trim_end();
        if let Some(name) = line
            .strip_prefix("---- ")
            .and_then(|l| l.strip_suffix(" stdout ----"))
        {
            sections.extend(current.take());
            current = Some((name.to_owned(), String::new()));
        } else if line == "failures:" || line.starts_with("test result: ") {
            sections.extend(current.take());
        } else if let Some((_, text)) = current.as_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    sections.extend(current);
    // The first run's output: a rerun's failure repeats it.
    for (name, text) in sections {
        if let Some(case) = cases.iter_mut().find(|c| c.name == name) {
            if let Status::Failed(out) | Status::Flaky(out) = &mut case.status {
                if out.is_empty() {
                    *out = text.trim_end().to_owned();
                }
            }
        }
    }
    cases
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixture's run, whose failed test then passed on the rerun.
    fn console() -> String {
        format!(
            "{}lab: rerunning the 1 failed tests once\ntest suite::dump::counts ... ok\n",
            crate::verdict::fixtures::CONSOLE
        )
    }

    #[test]
    fn libtest_lines_become_cases_and_a_pass_on_rerun_is_flaky() {
        let cases = parse_cases(&console());
        assert_eq!(cases.len(), 3);
        assert_eq!(cases[0].status, Status::Ok);
        assert_eq!(cases[2].status, Status::Ignored);
        let Status::Flaky(out) = &cases[1].status else {
            panic!("{cases:?}")
        };
        assert!(out.starts_with("assertion"), "{out}");
        assert!(out.ends_with("left: 3"), "{out}");
    }
}
