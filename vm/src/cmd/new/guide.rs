//! The check of docs/new-family.md: follows the guide in a scratch directory (its `cargo lab new`
//! and what it prints, the files it names, each change it shows applied with `git apply`, the
//! spec's generated files regenerated), and fails with a diff where the guide and the tool differ.

use std::fs;
use std::path::Path;

use clap::Parser;
use xshell::{cmd, Shell};

use super::tests::Scratch;
use super::*;

/// The guide, relative to the project root.
const GUIDE: &str = "docs/new-family.md";

/// A checked block of the guide: its kind (`new`, `files`, `patch`), its text, its first line.
struct Block {
    kind: String,
    text: String,
    line: usize,
}

/// The guide's ```` ```LANG new-family:KIND ```` blocks, in order.
fn blocks(page: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in page.lines().enumerate() {
        if let Some(block) = &mut open {
            if line.trim_end() == "```" {
                out.push(open.take().expect("an open block"));
            } else {
                block.text.push_str(line);
                block.text.push('\n');
            }
        } else if let Some((_, kind)) = line
            .strip_prefix("```")
            .and_then(|l| l.split_once(" new-family:"))
        {
            open = Some(Block {
                kind: kind.trim().to_owned(),
                text: String::new(),
                line: i + 2,
            });
        }
    }
    assert!(open.is_none(), "{GUIDE}: a block is not closed");
    out
}

/// Every run of digits as `N`: a file count or a time may differ from the page.
fn digits_as_n(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if !c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('N') {
            out.push('N');
        }
    }
    out
}

/// `diff -u` of two texts, labelled.
fn diff(sh: &Shell, dir: &Path, (a_name, a): (&str, &str), (b_name, b): (&str, &str)) -> String {
    let (a_file, b_file) = (dir.join("diff-a"), dir.join("diff-b"));
    fs::write(&a_file, a).unwrap();
    fs::write(&b_file, b).unwrap();
    cmd!(
        sh,
        "diff -u --label {a_name} --label {b_name} {a_file} {b_file}"
    )
    .ignore_status()
    .read()
    .unwrap()
}

/// Why `patch` does not apply in `project`: git's words, then each hunk's lines against the file's.
fn why_not(sh: &Shell, scratch: &Path, project: &Path, patch: &str, git_says: &str) -> String {
    let mut out = git_says.to_owned();
    let file = patch
        .lines()
        .find_map(|l| l.strip_prefix("--- a/"))
        .unwrap_or_default();
    let have = fs::read_to_string(project.join(file)).unwrap_or_default();
    let have: Vec<&str> = have.lines().collect();
    for (i, hunk) in patch.split("\n@@ ").skip(1).enumerate() {
        let start: usize = hunk
            .trim_start_matches('-')
            .split([',', ' '])
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        let before: Vec<&str> = hunk
            .lines()
            .skip(1)
            .filter(|l| !l.starts_with('+'))
            .map(|l| l.get(1..).unwrap_or(""))
            .collect();
        let from = start.saturating_sub(1).min(have.len());
        let to = (from + before.len()).min(have.len());
        out += &diff(
            sh,
            scratch,
            (
                &format!("the guide's hunk {} ({file})", i + 1),
                &(before.join("\n") + "\n"),
            ),
            (
                &format!("{file} from line {start}"),
                &(have[from..to].join("\n") + "\n"),
            ),
        );
    }
    out
}

#[test]
fn the_new_family_guide_is_what_the_tool_does() {
    let root = project::root();
    let page = fs::read_to_string(root.join(GUIDE)).unwrap();
    let blocks = blocks(&page);
    let kinds: Vec<&str> = blocks.iter().map(|b| b.kind.as_str()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "new").count(),
        1,
        "{GUIDE}: one `new` block"
    );
    assert!(
        kinds.iter().filter(|k| **k == "patch").count() >= 3,
        "{GUIDE} lost its steps"
    );

    let sh = project::shell().unwrap();
    let scratch = Scratch::new("guide");
    let work = scratch.0.join("work");
    fs::create_dir(&work).unwrap();
    let mut wrong = Vec::new();
    let mut project = None;
    for block in &blocks {
        let at = format!("{GUIDE}:{}", block.line);
        match block.kind.as_str() {
            "new" => {
                let (command, shown) = block.text.split_once('\n').unwrap_or((&block.text, ""));
                let words = shell_words::split(command.trim_start_matches("$ ")).unwrap();
                let args = crate::flags::Cli::try_parse_from(
                    std::iter::once("cargo lab".to_owned()).chain(words.into_iter().skip(2)),
                )
                .unwrap_or_else(|e| panic!("{at}: {command}: {e}"));
                let crate::flags::Command::New(args) = args.command else {
                    panic!("{at}: {command} is not `cargo lab new`");
                };
                let said =
                    create(&args, &work).unwrap_or_else(|e| panic!("{at}: {command}: {e:#}"));
                if digits_as_n(shown) != digits_as_n(&said) {
                    wrong.push(format!(
                        "{at}: `{command}` prints something else (numbers aside):\n{}",
                        diff(&sh, &scratch.0, ("the guide", shown), ("the tool", &said))
                    ));
                }
                let dir = args.dir.unwrap_or_else(|| Path::new("..").join(&args.name));
                project = Some(lexical(&work.join(dir)));
            }
            "files" => {
                let dir = project.as_ref().expect("the project is made first");
                for file in block.text.lines().filter(|l| !dir.join(l).is_file()) {
                    wrong.push(format!("{at}: the new project has no {file}"));
                }
            }
            "patch" => {
                let dir = project.as_ref().expect("the project is made first");
                let patch_file = scratch.0.join("step.patch");
                fs::write(&patch_file, &block.text).unwrap();
                let _cd = sh.push_dir(dir);
                let check = cmd!(sh, "git apply --check {patch_file}")
                    .ignore_status()
                    .output()
                    .unwrap();
                if !check.status.success() {
                    let git_says = String::from_utf8_lossy(&check.stderr).into_owned();
                    wrong.push(format!(
                        "{at}: this change does not apply to the new project:\n{}",
                        why_not(&sh, &scratch.0, dir, &block.text, &git_says)
                    ));
                    continue;
                }
                cmd!(sh, "git apply {patch_file}").quiet().run().unwrap();
                // What `cargo lab lint --regenerate` does after a change to the spec.
                let spec = dir.join(Renamer::new(&project_name(dir)).text(ynl::SPEC));
                if block.text.contains(&format!(
                    "+++ b/{}",
                    spec.strip_prefix(dir).unwrap().display()
                )) {
                    for (path, text) in ynl::generated_from(&sh, &spec)
                        .unwrap_or_else(|e| panic!("{at}: the changed spec: {e:#}"))
                    {
                        let renamer = Renamer::new(&project_name(dir));
                        fs::write(dir.join(renamer.text(path)), renamer.text(&text)).unwrap();
                    }
                }
            }
            other => panic!("{at}: unknown block kind new-family:{other}"),
        }
    }
    assert!(
        wrong.is_empty(),
        "{}\n\n{GUIDE} and `cargo lab new` disagree: fix the guide (or the tool).",
        wrong.join("\n")
    );
}

/// The family a project made by the guide is for: its directory's name.
fn project_name(dir: &Path) -> String {
    dir.file_name().unwrap().to_string_lossy().into_owned()
}
