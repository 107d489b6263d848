//! Host-side builds: the modules against one kernel's kbuild tree, the clients, the suite binary.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use lab_facts::NELI_EXAMPLE;
use xshell::{cmd, Shell};

use crate::kernel::{self, Kernel};
use crate::{family_spec, project, toolchain};

/// The modules a kmod directory builds, in the order its Kbuild lists them (`obj-m += x.o`).
pub fn modules(kmod_dir: &Path) -> Result<Vec<String>> {
    let kbuild = fs::read_to_string(kmod_dir.join("Kbuild"))
        .with_context(|| format!("cannot read {}", kmod_dir.join("Kbuild").display()))?;
    Ok(parse_obj_m(&kbuild))
}

fn parse_obj_m(kbuild: &str) -> Vec<String> {
    kbuild
        .lines()
        .filter_map(|l| l.trim().strip_prefix("obj-m"))
        .filter_map(|rest| {
            rest.trim_start()
                .strip_prefix("+=")
                .or_else(|| rest.trim_start().strip_prefix(":="))
        })
        .flat_map(str::split_whitespace)
        .filter_map(|o| o.strip_suffix(".o"))
        .map(str::to_owned)
        .collect()
}

/// Builds `kmod/` against `kernel` in `target/lab/<kernel>/build` and returns the directory that
/// holds the `.ko` files. Extra `make` variables (e.g. `W=1`, `C=2`) come from `extra`.
pub fn module(sh: &Shell, kernel: &Kernel, extra: &[&str]) -> Result<PathBuf> {
    family_spec::check_for(kernel)?;
    module_from(sh, kernel, &project::root().join("kmod"), extra)
}

/// [`module`] for the modules of another directory (the self-check's broken module).
pub fn module_from(sh: &Shell, kernel: &Kernel, src: &Path, extra: &[&str]) -> Result<PathBuf> {
    kernel::check_kbuild(kernel)?;
    // Kbuild writes next to the sources, so build a copy: kmod/ plus the UAPI headers it includes
    // from ../userland/include.
    let build = project::kernel_dir(&kernel.name).join("build");
    if build.exists() {
        fs::remove_dir_all(&build)?;
    }
    let kmod = build.join("kmod");
    copy_dir(src, &kmod)?;
    copy_dir(
        &project::root().join("userland/include"),
        &build.join("userland/include"),
    )?;

    let kbuild = &kernel.kbuild;
    let vars = &kernel.make_vars;
    let out = match &kernel.build_root {
        None => cmd!(sh, "make -C {kbuild} M={kmod} {vars...} {extra...} modules")
            .ignore_status()
            .output()?,
        // The kernel's own Debian suite: its compiler and the glibc its kbuild tools need.
        Some(br) => toolchain::sandboxed(&br.root, &br.kernel_files, Some(&build))
            .arg("make")
            .arg("-C")
            .arg(kbuild)
            .arg(format!("M={}", kmod.display()))
            .args(vars)
            .args(extra)
            .arg("modules")
            .output()
            .context("cannot run bwrap (package bubblewrap) to build in the toolchain root")?,
    };
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    fs::write(build.join("make.log"), &log)?;
    if !out.status.success() {
        let meaning = family_spec::explain_build_failure(&log, kernel)
            .map(|m| format!("\n==> {m}"))
            .unwrap_or_default();
        bail!(
            "the module does not compile against {} ({}):\n{}{meaning}\n(full log: {})",
            kernel.name,
            kernel.release,
            compiler_messages(&log),
            build.join("make.log").display()
        );
    }
    for module in modules(&kmod)? {
        let ko = kmod.join(format!("{module}.ko"));
        if !ko.exists() {
            bail!(
                "make succeeded but {} is missing: kernels with BTF (6.12) need pahole, from the dwarves \
                 package; see {}",
                ko.display(),
                build.join("make.log").display()
            );
        }
    }
    Ok(kmod)
}

