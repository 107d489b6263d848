//! `cargo lab new NAME [DIR]`: a renamed copy of this whole lab for a new generic netlink family,
//! a git repository of its own with one commit, written beside DIR and renamed into place.

use std::fs;
use std::path::{Component, Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use xshell::{cmd, Shell};

use crate::error::usage_error;
use crate::flags::NewArgs;
use crate::template::{self, Renamer};
use crate::{project, ynl};

/// The tutorial, whose byte dumps carry the family's name (see `template::tutorial`).
const TUTORIAL: &str = "docs/tutorial.md";

impl NewArgs {
    /// Checks the name and the directory, writes the project, says what to run next.
    pub fn run(&self) -> Result<u8> {
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        eprint!("{}", create(self, &cwd)?);
        Ok(0)
    }
}

/// Writes the project for `args` (a relative DIR is taken from `cwd`) and returns what to tell
/// the user.
fn create(args: &NewArgs, cwd: &Path) -> Result<String> {
    let started = Instant::now();
    let sh = project::shell()?;
    check_family_name(&sh, &args.name)?;
    let given = args
        .dir
        .clone()
        .unwrap_or_else(|| Path::new("..").join(&args.name));
    let dir = destination(&args.name, &given, cwd)?;
    let files = tracked_files(&sh)?;
    let root = project::root();
    // C, where two names that become one break the build; not prose, captured kernel logs or the
    // renamer's own tests, which may well show an older name or an example family.
    let texts: Vec<String> = files
        .iter()
        .filter(|f| {
            (f.ends_with(".c") || f.ends_with(".h"))
                && !template::SHOWS_EXAMPLE_FAMILIES
                    .iter()
                    .any(|p| f.starts_with(p))
        })
        .filter_map(|f| fs::read_to_string(root.join(f)).ok())
        .collect();
    let clashes = template::clashes(&Renamer::new(&args.name), texts.iter().map(String::as_str));
    if let Some(first) = clashes.first() {
        return Err(usage_error(format!(
            "the family name {} would clash with names the project already uses ({first}{}): \
             choose another",
            args.name,
            if clashes.len() > 1 { ", ..." } else { "" }
        )));
    }
    write_project(&sh, &args.name, &files, &dir)?;
    Ok(format!(
        "==> wrote {given}: family {name}, {count} files, one git commit ({secs:.1} s)\n\
         next: cd {given} && cargo lab test && cargo lab lint\n",
        given = given.display(),
        name = args.name,
        count = files.len(),
        secs = started.elapsed().as_secs_f64(),
    ))
}

/// Refuses a name that is no valid family name, one the kernel already has, or one that would
/// clash with a name the project already uses.
fn check_family_name(sh: &Shell, name: &str) -> Result<()> {
    if let Some(why) = template::check_name(name) {
        return Err(usage_error(why));
    }
    if name == template::FAMILY {
        return Err(usage_error(format!(
            "{name} is this lab's own family: choose the name of yours"
        )));
    }
    let specs = ynl::tools(sh)?.join("Documentation/netlink/specs");
    if let Some(spec) = kernel_family(&specs, name)? {
        return Err(usage_error(format!(
            "{name} is already a family of the kernel ({}): choose another name",
            spec.display()
        )));
    }
    Ok(())
}

/// The kernel's spec (under `specs`) of the family `name`, if the kernel has one.
fn kernel_family(specs: &Path, name: &str) -> Result<Option<PathBuf>> {
    let entries =
        fs::read_dir(specs).with_context(|| format!("cannot read {}", specs.display()))?;
    for spec in entries.flatten().map(|e| e.path()) {
        let text = fs::read_to_string(&spec).unwrap_or_default();
        let declared = text
            .lines()
            .find_map(|l| l.strip_prefix("name:"))
            .map(|n| n.trim().trim_matches(|c| c == '"' || c == '\''));
        if declared == Some(name) {
            return Ok(Some(spec));
        }
    }
    Ok(None)
}

/// DIR (`given`, from `cwd`) as an absolute path, refused when it is inside this checkout or
/// exists with something in it.
fn destination(name: &str, given: &Path, cwd: &Path) -> Result<PathBuf> {
    let dir = real_path(&lexical(&cwd.join(given)));
    let root = real_path(&project::root());
    if dir.starts_with(&root) {
        return Err(usage_error(format!(
            "{} is inside this checkout ({}): the new project must stand on its own; choose a \
             directory outside it, e.g. {}",
            given.display(),
            root.display(),
            root.parent().unwrap_or(&root).join(name).display()
        )));
    }
    if dir.exists() {
        let empty = fs::read_dir(&dir)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
        if !dir.is_dir() || !empty {
            return Err(usage_error(format!(
                "{} exists and is not an empty directory: choose a new one (or empty it)",
                given.display()
            )));
        }
    }
    Ok(dir)
}

/// `path` without `.` and `..` components (it may not exist yet).
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// `path` with its longest existing ancestor's symlinks resolved.
fn real_path(path: &Path) -> PathBuf {
    let mut rest = Vec::new();
    let mut base = path.to_owned();
    loop {
        if let Ok(real) = base.canonicalize() {
            return rest.iter().rev().fold(real, |p, part| p.join(part));
        }
        match (base.file_name().map(ToOwned::to_owned), base.parent()) {
            (Some(part), Some(parent)) => {
                rest.push(part);
                base = parent.to_owned();
            }
            _ => return path.to_owned(),
        }
    }
}

/// The files `git` tracks here (so never `target/` or anything untracked) that the new project
/// gets, relative to the root.
fn tracked_files(sh: &Shell) -> Result<Vec<String>> {
    let listed = cmd!(sh, "git ls-files -z")
        .read()
        .context("cannot list the checkout's files (git ls-files)")?;
    let root = project::root();
    Ok(listed
        .split('\0')
        .filter(|p| !p.is_empty())
        .filter(|p| root.join(p).symlink_metadata().is_ok())
        .map(str::to_owned)
        .collect())
}

/// Writes the renamed project beside `dir`, makes it a repository, then renames it into place.
fn write_project(sh: &Shell, name: &str, files: &[String], dir: &Path) -> Result<()> {
    let parent = dir
        .parent()
        .context("the new project needs a parent directory")?;
    fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    let partial = Partial(parent.join(format!(
        ".{}.cargo-lab-new-{}",
        dir.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    )));
    // Ctrl-C: no half-written copy beside DIR either. (Set once a process: a second is refused.)
    let on_interrupt = partial.0.clone();
    ctrlc::set_handler(move || {
        let _ = fs::remove_dir_all(&on_interrupt);
        std::process::exit(130);
    })
    .ok();
    let renamer = Renamer::new(name);
    let root = project::root();
    for file in files {
        let from = root.join(file);
        let to = partial.0.join(renamer.text(file));
        fs::create_dir_all(to.parent().expect("a file has a parent"))?;
        let meta = from.symlink_metadata()?;
        if meta.is_symlink() {
            let target = fs::read_link(&from)?;
            std::os::unix::fs::symlink(renamer.text(&target.to_string_lossy()), &to)?;
            continue;
        }
        let bytes = fs::read(&from).with_context(|| format!("cannot read {file}"))?;
        match String::from_utf8(bytes) {
            Ok(mut text) => {
                if file == TUTORIAL {
                    text = template::tutorial::rename_family(&text, template::FAMILY, name)?;
                }
                let mut renamed = renamer.text(&text);
                if file.ends_with(".c") || file.ends_with(".h") {
                    renamed = template::c_align::realign(&text, &renamed);
                }
                fs::write(&to, renamed)
            }
            Err(binary) => fs::write(&to, binary.into_bytes()),
        }
        .with_context(|| format!("cannot write {}", to.display()))?;
        fs::set_permissions(&to, meta.permissions())?;
    }
    credit(&partial.0.join("README.md"), name)?;
    // Generated files whose layout follows the name's length (an RST title's underline).
    let spec = partial.0.join(renamer.text(ynl::SPEC));
    // The generator names includes after this project's output paths: rename those too.
    for (path, text) in ynl::generated_from(sh, &spec)? {
        fs::write(partial.0.join(renamer.text(path)), renamer.text(&text))?;
    }
    // rustfmt lays out a call by its length, and the names' lengths changed.
    {
        let _cd = sh.push_dir(&partial.0);
        cmd!(sh, "cargo fmt --all")
            .quiet()
            .run()
            .context("cannot format the new project's Rust (cargo fmt)")?;
    }
    commit(sh, &partial.0, name)?;
    fs::rename(&partial.0, dir)
        .with_context(|| format!("cannot rename {} to {}", partial.0.display(), dir.display()))?;
    std::mem::forget(partial);
    Ok(())
}

/// A half-written project, removed unless it was renamed into place.
struct Partial(PathBuf);

impl Drop for Partial {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The README's title names the new family; its one credit line names the template's.
fn credit(readme: &Path, name: &str) -> Result<()> {
    let Ok(text) = fs::read_to_string(readme) else {
        return Ok(());
    };
    let credit = format!(
        "{} `{}` example family.",
        template::CREDIT,
        template::FAMILY
    );
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with(template::CREDIT))
        .map(str::to_owned)
        .collect();
    if lines.first().is_some_and(|l| l.starts_with("# ")) {
        lines[0] = format!("# {name}");
    }
    lines.insert(1.min(lines.len()), format!("\n{credit}"));
    fs::write(readme, lines.join("\n") + "\n")
        .with_context(|| format!("cannot write {}", readme.display()))
}

/// `git init` and one commit, with the user's git identity or a stand-in.
fn commit(sh: &Shell, dir: &Path, name: &str) -> Result<()> {
    let _cd = sh.push_dir(dir);
    let configured = cmd!(sh, "git config user.email")
        .quiet()
        .ignore_stdout()
        .ignore_stderr()
        .run()
        .is_ok();
    let identity: Vec<&str> = if configured {
        Vec::new()
    } else {
        vec![
            "-c",
            "user.name=cargo lab new",
            "-c",
            "user.email=cargo-lab-new@localhost",
        ]
    };
    let message = format!("{name}: a new generic netlink family, from genl-lab (cargo lab new)");
    cmd!(sh, "git init -q -b main").quiet().run()?;
    cmd!(sh, "git add -A").quiet().run()?;
    cmd!(sh, "git {identity...} commit -q -m {message}")
        .quiet()
        .run()
        .context("cannot commit the new project")?;
    Ok(())
}

#[cfg(test)]
mod guide;

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// A scratch directory, removed at the end of the test.
    pub(super) struct Scratch(pub(super) PathBuf);

    impl Scratch {
        pub(super) fn new(what: &str) -> Scratch {
            let dir = std::env::temp_dir().join(format!("lab-new-{what}-{}", std::process::id()));
            fs::remove_dir_all(&dir).ok();
            fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            fs::remove_dir_all(&self.0).ok();
        }
    }

    /// Every file of a written project that still says the template's name, with the line.
    fn leftovers(dir: &Path) -> Result<Vec<String>> {
        let mut found = Vec::new();
        let mut seen = BTreeSet::new();
        for entry in walk(dir)? {
            let rel = entry.strip_prefix(dir)?.to_string_lossy().into_owned();
            if rel.starts_with(".git/") || !seen.insert(rel.clone()) {
                continue;
            }
            if template::says_the_template(&rel) {
                found.push(format!("{rel}: its path"));
            }
            let text = fs::read(&entry).map(|b| String::from_utf8_lossy(&b).into_owned());
            for (i, line) in text.unwrap_or_default().lines().enumerate() {
                let credit = rel == "README.md" && line.starts_with(template::CREDIT);
                if template::says_the_template(line) && !credit {
                    found.push(format!("{rel}:{}: {line}", i + 1));
                }
            }
        }
        Ok(found)
    }

    fn walk(dir: &Path) -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() && !path.is_symlink() {
                out.extend(walk(&path)?);
            } else {
                out.push(path);
            }
        }
        Ok(out)
    }

    /// The real tree, renamed: nothing may still say the template's name (but the README's
    /// credit line); the result is one commit of every file.
    #[test]
    fn a_new_project_says_nothing_of_the_template() {
        let sh = project::shell().unwrap();
        let scratch = Scratch::new("full");
        let name = template::example_family();
        let dir = scratch.0.join(name);
        let files = tracked_files(&sh).unwrap();
        write_project(&sh, name, &files, &dir).unwrap();
        let found = leftovers(&dir).unwrap();
        assert!(
            found.is_empty(),
            "still says {} (add a rule to template::Renamer):\n{}",
            template::FAMILY,
            found.join("\n")
        );
        let readme = fs::read_to_string(dir.join("README.md")).unwrap();
        assert_eq!(
            readme
                .lines()
                .filter(|l| l.contains(template::FAMILY))
                .count(),
            1,
            "{readme}"
        );
        assert!(dir.join(format!("kmod/{name}.yaml")).is_file());
        let _cd = sh.push_dir(&dir);
        let committed = cmd!(sh, "git ls-files").read().unwrap();
        assert_eq!(committed.lines().count(), files.len());
        assert_eq!(cmd!(sh, "git status --porcelain").read().unwrap(), "");
        let siblings: Vec<_> = fs::read_dir(&scratch.0).unwrap().flatten().collect();
        assert_eq!(siblings.len(), 1, "nothing left beside the project");
    }

    #[test]
    fn bad_names_are_refused_before_anything_is_written() {
        let sh = project::shell().unwrap();
        for bad in ["MyFamily", "my-family", "a_name_longer_than_15", "9lives"] {
            let err = check_family_name(&sh, bad).unwrap_err();
            assert!(
                err.to_string()
                    .contains("not a valid generic netlink family name"),
                "{err}"
            );
        }
        let err = check_family_name(&sh, template::FAMILY).unwrap_err();
        assert!(err.to_string().contains("this lab's own family"), "{err}");
        for kernel in ["nlctrl", "devlink", "ethtool", "netdev"] {
            let err = check_family_name(&sh, kernel).unwrap_err();
            assert!(
                err.to_string().contains("already a family of the kernel"),
                "{err}"
            );
        }
        check_family_name(&sh, template::example_family()).unwrap();
    }

    #[test]
    fn a_directory_inside_the_checkout_or_with_files_is_refused() {
        let cwd = std::env::temp_dir();
        let inside =
            destination("demo_fam", &project::root().join("target/demo"), &cwd).unwrap_err();
        assert!(
            inside.to_string().contains("is inside this checkout"),
            "{inside}"
        );
        let scratch = Scratch::new("dest");
        fs::write(scratch.0.join("something"), "").unwrap();
        let full = destination("demo_fam", &scratch.0, &cwd).unwrap_err();
        assert!(
            full.to_string()
                .contains("exists and is not an empty directory"),
            "{full}"
        );
        let empty = scratch.0.join("empty");
        fs::create_dir(&empty).unwrap();
        assert_eq!(
            destination("demo_fam", &empty, &cwd).unwrap(),
            real_path(&empty)
        );
        assert_eq!(
            destination("demo_fam", Path::new("a/../b"), &scratch.0).unwrap(),
            real_path(&scratch.0).join("b")
        );
    }

    #[test]
    fn a_failed_write_leaves_nothing_behind() {
        let sh = project::shell().unwrap();
        let scratch = Scratch::new("failed");
        let dir = scratch.0.join("demo_fam");
        let files = vec!["README.md".to_owned(), "no/such/file".to_owned()];
        write_project(&sh, "demo_fam", &files, &dir).unwrap_err();
        assert_eq!(fs::read_dir(&scratch.0).unwrap().count(), 0);
    }
}
