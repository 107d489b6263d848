//! Harness of the genl-lab integration suite: the lab's environment, loading and unloading the
//! module, running the three clients, capturing the module's kernel-log lines, insta filters.
//!
//! The suite runs inside the guest VM as root (`cargo lab test`); every scenario takes the
//! [`serial`] lock first, because the module and the kernel log are shared by the whole guest.

pub mod classic;
pub mod genl;
pub mod kmsg;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

pub use kmsg::KernelLog;

/// Name of the module, of its generic netlink family and of its `pr_fmt` prefix.
pub const MODULE: &str = "gnl_foobar_xmpl";

/// The clients that must behave identically; their names in `GENL_LAB_BIN_DIR`.
pub const CLIENTS: [&str; 3] = ["gnl-rust", "gnl-raw", "gnl-libnl"];

/// How long one client run may take before it counts as hung (TCG guests are slow).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);

/// The environment the lab runner gives the suite inside the guest.
#[derive(Debug)]
pub struct Lab {
    /// `GENL_LAB_BIN_DIR`: the clients.
    pub bin_dir: PathBuf,
    /// `GENL_LAB_KMOD_DIR`: the modules, built for the running kernel.
    pub kmod_dir: PathBuf,
    /// `GENL_LAB_KERNEL`: the kernel's name (`5.10`, `6.1`, ...), for per-kernel snapshots.
    pub kernel: String,
}

impl Lab {
    /// Path of the generic netlink module.
    pub fn module_path(&self) -> PathBuf {
        self.kmod_dir.join(format!("{MODULE}.ko"))
    }

    /// Path of one client.
    pub fn client(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }
}

/// Whether the running kernel is at least `major.minor` (from `uname -r`).
pub fn kernel_at_least(major: u32, minor: u32) -> bool {
    let release =
        std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("read the kernel release");
    let mut numbers = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u32>().unwrap_or(0));
    let running = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
    running >= (major, minor)
}

fn required_env(name: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => value,
        _ => panic!(
            "{name} is not set: this suite runs inside the lab's guest VM as root, \
             start it with `cargo lab test` (see README.md)"
        ),
    }
}

/// The lab's environment; panics (never skips) when the suite is not run by the lab.
pub fn lab() -> &'static Lab {
    static LAB: OnceLock<Lab> = OnceLock::new();
    LAB.get_or_init(|| {
        let lab = Lab {
            bin_dir: required_env("GENL_LAB_BIN_DIR").into(),
            kmod_dir: required_env("GENL_LAB_KMOD_DIR").into(),
            kernel: required_env("GENL_LAB_KERNEL"),
        };
        // SAFETY: geteuid has no preconditions.
        let euid = unsafe { libc::geteuid() };
        assert_eq!(
            euid, 0,
            "the suite must run as root inside the lab's guest (`cargo lab test`)"
        );
        for client in CLIENTS {
            let path = lab.client(client);
            assert!(
                path.is_file(),
                "client {} is missing: the lab must build it",
                path.display()
            );
        }
        let module = lab.module_path();
        assert!(
            module.is_file(),
            "module {} is missing: the lab must build it",
            module.display()
        );
        lab
    })
}

/// Takes the suite-wide lock: scenarios never interleave, even when libtest runs threads.
///
/// Also checks the lab's environment, and points insta at the workspace when the lab did not
/// (the guest may have no `cargo` for insta to ask).
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    // A failed test poisons the lock; the next one must still run.
    let guard = LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    lab();
    static INSTA_ROOT: OnceLock<()> = OnceLock::new();
    INSTA_ROOT.get_or_init(|| {
        if std::env::var_os("INSTA_WORKSPACE_ROOT").is_none() {
            let root = Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .expect("tests/ has a parent");
            std::env::set_var("INSTA_WORKSPACE_ROOT", root);
        }
    });
    guard
}

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

fn run_command(command: Command) -> Outcome {
    run_command_with_stdin(command, None)
}

