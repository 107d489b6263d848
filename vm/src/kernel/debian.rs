//! Debian's kernels: finding the newest buildable image of a line in the archive, downloading and
//! extracting it once into the cache, and the toolchain its modules are built with.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use xshell::{cmd, Shell};

use super::{
    compiler_version, flavoured_name, AbiShape, BuildRoot, Kernel, Line, Toolchain, LINES,
};
use crate::apt::{self, Apt};
use crate::error::usage_error;
use crate::{project, toolchain};

/// What the cache records about a downloaded Debian kernel.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CachedKernel {
    pub line: String,
    /// The ABI name, e.g. `6.1.0-56-amd64`: also the kernel's release.
    pub abi: String,
    /// `name version` of every package it was extracted from.
    pub packages: Vec<String>,
    /// The extracted root: `boot/` or `usr/lib/modules/`, and `usr/src/`.
    pub root: PathBuf,
    /// The version of the image package, e.g. `7.3.4-1~bpo13+1`.
    #[serde(default)]
    pub version: String,
}

impl CachedKernel {
    /// The bootable image: `boot/vmlinuz-<abi>` (to 6.12) or `usr/lib/modules/<abi>/vmlinuz` (7.x).
    fn image(&self) -> PathBuf {
        let old = self.root.join("boot").join(format!("vmlinuz-{}", self.abi));
        if old.exists() {
            return old;
        }
        self.root
            .join("usr/lib/modules")
            .join(&self.abi)
            .join("vmlinuz")
    }
}

fn line_cache(name: &str) -> Result<PathBuf> {
    Ok(project::cache_dir()?.join("kernels").join(name))
}

/// The kernel cached for a line in a flavour, if a complete download is there.
pub fn cached(line: &Line, flavour: Option<&str>) -> Result<Option<CachedKernel>> {
    let record = line_cache(&flavoured_name(line.name, flavour))?.join("current.json");
    if !record.exists() {
        return Ok(None);
    }
    let text = fs::read_to_string(&record)?;
    let cached: CachedKernel = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is damaged: delete it to download the kernel again",
            record.display()
        )
    })?;
    Ok(cached.image().exists().then_some(cached))
}

/// Resolves a Debian line: the cached kernel, or (first run, or `refresh`) the newest in the archive.
pub fn resolve_debian(
    sh: &Shell,
    line: &Line,
    flavour: Option<&'static str>,
    refresh: bool,
) -> Result<Kernel> {
    let name = flavoured_name(line.name, flavour);
    let mut current = cached(line, flavour)?;
    // Two lab runs that need the same line take turns: one downloads, the other then finds it.
    let _lock = if current.is_none() || refresh {
        let dir = line_cache(&name)?;
        fs::create_dir_all(&dir)?;
        let lock = project::lock_file(
            &dir.join("lab.lock"),
            &format!("==> [{name}] waiting for another lab run that is downloading this kernel"),
        )?;
        current = cached(line, flavour)?;
        Some(lock)
    } else {
        None
    };
    let cached = match current {
        Some(c) if !refresh => c,
        current => {
            let fetched = fetch_debian(sh, line, flavour)?;
            if let Some(old) = current.filter(|old| old.abi != fetched.abi) {
                eprintln!(
                    "==> [{name}] {} replaces {} (the old one stays in the cache)",
                    fetched.abi, old.abi
                );
            }
            fetched
        }
    };
    kernel_from_cache(sh, line, &name, &cached)
}

fn kernel_from_cache(sh: &Shell, line: &Line, name: &str, c: &CachedKernel) -> Result<Kernel> {
    let kbuild = c
        .root
        .join("usr/src")
        .join(format!("linux-headers-{}", c.abi));
    let config = fs::read_to_string(kbuild.join(".config")).unwrap_or_default();
    let wanted_cc = kbuild_compiler(&kbuild);
    let (make_vars, build_root, compiler) = match line.toolchain {
        Toolchain::Host => {
            let (vars, cc) = match wanted_cc {
                Some(cc) if project::which(&cc).is_none() => {
                    (vec!["CC=gcc".to_owned()], "gcc".to_owned())
                }
                Some(cc) => (Vec::new(), cc),
                None => (Vec::new(), "gcc".to_owned()),
            };
            (vars, None, compiler_version(&cc))
        }
        Toolchain::Root(suite) => {
            let cc = wanted_cc.with_context(|| {
                format!("{}: .kernelvariables names no compiler", kbuild.display())
            })?;
            let tc = toolchain::ensure(sh, suite, &cc, &c.root)?;
            let build_root = BuildRoot {
                root: tc.root,
                kernel_files: c.root.clone(),
            };
            (Vec::new(), Some(build_root), tc.compiler)
        }
    };
    Ok(Kernel {
        name: name.to_owned(),
        release: c.abi.clone(),
        provenance: c.packages.join(", "),
        make_vars,
        build_root,
        compiler,
        has_kfence: config.lines().any(|l| l == "CONFIG_KFENCE=y"),
        debug: false,
        boot: c.image(),
        kbuild,
    })
}

