//! The kernel's YNL CLI for the suite, through one long-lived `ynl-server` (`ynl_server.py`
//! beside this file) per suite run: Python starts, the YNL library is imported and each spec is
//! parsed once, not once per call. Each call still runs `ynl ARGS` in a process of its own (the
//! server forks it), in the calling test's network namespace, and gives what `ynl ARGS` gives.

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, MutexGuard};

use serde_json::{json, Value};

use crate::lab::lab;
use crate::run::Outcome;
use crate::turn;

/// The server, started by the first call; the calls take turns on it.
static SERVER: Mutex<Option<Server>> = Mutex::new(None);

struct Server {
    child: Child,
    requests: ChildStdin,
    answers: BufReader<ChildStdout>,
}

impl Server {
    fn start() -> Server {
        let path = lab().client("ynl-server");
        let mut child = Command::new(&path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", path.display()));
        Server {
            requests: child.stdin.take().expect("piped"),
            answers: BufReader::new(child.stdout.take().expect("piped")),
            child,
        }
    }

    fn answer(&mut self) -> Value {
        let mut line = String::new();
        match self.answers.read_line(&mut line) {
            Ok(n) if n > 0 => serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("ynl-server answered {line:?}: {e}")),
            _ => panic!("ynl-server ended (its error is in the suite's standard error)"),
        }
    }
}

/// A `ynl` call that has started: its PID (its sockets' port id), and its outcome to wait for.
pub struct Running {
    server: MutexGuard<'static, Option<Server>>,
    /// The process running `ynl ARGS`.
    pub pid: u32,
    done: bool,
}

impl Running {
    /// Waits for the call to end.
    pub fn wait(mut self) -> Outcome {
        let answer = self.server.as_mut().expect("started").answer();
        self.done = true;
        let text = |key: &str| answer[key].as_str().unwrap_or_default().to_owned();
        Outcome {
            code: answer["code"]
                .as_i64()
                .and_then(|c| i32::try_from(c).ok())
                .filter(|c| *c >= 0),
            stdout: text("stdout"),
            stderr: text("stderr"),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Left unanswered (a test failed meanwhile): the next call gets a server of its own.
        if !self.done {
            if let Some(mut server) = self.server.take() {
                let _ = server.child.kill();
                let _ = server.child.wait();
            }
        }
    }
}

/// How a call runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// As root without CAP_NET_ADMIN (`setpriv --bounding-set=-net_admin`).
    pub unprivileged: bool,
    /// With `--subscribe` and `--sleep S`: stop sleeping once this many notifications came.
    pub events: Option<u32>,
}

/// Starts `ynl ARGS` (the family's spec unless ARGS name a `--spec`) in this thread's network
/// namespace.
pub fn start(args: &[&str], options: Options) -> Running {
    let mut server = SERVER.lock().unwrap_or_else(|p| p.into_inner());
    let server_ref = server.get_or_insert_with(Server::start);
    // SAFETY: getpid and gettid have no preconditions.
    let (pid, tid) = unsafe { (libc::getpid(), libc::gettid()) };
    let mut request = json!({
        "args": args,
        "netns": format!("/proc/{pid}/task/{tid}/ns/net"),
        "unprivileged": options.unprivileged,
    });
    if let Some(events) = options.events {
        request["events"] = events.into();
    }
    writeln!(server_ref.requests, "{request}").expect("write to ynl-server");
    let pid = server_ref.answer()["pid"]
        .as_u64()
        .and_then(|p| u32::try_from(p).ok())
        .expect("ynl-server answers with the call's pid");
    turn::owns_process(pid);
    Running {
        server,
        pid,
        done: false,
    }
}

/// Runs `ynl ARGS` and waits for it.
pub fn run(args: &[&str], options: Options) -> Outcome {
    start(args, options).wait()
}
