//! `cargo lab watch`: the inner loop. One kernel is booted once and kept; every change under
//! `kmod/`, `userland/` or `tests/` rebuilds what it touches on the host and reruns the suite (or
//! the filtered tests) in the running guest, judged as `cargo lab test` judges a run. A kernel that
//! became unhealthy, or a module that will not unload, gets a new boot.
//!
//! Host and guest talk through files in `target/lab/<kernel>/watch/` (shared over 9p), as
//! `contract::watch` says.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::{Scope, ScopedJoinHandle};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use notify::{RecursiveMode, Watcher};

use super::{BootPlan, Prepared};
use crate::boot::BootResult;
use crate::contract::{watch as protocol, Mode, CONSOLE_LOG, GUEST_REPORT, WATCH_DIR};
use crate::error::usage_error;
use crate::flags::{self, WatchArgs};
use crate::kernel::Kernel;
use crate::verdict::{self, Outcome, Verdict};
use crate::{build, gdb, project};

/// What a changed file makes the loop redo, from the cheapest to the most.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Rebuild {
    module: bool,
    clients: bool,
    suite: bool,
    rerun: bool,
}

impl Rebuild {
    /// What `path` (relative to the project root) asks for; nothing for files no build reads
    /// (editor swap files, insta's pending snapshots, build output).
    fn of(path: &Path) -> Rebuild {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let scratch = name.starts_with('.')
            || name.ends_with('~')
            || name.ends_with(".swp")
            || name.ends_with(".swx")
            || name.ends_with(".snap.new")
            || name.ends_with(".pending-snap")
            || name == "4913"; // vim's probe that a directory is writable
        let mut parts = path
            .components()
            .map(|c| c.as_os_str().to_str().unwrap_or(""));
        let top = parts.next().unwrap_or("");
        let second = parts.next().unwrap_or("");
        if scratch || path.components().any(|c| c.as_os_str() == "target") {
            return Rebuild::default();
        }
        let all = Rebuild {
            module: true,
            clients: true,
            suite: true,
            rerun: true,
        };
        match (top, second) {
            ("kmod", _) => Rebuild {
                module: true,
                rerun: true,
                ..Rebuild::default()
            },
            // The UAPI header: the module, every client and the suite include it.
            ("userland", "include") => all,
            ("userland", _) => Rebuild {
                clients: true,
                suite: true,
                rerun: true,
                ..Rebuild::default()
            },
            ("tests", _) if name.ends_with(".snap") => Rebuild {
                rerun: true,
                ..Rebuild::default()
            },
            ("tests", _) => Rebuild {
                suite: true,
                rerun: true,
                ..Rebuild::default()
            },
            _ => Rebuild::default(),
        }
    }

    fn merge(self, other: Rebuild) -> Rebuild {
        Rebuild {
            module: self.module || other.module,
            clients: self.clients || other.clients,
            suite: self.suite || other.suite,
            rerun: self.rerun || other.rerun,
        }
    }
}

/// How a round ended, as far as the loop cares.
enum RoundEnd {
    /// The guest answered; the verdict says how it went, and whether the VM must be rebooted.
    Judged(Verdict, bool),
    /// The VM ended before answering (a panic, say), or did not answer within the VM timeout.
    VmLost(&'static str),
    /// The user pressed Ctrl-C.
    Interrupted,
}

/// What waiting for one of the guest's files came to.
enum Wait {
    Found,
    VmEnded,
    TimedOut,
    Interrupted,
}

/// A guest booted in watch mode, running in a thread of the scope.
struct WarmVm<'scope> {
    thread: ScopedJoinHandle<'scope, Result<BootResult>>,
    kill: Arc<AtomicBool>,
    dir: PathBuf,
    round: u32,
}

