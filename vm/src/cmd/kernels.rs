//! `cargo lab kernels`: what `--kernel` accepts, what is cached, and the exact package versions.

use anyhow::Result;
use clap::Args;

use crate::kernel::{self, LINES};
use crate::project;

/// Arguments of `cargo lab kernels`.
#[derive(Args, Debug)]
pub struct KernelsArgs {
    /// Look up the newest version of each kernel in Debian's archive and download it if newer.
    #[arg(long)]
    pub update: bool,
}

/// Prints the table of kernels (after updating them if asked).
pub fn run(args: &KernelsArgs) -> Result<u8> {
    if args.update {
        let sh = project::shell()?;
        for line in LINES {
            kernel::resolve_debian(&sh, line, true)?;
        }
    }
    println!("{:<6} {:<48} cached", "name", "origin");
    for line in LINES {
        let cached = match kernel::cached(line)? {
            Some(c) => format!("{} ({})", c.abi, c.packages.join(", ")),
            None => "not yet: downloaded on first use".to_owned(),
        };
        let default = if line.name == kernel::DEFAULT_LINE {
            " (default)"
        } else {
            ""
        };
        println!(
            "{:<6} {:<48} {cached}",
            line.name,
            format!("{}{default}", line.origin)
        );
    }
    println!(
        "\nAlso: `all` (every line above), `env` (GENL_LAB_KERNEL_IMAGE, _MODULES, _BUILD, _NAME;"
    );
    println!("set by the Nix dev shell), or the path of a kernel tree you built.");
    println!("Cache: {}", project::cache_dir()?.display());
    Ok(0)
}
