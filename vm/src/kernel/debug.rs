//! The lab's debug kernel (`--kernel debug`): Debian's `linux-source-7.3` configured with
//! `make allnoconfig` plus the fragments in `vm/kconfig/` (what the guest needs, and KASAN,
//! lockdep, kmemleak, UBSAN, fault injection, GCOV), built once on the host with the host's gcc
//! and cached by source version and fragment. Nothing outside the cache is touched.

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use xshell::{cmd, Shell};

use super::{compiler_version, Kernel};
use crate::apt::Apt;
use crate::project;

/// What `--kernel` calls it, and its directory under `target/lab/`.
pub const NAME: &str = "debug";
/// The Debian source package it is built from: the newest release line.
pub const SOURCE_PACKAGE: &str = "linux-source-7.3";
/// The configuration fragments, applied in this order on top of `make allnoconfig`.
pub const FRAGMENTS: &[&str] = &["vm/kconfig/guest.config", "vm/kconfig/debug.config"];
/// What a cold build took on the lab's 2-core reference machine, for the progress line.
const COLD_BUILD_HINT: &str =
    "about 5 minutes on a quiet 2-core machine (299 s measured), over an hour on a busy one";

/// What the cache records about a finished build (written last: its presence means complete).
#[derive(Debug, Serialize, Deserialize)]
pub struct Built {
    /// `linux-source-7.3 7.3.4-1~bpo13+1`.
    pub source: String,
    /// The hash of the fragments' text, also part of the directory's name.
    pub fragment_hash: String,
    /// `uname -r` of the built kernel.
    pub release: String,
    pub compiler: String,
    /// Files compiled, for the next cold build's progress line.
    pub objects: u64,
    pub build_seconds: f64,
}

/// The fragments, concatenated, and their hash.
fn fragments() -> Result<(String, String)> {
    let mut text = String::new();
    for f in FRAGMENTS {
        let path = project::root().join(f);
        text += &fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        text.push('\n');
    }
    let hash = fnv1a64(text.as_bytes());
    Ok((text, format!("{hash:016x}")[..12].to_owned()))
}

/// FNV-1a: a stable hash (std's hasher may change between Rust releases) to name cache entries.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn cache_root() -> Result<PathBuf> {
    Ok(project::cache_dir()?.join("kernels").join(NAME))
}

/// Where a build for the current fragments goes: `kernels/debug/<source version>-<hash>`.
pub fn expected_dir_hint() -> Result<String> {
    let (_, hash) = fragments()?;
    Ok(format!(
        "{}/<source version>-{hash}",
        cache_root()?.display()
    ))
}

/// The finished build for these fragments, if the cache has one (the newest source first).
pub fn cached() -> Result<Option<(PathBuf, Built)>> {
    let (_, hash) = fragments()?;
    let mut found: Vec<(PathBuf, Built)> = fs::read_dir(cache_root()?)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().ends_with(&hash))
        })
        .filter_map(|p| {
            let built =
                serde_json::from_str(&fs::read_to_string(p.join("built.json")).ok()?).ok()?;
            Some((p, built))
        })
        .collect();
    found.sort_by(|a, b| a.1.source.cmp(&b.1.source));
    Ok(found.pop())
}

/// The debug kernel, built first if the cache has none for the current fragments (installing the
/// tools that takes unless `no_install`).
pub fn resolve(sh: &Shell, no_install: bool) -> Result<Kernel> {
    let (dir, built) = match cached()? {
        Some(found) => found,
        None => {
            // Two lab runs that need the debug kernel take turns: one builds, the other finds it.
            fs::create_dir_all(cache_root()?)?;
            let _lock = project::lock_file(
                &cache_root()?.join("lab.lock"),
                &format!("==> [{NAME}] waiting for another lab run that is building this kernel"),
            )?;
            match cached()? {
                Some(found) => found,
                None => build(sh, no_install)?,
            }
        }
    };
    let tree = dir.join("build");
    Ok(Kernel {
        name: NAME.to_owned(),
        release: built.release.clone(),
        provenance: format!(
            "{} built by the lab with {} (fragments {}, {})",
            built.source,
            built.compiler,
            FRAGMENTS.join(" + "),
            built.fragment_hash
        ),
        boot: tree.clone(),
        kbuild: tree,
        make_vars: Vec::new(),
        build_root: None,
        compiler: built.compiler,
        has_kfence: true,
        debug: true,
    })
}

