//! The results on disk and for people: one JSON file per run, the Markdown table (each client
//! next to the C raw-socket client) and the SVG chart of the latest run of every kernel.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use xshell::{cmd, Shell};

use super::stats::{ClientResult, RunResult};
use crate::contract::BENCH_CLIENTS as CLIENTS;
use crate::project;

/// Versions of what was measured and what measured it.
pub(super) fn versions(sh: &Shell) -> BTreeMap<String, String> {
    let first_line = |out: xshell::Result<String>| {
        out.ok()
            .and_then(|s| s.lines().next().map(str::to_owned))
            .unwrap_or_else(|| "unknown".to_owned())
    };
    let mut v = BTreeMap::new();
    v.insert(
        "rustc".into(),
        first_line(cmd!(sh, "rustc --version").read()),
    );
    v.insert("cc".into(), first_line(cmd!(sh, "cc --version").read()));
    v.insert(
        "libnl".into(),
        first_line(cmd!(sh, "pkg-config --modversion libnl-genl-3.0").read()),
    );
    v.insert(
        "qemu".into(),
        first_line(cmd!(sh, "qemu-system-x86_64 --version").read()),
    );
    v.insert(
        "lab".into(),
        first_line(cmd!(sh, "git describe --always --dirty").read()),
    );
    let lock = fs::read_to_string(project::root().join("Cargo.lock")).unwrap_or_default();
    v.insert(
        "neli".into(),
        lock_version(&lock, "neli").unwrap_or_else(|| "unknown".into()),
    );
    v
}

/// The version of `package` in a Cargo.lock.
pub(super) fn lock_version(lock: &str, package: &str) -> Option<String> {
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == format!("name = \"{package}\"") {
            return lines
                .next()?
                .trim()
                .strip_prefix("version = \"")?
                .strip_suffix('"')
                .map(str::to_owned);
        }
    }
    None
}

/// The newest result of each kernel in `dir`, kernels in version order.
pub(super) fn latest_results(dir: &Path) -> Result<Vec<RunResult>> {
    let mut latest: BTreeMap<String, RunResult> = BTreeMap::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let Ok(result) = serde_json::from_str::<RunResult>(&fs::read_to_string(&path)?) else {
            continue;
        };
        if latest
            .get(&result.kernel)
            .is_none_or(|old| old.date < result.date)
        {
            latest.insert(result.kernel.clone(), result);
        }
    }
    let mut results: Vec<RunResult> = latest.into_values().collect();
    results.sort_by_key(|r| version_key(&r.kernel));
    Ok(results)
}

/// `5.10` before `6.1` before `6.12`; names that are not versions last.
pub(super) fn version_key(name: &str) -> Vec<u32> {
    let key: Option<Vec<u32>> = name.split('.').map(|p| p.parse().ok()).collect();
    key.unwrap_or_else(|| vec![u32::MAX])
}

/// A duration in nanoseconds, in the unit that reads best.
pub(super) fn human_ns(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.1} µs", ns / 1e3)
    }
}

/// A rate, rounded to three significant figures.
pub(super) fn human_rate(per_sec: f64) -> String {
    if per_sec >= 1e6 {
        format!("{:.2} M/s", per_sec / 1e6)
    } else if per_sec >= 1e3 {
        format!("{:.1} k/s", per_sec / 1e3)
    } else {
        format!("{per_sec:.0} /s")
    }
}

pub(super) fn ratio(value: f64, reference: f64) -> String {
    if reference > 0.0 {
        format!("{:.2}×", value / reference)
    } else {
        "–".to_owned()
    }
}

