//! The commands, one file each (`impl flags::X { fn run }`), and what the VM-booting ones share:
//! preparing the host, the boot plan, and the per-kernel loop that builds the module, boots the
//! kernel with a guest job, and has its verdict decided and written.

pub mod bench;
mod coverage;
pub mod demo;
pub mod exec;
pub mod fuzz;
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

use anyhow::{bail, Result};
use xshell::Shell;

use crate::boot::{self, Accel, Boot};
use crate::contract::{GuestJob, GuestReport, Mode, GUEST_REPORT, PER_BOOT};
use crate::flags::VmArgs;
use crate::kernel::{self, Kernel};
use crate::verdict::{self, Verdict};
use crate::{build, deps, project, ynl};

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
    crate::versions::warn_if_unpinned();
    if specs.contains(&kernel::KernelSpec::Debug) && kernel::debug::cached()?.is_none() {
        deps::ensure_kernel_build(args.install.no_install)?;
    }
    let sh = project::shell()?;
    let (accel, why) = boot::choose_accel(args.accel)?;
    eprintln!("==> accelerator: {} ({why})", accel.name());
    let started = Instant::now();
    let kernels = kernel::resolve_all(&sh, &specs, args.install.no_install)?;
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

/// How each guest of a command boots: the flags, and what the command decided at run time.
#[derive(Debug, Clone)]
pub struct BootPlan {
    /// Seconds before a VM is killed (three times that on the debug kernel).
    pub timeout: u64,
    /// Allocator debugging: slub_debug=FZPU, and KFENCE sampling where the kernel has it.
    pub hardened: bool,
    /// The whole kernel console on the terminal.
    pub verbose: bool,
    /// Several guests side by side: their output goes to their logs only.
    pub quiet: bool,
    /// QEMU's gdb stub open (`--gdb`).
    pub gdb: bool,
    /// vCPUs per guest.
    pub cpus: u16,
    /// More kernel command-line options (`--append`).
    pub append: Vec<String>,
}

impl BootPlan {
    /// The plan of `side_by_side` guests at a time: `--cpus`, else the host's cores shared among
    /// them. (`cargo lab test` on 6.1 under TCG, 2-core host: 1 vCPU 123.6 s, 2 109.3 s, 3 140.2 s,
    /// 4 145.0 s.)
    pub fn new(args: &VmArgs, side_by_side: usize) -> BootPlan {
        let cpus = args.cpus.unwrap_or_else(|| {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            u16::try_from((cores / side_by_side.max(1)).max(1)).unwrap_or(u16::MAX)
        });
        BootPlan {
            timeout: args.timeout,
            hardened: args.hardened,
            verbose: args.verbose,
            quiet: side_by_side > 1,
            gdb: false,
            cpus,
            append: args.append.clone(),
        }
    }
}

/// Runs `one` for every kernel, `jobs` kernels at a time (VMs side by side), and returns the
/// results in the kernels' order. With more than one at a time the guests' output goes to their
/// logs only and each kernel prints its progress lines and its verdict.
pub fn each_kernel<T: Send>(
    prep: &Prepared,
    jobs: usize,
    one: impl Fn(&Prepared, &Kernel) -> Result<T> + Sync,
) -> Result<Vec<T>> {
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
    let results: std::sync::Mutex<Vec<(usize, Result<T>)>> = Default::default();
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
                    let result = one(&mine, kernel);
                    results.lock().unwrap().push((i, result));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, v)| v).collect()
}

/// What a command runs on each kernel: a guest mode, against which modules, and whether the
/// debug kernel's coverage of it counts.
pub struct GuestTask {
    pub mode: Mode,
    /// The modules' sources (`kmod/`, or the selfcheck's broken one).
    pub kmod_src: PathBuf,
    /// The name coverage saves the run under (`test`, `fuzz`), or None for no coverage.
    pub coverage: Option<&'static str>,
}

impl GuestTask {
    /// `mode` with the project's modules, no coverage.
    pub fn new(mode: Mode) -> GuestTask {
        GuestTask {
            mode,
            kmod_src: project::root().join("kmod"),
            coverage: None,
        }
    }
}

/// One boot of one kernel running a guest task, judged.
pub struct KernelRun {
    pub verdict: Verdict,
    pub report: Option<GuestReport>,
    /// The host's clock when vng started and when it exited (None when it never started).
    pub vm_window: Option<(SystemTime, SystemTime)>,
}

