//! Kernels: what `--kernel` names, and turning that into a bootable image, its modules and a kbuild
//! tree. Debian kernels are downloaded once into the cache and reused offline afterwards.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use xshell::{cmd, Shell};

use crate::apt::{self, Apt};
use crate::verdict::usage_error;
use crate::{debug_kernel, project, toolchain};

/// A Debian kernel line the lab knows how to fetch, and the toolchain its modules build with.
pub struct Line {
    /// The name users type: `6.1`.
    pub name: &'static str,
    /// Where it comes from, for `cargo lab kernels`.
    pub origin: &'static str,
    /// The shape of its ABI names (what follows `linux-image-`, before the flavour).
    shape: AbiShape,
    /// Where its modules are compiled.
    pub toolchain: Toolchain,
    /// A newer suite whose sparse parses this line's headers, for `cargo lab lint` (trixie's
    /// sparse 0.6.4 cannot parse 7.x's `__typeof_unqual__`; sid's 0.6.5 can).
    pub sparse_suite: Option<&'static str>,
}

#[derive(Clone, Copy)]
enum AbiShape {
    /// `6.1.0-56`: `<line>.0-<abi>`, Debian's numbering up to bookworm.
    DebianAbi,
    /// `6.12.117+deb12`: `<line>.<patch>` and a fixed suffix naming the Debian release.
    Patch(&'static str),
    /// `7.3`: experimental's release candidates, named by the line alone.
    ReleaseCandidate,
}

/// Where a line's modules are compiled: the host's own gcc, or a Debian root made for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Toolchain {
    /// The host's compiler and make (bookworm's gcc-12 builds 5.10, 6.1 and 6.12 modules).
    Host,
    /// A minimal root of this Debian suite (made once with mmdebstrap, cached): its kbuild host
    /// tools need that suite's glibc and its compiler (gcc-14, gcc-16) is not in bookworm.
    Root(&'static str),
}

/// The kernel flavours Debian builds besides the generic one, as `--kernel 7.3-rt` names them.
pub const FLAVOURS: &[&str] = &["rt", "cloud"];

/// The kernel lines, oldest first. `next` is experimental's release candidate and counts only
/// while it is newer than the newest release (see [`resolve_debian`]).
pub const LINES: &[Line] = &[
    Line {
        name: "5.10",
        origin: "Debian 11 bullseye (LTS)",
        shape: AbiShape::DebianAbi,
        toolchain: Toolchain::Host,
        sparse_suite: None,
    },
    Line {
        name: "6.1",
        origin: "Debian 12 bookworm",
        shape: AbiShape::DebianAbi,
        toolchain: Toolchain::Host,
        sparse_suite: None,
    },
    Line {
        name: "6.12",
        origin: "Debian 12 bookworm-security/backports (+deb12)",
        shape: AbiShape::Patch("+deb12"),
        toolchain: Toolchain::Host,
        sparse_suite: None,
    },
    Line {
        name: "7.2",
        origin: "Debian 13 trixie-backports (+deb13)",
        shape: AbiShape::Patch("+deb13"),
        toolchain: Toolchain::Root("trixie"),
        sparse_suite: Some("sid"),
    },
    Line {
        name: "7.3",
        origin: "Debian 13 trixie-backports (+deb13)",
        shape: AbiShape::Patch("+deb13"),
        toolchain: Toolchain::Root("trixie"),
        sparse_suite: Some("sid"),
    },
    Line {
        name: "next",
        origin: "Debian experimental (release candidates)",
        shape: AbiShape::ReleaseCandidate,
        toolchain: Toolchain::Root("sid"),
        sparse_suite: None,
    },
];

/// The kernel used when none is named: Debian bookworm's 6.1 LTS.
pub const DEFAULT_LINE: &str = "6.1";

/// Named groups of lines.
const GROUPS: &[(&str, &[&str], &str)] = &[
    ("lts", &["5.10", "6.1", "6.12"], "the long-term lines"),
    ("latest", &["7.3"], "the newest release line"),
    (
        "all",
        &["5.10", "6.1", "6.12", "7.2", "7.3"],
        "every release line",
    ),
];

/// Lines Debian lists (or listed) that no module can be built for, and the line to use instead.
const UNBUILDABLE: &[(&str, &str, &str)] = &[
    ("4.9", "5.10", "Debian has dropped it (stretch)"),
    ("4.19", "5.10", "Debian has dropped it (buster)"),
    (
        "6.16",
        "7.2",
        "trixie-backports lists its images without headers or kbuild",
    ),
    (
        "6.17",
        "7.2",
        "trixie-backports lists its images without headers or kbuild",
    ),
    (
        "6.18",
        "7.2",
        "trixie-backports lists its images without headers or kbuild",
    ),
    (
        "6.19",
        "7.2",
        "trixie-backports lists its images without headers or kbuild",
    ),
    (
        "7.0",
        "7.2",
        "trixie-backports lists its images without headers or kbuild",
    ),
    (
        "7.1",
        "7.2",
        "trixie-backports lists its images without headers or kbuild",
    ),
];

/// What the user asked for with `--kernel`, before anything is downloaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelSpec {
    /// A Debian kernel line, e.g. `6.1`, in a flavour (`rt`, `cloud`) or the generic one.
    Debian {
        line: &'static str,
        flavour: Option<&'static str>,
    },
    /// The kernel described by the GENL_LAB_KERNEL_* environment variables (the Nix dev shell).
    Env,
    /// The lab's debug kernel, built from Debian's source (see `debug_kernel`).
    Debug,
    /// A kernel tree the user built.
    Tree(PathBuf),
}

