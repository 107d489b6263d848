//! Who has the guest while a test runs: one test alone ([`exclusive`]), or several side by side
//! ([`concurrent`]), each in a network namespace of its own, and whose kernel-log lines are whose.
//!
//! The module's state (dump count, counters) is per network namespace, so tests that only send
//! requests can share the machine: each starts in a fresh namespace with the defaults. Tests that
//! load or unload a module, or wait for the module's reference count, take the machine to
//! themselves. The classic module's tests take turns among themselves beside the concurrent ones
//! ([`classic_module`]): its socket is in the initial namespace only, and only they read its lines.
//!
//! The module's per-request lines name the requester's port id. A client's port is its PID (the
//! kernel's autobind) or its PID plus a multiple of 2^22 (libnl), so a concurrent test keeps the
//! lines whose port belongs to a process it started or to a socket it opened itself. The one line
//! that names no port, `set dump count to N`, belongs to the one concurrent test allowed to make
//! it at a time ([`concurrent_portless`]); a test that makes it without saying so finds its line
//! in another test's snapshot, or missing from its own, and fails.

use std::cell::RefCell;
use std::fs::File;
use std::io::Read as _;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt as _;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::lab::lab;
use crate::module::{ensure_loaded, module_loaded};

/// Readers: the concurrent tests; the writer: one exclusive test.
static MACHINE: RwLock<()> = RwLock::new(());

/// Held by the one concurrent test whose lines may name no port.
static PORTLESS: Mutex<()> = Mutex::new(());

/// Held by the one test of the classic module.
static CLASSIC: Mutex<()> = Mutex::new(());

/// PIDs are below 2^22 (`PID_MAX_LIMIT`); libnl puts its per-process socket number above.
const PID_BITS: u32 = 0x3f_ffff;

thread_local! {
    /// The ports and PIDs of the concurrent test on this thread; `None` on an exclusive one.
    static OWNED: RefCell<Option<Owned>> = const { RefCell::new(None) };
}

#[derive(Debug, Default)]
struct Owned {
    pids: Vec<u32>,
    ports: Vec<u32>,
    /// Whether the lines that name no port are this test's.
    portless: bool,
}

/// The machine to this test alone: it may load and unload modules and see every kernel-log line.
pub fn exclusive() -> RwLockWriteGuard<'static, ()> {
    // A failed test poisons the lock; the next one must still run.
    let guard = MACHINE
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    lab();
    guard
}

/// The classic module (`nl_foobar_xmpl`) to this test alone, beside the concurrent tests of the
/// generic one: it may load and unload it, in the initial namespace, and sees all its lines.
#[derive(Debug)]
pub struct ClassicModule {
    _classic: MutexGuard<'static, ()>,
    _read: RwLockReadGuard<'static, ()>,
}

/// Takes the classic module's turn; see [`ClassicModule`].
pub fn classic_module() -> ClassicModule {
    lab();
    let read = MACHINE
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    ClassicModule {
        _classic: CLASSIC
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()),
        _read: read,
    }
}

/// A concurrent test's share of the machine: the module loaded (and staying loaded), this thread
/// in a new network namespace (the processes it starts inherit it), and the kernel log filtered
/// to this test's ports. Dropping it puts the thread back in its namespace.
#[derive(Debug)]
pub struct Concurrent {
    _portless: Option<MutexGuard<'static, ()>>,
    _read: RwLockReadGuard<'static, ()>,
    home: File,
}

/// Takes a share of the machine beside other concurrent tests; see [`Concurrent`].
pub fn concurrent() -> Concurrent {
    share(false)
}

/// [`concurrent`], for a test whose requests make the module log a line that names no port
/// (`set dump count to N`): one such test at a time, and those lines are its.
pub fn concurrent_portless() -> Concurrent {
    share(true)
}

fn share(portless: bool) -> Concurrent {
    lab();
    let read = loop {
        let read = MACHINE
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Only exclusive tests unload, so a module loaded now stays loaded until we drop `read`.
        if module_loaded() {
            break read;
        }
        drop(read);
        let _write = exclusive();
        ensure_loaded();
    };
    let portless = portless.then(|| PORTLESS.lock().unwrap_or_else(|p| p.into_inner()));
    let home = File::open("/proc/thread-self/ns/net")
        .unwrap_or_else(|e| panic!("open /proc/thread-self/ns/net: {e}"));
    new_namespace();
    OWNED.with(|owned| {
        *owned.borrow_mut() = Some(Owned {
            portless: portless.is_some(),
            ..Owned::default()
        })
    });
    Concurrent {
        _portless: portless,
        _read: read,
        home,
    }
}

/// Moves this thread (and the processes it starts from now on) to a new network namespace.
fn new_namespace() {
    // SAFETY: unshare affects only the calling thread's namespaces.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        panic!(
            "unshare(CLONE_NEWNET): {} (the guest kernel needs network namespaces)",
            std::io::Error::last_os_error()
        );
    }
}

/// The module's per-namespace state back at its defaults, as a fresh module has it: a concurrent
/// test moves to another new namespace; an exclusive one reloads the module.
pub fn fresh_state() {
    if is_concurrent() {
        new_namespace();
    } else {
        crate::module::fresh_module();
    }
}

