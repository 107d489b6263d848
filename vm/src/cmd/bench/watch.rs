//! `cargo lab bench --lab`, the inner loop: runs `cargo lab watch` as a user would, saves a change
//! to the module, and times it from the save to the verdict, for one filtered test and for the
//! whole suite.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::kernel::Kernel;
use crate::project;

/// The filtered round's one test, as the target names it: a message echoed by each client, so the
/// round goes through the module's doit.
pub const FILTER: &str = "echo::echo_message";

/// What one `cargo lab watch` round after a change measured, in seconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Round {
    /// From the save to the verdict, as watch prints it.
    pub to_verdict: f64,
    /// Of that, the suite in the guest.
    pub suite: f64,
}

/// The inner loop's figures for one kernel.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct WatchFigures {
    /// `cargo lab watch -- FILTER`: a change to the module, then the one filtered test.
    pub filtered: Round,
    /// `cargo lab watch`: a change to the module, then the whole suite.
    pub whole: Round,
}

/// Runs watch twice (filtered, then the whole suite) on `kernel`, each time from boot to the
/// first verdict, then one change to `kmod/` to the next verdict, then Ctrl-C.
pub fn figures(kernel: &Kernel, accel: &str, timeout: Duration) -> Result<WatchFigures> {
    Ok(WatchFigures {
        filtered: one_change(kernel, accel, Some(FILTER), timeout)?,
        whole: one_change(kernel, accel, None, timeout)?,
    })
}

fn one_change(
    kernel: &Kernel,
    accel: &str,
    filter: Option<&str>,
    timeout: Duration,
) -> Result<Round> {
    let what = filter.map_or("the whole suite".to_owned(), |f| format!("`-- {f}`"));
    eprintln!(
        "==> [{}] bench: cargo lab watch, {what}: boot, then one change to kmod/",
        kernel.name
    );
    let exe = std::env::current_exe().context("cannot find the lab's own binary")?;
    let mut cmd = Command::new(exe);
    cmd.args(["watch", "--kernel", &kernel.name, "--accel", accel])
        .current_dir(project::root())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(filter) = filter {
        cmd.args(["--", filter]);
    }
    let mut child = cmd.spawn().context("cannot start cargo lab watch")?;
    let lines = forward_lines(&mut child, &kernel.name);
    let result = (|| {
        let booted = wait_for_verdict(&lines, "boot to verdict", timeout)?;
        eprintln!(
            "==> [{}] bench: first verdict {booted:.1} s after the boot began; saving kmod/",
            kernel.name
        );
        touch(&project::root().join("kmod").join("gnl_foobar_xmpl.c"))?;
        let started = Instant::now();
        let line = wait_for_line(&lines, "change to verdict", timeout)?;
        // From the save, as the user waits: watch's own figure starts once the writes settled.
        let to_verdict = started.elapsed().as_secs_f64();
        let (_, suite) = parse_round(&line)
            .with_context(|| format!("cannot read the round's times from `{line}`"))?;
        Ok(Round { to_verdict, suite })
    })();
    interrupt(&mut child);
    result
}

/// A thread that echoes the child's standard error (indented) and passes each line on.
fn forward_lines(child: &mut Child, kernel: &str) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().expect("stderr is piped");
    let kernel = kernel.to_owned();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("    [{kernel} watch] {line}");
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn wait_for_verdict(lines: &Receiver<String>, what: &str, timeout: Duration) -> Result<f64> {
    let line = wait_for_line(lines, what, timeout)?;
    parse_round(&line)
        .map(|(total, _)| total)
        .with_context(|| format!("cannot read the time from `{line}`"))
}

/// The first line that contains `what`; an error if watch ends, fails a round or takes too long.
fn wait_for_line(lines: &Receiver<String>, what: &str, timeout: Duration) -> Result<String> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(what) => return Ok(line),
            Ok(line) if line.contains(" (exit ") && !line.contains("PASSED") => {
                bail!("cargo lab watch gave another verdict than passed: {line}")
            }
            Ok(_) => {}
            Err(RecvTimeoutError::Timeout) => {
                bail!(
                    "cargo lab watch printed no `{what}` within {} s",
                    timeout.as_secs()
                )
            }
            Err(RecvTimeoutError::Disconnected) => {
                bail!("cargo lab watch ended before `{what}` (its output is above)")
            }
        }
    }
}

/// `==> [6.1] change to verdict in 8.6 s (rebuild 2.2 s, suite 6.4 s)`: (8.6, 6.4).
fn parse_round(line: &str) -> Option<(f64, f64)> {
    let number_after = |key: &str| -> Option<f64> {
        let rest = &line[line.find(key)? + key.len()..];
        rest.split_whitespace().next()?.parse().ok()
    };
    Some((number_after("to verdict in ")?, number_after("suite ")?))
}

/// A save as an editor makes it: the file's modification time moves.
fn touch(path: &std::path::Path) -> Result<()> {
    std::fs::File::options()
        .append(true)
        .open(path)
        .and_then(|f| f.set_modified(SystemTime::now()))
        .with_context(|| format!("cannot touch {}", path.display()))
}

/// Ctrl-C, as a user stops watch; killed if it does not end within a minute.
fn interrupt(child: &mut Child) {
    let pid = child.id() as libc::pid_t;
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(pid, libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    child.kill().ok();
    child.wait().ok();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rounds_times_are_read_off_watchs_line() {
        assert_eq!(
            parse_round("==> [6.1] change to verdict in 8.6 s (rebuild 2.2 s, suite 6.4 s)"),
            Some((8.6, 6.4))
        );
        assert_eq!(
            parse_round("==> [7.3] boot to verdict in 21.4 s (rebuild 0.0 s, suite 19.0 s)"),
            Some((21.4, 19.0))
        );
        assert_eq!(parse_round("==> [6.1] PASSED (exit 0)"), None);
    }
}
