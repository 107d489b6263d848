//! Running commands and clients: what they did ([`Outcome`]), rendered as snapshot sections,
//! with the suite's timeout, as root, as `nobody` or in a new network namespace.

use std::fmt::Write as _;
use std::process::{Command, Output};
use std::time::Duration;

use crate::lab::lab;
use crate::turn;

/// How long one client run may take before it counts as hung (TCG guests are slow).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);

/// What a command did: its exit code, standard output and standard error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Exit code, or `None` when a signal ended it.
    pub code: Option<i32>,
    /// Standard output, as text.
    pub stdout: String,
    /// Standard error, as text.
    pub stderr: String,
}

impl From<Output> for Outcome {
    fn from(output: Output) -> Self {
        Outcome {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Outcome {
    /// The outcome as a snapshot section: exit code, then each stream (indented, so empty lines
    /// and a missing final newline stay visible).
    pub fn render(&self) -> String {
        let mut out = String::new();
        match self.code {
            Some(code) => writeln!(out, "exit: {code}").unwrap(),
            None => writeln!(out, "exit: killed by a signal").unwrap(),
        }
        section(&mut out, "stdout", &self.stdout);
        section(&mut out, "stderr", &self.stderr);
        out
    }
}

/// Appends `name:` and the text's lines indented by two spaces; marks a missing final newline.
pub fn section(out: &mut String, name: &str, text: &str) {
    writeln!(out, "{name}:").unwrap();
    for line in text.lines() {
        writeln!(out, "  {line}").unwrap();
    }
    if !text.is_empty() && !text.ends_with('\n') {
        writeln!(out, "  [no newline at end]").unwrap();
    }
}

/// Runs a command with the suite's timeout; panics if it hangs.
pub fn run_command(command: Command) -> Outcome {
    run_command_with_stdin(command, None)
}

/// Runs a command (fed `stdin` if given) with the suite's timeout; panics if it hangs.
pub fn run_command_with_stdin(mut command: Command, stdin: Option<&[u8]>) -> Outcome {
    let shown = format!("{command:?}");
    let pid = turn::tell_pid(&mut command);
    let mut command = assert_cmd::Command::from_std(command);
    command.timeout(CLIENT_TIMEOUT);
    if let Some(stdin) = stdin {
        command.write_stdin(stdin.to_vec());
    }
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    if let Some(pid) = pid {
        pid.claim();
    }
    if let Some(signal) = std::os::unix::process::ExitStatusExt::signal(&output.status) {
        // The timeout ends a hung command with SIGKILL; any other signal is the command's own.
        let why = if signal == libc::SIGKILL {
            format!("killed: it hung for {CLIENT_TIMEOUT:?}")
        } else {
            format!("ended by signal {signal} (a crash: see the kernel log)")
        };
        panic!("{shown} was {why}: {:?}", Outcome::from(output));
    }
    Outcome::from(output)
}

/// Who runs a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum User {
    /// root, with every capability.
    Root,
    /// `nobody` (uid and gid 65534, no supplementary groups), through `setpriv`.
    Nobody,
    /// root in a new, empty network namespace, through `unshare --net`.
    RootInNewNetns,
}

/// Runs one client with `args`, as `user`.
pub fn run_client(client: &str, args: &[&str], user: User) -> Outcome {
    let path = lab().client(client);
    let command = match user {
        User::Root => {
            let mut command = Command::new(&path);
            command.args(args);
            command
        }
        User::Nobody => {
            let mut command = Command::new("setpriv");
            command
                .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
                .arg(&path)
                .args(args);
            command
        }
        User::RootInNewNetns => {
            let mut command = Command::new("unshare");
            command.args(["--net", "--"]).arg(&path).args(args);
            command
        }
    };
    run_command(command)
}