/// `kernel` (from a toolchain root) with its module built in `suite`'s root instead, with the
/// same compiler package: the lint checks 7.x with sid's sparse this way.
pub fn in_suite_root(sh: &Shell, kernel: &Kernel, suite: &str) -> Result<Kernel> {
    let Some(br) = &kernel.build_root else {
        return Ok(kernel.clone());
    };
    let cc = kbuild_compiler(&kernel.kbuild).with_context(|| {
        format!(
            "{}: .kernelvariables names no compiler",
            kernel.kbuild.display()
        )
    })?;
    let tc = toolchain::ensure(sh, suite, &cc, &br.kernel_files)?;
    Ok(Kernel {
        build_root: Some(BuildRoot {
            root: tc.root,
            kernel_files: br.kernel_files.clone(),
        }),
        compiler: tc.compiler,
        ..kernel.clone()
    })
}

/// The compiler Debian's kbuild names in `.kernelvariables` (`gcc-10` for 5.10,
/// `x86_64-linux-gnu-gcc-14` for 7.3), with `$(CROSS_COMPILE)` expanded.
fn kbuild_compiler(kbuild: &Path) -> Option<String> {
    let vars = fs::read_to_string(kbuild.join(".kernelvariables")).ok()?;
    parse_kernelvariables_cc(&vars)
}

fn parse_kernelvariables_cc(vars: &str) -> Option<String> {
    let value = |name: &str| {
        vars.lines().find_map(|l| {
            let l = l.trim().trim_start_matches("override ");
            let rest = l.strip_prefix(name)?.trim_start();
            let rest = rest.strip_prefix("?=").or_else(|| rest.strip_prefix('='))?;
            Some(rest.trim().to_owned())
        })
    };
    let cc = value("CC")?.split_whitespace().last()?.to_owned();
    let cross = value("CROSS_COMPILE").unwrap_or_default();
    Some(cc.replace("$(CROSS_COMPILE)", &cross))
}

/// Whether an image package name is a kernel of this line in this flavour (not dbg, unsigned...).
fn is_line_image(line: &Line, flavour: Option<&str>, package: &str) -> bool {
    let suffix = match flavour {
        Some(f) => format!("-{f}-amd64"),
        None => "-amd64".to_owned(),
    };
    let Some(abi) = package
        .strip_prefix("linux-image-")
        .and_then(|p| p.strip_suffix(suffix.as_str()))
    else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match line.shape {
        AbiShape::DebianAbi => abi
            .strip_prefix(line.name)
            .and_then(|r| r.strip_prefix(".0-"))
            .is_some_and(digits),
        AbiShape::Patch(tag) => abi
            .strip_prefix(line.name)
            .and_then(|r| r.strip_prefix('.'))
            .and_then(|r| r.strip_suffix(tag))
            .is_some_and(digits),
        AbiShape::ReleaseCandidate => abi
            .split_once('.')
            .is_some_and(|(major, minor)| digits(major) && digits(minor)),
    }
}

/// The apt-cache regex that finds a line's images.
fn image_pattern(line: &Line) -> String {
    match line.shape {
        AbiShape::ReleaseCandidate => "^linux-image-[0-9]+\\.[0-9]+-".to_owned(),
        _ => format!("^linux-image-{}\\.", line.name.replace('.', "\\.")),
    }
}

/// Orders package names the way humans do: `6.1.0-9` before `6.1.0-56`.
fn natural_key(name: &str) -> Vec<(u64, String)> {
    let mut key = Vec::new();
    let mut rest = name;
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| c.is_ascii_digit() != rest.starts_with(|c: char| c.is_ascii_digit()));
        let (part, tail) = rest.split_at(split.unwrap_or(rest.len()));
        key.push(match part.parse() {
            Ok(n) => (n, String::new()),
            Err(_) => (0, part.to_owned()),
        });
        rest = tail;
    }
    key
}

