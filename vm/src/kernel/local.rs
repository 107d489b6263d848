//! Kernels from outside Debian's archive: the one the GENL_LAB_KERNEL_* variables describe (the
//! Nix dev shell) and a kernel tree the user built.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::{compiler_version, Kernel};
use crate::error::usage_error;
use crate::project;

/// A kernel given by environment variables, as the Nix dev shell sets them.
pub(super) fn resolve_env() -> Result<Kernel> {
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
        build_root: None,
        compiler: compiler_version("gcc"),
        has_kfence: config.lines().any(|l| l == "CONFIG_KFENCE=y"),
        debug: false,
    })
}

/// A kernel tree the user built with `make` (and `make modules`).
pub(super) fn resolve_tree(path: &Path) -> Result<Kernel> {
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
        build_root: None,
        compiler: compiler_version("gcc"),
        has_kfence: config.lines().any(|l| l == "CONFIG_KFENCE=y"),
        debug: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_that_is_no_kernel_tree_is_a_usage_error() {
        let err = resolve_tree(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap_err();
        assert!(
            err.to_string().contains("is not a built kernel tree"),
            "{err}"
        );
        assert_eq!(
            crate::error::exit_code_of_error(&err),
            crate::error::EXIT_USAGE
        );
    }
}
