//! The guest side of the lab, all of it: runs as root inside the VM, started by `vng --exec` with
//! the job the host wrote (`contract::GuestJob`). It sets up the environment the suite and the
//! clients expect, runs what the host asked for, checks that the modules unload, and leaves
//! `guest.json` and `dmesg.txt` in the shared output directory.

mod bench;
mod debugfs;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use lab_facts::module::{self, Debug};

use crate::contract::{watch as protocol, GuestJob, GuestReport, Mode};
use crate::contract::{DMESG, GUEST_REPORT, KMEMLEAK_REPORT, WATCH_DIR};
use crate::flags;
use crate::{build, gdb};

impl flags::GuestArgs {
    /// Reads the host's job and runs it.
    pub fn run(&self) -> Result<u8> {
        run(&GuestJob::read(&self.job)?)
    }
}

/// Runs the requested mode and always writes the report and the kernel log.
fn run(args: &GuestJob) -> Result<u8> {
    let start = Instant::now();
    let mut report = GuestReport {
        started: unix_now(),
        ..GuestReport::default()
    };
    // kmemleak (the debug kernel) judges only what happens from here on.
    if !matches!(args.mode, Mode::Shell) {
        if let Err(err) = debugfs::kmemleak_baseline() {
            report.problems.push(format!("{err:#}"));
        }
    }
    let outcome = match &args.mode {
        Mode::Test {
            suite,
            args: suite_args,
        } => run_suite(args, suite, suite_args, &mut report),
        Mode::Demo => demo(args, &mut report),
        Mode::Exec { command } => exec(args, command, &mut report),
        Mode::Bench(plan) => bench::run(plan, &args.bin_dir, &args.kmod_dir, &args.out),
        Mode::Shell => shell(args),
        Mode::Watch => watch(args, &args.out.join(WATCH_DIR)),
    };
    finish(args, outcome, &mut report, start)?;
    Ok(u8::try_from(report.exit_code.clamp(0, 255)).unwrap_or(1))
}

/// Ends a run (or a watch round): its error, kmemleak and the counters, dmesg, then guest.json,
/// which the host reads as the sign that everything else is written.
fn finish(
    args: &GuestJob,
    outcome: Result<()>,
    report: &mut GuestReport,
    start: Instant,
) -> Result<()> {
    if let Err(err) = &outcome {
        report.problems.push(format!("{err:#}"));
        report.exit_code = report.exit_code.max(1);
    }
    after_run(args, report);
    save_dmesg(&args.out)?;
    report.finished = unix_now();
    report.seconds = start.elapsed().as_secs_f64();
    fs::write(
        args.out.join(GUEST_REPORT),
        serde_json::to_string_pretty(&report)? + "\n",
    )?;
    Ok(())
}

/// The debug kernel's reports: kmemleak's scans (the host judges `kmemleak.txt`) and the modules'
/// coverage counters.
fn after_run(args: &GuestJob, report: &mut GuestReport) {
    match debugfs::kmemleak_report(&args.out) {
        Ok(Some(0)) => println!("kmemleak: no suspected leaks"),
        Ok(Some(n)) => println!(
            "kmemleak: {n} suspected leaks, see {}",
            args.out.join(KMEMLEAK_REPORT).display()
        ),
        Ok(None) => {}
        Err(err) => report.problems.push(format!("kmemleak: {err:#}")),
    }
    if let Err(err) = debugfs::save_gcov(&args.kmod_dir, &args.out) {
        report.problems.push(format!("gcov: {err:#}"));
    }
}

/// The guest's wall clock, in Unix seconds.
fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The environment the suite and the clients get (the guest inherits nothing from the host).
fn command(args: &GuestJob, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(program);
    cmd.env("PATH", lab_facts::guest_path(&args.bin_dir))
        .env("GENL_LAB_BIN_DIR", &args.bin_dir)
        .env("GENL_LAB_KMOD_DIR", &args.kmod_dir)
        .env("GENL_LAB_KERNEL", &args.kernel_name)
        .env("INSTA_UPDATE", "new")
        .env("RUST_BACKTRACE", "1");
    cmd
}