/// The newest image of a line in a flavour whose headers the archive also has: only those builds
/// can have a module built for them. Returns the image, its headers and the ABI name.
fn newest_buildable(
    sh: &Shell,
    apt: &Apt,
    line: &Line,
    flavour: Option<&str>,
) -> Result<Option<(apt::Package, apt::Package, String)>> {
    let mut images: Vec<String> = apt
        .search_names(sh, &image_pattern(line))?
        .into_iter()
        .filter(|p| is_line_image(line, flavour, p))
        .collect();
    images.sort_by_key(|p| natural_key(p));
    for name in images.iter().rev() {
        let abi = name.trim_start_matches("linux-image-").to_owned();
        let (Ok(image), Ok(headers)) = (
            apt.show(sh, name),
            apt.show(sh, &format!("linux-headers-{abi}")),
        ) else {
            continue;
        };
        return Ok(Some((image, headers, abi)));
    }
    Ok(None)
}

/// Whether Debian version `a` is newer than `b`, as dpkg orders them (`7.3~rc7` < `7.3.4`).
fn dpkg_newer(sh: &Shell, a: &str, b: &str) -> bool {
    cmd!(sh, "dpkg --compare-versions {a} gt {b}")
        .quiet()
        .run()
        .is_ok()
}

fn fetch_debian(sh: &Shell, line: &Line, flavour: Option<&str>) -> Result<CachedKernel> {
    let name = flavoured_name(line.name, flavour);
    let cache = project::cache_dir()?;
    let apt = Apt::new(&cache)?;
    eprintln!(
        "==> [{name}] looking up the newest {} kernel in Debian's archive",
        line.origin
    );
    apt.update(sh).context(
        "cannot reach Debian's archive to find the kernel (a second run uses the cache)",
    )?;
    let (image, headers, abi) = newest_buildable(sh, &apt, line, flavour)?.with_context(|| {
        format!(
            "Debian's archive lists no {name} kernel with headers: no module can be built for it"
        )
    })?;
    if let AbiShape::ReleaseCandidate = line.shape {
        let latest = LINES
            .iter()
            .rev()
            .find(|l| !matches!(l.shape, AbiShape::ReleaseCandidate))
            .expect("a release line");
        if let Some((released, _, released_abi)) = newest_buildable(sh, &apt, latest, flavour)? {
            if !dpkg_newer(sh, &image.version, &released.version) {
                return Err(usage_error(format!(
                    "there is no `next` kernel today: experimental's newest, {abi} ({}), is not \
                     newer than the released {released_abi} ({}); use `--kernel latest`",
                    image.version, released.version
                )));
            }
        }
    }

    // 7.x splits the image into -binary, -modules and -base packages; older ones are whole.
    let mut packages = vec![image.clone()];
    for prefix in ["linux-binary-", "linux-modules-", "linux-base-"] {
        for dep in apt::depends_starting_with(&image.depends, prefix) {
            packages.push(apt.show(sh, dep)?);
        }
    }
    packages.push(headers.clone());
    for prefix in ["linux-headers-", "linux-kbuild-"] {
        for dep in apt::depends_starting_with(&headers.depends, prefix) {
            if !packages.iter().any(|p| p.name == dep) {
                packages.push(apt.show(sh, dep)?);
            }
        }
    }
    let total: u64 = packages.iter().map(|p| p.size).sum();
    eprintln!(
        "==> [{name}] downloading {abi} ({:.1} MB): {}",
        total as f64 / 1e6,
        packages
            .iter()
            .map(|p| format!("{} {}", p.name, p.version))
            .collect::<Vec<_>>()
            .join(", ")
    );

    let dir = line_cache(&name)?.join(&abi);
    let debs = apt.download(sh, &packages, &dir.join("debs.partial"))?;
    // Extract into a scratch directory and rename it into place last, so an interrupted run never
    // leaves a half-extracted kernel that looks complete.
    let scratch = dir.join("root.partial");
    if scratch.exists() {
        fs::remove_dir_all(&scratch)?;
    }
    fs::create_dir_all(&scratch)?;
    eprintln!("==> [{name}] extracting {} packages", debs.len());
    for deb in &debs {
        cmd!(sh, "dpkg-deb -x {deb} {scratch}")
            .quiet()
            .run()
            .with_context(|| format!("cannot extract {}", deb.display()))?;
    }
    let root = dir.join("root");
    relocate_headers(&scratch, &root, &abi)?;
    if root.exists() {
        fs::remove_dir_all(&root)?;
    }
    fs::rename(&scratch, &root)?;
    fs::remove_dir_all(dir.join("debs.partial")).ok();

    let cached = CachedKernel {
        line: name.clone(),
        abi,
        packages: packages
            .iter()
            .map(|p| format!("{} {}", p.name, p.version))
            .collect(),
        root,
        version: image.version,
    };
    fs::write(
        line_cache(&name)?.join("current.json"),
        serde_json::to_string_pretty(&cached)? + "\n",
    )?;
    Ok(cached)
}