/// Downloads the source, configures and builds it; every step resumes after an interruption.
fn build(sh: &Shell, no_install: bool) -> Result<(PathBuf, Built)> {
    crate::deps::ensure_kernel_build(no_install)?;
    let cache = project::cache_dir()?;
    let apt = Apt::new(&cache)?;
    eprintln!("==> [{NAME}] looking up {SOURCE_PACKAGE} in Debian's archive");
    apt.update(sh)?;
    let package = apt.show(sh, SOURCE_PACKAGE)?;
    let (text, hash) = fragments()?;
    let dir = cache_root()?.join(format!("{}-{hash}", package.version.replace('~', "_")));
    fs::create_dir_all(&dir)?;
    let src = dir.join("src");
    if !src.join("Makefile").is_file() {
        eprintln!(
            "==> [{NAME}] downloading and extracting {} {} ({:.0} MB)",
            package.name,
            package.version,
            package.size as f64 / 1e6
        );
        apt.extract_kernel_source(sh, &package, &[], &src)?;
    }
    let out = dir.join("build");
    let config = out.join(".config");
    if !config.is_file() {
        fs::create_dir_all(&out)?;
        let fragment = dir.join("lab.config");
        fs::write(&fragment, &text)?;
        eprintln!(
            "==> [{NAME}] configuring: make allnoconfig + {}",
            FRAGMENTS.join(" + ")
        );
        let o = format!("O={}", out.display());
        let all = format!("KCONFIG_ALLCONFIG={}", fragment.display());
        let log = cmd!(sh, "make -C {src} {o} {all} allnoconfig")
            .quiet()
            .ignore_status()
            .output()?;
        if !log.status.success() {
            fs::remove_file(&config).ok();
            bail!(
                "configuring the debug kernel failed:\n{}",
                String::from_utf8_lossy(&log.stderr)
            );
        }
        let missing = options_not_taken(&text, &fs::read_to_string(&config)?);
        if !missing.is_empty() {
            fs::remove_file(&config).ok();
            bail!(
                "Kconfig dropped options of {} (a dependency is off or the option is gone in {}): {}",
                FRAGMENTS.join(" + "),
                package.version,
                missing.join(", ")
            );
        }
    }
    let started = Instant::now();
    let objects = make_with_progress(&src, &out, &dir.join("build.log"))?;
    let release = fs::read_to_string(out.join("include/config/kernel.release"))
        .context("the build left no include/config/kernel.release")?
        .trim()
        .to_owned();
    let built = Built {
        source: format!("{} {}", package.name, package.version),
        fragment_hash: hash,
        release,
        compiler: compiler_version("gcc"),
        objects,
        build_seconds: started.elapsed().as_secs_f64(),
    };
    fs::write(
        dir.join("built.json"),
        serde_json::to_string_pretty(&built)? + "\n",
    )?;
    eprintln!(
        "==> [{NAME}] built {} in {:.0} s ({objects} files compiled)",
        built.release, built.build_seconds
    );
    remove_older_builds(&dir)?;
    Ok((dir, built))
}

