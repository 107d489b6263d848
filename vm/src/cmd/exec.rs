//! `cargo lab exec` and `cargo lab shell`: a kernel with the modules inserted and the clients on
//! PATH, for poking at the module by hand and for running other tools against it.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use anyhow::{Context, Result};

use super::{BootPlan, GuestTask, Prepared};
use crate::boot::Boot;
use crate::contract::Mode;
use crate::error::usage_error;
use crate::verdict::Outcome;
use crate::{build, flags, gdb, project};

impl flags::ExecArgs {
    /// Runs the command on each kernel; returns its exit code (the last non-zero one), or the
    /// verdict's when the kernel log shows a problem or the guest never said how it ended.
    pub fn run(&self) -> Result<u8> {
        let prep = super::prepare(&self.vm)?;
        let plan = BootPlan {
            gdb: self.debugger.gdb,
            ..BootPlan::new(&self.vm, 1)
        };
        if plan.gdb {
            gdb_prepare(&prep, "exec", self.vm.install.no_install)?;
        }
        let task = GuestTask::new(Mode::Exec {
            command: self.command.clone(),
        });
        let codes = super::each_kernel(&prep, 1, |prep, kernel| {
            let run = super::run_on(prep, kernel, &plan, &task)?;
            let exit = run
                .report
                .as_ref()
                .and_then(|r| u8::try_from(r.exit_code).ok());
            Ok(match (run.verdict.result, exit) {
                (Outcome::KernelUnhealthy | Outcome::InfraFailed, _) | (_, None) => {
                    run.verdict.print();
                    run.verdict.result.exit_code()
                }
                (_, Some(exit)) => {
                    eprintln!(
                        "==> [{}] exit {exit}; logs: {}",
                        kernel.name,
                        run.verdict.logs.display()
                    );
                    exit
                }
            })
        })?;
        Ok(codes.into_iter().rev().find(|&c| c != 0).unwrap_or(0))
    }
}

/// `--gdb` debugs one guest: prepares its `init.gdb` and says how to attach.
fn gdb_prepare(prep: &Prepared, command: &str, no_install: bool) -> Result<()> {
    let [kernel] = prep.kernels.as_slice() else {
        return Err(usage_error(format!(
            "cargo lab {command} --gdb debugs one kernel: name one with --kernel"
        )));
    };
    let init = gdb::prepare(
        &prep.sh,
        kernel,
        &project::kernel_dir(&kernel.name),
        gdb::Modules::AsLoaded,
        no_install,
    )?;
    eprintln!("{}", gdb::how_to_attach(kernel, &init));
    Ok(())
}

impl flags::ShellArgs {
    /// Opens an interactive root shell in one kernel, modules inserted, clients on PATH.
    pub fn run(&self) -> Result<u8> {
        let prep = super::prepare(&self.vm)?;
        let [kernel] = prep.kernels.as_slice() else {
            return Err(usage_error(
                "cargo lab shell boots one kernel: name one with --kernel",
            ));
        };
        let plan = BootPlan {
            gdb: self.debugger.gdb,
            ..BootPlan::new(&self.vm, 1)
        };
        if plan.gdb {
            gdb_prepare(&prep, "shell", self.vm.install.no_install)?;
        }
        let _lock = project::lock_kernel_dir(&kernel.name)?;
        let kmod_dir = build::module(&prep.sh, kernel, &[])?;
        let out = project::kernel_dir(&kernel.name);
        // vng --shell takes a program: a small script that hands over to the guest side.
        let script = out.join("shell.sh");
        let argv = super::guest_job(&prep, kernel, &kmod_dir, Mode::Shell).write()?;
        fs::write(
            &script,
            format!("#!/bin/sh\nexec {}\n", shell_words::join(&argv)),
        )
        .context("cannot write the shell script")?;
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755))?;
        let boot = Boot {
            kernel,
            accel: prep.accel,
            out_dir: out,
            rw_dirs: Vec::new(),
            append: Vec::new(),
            exec: Vec::new(),
            timeout: Duration::MAX,
            verbose: plan.verbose,
            quiet: false,
            kill: None,
            gdb: plan.gdb,
            cpus: plan.cpus,
        };
        let code = boot.run_interactive(&script)?;
        Ok(u8::try_from(code).unwrap_or(1))
    }
}
