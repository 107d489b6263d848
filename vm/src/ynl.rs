//! The kernel's YNL tools (`tools/net/ynl`, the schemas in `Documentation/netlink/`), extracted once
//! from Debian's `linux-source` into the lab's cache: they validate the family's spec, generate its
//! UAPI header and reference documentation, and drive the family as the `ynl` client.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::apt::Apt;
use crate::project;

/// The newest full kernel source reachable through the lab's apt sources (bookworm-security).
pub const SOURCE_PACKAGE: &str = "linux-source-6.12";

/// The family's spec, relative to the project root: the one place the contract lives.
pub const SPEC: &str = "kmod/gnl_foobar_xmpl.yaml";

/// The UAPI header generated from [`SPEC`], relative to the project root.
pub const HEADER: &str = "userland/include/gnl_foobar_xmpl.h";

/// The reference documentation generated from [`SPEC`], relative to the project root.
pub const RST: &str = "docs/gnl_foobar_xmpl.rst";

/// The command that regenerates [`HEADER`] and [`RST`].
pub const REGENERATE: &str = "cargo lab lint --regenerate (or: just regenerate)";

/// Debian's Python, which the dependency installer gives python3-yaml and python3-jsonschema; the
/// guest has no other (it does not inherit the host's PATH).
const PYTHON: &str = "/usr/bin/python3";

/// What the tools are extracted to, under `<cache>/ynl/<package version>/`.
const WANTED: &[&str] = &["tools/net/ynl", "Documentation/netlink"];

/// The extracted tree: `tools/net/ynl/...` and `Documentation/netlink/...` below it.
pub fn tools(sh: &Shell) -> Result<PathBuf> {
    let base = project::cache_dir()?.join("ynl");
    if let Some(dir) = cached(&base) {
        return Ok(dir);
    }
    eprintln!("==> fetching the YNL tools from Debian's {SOURCE_PACKAGE} (once, ~150 MB)");
    let apt = Apt::new(&project::cache_dir()?)?;
    apt.update(sh)?;
    let package = apt.show(sh, SOURCE_PACKAGE)?;
    let dir = base.join(&package.version);
    apt.extract_kernel_source(sh, &package, WANTED, &dir)
        .context("cannot extract the YNL tools")?;
    Ok(dir)
}

fn cached(base: &Path) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(base)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("tools/net/ynl/cli.py").exists())
        .collect();
    dirs.sort();
    dirs.pop()
}

/// Writes `bin_dir/ynl`: the kernel's YNL CLI, with the family's spec unless `--spec` is given.
pub fn install_client(sh: &Shell, bin_dir: &Path) -> Result<()> {
    let tools = tools(sh)?;
    let cli = tools.join("tools/net/ynl/cli.py");
    let spec = project::root().join(SPEC);
    // The guest sees the cache read-only and so would compile the library on every call (0.3 s
    // of each call's 2.5 s under TCG): compile it once here, with the guest's own Python.
    let lib = tools.join("tools/net/ynl/lib");
    cmd!(sh, "{PYTHON} -m compileall -q {lib}")
        .quiet()
        .run()
        .context("cannot compile the YNL library")?;
    // No schema check on every call: `cargo lab lint` validates this very spec file against the
    // schema on the host, and the check is about 40% of each call's time (0.19 s against 0.11 s on
    // the host, more under TCG), and the suite starts ynl about 15 times.
    let script = format!(
        "#!/bin/sh\n\
         # The kernel's YNL client ({SOURCE_PACKAGE}), written by `cargo lab` (vm/src/ynl.rs).\n\
         # Without --spec it drives gnl_foobar_xmpl: ynl --do echo --json '{{\"msg\": \"hi\"}}'\n\
         case \" $* \" in\n\
         *' --spec '*) exec {PYTHON} {cli} \"$@\" ;;\n\
         esac\n\
         exec {PYTHON} {cli} --spec {spec} --no-schema \"$@\"\n",
        cli = cli.display(),
        spec = spec.display(),
    );
    // The kernel's own specs (nlctrl.yaml: the policies the suite compares with the spec).
    let specs = bin_dir.join("ynl-specs");
    fs::remove_file(&specs).ok();
    std::os::unix::fs::symlink(tools.join("Documentation/netlink/specs"), &specs)
        .with_context(|| format!("cannot create {}", specs.display()))?;
    let path = bin_dir.join("ynl");
    fs::write(&path, script).with_context(|| format!("cannot write {}", path.display()))?;
    cmd!(sh, "chmod 0755 {path}").run()?;
    Ok(())
}