impl KernelSpec {
    fn debian(line: &'static str) -> KernelSpec {
        KernelSpec::Debian {
            line,
            flavour: None,
        }
    }
}

/// The name of a line in a flavour: `7.3`, `7.3-rt`.
pub fn flavoured_name(line: &str, flavour: Option<&str>) -> String {
    match flavour {
        Some(f) => format!("{line}-{f}"),
        None => line.to_owned(),
    }
}

/// A kernel ready to build against and boot.
#[derive(Debug, Clone)]
pub struct Kernel {
    /// Name used in output and under `target/lab/`.
    pub name: String,
    /// `uname -r` of the kernel: what the module's vermagic must say.
    pub release: String,
    /// Exact provenance, e.g. the Debian package versions.
    pub provenance: String,
    /// What `vng -r` boots: an image inside a root that has `lib/modules/<release>`, or a tree.
    pub boot: PathBuf,
    /// The kbuild tree for `make -C <kbuild> M=...`.
    pub kbuild: PathBuf,
    /// Extra make variables, e.g. `CC=gcc` when the kernel's own compiler is not installed.
    pub make_vars: Vec<String>,
    /// The root `make` runs in (`None`: the host), and the kernel's files it must see there.
    pub build_root: Option<BuildRoot>,
    /// The compiler the module is built with, as `<cc> --version` names it.
    pub compiler: String,
    /// Whether the kernel's config has KFENCE (for hardened boots).
    pub has_kfence: bool,
    /// The lab's debug kernel (KASAN needs more memory; the fuzzer injects faults there).
    pub debug: bool,
}

/// A toolchain root the module is built in, and the host directory holding the kernel's kbuild
/// tree, which the build sees at the same path.
#[derive(Debug, Clone)]
pub struct BuildRoot {
    pub root: PathBuf,
    pub kernel_files: PathBuf,
}

/// Parses `--kernel`: names, groups, a comma list, `env`, or a path; `None` is the default.
pub fn parse_specs(arg: Option<&str>) -> Result<Vec<KernelSpec>> {
    parse_specs_with(arg, env_kernel_set())
}

