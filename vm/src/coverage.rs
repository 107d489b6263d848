//! Coverage of the modules on the debug kernel: after each run the guest's GCOV counters are
//! turned into an lcov tracefile (`target/lab/debug/coverage/<run>.info`); `cargo lab coverage`
//! merges the runs' files into one HTML report and prints line and branch coverage per module.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::contract::GCOV_DIR;
use crate::kernel::debug as debug_kernel;
use crate::project;

/// lcov 1.x spells the branch switch this way (`--rc branch_coverage=1` in 2.x).
const BRANCHES: [&str; 2] = ["--rc", "lcov_branch_coverage=1"];

/// Runs an lcov tool, echoing the command, passing its warnings on except one: Debian 12's
/// geninfo (lcov 1.16) prints "Subroutine ... redefined" seven times per capture, which says
/// nothing about the counters.
fn lcov(command: xshell::Cmd<'_>) -> Result<()> {
    let shown = command.to_string();
    eprintln!("$ {shown}");
    let out = command.quiet().ignore_status().output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    for line in stderr.lines() {
        let noise = line.starts_with("Subroutine ") && line.contains(" redefined at ");
        if !noise {
            eprintln!("{line}");
        }
    }
    if !out.status.success() {
        bail!("`{shown}` failed ({})", out.status);
    }
    Ok(())
}

fn dir() -> PathBuf {
    project::kernel_dir(debug_kernel::NAME).join("coverage")
}

/// Turns the counters the guest left in `out/gcov/` into `coverage/<run>.info` and prints the
/// summary. `kmod_dir` is where the modules were built (their `.gcno` files are there).
pub fn capture(sh: &Shell, kmod_dir: &Path, out: &Path, run: &str) -> Result<()> {
    let gcda = out.join(GCOV_DIR);
    let counters: Vec<PathBuf> = fs::read_dir(&gcda)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "gcda"))
        .collect();
    if counters.is_empty() {
        bail!(
            "the guest left no GCOV counters in {} (is the module built with GCOV_PROFILE, \
             and the kernel with CONFIG_GCOV_KERNEL?)",
            gcda.display()
        );
    }
    for c in &counters {
        fs::copy(c, kmod_dir.join(c.file_name().expect("a file name")))?;
    }
    fs::create_dir_all(dir())?;
    let info = dir().join(format!("{run}.info"));
    let raw = dir().join(format!("{run}.raw.info"));
    lcov(cmd!(
        sh,
        "lcov --quiet {BRANCHES...} --capture --directory {kmod_dir} --output-file {raw}"
    ))
    .context("lcov could not read the counters")?;
    // Only the modules' own files, named as in the repository (the build used a copy).
    let sources = format!("{}/*.c", kmod_dir.display());
    lcov(cmd!(
        sh,
        "lcov --quiet {BRANCHES...} --extract {raw} {sources} --output-file {info}"
    ))?;
    fs::remove_file(&raw).ok();
    let text = fs::read_to_string(&info)?;
    let kmod = project::root().join("kmod");
    fs::write(
        &info,
        text.replace(
            &format!("SF:{}/", kmod_dir.display()),
            &format!("SF:{}/", kmod.display()),
        ),
    )?;
    eprintln!(
        "==> [{}] coverage of this run ({}):",
        debug_kernel::NAME,
        info.display()
    );
    eprint!("{}", summary(&parse(&fs::read_to_string(&info)?), false));
    Ok(())
}

/// Per source file: lines found and hit, branches found and hit, and the lines never run.
#[derive(Debug, Default, PartialEq)]
pub struct FileCoverage {
    pub lines: (u32, u32),
    pub branches: (u32, u32),
    pub unreached: Vec<u32>,
}