fn run_suite(
    args: &GuestJob,
    suite: &Path,
    suite_args: &[String],
    report: &mut GuestReport,
) -> Result<()> {
    // Concurrent tests (tests/src/turn.rs): two per vCPU, since most of a test is waiting for
    // its clients (6.1, 2 vCPUs: 1 thread 191 s, 2: 111 s, 4: 98 s, 8: 115 s), unless the user chose.
    let threads = if suite_args.iter().any(|a| a.starts_with("--test-threads")) {
        None
    } else {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Some(format!("--test-threads={}", 2 * cpus))
    };
    let mut child = command(args, suite)
        .args(threads)
        // The suite's tests are ignored by default, so that `cargo test --workspace` on a host
        // lists them as what they are (in-guest tests) instead of failing them.
        .arg("--include-ignored")
        .args(suite_args)
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start the suite {}", suite.display()))?;
    let reader = BufReader::new(child.stdout.take().expect("piped"));
    let mut stdout = std::io::stdout();
    for line in reader.lines() {
        let line = line?;
        writeln!(stdout, "{line}")?;
        if let Some((passed, failed)) = parse_test_result(&line) {
            report.passed += passed;
            report.failed += failed;
        }
    }
    let status = child.wait()?;
    report.exit_code = status.code().unwrap_or(1);
    if report.passed + report.failed == 0 {
        report.problems.push("the suite ran no test".to_owned());
    }
    report.problems.extend(last_word(args)?);
    Ok(())
}

