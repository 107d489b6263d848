//! `cargo lab kernels`: what `--kernel` accepts, what is cached, the exact package versions and
//! the compiler each line's module is built with.

use anyhow::Result;

use crate::flags::{self, KernelsArgs};
use crate::kernel::debug as debug_kernel;
use crate::kernel::{self, Toolchain, FLAVOURS, LINES};
use crate::{deps, project, toolchain};

impl flags::KernelsArgs {
    /// Prints the table of kernels (after updating or checking them if asked).
    pub fn run(&self) -> Result<u8> {
        run(self)
    }
}

fn run(args: &KernelsArgs) -> Result<u8> {
    let sh = project::shell()?;
    if let Some(names) = &args.check {
        for spec in kernel::parse_specs(Some(names))? {
            let k = kernel::resolve(&sh, &spec, deps::no_install_from_env())?;
            println!("{}: {} ({})", k.name, k.release, k.compiler);
        }
        return Ok(0);
    }
    if args.update {
        for line in LINES {
            let flavours = std::iter::once(None).chain(
                FLAVOURS
                    .iter()
                    .filter(|f| kernel::cached(line, Some(f)).ok().flatten().is_some())
                    .map(|f| Some(*f)),
            );
            for flavour in flavours {
                match kernel::resolve_debian(&sh, line, flavour, true) {
                    Ok(_) => {}
                    // `next` is there only while experimental is ahead of the newest release.
                    Err(e) if line.name == "next" => eprintln!("==> [next] {e:#}"),
                    Err(e) => return Err(e),
                }
            }
        }
    }
    println!(
        "{:<6} {:<46} {:<16} cached build",
        "name", "origin", "toolchain"
    );
    for line in LINES {
        let toolchain = match line.toolchain {
            Toolchain::Host => "host".to_owned(),
            Toolchain::Root(suite) => format!("{suite} root"),
        };
        let default = if line.name == kernel::DEFAULT_LINE {
            " (default)"
        } else {
            ""
        };
        let mut cached = Vec::new();
        for flavour in std::iter::once(None).chain(FLAVOURS.iter().map(|f| Some(*f))) {
            if let Some(c) = kernel::cached(line, flavour)? {
                cached.push(format!("{} ({})", c.abi, c.packages.join(", ")));
            }
        }
        if cached.is_empty() {
            cached.push("not yet: downloaded on first use".to_owned());
        }
        println!(
            "{:<6} {:<46} {:<16} {}",
            line.name,
            format!("{}{default}", line.origin),
            toolchain,
            cached.join("\n       ")
        );
    }
    let debug = match debug_kernel::cached()? {
        Some((dir, b)) => format!(
            "{} ({}, {}, {} files in {:.0} s; {})",
            b.release,
            b.source,
            b.compiler,
            b.objects,
            b.build_seconds,
            dir.display()
        ),
        None => format!(
            "not yet: built on first use from {} ({})",
            debug_kernel::SOURCE_PACKAGE,
            debug_kernel::expected_dir_hint()?
        ),
    };
    println!(
        "{:<6} {:<46} {:<16} {debug}",
        debug_kernel::NAME,
        "the lab's KASAN/lockdep/kmemleak build of 7.3",
        "host"
    );
    println!(
        "\nEach line also as -{} (e.g. 7.3-rt). Groups: lts (5.10, 6.1, 6.12), latest (7.3), \
         all (every release line).",
        FLAVOURS.join(", -")
    );
    println!("`next` is experimental's release candidate, used only while it is newer than 7.3.");
    println!(
        "Also: `env` (GENL_LAB_KERNEL_IMAGE, _MODULES, _BUILD, _NAME; set by the Nix dev shell), \
         or the path of a kernel tree you built."
    );
    println!("\nCompilers: host {}", kernel::compiler_version("gcc"));
    for root in toolchain::cached() {
        println!(
            "           {} root {}: {}",
            root.suite,
            root.root.display(),
            root.compiler
        );
    }
    println!("Cache: {}", project::cache_dir()?.display());
    Ok(0)
}
