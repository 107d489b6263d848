//! `cargo lab bench`: what each client costs per round trip (in the VM), and with `--lab` what the
//! lab itself costs per run, next to a bare boot of the same kernel.
//!
//! Client benchmarks: the host boots each kernel with `lab guest ... bench`; the guest side
//! ([`in_guest`]) inserts the module and runs every client's `bench` subcommand (see
//! `userland/INTERFACE.md`), times whole `echo` processes and counts their system calls with
//! `strace -c -f`, and leaves the raw samples in `bench-raw.json`. The host turns them into
//! statistics, one JSON file per run under `target/lab/bench/`, a Markdown table (each client
//! next to the C raw-socket client) and an SVG chart of the latest run of every kernel.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use clap::Args;
use lab_facts::module::{self, Debug};
use lab_facts::{GENL_MODULE as MODULE, SYSTEM_PATH};
use serde::{Deserialize, Serialize};
use xshell::{cmd, Shell};

use crate::kernel::{self, Kernel};
use crate::verdict::{Outcome, EXIT_INFRA_FAILED};
use crate::vm::{self, Accel};
use crate::{build, deps, project, VmArgs};

/// Arguments of `cargo lab bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    pub vm: VmArgs,
    /// Time the lab itself: each phase of `cargo lab test` next to a bare boot of the kernel.
    #[arg(long)]
    pub lab: bool,
    /// Fewer iterations (a smoke run, not numbers to quote).
    #[arg(long)]
    pub quick: bool,
}

/// How many iterations of each workload the guest runs.
#[derive(Args, Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct GuestPlan {
    /// In-process one-shots: open, resolve, echo, close.
    #[arg(long)]
    pub oneshot: u32,
    /// Echoes on one open socket.
    #[arg(long)]
    pub steady: u32,
    /// Dumps, of `dump_count` messages each.
    #[arg(long)]
    pub dumps: u32,
    /// Messages per dump.
    #[arg(long)]
    pub dump_count: u32,
    /// Whole `echo` processes.
    #[arg(long)]
    pub processes: u32,
}

impl GuestPlan {
    fn new(quick: bool) -> Self {
        if quick {
            GuestPlan {
                oneshot: 50,
                steady: 200,
                dumps: 1,
                dump_count: 10_000,
                processes: 10,
            }
        } else {
            GuestPlan {
                oneshot: 1000,
                steady: 10_000,
                dumps: 5,
                dump_count: 100_000,
                processes: 200,
            }
        }
    }

    fn guest_args(&self) -> Vec<String> {
        [
            ("--oneshot", self.oneshot),
            ("--steady", self.steady),
            ("--dumps", self.dumps),
            ("--dump-count", self.dump_count),
            ("--processes", self.processes),
        ]
        .iter()
        .flat_map(|(flag, n)| [(*flag).to_owned(), n.to_string()])
        .collect()
    }
}

/// The clients, the C raw-socket one first: it is the reference the others are compared with.
/// `gnl-neli-baseline` is the plainest neli client (router, `resolve_genl_family`): what neli
/// costs before `gnl-rust` does anything about it.
pub const CLIENTS: [&str; 4] = [
    lab_facts::GNL_RAW,
    lab_facts::GNL_RUST,
    lab_facts::GNL_NELI_BASELINE,
    lab_facts::GNL_LIBNL,
];

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

/// What the guest leaves in `target/lab/<kernel>/`.
const RAW_FILE: &str = "bench-raw.json";

/// One client's raw samples, in nanoseconds.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct RawClient {
    pub client: String,
    pub oneshot: Vec<u64>,
    pub steady: Vec<u64>,
    pub dump: Vec<u64>,
    pub process: Vec<u64>,
    /// System calls of one `echo hello` process, by name (`strace -c -f`).
    pub syscalls: BTreeMap<String, u64>,
}

/// Everything the guest measured.
#[derive(Debug, Serialize, Deserialize)]
pub struct RawRun {
    pub release: String,
    pub plan: GuestPlan,
    pub clients: Vec<RawClient>,
}

