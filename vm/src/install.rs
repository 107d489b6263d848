//! Installing host packages with apt, quietly and safely: a short plan first (what, why, how many
//! MB), apt's own plan checked (`apt-get -s`) so that nothing on the machine is removed or
//! downgraded, apt's output in a log file and a progress bar on the terminal.

use std::fs::{self, File};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::project;

/// One package to install and why the lab needs it.
pub struct Wanted<'a> {
    pub package: &'a str,
    pub why: &'a str,
}

/// Where apt's full output goes.
pub fn log_path() -> PathBuf {
    project::lab_dir().join("apt-install.log")
}

/// What `apt-get -s install` says it would do.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Simulation {
    /// `name=version` of every package it would unpack (new, upgraded or downgraded).
    pub unpacks: Vec<String>,
    /// Name and installed version of each package it would remove.
    pub removals: Vec<(String, String)>,
    /// Name, installed version and the older version it would put in its place.
    pub downgrades: Vec<(String, String, String)>,
}

/// Reads apt's simulation: `Inst NAME [OLD] (NEW SUITE [ARCH])` and `Remv NAME [OLD]` lines, and
/// the `DOWNGRADED` list (a downgrade is an `Inst` whose new version is older).
pub fn parse_simulation(text: &str) -> Simulation {
    let mut sim = Simulation::default();
    let mut downgraded: Vec<&str> = Vec::new();
    let mut in_downgraded = false;
    for line in text.lines() {
        if line.starts_with("The following packages will be DOWNGRADED") {
            in_downgraded = true;
            continue;
        }
        if in_downgraded && line.starts_with("  ") {
            downgraded.extend(line.split_whitespace());
            continue;
        }
        in_downgraded = false;
        let mut words = line.split_whitespace();
        let (Some(action), Some(name)) = (words.next(), words.next()) else {
            continue;
        };
        let rest: Vec<&str> = words.collect();
        let old = rest
            .first()
            .and_then(|w| w.strip_prefix('[')?.strip_suffix(']'))
            .map(str::to_owned);
        match action {
            "Inst" => {
                let new = rest
                    .iter()
                    .find_map(|w| w.strip_prefix('('))
                    .unwrap_or_default();
                sim.unpacks.push(format!("{name}={new}"));
                if downgraded.contains(&name) {
                    sim.downgrades
                        .push((name.to_owned(), old.unwrap_or_default(), new.to_owned()));
                }
            }
            "Remv" | "Purg" => sim
                .removals
                .push((name.to_owned(), old.unwrap_or_default())),
            _ => {}
        }
    }
    sim
}

/// `Debian GNU/Linux 12 (bookworm)`, from /etc/os-release.
fn release() -> String {
    let text = fs::read_to_string("/etc/os-release").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_owned())
        .unwrap_or_else(|| "this system".to_owned())
}

/// The suite an installed package came from, as `apt-cache policy` shows it under the installed
/// (`***`) version, else as its version says (`~bpo12` is bookworm-backports).
fn origin_suite(policy: &str, version: &str) -> Option<String> {
    let installed = policy
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("***"))
        .skip(1);
    for line in installed {
        // `100 http://deb.debian.org/debian bookworm-backports/main amd64 Packages`, or
        // `100 /var/lib/dpkg/status`; a line of two words that is not a path is the next version.
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [_, _, suite, ..] => return Some(suite.split('/').next().unwrap_or(suite).to_owned()),
            [_, path] if path.starts_with('/') => continue,
            _ => break,
        }
    }
    let bpo = version.split("~bpo").nth(1)?;
    let release: String = bpo.chars().take_while(char::is_ascii_digit).collect();
    let codename = match release.as_str() {
        "11" => "bullseye",
        "12" => "bookworm",
        "13" => "trixie",
        _ => return None,
    };
    Some(format!("{codename}-backports"))
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// `sudo ` when not root.
pub fn sudo() -> &'static str {
    if is_root() {
        ""
    } else {
        "sudo "
    }
}

