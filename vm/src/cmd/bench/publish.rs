//! What the benchmarks publish: their figures in their own marked section of the dated
//! `docs/measurements.md` (the file's other sections are left as they are), and their charts
//! under `docs/`, so that no published number or chart outlives the run that measured it.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::project;

/// The measurements page, relative to the project root.
pub(super) const MEASUREMENTS: &str = "docs/measurements.md";

/// The published chart of the client benchmarks, relative to the project root.
pub(super) const CHART: &str = "docs/bench.svg";

/// How busy the host was: its load averages (1, 5, 15 min) from `/proc/loadavg`.
pub(super) fn host_load() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// The host's cores, for reading the load averages.
pub(super) fn host_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The line every section starts with: when, and how loaded the host was before and after.
pub(super) fn provenance(date: &str, load_before: &str) -> String {
    format!(
        "Measured {date} on {} host cores; load average (1, 5, 15 min) {load_before} before, {} \
         after. Other work shared the host: compare figures within one run, not across runs.\n",
        host_cores(),
        host_load()
    )
}

/// Puts `body` in `section` of [`MEASUREMENTS`] (between its markers), replacing the old one or
/// adding it at the end; the page's other sections stay.
pub(super) fn measurements_section(section: &str, title: &str, body: &str) -> Result<PathBuf> {
    let path = project::root().join(MEASUREMENTS);
    let old = fs::read_to_string(&path).unwrap_or_else(|_| {
        "# Measurements\n\nEach section is written by the command it names; the others are \
         edited by hand.\n"
            .to_owned()
    });
    fs::write(&path, replace_section(&old, section, title, body))
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// `text` with the section between `<!-- begin NAME -->` and `<!-- end NAME -->` replaced.
fn replace_section(text: &str, section: &str, title: &str, body: &str) -> String {
    let begin = format!("<!-- begin {section}: written by the benchmark, do not edit -->");
    let end = format!("<!-- end {section} -->");
    let new = format!("{begin}\n## {title}\n\n{}\n{end}", body.trim_end());
    match (text.find(&begin), text.find(&end)) {
        (Some(b), Some(e)) if b < e => {
            format!("{}{new}{}", &text[..b], &text[e + end.len()..])
        }
        _ => format!("{}\n\n{new}\n", text.trim_end()),
    }
}

/// Copies a chart the benchmark drew to its published place.
pub(super) fn publish_chart(drawn: &Path, published: &str) -> Result<PathBuf> {
    let to = project::root().join(published);
    fs::copy(drawn, &to).with_context(|| format!("cannot write {}", to.display()))?;
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_is_replaced_and_the_others_stay() {
        let page = replace_section("# Measurements\n\nby hand\n", "bench", "Clients", "one\n");
        assert!(page.starts_with("# Measurements\n\nby hand\n\n<!-- begin bench"));
        assert!(page.contains("## Clients\n\none\n<!-- end bench -->"));
        let page = format!("{page}\n## Later, by hand\n");
        let again = replace_section(&page, "bench", "Clients", "two\n");
        assert!(
            again.contains("\ntwo\n") && !again.contains("\none\n"),
            "{again}"
        );
        assert!(again.contains("by hand\n") && again.ends_with("## Later, by hand\n"));
        let both = replace_section(&again, "lab", "Lab", "three\n");
        assert!(both.contains("\ntwo\n") && both.contains("\nthree\n"));
    }
}