/// The guest side: inserts the module (without the per-operation debug log the other modes turn
/// on, which would be measured too), runs the workloads, removes the module, writes the samples.
pub fn in_guest(plan: &GuestPlan, bin_dir: &Path, kmod_dir: &Path, out: &Path) -> Result<()> {
    let ko = module::ko(kmod_dir, MODULE);
    let status = module::insmod(&ko, Debug::Off).status()?;
    if !status.success() {
        bail!("insmod {} failed ({status})", ko.display());
    }
    let measured = measure(plan, bin_dir, out);
    let removed = module::rmmod(MODULE).status();
    let run = measured?;
    if !removed.is_ok_and(|s| s.success()) {
        bail!("{MODULE} does not unload after the benchmarks");
    }
    fs::write(out.join(RAW_FILE), serde_json::to_string(&run)? + "\n")
        .with_context(|| format!("cannot write {}", out.join(RAW_FILE).display()))
}

fn measure(plan: &GuestPlan, bin_dir: &Path, out: &Path) -> Result<RawRun> {
    let release = fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_owned();
    let mut clients: Vec<RawClient> = CLIENTS
        .iter()
        .map(|c| RawClient {
            client: (*c).to_owned(),
            ..RawClient::default()
        })
        .collect();
    // Workload by workload, each client in turn, so that a slow spell of the host is shared.
    for c in &mut clients {
        let bin = bin_dir.join(&c.client);
        c.syscalls = count_syscalls(&bin, &out.join(format!("strace-{}.txt", c.client)))?;
    }
    for (workload, n) in [
        ("oneshot", plan.oneshot),
        ("steady", plan.steady),
        ("dump", plan.dumps),
    ] {
        for c in &mut clients {
            println!("bench: {} {workload} x{n}", c.client);
            let samples = client_bench(&bin_dir.join(&c.client), workload, n, plan.dump_count)?;
            match workload {
                "oneshot" => c.oneshot = samples,
                "steady" => c.steady = samples,
                _ => c.dump = samples,
            }
        }
    }
    // Executables from the guest's tmpfs: over 9p, loading them would be most of what is timed.
    let local = Path::new("/tmp/genl-lab-bench");
    fs::create_dir_all(local)?;
    for c in &mut clients {
        println!("bench: {} echo processes x{}", c.client, plan.processes);
        let bin = local.join(&c.client);
        fs::copy(bin_dir.join(&c.client), &bin)
            .with_context(|| format!("cannot copy {} to {}", c.client, local.display()))?;
        c.process = processes(&bin, plan.processes)?;
    }
    Ok(RawRun {
        release,
        plan: plan.clone(),
        clients,
    })
}

/// Runs `CLIENT bench WORKLOAD` and reads its nanoseconds, one per line.
fn client_bench(bin: &Path, workload: &str, iterations: u32, count: u32) -> Result<Vec<u64>> {
    let out = Command::new(bin)
        .env("PATH", SYSTEM_PATH)
        .args(["bench", workload, "--iterations"])
        .arg(iterations.to_string())
        .arg("--count")
        .arg(count.to_string())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {}", bin.display()))?;
    if !out.status.success() {
        bail!("{} bench {workload} failed ({})", bin.display(), out.status);
    }
    let samples = parse_samples(&String::from_utf8_lossy(&out.stdout))
        .with_context(|| format!("{} bench {workload}", bin.display()))?;
    if samples.len() != iterations as usize {
        bail!(
            "{} bench {workload}: {} samples for {iterations} iterations",
            bin.display(),
            samples.len()
        );
    }
    Ok(samples)
}

/// Times whole `CLIENT echo hello` processes, as a shell script would run them.
fn processes(bin: &Path, n: u32) -> Result<Vec<u64>> {
    let mut samples = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let start = Instant::now();
        let status = Command::new(bin)
            .args(["echo", "hello"])
            .stdout(Stdio::null())
            .status()
            .with_context(|| format!("cannot run {}", bin.display()))?;
        samples.push(start.elapsed().as_nanos() as u64);
        if !status.success() {
            bail!("{} echo hello failed ({status})", bin.display());
        }
    }
    Ok(samples)
}

/// `strace -c -f CLIENT echo hello`: the system calls of one whole run, by name.
fn count_syscalls(bin: &Path, report: &Path) -> Result<BTreeMap<String, u64>> {
    let strace = kernel::which("strace").unwrap_or_else(|| PathBuf::from("/usr/bin/strace"));
    let status = Command::new(&strace)
        .env("PATH", SYSTEM_PATH)
        .args(["-f", "-c", "-o"])
        .arg(report)
        .arg(bin)
        .args(["echo", "hello"])
        .stdout(Stdio::null())
        .status()
        .with_context(|| format!("cannot run {}", strace.display()))?;
    if !status.success() {
        bail!("strace {} echo hello failed ({status})", bin.display());
    }
    let text = fs::read_to_string(report)?;
    let counts = parse_strace_summary(&text);
    if counts.is_empty() {
        bail!("no system call counts in {}", report.display());
    }
    Ok(counts)
}