/// Why the lab cannot run apt-get as root here, if it cannot.
fn cannot_run_as_root() -> Option<&'static str> {
    if is_root() {
        return None;
    }
    if project::which("sudo").is_none() {
        return Some("you are not root and sudo is not installed");
    }
    let passwordless = Command::new("sudo")
        .args(["-n", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !passwordless && !std::io::stdin().is_terminal() {
        return Some("sudo needs a password and there is no terminal to ask for it");
    }
    None
}

/// The commands to run by hand.
fn by_hand(packages: &[&str]) -> String {
    format!(
        "  {s}apt-get update\n  {s}apt-get install --no-install-recommends {}",
        packages.join(" "),
        s = sudo()
    )
}

/// Installs `wanted` unless `no_install`: prints the plan, checks apt's plan, then installs with
/// apt's output in [`log_path`]. Never removes or downgrades a package: stops before that instead.
pub fn install(wanted: &[Wanted], no_install: bool) -> Result<()> {
    let packages: Vec<&str> = wanted
        .iter()
        .flat_map(|w| w.package.split_whitespace())
        .collect();
    eprintln!("==> the lab needs {} packages from apt:", packages.len());
    for w in wanted {
        eprintln!("    {}: {}", w.package, w.why);
    }
    if no_install {
        bail!(
            "not installing: installing is turned off (--no-install / GENL_LAB_NO_INSTALL); \
             run these yourself, then the lab again:\n{}",
            by_hand(&packages)
        );
    }
    if let Some(reason) = cannot_run_as_root() {
        bail!(
            "not installing: {reason}; run these yourself, then the lab again:\n{}",
            by_hand(&packages)
        );
    }
    // sudo asks for its password now, before a progress bar would draw over the prompt.
    if !is_root()
        && !Command::new("sudo")
            .arg("-v")
            .status()
            .is_ok_and(|s| s.success())
    {
        bail!(
            "not installing: sudo refused; run these yourself, then the lab again:\n{}",
            by_hand(&packages)
        );
    }
    let log = log_path();
    fs::create_dir_all(log.parent().expect("a directory"))?;
    File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
    if let Err(err) = apt_get("refreshing the package lists", &["update"], &log) {
        bail!(
            "{err:#}\n(no network, or a broken source in /etc/apt?) nothing was installed; once \
             apt works, run these yourself, or the lab again:\n{}",
            by_hand(&packages)
        );
    }
    let plan = simulate(&packages, &log)?;
    eprintln!(
        "    apt's plan: {} packages to unpack, {:.1} MB to download, nothing removed (log: {})",
        plan.unpacks.len(),
        download_bytes(&plan.unpacks) as f64 / 1e6,
        log.display()
    );
    apt_get(
        "installing",
        &[
            &["install", "-y", "--no-remove", "--no-install-recommends"][..],
            &packages,
        ]
        .concat(),
        &log,
    )
}

/// Runs `apt-get -s install` and refuses a plan that removes or downgrades anything, or that apt
/// cannot make at all, naming the packages, why, and the ways out.
fn simulate(packages: &[&str], log: &Path) -> Result<Simulation> {
    let out = Command::new("apt-get")
        .args(["-s", "install", "--no-install-recommends"])
        .args(packages)
        .env("LC_ALL", "C")
        .output()
        .context("cannot run apt-get -s")?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    append(log, &format!("$ apt-get -s install ...\n{text}"))?;
    if !out.status.success() {
        bail!("{}", explain_refusal(&text, packages));
    }
    let sim = parse_simulation(&text);
    if sim.removals.is_empty() && sim.downgrades.is_empty() {
        return Ok(sim);
    }
    let mut msg = String::from(
        "not installing: apt's plan would change packages you already have, and the lab never \
         does that:\n",
    );
    let mut suites = Vec::new();
    for (name, old) in &sim.removals {
        let suite = policy_suite(name, old);
        msg += &format!(
            "  - REMOVE {name} {old}{}\n",
            suite
                .as_deref()
                .map(|s| format!(" (installed from {s})"))
                .unwrap_or_default()
        );
        suites.extend(suite);
    }
    for (name, old, new) in &sim.downgrades {
        msg += &format!("  - DOWNGRADE {name} {old} to {new}\n");
        suites.extend(policy_suite(name, old));
    }
    msg += &format!(
        "why: the versions {} offers of {} conflict with them (apt's full plan: {}).\n",
        release(),
        packages.join(" "),
        log.display()
    );
    msg += "ways out:\n";
    suites.sort();
    suites.dedup();
    for suite in &suites {
        msg += &format!(
            "  - install from the suite your packages came from, so they match (add {suite} to \
             your apt sources if it is not there):\n      {}apt-get install -t {suite} \
             --no-install-recommends {}\n",
            sudo(),
            packages.join(" ")
        );
    }
    msg += &format!(
        "  - or install them your way and run the lab with --no-install; if you accept apt's \
         plan:\n      {}apt-get install --no-install-recommends {}",
        sudo(),
        packages.join(" ")
    );
    bail!(msg)
}

/// What to say when apt cannot make a plan: a package this release lacks, or a conflict.
fn explain_refusal(apt_output: &str, packages: &[&str]) -> String {
    let unknown: Vec<&str> = apt_output
        .lines()
        .filter_map(|l| {
            l.strip_prefix("E: Unable to locate package ")
                .or_else(|| l.strip_prefix("E: Package '")?.split('\'').next())
        })
        .collect();
    if !unknown.is_empty() {
        return format!(
            "not installing: {} has no package {} in the apt sources it lists; nothing was \
             installed. Install the equivalent from your release yourself (or enable the suite \
             that has it, e.g. backports), then run the lab with --no-install.",
            release(),
            unknown.join(", ")
        );
    }
    let reasons: Vec<&str> = apt_output
        .lines()
        .filter(|l| l.starts_with(' ') && l.contains(':') || l.starts_with("E: "))
        .collect();
    format!(
        "not installing: apt cannot install {} on {} without breaking what is installed:\n{}\n\
         nothing was changed. Install them from the suite your conflicting packages came from \
         (`apt-get install -t SUITE ...`), or your way, then run the lab with --no-install.",
        packages.join(" "),
        release(),
        reasons.join("\n")
    )
}

fn policy_suite(name: &str, version: &str) -> Option<String> {
    let policy = Command::new("apt-cache")
        .args(["policy", name])
        .env("LC_ALL", "C")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    origin_suite(&policy, version)
}

/// The archives' size of `name=version` packages, from `apt-cache show` (0 when unknown).
fn download_bytes(unpacks: &[String]) -> u64 {
    if unpacks.is_empty() {
        return 0;
    }
    let out = Command::new("apt-cache")
        .args(["show", "--no-all-versions"])
        .args(unpacks)
        .output();
    let text = out
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    text.lines()
        .filter_map(|l| l.strip_prefix("Size: ")?.trim().parse::<u64>().ok())
        .sum()
}

fn append(log: &Path, text: &str) -> Result<()> {
    let mut file = fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(log)
        .with_context(|| format!("cannot write {}", log.display()))?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

/// Runs `apt-get ARGS` as root (sudo when needed), its output into `log`, its progress
/// (`APT::Status-Fd`) on a bar; on failure the error carries the log's tail and path.
fn apt_get(what: &str, args: &[&str], log: &Path) -> Result<()> {
    let mut cmd = if is_root() {
        Command::new("apt-get")
    } else {
        let mut sudo = Command::new("sudo");
        sudo.arg("apt-get");
        sudo
    };
    append(log, &format!("$ {}apt-get {}\n", sudo(), args.join(" ")))?;
    let err_log = fs::OpenOptions::new().append(true).open(log)?;
    let mut child = cmd
        .args(["-q", "-o", "APT::Status-Fd=1"])
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .env("LC_ALL", "C")
        .stdout(Stdio::piped())
        .stderr(err_log)
        .spawn()
        .context("cannot run apt-get")?;
    let mut file = fs::OpenOptions::new().append(true).open(log)?;
    let status = crate::progress::follow_apt(&format!("apt: {what}"), &mut child, |line| {
        writeln!(file, "{line}")
    })?;
    if status.success() {
        return Ok(());
    }
    let text = fs::read_to_string(log).unwrap_or_default();
    let tail: Vec<&str> = text.lines().rev().take(15).collect();
    bail!(
        "apt-get {} failed ({status}); the end of its log:\n{}\n(full log: {})",
        args.first().copied().unwrap_or_default(),
        tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        log.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `apt-get -s install --no-install-recommends qemu-system-x86 busybox-static kmod udev` on a
    /// bookworm root whose qemu-utils came from bookworm-backports (since dropped from its sources).
    const QEMU_UTILS_FROM_BACKPORTS: &str = "\
Reading package lists...
Building dependency tree...
Reading state information...
Recommended packages:
  qemu-system-gui qemu-utils ovmf qemu-block-extra
The following packages will be REMOVED:
  qemu-utils
The following NEW packages will be installed:
  busybox-static ipxe-qemu kmod qemu-system-common qemu-system-data qemu-system-x86 seabios udev
0 upgraded, 8 newly installed, 1 to remove and 0 not upgraded.
Remv qemu-utils [1:10.0.2+ds-2+deb13u1~bpo12+1]
Inst busybox-static (1:1.35.0-4+b7 Debian:12.15/oldstable [amd64])
Inst qemu-system-x86 (1:7.2+dfsg-7+deb12u18+b3 Debian:12.15/oldstable, Debian-Security:12/oldstable-security [amd64])
Conf busybox-static (1:1.35.0-4+b7 Debian:12.15/oldstable [amd64])
";

    const DOWNGRADE: &str = "\
The following packages will be DOWNGRADED:
  libfoo1
0 upgraded, 0 newly installed, 1 downgraded, 0 to remove and 0 not upgraded.
Inst libfoo1 [2.0-1~bpo12+1] (1.5-3 Debian:12.15/oldstable [amd64])
Inst libbar2 [1.0-1] (1.1-1 Debian:12.15/oldstable [amd64])
";

    #[test]
    fn a_removal_is_read_from_apts_plan() {
        let sim = parse_simulation(QEMU_UTILS_FROM_BACKPORTS);
        assert_eq!(
            sim.removals,
            [(
                "qemu-utils".to_owned(),
                "1:10.0.2+ds-2+deb13u1~bpo12+1".to_owned()
            )]
        );
        assert!(sim.downgrades.is_empty());
        assert_eq!(
            sim.unpacks,
            [
                "busybox-static=1:1.35.0-4+b7",
                "qemu-system-x86=1:7.2+dfsg-7+deb12u18+b3"
            ]
        );
    }

    #[test]
    fn a_downgrade_is_told_from_an_upgrade() {
        let sim = parse_simulation(DOWNGRADE);
        assert_eq!(
            sim.downgrades,
            [(
                "libfoo1".to_owned(),
                "2.0-1~bpo12+1".to_owned(),
                "1.5-3".to_owned()
            )]
        );
        assert!(sim.removals.is_empty());
        assert_eq!(sim.unpacks.len(), 2);
    }

    #[test]
    fn the_origin_of_an_installed_package_is_its_suite() {
        let with_source = "qemu-utils:
  Installed: 1:10.0.2+ds-2+deb13u1~bpo12+1
  Candidate: 1:10.0.2+ds-2+deb13u1~bpo12+1
  Version table:
 *** 1:10.0.2+ds-2+deb13u1~bpo12+1 100
        100 http://deb.debian.org/debian bookworm-backports/main amd64 Packages
        100 /var/lib/dpkg/status
     1:7.2+dfsg-7+deb12u18+b3 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
";
        assert_eq!(
            origin_suite(with_source, "1:10.0.2+ds-2+deb13u1~bpo12+1").as_deref(),
            Some("bookworm-backports")
        );
        // The suite is gone from the sources: only the version says where it came from.
        let status_only = "qemu-utils:
  Installed: 1:10.0.2+ds-2+deb13u1~bpo12+1
  Version table:
 *** 1:10.0.2+ds-2+deb13u1~bpo12+1 100
        100 /var/lib/dpkg/status
     1:7.2+dfsg-7+deb12u18+b3 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
";
        assert_eq!(
            origin_suite(status_only, "1:10.0.2+ds-2+deb13u1~bpo12+1").as_deref(),
            Some("bookworm-backports")
        );
        assert_eq!(origin_suite(status_only, "1.0-1"), None);
    }

    #[test]
    fn unknown_packages_are_named_with_the_release() {
        let msg = explain_refusal(
            "Reading package lists...\nE: Unable to locate package just\n",
            &["just"],
        );
        assert!(msg.contains("has no package just"), "{msg}");
        assert!(msg.contains("--no-install"), "{msg}");
    }

    /// The qemu-utils case on a real apt: a Debian root whose qemu-utils came from
    /// bookworm-backports (see docs/first-run.md), named by `GENL_LAB_TEST_APT_ROOT`.
    #[test]
    #[ignore = "needs a scratch Debian root in GENL_LAB_TEST_APT_ROOT (docs/first-run.md)"]
    fn a_plan_that_removes_a_package_stops_before_installing() {
        let root = PathBuf::from(std::env::var("GENL_LAB_TEST_APT_ROOT").unwrap());
        let conf = std::env::temp_dir().join(format!("lab-apt-{}.conf", std::process::id()));
        // apt and dpkg both work inside the root, so nothing can reach the host's packages.
        fs::write(
            &conf,
            format!(
                "Dir \"{0}/\";\nDPkg::Chroot-Directory \"{0}\";\n",
                root.display()
            ),
        )
        .unwrap();
        // SAFETY: the only test of this binary that reads APT_CONFIG.
        unsafe { std::env::set_var("APT_CONFIG", &conf) };
        let status = root.join("var/lib/dpkg/status");
        let before = fs::read(&status).unwrap();
        let wanted = [
            Wanted {
                package: "qemu-system-x86",
                why: "runs the VM",
            },
            Wanted {
                package: "busybox-static",
                why: "virtme-ng's initramfs",
            },
        ];
        let err = install(&wanted, false).unwrap_err();
        let msg = format!("{err:#}");
        eprintln!("{msg}");
        assert!(msg.contains("REMOVE qemu-utils 1:10.0.2"), "{msg}");
        assert!(msg.contains("-t bookworm-backports"), "{msg}");
        assert_eq!(
            fs::read(&status).unwrap(),
            before,
            "the root's packages changed"
        );
        fs::remove_file(conf).ok();
    }
}