/// Runs a command (fed `stdin` if given) with the suite's timeout; panics if it hangs.
pub fn run_command_with_stdin(command: Command, stdin: Option<&[u8]>) -> Outcome {
    let shown = format!("{command:?}");
    let mut command = assert_cmd::Command::from_std(command);
    command.timeout(CLIENT_TIMEOUT);
    if let Some(stdin) = stdin {
        command.write_stdin(stdin.to_vec());
    }
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    let outcome = Outcome::from(output);
    assert!(
        outcome.code.is_some(),
        "{shown} was killed (hung for {CLIENT_TIMEOUT:?}?): {outcome:?}"
    );
    outcome
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

/// The insta filters of the suite: kernel-assigned numbers that change from run to run.
///
/// Also used by [`normalize`] to compare the three clients' kernel-log lines.
pub fn filters() -> Vec<(&'static str, &'static str)> {
    vec![
        // Netlink port IDs: the first socket of a process gets its PID, the next ones random
        // negative numbers; the module logs them in decimal.
        (r"\bportid[ =:]+-?\d+", "portid [PORTID]"),
        (r"\bport[ =:]+-?\d+", "port [PORTID]"),
        (r"\bpid[ =:]+\d+", "pid [PID]"),
        // Generic netlink family and multicast group IDs are allocated at registration.
        (r"\bfamily id[ =:]+\d+", "family id [FAMILY_ID]"),
        (r"\bgroup id[ =:]+\d+", "group id [GROUP_ID]"),
        (r"\bfamily[ =:]+0x[0-9a-f]+", "family [FAMILY_ID]"),
        // Kernel-log and client timestamps.
        (r"\b\d+\.\d{6}\b", "[TIMESTAMP]"),
    ]
}

/// Applies [`filters`] to `text`.
pub fn normalize(text: &str) -> String {
    static COMPILED: OnceLock<Vec<(regex::Regex, &'static str)>> = OnceLock::new();
    let compiled = COMPILED.get_or_init(|| {
        filters()
            .into_iter()
            .map(|(pattern, replacement)| (regex::Regex::new(pattern).unwrap(), replacement))
            .collect()
    });
    let mut text = text.to_owned();
    for (regex, replacement) in compiled {
        text = regex.replace_all(&text, *replacement).into_owned();
    }
    text
}

/// insta settings for every snapshot of the suite: the [`filters`], and the lab's paths.
pub fn insta_settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    for (pattern, replacement) in filters() {
        settings.add_filter(pattern, replacement);
    }
    let lab = lab();
    settings.add_filter(
        &regex::escape(&lab.kmod_dir.to_string_lossy()),
        "[KMOD_DIR]",
    );
    settings.add_filter(&regex::escape(&lab.bin_dir.to_string_lossy()), "[BIN_DIR]");
    settings
}

/// The suite's settings with the snapshot named for a kernel behaviour, `<test>@<suffix>`, where
/// a kernel really differs (the snapshot then says why by its name), e.g. `before-6.0`.
pub fn behaviour_settings(suffix: Option<&str>) -> insta::Settings {
    let mut settings = insta_settings();
    if let Some(suffix) = suffix {
        settings.set_snapshot_suffix(suffix);
    }
    settings
}

/// Snapshots `$doc` with the suite's [`insta_settings`], named after the calling test.
#[macro_export]
macro_rules! snapshot {
    ($doc:expr) => {
        $crate::insta_settings().bind(|| ::insta::assert_snapshot!($doc))
    };
}

/// Like [`snapshot!`], with the snapshot named for a kernel behaviour (see
/// [`behaviour_settings`]).
#[macro_export]
macro_rules! snapshot_for {
    ($suffix:expr, $doc:expr) => {
        $crate::behaviour_settings($suffix).bind(|| ::insta::assert_snapshot!($doc))
    };
}

/// Runs `args` with every client as `user`, with the kernel log captured around each run.
///
/// Asserts that the three clients agree (exit code, standard output, standard error and, after
/// [`normalize`], the module's kernel-log lines), and returns the scenario as one snapshot
/// document: the command, the shared outcome, the module's lines for one run.
pub fn scenario(args: &[&str], user: User) -> String {
    scenario_with(args, user, || {})
}

/// [`scenario`], with `before_each` run before each client (outside the kernel-log window).
pub fn scenario_with(args: &[&str], user: User, mut before_each: impl FnMut()) -> String {
    let mut runs = Vec::new();
    for client in CLIENTS {
        before_each();
        let mut log = KernelLog::mark();
        let outcome = run_client(client, args, user);
        let lines = log.module_lines();
        runs.push((client, outcome, lines));
    }
    let (first, first_outcome, first_lines) = &runs[0];
    for (client, outcome, lines) in &runs[1..] {
        assert_eq!(
            outcome,
            first_outcome,
            "{client} and {first} disagree on `{}` (INTERFACE.md: byte-identical output)",
            args.join(" ")
        );
        assert_eq!(
            normalize(&lines.join("\n")),
            normalize(&first_lines.join("\n")),
            "the module logged different lines for {client} and {first} on `{}`",
            args.join(" ")
        );
    }
    let mut doc = String::new();
    let who = match user {
        User::Root => "",
        User::Nobody => "(as nobody) ",
        User::RootInNewNetns => "(in a new network namespace) ",
    };
    writeln!(doc, "{who}$ CLIENT {}", shell_words(args)).unwrap();
    doc.push_str(&first_outcome.render());
    section(&mut doc, "kernel log", &lines_text(first_lines));
    doc
}

/// `args` as a shell would need them typed (single quotes where needed), for snapshot headers.
pub fn shell_words(args: &[&str]) -> String {
    let quote = |arg: &&str| {
        let plain = !arg.is_empty()
            && arg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_./:=,+".contains(&b));
        if plain {
            arg.to_string()
        } else {
            format!("'{}'", arg.replace('\'', r"'\''"))
        }
    };
    args.iter().map(quote).collect::<Vec<_>>().join(" ")
}

/// Runs `args` with every client as root; see [`scenario`].
pub fn clients(args: &[&str]) -> String {
    scenario(args, User::Root)
}

/// Joins kernel-log lines into a text (each line ending with a newline).
pub fn lines_text(lines: &[String]) -> String {
    lines.iter().map(|line| format!("{line}\n")).collect()
}

/// Runs `args` with every client and asserts they agree on the exit code alone; returns it.
///
/// For bad arguments, where INTERFACE.md lets the wording differ per client.
pub fn exit_code_of_all(args: &[&str]) -> (i32, Vec<(&'static str, Outcome)>) {
    let outcomes: Vec<_> = CLIENTS
        .iter()
        .map(|c| (*c, run_client(c, args, User::Root)))
        .collect();
    let code = outcomes[0].1.code.unwrap();
    for (client, outcome) in &outcomes {
        assert_eq!(
            outcome.code,
            Some(code),
            "{client} `{}`: {outcome:?}",
            args.join(" ")
        );
    }
    (code, outcomes)
}

// ---------------------------------------------------------------------------------------------
// The module

/// Whether the module is loaded (its `/sys/module` directory exists).
pub fn module_loaded() -> bool {
    Path::new("/sys/module").join(MODULE).exists()
}

/// The module's reference count, `None` when it is not loaded.
pub fn module_refcnt() -> Option<u32> {
    let text =
        std::fs::read_to_string(Path::new("/sys/module").join(MODULE).join("refcnt")).ok()?;
    text.trim().parse().ok()
}

/// Runs `insmod` on the module with `dyndbg=+p` (its per-operation lines are `pr_debug`).
pub fn insmod() -> Outcome {
    let mut command = Command::new("insmod");
    command.arg(lab().module_path()).arg("dyndbg=+p");
    run_command(command)
}

/// Runs `rmmod` on the module once its reference count has dropped to 0 (sockets closing release
/// their dump's reference asynchronously, after an RCU grace period).
pub fn rmmod() -> Outcome {
    wait_for_refcnt_zero();
    let mut command = Command::new("rmmod");
    command.arg(MODULE);
    run_command(command)
}

/// Waits up to 10 s for the module's reference count to reach 0; panics if it does not.
pub fn wait_for_refcnt_zero() {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match module_refcnt() {
            None | Some(0) => return,
            Some(n) if Instant::now() >= deadline => {
                panic!("{MODULE} still has {n} references 10 s after its users went away (a leak)")
            }
            Some(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Loads the module; panics with insmod's output if that fails.
pub fn load() {
    let outcome = insmod();
    assert_eq!(outcome.code, Some(0), "insmod {MODULE} failed: {outcome:?}");
    assert!(
        module_loaded(),
        "insmod succeeded but /sys/module/{MODULE} is missing"
    );
}

/// Unloads the module; panics with rmmod's output if that fails.
pub fn unload() {
    let outcome = rmmod();
    assert_eq!(outcome.code, Some(0), "rmmod {MODULE} failed: {outcome:?}");
    assert!(
        !module_loaded(),
        "rmmod succeeded but /sys/module/{MODULE} is still there"
    );
}

/// Loads the module unless it is loaded (with whatever state earlier tests left).
pub fn ensure_loaded() {
    if !module_loaded() {
        load();
    }
}

/// Unloads the module if it is loaded.
pub fn ensure_unloaded() {
    if module_loaded() {
        unload();
    }
}

/// Loads a fresh copy of the module: counters and the default dump count at their initial values.
pub fn fresh_module() {
    ensure_unloaded();
    load();
}

// ---------------------------------------------------------------------------------------------
// Crafted requests

/// Sends one crafted request to the module's family on a fresh socket and returns a snapshot
/// document: what was sent (`what`), the kernel's answer, and the module's kernel-log lines.
pub fn crafted(what: &str, flags: u16, cmd: u8, attrs: &[genl::Attr]) -> String {
    let mut socket = genl::GenlSocket::open().expect("open a generic netlink socket");
    let family = socket.module_family();
    let mut log = KernelLog::mark();
    let answer = socket
        .request(family.id, flags, cmd, attrs)
        .expect("crafted request");
    let lines = log.module_lines();
    let mut doc = String::new();
    writeln!(doc, "request: {what}").unwrap();
    section(&mut doc, "answer", &genl::render(&answer));
    section(&mut doc, "kernel log", &lines_text(&lines));
    doc
}

// ---------------------------------------------------------------------------------------------
// Monitors

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