fn parse_specs_with(arg: Option<&str>, env_kernel: bool) -> Result<Vec<KernelSpec>> {
    let arg = match arg.map(str::trim).filter(|a| !a.is_empty()) {
        Some(arg) => arg.to_owned(),
        None if env_kernel => "env".to_owned(),
        None => DEFAULT_LINE.to_owned(),
    };
    let mut specs = Vec::new();
    for item in arg.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let new: Vec<KernelSpec> =
            if let Some((_, lines, _)) = GROUPS.iter().find(|(g, _, _)| *g == item) {
                lines
                    .iter()
                    .map(|l| KernelSpec::debian(line_named(l).name))
                    .collect()
            } else if item == "env" {
                vec![KernelSpec::Env]
            } else if item == debug_kernel::NAME || item == "7.3-debug" {
                vec![KernelSpec::Debug]
            } else if let Some(spec) = parse_debian(item) {
                vec![spec]
            } else if item.contains('/') || Path::new(item).is_dir() {
                vec![KernelSpec::Tree(PathBuf::from(item))]
            } else if let Some((_, instead, why)) = UNBUILDABLE.iter().find(|(n, _, _)| {
                *n == item || item.strip_prefix(n).is_some_and(|r| r.starts_with('-'))
            }) {
                return Err(usage_error(format!(
                "no module can be built for kernel '{item}': {why}; the nearest line the lab can \
                 build for is {instead} (`--kernel {instead}`)"
            )));
            } else {
                return Err(usage_error(format!(
                "unknown kernel '{item}': known kernels are {} (each also as -{}), the groups {}, \
                 `debug` (the lab's KASAN/lockdep/kmemleak build of 7.3), `env` \
                 (GENL_LAB_KERNEL_* variables) or the path of a kernel tree you built \
                 (see `cargo lab kernels`)",
                LINES.iter().map(|l| l.name).collect::<Vec<_>>().join(", "),
                FLAVOURS.join(" or -"),
                GROUPS.iter().map(|g| g.0).collect::<Vec<_>>().join(", "),
            )));
            };
        for spec in new {
            if !specs.contains(&spec) {
                specs.push(spec);
            }
        }
    }
    if specs.is_empty() {
        return Err(usage_error(
            "--kernel is empty: name at least one kernel (see `cargo lab kernels`)",
        ));
    }
    Ok(specs)
}

/// `7.3`, `7.3-rt`, `next-cloud`: a line, optionally in a flavour.
fn parse_debian(item: &str) -> Option<KernelSpec> {
    let (line, flavour) = match item.rsplit_once('-') {
        Some((line, f)) => (line, Some(*FLAVOURS.iter().find(|x| **x == f)?)),
        None => (item, None),
    };
    let line = LINES.iter().find(|l| l.name == line)?;
    Some(KernelSpec::Debian {
        line: line.name,
        flavour,
    })
}

fn env_kernel_set() -> bool {
    std::env::var_os("GENL_LAB_KERNEL_IMAGE").is_some_and(|v| !v.is_empty())
}

/// Resolves a spec into a kernel, downloading a Debian kernel on first use.
pub fn resolve(sh: &Shell, spec: &KernelSpec) -> Result<Kernel> {
    match spec {
        KernelSpec::Debian { line, flavour } => {
            resolve_debian(sh, line_named(line), *flavour, false)
        }
        KernelSpec::Env => resolve_env(),
        KernelSpec::Debug => debug_kernel::resolve(sh),
        KernelSpec::Tree(path) => resolve_tree(path),
    }
}

