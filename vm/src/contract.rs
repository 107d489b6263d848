//! The host-guest contract, in one place: what the host asks the guest side to do (one
//! serializable [`GuestJob`], never a hand-built command line), what the guest reports back, the
//! file names of a kernel's results directory `target/lab/<kernel>/` (shared with the guest over
//! 9p), the benchmark samples, and the protocol of `cargo lab watch`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// The whole kernel console, as the host saw it.
pub const CONSOLE_LOG: &str = "console.log";
/// The guest's `dmesg` after the run.
pub const DMESG: &str = "dmesg.txt";
/// The guest's [`GuestReport`], written last: its presence says everything else is written.
pub const GUEST_REPORT: &str = "guest.json";
/// The [`GuestJob`] the host wrote for this boot.
pub const GUEST_JOB: &str = "guest-job.json";
/// The kernel's verdict (`verdict::Verdict`).
pub const SUMMARY: &str = "summary.json";
/// The kernel's JUnit report (and, in `target/lab/`, the whole run's).
pub const JUNIT_XML: &str = "junit.xml";
/// kmemleak's report on the debug kernel (empty: no leak).
pub const KMEMLEAK_REPORT: &str = "kmemleak.txt";
/// The modules' GCOV counters on the debug kernel.
pub const GCOV_DIR: &str = "gcov";
/// The benchmark's raw samples ([`RawRun`]).
pub const BENCH_RAW: &str = "bench-raw.json";
/// The tour's capture.
pub const PCAP: &str = "netlink.pcap";
/// The tour's diagram of the echo request (`docs/genl-message.svg` is a copy).
pub const SVG: &str = "genl-message.svg";
/// Where `cargo lab watch`'s host and guest leave each other [`watch`] files.
pub const WATCH_DIR: &str = "watch";

/// The files a boot replaces: removed before it, so that none is taken from an earlier run.
pub const PER_BOOT: [&str; 5] = [CONSOLE_LOG, DMESG, GUEST_REPORT, SUMMARY, KMEMLEAK_REPORT];

/// Everything the guest side needs to know, written by the host as `guest-job.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GuestJob {
    /// The kernel's results directory (shared with the host).
    pub out: PathBuf,
    /// The clients.
    pub bin_dir: PathBuf,
    /// The modules built for this kernel.
    pub kmod_dir: PathBuf,
    /// The kernel's name in the lab (5.10, 6.1...).
    pub kernel_name: String,
    pub mode: Mode,
}

/// What the guest side does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Run the suite binary (it loads and unloads the modules itself) with these arguments.
    Test { suite: PathBuf, args: Vec<String> },
    /// Insert the modules, show each client at work, then the kernel log.
    Demo,
    /// Insert the modules and run a command.
    Exec { command: Vec<String> },
    /// Insert the module and time each client (`cargo lab bench`).
    Bench(BenchPlan),
    /// Insert the modules and replace this process with an interactive shell.
    Shell,
    /// Stay up for `cargo lab watch`: run the suite for each request the host leaves in `out/watch`.
    Watch,
}

impl GuestJob {
    /// Writes the job into its results directory and returns the guest's command line: this
    /// very binary, `guest --job <file>`.
    pub fn write(&self) -> Result<Vec<String>> {
        let file = self.out.join(GUEST_JOB);
        fs::write(&file, serde_json::to_string_pretty(self)? + "\n")
            .with_context(|| format!("cannot write {}", file.display()))?;
        let exe = std::env::current_exe().context("cannot find the lab's own binary")?;
        // A rebuild while the lab runs (cargo build, another cargo lab) replaces the binary: Linux
        // then names the running one `... (deleted)`, and the guest wants the new one at that path.
        let exe = exe
            .to_string_lossy()
            .trim_end_matches(" (deleted)")
            .to_owned();
        Ok(vec![
            exe,
            "guest".into(),
            "--job".into(),
            file.display().to_string(),
        ])
    }

