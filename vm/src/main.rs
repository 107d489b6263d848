//! The genl-lab runner (`cargo lab ...`): resolves kernels, builds the module and the clients,
//! boots virtme-ng VMs, runs the suite inside them and turns what happened into a verdict.

mod apt;
mod boot;
mod build;
mod cmd;
mod coverage;
mod debug_kernel;
mod debugfs;
mod deps;
mod flags;
mod gdb;
mod health;
mod junit;
mod kernel;
mod project;
mod template;
mod toolchain;
mod verdict;
mod ynl;

use std::process::ExitCode;

use clap::Parser;

use crate::flags::{Cli, Command};
use crate::verdict::EXIT_USAGE;

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
        Command::Test(args) => cmd::test::run(&args),
        Command::Demo(args) => cmd::demo::run(&args),
        Command::Tour(args) => cmd::tour::run(&args),
        Command::Exec(args) => cmd::exec::run(&args),
        Command::Watch(args) => cmd::watch::run(&args),
        Command::Shell(args) => cmd::exec::shell(&args),
        Command::Kernels(args) => cmd::kernels::run(&args),
        Command::New(args) => cmd::new::run(&args),
        Command::Lint(args) => cmd::lint::run(&args),
        Command::Bench(args) => cmd::bench::run(&args),
        Command::Fuzz(args) => cmd::fuzz::run(&args),
        Command::Coverage => coverage::report(),
        Command::Selfcheck(args) => cmd::selfcheck::run(&args),
        Command::Guest(args) => cmd::guest::run(&args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(verdict::exit_code_of_error(&err))
        }
    }
}