pub fn line_named(name: &str) -> &'static Line {
    LINES
        .iter()
        .find(|l| l.name == name)
        .expect("spec names a known line")
}

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
                Some(cc) if crate::project::which(&cc).is_none() => {
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

/// The first line of `<cc> --version` on the host, e.g. `gcc (Debian 12.2.0-14) 12.2.0`.
pub fn compiler_version(cc: &str) -> String {
    std::process::Command::new(cc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|v| v.lines().next().map(str::to_owned))
        .unwrap_or_else(|| format!("{cc} (not found)"))
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

/// A kernel given by environment variables, as the Nix dev shell sets them.
fn resolve_env() -> Result<Kernel> {
    let var = |name: &str| -> Result<PathBuf> {
        let value = std::env::var_os(name).filter(|v| !v.is_empty()).ok_or_else(|| {
            usage_error(format!(
                "--kernel env needs {name}: set GENL_LAB_KERNEL_IMAGE (bzImage), GENL_LAB_KERNEL_MODULES \
                 (.../lib/modules/<release>) and GENL_LAB_KERNEL_BUILD (kbuild tree), as the Nix dev shell does"
            ))
        })?;
        let path = PathBuf::from(value);
        if !path.exists() {
            return Err(usage_error(format!(
                "{name}={} does not exist",
                path.display()
            )));
        }
        Ok(path)
    };
    let image = var("GENL_LAB_KERNEL_IMAGE")?;
    let modules = var("GENL_LAB_KERNEL_MODULES")?;
    let kbuild = var("GENL_LAB_KERNEL_BUILD")?;
    let release = modules
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned();
    let name = std::env::var("GENL_LAB_KERNEL_NAME")
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| format!("env-{release}"));
    // vng finds the modules next to the image (<root>/boot/..., <root>/lib/modules/<release>),
    // so give it such a root made of links.
    let boot_root = project::kernel_dir(&name).join("boot-root");
    if boot_root.exists() {
        fs::remove_dir_all(&boot_root)?;
    }
    fs::create_dir_all(boot_root.join("boot"))?;
    fs::create_dir_all(boot_root.join("lib/modules"))?;
    let boot = boot_root.join("boot").join(format!("vmlinuz-{release}"));
    std::os::unix::fs::symlink(&image, &boot)?;
    std::os::unix::fs::symlink(&modules, boot_root.join("lib/modules").join(&release))?;
    let config = fs::read_to_string(kbuild.join(".config")).unwrap_or_default();
    Ok(Kernel {
        provenance: format!(
            "image {}, modules {}, kbuild {}",
            image.display(),
            modules.display(),
            kbuild.display()
        ),
        name,
        release,
        boot,
        kbuild,
        make_vars: Vec::new(),
        build_root: None,
        compiler: compiler_version("gcc"),
        has_kfence: config.lines().any(|l| l == "CONFIG_KFENCE=y"),
        debug: false,
    })
}

/// A kernel tree the user built with `make` (and `make modules`).
fn resolve_tree(path: &Path) -> Result<Kernel> {
    let tree = path
        .canonicalize()
        .map_err(|e| usage_error(format!("kernel path {}: {e}", path.display())))?;
    let image = tree.join("arch/x86/boot/bzImage");
    if !tree.join(".config").is_file() || !image.is_file() {
        return Err(usage_error(format!(
            "{} is not a built kernel tree: expected .config and arch/x86/boot/bzImage (run `make` and \
             `make modules` there), or describe a kernel with GENL_LAB_KERNEL_* and use --kernel env",
            tree.display()
        )));
    }
    let release = fs::read_to_string(tree.join("include/config/kernel.release"))
        .map(|r| r.trim().to_owned())
        .map_err(|_| {
            usage_error(format!(
                "{}: include/config/kernel.release is missing: build the tree first",
                tree.display()
            ))
        })?;
    let name = format!(
        "tree-{}",
        tree.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("kernel")
    );
    let config = fs::read_to_string(tree.join(".config"))?;
    Ok(Kernel {
        name,
        provenance: format!("tree {}", tree.display()),
        release,
        boot: tree.clone(),
        kbuild: tree,
        make_vars: Vec::new(),
        build_root: None,
        compiler: compiler_version("gcc"),
        has_kfence: config.lines().any(|l| l == "CONFIG_KFENCE=y"),
        debug: false,
    })
}

/// Resolves every spec, stopping at the first that cannot be resolved.
pub fn resolve_all(sh: &Shell, specs: &[KernelSpec]) -> Result<Vec<Kernel>> {
    specs.iter().map(|s| resolve(sh, s)).collect()
}

/// Fails unless `tree` looks like a kbuild tree, naming what is missing.
pub fn check_kbuild(kernel: &Kernel) -> Result<()> {
    if !kernel.kbuild.join("Makefile").is_file() {
        bail!(
            "{}: no kbuild tree at {} (Makefile missing)",
            kernel.name,
            kernel.kbuild.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn debian(line: &'static str) -> KernelSpec {
        KernelSpec::debian(line)
    }

    #[test]
    fn default_is_6_1_unless_the_environment_names_a_kernel() {
        assert_eq!(parse_specs_with(None, false).unwrap(), [debian("6.1")]);
        assert_eq!(parse_specs_with(None, true).unwrap(), [KernelSpec::Env]);
        assert_eq!(
            parse_specs_with(Some("5.10"), true).unwrap(),
            [debian("5.10")]
        );
    }

    #[test]
    fn lists_and_groups_expand_without_duplicates() {
        assert_eq!(
            parse_specs(Some("6.1, 5.10,6.1")).unwrap(),
            [debian("6.1"), debian("5.10")]
        );
        assert_eq!(
            parse_specs(Some("all")).unwrap(),
            ["5.10", "6.1", "6.12", "7.2", "7.3"].map(debian)
        );
        assert_eq!(
            parse_specs(Some("lts,latest,6.1")).unwrap(),
            ["5.10", "6.1", "6.12", "7.3"].map(debian)
        );
        assert_eq!(parse_specs(Some("env")).unwrap(), [KernelSpec::Env]);
        assert_eq!(
            parse_specs(Some("./linux")).unwrap(),
            [KernelSpec::Tree("./linux".into())]
        );
    }

    #[test]
    fn flavours_are_a_suffix_of_any_line() {
        assert_eq!(
            parse_specs(Some("7.3-rt,next-cloud")).unwrap(),
            [
                KernelSpec::Debian {
                    line: "7.3",
                    flavour: Some("rt")
                },
                KernelSpec::Debian {
                    line: "next",
                    flavour: Some("cloud")
                }
            ]
        );
        assert_eq!(flavoured_name("7.3", Some("rt")), "7.3-rt");
        assert!(parse_specs(Some("7.3-dbg")).is_err());
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let err = parse_specs(Some("6.6")).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("unknown kernel '6.6'")
                && msg.contains("5.10, 6.1, 6.12, 7.2, 7.3, next")
                && msg.contains("lts, latest, all"),
            "{msg}"
        );
        assert_eq!(
            crate::verdict::exit_code_of_error(&err),
            crate::verdict::EXIT_USAGE
        );
        assert!(parse_specs(Some(" , ")).is_err());
    }

    #[test]
    fn dropped_and_headerless_lines_name_their_replacement() {
        let msg = parse_specs(Some("7.1")).unwrap_err().to_string();
        assert!(
            msg.contains("no module can be built for kernel '7.1'")
                && msg.contains("without headers")
                && msg.contains("--kernel 7.2"),
            "{msg}"
        );
        let msg = parse_specs(Some("4.19-rt")).unwrap_err().to_string();
        assert!(msg.contains("dropped") && msg.contains("5.10"), "{msg}");
    }

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

    #[test]
    fn a_directory_that_is_no_kernel_tree_is_a_usage_error() {
        let err = resolve_tree(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap_err();
        assert!(
            err.to_string().contains("is not a built kernel tree"),
            "{err}"
        );
        assert_eq!(
            crate::verdict::exit_code_of_error(&err),
            crate::verdict::EXIT_USAGE
        );
    }
}
