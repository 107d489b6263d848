//! Toolchain roots: kernels newer than the host's Debian name a compiler the host lacks (gcc-14,
//! gcc-16) and ship kbuild host tools linked against a newer glibc. For those the lab makes a
//! minimal root of the kernel's own Debian suite once (mmdebstrap, cached next to the kernels) and
//! builds the module inside it (bubblewrap). Nothing on the host system changes.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use xshell::{cmd, Shell};

use crate::project;
use crate::project::which;

/// What a module build needs in the root besides the compiler: make, the C library headers, the
/// libraries kbuild's host tools link against (linux-kbuild's Depends), pahole for BTF, sparse.
const PACKAGES: &[&str] = &[
    "make",
    "libc6-dev",
    "libelf1t64",
    "libssl3t64",
    "zlib1g",
    "pahole",
    "sparse",
];

/// About how big a toolchain root grows (measured: 347-400 MB), for its progress bar.
const ROOT_BYTES: u64 = 400_000_000;

/// A toolchain root ready to build in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Root {
    pub suite: String,
    pub root: PathBuf,
    /// The first line of `<cc> --version` inside the root.
    pub compiler: String,
    /// `name version` of the packages asked for, as installed.
    pub packages: Vec<String>,
}

/// The Debian package of a compiler kbuild names: `x86_64-linux-gnu-gcc-14` is in `gcc-14`.
fn compiler_package(cc: &str) -> Result<String> {
    cc.find("gcc-")
        .map(|i| cc[i..].to_owned())
        .with_context(|| format!("the kernel names the compiler '{cc}', which is no gcc-N"))
}

fn dir_for(suite: &str, package: &str) -> Result<PathBuf> {
    Ok(project::cache_dir()?
        .join("toolchains")
        .join(format!("{suite}-{package}")))
}

/// The cached root of `suite` with the compiler `cc`, made first if needed. `kernel_files` is the
/// kernel's extracted root, which the compiler version check runs beside.
pub fn ensure(sh: &Shell, suite: &str, cc: &str, kernel_files: &Path) -> Result<Root> {
    let package = compiler_package(cc)?;
    let dir = dir_for(suite, &package)?;
    let record = dir.join("toolchain.json");
    fs::create_dir_all(&dir)?;
    // Two lab runs that need the same root take turns: one makes it, the other then finds it.
    let _lock = crate::project::lock_file(
        &dir.join("lab.lock"),
        &format!("==> waiting for another lab run that is making the {suite} toolchain root"),
    )?;
    if let Ok(text) = fs::read_to_string(&record) {
        let root: Root = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is damaged: delete {} to make the root again",
                record.display(),
                dir.display()
            )
        })?;
        if root.root.join("usr/bin").join(cc).exists() {
            return Ok(root);
        }
    }
    make(sh, suite, cc, &package, &dir, kernel_files)
}

