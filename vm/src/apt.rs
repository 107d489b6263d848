//! A private apt configuration in the lab's cache: lists Debian suites the system's sources may
//! not (bullseye, bookworm-backports, trixie-backports, sid, experimental) and downloads packages without root and without touching
//! the system's apt sources.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

/// The suites the known kernels come from.
const SOURCES: &str = "\
deb {keyring}{mirror}/debian bookworm main
deb {keyring}{mirror}/debian-security bookworm-security main
deb {keyring}{mirror}/debian bookworm-backports main
deb {keyring}{mirror}/debian bullseye main
deb {keyring}{mirror}/debian-security bullseye-security main
deb {keyring}{mirror}/debian trixie main
deb {keyring}{mirror}/debian-security trixie-security main
deb {keyring}{mirror}/debian trixie-backports main
deb {keyring}{mirror}/debian sid main
deb {keyring}{mirror}/debian experimental main
";

const DEFAULT_MIRROR: &str = "http://deb.debian.org";
const DEBIAN_KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// The Debian mirror: `$GENL_LAB_DEBIAN_MIRROR`, else deb.debian.org (no trailing slash).
pub fn mirror() -> String {
    std::env::var("GENL_LAB_DEBIAN_MIRROR")
        .unwrap_or_else(|_| DEFAULT_MIRROR.into())
        .trim_end_matches('/')
        .to_owned()
}

/// One package as the archive describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub version: String,
    /// Download size in bytes.
    pub size: u64,
    pub depends: String,
}

/// apt-get and apt-cache pointed at the lab's own lists and caches.
pub struct Apt {
    dir: PathBuf,
}

impl Apt {
    /// Prepares the private configuration under `cache/apt`.
    pub fn new(cache: &Path) -> Result<Apt> {
        let dir = cache.join("apt");
        for sub in ["lists/partial", "archives/partial", "preferences.d"] {
            fs::create_dir_all(dir.join(sub))
                .with_context(|| format!("cannot create {}", dir.join(sub).display()))?;
        }
        let mirror = mirror();
        let keyring = if Path::new(DEBIAN_KEYRING).exists() {
            format!("[signed-by={DEBIAN_KEYRING}] ")
        } else {
            String::new()
        };
        let sources = SOURCES
            .replace("{mirror}", &mirror)
            .replace("{keyring}", &keyring);
        fs::write(dir.join("sources.list"), sources)
            .context("cannot write the lab's apt sources")?;
        Ok(Apt { dir })
    }

    /// Holds the lab's apt directory for one apt step: its lists and archives are private, so
    /// apt's own locks are off (`Debug::NoLocking`) and two lab runs take turns through this one.
    fn lock(&self) -> Result<fs::File> {
        crate::project::lock_file(
            &self.dir.join("lab.lock"),
            "==> another lab run is using the lab's apt lists: waiting for it",
        )
    }

    fn options(&self) -> Vec<String> {
        let d = self.dir.display();
        [
            format!("Dir::Etc::SourceList={d}/sources.list"),
            "Dir::Etc::SourceParts=/dev/null".into(),
            format!("Dir::State::Lists={d}/lists"),
            format!("Dir::Cache={d}"),
            format!("Dir::Cache::Archives={d}/archives"),
            "Dir::Etc::Preferences=/dev/null".into(),
            format!("Dir::Etc::PreferencesParts={d}/preferences.d"),
            "Debug::NoLocking=1".into(),
            "APT::Sandbox::User=root".into(),
        ]
        .into_iter()
        .flat_map(|o| ["-o".to_owned(), o])
        .collect()
    }

    /// Refreshes the package lists (the only step that needs the network besides downloads).
    pub fn update(&self, sh: &Shell) -> Result<()> {
        let _lock = self.lock()?;
        let mut child = std::process::Command::new("apt-get")
            .args(self.options())
            .args(["-q", "-o", "APT::Status-Fd=1", "update"])
            .current_dir(sh.current_dir())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .context("cannot run apt-get")?;
        let mut stderr = child.stderr.take().expect("piped");
        let errors = std::thread::spawn(move || {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut stderr, &mut text).ok();
            text
        });
        let status = crate::progress::follow_apt(
            "refreshing the lab's Debian package lists",
            &mut child,
            |_| Ok(()),
        )?;
        let errors = errors.join().unwrap_or_default();
        if !status.success() {
            bail!(
                "apt-get update failed for the lab's Debian sources ({}):\n{}",
                self.dir.join("sources.list").display(),
                errors.trim()
            );
        }
        Ok(())
    }

    /// Names of the packages whose name matches the POSIX regex `pattern`.
    pub fn search_names(&self, sh: &Shell, pattern: &str) -> Result<Vec<String>> {
        let _lock = self.lock()?;
        let opts = self.options();
        let out = cmd!(sh, "apt-cache {opts...} search --names-only {pattern}").read()?;
        Ok(out
            .lines()
            .filter_map(|l| l.split(" - ").next())
            .map(str::to_owned)
            .collect())
    }

    /// The candidate version of a package.
    pub fn show(&self, sh: &Shell, name: &str) -> Result<Package> {
        let _lock = self.lock()?;
        let opts = self.options();
        let policy = cmd!(sh, "apt-cache {opts...} policy {name}").read()?;
        let opts = self.options();
        let candidate = policy
            .lines()
            .find_map(|l| l.trim().strip_prefix("Candidate: "))
            .filter(|v| *v != "(none)")
            .with_context(|| {
                format!("package {name} has no candidate version in the lab's sources")
            })?
            .to_owned();
        let record = cmd!(sh, "apt-cache {opts...} show {name}={candidate}").read()?;
        parse_record(&record).with_context(|| format!("cannot read the archive's record of {name}"))
    }

    /// Downloads packages (`name=version`) into `dest`.
    pub fn download(&self, sh: &Shell, packages: &[Package], dest: &Path) -> Result<Vec<PathBuf>> {
        fs::create_dir_all(dest)?;
        let _lock = self.lock()?;
        let opts = self.options();
        let specs: Vec<String> = packages
            .iter()
            .map(|p| format!("{}={}", p.name, p.version))
            .collect();
        let _cd = sh.push_dir(dest);
        let wanted = specs.clone();
        let label = match packages {
            [one] => format!("downloading {}", one.name),
            _ => format!("downloading {} packages", packages.len()),
        };
        let total: u64 = packages.iter().map(|p| p.size).sum();
        let partial = self.dir.join("archives/partial");
        let out = crate::progress::watching_size(&label, &[dest, &partial], Some(total), || {
            cmd!(sh, "apt-get {opts...} -q download {wanted...}")
                .quiet()
                .ignore_status()
                .output()
        })?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("E:")).collect();
            bail!(
                "apt-get download failed for {}:\n{}\n(a 404 usually means the mirror is \
                 mid-sync or dropped that build: retry later, or `cargo lab kernels --update`)",
                specs.join(" "),
                if errors.is_empty() {
                    stderr.trim().to_owned()
                } else {
                    errors.join("\n")
                }
            );
        }
        let mut debs = Vec::new();
        for entry in fs::read_dir(dest)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "deb") {
                debs.push(path);
            }
        }
        if debs.len() != packages.len() {
            bail!(
                "expected {} packages in {}, found {}",
                packages.len(),
                dest.display(),
                debs.len()
            );
        }
        Ok(debs)
    }
}