/// The Markdown table of `results`: one row per kernel and client, each value with its ratio to
/// the C raw-socket client of the same run.
pub(super) fn table(results: &[RunResult]) -> String {
    let mut md = String::from(
        "| kernel | client | one-shot (median, p99) | process run (median) | steady echo (median) | \
         steady echoes/s | dump msgs/s | syscalls/run |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for r in results {
        let Some(raw) = r.clients.iter().find(|c| c.client == CLIENTS[0]) else {
            continue;
        };
        for c in &r.clients {
            md.push_str(&format!(
                "| {} ({}) | {} | {} / {} ({}) | {} ({}) | {} ({}) | {} ({}) | {} ({}) | {} ({}) |\n",
                r.kernel,
                r.accel,
                c.client,
                human_ns(c.oneshot.median_ns),
                human_ns(c.oneshot.p99_ns),
                ratio(c.oneshot.median_ns, raw.oneshot.median_ns),
                human_ns(c.process.median_ns),
                ratio(c.process.median_ns, raw.process.median_ns),
                human_ns(c.steady.median_ns),
                ratio(c.steady.median_ns, raw.steady.median_ns),
                human_rate(c.steady_per_sec),
                ratio(c.steady_per_sec, raw.steady_per_sec),
                human_rate(c.dump_msgs_per_sec),
                ratio(c.dump_msgs_per_sec, raw.dump_msgs_per_sec),
                c.syscalls,
                ratio(c.syscalls as f64, raw.syscalls as f64),
            ));
        }
    }
    md
}

