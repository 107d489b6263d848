//! Where things live: the project root, the lab's output under `target/lab`, the download cache.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use xshell::Shell;

/// The project root (the workspace that contains `vm/`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("vm/ has a parent")
        .to_owned()
}

/// The path of a program on PATH (the lab checks for its tools before it runs them).
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// A shell whose current directory is the project root: every command runs from there.
pub fn shell() -> Result<Shell> {
    let sh = Shell::new().context("cannot start a shell")?;
    sh.change_dir(root());
    Ok(sh)
}

/// `target/lab`: everything the lab builds and every log it saves.
pub fn lab_dir() -> PathBuf {
    root().join("target").join("lab")
}

/// `target/lab/<kernel>`: one kernel's module build, console log, dmesg and summary.
pub fn kernel_dir(kernel_name: &str) -> PathBuf {
    lab_dir().join(kernel_name)
}

/// `target/lab/bin`: the clients, as the guest sees them on its PATH.
pub fn bin_dir() -> PathBuf {
    lab_dir().join("bin")
}

/// The per-user download cache: `$GENL_LAB_CACHE`, else `$XDG_CACHE_HOME/genl-lab`, else
/// `~/.cache/genl-lab`.
pub fn cache_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("GENL_LAB_CACHE") {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("genl-lab"));
    }
    let home = std::env::var_os("HOME").context(
        "neither XDG_CACHE_HOME nor HOME is set: set GENL_LAB_CACHE to a directory for downloads",
    )?;
    Ok(PathBuf::from(home).join(".cache").join("genl-lab"))
}

/// An exclusive hold on `target/lab/<kernel>/`: two lab runs never build into or boot from the
/// same kernel directory at once (the second waits). Released when dropped.
pub struct KernelLock(#[allow(dead_code)] std::fs::File);

/// Takes the lock of a kernel's directory, saying so when another run holds it.
pub fn lock_kernel_dir(kernel_name: &str) -> Result<KernelLock> {
    let dir = kernel_dir(kernel_name);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let waiting = format!(
        "==> [{kernel_name}] another lab run is using {}: waiting for it",
        dir.display()
    );
    Ok(KernelLock(lock_file(&dir.join(".lock"), &waiting)?))
}

/// An exclusive `flock` on `path` (created if need be), held until the file is dropped. Prints
/// `waiting` first when another process holds it, then blocks until it is free.
pub fn lock_file(path: &Path, waiting: &str) -> Result<std::fs::File> {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::create(path)
        .with_context(|| format!("cannot create the lock file {}", path.display()))?;
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        eprintln!("{waiting}");
        // SAFETY: as above; this one blocks until the other process lets go.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("cannot lock {}", path.display()));
        }
    }
    Ok(file)
}

/// Writes `path` whole or not at all: into a file beside it, then renamed over it, so a reader
/// (or an interrupted run) never finds half a report.
pub fn write_then_rename(path: &Path, contents: &str) -> Result<()> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    std::fs::write(&partial, contents)
        .and_then(|()| std::fs::rename(&partial, path))
        .with_context(|| format!("cannot write {}", path.display()))
}
