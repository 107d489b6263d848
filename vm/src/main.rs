//! The genl-lab runner (`cargo lab ...`): resolves kernels, builds the module and the clients,
//! boots virtme-ng VMs, runs the suite inside them and turns what happened into a verdict.
//!
//! Layers, each importing only from those below it: `error`, `flags`, `contract` and the helpers
//! (`project`, `progress`, `apt`, `install`, `deps`, `versions`, `toolchain`, `health`) at the
//! bottom; `kernel/`; `family_spec`, `build`, `boot`; `verdict/`; `coverage`, `gdb`, `ynl`; the
//! guest side (`guest/`); the commands (`cmd/`) on top.

mod apt;
mod boot;
mod build;
mod cmd;
mod contract;
mod coverage;
mod deps;
mod error;
mod family_spec;
mod flags;
mod gdb;
mod guest;
mod health;
mod install;
mod kernel;
mod progress;
mod project;
mod template;
mod toolchain;
mod verdict;
mod versions;
mod ynl;

use std::process::ExitCode;

use clap::Parser;

use crate::error::{exit_code_of_error, EXIT_USAGE};
use crate::flags::{Cli, Command};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let code = if err.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = err.print();
            return ExitCode::from(code);
        }
    };
    let result = match cli.command {
        Command::Test(args) => args.run(),
        Command::Demo(args) => args.run(),
        Command::Tour(args) => args.run(),
        Command::Exec(args) => args.run(),
        Command::Watch(args) => args.run(),
        Command::Shell(args) => args.run(),
        Command::Kernels(args) => args.run(),
        Command::New(args) => args.run(),
        Command::Lint(args) => args.run(),
        Command::Bench(args) => args.run(),
        Command::Fuzz(args) => args.run(),
        Command::Coverage(args) => args.run(),
        Command::Selfcheck(args) => args.run(),
        Command::Guest(args) => args.run(),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(exit_code_of_error(&err))
        }
    }
}
