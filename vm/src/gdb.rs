//! `--gdb` on `exec` and `shell`: a debugger on the running guest. vng's `--debug` opens QEMU's
//! gdb stub on localhost:1234 and boots without KASLR, so the kernel's `vmlinux` matches it as
//! built; the modules' symbols go in at the addresses they were loaded at (`add-symbol-file`
//! with the sections the guest reads from `/sys/module/<name>/sections/`).
//!
//! The debug kernel has its own `vmlinux` (with DWARF); a Debian kernel's comes from its
//! `linux-image-<release>-dbg` package (about 0.9 to 1.2 GB), fetched only when `--gdb` asks.
//!
//! `watch --gdb` reloads the module all the time (the suite's load tests, every rebuild), so fixed
//! addresses go stale: there gdb runs the kernel's `lx-symbols`, which reloads a module's symbols
//! whenever the kernel loads it. It comes with the kernel's gdb scripts (`vmlinux-gdb.py`, built
//! by `CONFIG_GDB_SCRIPTS`), which the debug kernel has and Debian's packages do not.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use lab_facts::module;

use crate::apt::Apt;
use crate::kernel::Kernel;
use crate::project;

/// QEMU's gdb stub, where vng `--debug` puts it.
pub const PORT: u16 = 1234;

/// The commands gdb starts with: the kernel's symbols, the stub, the modules' symbols.
const INIT: &str = "init.gdb";
/// Written by the guest after it inserted the modules.
const MODULES: &str = "modules.gdb";

/// `target/lab/<kernel>/gdb/`.
fn dir(out: &Path) -> PathBuf {
    out.join("gdb")
}

/// How gdb learns where the modules are.
#[derive(Debug, Clone, Copy)]
pub enum Modules<'a> {
    /// Loaded once: `add-symbol-file` with the addresses the guest wrote.
    AsLoaded,
    /// Reloaded at will: `lx-symbols` with the `.ko` files in this directory, on every load.
    Follow(&'a Path),
}

/// Host side, before the boot: finds (or fetches) the kernel's `vmlinux`, writes `init.gdb`, and
/// returns its path. The modules' part comes from the guest once they are in, or from
/// `lx-symbols`.
pub fn prepare(
    sh: &Shell,
    kernel: &Kernel,
    out: &Path,
    modules: Modules,
    no_install: bool,
) -> Result<PathBuf> {
    // Checked first: a Debian kernel's vmlinux is a download of a gigabyte, and has no scripts.
    if let Modules::Follow(_) = modules {
        let scripts = kernel.boot.join("vmlinux-gdb.py");
        if !scripts.is_file() {
            return Err(crate::error::usage_error(format!(
                "watch --gdb follows the module through its reloads with the kernel's \
                 lx-symbols, and {} has no gdb scripts (vmlinux-gdb.py, built beside vmlinux \
                 by CONFIG_GDB_SCRIPTS; Debian's packages have none): use --kernel debug, or \
                 `cargo lab shell --gdb` on this kernel",
                kernel.name,
            )));
        }
    }
    crate::deps::ensure_gdb(no_install)?;
    let vmlinux = vmlinux(sh, kernel)?;
    let load_modules = match modules {
        Modules::AsLoaded => format!("source {}", dir(out).join(MODULES).display()),
        // Breakpoints in the module wait for its next load.
        Modules::Follow(kmod_dir) => format!(
            "set breakpoint pending on\nlx-symbols {}",
            kmod_dir.display()
        ),
    };
    let dir = dir(out);
    fs::create_dir_all(&dir)?;
    // A file from an earlier boot would give gdb another boot's addresses.
    fs::remove_file(dir.join(MODULES)).ok();
    let init = dir.join(INIT);
    fs::write(
        &init,
        format!(
            "# cargo lab --gdb: the guest's kernel at {vmlinux}, its stub, the modules' symbols.\n\
             set confirm off\n\
             set pagination off\n\
             add-auto-load-safe-path {trusted}\n\
             file {vmlinux}\n\
             target remote localhost:{PORT}\n\
             {load_modules}\n",
            vmlinux = vmlinux.display(),
            // The kernel's gdb helpers (`lx-symbols`, `lx-dmesg`) next to the debug kernel's
            // vmlinux load only from a trusted path: the lab's own cache of that kernel.
            trusted = vmlinux.ancestors().nth(2).unwrap_or(&vmlinux).display(),
        ),
    )?;
    Ok(init)
}