/// Reads an lcov tracefile (`SF:`, `DA:line,count`, `BRDA:line,block,branch,taken`).
fn parse(info: &str) -> BTreeMap<String, FileCoverage> {
    let mut files: BTreeMap<String, FileCoverage> = BTreeMap::new();
    let mut current: Option<String> = None;
    let mut hits: BTreeMap<(String, u32), u64> = BTreeMap::new();
    let mut branches: BTreeMap<(String, String), bool> = BTreeMap::new();
    for line in info.lines() {
        if let Some(sf) = line.strip_prefix("SF:") {
            let name = Path::new(sf)
                .file_name()
                .map_or(sf.to_owned(), |n| n.to_string_lossy().into_owned());
            files.entry(name.clone()).or_default();
            current = Some(name);
        } else if let (Some(da), Some(file)) = (line.strip_prefix("DA:"), &current) {
            let mut f = da.split(',');
            let (Some(l), Some(c)) = (f.next(), f.next()) else {
                continue;
            };
            let (Ok(l), Ok(c)) = (l.parse::<u32>(), c.parse::<u64>()) else {
                continue;
            };
            *hits.entry((file.clone(), l)).or_default() += c;
        } else if let (Some(br), Some(file)) = (line.strip_prefix("BRDA:"), &current) {
            if let Some((id, taken)) = br.rsplit_once(',') {
                let t = taken != "-" && taken != "0";
                let e = branches.entry((file.clone(), id.to_owned())).or_default();
                *e = *e || t;
            }
        }
    }
    for ((file, line), count) in hits {
        let f = files.entry(file).or_default();
        f.lines.0 += 1;
        if count > 0 {
            f.lines.1 += 1;
        } else {
            f.unreached.push(line);
        }
    }
    for ((file, _), taken) in branches {
        let f = files.entry(file).or_default();
        f.branches.0 += 1;
        f.branches.1 += u32::from(taken);
    }
    files
}

fn percent((found, hit): (u32, u32)) -> String {
    if found == 0 {
        "-".to_owned()
    } else {
        format!(
            "{:.1}% ({hit}/{found})",
            100.0 * f64::from(hit) / f64::from(found)
        )
    }
}

fn summary(files: &BTreeMap<String, FileCoverage>, with_unreached: bool) -> String {
    let mut out = String::new();
    for (file, c) in files {
        out += &format!(
            "    {file:<20} lines {:<18} branches {}\n",
            percent(c.lines),
            percent(c.branches)
        );
        if with_unreached && !c.unreached.is_empty() {
            let lines: Vec<String> = c.unreached.iter().map(u32::to_string).collect();
            out += &format!("      never run: lines {}\n", lines.join(", "));
        }
    }
    out
}

/// `cargo lab coverage`: merges every run's tracefile into `target/lab/coverage/` (HTML) and
/// prints the totals per module with the lines no run reached.
pub fn report() -> Result<u8> {
    let sh = project::shell()?;
    let runs: Vec<PathBuf> = fs::read_dir(dir())
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "info") && !p.ends_with("all.info"))
        .collect();
    if runs.is_empty() {
        return Err(crate::error::usage_error(format!(
            "no coverage data in {}: run `cargo lab test --kernel debug` and \
             `cargo lab fuzz --kernel debug` first (coverage needs the lab's debug kernel)",
            dir().display()
        )));
    }
    let merged = dir().join("all.info");
    let adds: Vec<String> = runs
        .iter()
        .flat_map(|r| ["--add-tracefile".to_owned(), r.display().to_string()])
        .collect();
    lcov(cmd!(
        sh,
        "lcov --quiet {BRANCHES...} {adds...} --output-file {merged}"
    ))?;
    let html = project::lab_dir().join("coverage");
    lcov(cmd!(
        sh,
        "genhtml --quiet --branch-coverage --legend --output-directory {html} {merged}"
    ))
    .context("genhtml (package lcov) failed")?;
    let names: Vec<String> = runs
        .iter()
        .filter_map(|r| r.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    println!(
        "coverage of the modules by {} on the debug kernel:",
        names.join(" + ")
    );
    print!("{}", summary(&parse(&fs::read_to_string(&merged)?), true));
    println!("report: {}", html.join("index.html").display());
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracefiles_are_summed_per_file() {
        let info =
            "TN:\nSF:/x/kmod/a.c\nDA:1,3\nDA:2,0\nBRDA:1,0,0,1\nBRDA:1,0,1,-\nend_of_record\n\
                    SF:/x/kmod/a.c\nDA:2,1\nBRDA:1,0,1,0\nend_of_record\n";
        let files = parse(info);
        assert_eq!(
            files["a.c"],
            FileCoverage {
                lines: (2, 2),
                branches: (2, 1),
                unreached: vec![]
            }
        );
        let one = parse("SF:/k/b.c\nDA:7,0\nDA:8,2\n");
        assert_eq!(one["b.c"].unreached, [7]);
        assert_eq!(percent(one["b.c"].lines), "50.0% (1/2)");
    }
}
