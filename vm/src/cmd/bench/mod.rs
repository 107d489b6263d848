//! `cargo lab bench`: what each client costs per round trip (in the VM), and with `--lab` what the
//! lab itself costs per run, next to a bare boot of the same kernel.
//!
//! Client benchmarks: the host boots each kernel with the guest job `bench`; the guest side
//! (`guest::bench`) inserts the module and runs every client's `bench` subcommand (see
//! `userland/INTERFACE.md`), times whole `echo` processes and counts their system calls with
//! `strace -c -f`, and leaves the raw samples in `bench-raw.json`. The host turns them into
//! statistics, one JSON file per run under `target/lab/bench/`, a Markdown table (each client
//! next to the C raw-socket client) and an SVG chart of the latest run of every kernel.

mod phases;
mod report;
mod stats;
mod watch;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result};

use super::{BootPlan, GuestTask};
use crate::contract::{BenchPlan, Mode, RawRun, BENCH_RAW};
use crate::flags::{self, BenchArgs};
use crate::project;
use crate::verdict::Outcome;
use report::{chart, latest_results, table, versions};
use stats::{summarize, RunResult};

/// The iterations of a benchmark run, or of a smoke run with `--quick`.
fn plan(quick: bool) -> BenchPlan {
    if quick {
        BenchPlan {
            oneshot: 50,
            steady: 200,
            dumps: 1,
            dump_count: 10_000,
            processes: 10,
        }
    } else {
        BenchPlan {
            oneshot: 1000,
            steady: 10_000,
            dumps: 5,
            dump_count: 100_000,
            processes: 200,
        }
    }
}

/// The baseline is a second binary of the gnl-rust package, which `build::clients` builds but
/// does not put in the clients' directory (it is no client of the suite).
const BASELINE: &str = "gnl-neli-baseline";

/// Puts the baseline beside the clients.
fn copy_baseline(bin_dir: &Path) -> Result<()> {
    let built = project::root().join("target/release").join(BASELINE);
    fs::copy(&built, bin_dir.join(BASELINE))
        .with_context(|| format!("cannot copy {}", built.display()))?;
    Ok(())
}

impl flags::BenchArgs {
    /// `cargo lab bench`.
    pub fn run(&self) -> Result<u8> {
        run(self)
    }
}

fn run(args: &BenchArgs) -> Result<u8> {
    if args.lab {
        phases::lab(args)
    } else {
        clients(args)
    }
}

fn bench_dir() -> PathBuf {
    project::lab_dir().join("bench")
}

fn clients(args: &BenchArgs) -> Result<u8> {
    let prep = super::prepare(&args.vm)?;
    copy_baseline(&prep.bin_dir)?;
    let boot = BootPlan::new(&args.vm, 1);
    let task = GuestTask::new(Mode::Bench(plan(args.quick)));
    let versions = versions(&prep.sh);
    let dir = bench_dir();
    fs::create_dir_all(&dir)?;
    let mut code = 0;
    for kernel in &prep.kernels {
        let run = super::run_on(&prep, kernel, &boot, &task)?;
        if run.verdict.result != Outcome::Passed {
            run.verdict.print();
            code = code.max(run.verdict.result.exit_code());
            continue;
        }
        let raw_path = run.verdict.logs.join(BENCH_RAW);
        let raw: RawRun = serde_json::from_str(
            &fs::read_to_string(&raw_path)
                .with_context(|| format!("the guest left no {}", raw_path.display()))?,
        )?;
        let result = RunResult {
            kernel: kernel.name.clone(),
            release: raw.release.clone(),
            accel: run.verdict.accel.clone(),
            date: now_iso(),
            versions: versions.clone(),
            plan: raw.plan.clone(),
            clients: summarize(&raw),
        };
        let file = dir.join(format!(
            "{}-{}.json",
            kernel.name,
            result.date.replace(':', "")
        ));
        fs::write(&file, serde_json::to_string_pretty(&result)? + "\n")?;
        eprintln!("==> [{}] results: {}", kernel.name, file.display());
        print!("{}", table(std::slice::from_ref(&result)));
    }
    let latest = latest_results(&dir)?;
    if !latest.is_empty() {
        let md = dir.join("bench.md");
        fs::write(&md, table(&latest))?;
        let svg = dir.join("bench.svg");
        chart(&latest, &svg)?;
        eprintln!(
            "==> latest run of each kernel: {} and {}",
            md.display(),
            svg.display()
        );
    }
    Ok(code)
}

/// Now, in UTC, ISO 8601 to the second (`2026-08-24T15:03:11Z`): the results' timestamps.
fn now_iso() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}
