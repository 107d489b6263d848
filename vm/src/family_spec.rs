//! What the family's spec asks of the kernel it is built for, and what a failed module build
//! means in the spec's terms. Kernels before 6.2 have no split ops: `kmod/genl_compat.h` folds the
//! generated table into one `genl_ops` per command, which cannot hold a do and a dump with
//! different request attributes, nor a do's own `pre`/`post` hooks; a spec that asks for them is
//! refused here, before the build, naming the kernel line and the feature.

use std::fs;

use anyhow::{bail, Context, Result};
use yaml_rust2::{Yaml, YamlLoader};

use crate::kernel::Kernel;
use crate::project;

/// The family's spec, relative to the project root: the one place the contract lives.
pub const SPEC: &str = "kmod/gnl_foobar_xmpl.yaml";

/// The module's policies, ops table and multicast groups, generated from [`SPEC`] (the kernel's
/// ynl-gen-c in kernel mode), relative to the project root; the module compiles it with its
/// handlers.
pub const KERNEL_SOURCE: &str = "kmod/gnl_foobar_xmpl_nl_gen.c";

/// The declarations of [`KERNEL_SOURCE`]: the ops table and the handlers the module must define.
pub const KERNEL_HEADER: &str = "kmod/gnl_foobar_xmpl_nl_gen.h";

/// The first kernel with split ops (`struct genl_split_ops`).
const SPLIT_OPS: (u32, u32) = (6, 2);

/// `major.minor` of a release such as `6.1.0-57-amd64` or `7.3.4+deb13-amd64`.
fn major_minor(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// Fails, naming each operation and feature, if the spec needs more than `kernel` has.
pub fn check_for(kernel: &Kernel) -> Result<()> {
    let Some(version) = major_minor(&kernel.release) else {
        return Ok(());
    };
    if version >= SPLIT_OPS {
        return Ok(());
    }
    let path = project::root().join(SPEC);
    let text = fs::read_to_string(&path).with_context(|| format!("cannot read {}", SPEC))?;
    let problems = problems_before_split_ops(&text)?;
    if !problems.is_empty() {
        bail!(
            "{} asks for what {} ({}) cannot give: generic netlink before {}.{} takes one \
             genl_ops per command (kmod/genl_compat.h folds the generated split ops into them):\n  \
             {}\nchange the spec, or leave out the kernels before {}.{} (--kernel)",
            SPEC,
            kernel.name,
            kernel.release,
            SPLIT_OPS.0,
            SPLIT_OPS.1,
            problems.join("\n  "),
            SPLIT_OPS.0,
            SPLIT_OPS.1,
        );
    }
    Ok(())
}

/// The request attributes of one op's do or dump, sorted.
fn request_attributes(mode: &Yaml) -> Vec<&str> {
    let mut names: Vec<&str> = mode["request"]["attributes"]
        .as_vec()
        .map(|list| list.iter().filter_map(Yaml::as_str).collect())
        .unwrap_or_default();
    names.sort_unstable();
    names
}

/// What of the spec a kernel without split ops cannot have, one line per operation and feature.
fn problems_before_split_ops(spec: &str) -> Result<Vec<String>> {
    let docs = YamlLoader::load_from_str(spec).context("the spec is not YAML")?;
    let mut problems = Vec::new();
    for op in docs[0]["operations"]["list"].as_vec().into_iter().flatten() {
        let name = op["name"].as_str().unwrap_or("?");
        let (doit, dump) = (&op["do"], &op["dump"]);
        if !doit.is_badvalue() && !dump.is_badvalue() {
            let (a, b) = (request_attributes(doit), request_attributes(dump));
            if a != b {
                problems.push(format!(
                    "operation {name}: do and dump take different request attributes \
                     ([{}] and [{}]), but one genl_ops has one policy",
                    a.join(", "),
                    b.join(", ")
                ));
            }
        }
        for hook in ["pre", "post"] {
            if !doit[hook].is_badvalue() {
                problems.push(format!(
                    "operation {name}: do has a `{hook}` hook, but genl_ops has no per-op \
                     pre_doit/post_doit (only the family has them)"
                ));
            }
        }
    }
    Ok(problems)
}

/// What a failed build's log means for the spec: a handler the generated table names and the
/// module does not define (modpost: `"gnl_foobar_xmpl_nl_x_doit" [...] undefined!`), or an error
/// in the generated code (an API this kernel lacks).
pub fn explain_build_failure(log: &str, kernel: &Kernel) -> Option<String> {
    let missing: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("undefined!"))
        .filter_map(|l| l.split('"').nth(1))
        .filter(|symbol| symbol.starts_with("gnl_foobar_xmpl_nl_"))
        .collect();
    if !missing.is_empty() {
        return Some(format!(
            "the ops table generated from {} names handlers that kmod/gnl_foobar_xmpl.c does not \
             define: {}; write them with the prototypes {} declares",
            SPEC,
            missing.join(", "),
            KERNEL_HEADER
        ));
    }
    let generated = KERNEL_SOURCE.rsplit('/').next()?;
    log.lines()
        .any(|l| l.contains(generated) && l.contains("error:"))
        .then(|| {
            format!(
                "{} (generated from {}) does not compile against {} ({}): the spec uses an \
                 attribute type, check or flag this kernel's generic netlink lacks (the \
                 compiler names it above)",
                KERNEL_SOURCE, SPEC, kernel.name, kernel.release
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_releases() {
        assert_eq!(major_minor("6.1.0-57-amd64"), Some((6, 1)));
        assert_eq!(major_minor("7.3.4+deb13-amd64"), Some((7, 3)));
        assert_eq!(major_minor("5.10.0-46-amd64"), Some((5, 10)));
        assert_eq!(major_minor("custom"), None);
    }

    #[test]
    fn the_family_spec_fits_kernels_without_split_ops() {
        let spec = fs::read_to_string(project::root().join(SPEC)).unwrap();
        assert_eq!(
            problems_before_split_ops(&spec).unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn different_do_and_dump_attributes_and_do_hooks_are_named() {
        let spec = "operations:\n  list:\n    - name: get\n      do:\n        pre: lock\n        \
                    request:\n          attributes: [a, b]\n      dump:\n        request:\n          \
                    attributes: [a]\n";
        let problems = problems_before_split_ops(spec).unwrap();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains(
            "operation get: do and dump take different request attributes ([a, b] and [a])"
        ));
        assert!(problems[1].contains("operation get: do has a `pre` hook"));
    }

    #[test]
    fn a_missing_handler_is_named() {
        let log = "ERROR: modpost: \"gnl_foobar_xmpl_nl_echo_cookie_doit\" \
                   [/x/kmod/gnl_foobar_xmpl.ko] undefined!\n";
        let kernel = Kernel {
            name: "6.1".into(),
            release: "6.1.0-57-amd64".into(),
            provenance: String::new(),
            boot: Default::default(),
            kbuild: Default::default(),
            make_vars: vec![],
            build_root: None,
            compiler: String::new(),
            has_kfence: false,
            debug: false,
        };
        let text = explain_build_failure(log, &kernel).unwrap();
        assert!(
            text.contains("gnl_foobar_xmpl_nl_echo_cookie_doit"),
            "{text}"
        );
    }
}
