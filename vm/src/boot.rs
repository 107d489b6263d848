//! Booting a kernel with virtme-ng: accelerator choice, the `vng` command line, streaming and
//! saving the console, and killing a VM that outlives its timeout.

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::flags::AccelChoice;
use crate::health::is_kernel_line;
use crate::kernel::Kernel;
use crate::project;
use crate::project::which;

/// The accelerator a VM runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    /// `kvm` or `tcg`.
    pub fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// Picks the accelerator and says why. Nested KVM without CPU flags is pathologically slow, so
/// `auto` wants both the flags in /proc/cpuinfo and a /dev/kvm that opens.
pub fn choose_accel(choice: AccelChoice) -> Result<(Accel, String)> {
    let cpu_flags = fs::read_to_string("/proc/cpuinfo")
        .map(|c| cpu_has_virtualization(&c))
        .unwrap_or(false);
    let kvm_opens = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm");
    match choice {
        AccelChoice::Tcg => Ok((Accel::Tcg, "asked for with --accel tcg".into())),
        AccelChoice::Kvm => match kvm_opens {
            Ok(_) => Ok((Accel::Kvm, "asked for with --accel kvm".into())),
            Err(e) => {
                bail!("--accel kvm: cannot open /dev/kvm ({e}): enable KVM or use --accel tcg")
            }
        },
        AccelChoice::Auto => Ok(match (cpu_flags, kvm_opens) {
            (true, Ok(_)) => (Accel::Kvm, "CPU has vmx/svm and /dev/kvm is usable".into()),
            (false, _) => (
                Accel::Tcg,
                "no vmx/svm CPU flag (nested KVM would crawl); --accel kvm forces it".into(),
            ),
            (true, Err(e)) => (Accel::Tcg, format!("/dev/kvm is not usable ({e})")),
        }),
    }
}

fn cpu_has_virtualization(cpuinfo: &str) -> bool {
    cpuinfo
        .lines()
        .filter(|l| l.starts_with("flags"))
        .any(|l| l.split_whitespace().any(|f| f == "vmx" || f == "svm"))
}

/// One VM boot.
pub struct Boot<'a> {
    pub kernel: &'a Kernel,
    pub accel: Accel,
    /// Where console.log goes; also writable by the guest.
    pub out_dir: PathBuf,
    /// Further host directories the guest may write to.
    pub rw_dirs: Vec<PathBuf>,
    /// Extra kernel command line arguments.
    pub append: Vec<String>,
    /// The guest command, as an argument vector.
    pub exec: Vec<String>,
    pub timeout: Duration,
    /// Echo kernel console lines too, not only the guest's own output.
    pub verbose: bool,
    /// Keep the guest's output in the log only (set when VMs run side by side).
    pub quiet: bool,
    /// Set from another thread to end the VM now (`cargo lab watch` reboots and stops this way).
    pub kill: Option<Arc<AtomicBool>>,
    /// QEMU's gdb stub on localhost:1234 and no KASLR (vng `--debug`), for `--gdb`.
    pub gdb: bool,
    /// vCPUs.
    pub cpus: u16,
}

/// How a boot ended.
pub struct BootResult {
    /// The exit status of vng (that of the guest command), if it exited by itself.
    pub status: Option<i32>,
    pub timed_out: bool,
    pub console_log: PathBuf,
    pub took: Duration,
}

/// Why `kernel` cannot boot under virtme-ng here, if it cannot. The guest sees the host's
/// filesystem over 9p (`--force-9p`: virtiofsd does not run on a plain host), so a kernel
/// without 9p would only panic for want of a root; Debian's cloud flavour is one.
pub fn cannot_boot(kernel: &Kernel) -> Option<String> {
    let config = fs::read_to_string(kernel.kbuild.join(".config")).ok()?;
    let has = |option: &str| {
        config
            .lines()
            .any(|l| l == format!("{option}=y") || l == format!("{option}=m"))
    };
    let missing: Vec<&str> = ["CONFIG_NET_9P", "CONFIG_NET_9P_VIRTIO", "CONFIG_9P_FS"]
        .into_iter()
        .filter(|o| !has(o))
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "kernel {} cannot boot under virtme-ng here: it has no 9p ({} not set), and 9p is how \
             the guest sees the host's filesystem (virtme-ng's other way, virtiofs, needs a \
             virtiofsd that works on the host). The module still builds for it: `cargo lab lint \
             --kernel {}`",
            kernel.name,
            missing.join(", "),
            kernel.name
        )
    })
}

fn vng() -> Result<PathBuf> {
    which("vng").context(
        "vng (virtme-ng) is not on PATH: run without --no-install, or `pip install virtme-ng`",
    )
}