fn make(
    sh: &Shell,
    suite: &str,
    cc: &str,
    package: &str,
    dir: &Path,
    kernel_files: &Path,
) -> Result<Root> {
    for (tool, why) in [
        ("mmdebstrap", "makes the root"),
        ("bwrap", "builds inside it (package bubblewrap)"),
    ] {
        if which(tool).is_none() {
            bail!(
                "{tool} is missing: it {why} of Debian {suite} that modules for this kernel are \
                 built in; run without --no-install, or `apt-get install mmdebstrap bubblewrap`"
            );
        }
    }
    fs::create_dir_all(dir)?;
    // Made in a scratch directory and renamed into place last: an interrupted run is redone.
    let scratch = dir.join("root.partial");
    if scratch.exists() {
        fs::remove_dir_all(&scratch)?;
    }
    let mut include = vec![package.to_owned()];
    include.extend(PACKAGES.iter().map(|p| (*p).to_owned()));
    let include = include.join(",");
    let mirror = format!("{}/debian", crate::apt::mirror());
    // sid's Release file carries a Valid-Until date that a mirror or snapshot may have passed;
    // the signature is still checked.
    let valid_until = "Acquire::Check-Valid-Until \"false\"";
    let log = dir.join("mmdebstrap.log");
    eprintln!(
        "==> making the Debian {suite} toolchain root with {package} (once; about 30 s and \
         {} MB, in {})",
        ROOT_BYTES / 1_000_000,
        dir.display()
    );
    let start = Instant::now();
    let out = crate::progress::watching_size(
        &format!("{suite} toolchain root"),
        &[&scratch],
        Some(ROOT_BYTES),
        || {
            cmd!(
                sh,
                "mmdebstrap --mode=auto --variant=minbase --components=main --include={include}
                 --aptopt={valid_until}
                 --dpkgopt=path-exclude=/usr/share/doc/* --dpkgopt=path-exclude=/usr/share/man/*
                 --dpkgopt=path-exclude=/usr/share/locale/* {suite} {scratch} {mirror}"
            )
            .quiet()
            .ignore_status()
            .output()
        },
    )?;
    fs::write(
        &log,
        [out.stdout.as_slice(), out.stderr.as_slice()].concat(),
    )?;
    if !out.status.success() {
        let text = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = text.lines().rev().take(12).collect();
        bail!(
            "mmdebstrap could not make the {suite} toolchain root (it needs Debian's archive, or \
             GENL_LAB_DEBIAN_MIRROR):\n{}\n(full log: {})",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
            log.display()
        );
    }
    let root = dir.join("root");
    if root.exists() {
        fs::remove_dir_all(&root)?;
    }
    fs::rename(&scratch, &root)?;
    let version = sandboxed(&root, kernel_files, None)
        .arg(cc)
        .arg("--version")
        .output()
        .context("cannot run bwrap")?;
    if !version.status.success() {
        bail!(
            "{cc} does not run in the new {suite} root ({}): {}",
            root.display(),
            String::from_utf8_lossy(&version.stderr).trim()
        );
    }
    let query = sandboxed(&root, kernel_files, None)
        .args(["dpkg-query", "-W", "-f", "${Package} ${Version}\n", package])
        .args(PACKAGES)
        .output()?;
    let made = Root {
        suite: suite.to_owned(),
        compiler: String::from_utf8_lossy(&version.stdout)
            .lines()
            .next()
            .unwrap_or(cc)
            .to_owned(),
        packages: String::from_utf8_lossy(&query.stdout)
            .lines()
            .map(str::to_owned)
            .collect(),
        root,
    };
    eprintln!(
        "==> {suite} toolchain root ready in {:.0} s: {}",
        start.elapsed().as_secs_f64(),
        made.compiler
    );
    fs::write(
        dir.join("toolchain.json"),
        serde_json::to_string_pretty(&made)? + "\n",
    )?;
    Ok(made)
}

/// Whether bubblewrap can make its namespaces and mount a /proc here. Inside a container (no
/// CAP_SYS_ADMIN, a masked /proc) it cannot, and builds fall back to proot, which fakes the same view with
/// ptrace (about 4x slower: 12 s instead of 3 s for both modules).
fn bwrap_works() -> bool {
    static WORKS: OnceLock<bool> = OnceLock::new();
    *WORKS.get_or_init(|| {
        let ok = std::process::Command::new("bwrap")
            .args([
                "--dev-bind",
                "/",
                "/",
                "--proc",
                "/proc",
                "--unshare-all",
                "true",
            ])
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok && which("proot").is_some() {
            eprintln!("==> bwrap cannot make namespaces here (a container?): building with proot");
        }
        ok
    })
}

/// A command run inside `root`: the root as `/`, the kernel's files and `build` (if any) at their
/// own paths, a /proc (objtool reads it). With bubblewrap the root and the kernel's files are
/// read-only, /tmp is private and there is no network; proot (the fallback) only re-maps paths.
pub fn sandboxed(root: &Path, kernel_files: &Path, build: Option<&Path>) -> std::process::Command {
    if !bwrap_works() && which("proot").is_some() {
        let mut cmd = std::process::Command::new("proot");
        cmd.arg("-r").arg(root).args(["-b", "/proc", "-b", "/dev"]);
        cmd.arg("-b").arg(kernel_files);
        if let Some(build) = build {
            cmd.arg("-b").arg(build).arg("-w").arg(build);
        }
        cmd.args(["env", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"]);
        return cmd;
    }
    let mut cmd = std::process::Command::new("bwrap");
    // `/` is a tmpfs holding the root's top-level directories (read-only) and links, so that the
    // host paths bound below can get their mount points.
    cmd.args(["--tmpfs", "/"]);
    for entry in fs::read_dir(root).into_iter().flatten().flatten() {
        let name = Path::new("/").join(entry.file_name());
        // Left out: what bwrap makes anew, and any directory holding the host paths bound below
        // (the cache under /root or /home), which must stay writable mount points.
        let holds_bound = |p: &Path| p.starts_with(&name);
        if ["/proc", "/dev", "/tmp", "/sys"].contains(&name.to_str().unwrap_or_default())
            || holds_bound(kernel_files)
            || build.is_some_and(holds_bound)
        {
            continue;
        }
        match fs::read_link(entry.path()) {
            Ok(target) => cmd.arg("--symlink").arg(target).arg(&name),
            Err(_) => cmd.arg("--ro-bind").arg(entry.path()).arg(&name),
        };
    }
    cmd.args(["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]);
    cmd.arg("--ro-bind").arg(kernel_files).arg(kernel_files);
    if let Some(build) = build {
        cmd.arg("--bind").arg(build).arg(build);
        cmd.arg("--chdir").arg(build);
    }
    cmd.args(["--unshare-all", "--die-with-parent"]);
    cmd.args(["--setenv", "PATH", "/usr/sbin:/usr/bin:/sbin:/bin"]);
    cmd
}

/// Every toolchain root in the cache, for `cargo lab kernels`.
pub fn cached() -> Vec<Root> {
    let Ok(dir) = project::cache_dir().map(|c| c.join("toolchains")) else {
        return Vec::new();
    };
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut roots: Vec<Root> = entries
        .filter_map(|e| fs::read_to_string(e.ok()?.path().join("toolchain.json")).ok())
        .filter_map(|t| serde_json::from_str(&t).ok())
        .collect();
    roots.sort_by(|a, b| a.suite.cmp(&b.suite));
    roots
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiler_package_is_read_off_kbuilds_compiler() {
        assert_eq!(
            compiler_package("x86_64-linux-gnu-gcc-14").unwrap(),
            "gcc-14"
        );
        assert_eq!(compiler_package("gcc-16").unwrap(), "gcc-16");
        assert!(compiler_package("clang-19").is_err());
    }
}