impl Apt {
    /// Extracts `paths` (relative to the kernel tree) from `source`, a Debian `linux-source-*`
    /// package, into `dest`: downloaded and unpacked in `dest.partial`, renamed into place last,
    /// so an interrupted run is redone, never half-used.
    pub fn extract_kernel_source(
        &self,
        sh: &Shell,
        source: &Package,
        paths: &[&str],
        dest: &Path,
    ) -> Result<()> {
        let mut work = dest.as_os_str().to_owned();
        work.push(".partial");
        let work = PathBuf::from(work);
        fs::remove_dir_all(&work).ok();
        let debs = self.download(sh, std::slice::from_ref(source), &work.join("deb"))?;
        let deb = &debs[0];
        let unpacked = work.join("unpacked");
        cmd!(sh, "dpkg-deb -x {deb} {unpacked}").quiet().run()?;
        let tarball = fs::read_dir(unpacked.join("usr/src"))?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with(".tar.xz"))
            .with_context(|| format!("{} has no source tarball", source.name))?;
        let top = tarball
            .file_name()
            .expect("a file name")
            .to_string_lossy()
            .trim_end_matches(".tar.xz")
            .to_owned();
        let wanted: Vec<String> = paths.iter().map(|p| format!("{top}/{p}")).collect();
        let tree = work.join("tree");
        fs::create_dir_all(&tree)?;
        cmd!(
            sh,
            "tar -xJf {tarball} -C {tree} --strip-components=1 {wanted...}"
        )
        .run()
        .with_context(|| {
            format!(
                "cannot extract {} from {}",
                paths.join(", "),
                tarball.display()
            )
        })?;
        if dest.exists() {
            fs::remove_dir_all(dest)?;
        }
        fs::rename(&tree, dest).with_context(|| format!("cannot create {}", dest.display()))?;
        fs::remove_dir_all(&work).ok();
        Ok(())
    }
}

/// Parses the first stanza of `apt-cache show` output.
fn parse_record(record: &str) -> Option<Package> {
    let stanza = record.split("\n\n").next()?;
    let field = |name: &str| {
        stanza
            .lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(": ")))
            .map(str::to_owned)
    };
    Some(Package {
        name: field("Package")?,
        version: field("Version")?,
        size: field("Size").and_then(|s| s.parse().ok()).unwrap_or(0),
        depends: field("Depends").unwrap_or_default(),
    })
}

/// The names in a Depends field that start with `prefix` (alternatives and versions dropped).
pub fn depends_starting_with<'a>(depends: &'a str, prefix: &str) -> Vec<&'a str> {
    depends
        .split([',', '|'])
        .filter_map(|d| d.split_whitespace().next())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORD: &str = "Package: linux-headers-6.1.0-56-amd64\n\
Source: linux-signed-amd64 (6.1.192-2)\n\
Version: 6.1.192-2\n\
Size: 1492012\n\
Depends: linux-headers-6.1.0-56-common (= 6.1.192-2), linux-kbuild-6.1 (>= 6.1.192-2), linux-compiler-gcc-12-x86\n\
\n\
Package: linux-headers-6.1.0-56-amd64\n\
Version: 6.1.170-1\n";

    #[test]
    fn record_fields_are_read_from_the_first_stanza() {
        let p = parse_record(RECORD).unwrap();
        assert_eq!(p.name, "linux-headers-6.1.0-56-amd64");
        assert_eq!(p.version, "6.1.192-2");
        assert_eq!(p.size, 1_492_012);
        assert_eq!(
            depends_starting_with(&p.depends, "linux-kbuild-"),
            ["linux-kbuild-6.1"]
        );
        assert_eq!(
            depends_starting_with(&p.depends, "linux-headers-"),
            ["linux-headers-6.1.0-56-common"]
        );
    }

    #[test]
    fn a_record_without_version_is_rejected() {
        assert_eq!(parse_record("Package: x\n"), None);
    }
}