impl<'scope> WarmVm<'scope> {
    fn boot<'env>(
        scope: &'scope Scope<'scope, 'env>,
        prep: &'env Prepared,
        kernel: &'env Kernel,
        plan: &'env BootPlan,
        kmod_dir: &Path,
    ) -> Result<WarmVm<'scope>> {
        let dir = project::kernel_dir(&kernel.name).join(WATCH_DIR);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        let exec = super::guest_job(prep, kernel, kmod_dir, Mode::Watch).write()?;
        let mut boot = super::guest_boot(prep, kernel, plan, exec);
        boot.timeout = Duration::MAX;
        let kill = Arc::new(AtomicBool::new(false));
        boot.kill = Some(kill.clone());
        eprintln!(
            "==> [{}] booting {} under {} and keeping it",
            kernel.name,
            kernel.release,
            prep.accel.name()
        );
        let thread = scope.spawn(move || boot.run());
        Ok(WarmVm {
            thread,
            kill,
            dir,
            round: 0,
        })
    }

    /// Waits for the guest to write `file`, for at most `timeout`.
    fn wait_for(&self, file: &Path, timeout: Duration, interrupted: &AtomicBool) -> Wait {
        let start = Instant::now();
        while !file.exists() {
            if interrupted.load(Ordering::SeqCst) {
                return Wait::Interrupted;
            }
            if self.thread.is_finished() {
                return Wait::VmEnded;
            }
            if start.elapsed() > timeout {
                return Wait::TimedOut;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Wait::Found
    }

    /// Asks the guest to stop, gives it a few seconds, then ends the VM; returns how it ended.
    fn stop(self) -> Option<BootResult> {
        std::fs::write(self.dir.join(protocol::STOP), "").ok();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        self.kill.store(true, Ordering::SeqCst);
        self.thread.join().ok().and_then(Result::ok)
    }
}

impl flags::WatchArgs {
    /// Boots one kernel and reruns the suite on every change until Ctrl-C (exit 130).
    pub fn run(&self) -> Result<u8> {
        run(self)
    }
}

fn run(args: &WatchArgs) -> Result<u8> {
    let prep = super::prepare(&args.vm)?;
    let [kernel] = prep.kernels.as_slice() else {
        return Err(usage_error(
            "cargo lab watch keeps one kernel booted: name one with --kernel",
        ));
    };
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let interrupted = interrupted.clone();
        ctrlc::set_handler(move || interrupted.store(true, Ordering::SeqCst))
            .context("cannot catch Ctrl-C")?;
    }
    let root = project::root();
    let (tx, changes) = mpsc::channel();
    let mut watcher = notify::recommended_watcher(tx).context("cannot watch the sources")?;
    for dir in ["kmod", "userland", "tests"] {
        watcher
            .watch(&root.join(dir), RecursiveMode::Recursive)
            .with_context(|| format!("cannot watch {dir}/"))?;
    }
    let _lock = project::lock_kernel_dir(&kernel.name)?;
    eprintln!("==> building the test suite");
    let mut suite = build::suite(&prep.sh)?;
    eprintln!(
        "==> [{}] building the module against {}",
        kernel.name, kernel.release
    );
    let mut kmod_dir = build::module(&prep.sh, kernel, &[])?;
    let plan = BootPlan {
        gdb: args.debugger.gdb,
        ..BootPlan::new(&args.vm, 1)
    };
    if plan.gdb {
        let out = project::kernel_dir(&kernel.name);
        let follow = gdb::Modules::Follow(&kmod_dir);
        let init = gdb::prepare(&prep.sh, kernel, &out, follow, args.vm.install.no_install)?;
        eprintln!("{}", gdb::how_to_follow(kernel, &init));
    }
    let plan = &plan;

    std::thread::scope(|scope| -> Result<u8> {
        let mut vm = WarmVm::boot(scope, &prep, kernel, plan, &kmod_dir)?;
        let mut since = Instant::now();
        let mut rebuilt = Duration::ZERO;
        let mut booting = true;
        loop {
            let timeout = Duration::from_secs(args.vm.timeout);
            match round(
                &mut vm,
                kernel,
                &prep,
                &suite,
                &args.suite_args,
                timeout,
                &interrupted,
            )? {
                RoundEnd::Interrupted => break,
                RoundEnd::VmLost(why) => {
                    let out = project::kernel_dir(&kernel.name);
                    if let Some(ended) = vm.stop() {
                        let (verdict, _) =
                            verdict::judge(kernel, prep.accel, &out, &ended, 0, None);
                        verdict.print();
                    }
                    eprintln!("==> [{}] {why}: booting it again", kernel.name);
                    // The same code would end it the same way: the next round waits for a change.
                    vm = WarmVm::boot(scope, &prep, kernel, plan, &kmod_dir)?;
                }
                RoundEnd::Judged(verdict, must_reboot) => {
                    verdict.print();
                    let from = if booting { "boot" } else { "change" };
                    let total = since.elapsed().as_secs_f64();
                    eprintln!(
                        "==> [{}] {from} to verdict in {total:.1} s (rebuild {:.1} s, suite {:.1} s)",
                        kernel.name,
                        rebuilt.as_secs_f64(),
                        verdict.seconds
                    );
                    if must_reboot {
                        eprintln!("==> [{}] rebooting: {}", kernel.name, verdict.reason);
                        vm.stop();
                        // As above: booted now, so that the next round finds it warm.
                        vm = WarmVm::boot(scope, &prep, kernel, plan, &kmod_dir)?;
                    }
                }
            }
            booting = false;
            eprintln!("==> watching kmod/, userland/ and tests/ (Ctrl-C to stop)");
            // Rebuild until a change compiles; a change that does not keeps the VM as it is.
            loop {
                let Some(what) = next_change(&changes, &root, &interrupted) else {
                    let code = stop(vm, kernel);
                    return Ok(code);
                };
                since = Instant::now();
                match rebuild(what, &prep, kernel, &mut suite, &mut kmod_dir) {
                    Ok(()) => {
                        rebuilt = since.elapsed();
                        break;
                    }
                    Err(err) => {
                        eprintln!("error: {err:#}");
                        eprintln!(
                            "==> [{}] the VM stays up: fix it and save again",
                            kernel.name
                        );
                    }
                }
            }
        }
        Ok(stop(vm, kernel))
    })
}

