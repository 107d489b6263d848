//! Kernels: what `--kernel` names, and turning that into a bootable image, its modules and a kbuild
//! tree. Debian kernels are downloaded once into the cache and reused offline afterwards.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use xshell::{cmd, Shell};

use crate::apt::{self, Apt};
use crate::project;
use crate::verdict::usage_error;

/// A Debian kernel line the lab knows how to fetch and build against with bookworm's gcc-12.
pub struct Line {
    /// The name users type: `6.1`.
    pub name: &'static str,
    /// Where it comes from, for `cargo lab kernels`.
    pub origin: &'static str,
    /// Suffix of the ABI name after `<line>.`, as a shape: `0-56` (`-N`) or `117+deb12`.
    abi_shape: AbiShape,
}

#[derive(Clone, Copy)]
enum AbiShape {
    /// `linux-image-6.1.0-56-amd64`
    DebianAbi,
    /// `linux-image-6.12.117+deb12-amd64`
    PlusDeb12,
}

/// The kernel lines in the matrix. The first is not the default; see [`DEFAULT_LINE`].
pub const LINES: &[Line] = &[
    Line {
        name: "5.10",
        origin: "Debian 11 bullseye (LTS)",
        abi_shape: AbiShape::DebianAbi,
    },
    Line {
        name: "6.1",
        origin: "Debian 12 bookworm",
        abi_shape: AbiShape::DebianAbi,
    },
    Line {
        name: "6.12",
        origin: "Debian 12 bookworm-security/backports (+deb12)",
        abi_shape: AbiShape::PlusDeb12,
    },
];

/// The kernel used when none is named: Debian bookworm's 6.1 LTS.
pub const DEFAULT_LINE: &str = "6.1";

/// What the user asked for with `--kernel`, before anything is downloaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelSpec {
    /// A Debian kernel line, e.g. `6.1`.
    Debian(&'static str),
    /// The kernel described by the GENL_LAB_KERNEL_* environment variables (the Nix dev shell).
    Env,
    /// A kernel tree the user built.
    Tree(PathBuf),
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
    /// Whether the kernel's config has KFENCE (for hardened boots).
    pub has_kfence: bool,
}

