//! The debug kernel's detectors as the guest side drives them through debugfs: kmemleak (cleared
//! before the run, scanned after it) and the modules' GCOV counters (copied out after it). On a
//! kernel without them (Debian's stock kernels) every step does nothing.

use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result};

const KMEMLEAK: &str = "/sys/kernel/debug/kmemleak";
const GCOV: &str = "/sys/kernel/debug/gcov";

/// Where the guest leaves kmemleak's report (empty: no leak) and the GCOV counters.
pub const KMEMLEAK_REPORT: &str = "kmemleak.txt";
pub const GCOV_DIR: &str = "gcov";

/// Whether this kernel has kmemleak (the lab's debug kernel).
pub fn has_kmemleak() -> bool {
    lab_facts::mount_debugfs();
    Path::new(KMEMLEAK).exists()
}

fn kmemleak(command: &str) -> Result<()> {
    fs::write(KMEMLEAK, command).with_context(|| format!("echo {command} > {KMEMLEAK}"))
}

/// Before the run: what the boot leaked (or kmemleak takes for leaks) is not the run's doing.
pub fn kmemleak_baseline() -> Result<()> {
    if !has_kmemleak() {
        return Ok(());
    }
    kmemleak("scan")?;
    kmemleak("clear")
}

/// After the run: scans twice, as the kernel's networking CI does (an object younger than 5 s,
/// or one a stale pointer still hides, escapes a first scan), and saves what kmemleak reports
/// to `out/kmemleak.txt`. Returns the number of suspected leaks.
pub fn kmemleak_report(out: &Path) -> Result<Option<usize>> {
    if !has_kmemleak() {
        return Ok(None);
    }
    thread::sleep(Duration::from_secs(6));
    kmemleak("scan")?;
    thread::sleep(Duration::from_secs(1));
    kmemleak("scan")?;
    let report = fs::read_to_string(KMEMLEAK).context("cannot read kmemleak's report")?;
    fs::write(out.join(KMEMLEAK_REPORT), &report)?;
    Ok(Some(
        report
            .lines()
            .filter(|l| l.starts_with("unreferenced object"))
            .count(),
    ))
}

/// Copies the GCOV counters of the modules built in `kmod_dir` to `out/gcov/`; `None` when the
/// kernel has no GCOV. The kernel keeps the counters of an unloaded module (gcov_persist), so
/// this works after the suite's last rmmod too.
pub fn save_gcov(kmod_dir: &Path, out: &Path) -> Result<Option<Vec<PathBuf>>> {
    lab_facts::mount_debugfs();
    if !Path::new(GCOV).exists() {
        return Ok(None);
    }
    let dir = Path::new(GCOV).join(kmod_dir.strip_prefix("/").unwrap_or(kmod_dir));
    let dest = out.join(GCOV_DIR);
    fs::remove_dir_all(&dest).ok();
    fs::create_dir_all(&dest)?;
    let mut saved = Vec::new();
    for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "gcda") {
            let target = dest.join(entry.file_name());
            fs::copy(&path, &target).with_context(|| format!("cannot copy {}", path.display()))?;
            saved.push(target);
        }
    }
    Ok(Some(saved))
}