/// One number per line.
fn parse_samples(text: &str) -> Result<Vec<u64>> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.trim()
                .parse()
                .with_context(|| format!("'{l}' is not a number of nanoseconds"))
        })
        .collect()
}

/// The calls column of `strace -c`'s table, by system call (the `total` row left out).
fn parse_strace_summary(text: &str) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // % time, seconds, usecs/call, calls, [errors,] syscall
        if !(5..=6).contains(&fields.len()) || fields[0].parse::<f64>().is_err() {
            continue;
        }
        let name = fields[fields.len() - 1];
        if name == "total" {
            continue;
        }
        if let Ok(calls) = fields[3].parse::<u64>() {
            counts.insert(name.to_owned(), calls);
        }
    }
    counts
}

/// Mean, median and 99th percentile of a set of samples, in nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub n: usize,
    pub mean_ns: f64,
    pub median_ns: f64,
    pub p99_ns: f64,
    pub min_ns: f64,
}

impl Stats {
    /// The statistics of `samples` (all zero for none). The median of an even count is the mean
    /// of the two middle samples; p99 is the nearest-rank percentile.
    pub fn of(samples: &[u64]) -> Stats {
        if samples.is_empty() {
            return Stats::default();
        }
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2] as f64
        } else {
            (sorted[n / 2 - 1] as f64 + sorted[n / 2] as f64) / 2.0
        };
        let rank = (0.99 * n as f64).ceil() as usize;
        Stats {
            n,
            mean_ns: sorted.iter().map(|&s| s as f64).sum::<f64>() / n as f64,
            median_ns: median,
            p99_ns: sorted[rank.clamp(1, n) - 1] as f64,
            min_ns: sorted[0] as f64,
        }
    }

    /// Operations per second at the mean latency, `per_op` operations per sample.
    pub fn per_second(&self, per_op: f64) -> f64 {
        if self.mean_ns > 0.0 {
            per_op * 1e9 / self.mean_ns
        } else {
            0.0
        }
    }
}

/// One client's results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientResult {
    pub client: String,
    /// In-process: open a socket, resolve the family, echo, close.
    pub oneshot: Stats,
    /// A whole `echo hello` process, start to exit.
    pub process: Stats,
    /// One echo on an open socket.
    pub steady: Stats,
    pub steady_per_sec: f64,
    /// One dump of `dump_count` messages.
    pub dump: Stats,
    pub dump_msgs_per_sec: f64,
    /// System calls of one `echo hello` process, and by name.
    pub syscalls: u64,
    pub syscalls_by_name: BTreeMap<String, u64>,
}

/// One run of `cargo lab bench` on one kernel: what is saved under `target/lab/bench/`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    pub kernel: String,
    pub release: String,
    pub accel: String,
    /// UTC, ISO 8601.
    pub date: String,
    pub versions: BTreeMap<String, String>,
    pub plan: GuestPlan,
    pub clients: Vec<ClientResult>,
}

fn summarize(raw: &RawRun) -> Vec<ClientResult> {
    raw.clients
        .iter()
        .map(|c| {
            let steady = Stats::of(&c.steady);
            let dump = Stats::of(&c.dump);
            ClientResult {
                client: c.client.clone(),
                oneshot: Stats::of(&c.oneshot),
                process: Stats::of(&c.process),
                steady,
                steady_per_sec: steady.per_second(1.0),
                dump,
                dump_msgs_per_sec: dump.per_second(f64::from(raw.plan.dump_count)),
                syscalls: c.syscalls.values().sum(),
                syscalls_by_name: c.syscalls.clone(),
            }
        })
        .collect()
}