/// `cargo lab watch`'s guest side: says it is ready, then for each request the host writes runs
/// the suite as `cargo lab test` does (modules unloaded afterwards, kmemleak, dmesg) and leaves
/// that round's guest.json before saying it is done. Ends when the host asks it to stop.
fn watch(args: &GuestJob, dir: &Path) -> Result<()> {
    fs::create_dir_all(dir)?;
    fs::write(dir.join(protocol::READY), "")?;
    for round in 1.. {
        let request = protocol::request(dir, round);
        while !request.exists() {
            if dir.join(protocol::STOP).exists() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let request: protocol::Request = serde_json::from_str(&fs::read_to_string(&request)?)
            .context("cannot read the watch request")?;
        let start = Instant::now();
        let mut report = GuestReport {
            started: unix_now(),
            ..GuestReport::default()
        };
        // Each round is judged on its own: kmemleak forgets what earlier rounds left.
        if let Err(err) = debugfs::kmemleak_baseline() {
            report.problems.push(format!("{err:#}"));
        }
        let outcome = run_suite(args, &request.suite, &request.suite_args, &mut report);
        finish(args, outcome, &mut report, start)?;
        fs::write(protocol::done(dir, round), "")?;
    }
    Ok(())
}

/// Reads libtest's summary line: `test result: ok. 12 passed; 0 failed; 0 ignored; ...`.
fn parse_test_result(line: &str) -> Option<(u32, u32)> {
    let rest = line.strip_prefix("test result: ")?;
    let count = |word: &str| {
        rest.split(';').find_map(|part| {
            part.trim()
                .strip_suffix(word)
                .and_then(|n| n.trim().rsplit(' ').next()?.parse().ok())
        })
    };
    Some((count(" passed")?, count(" failed")?))
}

/// Our modules currently loaded, from /proc/modules.
fn loaded_modules(args: &GuestJob) -> Result<Vec<String>> {
    let mut ours = build::modules(&args.kmod_dir)?;
    ours.retain(|m| module::loaded(m));
    Ok(ours)
}

/// The suite's last word, after it whatever it ran: each module unloads cleanly from the state
/// the suite left (loaded first if need be), logging its goodbye and nothing else, and the kernel
/// took no harm. Returns what went wrong.
fn last_word(args: &GuestJob) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for name in build::modules(&args.kmod_dir)? {
        if !module::loaded(&name) {
            insmod(args, &name)?;
        }
        if let Err(n) = module::wait_unused(&name, Duration::from_secs(10)) {
            problems.push(format!(
                "{name} still has {n} references 10 s after the suite (a leak)"
            ));
            continue;
        }
        let mut log = lab_facts::kmsg::Kmsg::mark().context("cannot open /dev/kmsg")?;
        let out = module::rmmod(&name).output().context("cannot run rmmod")?;
        let lines = log.read_new().context("cannot read /dev/kmsg")?;
        if !out.status.success() || !out.stdout.is_empty() || !out.stderr.is_empty() {
            problems.push(format!(
                "rmmod {name} after the suite: {}: {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        if module::loaded(&name) {
            problems.push(format!("{name} does not unload: still loaded after rmmod"));
        }
        for (i, kind) in lab_facts::health::scan(lines.iter().map(String::as_str)) {
            problems.push(format!("{kind} while {name} unloaded: {}", lines[i]));
        }
        let prefix = format!("{name}: ");
        let said: Vec<&str> = lines
            .iter()
            .filter_map(|l| l.strip_prefix(&prefix))
            .collect();
        if let Some(goodbye) = goodbye(&name) {
            if said != [goodbye.as_str()] {
                problems.push(format!(
                    "{name} logged {said:?} on unload, not [{goodbye:?}]"
                ));
            }
        }
    }
    let tainted = fs::read_to_string("/proc/sys/kernel/tainted")
        .context("cannot read /proc/sys/kernel/tainted")?;
    let tainted: u64 = tainted.trim().parse().context("/proc/sys/kernel/tainted")?;
    let harmful = lab_facts::health::harmful_taints(tainted);
    if !harmful.is_empty() {
        problems.push(format!(
            "the kernel is tainted {harmful:?} (value {tainted}): read its log"
        ));
    }
    Ok(problems)
}

/// What a module logs when it unloads (the `pr_info` of its exit function in `kmod/`).
fn goodbye(name: &str) -> Option<String> {
    match name {
        lab_facts::GENL_MODULE => Some(format!("unregistered family {name}")),
        lab_facts::CLASSIC_MODULE => Some("unloaded".to_owned()),
        _ => None,
    }
}

/// Inserts one of our modules; its per-operation log lines are pr_debug, turned on here.
fn insmod(args: &GuestJob, name: &str) -> Result<()> {
    let ko = module::ko(&args.kmod_dir, name);
    let status = module::insmod(&ko, Debug::On)
        .status()
        .context("cannot run insmod")?;
    if !status.success() {
        bail!("insmod {} failed ({status})", ko.display());
    }
    Ok(())
}

/// Inserts all our modules, and leaves where they were loaded for `--gdb`.
fn insmod_all(args: &GuestJob) -> Result<()> {
    let names = build::modules(&args.kmod_dir)?;
    for name in &names {
        insmod(args, name)?;
    }
    if let Err(err) = gdb::write_module_symbols(&args.out, &args.kmod_dir, &names) {
        eprintln!("lab guest: the modules' symbols for gdb: {err:#}");
    }
    Ok(())
}

fn rmmod(module: &str) -> Result<()> {
    let out = module::rmmod(module).output().context("cannot run rmmod")?;
    if !out.status.success() {
        bail!(
            "rmmod {module}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn demo(args: &GuestJob, report: &mut GuestReport) -> Result<()> {
    insmod_all(args)?;
    let steps: &[(&str, &[&str])] = &[
        ("echo", &["echo", "hello from the lab"]),
        ("dump", &["dump"]),
        ("error", &["error"]),
    ];
    for client in lab_facts::GENL_CLIENTS {
        for (what, client_args) in steps {
            println!("\n--- {client} {what} ---");
            std::io::stdout().flush()?;
            let status = command(args, args.bin_dir.join(client))
                .args(*client_args)
                .status()?;
            if !status.success() {
                report.exit_code = 1;
                report
                    .problems
                    .push(format!("{client} {what} failed ({status})"));
            }
        }
    }
    println!("\n--- kernel log of the modules ---");
    let dmesg = Command::new("dmesg").output().context("cannot run dmesg")?;
    let ours = build::modules(&args.kmod_dir)?;
    for line in String::from_utf8_lossy(&dmesg.stdout).lines() {
        if ours.iter().any(|m| line.contains(&format!("{m}: "))) {
            println!("{line}");
        }
    }
    for module in loaded_modules(args)? {
        rmmod(&module)?;
    }
    Ok(())
}

fn exec(args: &GuestJob, command_line: &[String], report: &mut GuestReport) -> Result<()> {
    insmod_all(args)?;
    let status = command(args, &command_line[0])
        .args(&command_line[1..])
        .status()
        .with_context(|| format!("cannot run {}", command_line[0]))?;
    report.exit_code = status.code().unwrap_or(1);
    Ok(())
}

fn shell(args: &GuestJob) -> Result<()> {
    insmod_all(args)?;
    println!(
        "modules inserted; the clients are on PATH ({}). Exit the shell to stop the VM.",
        args.bin_dir.display()
    );
    save_dmesg(&args.out)?;
    let err = command(args, "bash").arg("-i").exec();
    Err(err).context("cannot start bash")
}

fn save_dmesg(out: &Path) -> Result<()> {
    let dmesg = Command::new("dmesg").output().context("cannot run dmesg")?;
    fs::write(out.join(DMESG), &dmesg.stdout)
        .with_context(|| format!("cannot write {}", out.join(DMESG).display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtest_summaries_are_counted() {
        let ok = "test result: ok. 12 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 3.21s";
        assert_eq!(parse_test_result(ok), Some((12, 0)));
        let failed =
            "test result: FAILED. 10 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out";
        assert_eq!(parse_test_result(failed), Some((10, 2)));
        assert_eq!(parse_test_result("test echo::works ... ok"), None);
    }
}