/// What to tell the user once the guest is up.
pub fn how_to_attach(kernel: &Kernel, init: &Path) -> String {
    format!(
        "==> [{}] gdb: once the modules are in, attach from another terminal with\n\
         ==>     gdb -x {}\n\
         ==> e.g. `break xmpl_echo_doit`, `continue`, then run `gnl-raw echo hi` in the guest \
         (the guest stops while gdb holds it; `detach` lets it go)",
        kernel.name,
        init.display()
    )
}

/// What to tell the user of `watch --gdb`.
pub fn how_to_follow(kernel: &Kernel, init: &Path) -> String {
    format!(
        "==> [{}] gdb: attach from another terminal with\n\
         ==>     gdb -x {}\n\
         ==> e.g. `break xmpl_echo_doit`, `continue`, then save a change: the round's requests \
         stop there, whichever load of the module serves them (`detach` lets the guest go; after \
         a reboot, attach again)",
        kernel.name,
        init.display()
    )
}

/// The kernel's `vmlinux` with symbols: the debug kernel's own, or the Debian `-dbg` package's
/// (cached next to the kernel, extracted once, renamed into place last).
fn vmlinux(sh: &Shell, kernel: &Kernel) -> Result<PathBuf> {
    if kernel.debug || kernel.boot.join("vmlinux").is_file() {
        let path = kernel.boot.join("vmlinux");
        if !path.is_file() {
            bail!("{} is missing: rebuild the debug kernel", path.display());
        }
        return Ok(path);
    }
    // A Debian kernel lives in `<cache>/kernels/<line>/<release>/root/...`.
    let Some(kernel_cache) = kernel
        .boot
        .ancestors()
        .find(|a| a.file_name().is_some_and(|n| n == "root"))
        .and_then(Path::parent)
    else {
        bail!(
            "--gdb needs the kernel's vmlinux, and {} is neither the lab's debug kernel nor a \
             Debian kernel the lab downloaded: build your tree with debug info and pass it as \
             --kernel <tree>",
            kernel.boot.display()
        );
    };
    let dbg = kernel_cache.join("dbg");
    let path = dbg.join("vmlinux");
    if path.is_file() {
        return Ok(path);
    }
    let name = format!("linux-image-{}-dbg", kernel.release);
    let apt = Apt::new(&project::cache_dir()?)?;
    let package = apt.show(sh, &name).with_context(|| {
        format!(
            "--gdb needs {name}, the debug symbols of {}",
            kernel.release
        )
    })?;
    // The symbols must be those of exactly the build that boots.
    if !kernel.provenance.contains(&format!(
        "linux-image-{} {}",
        kernel.release, package.version
    )) {
        bail!(
            "the archive's {name} is version {}, but the cached kernel is {}: \
             `cargo lab kernels --update` moves the kernel to the archive's build",
            package.version,
            kernel.provenance
        );
    }
    eprintln!(
        "==> [{}] --gdb: downloading {name} {} ({:.0} MB, once) for vmlinux",
        kernel.name,
        package.version,
        package.size as f64 / 1e6
    );
    let partial = dbg.with_extension("partial");
    if partial.exists() {
        fs::remove_dir_all(&partial)?;
    }
    let debs = apt.download(sh, &[package], &partial.join("deb"))?;
    let deb = &debs[0];
    let tree = partial.join("tree");
    fs::create_dir_all(&tree)?;
    eprintln!("==> [{}] --gdb: extracting vmlinux", kernel.name);
    // Only vmlinux: the package also holds every module's symbols (gigabytes unpacked).
    cmd!(
        sh,
        "sh -c 'dpkg-deb --fsys-tarfile \"$1\" | tar -x -C \"$2\" --wildcards \"*/vmlinux*\"' sh {deb} {tree}"
    )
    .quiet()
    .run()
    .with_context(|| format!("cannot extract vmlinux from {}", deb.display()))?;
    let found = find_vmlinux(&tree, &kernel.release)
        .with_context(|| format!("{} holds no vmlinux for {}", deb.display(), kernel.release))?;
    fs::rename(&found, partial.join("vmlinux"))?;
    fs::remove_dir_all(partial.join("deb")).ok();
    fs::remove_dir_all(&tree).ok();
    fs::rename(&partial, &dbg)?;
    Ok(path)
}