/// The lines of a build log worth showing: the compiler's errors and warnings with context.
fn compiler_messages(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let keep: Vec<&str> = lines
        .iter()
        .enumerate()
        .filter(|(i, l)| {
            l.contains("error")
                || l.contains("warning")
                || lines
                    .get(i.wrapping_sub(1))
                    .is_some_and(|p| p.contains("error:"))
        })
        .map(|(_, l)| *l)
        .take(40)
        .collect();
    if keep.is_empty() {
        lines
            .iter()
            .rev()
            .take(20)
            .rev()
            .copied()
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        keep.join("\n")
    }
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from).with_context(|| format!("cannot read {}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target)
                .with_context(|| format!("cannot copy {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// The Rust clients, by binary name.
const RUST_CLIENTS: &[&str] = &["gnl-rust", "nl-rust"];

/// The fuzzer and stress driver `cargo lab fuzz` runs in the guest, a binary of the tests package.
pub const FUZZER: &str = "gnl-fuzz";

/// The capture and annotator of `cargo lab tour` (and of the suite's tour test), from `nl-tour`.
pub const TOUR: &str = "gnl-tour";

/// Builds every client into `target/lab/bin` and returns that directory.
pub fn clients(sh: &Shell) -> Result<PathBuf> {
    let bin = project::bin_dir();
    fs::create_dir_all(&bin)?;
    cmd!(sh, "make -s -C userland OUT={bin}")
        .run()
        .context("the C clients do not build (see the errors above)")?;
    let packages: Vec<String> = RUST_CLIENTS
        .iter()
        .flat_map(|c| ["--package".to_owned(), (*c).to_owned()])
        .collect();
    cmd!(sh, "cargo build --release --quiet {packages...}")
        .run()
        .context("the Rust clients do not build (see the errors above)")?;
    // The guest-side reliability driver of `cargo lab fuzz`, from the tests package.
    cmd!(
        sh,
        "cargo build --release --quiet --package genl-lab-tests --bin {FUZZER}"
    )
    .run()
    .context("the fuzzer does not build (see the errors above)")?;
    cmd!(
        sh,
        "cargo build --release --quiet --package nl-tour --bin {TOUR}"
    )
    .run()
    .context("the tour does not build (see the errors above)")?;
    cmd!(
        sh,
        "cargo build --release --quiet --package gnl-rust --example {NELI_EXAMPLE}"
    )
    .run()
    .context("the neli example does not build (see the errors above)")?;
    let example = project::root()
        .join("target/release/examples")
        .join(NELI_EXAMPLE);
    install(&example, &bin.join(NELI_EXAMPLE))?;
    for client in RUST_CLIENTS.iter().chain([&FUZZER, &TOUR]) {
        install(
            &project::root().join("target/release").join(client),
            &bin.join(client),
        )?;
    }
    Ok(bin)
}

/// Copies a program into place by renaming a full copy over it: a guest of another lab run that
/// is executing the old file over 9p keeps reading the old file, where a copy in place would hand
/// it zeros (seen: a client killed by SIGSEGV on code bytes all 00).
fn install(built: &Path, to: &Path) -> Result<()> {
    let partial = to.with_extension("partial");
    fs::copy(built, &partial)
        .and_then(|_| fs::rename(&partial, to))
        .with_context(|| format!("cannot copy {} to {}", built.display(), to.display()))?;
    Ok(())
}

/// Builds the integration suite and returns the path of its test binary.
pub fn suite(sh: &Shell) -> Result<PathBuf> {
    let json = cmd!(
        sh,
        "cargo test --package genl-lab-tests --no-run --message-format=json-render-diagnostics"
    )
    .read()
    .context("the test suite does not build (see the errors above)")?;
    test_executable(&json).context("cargo built the suite but named no integration test binary")
}

/// Picks the integration test executable out of cargo's JSON messages.
fn test_executable(cargo_json: &str) -> Option<PathBuf> {
    cargo_json
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter(|m| {
            m["target"]["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "test"))
        })
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_integration_binary_is_found_among_cargo_messages() {
        let json = r#"{"reason":"compiler-artifact","target":{"kind":["lib"],"name":"genl_lab_tests"},"executable":null}
{"reason":"compiler-artifact","target":{"kind":["test"],"name":"suite"},"executable":"/p/target/debug/deps/suite-abc"}
{"reason":"build-finished","success":true}"#;
        assert_eq!(
            test_executable(json),
            Some(PathBuf::from("/p/target/debug/deps/suite-abc"))
        );
        assert_eq!(
            test_executable(r#"{"reason":"build-finished","success":true}"#),
            None
        );
    }

    #[test]
    fn kbuild_lists_the_modules() {
        let kbuild = "# c\nccflags-y := -I$(src)/x\nobj-m += gnl_foobar_xmpl.o\nobj-m := a.o b.o\n";
        assert_eq!(parse_obj_m(kbuild), ["gnl_foobar_xmpl", "a", "b"]);
        let ours = modules(&project::root().join("kmod")).unwrap();
        assert_eq!(ours.first().map(String::as_str), Some("gnl_foobar_xmpl"));
    }

    #[test]
    fn compiler_errors_are_picked_out_of_make_noise() {
        let log = "make: Entering directory\n  CC [M]  x.o\nx.c:3:1: error: expected ';'\n    3 | int x\n      | ^\nmake[2]: *** Error 1\n";
        let shown = compiler_messages(log);
        assert!(shown.contains("x.c:3:1: error: expected ';'"));
        assert!(shown.contains("3 | int x"));
        assert!(!shown.contains("Entering directory"));
    }
}