/// Parses `--kernel`: a name, a comma list, `all`, `env`, or a path; `None` is the default.
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
        let new: Vec<KernelSpec> = if item == "all" {
            LINES.iter().map(|l| KernelSpec::Debian(l.name)).collect()
        } else if item == "env" {
            vec![KernelSpec::Env]
        } else if let Some(line) = LINES.iter().find(|l| l.name == item) {
            vec![KernelSpec::Debian(line.name)]
        } else if item.contains('/') || Path::new(item).is_dir() {
            vec![KernelSpec::Tree(PathBuf::from(item))]
        } else {
            return Err(usage_error(format!(
                "unknown kernel '{item}': known kernels are {}, `all`, `env` (GENL_LAB_KERNEL_* variables) \
                 or the path of a kernel tree you built (see `cargo lab kernels`)",
                LINES.iter().map(|l| l.name).collect::<Vec<_>>().join(", ")
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

fn env_kernel_set() -> bool {
    std::env::var_os("GENL_LAB_KERNEL_IMAGE").is_some_and(|v| !v.is_empty())
}

/// Resolves a spec into a kernel, downloading a Debian kernel on first use.
pub fn resolve(sh: &Shell, spec: &KernelSpec) -> Result<Kernel> {
    match spec {
        KernelSpec::Debian(line) => resolve_debian(sh, line_named(line), false),
        KernelSpec::Env => resolve_env(),
        KernelSpec::Tree(path) => resolve_tree(path),
    }
}

fn line_named(name: &str) -> &'static Line {
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
    /// The extracted root: `boot/`, `lib/modules/`, `usr/src/`.
    pub root: PathBuf,
}

fn line_cache(line: &Line) -> Result<PathBuf> {
    Ok(project::cache_dir()?.join("kernels").join(line.name))
}

/// The kernel cached for a line, if a complete download is there.
pub fn cached(line: &Line) -> Result<Option<CachedKernel>> {
    let record = line_cache(line)?.join("current.json");
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
    Ok(cached.root.join("boot").exists().then_some(cached))
}

/// Resolves a Debian line: the cached kernel, or (first run, or `refresh`) the newest in the archive.
pub fn resolve_debian(sh: &Shell, line: &Line, refresh: bool) -> Result<Kernel> {
    let current = cached(line)?;
    let cached = match current {
        Some(c) if !refresh => c,
        current => {
            let fetched = fetch_debian(sh, line)?;
            if let Some(old) = current.filter(|old| old.abi != fetched.abi) {
                eprintln!(
                    "==> [{}] {} replaces {} (the old one stays in the cache)",
                    line.name, fetched.abi, old.abi
                );
            }
            fetched
        }
    };
    kernel_from_cache(line, &cached)
}

fn kernel_from_cache(line: &Line, c: &CachedKernel) -> Result<Kernel> {
    let image = c.root.join("boot").join(format!("vmlinuz-{}", c.abi));
    let kbuild = c
        .root
        .join("usr/src")
        .join(format!("linux-headers-{}", c.abi));
    let config = fs::read_to_string(kbuild.join(".config")).unwrap_or_default();
    Ok(Kernel {
        name: line.name.to_owned(),
        release: c.abi.clone(),
        provenance: c.packages.join(", "),
        make_vars: compiler_override(&kbuild)?,
        has_kfence: config.lines().any(|l| l == "CONFIG_KFENCE=y"),
        boot: image,
        kbuild,
    })
}

/// Debian's kbuild names the compiler the kernel was built with (gcc-10 for 5.10); where that one
/// is missing, build with the system `gcc` (bookworm's gcc-12 builds 5.10, 6.1 and 6.12 modules).
fn compiler_override(kbuild: &Path) -> Result<Vec<String>> {
    let vars = fs::read_to_string(kbuild.join(".kernelvariables")).unwrap_or_default();
    let wanted = vars
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("CC ")
                .and_then(|v| v.trim_start().strip_prefix('='))
        })
        .and_then(|v| v.split_whitespace().last())
        .map(|cc| cc.trim_start_matches("$(CROSS_COMPILE)").to_owned());
    match wanted {
        Some(cc) if which(&cc).is_none() => Ok(vec!["CC=gcc".to_owned()]),
        _ => Ok(Vec::new()),
    }
}

/// The path of a program on PATH.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// Whether an image package name is a plain amd64 kernel of this line (not rt, cloud, dbg...).
fn is_line_image(line: &Line, package: &str) -> bool {
    let Some(middle) = package
        .strip_prefix("linux-image-")
        .and_then(|p| p.strip_prefix(line.name))
        .and_then(|p| p.strip_prefix('.'))
        .and_then(|p| p.strip_suffix("-amd64"))
    else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match line.abi_shape {
        AbiShape::DebianAbi => middle
            .split_once('-')
            .is_some_and(|(a, b)| digits(a) && digits(b)),
        AbiShape::PlusDeb12 => middle.strip_suffix("+deb12").is_some_and(digits),
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

fn fetch_debian(sh: &Shell, line: &Line) -> Result<CachedKernel> {
    let cache = project::cache_dir()?;
    let apt = Apt::new(&cache)?;
    eprintln!(
        "==> [{}] looking up the newest {} kernel in Debian's archive",
        line.name, line.origin
    );
    apt.update(sh).context(
        "cannot reach Debian's archive to find the kernel (a second run uses the cache)",
    )?;
    let mut images: Vec<String> = apt
        .search_names(
            sh,
            &format!("^linux-image-{}\\.", line.name.replace('.', "\\.")),
        )?
        .into_iter()
        .filter(|p| is_line_image(line, p))
        .collect();
    images.sort_by_key(|p| natural_key(p));
    let image_name = images
        .last()
        .with_context(|| format!("Debian's archive lists no {} kernel image", line.name))?;
    let abi = image_name.trim_start_matches("linux-image-").to_owned();

    let image = apt.show(sh, image_name)?;
    let headers = apt.show(sh, &format!("linux-headers-{abi}"))?;
    let mut packages = vec![image, headers.clone()];
    for prefix in ["linux-headers-", "linux-kbuild-"] {
        for dep in apt::depends_starting_with(&headers.depends, prefix) {
            packages.push(apt.show(sh, dep)?);
        }
    }
    let total: u64 = packages.iter().map(|p| p.size).sum();
    eprintln!(
        "==> [{}] downloading {} ({:.1} MB): {}",
        line.name,
        abi,
        total as f64 / 1e6,
        packages
            .iter()
            .map(|p| format!("{} {}", p.name, p.version))
            .collect::<Vec<_>>()
            .join(", ")
    );

    let dir = line_cache(line)?.join(&abi);
    let debs = apt.download(sh, &packages, &dir.join("debs.partial"))?;
    // Extract into a scratch directory and rename it into place last, so an interrupted run never
    // leaves a half-extracted kernel that looks complete.
    let scratch = dir.join("root.partial");
    if scratch.exists() {
        fs::remove_dir_all(&scratch)?;
    }
    fs::create_dir_all(&scratch)?;
    eprintln!("==> [{}] extracting {} packages", line.name, debs.len());
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
        line: line.name.to_owned(),
        abi,
        packages: packages
            .iter()
            .map(|p| format!("{} {}", p.name, p.version))
            .collect(),
        root,
    };
    fs::write(
        line_cache(line)?.join("current.json"),
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
    let fixed = text.replace(
        "include /usr/src/",
        &format!("include {}/usr/src/", final_root.display()),
    );
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
        has_kfence: config.lines().any(|l| l == "CONFIG_KFENCE=y"),
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
        has_kfence: config.lines().any(|l| l == "CONFIG_KFENCE=y"),
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

    #[test]
    fn default_is_6_1_unless_the_environment_names_a_kernel() {
        assert_eq!(
            parse_specs_with(None, false).unwrap(),
            [KernelSpec::Debian("6.1")]
        );
        assert_eq!(parse_specs_with(None, true).unwrap(), [KernelSpec::Env]);
        assert_eq!(
            parse_specs_with(Some("5.10"), true).unwrap(),
            [KernelSpec::Debian("5.10")]
        );
    }

    #[test]
    fn lists_and_all_expand_without_duplicates() {
        assert_eq!(
            parse_specs(Some("6.1, 5.10,6.1")).unwrap(),
            [KernelSpec::Debian("6.1"), KernelSpec::Debian("5.10")]
        );
        assert_eq!(
            parse_specs(Some("all")).unwrap(),
            [
                KernelSpec::Debian("5.10"),
                KernelSpec::Debian("6.1"),
                KernelSpec::Debian("6.12")
            ]
        );
        assert_eq!(parse_specs(Some("env")).unwrap(), [KernelSpec::Env]);
        assert_eq!(
            parse_specs(Some("./linux")).unwrap(),
            [KernelSpec::Tree("./linux".into())]
        );
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let err = parse_specs(Some("6.6")).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("unknown kernel '6.6'") && msg.contains("5.10, 6.1, 6.12"),
            "{msg}"
        );
        assert_eq!(
            crate::verdict::exit_code_of_error(&err),
            crate::verdict::EXIT_USAGE
        );
        assert!(parse_specs(Some(" , ")).is_err());
    }

    #[test]
    fn only_plain_images_of_the_line_match() {
        let l61 = line_named("6.1");
        assert!(is_line_image(l61, "linux-image-6.1.0-56-amd64"));
        assert!(!is_line_image(l61, "linux-image-6.1.0-56-rt-amd64"));
        assert!(!is_line_image(l61, "linux-image-6.1.0-56-cloud-amd64"));
        assert!(!is_line_image(l61, "linux-image-6.1.0-56-amd64-dbg"));
        assert!(!is_line_image(l61, "linux-image-6.12.117+deb12-amd64"));
        let l612 = line_named("6.12");
        assert!(is_line_image(l612, "linux-image-6.12.117+deb12-amd64"));
        assert!(!is_line_image(l612, "linux-image-6.12.117+deb12-rt-amd64"));
        assert!(!is_line_image(
            l612,
            "linux-image-6.12.117+deb12-amd64-unsigned"
        ));
        assert!(is_line_image(
            line_named("5.10"),
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
            "linux-image-6.12.117+deb12-amd64",
            "linux-image-6.12.48+deb12-amd64",
        ];
        names.sort_by_key(|n| natural_key(n));
        assert_eq!(names.last(), Some(&"linux-image-6.12.117+deb12-amd64"));
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