impl Drop for Concurrent {
    fn drop(&mut self) {
        OWNED.with(|owned| *owned.borrow_mut() = None);
        // SAFETY: setns on a namespace descriptor we hold open.
        let back = unsafe { libc::setns(self.home.as_raw_fd(), libc::CLONE_NEWNET) };
        if back != 0 && !std::thread::panicking() {
            panic!(
                "setns back to the test thread's namespace: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

/// Whether this thread runs a concurrent test.
pub fn is_concurrent() -> bool {
    OWNED.with(|owned| owned.borrow().is_some())
}

/// Notes that this thread's test started process `pid` (its sockets' lines are the test's).
pub fn owns_process(pid: u32) {
    OWNED.with(|owned| {
        if let Some(owned) = owned.borrow_mut().as_mut() {
            owned.pids.push(pid);
        }
    });
}

/// A process of a concurrent test that tells the test its PID, through a pipe, from between
/// fork and exec (the process may be gone before anyone could ask).
#[derive(Debug)]
pub struct PidPipe {
    read: OwnedFd,
    write: OwnedFd,
}

/// In a concurrent test, makes `command`'s process tell its PID; `None` in an exclusive one.
pub fn tell_pid(command: &mut Command) -> Option<PidPipe> {
    if !is_concurrent() {
        return None;
    }
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors that we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        panic!("pipe2: {}", std::io::Error::last_os_error());
    }
    // SAFETY: just created, owned by nothing else.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let fd = write.as_raw_fd();
    // SAFETY: getpid and write are async-signal-safe; the pipe is open until the spawn is over.
    unsafe {
        command.pre_exec(move || {
            let pid = libc::getpid();
            libc::write(fd, (&pid as *const libc::pid_t).cast(), 4);
            Ok(())
        });
    }
    Some(PidPipe { read, write })
}

impl PidPipe {
    /// After the command ran: records its PID as this test's ([`owns_process`]).
    pub fn claim(self) {
        drop(self.write);
        let mut pid = [0u8; 4];
        let mut pipe = File::from(self.read);
        if pipe.read_exact(&mut pid).is_ok() {
            owns_process(i32::from_ne_bytes(pid) as u32);
        }
    }
}

/// The port id a socket of this thread's test binds to: 0 (the kernel picks) for an exclusive
/// test; for a concurrent one a port no other test's socket has, in any namespace (the kernel's
/// pick, the process's PID, would be the same in every test's namespace).
pub fn next_port() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    OWNED.with(|owned| {
        let mut owned = owned.borrow_mut();
        let Some(owned) = owned.as_mut() else {
            return 0;
        };
        // The suite's PID plus a socket number above the PID bits, as libnl does.
        let n = NEXT.fetch_add(1, Ordering::Relaxed) % 1023 + 1;
        let port = std::process::id() + (n << 22);
        owned.ports.push(port);
        port
    })
}

/// Whether a line of the module's log belongs to this thread's test. Every line belongs to an
/// exclusive test; a concurrent test's line names one of its ports, or no port if the test took
/// [`concurrent_portless`].
pub fn owns_line(line: &str) -> bool {
    OWNED.with(|owned| {
        let owned = owned.borrow();
        let Some(owned) = owned.as_ref() else {
            return true;
        };
        let Some(port) = port_of(line) else {
            return owned.portless;
        };
        owned.ports.contains(&port) || owned.pids.contains(&(port & PID_BITS))
    })
}

/// The port id a module line names (`portid N`, or `port N` in the classic module's lines).
fn port_of(line: &str) -> Option<u32> {
    let mut words = line.split_whitespace();
    while let Some(word) = words.next() {
        if word == "portid" || word == "port" {
            return words.next()?.trim_end_matches([',', ':']).parse().ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_is_read_off_the_modules_lines() {
        assert_eq!(
            port_of("gnl_foobar_xmpl: echo from portid 4242: \"hi\""),
            Some(4242)
        );
        assert_eq!(
            port_of("gnl_foobar_xmpl: dump of 3 messages to portid 3221225713 done"),
            Some(3_221_225_713)
        );
        assert_eq!(
            port_of("nl_foobar_xmpl: echo to port 77 seq 1: hi"),
            Some(77)
        );
        assert_eq!(port_of("gnl_foobar_xmpl: set dump count to 5"), None);
    }

    #[test]
    fn an_exclusive_test_owns_every_line() {
        assert!(owns_line("gnl_foobar_xmpl: set dump count to 5"));
        assert_eq!(next_port(), 0);
    }

    #[test]
    fn a_concurrent_test_owns_its_processes_and_sockets_lines() {
        OWNED.with(|owned| *owned.borrow_mut() = Some(Owned::default()));
        owns_process(4242);
        let mine = next_port();
        assert_eq!(mine & PID_BITS, std::process::id() & PID_BITS);
        assert!(owns_line("gnl_foobar_xmpl: echo from portid 4242: \"hi\""));
        // libnl's port for process 4242.
        assert!(owns_line(&format!(
            "gnl_foobar_xmpl: echo from portid {}: \"hi\"",
            4242 + (5 << 22)
        )));
        assert!(owns_line(&format!(
            "gnl_foobar_xmpl: stats to portid {mine}"
        )));
        assert!(!owns_line("gnl_foobar_xmpl: echo from portid 4243: \"hi\""));
        assert!(!owns_line("gnl_foobar_xmpl: set dump count to 5"));
        OWNED.with(|owned| owned.borrow_mut().as_mut().unwrap().portless = true);
        assert!(owns_line("gnl_foobar_xmpl: set dump count to 5"));
        OWNED.with(|owned| *owned.borrow_mut() = None);
    }
}