/// The per-kernel step of every VM-booting command: builds the module for `kernel`, boots it with
/// the guest job, captures coverage, then has the verdict decided and written, once.
pub fn run_on(
    prep: &Prepared,
    kernel: &Kernel,
    plan: &BootPlan,
    task: &GuestTask,
) -> Result<KernelRun> {
    let start = Instant::now();
    let _lock = project::lock_kernel_dir(&kernel.name)?;
    let out = project::kernel_dir(&kernel.name);
    fs::create_dir_all(&out)?;
    for stale in PER_BOOT {
        fs::remove_file(out.join(stale)).ok();
    }
    eprintln!(
        "==> [{}] building the module against {}",
        kernel.name, kernel.release
    );
    let kmod_dir = match build::module_from(&prep.sh, kernel, &task.kmod_src, &[]) {
        Ok(dir) => dir,
        Err(err) => {
            let verdict = Verdict::infra(
                kernel,
                prep.accel.name(),
                format!("{err:#}"),
                &out,
                start.elapsed(),
            );
            verdict.record()?;
            return Ok(KernelRun {
                verdict,
                report: None,
                vm_window: None,
            });
        }
    };
    let exec = guest_job(prep, kernel, &kmod_dir, task.mode.clone()).write()?;
    let boot = guest_boot(prep, kernel, plan, exec);
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
    // The debug kernel's run promises its coverage: counters that cannot be read fail it.
    let capture = |run: &str| crate::coverage::capture(&prep.sh, &kmod_dir, &out, run);
    let capture_run = task
        .coverage
        .filter(|_| kernel.debug)
        .map(|run| move || capture(run));
    let coverage = capture_run.as_ref().map(|c| c as &dyn Fn() -> Result<()>);
    let (mut verdict, report) =
        verdict::judge(kernel, prep.accel, &out, &result, timeout, coverage);
    verdict.seconds = start.elapsed().as_secs_f64();
    if let Some(report) = &report {
        let guest_end = fs::metadata(out.join(GUEST_REPORT))
            .and_then(|m| m.modified())
            .unwrap_or(vm_window.1);
        verdict.boot_seconds = Some(split_vm(vm_window, guest_end, report.seconds).0);
    }
    verdict.record()?;
    Ok(KernelRun {
        verdict,
        report,
        vm_window: Some(vm_window),
    })
}

/// The job of the guest side on `kernel`, modules in `kmod_dir`.
pub fn guest_job(prep: &Prepared, kernel: &Kernel, kmod_dir: &Path, mode: Mode) -> GuestJob {
    GuestJob {
        out: project::kernel_dir(&kernel.name),
        bin_dir: prep.bin_dir.clone(),
        kmod_dir: kmod_dir.to_owned(),
        kernel_name: kernel.name.clone(),
        mode,
    }
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

/// The boot of `kernel` that runs `exec`, as every VM-booting command makes it.
pub fn guest_boot<'k>(
    prep: &Prepared,
    kernel: &'k Kernel,
    plan: &BootPlan,
    exec: Vec<String>,
) -> Boot<'k> {
    // KASAN, lockdep and kmemleak make everything about three times slower under TCG.
    let timeout = if kernel.debug {
        plan.timeout.saturating_mul(3)
    } else {
        plan.timeout
    };
    Boot {
        kernel,
        accel: prep.accel,
        out_dir: project::kernel_dir(&kernel.name),
        rw_dirs: vec![project::root().join("tests")],
        append: [
            allocator_args(kernel, plan.hardened),
            ninep_args(kernel),
            plan.append.clone(),
        ]
        .concat(),
        exec,
        timeout: Duration::from_secs(timeout),
        verbose: plan.verbose,
        quiet: plan.quiet,
        kill: None,
        gdb: plan.gdb,
        cpus: plan.cpus,
    }
}

/// 9p before 6.0 allocates two buffers of the mount's msize (about 500 KiB here) for every
/// request, and `init_on_alloc`, on in Debian's kernels, zeroes them: under TCG every read of the
/// guest's root file system then cost 5.10 several times what it costs 6.1, and every program it
/// starts reads its libraries that way (docs/speed.md). 6.0 sizes the buffers to the message.
fn ninep_args(kernel: &Kernel) -> Vec<String> {
    let mut numbers = kernel
        .release
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u32>().unwrap_or(0));
    let line = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
    if line < (6, 0) {
        vec!["init_on_alloc=0".to_owned()]
    } else {
        Vec::new()
    }
}

/// The allocator's kernel arguments. `--hardened`: SLUB debugging everywhere, KFENCE sampling
/// where it exists. The debug kernel always gets some SLUB debugging: a cache without it keeps
/// per-CPU "sheaves" (7.x), arrays that still hold the pointer of every object handed out from
/// them, and kmemleak, which scans those arrays, then takes a leaked object for a referenced one.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_before_6_0_boot_without_zeroing_9p_buffers() {
        let mut kernel = Kernel::for_tests();
        assert!(ninep_args(&kernel).is_empty());
        kernel.release = "5.10.0-46-amd64".into();
        assert_eq!(ninep_args(&kernel), ["init_on_alloc=0"]);
    }

    #[test]
    fn hardened_boots_add_kfence_only_where_the_kernel_has_it() {
        let mut k = Kernel::for_tests();
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