    /// Reads the job the host wrote.
    pub fn read(file: &Path) -> Result<GuestJob> {
        let text = fs::read_to_string(file)
            .with_context(|| format!("cannot read the guest job {}", file.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is no guest job", file.display()))
    }
}

/// What the guest side reports in `guest.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct GuestReport {
    /// Exit code of what the guest ran (the suite, the demo, the user's command).
    pub exit_code: i32,
    pub passed: u32,
    pub failed: u32,
    /// Problems the guest found outside the tests (e.g. a module that would not unload).
    pub problems: Vec<String>,
    /// The guest's clock (Unix seconds) when the guest side started and when it finished.
    #[serde(default)]
    pub started: f64,
    #[serde(default)]
    pub finished: f64,
    /// How long the guest side ran, by the guest's monotonic clock.
    #[serde(default)]
    pub seconds: f64,
}

impl GuestReport {
    /// The report the guest left in `out`, if it left one that parses.
    pub fn read(out: &Path) -> Option<GuestReport> {
        let text = fs::read_to_string(out.join(GUEST_REPORT)).ok()?;
        serde_json::from_str(&text).ok()
    }
}

/// The clients the benchmark times, the C raw-socket one first: it is the reference the others
/// are compared with. `gnl-neli-baseline` is the plainest neli client (router,
/// `resolve_genl_family`): what neli costs before `gnl-rust` does anything about it.
pub const BENCH_CLIENTS: [&str; 4] = [
    lab_facts::GNL_RAW,
    lab_facts::GNL_RUST,
    lab_facts::GNL_NELI_BASELINE,
    lab_facts::GNL_LIBNL,
];

/// How many iterations of each workload the guest's benchmark runs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BenchPlan {
    /// In-process one-shots: open, resolve, echo, close.
    pub oneshot: u32,
    /// Echoes on one open socket.
    pub steady: u32,
    /// Dumps, of `dump_count` messages each.
    pub dumps: u32,
    /// Messages per dump.
    pub dump_count: u32,
    /// Whole `echo` processes.
    pub processes: u32,
}

/// One client's raw benchmark samples, in nanoseconds.
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

/// Everything the guest's benchmark measured (`bench-raw.json`).
#[derive(Debug, Serialize, Deserialize)]
pub struct RawRun {
    pub release: String,
    pub plan: BenchPlan,
    pub clients: Vec<RawClient>,
}

/// `cargo lab watch`'s files in `<out>/watch/`: the guest writes `ready`; the host writes
/// `request-N.json`; the guest answers with the round's `guest.json` and then `done-N`; `stop`
/// ends the guest.
pub mod watch {
    use std::path::{Path, PathBuf};

    pub const READY: &str = "ready";
    pub const STOP: &str = "stop";

    /// What the host asks of one round.
    #[derive(Debug, serde::Serialize, serde::Deserialize)]
    pub struct Request {
        pub suite: PathBuf,
        pub suite_args: Vec<String>,
    }

    pub fn request(dir: &Path, round: u32) -> PathBuf {
        dir.join(format!("request-{round}.json"))
    }

    pub fn done(dir: &Path, round: u32) -> PathBuf {
        dir.join(format!("done-{round}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_survives_the_trip_to_the_guest() {
        let dir = std::env::temp_dir().join(format!("lab-job-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let job = GuestJob {
            out: dir.clone(),
            bin_dir: "/bin".into(),
            kmod_dir: "/kmod".into(),
            kernel_name: "6.1".into(),
            mode: Mode::Exec {
                command: vec!["gnl-raw".into(), "echo".into(), "a b; c".into()],
            },
        };
        let argv = job.write().unwrap();
        assert_eq!(argv[1..3], ["guest", "--job"]);
        let back = GuestJob::read(Path::new(&argv[3])).unwrap();
        assert_eq!(back.mode, job.mode);
        assert_eq!(back.out, dir);
        fs::remove_dir_all(&dir).ok();
    }
}