/// `cargo lab bench`.
pub fn run(args: &BenchArgs) -> Result<u8> {
    if args.lab {
        lab(args)
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
    let plan = GuestPlan::new(args.quick);
    let versions = versions(&prep.sh);
    let dir = bench_dir();
    fs::create_dir_all(&dir)?;
    let mut code = 0;
    for kernel in &prep.kernels {
        let mut mode = vec!["bench".to_owned()];
        mode.extend(plan.guest_args());
        let run = super::boot_guest(&prep, kernel, &args.vm, &mode)?;
        if run.verdict.result != Outcome::Passed {
            run.verdict.print();
            code = code.max(run.verdict.result.exit_code());
            continue;
        }
        let raw_path = run.verdict.logs.join(RAW_FILE);
        let raw: RawRun = serde_json::from_str(
            &fs::read_to_string(&raw_path)
                .with_context(|| format!("the guest left no {}", raw_path.display()))?,
        )?;
        let result = RunResult {
            kernel: kernel.name.clone(),
            release: raw.release.clone(),
            accel: run.verdict.accel.clone(),
            date: iso_date(SystemTime::now()),
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

/// Versions of what was measured and what measured it.
fn versions(sh: &Shell) -> BTreeMap<String, String> {
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
fn lock_version(lock: &str, package: &str) -> Option<String> {
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
fn latest_results(dir: &Path) -> Result<Vec<RunResult>> {
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
fn version_key(name: &str) -> Vec<u32> {
    let key: Option<Vec<u32>> = name.split('.').map(|p| p.parse().ok()).collect();
    key.unwrap_or_else(|| vec![u32::MAX])
}

/// A duration in nanoseconds, in the unit that reads best.
fn human_ns(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else {
        format!("{:.1} µs", ns / 1e3)
    }
}

/// A rate, rounded to three significant figures.
fn human_rate(per_sec: f64) -> String {
    if per_sec >= 1e6 {
        format!("{:.2} M/s", per_sec / 1e6)
    } else if per_sec >= 1e3 {
        format!("{:.1} k/s", per_sec / 1e3)
    } else {
        format!("{per_sec:.0} /s")
    }
}

fn ratio(value: f64, reference: f64) -> String {
    if reference > 0.0 {
        format!("{:.2}×", value / reference)
    } else {
        "–".to_owned()
    }
}

/// The Markdown table of `results`: one row per kernel and client, each value with its ratio to
/// the C raw-socket client of the same run.
fn table(results: &[RunResult]) -> String {
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
fn chart(results: &[RunResult], path: &Path) -> Result<()> {
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

/// A UTC date and time, ISO 8601 (`2026-08-24T15:03:11Z`).
fn iso_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

// ---- `--lab`: the lab's own cost ----

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
            "| bare boot (`vng --exec true`) | {:.2} | |\n",
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

/// Splits the VM's time into boot, guest work and shutdown. The guest's end is the host's mtime of
/// the `guest.json` it wrote last (the 9p server stamps it with the host's clock), its start that
/// end minus the guest's own monotonic duration: no trust in the guest's wall clock needed.
fn split_vm(
    vm: (SystemTime, SystemTime),
    guest_end: SystemTime,
    guest_secs: f64,
) -> (f64, f64, f64) {
    let secs = |a: SystemTime, b: SystemTime| {
        b.duration_since(a)
            .map_or_else(|e| -e.duration().as_secs_f64(), |d| d.as_secs_f64())
    };
    let shutdown = secs(guest_end, vm.1).max(0.0);
    let in_vm = secs(vm.0, vm.1);
    let tests = guest_secs.min(in_vm - shutdown).max(0.0);
    (in_vm - shutdown - tests, tests, shutdown)
}

fn lab(args: &BenchArgs) -> Result<u8> {
    let specs = kernel::parse_specs(args.vm.kernel.as_deref())?;
    deps::ensure(args.vm.no_install)?;
    let sh = project::shell()?;
    let (accel, why) = vm::choose_accel(args.vm.accel)?;
    eprintln!("==> accelerator: {} ({why})", accel.name());
    let t = Instant::now();
    let kernels = kernel::resolve_all(&sh, &specs)?;
    let kernel_resolve = t.elapsed().as_secs_f64() / kernels.len().max(1) as f64;
    let t = Instant::now();
    let bin_dir = build::clients(&sh)?;
    let client_build = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let suite = build::suite(&sh)?;
    let suite_build = t.elapsed().as_secs_f64();
    let prep = super::Prepared {
        sh,
        kernels,
        accel,
        bin_dir,
    };
    let dir = bench_dir();
    fs::create_dir_all(&dir)?;
    let mut code = 0;
    for kernel in &prep.kernels {
        let mode = vec![
            "test".to_owned(),
            "--suite".to_owned(),
            suite.display().to_string(),
            "--".to_owned(),
        ];
        let run = super::boot_guest(&prep, kernel, &args.vm, &mode)?;
        run.verdict.print();
        let (Some(vm_window), Some(report)) = (run.vm_window, run.report.as_ref()) else {
            code = EXIT_INFRA_FAILED;
            continue;
        };
        if run.verdict.result != Outcome::Passed {
            code = code.max(run.verdict.result.exit_code());
        }
        let guest_end = fs::metadata(run.verdict.logs.join(super::GUEST_REPORT))
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
        eprintln!("==> [{}] bare boot: vng --exec true", kernel.name);
        let bare_boot = bare_boot(&prep.sh, kernel, prep.accel)?;
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
        let report_md = phases.report();
        println!("\n{} ({}):\n\n{report_md}", kernel.name, prep.accel.name());
        let date = iso_date(SystemTime::now());
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
            "total": phases.total(),
            "tests": { "passed": report.passed, "failed": report.failed },
        });
        fs::write(&file, serde_json::to_string_pretty(&json)? + "\n")?;
        fs::write(dir.join(format!("lab-{}.md", kernel.name)), &report_md)?;
        eprintln!("==> [{}] results: {}", kernel.name, file.display());
    }
    Ok(code)
}

fn unix_secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Seconds of `vng -r <image> [--disable-kvm] --exec true`: the floor any lab run stands on.
fn bare_boot(sh: &Shell, kernel: &Kernel, accel: Accel) -> Result<f64> {
    let vng = kernel::which("vng").context("vng (virtme-ng) is not on PATH")?;
    let image = &kernel.boot;
    let no_kvm: &[&str] = if accel == Accel::Tcg {
        &["--disable-kvm"]
    } else {
        &[]
    };
    let t = Instant::now();
    cmd!(sh, "{vng} -r {image} {no_kvm...} --exec true")
        .quiet()
        .ignore_stdout()
        .ignore_stderr()
        .run()
        .context("the bare boot (vng --exec true) failed")?;
    Ok(t.elapsed().as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn statistics_of_samples() {
        let s = Stats::of(&[5, 1, 3, 2, 4]);
        assert_eq!((s.n, s.median_ns, s.min_ns, s.mean_ns), (5, 3.0, 1.0, 3.0));
        assert_eq!(s.p99_ns, 5.0);
        assert_eq!(Stats::of(&[4, 1, 3, 2]).median_ns, 2.5);
        let hundred: Vec<u64> = (1..=100).collect();
        assert_eq!(Stats::of(&hundred).p99_ns, 99.0);
        let thousand: Vec<u64> = (1..=1000).collect();
        assert_eq!(Stats::of(&thousand).p99_ns, 990.0);
        assert_eq!(Stats::of(&[]), Stats::default());
        assert_eq!(Stats::of(&[7]).p99_ns, 7.0);
        let s = Stats::of(&[1_000, 1_000]);
        assert_eq!(s.per_second(1.0), 1e6);
        assert_eq!(s.per_second(100.0), 1e8);
        assert_eq!(Stats::default().per_second(1.0), 0.0);
    }

    #[test]
    fn samples_and_strace_summaries_are_parsed() {
        assert_eq!(parse_samples("10\n20\n\n30\n").unwrap(), [10, 20, 30]);
        assert!(parse_samples("10\nx\n").is_err());
        let strace = "\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 30.00    0.000030          10         3           mmap
 20.00    0.000020          20         1         1 access
  0.00    0.000000           0         1           recvmsg
------ ----------- ----------- --------- --------- ----------------
100.00    0.000050          10         5         1 total
";
        let counts = parse_strace_summary(strace);
        assert_eq!(counts.len(), 3);
        assert_eq!(counts["mmap"], 3);
        assert_eq!(counts["access"], 1);
        assert_eq!(counts.values().sum::<u64>(), 5);
    }

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
            plan: GuestPlan::new(true),
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
        assert_eq!(iso_date(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            iso_date(UNIX_EPOCH + Duration::from_secs(1_787_584_991)),
            "2026-08-24T15:23:11Z"
        );
        assert_eq!(
            iso_date(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
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
        let plan = GuestPlan::new(false);
        assert_eq!(plan.guest_args()[..2], ["--oneshot", "1000"]);
    }

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