/// Validates the spec against the schema its `protocol:` names, as the YNL library does.
pub fn validate(sh: &Shell) -> Result<()> {
    let tools = tools(sh)?;
    let lib = tools.join("tools/net/ynl");
    let spec = project::root().join(SPEC);
    // The schema's own message and where in the spec it applies, not the whole traceback.
    let check = "import sys\n\
                 import jsonschema\n\
                 sys.path.insert(0, sys.argv[1])\n\
                 from lib import SpecFamily\n\
                 try:\n\
                 \x20   SpecFamily(sys.argv[2], sys.argv[3])\n\
                 except jsonschema.exceptions.ValidationError as e:\n\
                 \x20   where = '/'.join(str(p) for p in e.absolute_path) or '(top level)'\n\
                 \x20   sys.exit(f'at {where}: {e.message}')\n";
    let schema = schema(&tools);
    let out = cmd!(sh, "{PYTHON} -c {check} {lib} {spec} {schema}")
        .ignore_status()
        .output()?;
    if !out.status.success() {
        bail!(
            "{SPEC} does not validate against the YNL schema ({}):\n{}",
            schema.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// The schema the spec's `protocol:` names (the tools look for it two directories above a spec).
fn schema(tools: &Path) -> PathBuf {
    tools.join("Documentation/netlink/genetlink-legacy.yaml")
}

/// A throwaway kernel-like tree holding the spec: ynl-gen-c.py looks for `MAINTAINERS` above it
/// (and loops forever without one) and names the spec by its path in that tree; the generators
/// read the schema from two directories above the spec.
fn spec_tree(sh: &Shell, from: &Path) -> Result<(tempfile_dir::TempDir, PathBuf)> {
    let tools = tools(sh)?;
    let tmp = tempfile_dir::TempDir::new(sh)?;
    let spec = tmp
        .path()
        .join("kmod")
        .join(from.file_name().expect("a spec file"));
    fs::create_dir_all(spec.parent().expect("a directory"))?;
    fs::copy(from, &spec)?;
    fs::write(tmp.path().join("MAINTAINERS"), "")?;
    let schema = schema(&tools);
    fs::copy(
        &schema,
        tmp.path().join(schema.file_name().expect("a file name")),
    )?;
    Ok((tmp, spec))
}

/// The UAPI header as ynl-gen-c.py generates it from the spec `from`.
fn generate_header(sh: &Shell, from: &Path) -> Result<String> {
    let gen = tools(sh)?.join("tools/net/ynl/ynl-gen-c.py");
    let (tmp, spec) = spec_tree(sh, from)?;
    let out = tmp.path().join("gnl_foobar_xmpl.h");
    cmd!(
        sh,
        "{PYTHON} {gen} --mode uapi --header --spec {spec} -o {out}"
    )
    .quiet()
    .run()
    .context("ynl-gen-c.py failed on the spec (see above)")?;
    Ok(fs::read_to_string(&out)?)
}

/// The reference documentation as ynl-gen-rst.py generates it from the spec `from`.
fn generate_rst(sh: &Shell, from: &Path) -> Result<String> {
    let gen = tools(sh)?.join("tools/net/ynl/ynl-gen-rst.py");
    let (tmp, spec) = spec_tree(sh, from)?;
    let out = tmp.path().join("gnl_foobar_xmpl.rst");
    cmd!(sh, "{PYTHON} {gen} -i {spec} -o {out}")
        .quiet()
        .run()
        .context("ynl-gen-rst.py failed on the spec (see above)")?;
    Ok(fs::read_to_string(&out)?)
}

/// The generated files, each with its committed path, as they should be.
pub fn generated(sh: &Shell) -> Result<Vec<(&'static str, String)>> {
    generated_from(sh, &project::root().join(SPEC))
}

/// The generated files as the spec `from` makes them (`cargo lab new`: a renamed copy's spec),
/// each with its path in this project.
pub fn generated_from(sh: &Shell, from: &Path) -> Result<Vec<(&'static str, String)>> {
    Ok(vec![
        (HEADER, generate_header(sh, from)?),
        (RST, generate_rst(sh, from)?),
    ])
}

/// Fails with the diff and the regenerating command if a committed file differs from the spec's.
pub fn check_generated(sh: &Shell) -> Result<()> {
    let mut problems = Vec::new();
    for (path, want) in generated(sh)? {
        let committed = project::root().join(path);
        let have = fs::read_to_string(&committed).unwrap_or_default();
        if have == want {
            continue;
        }
        let (tmp, _) = spec_tree(sh, &project::root().join(SPEC))?;
        let fresh = tmp.path().join("generated");
        fs::write(&fresh, &want)?;
        let diff = cmd!(
            sh,
            "diff -u --label {path} --label generated {committed} {fresh}"
        )
        .ignore_status()
        .read()?;
        problems.push(format!("{path} is not what {SPEC} generates:\n{diff}"));
    }
    if !problems.is_empty() {
        bail!("{}\nregenerate with: {REGENERATE}", problems.join("\n"));
    }
    Ok(())
}

/// Writes the generated files over the committed ones.
pub fn regenerate(sh: &Shell) -> Result<()> {
    validate(sh)?;
    for (path, text) in generated(sh)? {
        fs::write(project::root().join(path), text)
            .with_context(|| format!("cannot write {path}"))?;
        eprintln!("==> regenerated {path} from {SPEC}");
    }
    Ok(())
}

/// A directory removed on drop, made with `mktemp -d`.
mod tempfile_dir {
    use std::path::{Path, PathBuf};

    use anyhow::Result;
    use xshell::{cmd, Shell};

    pub struct TempDir(PathBuf);

    impl TempDir {
        pub fn new(sh: &Shell) -> Result<TempDir> {
            Ok(TempDir(
                cmd!(sh, "mktemp -d -t genl-lab-ynl.XXXXXX").read()?.into(),
            ))
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
