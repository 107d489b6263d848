//! The subcommands, one file each, and what the VM-booting ones share: preparing the host,
//! booting a kernel with the guest side of the lab, and judging what came back.

pub mod bench;
pub mod demo;
pub mod exec;
pub mod fuzz;
pub mod guest;
pub mod kernels;
pub mod lint;
pub mod new;
pub mod selfcheck;
pub mod test;
pub mod tour;
pub mod watch;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context, Result};
use xshell::Shell;

use crate::boot::{self, Accel, Boot};
use crate::flags::VmArgs;
use crate::kernel::{self, Kernel};
use crate::verdict::{Outcome, Verdict};
use crate::{build, coverage, debug_kernel, debugfs, deps, health, project, ynl};

/// Everything built on the host before any VM boots.
pub struct Prepared {
    pub sh: Shell,
    pub kernels: Vec<Kernel>,
    pub accel: Accel,
    pub bin_dir: PathBuf,
    pub timings: PrepTimings,
}

/// How long [`prepare`]'s phases took, in seconds (`cargo lab bench --lab` reports them).
#[derive(Debug, Clone, Copy, Default)]
pub struct PrepTimings {
    /// Resolving (and, the first time, downloading) every kernel.
    pub kernel_resolve: f64,
    /// Building the clients (and installing the ynl wrapper).
    pub client_build: f64,
}

/// Installs missing tools, resolves (and downloads) the kernels, builds the clients.
pub fn prepare(args: &VmArgs) -> Result<Prepared> {
    let specs = kernel::parse_specs(args.kernel.as_deref())?;
    deps::ensure(args.install.no_install)?;
    if specs.contains(&kernel::KernelSpec::Debug) && debug_kernel::cached()?.is_none() {
        deps::ensure_kernel_build(args.install.no_install)?;
    }
    let sh = project::shell()?;
    let (accel, why) = boot::choose_accel(args.accel)?;
    eprintln!("==> accelerator: {} ({why})", accel.name());
    let started = Instant::now();
    let kernels = kernel::resolve_all(&sh, &specs)?;
    let kernel_resolve = started.elapsed().as_secs_f64();
    for k in &kernels {
        eprintln!(
            "==> [{}] kernel {} ({}; module built with {})",
            k.name, k.release, k.provenance, k.compiler
        );
        if let Some(why) = boot::cannot_boot(k) {
            bail!(why);
        }
    }
    eprintln!("==> building the clients");
    let started = Instant::now();
    let bin_dir = build::clients(&sh)?;
    ynl::install_client(&sh, &bin_dir)?;
    let timings = PrepTimings {
        kernel_resolve,
        client_build: started.elapsed().as_secs_f64(),
    };
    Ok(Prepared {
        sh,
        kernels,
        accel,
        bin_dir,
        timings,
    })
}

impl Prepared {
    /// How many of the kernels boot at once with `jobs` asked for: at least 1, at most them all.
    pub fn side_by_side(&self, jobs: usize) -> usize {
        jobs.clamp(1, self.kernels.len().max(1))
    }
}

/// Runs `one` for every kernel, `jobs` kernels at a time (VMs side by side), and returns the
/// verdicts in the kernels' order. With more than one at a time the guests' output goes to their
/// logs only and each kernel prints its progress lines and its verdict.
pub fn each_kernel(
    prep: &Prepared,
    jobs: usize,
    one: impl Fn(&Prepared, &Kernel) -> Result<Verdict> + Sync,
) -> Result<Vec<Verdict>> {
    let jobs = prep.side_by_side(jobs);
    if jobs == 1 {
        return prep.kernels.iter().map(|k| one(prep, k)).collect();
    }
    eprintln!(
        "==> {} kernels, {jobs} at a time (each guest's output is in target/lab/<kernel>/console.log)",
        prep.kernels.len()
    );
    // A `Shell` is not shared across threads: each worker gets its own copy of the rest.
    let (kernels, accel, bin_dir, timings) =
        (&prep.kernels, prep.accel, &prep.bin_dir, prep.timings);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: std::sync::Mutex<Vec<(usize, Result<Verdict>)>> = Default::default();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                let mine = match project::shell().map(|sh| Prepared {
                    sh,
                    kernels: kernels.clone(),
                    accel,
                    bin_dir: bin_dir.clone(),
                    timings,
                }) {
                    Ok(p) => p,
                    Err(e) => {
                        results.lock().unwrap().push((usize::MAX, Err(e)));
                        return;
                    }
                };
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(kernel) = mine.kernels.get(i) else {
                        break;
                    };
                    let verdict = one(&mine, kernel);
                    results.lock().unwrap().push((i, verdict));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, v)| v).collect()
}