/// Builds are a few GB each: keep `current` and the newest other finished build (a checkout of
/// another commit, such as CI of an older branch, need not rebuild), remove the rest. Runs under
/// the build lock, so no other run is building meanwhile.
fn remove_older_builds(current: &Path) -> Result<()> {
    let finished = |p: &Path| {
        fs::metadata(p.join("built.json"))
            .and_then(|m| m.modified())
            .ok()
    };
    let mut others: Vec<(Option<std::time::SystemTime>, PathBuf)> = fs::read_dir(cache_root()?)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && p != current)
        .map(|p| (finished(&p), p))
        .collect();
    // Newest finished first; unfinished ones (None) last.
    others.sort_by_key(|o| std::cmp::Reverse(o.0));
    let keep = others
        .first()
        .filter(|(t, _)| t.is_some())
        .map(|(_, p)| p.clone());
    for (_, old) in others {
        if Some(&old) != keep.as_ref() {
            eprintln!("==> [{NAME}] removing the older build {}", old.display());
            fs::remove_dir_all(&old).ok();
        }
    }
    Ok(())
}

/// The `CONFIG_X=v` and `# CONFIG_X is not set` lines of the fragments that `.config` lacks.
fn options_not_taken(fragments: &str, config: &str) -> Vec<String> {
    let have: std::collections::HashSet<&str> = config.lines().map(str::trim).collect();
    fragments
        .lines()
        .map(str::trim)
        .filter(|l| {
            l.starts_with("CONFIG_") || (l.starts_with("# CONFIG_") && l.ends_with(" is not set"))
        })
        .filter(|l| {
            if let Some(name) = l
                .strip_prefix("# ")
                .and_then(|l| l.strip_suffix(" is not set"))
            {
                // Off is also "absent" (its menu is off).
                config.lines().any(|c| c.starts_with(&format!("{name}=")))
            } else {
                !have.contains(l)
            }
        })
        .map(str::to_owned)
        .collect()
}

/// `make -jN` (vmlinux, bzImage, modules), its output in `log`, a progress line every 30 s.
/// Returns how many files it compiled. make deletes a half-written target when it is
/// interrupted, so the next run goes on from where this one stopped.
fn make_with_progress(src: &Path, out: &Path, log: &Path) -> Result<u64> {
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get());
    let resumed = out.join("vmlinux.o").exists() || out.join("init/main.o").exists();
    eprintln!(
        "==> [{NAME}] {} the kernel with make -j{jobs} ({COLD_BUILD_HINT} when cold; log: {})",
        if resumed {
            "resuming the build of"
        } else {
            "building"
        },
        log.display()
    );
    let mut child = Command::new("make")
        .arg("-C")
        .arg(src)
        .arg(format!("O={}", out.display()))
        .arg(format!("-j{jobs}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run make")?;
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let log_file = File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let err_log = log_file.try_clone()?;
    let errors = std::thread::spawn(move || copy_lines(stderr, err_log, |_| {}));
    let started = Instant::now();
    let mut last = Instant::now();
    let mut compiled = 0u64;
    copy_lines(stdout, log_file, |line| {
        if line.trim_start().starts_with("CC ") {
            compiled += 1;
        }
        if last.elapsed() > Duration::from_secs(30) {
            last = Instant::now();
            eprintln!(
                "==> [{NAME}] {compiled} files compiled, {}:{:02} elapsed",
                started.elapsed().as_secs() / 60,
                started.elapsed().as_secs() % 60
            );
        }
    });
    errors.join().ok();
    let status = child.wait()?;
    if !status.success() {
        let text = fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        bail!(
            "building the debug kernel failed ({status}); the end of {}:\n{}",
            log.display(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    Ok(compiled)
}

fn copy_lines(from: impl std::io::Read, mut to: File, mut each: impl FnMut(&str)) {
    use std::io::Write;
    for line in BufReader::new(from).lines().map_while(Result::ok) {
        each(&line);
        writeln!(to, "{line}").ok();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_kconfig_dropped_are_named() {
        let fragments =
            "# comment\nCONFIG_A=y\nCONFIG_B=y\n# CONFIG_C is not set\n# CONFIG_D is not set\n";
        let config = "CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=y\n";
        assert_eq!(
            options_not_taken(fragments, config),
            ["CONFIG_B=y", "# CONFIG_C is not set"]
        );
    }

    #[test]
    fn the_hash_is_stable() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
