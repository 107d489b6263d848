//! Kernels: what `--kernel` names, the lines the lab knows, and turning a name into a bootable
//! image, its modules and a kbuild tree, from one of three sources: Debian's archive (`debian`,
//! downloaded once into the cache), the user's own (`local`), or the lab's debug build (`debug`).

pub mod debian;
pub mod debug;
pub mod local;

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use xshell::Shell;

use crate::error::usage_error;

pub use debian::{cached, in_suite_root, resolve_debian};

/// A Debian kernel line the lab knows how to fetch, and the toolchain its modules build with.
pub struct Line {
    /// The name users type: `6.1`.
    pub name: &'static str,
    /// Where it comes from, for `cargo lab kernels`.
    pub origin: &'static str,
    /// The shape of its ABI names (what follows `linux-image-`, before the flavour).
    pub(crate) shape: AbiShape,
    /// Where its modules are compiled.
    pub toolchain: Toolchain,
    /// A newer suite whose sparse parses this line's headers, for `cargo lab lint` (trixie's
    /// sparse 0.6.4 cannot parse 7.x's `__typeof_unqual__`; sid's 0.6.5 can).
    pub sparse_suite: Option<&'static str>,
}

#[derive(Clone, Copy)]
pub(crate) enum AbiShape {
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

#[cfg(test)]
impl Kernel {
    /// A stock 6.1 as unit tests need one: nothing on disk.
    pub fn for_tests() -> Kernel {
        Kernel {
            name: "6.1".into(),
            release: "6.1.0-56-amd64".into(),
            provenance: String::new(),
            boot: PathBuf::new(),
            kbuild: PathBuf::new(),
            make_vars: Vec::new(),
            build_root: None,
            compiler: String::new(),
            has_kfence: false,
            debug: false,
        }
    }
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
            } else if item == debug::NAME || item == "7.3-debug" {
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

/// Resolves a spec into a kernel, downloading a Debian kernel on first use (building the debug
/// kernel, installing its tools unless `no_install`).
pub fn resolve(sh: &Shell, spec: &KernelSpec, no_install: bool) -> Result<Kernel> {
    match spec {
        KernelSpec::Debian { line, flavour } => {
            resolve_debian(sh, line_named(line), *flavour, false)
        }
        KernelSpec::Env => local::resolve_env(),
        KernelSpec::Debug => debug::resolve(sh, no_install),
        KernelSpec::Tree(path) => local::resolve_tree(path),
    }
}

/// The line of a name a spec holds.
pub fn line_named(name: &str) -> &'static Line {
    LINES
        .iter()
        .find(|l| l.name == name)
        .expect("spec names a known line")
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

/// Resolves every spec, stopping at the first that cannot be resolved.
pub fn resolve_all(sh: &Shell, specs: &[KernelSpec], no_install: bool) -> Result<Vec<Kernel>> {
    specs.iter().map(|s| resolve(sh, s, no_install)).collect()
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
            crate::error::exit_code_of_error(&err),
            crate::error::EXIT_USAGE
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
}