/// What the guest side reports in `guest.json`.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
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

/// Files a run leaves in `target/lab/<kernel>/`.
pub const CONSOLE_LOG: &str = "console.log";
pub const DMESG: &str = "dmesg.txt";
pub const GUEST_REPORT: &str = "guest.json";

/// One boot of one kernel running a guest mode, judged.
pub struct GuestRun {
    pub verdict: Verdict,
    pub report: Option<GuestReport>,
    /// The host's clock when vng started and when it exited (None when it never started).
    pub vm_window: Option<(SystemTime, SystemTime)>,
}

/// Builds the module for `kernel`, boots it, runs `lab guest <mode...>` inside and judges.
pub fn boot_guest(
    prep: &Prepared,
    kernel: &Kernel,
    args: &VmArgs,
    mode: &[String],
) -> Result<GuestRun> {
    boot_guest_with(prep, kernel, args, mode, &project::root().join("kmod"))
}

/// [`boot_guest`] with the modules of `kmod_src` instead of `kmod/`.
pub fn boot_guest_with(
    prep: &Prepared,
    kernel: &Kernel,
    args: &VmArgs,
    mode: &[String],
    kmod_src: &Path,
) -> Result<GuestRun> {
    let start = Instant::now();
    let _lock = project::lock_kernel_dir(&kernel.name)?;
    let out = project::kernel_dir(&kernel.name);
    fs::create_dir_all(&out)?;
    for stale in [
        CONSOLE_LOG,
        DMESG,
        GUEST_REPORT,
        "summary.json",
        debugfs::KMEMLEAK_REPORT,
    ] {
        fs::remove_file(out.join(stale)).ok();
    }
    eprintln!(
        "==> [{}] building the module against {}",
        kernel.name, kernel.release
    );
    let kmod_dir = match build::module_from(&prep.sh, kernel, kmod_src, &[]) {
        Ok(dir) => dir,
        Err(err) => {
            let verdict = Verdict::infra(
                kernel,
                prep.accel.name(),
                format!("{err:#}"),
                &out,
                start.elapsed(),
            );
            return Ok(GuestRun {
                verdict,
                report: None,
                vm_window: None,
            });
        }
    };
    let exec = guest_command(prep, kernel, &kmod_dir, mode)?;
    let boot = guest_boot(prep, kernel, args, exec);
    let timeout = boot.timeout.as_secs();
    eprintln!(
        "==> [{}] booting {} under {} (timeout {} s)",
        kernel.name,
        kernel.release,
        prep.accel.name(),
        timeout
    );
    let vm_started = SystemTime::now();
    let result = boot.run()?;
    let vm_window = (vm_started, SystemTime::now());
    let (mut verdict, report) = judge(kernel, prep.accel, &out, &result, timeout);
    verdict.seconds = start.elapsed().as_secs_f64();
    if let Some(report) = &report {
        let guest_end = fs::metadata(out.join(GUEST_REPORT))
            .and_then(|m| m.modified())
            .unwrap_or(vm_window.1);
        verdict.boot_seconds = Some(split_vm(vm_window, guest_end, report.seconds).0);
    }
    verdict.save()?;
    crate::junit::write_kernel(&verdict)?;
    Ok(GuestRun {
        verdict,
        report,
        vm_window: Some(vm_window),
    })
}