/// `usr/lib/debug/boot/vmlinux-<release>` (up to 6.x) or
/// `usr/lib/debug/lib/modules/<release>/vmlinux` (7.x).
fn find_vmlinux(tree: &Path, release: &str) -> Option<PathBuf> {
    [
        format!("usr/lib/debug/boot/vmlinux-{release}"),
        format!("usr/lib/debug/lib/modules/{release}/vmlinux"),
        format!("usr/lib/debug/usr/lib/modules/{release}/vmlinux"),
    ]
    .into_iter()
    .map(|p| tree.join(p))
    .find(|p| p.is_file())
}

/// Guest side, after the modules are in: one `add-symbol-file` per module, at its sections'
/// load addresses, into `modules.gdb` (which `init.gdb` sources).
pub fn write_module_symbols(out: &Path, kmod_dir: &Path, modules: &[String]) -> Result<()> {
    let mut script = String::from("# The lab's modules, where this boot loaded them.\n");
    for name in modules {
        let sections = Path::new("/sys/module").join(name).join("sections");
        let text = read_address(&sections.join(".text"))?;
        let mut line = format!(
            "add-symbol-file {} {text}",
            module::ko(kmod_dir, name).display()
        );
        let mut names: Vec<String> = fs::read_dir(&sections)
            .with_context(|| format!("cannot list {}", sections.display()))?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            // .symtab and .strtab are the kernel's own copies for kallsyms, not the file's.
            .filter(|n| {
                n.starts_with('.') && ![".text", ".symtab", ".strtab"].contains(&n.as_str())
            })
            .collect();
        names.sort();
        for section in names {
            let address = read_address(&sections.join(&section))?;
            // 0 means the kernel hides addresses from this reader, or the section is gone.
            if address != "0x0000000000000000" {
                line.push_str(&format!(" -s {section} {address}"));
            }
        }
        script.push_str(&line);
        script.push('\n');
    }
    let dir = dir(out);
    fs::create_dir_all(&dir)?;
    let path = dir.join(MODULES);
    let partial = path.with_extension("partial");
    fs::write(&partial, script)?;
    // Renamed last: gdb never sources half a file.
    fs::rename(&partial, &path)?;
    Ok(())
}

fn read_address(path: &Path) -> Result<String> {
    let text =
        fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(text.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vmlinux_is_found_where_each_debian_release_puts_it() {
        let tmp = std::env::temp_dir().join(format!("lab-gdb-{}", std::process::id()));
        for (release, rel) in [
            (
                "6.1.0-57-amd64",
                "usr/lib/debug/boot/vmlinux-6.1.0-57-amd64",
            ),
            (
                "7.3.4+deb13-amd64",
                "usr/lib/debug/lib/modules/7.3.4+deb13-amd64/vmlinux",
            ),
        ] {
            let tree = tmp.join(release);
            fs::create_dir_all(tree.join(rel).parent().unwrap()).unwrap();
            fs::write(tree.join(rel), b"").unwrap();
            assert_eq!(find_vmlinux(&tree, release), Some(tree.join(rel)));
            assert_eq!(find_vmlinux(&tree, "other"), None);
        }
        fs::remove_dir_all(&tmp).unwrap();
    }
}
