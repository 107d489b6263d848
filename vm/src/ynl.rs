//! The kernel's YNL tools (`tools/net/ynl`, the schemas in `Documentation/netlink/`), extracted once
//! from Debian's `linux-source` into the lab's cache: they validate the family's spec, generate its
//! UAPI header, the module's policies, ops table and multicast groups, and its reference
//! documentation, and drive the family as the `ynl` client. KUnit's KTAP parser comes along
//! (`tools/testing/kunit`): it checks the lab's `results.ktap`.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::apt::Apt;
use crate::project;

/// The newest full kernel source reachable through the lab's apt sources (bookworm-security).
pub const SOURCE_PACKAGE: &str = "linux-source-6.12";

pub use crate::family_spec::{KERNEL_HEADER, KERNEL_SOURCE, SPEC};

/// The UAPI header generated from [`SPEC`], relative to the project root.
pub const HEADER: &str = "userland/include/gnl_foobar_xmpl.h";

/// The reference documentation generated from [`SPEC`], relative to the project root.
pub const RST: &str = "docs/gnl_foobar_xmpl.rst";

/// The command that regenerates every file generated from [`SPEC`].
pub const REGENERATE: &str = "cargo lab lint --regenerate (or: just regenerate)";

/// Debian's Python, which the dependency installer gives python3-yaml and python3-jsonschema; the
/// guest has no other (it does not inherit the host's PATH).
const PYTHON: &str = "/usr/bin/python3";

/// What the tools are extracted to, under `<cache>/ynl/<package version>/`; KUnit's KTAP parser
/// too (it checks the lab's results.ktap, see ktap.rs).
const WANTED: &[&str] = &["tools/net/ynl", "Documentation/netlink", KUNIT];

/// The kernel's KUnit tools, with the KTAP parser `kunit_parser.py`, relative to [`tools`].
pub const KUNIT: &str = "tools/testing/kunit";

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
        .filter(|p| p.join(KUNIT).join("kunit_parser.py").exists())
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
    write_script(sh, &bin_dir.join("ynl"), &script)?;
    // The suite's: one Python for every YNL call of a run (tests/src/ynl.rs says how).
    let server = format!(
        "#!/bin/sh\n\
         # The suite's YNL server ({SERVER}), written by `cargo lab` (vm/src/ynl.rs).\n\
         exec {PYTHON} {server} {ynl_dir} {spec}\n",
        server = project::root().join(SERVER).display(),
        ynl_dir = tools.join("tools/net/ynl").display(),
        spec = spec.display(),
    );
    write_script(sh, &bin_dir.join("ynl-server"), &server)
}

/// The suite's YNL server, relative to the project root.
const SERVER: &str = "tests/src/ynl_server.py";

fn write_script(sh: &Shell, path: &Path, text: &str) -> Result<()> {
    fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    cmd!(sh, "chmod 0755 {path}").run()?;
    Ok(())
}

/// Validates the spec against the schema its `protocol:` names, as the YNL library does.
pub fn validate(sh: &Shell) -> Result<()> {
    validate_file(sh, &project::root().join(SPEC), SPEC)
}

