//! Loading and unloading the lab's modules: the one way the runner's guest side, the suite and
//! the fuzzer do it. `insmod`/`rmmod` as commands for those who show their output, the bare
//! system calls for the fuzzer's quick cycles.

use std::ffi::CString;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

/// Whether a module's per-operation `pr_debug` lines are turned on when it is loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Debug {
    /// `dyndbg=+p`: the lines the suite snapshots.
    On,
    /// No parameter: what the bench measures and the fuzzer cycles (the log keeps its start).
    Off,
}

/// The module file of `module` in `kmod_dir`.
pub fn ko(kmod_dir: &Path, module: &str) -> PathBuf {
    kmod_dir.join(format!("{module}.ko"))
}

/// `insmod KO [dyndbg=+p]`, to run as the caller likes.
pub fn insmod(ko: &Path, debug: Debug) -> Command {
    let mut command = Command::new("insmod");
    command.arg(ko);
    if debug == Debug::On {
        command.arg("dyndbg=+p");
    }
    command
}

/// `rmmod MODULE`, to run as the caller likes.
pub fn rmmod(module: &str) -> Command {
    let mut command = Command::new("rmmod");
    command.arg(module);
    command
}

/// Whether `module` is loaded (listed in `/proc/modules`).
pub fn loaded(module: &str) -> bool {
    std::fs::read_to_string("/proc/modules")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(' ').next() == Some(module))
}

/// The module's reference count, `None` when it is not loaded.
pub fn refcnt(module: &str) -> Option<u32> {
    let path = Path::new("/sys/module").join(module).join("refcnt");
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Waits up to `patience` for the module's reference count to reach 0 (sockets that close
/// release a dump's reference after an RCU grace period); `Err` with the count left.
pub fn wait_unused(module: &str, patience: Duration) -> Result<(), u32> {
    let deadline = Instant::now() + patience;
    loop {
        match refcnt(module) {
            None | Some(0) => return Ok(()),
            Some(n) if Instant::now() >= deadline => return Err(n),
            Some(_) => thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// `finit_module(2)` without parameters: what `insmod` does, without a process to start.
pub fn finit(ko: &Path) -> io::Result<()> {
    let file = std::fs::File::open(ko)?;
    // SAFETY: a valid descriptor and a NUL-terminated (empty) parameter string.
    let ret = unsafe { libc::syscall(libc::SYS_finit_module, file.as_raw_fd(), c"".as_ptr(), 0) };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// One `delete_module(2)` that does not wait: `Ok(false)` while the module is in use (a running
/// dump holds a reference).
pub fn try_delete(module: &str) -> io::Result<bool> {
    let name = CString::new(module).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: a NUL-terminated name.
    let ret = unsafe { libc::syscall(libc::SYS_delete_module, name.as_ptr(), libc::O_NONBLOCK) };
    if ret == 0 {
        return Ok(true);
    }
    match io::Error::last_os_error() {
        e if e.raw_os_error() == Some(libc::EWOULDBLOCK) => Ok(false),
        e => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insmod_turns_debug_on_only_when_asked() {
        let args = |c: &Command| c.get_args().map(|a| a.to_owned()).collect::<Vec<_>>();
        let on = insmod(Path::new("/k/m.ko"), Debug::On);
        assert_eq!(on.get_program(), "insmod");
        assert_eq!(args(&on), ["/k/m.ko", "dyndbg=+p"]);
        assert_eq!(args(&insmod(Path::new("/k/m.ko"), Debug::Off)), ["/k/m.ko"]);
        assert_eq!(args(&rmmod("m")), ["m"]);
        assert_eq!(ko(Path::new("/k"), "m"), Path::new("/k/m.ko"));
    }

    #[test]
    fn a_module_that_is_not_there_is_not_loaded() {
        assert!(!loaded("no_such_module_here"));
        assert_eq!(refcnt("no_such_module_here"), None);
        assert_eq!(wait_unused("no_such_module_here", Duration::ZERO), Ok(()));
    }
}
