//! `cargo lab fuzz`: the reliability runs. Boots each kernel hardened (slub_debug, KFENCE where
//! the kernel has it) and runs `gnl-fuzz all` in it: the seeded fuzzer of both modules,
//! concurrency, unloads under load, load/unload leak check, privileges and namespaces.

use anyhow::Result;

use super::{BootPlan, GuestTask};
use crate::contract::Mode;
use crate::{build, flags, project, verdict};

impl flags::FuzzArgs {
    /// Runs the reliability scenarios on every kernel asked for; returns the worst verdict's code.
    pub fn run(&self) -> Result<u8> {
        let prep = super::prepare(&self.vm)?;
        let plan = BootPlan {
            hardened: true,
            ..BootPlan::new(&self.vm, 1)
        };
        let seed = self.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64 % 1_000_000_000_000)
        });
        eprintln!(
            "==> fuzz: seed {seed}, {} messages per protocol (replay: cargo lab fuzz --seed {seed} --count {})",
            self.count, self.count
        );
        let fuzzer = prep.bin_dir.join(build::FUZZER).display().to_string();
        let verdicts = super::each_kernel(&prep, 1, |prep, kernel| {
            let mut command = vec![fuzzer.clone(), self.only.clone()];
            if self.only != "privileges" {
                command.extend([
                    "--count".to_owned(),
                    self.count.to_string(),
                    "--seed".to_owned(),
                    seed.to_string(),
                ]);
            }
            // The debug kernel injects faults too (failslab, fail_page_alloc, fail_function).
            if kernel.debug && self.only == "all" {
                command.push("--faults".to_owned());
            }
            command.extend(self.extra.iter().cloned());
            let task = GuestTask {
                coverage: Some("fuzz"),
                ..GuestTask::new(Mode::Exec { command })
            };
            let run = super::run_on(prep, kernel, &plan, &task)?;
            run.verdict.print();
            Ok(run.verdict)
        })?;
        verdict::conclude(&project::lab_dir(), &verdicts)?;
        eprintln!("==> fuzz: seed {seed}");
        Ok(verdict::overall_exit_code(&verdicts))
    }
}
