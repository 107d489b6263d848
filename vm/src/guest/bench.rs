//! The guest side of the client benchmarks: each client's `bench` workloads, whole `echo`
//! processes, and their system calls (`strace -c -f`), saved raw for the host.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use lab_facts::module::{self, Debug};
use lab_facts::{GENL_MODULE as MODULE, SYSTEM_PATH};

use crate::contract::{BenchPlan, RawClient, RawRun, BENCH_CLIENTS, BENCH_RAW};
use crate::project;

/// The guest side: inserts the module (without the per-operation debug log the other modes turn
/// on, which would be measured too), runs the workloads, removes the module, writes the samples.
pub(super) fn run(plan: &BenchPlan, bin_dir: &Path, kmod_dir: &Path, out: &Path) -> Result<()> {
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
    fs::write(out.join(BENCH_RAW), serde_json::to_string(&run)? + "\n")
        .with_context(|| format!("cannot write {}", out.join(BENCH_RAW).display()))
}

fn measure(plan: &BenchPlan, bin_dir: &Path, out: &Path) -> Result<RawRun> {
    let release = fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_owned();
    let mut clients: Vec<RawClient> = BENCH_CLIENTS
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
    let strace = project::which("strace").unwrap_or_else(|| PathBuf::from("/usr/bin/strace"));
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