/// Ends the VM after Ctrl-C; the exit code is the shell's for an interrupted program.
fn stop(vm: WarmVm, kernel: &Kernel) -> u8 {
    eprintln!("\n==> [{}] stopping the VM", kernel.name);
    vm.stop();
    130
}

/// One round: sends the request, waits for the guest's answer and judges it.
fn round(
    vm: &mut WarmVm,
    kernel: &Kernel,
    prep: &Prepared,
    suite: &Path,
    suite_args: &[String],
    timeout: Duration,
    interrupted: &AtomicBool,
) -> Result<RoundEnd> {
    let lost = |wait: Wait| match wait {
        Wait::Found => None,
        Wait::Interrupted => Some(RoundEnd::Interrupted),
        Wait::VmEnded => Some(RoundEnd::VmLost("the VM ended by itself")),
        Wait::TimedOut => Some(RoundEnd::VmLost(
            "the guest did not answer within the VM timeout (--timeout)",
        )),
    };
    if let Some(end) = lost(vm.wait_for(&vm.dir.join(protocol::READY), timeout, interrupted)) {
        return Ok(end);
    }
    vm.round += 1;
    let out = project::kernel_dir(&kernel.name);
    std::fs::remove_file(out.join(GUEST_REPORT)).ok();
    let request = protocol::Request {
        suite: suite.to_owned(),
        suite_args: suite_args.to_owned(),
    };
    // Written whole, then renamed: the guest never reads half a request.
    let file = protocol::request(&vm.dir, vm.round);
    let partial = file.with_extension("partial");
    std::fs::write(&partial, serde_json::to_string(&request)?)?;
    std::fs::rename(&partial, &file)?;
    let start = Instant::now();
    if let Some(end) = lost(vm.wait_for(&protocol::done(&vm.dir, vm.round), timeout, interrupted)) {
        return Ok(end);
    }
    let boot = BootResult {
        status: Some(0),
        timed_out: false,
        console_log: out.join(CONSOLE_LOG),
        took: start.elapsed(),
    };
    let (mut verdict, report) = verdict::judge(kernel, prep.accel, &out, &boot, 0, None);
    verdict.seconds = start.elapsed().as_secs_f64();
    verdict.record()?;
    // Failed tests keep the VM; an unhealthy kernel, or a module left behind, does not.
    let must_reboot = match verdict.result {
        Outcome::KernelUnhealthy | Outcome::InfraFailed => true,
        _ => report.is_some_and(|r| !r.problems.is_empty()),
    };
    Ok(RoundEnd::Judged(verdict, must_reboot))
}