/// Debian's per-flavour headers include the common tree by its absolute `/usr/src/...` path;
/// point that at the copy in the cache (`final_root`, where `scratch` will be renamed to).
fn relocate_headers(scratch: &Path, final_root: &Path, abi: &str) -> Result<()> {
    let makefile = scratch
        .join("usr/src")
        .join(format!("linux-headers-{abi}"))
        .join("Makefile");
    let text = fs::read_to_string(&makefile)
        .with_context(|| format!("{} is missing", makefile.display()))?;
    // 7.x also sets `KBUILD_OUTPUT=/usr/src/...`.
    let fixed = text
        .replace(
            "include /usr/src/",
            &format!("include {}/usr/src/", final_root.display()),
        )
        .replace("=/usr/src/", &format!("={}/usr/src/", final_root.display()));
    fs::write(&makefile, fixed)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::line_named;

    #[test]
    fn only_images_of_the_line_and_flavour_match() {
        let l61 = line_named("6.1");
        assert!(is_line_image(l61, None, "linux-image-6.1.0-56-amd64"));
        assert!(!is_line_image(l61, None, "linux-image-6.1.0-56-rt-amd64"));
        assert!(is_line_image(
            l61,
            Some("rt"),
            "linux-image-6.1.0-56-rt-amd64"
        ));
        assert!(!is_line_image(
            l61,
            None,
            "linux-image-6.1.0-56-cloud-amd64"
        ));
        assert!(!is_line_image(l61, None, "linux-image-6.1.0-56-amd64-dbg"));
        assert!(!is_line_image(
            l61,
            None,
            "linux-image-6.12.117+deb12-amd64"
        ));
        let l612 = line_named("6.12");
        assert!(is_line_image(
            l612,
            None,
            "linux-image-6.12.117+deb12-amd64"
        ));
        assert!(!is_line_image(
            l612,
            None,
            "linux-image-6.12.117+deb13-amd64"
        ));
        assert!(!is_line_image(
            l612,
            None,
            "linux-image-6.12.117+deb12-rt-amd64"
        ));
        assert!(!is_line_image(
            l612,
            None,
            "linux-image-6.12.117+deb12-amd64-unsigned"
        ));
        let l73 = line_named("7.3");
        assert!(is_line_image(l73, None, "linux-image-7.3.4+deb13-amd64"));
        assert!(is_line_image(
            l73,
            Some("rt"),
            "linux-image-7.3.4+deb13-rt-amd64"
        ));
        assert!(!is_line_image(l73, None, "linux-image-7.3-amd64"));
        let next = line_named("next");
        assert!(is_line_image(next, None, "linux-image-7.3-amd64"));
        assert!(is_line_image(next, Some("rt"), "linux-image-7.4-rt-amd64"));
        assert!(!is_line_image(next, None, "linux-image-7.3.4+deb13-amd64"));
        assert!(is_line_image(
            line_named("5.10"),
            None,
            "linux-image-5.10.0-46-amd64"
        ));
    }

    #[test]
    fn newest_abi_sorts_last() {
        let mut names = [
            "linux-image-6.1.0-56-amd64",
            "linux-image-6.1.0-9-amd64",
            "linux-image-6.1.0-47-amd64",
        ];
        names.sort_by_key(|n| natural_key(n));
        assert_eq!(names.last(), Some(&"linux-image-6.1.0-56-amd64"));
        let mut names = [
            "linux-image-7.2.12+deb13-amd64",
            "linux-image-7.2.6+deb13-amd64",
        ];
        names.sort_by_key(|n| natural_key(n));
        assert_eq!(names.last(), Some(&"linux-image-7.2.12+deb13-amd64"));
    }

    #[test]
    fn the_compiler_comes_from_kernelvariables() {
        let v73 = "override ARCH = x86\nCCACHE = ccache\n\
                   CC = $(if $(DEBIAN_KERNEL_USE_CCACHE),$(CCACHE)) $(CROSS_COMPILE)gcc-14\n\
                   override CROSS_COMPILE = x86_64-linux-gnu-\n";
        assert_eq!(
            parse_kernelvariables_cc(v73).as_deref(),
            Some("x86_64-linux-gnu-gcc-14")
        );
        assert_eq!(
            parse_kernelvariables_cc("CC = gcc-10\n").as_deref(),
            Some("gcc-10")
        );
        assert_eq!(parse_kernelvariables_cc("ARCH = x86\n"), None);
    }
}