/// Validates `spec` (named `name` in messages); a failure names the file, the line and the
/// schema's rule, in the compiler's `file:line:` form.
pub fn validate_file(sh: &Shell, spec: &Path, name: &str) -> Result<()> {
    let tools = tools(sh)?;
    let lib = tools.join("tools/net/ynl");
    let schema = schema(&tools);
    let out = cmd!(sh, "{PYTHON} -c {VALIDATE} {lib} {spec} {schema} {name}")
        .ignore_status()
        .output()?;
    if !out.status.success() {
        bail!(
            "{name} does not validate against the YNL schema ({}):\n{}",
            schema.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// The schema's own message, the spec's line it applies to (from the YAML node the error's path
/// leads to) and the rule (the schema keyword and where it sits), not the whole traceback.
const VALIDATE: &str = r#"
import sys
import jsonschema, yaml
sys.path.insert(0, sys.argv[1])
from lib import SpecFamily
lib, spec, schema, name = sys.argv[1:5]
try:
    SpecFamily(spec, schema)
except yaml.YAMLError as e:
    mark = getattr(e, 'problem_mark', None)
    line = mark.line + 1 if mark else 1
    sys.exit(f'{name}:{line}: not YAML: {getattr(e, "problem", e)}')
except jsonschema.exceptions.ValidationError as e:
    node = yaml.compose(open(spec))
    for key in e.absolute_path:
        if isinstance(node, yaml.MappingNode):
            node = next(v for k, v in node.value if k.value == key)
        else:
            node = node.value[key]
    # An unexpected key: its own line, not its mapping's first.
    if e.validator == 'additionalProperties' and isinstance(node, yaml.MappingNode):
        known = e.schema.get('properties', {})
        node = next((k for k, _ in node.value if k.value not in known), node)
    where = '/'.join(str(p) for p in e.absolute_path) or '(top level)'
    rule = '/'.join(str(p) for p in e.schema_path)
    sys.exit(f'{name}:{node.start_mark.line + 1}: {e.message}\n'
             f'  at {where}; schema rule: {e.validator} ({rule})')
except Exception as e:  # the library's own checks (the SPDX line, ...), without a traceback
    sys.exit(f'{name}: {e}')
"#;

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

/// `path` as ynl-gen-c.py generates it from the spec `from`, with `args` (mode, header or source);
/// the output's file name matters: a source includes the header of the same name.
fn generate_c(sh: &Shell, from: &Path, args: &[&str], path: &str) -> Result<String> {
    let gen = tools(sh)?.join("tools/net/ynl/ynl-gen-c.py");
    let (tmp, spec) = spec_tree(sh, from)?;
    let out = tmp
        .path()
        .join(Path::new(path).file_name().expect("a file name"));
    cmd!(sh, "{PYTHON} {gen} {args...} --spec {spec} -o {out}")
        .quiet()
        .run()
        .with_context(|| format!("ynl-gen-c.py failed on the spec making {path} (see above)"))?;
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
        (
            HEADER,
            generate_c(sh, from, &["--mode", "uapi", "--header"], HEADER)?,
        ),
        (
            KERNEL_HEADER,
            generate_c(sh, from, &["--mode", "kernel", "--header"], KERNEL_HEADER)?,
        ),
        (
            KERNEL_SOURCE,
            generate_c(sh, from, &["--mode", "kernel", "--source"], KERNEL_SOURCE)?,
        ),
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

/// Runs the kernel's own KTAP parser (`tools/testing/kunit/kunit_parser.py`, from linux-source)
/// on `ktap` and returns its counts, or fails when it found errors in the format.
pub fn kunit_parse(sh: &Shell, ktap: &Path) -> Result<String> {
    let kunit = tools(sh)?.join(KUNIT);
    let script = "import sys\n\
                  sys.path.insert(0, sys.argv[1])\n\
                  import kunit_parser\n\
                  test = kunit_parser.parse_run_tests(open(sys.argv[2]).read().splitlines())\n\
                  c = test.counts\n\
                  print(f'{c.passed} passed, {c.failed} failed, {c.skipped} skipped, ' \
                  f'{c.crashed} crashed, {c.errors} errors')\n\
                  sys.exit(1 if c.errors else 0)\n";
    let out = cmd!(sh, "python3 -c {script} {kunit} {ktap}")
        .quiet()
        .ignore_status()
        .output()
        .context("cannot run python3")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "the kernel's kunit_parser.py found errors in {}:\n{stdout}{}",
            ktap.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(stdout.lines().last().unwrap_or_default().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::RESULTS_KTAP;
    use crate::verdict::{ktap, Outcome};

    /// The real parser on a file the lab wrote (fetches linux-source-6.12 once, as the YNL
    /// tools do).
    #[test]
    fn the_kernels_kunit_parser_reads_what_the_lab_writes() {
        let dir = std::env::temp_dir().join(format!("lab-ktap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut v = ktap::tests::verdict(Outcome::TestsFailed);
        v.logs = dir.clone();
        ktap::write_kernel(&v, ktap::tests::CONSOLE).unwrap();
        let sh = project::shell().unwrap();
        let counts = kunit_parse(&sh, &dir.join(RESULTS_KTAP)).unwrap();
        // works, races (flaky: ok), counts (failed), slow (skipped), verdict (failed).
        assert_eq!(counts, "2 passed, 2 failed, 1 skipped, 0 crashed, 0 errors");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