/// Splits the VM's time into boot, guest work and shutdown, in seconds. The guest's end is the
/// host's mtime of the `guest.json` it wrote last (the 9p server stamps it with the host's clock),
/// its start that end minus the guest's own monotonic duration: no trust in the guest's wall
/// clock needed.
pub fn split_vm(
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

/// The boot of `kernel` that runs the guest command `exec`, as every VM-booting command makes it.
pub fn guest_boot<'k>(
    prep: &Prepared,
    kernel: &'k Kernel,
    args: &VmArgs,
    exec: Vec<String>,
) -> Boot<'k> {
    // KASAN, lockdep and kmemleak make everything about three times slower under TCG.
    let timeout = if kernel.debug {
        args.timeout.saturating_mul(3)
    } else {
        args.timeout
    };
    Boot {
        kernel,
        accel: prep.accel,
        out_dir: project::kernel_dir(&kernel.name),
        rw_dirs: vec![project::root().join("tests")],
        append: allocator_args(kernel, args.hardened),
        exec,
        timeout: Duration::from_secs(timeout),
        verbose: args.verbose,
        quiet: args.quiet,
        kill: None,
        gdb: args.gdb,
        cpus: vcpus(args, 1),
    }
}

/// The vCPUs of each of `side_by_side` guests: `--cpus`, else the host's cores shared among them.
/// (`cargo lab test` on 6.1 under TCG, 2-core host: 1 vCPU 123.6 s, 2 109.3 s, 3 140.2 s, 4 145.0 s.)
pub fn vcpus(args: &VmArgs, side_by_side: usize) -> u16 {
    args.cpus.unwrap_or_else(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        u16::try_from((cores / side_by_side.max(1)).max(1)).unwrap_or(u16::MAX)
    })
}

/// On the debug kernel: the run's coverage of the modules (see `coverage`). Counters that
/// cannot be read fail the run, since a debug run promises them.
pub fn capture_coverage(prep: &Prepared, kernel: &Kernel, verdict: &mut Verdict, run: &str) {
    if !kernel.debug || verdict.result == Outcome::InfraFailed {
        return;
    }
    let out = project::kernel_dir(&kernel.name);
    let kmod_dir = out.join("build").join("kmod");
    if let Err(err) = coverage::capture(&prep.sh, &kmod_dir, &out, run) {
        eprintln!("==> [{}] coverage: {err:#}", kernel.name);
        if verdict.result == Outcome::Passed {
            verdict.result = Outcome::TestsFailed;
            verdict.reason = format!("coverage: {err:#}");
            verdict.save().ok();
        }
    }
}

/// The command line of the guest side: this very binary, `guest`, where things are, and `mode`.
pub fn guest_command(
    prep: &Prepared,
    kernel: &Kernel,
    kmod_dir: &Path,
    mode: &[String],
) -> Result<Vec<String>> {
    let exe = std::env::current_exe().context("cannot find the lab's own binary")?;
    // A rebuild while the lab runs (cargo build, another cargo lab) replaces the binary: Linux then
    // names the running one `... (deleted)`, and the guest wants the new one at the same path.
    let exe = PathBuf::from(
        exe.to_string_lossy()
            .trim_end_matches(" (deleted)")
            .to_owned(),
    );
    let mut argv = vec![
        exe.display().to_string(),
        "guest".into(),
        "--out".into(),
        project::kernel_dir(&kernel.name).display().to_string(),
        "--bin-dir".into(),
        prep.bin_dir.display().to_string(),
        "--kmod-dir".into(),
        kmod_dir.display().to_string(),
        "--kernel-name".into(),
        kernel.name.clone(),
    ];
    argv.extend(mode.iter().cloned());
    Ok(argv)
}

/// Kernels side by side by default: one VM (2 vCPUs) per two host cores, at least one.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

