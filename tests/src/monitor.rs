//! A client's `monitor` in the background: started once it listens, its lines read as they come.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::lab::lab;
use crate::run::Outcome;

/// A client's `monitor` running in the background, its output read line by line.
#[derive(Debug)]
pub struct Monitor {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    stdout: String,
    stderr: std::thread::JoinHandle<String>,
}

impl Monitor {
    /// Starts `client monitor ARGS...` and waits until it says it listens (it has subscribed).
    pub fn start(client: &str, args: &[&str]) -> Monitor {
        use std::io::{BufRead, BufReader, Read};
        use std::process::Stdio;
        let mut child = Command::new(lab().client(client))
            .arg("monitor")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {client} monitor: {e}"));
        crate::turn::owns_process(child.id());
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).split(b'\n') {
                let Ok(line) = line else { break };
                if tx
                    .send(String::from_utf8_lossy(&line).into_owned())
                    .is_err()
                {
                    break;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = stderr.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        });
        let mut monitor = Monitor {
            child,
            lines: rx,
            stdout: String::new(),
            stderr,
        };
        let first = monitor.next_line(Duration::from_secs(30));
        assert_eq!(
            first.as_deref(),
            Some("listening on gnl_foobar_xmpl/events"),
            "{client} monitor did not say it listens (INTERFACE.md)"
        );
        monitor
    }

    /// The next line of standard output, if one comes within `timeout`.
    pub fn next_line(&mut self, timeout: Duration) -> Option<String> {
        let line = self.lines.recv_timeout(timeout).ok()?;
        self.stdout.push_str(&line);
        self.stdout.push('\n');
        Some(line)
    }

    /// Waits for the monitor to exit by itself (up to `timeout`; then kills it and panics).
    pub fn wait(mut self, timeout: Duration) -> Outcome {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("waitpid") {
                return self.collect(status);
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let status = self.child.wait().expect("waitpid");
                let outcome = self.collect(status);
                panic!("monitor did not exit within {timeout:?}: {outcome:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Ends the monitor with SIGTERM, as a user would, and returns what it printed.
    pub fn terminate(mut self) -> Outcome {
        // SAFETY: kill on our own child's PID, which has not been reaped yet.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let status = self.child.wait().expect("waitpid");
        self.collect(status)
    }

    fn collect(mut self, status: std::process::ExitStatus) -> Outcome {
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.stdout.push_str(&line);
            self.stdout.push('\n');
        }
        Outcome {
            code: status.code(),
            stdout: self.stdout,
            stderr: self.stderr.join().unwrap(),
        }
    }
}
