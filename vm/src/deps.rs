//! Host tools the lab needs, and installing the missing ones (apt and pip), saying what and why.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::project::which;

/// How to tell whether something is there.
#[derive(Clone, Copy)]
enum Probe {
    /// A program on PATH.
    Program(&'static str),
    /// A file that must exist.
    File(&'static str),
    /// A pkg-config module.
    PkgConfig(&'static str),
}

/// One requirement: how to probe for it, the Debian package that provides it, and why we need it.
struct Need {
    probe: Probe,
    package: &'static str,
    why: &'static str,
}

const fn need(probe: Probe, package: &'static str, why: &'static str) -> Need {
    Need {
        probe,
        package,
        why,
    }
}

/// What booting and testing need. virtme-ng itself comes from pip (see [`ensure`]).
const VM_NEEDS: &[Need] = &[
    need(
        Probe::Program("qemu-system-x86_64"),
        "qemu-system-x86",
        "runs the VM",
    ),
    need(
        Probe::Program("busybox"),
        "busybox-static",
        "virtme-ng's initramfs",
    ),
    need(
        Probe::Program("depmod"),
        "kmod",
        "virtme-ng indexes the kernel's modules",
    ),
    need(
        Probe::Program("udevadm"),
        "udev",
        "virtme-ng's channel for the guest command's output",
    ),
    need(
        Probe::Program("file"),
        "file",
        "virtme-ng reads the kernel image's version",
    ),
    need(
        Probe::Program("dpkg-deb"),
        "dpkg",
        "unpacks the downloaded Debian kernels",
    ),
    need(
        Probe::File("/usr/share/keyrings/debian-archive-keyring.gpg"),
        "debian-archive-keyring",
        "verifies the downloaded kernels",
    ),
    need(
        Probe::Program("mmdebstrap"),
        "mmdebstrap",
        "makes the Debian root that modules for 7.x kernels are built in",
    ),
    need(
        Probe::Program("bwrap"),
        "bubblewrap",
        "builds modules inside that root without root privileges",
    ),
    need(Probe::Program("make"), "make", "kbuild"),
    need(
        Probe::Program("gcc"),
        "gcc",
        "compiles the module and the C clients",
    ),
    need(
        Probe::Program("pahole"),
        "dwarves",
        "BTF for modules on 6.12 (without it kbuild deletes the .ko)",
    ),
    need(
        Probe::Program("pkg-config"),
        "pkg-config",
        "finds libnl for the libnl client",
    ),
    need(
        Probe::PkgConfig("libnl-genl-3.0"),
        "libnl-genl-3-dev libnl-3-dev",
        "the libnl client",
    ),
    need(
        Probe::Program("strace"),
        "strace",
        "the benchmarks count system calls in the guest",
    ),
    need(
        Probe::Program("tcpdump"),
        "tcpdump",
        "the tour (and its test) capture netlink on an nlmon device in the guest",
    ),
    need(
        Probe::File("/usr/lib/python3/dist-packages/yaml/__init__.py"),
        "python3-yaml",
        "the kernel's YNL tools read the family's spec",
    ),
    need(
        Probe::File("/usr/lib/python3/dist-packages/jsonschema/__init__.py"),
        "python3-jsonschema",
        "the YNL tools validate the spec against the kernel's schema",
    ),
];

/// What `cargo lab lint` needs besides the VM tools.
const LINT_NEEDS: &[Need] = &[
    need(
        Probe::Program("sparse"),
        "sparse",
        "the module's semantic checks (C=2)",
    ),
    need(
        Probe::Program("shellcheck"),
        "shellcheck",
        "checks the shell scripts",
    ),
];

/// What `--gdb` needs.
const GDB_NEEDS: &[Need] = &[need(
    Probe::Program("gdb"),
    "gdb",
    "--gdb attaches it to the guest's stub",
)];

/// What building the debug kernel (and its coverage report) needs besides gcc and make.
const KERNEL_BUILD_NEEDS: &[Need] = &[
    need(
        Probe::Program("flex"),
        "flex",
        "the kernel's Kconfig and dtc lexers",
    ),
    need(
        Probe::Program("bison"),
        "bison",
        "the kernel's Kconfig parser",
    ),
    need(
        Probe::Program("bc"),
        "bc",
        "the kernel's timeconst generator",
    ),
    need(
        Probe::File("/usr/include/gelf.h"),
        "libelf-dev",
        "objtool reads the kernel's objects",
    ),
    need(
        Probe::File("/usr/include/openssl/ssl.h"),
        "libssl-dev",
        "the kernel's build tools (sign-file, extract-cert)",
    ),
    need(
        Probe::Program("genhtml"),
        "lcov",
        "the coverage report of the modules",
    ),
];

fn present(probe: Probe) -> bool {
    match probe {
        Probe::Program(p) => {
            which(p).is_some()
                || Path::new("/usr/sbin").join(p).exists()
                || Path::new("/sbin").join(p).exists()
        }
        Probe::File(f) => Path::new(f).exists(),
        Probe::PkgConfig(m) => Command::new("pkg-config")
            .args(["--exists", m])
            .status()
            .is_ok_and(|s| s.success()),
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn sudo() -> &'static str {
    if is_root() {
        ""
    } else {
        "sudo "
    }
}

/// Set by the lab's image (Containerfile): everything must already be there.
const IN_CONTAINER: &str = "GENL_LAB_IN_CONTAINER";

/// Inside the lab's image nothing is ever installed: a missing tool is a bug in the image.
fn refuse_in_container(what: &[&str]) -> Result<()> {
    if std::env::var_os(IN_CONTAINER).is_some_and(|v| !v.is_empty() && v != "0") {
        bail!(
            "the lab's container image lacks {}: this is a bug in the image, not in your set-up; \
             add it to the Containerfile, rebuild with `vm/container build --force`, and report it",
            what.join(", ")
        );
    }
    Ok(())
}

/// Makes sure the VM tools are there: installs what is missing unless `no_install`, in which case
/// it fails with the exact command to run.
pub fn ensure(no_install: bool) -> Result<()> {
    let missing: Vec<&Need> = VM_NEEDS.iter().filter(|n| !present(n.probe)).collect();
    let packages: Vec<&str> = missing.iter().flat_map(|n| n.package.split(' ')).collect();
    // pip puts vng in the user's script directory, often not on PATH: look there first, so a
    // second run finds it instead of asking pip again.
    if which("vng").is_none() {
        put_user_scripts_on_path()?;
    }
    let vng_missing = which("vng").is_none();
    if packages.is_empty() && !vng_missing {
        return Ok(());
    }
    let mut what = packages.clone();
    if vng_missing {
        what.push("virtme-ng (vng)");
    }
    refuse_in_container(&what)?;
    let apt_cmd = format!(
        "{}apt-get install -y --no-install-recommends {}",
        sudo(),
        packages.join(" ")
    );
    let pip_cmd = "python3 -m pip install --user virtme-ng".to_owned();
    if no_install {
        let mut msg = String::from(
            "missing tools, and installing is turned off (--no-install / GENL_LAB_NO_INSTALL):\n",
        );
        for n in &missing {
            msg += &format!("  - {} ({})\n", n.package, n.why);
        }
        if vng_missing {
            msg += "  - virtme-ng (boots the kernels)\n";
        }
        msg += "install them with:\n";
        if !packages.is_empty() {
            msg += &format!("  {}apt-get update && {apt_cmd}\n", sudo());
        }
        if vng_missing {
            msg += &format!("  {pip_cmd}\n");
        }
        bail!(msg.trim_end().to_owned());
    }
    if !packages.is_empty() {
        eprintln!(
            "==> installing missing tools with apt-get{}:",
            if is_root() { "" } else { " (sudo)" }
        );
        for n in &missing {
            eprintln!("    {}: {}", n.package, n.why);
        }
        apt_get(&["update", "-q"])?;
        apt_get(&[&["install", "-y", "--no-install-recommends"][..], &packages].concat())?;
    }
    if vng_missing {
        install_virtme_ng()?;
    }
    Ok(())
}

/// Installs virtme-ng from PyPI for this user and puts it on PATH for this process.
fn install_virtme_ng() -> Result<()> {
    eprintln!("==> installing virtme-ng (boots the kernels) with pip");
    let python = which("python3")
        .context("python3 is missing: virtme-ng needs it (apt-get install python3-pip)")?;
    if !present(Probe::Program("pip3"))
        && Command::new(&python)
            .args(["-m", "pip", "--version"])
            .output()
            .map_or(true, |o| !o.status.success())
    {
        apt_get(&["install", "-y", "--no-install-recommends", "python3-pip"])?;
    }
    let mut pip = Command::new(&python);
    pip.args(["-m", "pip", "install", "--quiet", "--user", "virtme-ng"]);
    let out = pip.output().context("cannot run pip")?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        // Debian's own python refuses user installs without this flag (PEP 668).
        if stderr.contains("externally-managed") {
            let status = Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--user",
                    "--break-system-packages",
                    "virtme-ng",
                ])
                .status()?;
            if !status.success() {
                bail!("pip could not install virtme-ng");
            }
        } else if stderr.contains("--user") && stderr.contains("virtualenv") {
            // Inside a virtualenv (or pyenv's) --user is refused: install into it.
            let status = Command::new(&python)
                .args(["-m", "pip", "install", "--quiet", "virtme-ng"])
                .status()?;
            if !status.success() {
                bail!("pip could not install virtme-ng");
            }
        } else {
            bail!("pip could not install virtme-ng:\n{stderr}");
        }
    }
    if which("vng").is_none() {
        let bin = put_user_scripts_on_path()?;
        if which("vng").is_none() {
            bail!(
                "virtme-ng was installed but vng is not on PATH (looked in {} too)",
                bin.display()
            );
        }
        eprintln!(
            "    note: vng is in {}: add it to your PATH to run it by hand",
            bin.display()
        );
    }
    Ok(())
}

/// Adds Python's user script directory (`python3 -m site --user-base`/bin) to this process's
/// PATH, which the lab's children inherit, and returns it.
fn put_user_scripts_on_path() -> Result<std::path::PathBuf> {
    let base = Command::new("python3")
        .args(["-m", "site", "--user-base"])
        .output()
        .context("cannot run python3")?;
    let bin = Path::new(String::from_utf8_lossy(&base.stdout).trim()).join("bin");
    let path = std::env::var_os("PATH").unwrap_or_default();
    if !std::env::split_paths(&path).any(|p| p == bin) {
        let joined =
            std::env::join_paths(std::iter::once(bin.clone()).chain(std::env::split_paths(&path)))?;
        // SAFETY: single-threaded at this point of start-up; children inherit the new PATH.
        unsafe { std::env::set_var("PATH", joined) };
    }
    Ok(bin)
}

/// Runs apt-get (through sudo when not root), non-interactively, showing the command first.
fn apt_get(args: &[&str]) -> Result<()> {
    eprintln!("    $ {}apt-get {}", sudo(), args.join(" "));
    let mut cmd = if is_root() {
        Command::new("apt-get")
    } else {
        Command::new("sudo")
    };
    if !is_root() {
        cmd.arg("apt-get");
    }
    let status = cmd
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .context("cannot run apt-get")?;
    if !status.success() {
        bail!("apt-get {} failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Installs (or names, with `no_install`) the extra tools the lint command needs.
pub fn ensure_lint(no_install: bool) -> Result<()> {
    ensure_needs(LINT_NEEDS, no_install)
}

/// Installs the tools the debug kernel's build needs (it is built only when asked for, so the
/// lab never installs them otherwise).
pub fn ensure_kernel_build(no_install: bool) -> Result<()> {
    ensure_needs(KERNEL_BUILD_NEEDS, no_install)
}

/// Installs (or names, with `no_install`) the debugger for `--gdb`.
pub fn ensure_gdb(no_install: bool) -> Result<()> {
    ensure_needs(GDB_NEEDS, no_install)
}

/// `GENL_LAB_NO_INSTALL` as `--no-install` reads it (clap's falsey rule: unset, empty, `0`, `no`,
/// `false`, `off`... mean install), for the commands that have no `--no-install`.
pub fn no_install_from_env() -> bool {
    use clap::builder::TypedValueParser;
    std::env::var_os("GENL_LAB_NO_INSTALL").is_some_and(|value| {
        clap::builder::FalseyValueParser::new()
            .parse_ref(&clap::Command::new("lab"), None, &value)
            .unwrap_or(true)
    })
}

/// Installs what of `needs` is missing, or fails naming the command when `no_install`.
fn ensure_needs(needs: &[Need], no_install: bool) -> Result<()> {
    let missing: Vec<&Need> = needs.iter().filter(|n| !present(n.probe)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let packages: Vec<&str> = missing.iter().flat_map(|n| n.package.split(' ')).collect();
    refuse_in_container(&packages)?;
    let apt_cmd = format!(
        "{}apt-get install -y --no-install-recommends {}",
        sudo(),
        packages.join(" ")
    );
    if no_install {
        bail!(
            "missing tools ({}), and installing is turned off (--no-install / \
             GENL_LAB_NO_INSTALL); install them with:\n  {apt_cmd}",
            packages.join(", ")
        );
    }
    for n in &missing {
        eprintln!("==> installing {}: {}", n.package, n.why);
    }
    apt_get(&[&["install", "-y", "--no-install-recommends"][..], &packages].concat())
}