/// Bar charts of the median one-shot and steady-state latencies: one column per kernel, one bar
/// per client, the same scale across kernels. SVG only, so no font libraries are needed.
pub(super) fn chart(results: &[RunResult], path: &Path) -> Result<()> {
    use plotters::prelude::*;
    use plotters::style::text_anchor::{HPos, Pos, VPos};

    const COLORS: [RGBColor; 3] = [
        RGBColor(0x44, 0x77, 0xaa),
        RGBColor(0xee, 0x66, 0x77),
        RGBColor(0x22, 0x88, 0x33),
    ];
    type Metric = fn(&ClientResult) -> f64;
    let rows: [(&str, Metric); 2] = [
        ("one-shot: open, resolve, echo, close", |c| {
            c.oneshot.median_ns / 1e3
        }),
        ("steady: one echo on an open socket", |c| {
            c.steady.median_ns / 1e3
        }),
    ];
    let width = 330 * results.len().max(1) as u32;
    let root = SVGBackend::new(path, (width, 640)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(
        "median latency per client (µs, lower is better)",
        ("sans-serif", 20),
    )?;
    let cells = root.split_evenly((rows.len(), results.len()));
    for (row, (label, metric)) in rows.iter().enumerate() {
        let max = results
            .iter()
            .flat_map(|r| r.clients.iter().map(metric))
            .fold(0.0, f64::max)
            .max(1.0);
        for (col, r) in results.iter().enumerate() {
            let cell = &cells[row * results.len() + col];
            let n = r.clients.len();
            let mut c = ChartBuilder::on(cell)
                .caption(
                    format!("{} ({}): {label}", r.kernel, r.accel),
                    ("sans-serif", 13),
                )
                .margin(8)
                .x_label_area_size(24)
                .y_label_area_size(44)
                .build_cartesian_2d((0..n).into_segmented(), 0.0..max * 1.15)?;
            let names: Vec<String> = r.clients.iter().map(|c| c.client.clone()).collect();
            c.configure_mesh()
                .disable_x_mesh()
                .x_labels(n)
                .x_label_formatter(&|v| match v {
                    SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                        names.get(*i).cloned().unwrap_or_default()
                    }
                    SegmentValue::Last => String::new(),
                })
                .y_desc("µs")
                .draw()?;
            for (i, client) in r.clients.iter().enumerate() {
                let v = metric(client);
                let color = COLORS[i % COLORS.len()];
                c.draw_series(
                    Histogram::vertical(&c)
                        .style(color.filled())
                        .margin(14)
                        .data([(i, v)]),
                )?;
                c.draw_series(std::iter::once(Text::new(
                    format!("{v:.0}"),
                    (SegmentValue::CenterOf(i), v * 1.02 + max * 0.02),
                    ("sans-serif", 12)
                        .into_font()
                        .color(&BLACK)
                        .pos(Pos::new(HPos::Center, VPos::Bottom)),
                )))?;
            }
        }
    }
    root.present()
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::stats::Stats;

    use super::*;

    fn result(kernel: &str, date: &str, factor: f64) -> RunResult {
        let client = |name: &str, f: f64| ClientResult {
            client: name.into(),
            oneshot: Stats {
                n: 1,
                mean_ns: 100e3 * f,
                median_ns: 100e3 * f,
                p99_ns: 200e3 * f,
                min_ns: 90e3,
            },
            process: Stats {
                median_ns: 5e6 * f,
                ..Stats::default()
            },
            steady: Stats {
                median_ns: 20e3 * f,
                ..Stats::default()
            },
            steady_per_sec: 50e3 / f,
            dump: Stats::default(),
            dump_msgs_per_sec: 1.5e6 / f,
            syscalls: (40.0 * f) as u64,
            syscalls_by_name: BTreeMap::new(),
        };
        RunResult {
            kernel: kernel.into(),
            release: "r".into(),
            accel: "tcg".into(),
            date: date.into(),
            versions: BTreeMap::new(),
            plan: super::super::plan(true),
            clients: vec![client("gnl-raw", 1.0), client("gnl-rust", factor)],
        }
    }

    #[test]
    fn the_table_compares_with_the_raw_client() {
        let md = table(&[result("6.1", "2026-01-01T00:00:00Z", 1.5)]);
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(lines.len(), 4, "{md}");
        assert!(lines[0].starts_with("| kernel | client | one-shot"));
        assert_eq!(
            lines[2],
            "| 6.1 (tcg) | gnl-raw | 100.0 µs / 200.0 µs (1.00×) | 5.00 ms (1.00×) | 20.0 µs (1.00×) \
             | 50.0 k/s (1.00×) | 1.50 M/s (1.00×) | 40 (1.00×) |"
        );
        assert!(
            lines[3].contains("| gnl-rust | 150.0 µs / 300.0 µs (1.50×) |"),
            "{}",
            lines[3]
        );
        assert!(lines[3].ends_with("| 60 (1.50×) |"), "{}", lines[3]);
    }

    #[test]
    fn results_round_trip_and_the_latest_per_kernel_wins() {
        let dir = std::env::temp_dir().join(format!("lab-bench-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        for (kernel, date, f) in [
            ("6.12", "2026-01-02T00:00:00Z", 2.0),
            ("6.1", "2026-01-01T00:00:00Z", 3.0),
            ("6.1", "2026-01-03T00:00:00Z", 1.25),
            ("5.10", "2026-01-01T00:00:00Z", 1.0),
        ] {
            let r = result(kernel, date, f);
            let json = serde_json::to_string_pretty(&r).unwrap();
            let back: RunResult = serde_json::from_str(&json).unwrap();
            assert_eq!(back.clients[1].oneshot, r.clients[1].oneshot);
            fs::write(dir.join(format!("{kernel}-{f}.json")), json).unwrap();
        }
        fs::write(dir.join("lab-6.1-x.json"), "{\"phases\":{}}").unwrap();
        let latest = latest_results(&dir).unwrap();
        fs::remove_dir_all(&dir).ok();
        let kernels: Vec<&str> = latest.iter().map(|r| r.kernel.as_str()).collect();
        assert_eq!(kernels, ["5.10", "6.1", "6.12"]);
        assert_eq!(latest[1].date, "2026-01-03T00:00:00Z");
    }

    #[test]
    fn the_chart_is_an_svg_without_fonts() {
        let path = std::env::temp_dir().join(format!("lab-bench-{}.svg", std::process::id()));
        chart(&[result("6.1", "d", 1.2), result("6.12", "d", 0.9)], &path).unwrap();
        let svg = fs::read_to_string(&path).unwrap();
        fs::remove_file(&path).ok();
        assert!(svg.starts_with("<svg"), "{}", &svg[..40.min(svg.len())]);
        assert!(svg.contains("gnl-rust") && svg.contains("6.12 (tcg)"));
    }

    #[test]
    fn small_helpers() {
        let lock = "[[package]]\nname = \"neli\"\nversion = \"0.7.5\"\n";
        assert_eq!(lock_version(lock, "neli").as_deref(), Some("0.7.5"));
        assert_eq!(lock_version(lock, "libc"), None);
        assert!(version_key("5.10") < version_key("6.1"));
        assert!(version_key("6.1") < version_key("6.12"));
        assert!(version_key("6.12") < version_key("env"));
        assert_eq!(human_ns(1_500.0), "1.5 µs");
        assert_eq!(human_ns(2.5e6), "2.50 ms");
        assert_eq!(human_rate(1234.0), "1.2 k/s");
        assert_eq!(ratio(3.0, 0.0), "–");
    }
}