/// The allocator's kernel arguments. `--hardened`: SLUB debugging everywhere, KFENCE sampling
/// where it exists. The debug kernel always gets some SLUB debugging: a cache without it keeps per-CPU "sheaves"
/// (7.x), arrays that still hold the pointer of every object handed out from them, and kmemleak,
/// which scans those arrays, then takes a leaked object for a referenced one.
fn allocator_args(kernel: &Kernel, hardened: bool) -> Vec<String> {
    if !hardened {
        return if kernel.debug {
            vec!["slub_debug=U".to_owned()]
        } else {
            Vec::new()
        };
    }
    let mut args = vec!["slub_debug=FZPU".to_owned()];
    if kernel.has_kfence {
        args.push("kfence.sample_interval=10".to_owned());
    }
    args
}

/// Turns the logs and the guest's report into a verdict: an unhealthy kernel outranks failed
/// tests, and no report at all is an infrastructure failure.
fn judge(
    kernel: &Kernel,
    accel: Accel,
    out: &Path,
    boot: &boot::BootResult,
    timeout: u64,
) -> (Verdict, Option<GuestReport>) {
    let console = fs::read_to_string(&boot.console_log).unwrap_or_default();
    let dmesg = fs::read_to_string(out.join(DMESG)).unwrap_or_default();
    let kmemleak = fs::read_to_string(out.join(debugfs::KMEMLEAK_REPORT)).unwrap_or_default();
    let report: Option<GuestReport> = fs::read_to_string(out.join(GUEST_REPORT))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let guest_accel = if dmesg.contains("Hypervisor detected: KVM") {
        "kvm"
    } else if dmesg.is_empty() {
        accel.name()
    } else {
        "tcg"
    };
    let mut verdict = Verdict {
        kernel: kernel.name.clone(),
        release: kernel.release.clone(),
        compiler: kernel.compiler.clone(),
        accel: guest_accel.to_owned(),
        result: Outcome::Passed,
        reason: String::new(),
        passed: report.as_ref().map_or(0, |r| r.passed),
        failed: report.as_ref().map_or(0, |r| r.failed),
        seconds: boot.took.as_secs_f64(),
        boot_seconds: None,
        guest_seconds: report.as_ref().map(|r| r.seconds),
        logs: out.to_owned(),
    };
    let findings: Vec<String> = health::scan(&dmesg)
        .iter()
        .map(|f| f.describe(DMESG))
        .chain(
            health::scan_console(&console)
                .iter()
                .map(|f| f.describe(CONSOLE_LOG)),
        )
        .chain(
            health::scan(&kmemleak)
                .iter()
                .map(|f| f.describe(debugfs::KMEMLEAK_REPORT)),
        )
        .collect();
    (verdict.result, verdict.reason) = if let Some(first) = findings.first() {
        (Outcome::KernelUnhealthy, first.clone())
    } else if boot.timed_out {
        (
            Outcome::InfraFailed,
            format!("the VM did not finish within {timeout} s and was killed (raise --timeout?)"),
        )
    } else if accel == Accel::Kvm && guest_accel != "kvm" {
        (
            Outcome::InfraFailed,
            "KVM was asked for but the guest ran without it".to_owned(),
        )
    } else {
        match &report {
            None => (
                Outcome::InfraFailed,
                format!(
                    "the guest never reported (vng exited with {}): see {}",
                    boot.status.map_or("a signal".to_owned(), |c| c.to_string()),
                    CONSOLE_LOG
                ),
            ),
            Some(r) if !r.problems.is_empty() => (Outcome::TestsFailed, r.problems.join("; ")),
            Some(r) if r.failed > 0 => (
                Outcome::TestsFailed,
                format!("{} of {} tests failed", r.failed, r.failed + r.passed),
            ),
            Some(r) if r.exit_code != 0 => (
                Outcome::TestsFailed,
                format!("the guest command exited with {}", r.exit_code),
            ),
            Some(_) => (Outcome::Passed, String::new()),
        }
    };
    (verdict, report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kernel() -> Kernel {
        Kernel {
            name: "6.1".into(),
            release: "6.1.0-56-amd64".into(),
            provenance: String::new(),
            boot: PathBuf::new(),
            kbuild: PathBuf::new(),
            make_vars: Vec::new(),
            build_root: None,
            compiler: String::new(),
            has_kfence: false,
            debug: false,
        }
    }

    /// Judges a run from the files a guest would leave behind.
    fn judge_files(
        console: &str,
        dmesg: Option<&str>,
        report: Option<&str>,
        timed_out: bool,
    ) -> Verdict {
        let dir = std::env::temp_dir().join(format!(
            "lab-judge-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(CONSOLE_LOG), console).unwrap();
        if let Some(d) = dmesg {
            fs::write(dir.join(DMESG), d).unwrap();
        }
        if let Some(r) = report {
            fs::write(dir.join(GUEST_REPORT), r).unwrap();
        }
        let boot = boot::BootResult {
            status: Some(0),
            timed_out,
            console_log: dir.join(CONSOLE_LOG),
            took: Duration::from_secs(1),
        };
        let (verdict, _) = judge(&kernel(), Accel::Tcg, &dir, &boot, 60);
        fs::remove_dir_all(&dir).ok();
        verdict
    }

    fn rand_suffix() -> u128 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    }

    const PASSED: &str = r#"{"exit_code":0,"passed":10,"failed":0,"problems":[]}"#;

    #[test]
    fn a_clean_run_passes() {
        let v = judge_files(
            "ok\n",
            Some("[ 1.0] gnl_foobar_xmpl: registered\n"),
            Some(PASSED),
            false,
        );
        assert_eq!(v.result, Outcome::Passed);
        assert_eq!((v.passed, v.failed), (10, 0));
        assert_eq!(v.accel, "tcg");
    }

    #[test]
    fn a_warning_makes_the_kernel_unhealthy_even_when_tests_pass() {
        let v = judge_files(
            "",
            Some("[ 2.0] WARNING: CPU: 0 PID: 1 at x\n"),
            Some(PASSED),
            false,
        );
        assert_eq!(v.result, Outcome::KernelUnhealthy);
        assert!(
            v.reason.starts_with("WARNING in dmesg.txt line 1"),
            "{}",
            v.reason
        );
    }

    #[test]
    fn a_panic_on_the_console_is_found_without_dmesg() {
        let v = judge_files(
            "[ 3.0] Kernel panic - not syncing: Fatal exception\n",
            None,
            None,
            false,
        );
        assert_eq!(v.result, Outcome::KernelUnhealthy);
    }

    #[test]
    fn failures_timeouts_and_silence_have_their_own_outcomes() {
        let failed = r#"{"exit_code":101,"passed":8,"failed":2,"problems":[]}"#;
        let v = judge_files("", Some(""), Some(failed), false);
        assert_eq!(v.result, Outcome::TestsFailed);
        assert_eq!(v.reason, "2 of 10 tests failed");
        assert_eq!(
            judge_files("", None, None, true).result,
            Outcome::InfraFailed
        );
        let silent = judge_files("", None, None, false);
        assert_eq!(silent.result, Outcome::InfraFailed);
        assert!(silent.reason.contains("never reported"));
        let leak = r#"{"exit_code":0,"passed":3,"failed":0,"problems":["gnl_foobar_xmpl does not unload"]}"#;
        assert_eq!(
            judge_files("", Some(""), Some(leak), false).result,
            Outcome::TestsFailed
        );
    }

    #[test]
    fn hardened_boots_add_kfence_only_where_the_kernel_has_it() {
        let mut k = kernel();
        assert!(allocator_args(&k, false).is_empty());
        assert_eq!(allocator_args(&k, true), ["slub_debug=FZPU"]);
        k.debug = true;
        assert_eq!(allocator_args(&k, false), ["slub_debug=U"]);
        k.debug = false;
        k.has_kfence = true;
        assert_eq!(
            allocator_args(&k, true),
            ["slub_debug=FZPU", "kfence.sample_interval=10"]
        );
    }
}
