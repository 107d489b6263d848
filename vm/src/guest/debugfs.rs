//! The debug kernel's detectors as the guest side drives them through debugfs: kmemleak (cleared
//! before the run, scanned after it) and the modules' GCOV counters (copied out after it). On a
//! kernel without them (Debian's stock kernels) every step does nothing.

use anyhow::{Context, Result};
use lab_facts::kmemleak;
use std::fs;
use std::path::{Path, PathBuf};

use crate::contract::{GCOV_DIR, KMEMLEAK_REPORT};

const GCOV: &str = "/sys/kernel/debug/gcov";

/// Before the run: what the boot leaked (or kmemleak takes for leaks) is not the run's doing.
pub fn kmemleak_baseline() -> Result<()> {
    if !kmemleak::available() {
        return Ok(());
    }
    kmemleak::command("scan")?;
    kmemleak::command("clear")?;
    Ok(())
}

/// After the run: saves what kmemleak's scans report to `out/kmemleak.txt`. Returns the number
/// of suspected leaks.
pub fn kmemleak_report(out: &Path) -> Result<Option<usize>> {
    if !kmemleak::available() {
        return Ok(None);
    }
    let report = kmemleak::scan()?;
    fs::write(out.join(KMEMLEAK_REPORT), &report)?;
    Ok(Some(kmemleak::suspects(&report).len()))
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