impl Boot<'_> {
    fn command(&self, interactive: bool) -> Result<Command> {
        let mut cmd = Command::new(vng()?);
        cmd.current_dir(project::root());
        cmd.arg("--run").arg(&self.kernel.boot);
        if self.accel == Accel::Tcg {
            cmd.arg("--disable-kvm");
        }
        // The console at loglevel 5 carries warnings and worse (and panics) without the cost of
        // the whole boot log over an emulated serial port; dmesg keeps everything.
        // (An interactive session keeps vng's own console set-up: the terminal is the console.)
        if !interactive {
            // `quiet` and `edd=off` keep the boot stub's banners off the console too.
            cmd.args(["--verbose", "--append", "quiet loglevel=5 edd=off"]);
        }
        for arg in &self.append {
            cmd.arg("--append").arg(arg);
        }
        if self.gdb {
            cmd.arg("--debug");
        }
        // virtiofsd needs more than a plain host offers and vng falls back to 9p after a few
        // seconds of retries anyway: go straight to 9p.
        // KASAN keeps an eighth of memory as shadow, kmemleak and lockdep their own tables.
        let memory = if self.kernel.debug { "2G" } else { "1G" };
        let cpus = self.cpus.to_string();
        cmd.args(["--memory", memory, "--cpus", &cpus, "--force-9p"]);
        for dir in std::iter::once(&self.out_dir).chain(&self.rw_dirs) {
            cmd.arg(format!("--rwdir={}", dir.display()));
        }
        cmd.arg("--cwd").arg(project::root());
        if !interactive {
            cmd.arg("--exec").arg(shell_words::join(&self.exec));
        }
        Ok(cmd)
    }

    /// Boots, streams the guest's output, saves the whole console, enforces the timeout.
    pub fn run(&self) -> Result<BootResult> {
        fs::create_dir_all(&self.out_dir)?;
        let console_log = self.out_dir.join("console.log");
        let log = Arc::new(Mutex::new(
            File::create(&console_log)
                .with_context(|| format!("cannot create {}", console_log.display()))?,
        ));
        let start = Instant::now();
        let mut child = self
            .command(false)?
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .context("cannot start vng")?;
        let out = pump(
            child.stdout.take().expect("piped"),
            log.clone(),
            if self.quiet {
                Echo::Nowhere
            } else {
                Echo::Stdout
            },
        );
        let echo_err = if self.quiet {
            Echo::Nowhere
        } else if self.verbose {
            Echo::Stderr
        } else {
            Echo::StderrButKernel
        };
        let err = pump(child.stderr.take().expect("piped"), log.clone(), echo_err);

        let mut timed_out = false;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status.code();
            }
            let killed = self.kill.as_ref().is_some_and(|k| k.load(Ordering::SeqCst));
            if killed || start.elapsed() > self.timeout {
                timed_out = !killed;
                // vng runs qemu in the same process group: end them all.
                unsafe { libc::killpg(child.id() as i32, libc::SIGKILL) };
                child.wait()?;
                break None;
            }
            thread::sleep(Duration::from_millis(100));
        };
        out.join().ok();
        err.join().ok();
        Ok(BootResult {
            status,
            timed_out,
            console_log,
            took: start.elapsed(),
        })
    }

    /// Boots with the terminal attached (no timeout, no capture): for `cargo lab shell`.
    pub fn run_interactive(&self, shell: &Path) -> Result<i32> {
        let status = self
            .command(true)?
            .arg("--shell")
            .arg(shell)
            .status()
            .context("cannot start vng")?;
        Ok(status.code().unwrap_or(1))
    }
}

#[derive(Clone, Copy)]
enum Echo {
    /// Only into the log (several VMs at once: their outputs would interleave).
    Nowhere,
    Stdout,
    Stderr,
    StderrButKernel,
}

/// Copies a stream into the console log line by line, echoing as asked.
fn pump(
    stream: impl Read + Send + 'static,
    log: Arc<Mutex<File>>,
    echo: Echo,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
            if let Ok(mut log) = log.lock() {
                let _ = log.write_all(&line);
            }
            let text = String::from_utf8_lossy(&line);
            match echo {
                Echo::Nowhere => {}
                Echo::Stdout => {
                    let _ = std::io::stdout().write_all(&line);
                }
                Echo::StderrButKernel if is_kernel_line(&text) => {}
                Echo::Stderr | Echo::StderrButKernel => {
                    let _ = std::io::stderr().write_all(&line);
                }
            }
            line.clear();
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtualization_flags_are_found_only_in_flags_lines() {
        assert!(cpu_has_virtualization(
            "processor : 0\nflags : fpu vme vmx sse\n"
        ));
        assert!(cpu_has_virtualization("flags\t\t: fpu svm\n"));
        assert!(!cpu_has_virtualization(
            "flags : fpu vme sse hypervisor\nmodel name : vmx-like\n"
        ));
    }

    #[test]
    fn tcg_is_always_available() {
        let (accel, why) = choose_accel(AccelChoice::Tcg).unwrap();
        assert_eq!(accel, Accel::Tcg);
        assert!(why.contains("--accel tcg"));
    }
}