/// Blocks until a change that needs work arrives, then lets the burst of writes an editor or a
/// `git checkout` makes settle. None on Ctrl-C.
fn next_change(
    changes: &mpsc::Receiver<notify::Result<notify::Event>>,
    root: &Path,
    interrupted: &AtomicBool,
) -> Option<Rebuild> {
    let mut what = Rebuild::default();
    let of = |event: notify::Result<notify::Event>| -> Rebuild {
        let Ok(event) = event else {
            return Rebuild::default();
        };
        if matches!(event.kind, notify::EventKind::Access(_)) {
            return Rebuild::default();
        }
        event
            .paths
            .iter()
            .filter_map(|p| p.strip_prefix(root).ok())
            .fold(Rebuild::default(), |acc, p| acc.merge(Rebuild::of(p)))
    };
    while !what.rerun {
        if interrupted.load(Ordering::SeqCst) {
            return None;
        }
        if let Ok(event) = changes.recv_timeout(Duration::from_millis(200)) {
            what = what.merge(of(event));
        }
    }
    let settle = Duration::from_millis(300);
    while let Ok(event) = changes.recv_timeout(settle) {
        what = what.merge(of(event));
    }
    Some(what)
}

/// Rebuilds what a change asks for, saying what it does.
fn rebuild(
    what: Rebuild,
    prep: &Prepared,
    kernel: &Kernel,
    suite: &mut PathBuf,
    kmod_dir: &mut PathBuf,
) -> Result<()> {
    if what.module {
        eprintln!("==> [{}] rebuilding the module", kernel.name);
        *kmod_dir = build::module(&prep.sh, kernel, &[])?;
    }
    if what.clients {
        eprintln!("==> rebuilding the clients");
        build::clients(&prep.sh)?;
    }
    if what.suite {
        eprintln!("==> rebuilding the test suite");
        *suite = build::suite(&prep.sh)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_part_of_the_tree_rebuilds_what_depends_on_it() {
        let of = |p: &str| Rebuild::of(Path::new(p));
        let module = of("kmod/gnl_foobar_xmpl.c");
        assert!(module.module && module.rerun && !module.clients && !module.suite);
        assert_eq!(
            of("userland/include/gnl_foobar_xmpl.h"),
            Rebuild {
                module: true,
                clients: true,
                suite: true,
                rerun: true
            }
        );
        let client = of("userland/gnl-raw/gnl_raw.c");
        assert!(client.clients && client.suite && !client.module);
        let test = of("tests/tests/suite/echo.rs");
        assert!(test.suite && !test.clients && !test.module);
        let snapshot = of("tests/tests/suite/snapshots/suite__echo.snap");
        assert_eq!(
            snapshot,
            Rebuild {
                rerun: true,
                ..Rebuild::default()
            }
        );
    }

    #[test]
    fn scratch_files_and_build_output_change_nothing() {
        for path in [
            "kmod/.gnl_foobar_xmpl.c.swp",
            "kmod/gnl_foobar_xmpl.c~",
            "kmod/4913",
            "tests/tests/suite/snapshots/suite__echo.snap.new",
            "userland/target/x",
            "README.md",
        ] {
            assert_eq!(Rebuild::of(Path::new(path)), Rebuild::default(), "{path}");
        }
    }
}
