//! `cargo lab exec` and `cargo lab shell`: a kernel with the modules inserted and the clients on
//! PATH, for poking at the module by hand and for running other tools against it.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::boot::Boot;
use crate::flags::{DebuggerArgs, ExecArgs, ShellArgs, VmArgs};
use crate::verdict::{usage_error, Outcome, EXIT_KERNEL_UNHEALTHY};
use crate::{build, gdb, project};

/// Runs the command on each kernel; returns its exit code (the last non-zero one), or 2 when the
/// command succeeded but the kernel log shows a problem.
pub fn run(args: &ExecArgs) -> Result<u8> {
    let prep = super::prepare(&args.vm)?;
    let vm = VmArgs {
        gdb: args.debugger.gdb,
        ..args.vm.clone()
    };
    if vm.gdb {
        gdb_prepare(&prep, "exec", vm.install.no_install)?;
    }
    let mut code = 0;
    for kernel in &prep.kernels {
        let mut mode = vec!["exec".to_owned(), "--".to_owned()];
        mode.extend(args.command.iter().cloned());
        let run = super::boot_guest(&prep, kernel, &vm, &mode)?;
        let exit = run
            .report
            .as_ref()
            .and_then(|r| u8::try_from(r.exit_code).ok());
        match (run.verdict.result, exit) {
            (Outcome::KernelUnhealthy, _) | (Outcome::InfraFailed, _) | (_, None) => {
                run.verdict.print();
                code = if run.verdict.result == Outcome::KernelUnhealthy {
                    EXIT_KERNEL_UNHEALTHY
                } else {
                    run.verdict.result.exit_code()
                };
            }
            (_, Some(exit)) => {
                eprintln!(
                    "==> [{}] exit {exit}; logs: {}",
                    kernel.name,
                    run.verdict.logs.display()
                );
                if exit != 0 {
                    code = exit;
                }
            }
        }
    }
    Ok(code)
}

/// `--gdb` debugs one guest: prepares its `init.gdb` and says how to attach.
fn gdb_prepare(prep: &super::Prepared, command: &str, no_install: bool) -> Result<()> {
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

/// Opens an interactive root shell in one kernel, modules inserted, clients on PATH.
pub fn shell(args: &ShellArgs) -> Result<u8> {
    let DebuggerArgs { gdb } = args.debugger;
    let args = &args.vm;
    let prep = super::prepare(args)?;
    let [kernel] = prep.kernels.as_slice() else {
        return Err(usage_error(
            "cargo lab shell boots one kernel: name one with --kernel",
        ));
    };
    if gdb {
        gdb_prepare(&prep, "shell", args.install.no_install)?;
    }
    let _lock = project::lock_kernel_dir(&kernel.name)?;
    let kmod_dir = build::module(&prep.sh, kernel, &[])?;
    let out = project::kernel_dir(&kernel.name);
    // vng --shell takes a program: a small script that hands over to the guest side.
    let script = out.join("shell.sh");
    let argv = super::guest_command(&prep, kernel, &kmod_dir, &["shell".to_owned()])?;
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
        verbose: args.verbose,
        quiet: false,
        kill: None,
        gdb,
        cpus: super::vcpus(args, 1),
    };
    let code = boot.run_interactive(&script)?;
    Ok(u8::try_from(code).unwrap_or(1))
}
