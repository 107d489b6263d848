//! `cargo lab fuzz`: the reliability runs. Boots each kernel hardened (slub_debug, KFENCE where
//! the kernel has it) and runs `gnl-fuzz all` in it: the seeded fuzzer of both modules,
//! concurrency, unloads under load, load/unload leak check, privileges and namespaces.

use anyhow::Result;

use crate::flags::FuzzArgs;
use crate::verdict::{overall_exit_code, summary_table};
use crate::{build, project};

/// Runs the reliability scenarios on every kernel asked for; returns the worst verdict's code.
pub fn run(args: &FuzzArgs) -> Result<u8> {
    let mut vm = args.vm.clone();
    vm.hardened = true;
    let prep = super::prepare(&vm)?;
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64 % 1_000_000_000_000)
    });
    eprintln!(
        "==> fuzz: seed {seed}, {} messages per protocol (replay: cargo lab fuzz --seed {seed} --count {})",
        args.count, args.count
    );
    let fuzzer = prep.bin_dir.join(build::FUZZER).display().to_string();
    let mut verdicts = Vec::new();
    for kernel in &prep.kernels {
        let mut mode = vec![
            "exec".to_owned(),
            "--".to_owned(),
            fuzzer.clone(),
            args.only.clone(),
        ];
        if args.only != "privileges" {
            mode.extend([
                "--count".to_owned(),
                args.count.to_string(),
                "--seed".to_owned(),
                seed.to_string(),
            ]);
        }
        // The debug kernel injects faults too (failslab, fail_page_alloc, fail_function).
        if kernel.debug && args.only == "all" {
            mode.push("--faults".to_owned());
        }
        mode.extend(args.extra.iter().cloned());
        let mut run = super::boot_guest(&prep, kernel, &vm, &mode)?;
        super::capture_coverage(&prep, kernel, &mut run.verdict, "fuzz");
        run.verdict.print();
        verdicts.push(run.verdict);
    }
    eprintln!();
    eprint!("{}", summary_table(&verdicts));
    crate::junit::write_run(&project::lab_dir(), &verdicts)?;
    eprintln!("==> fuzz: seed {seed}");
    Ok(overall_exit_code(&verdicts))
}
