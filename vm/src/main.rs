//! The genl-lab runner (`cargo lab ...`): resolves kernels, builds the module and the clients,
//! boots virtme-ng VMs, runs the suite inside them and turns what happened into a verdict.

mod apt;
mod build;
mod cmd;
mod coverage;
mod debug_kernel;
mod debugfs;
mod deps;
mod health;
mod junit;
mod kernel;
mod project;
mod toolchain;
mod verdict;
mod vm;
mod ynl;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::verdict::EXIT_USAGE;

/// The genl-lab runner: build a netlink kernel module, boot it in a VM, test it.
#[derive(Parser, Debug)]
#[command(name = "cargo lab", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Build everything, boot each kernel, run the snapshot suite in it, print a verdict.
    Test(cmd::test::TestArgs),
    /// Show the module at work: each client's echo, dump and error, then the kernel log.
    Demo(VmArgs),
    /// Boot a kernel with the module inserted and run CMD as root in it.
    Exec(cmd::exec::ExecArgs),
    /// Boot one kernel and keep it: rerun the suite (or `-- FILTER`) on every change, until Ctrl-C.
    Watch(cmd::watch::WatchArgs),
    /// Boot a kernel with the module inserted and open an interactive root shell.
    Shell(VmArgs),
    /// List the known kernels, what is cached, and the exact package versions.
    Kernels(cmd::kernels::KernelsArgs),
    /// Static checks: the module (W=1, sparse, checkpatch), rustfmt, clippy, shellcheck, actionlint.
    Lint(cmd::lint::LintArgs),
    /// Benchmarks: each client's round-trip cost in the VM, or with --lab the lab's own phases.
    Bench(cmd::bench::BenchArgs),
    /// Hostile input and load: fuzz the family, hammer it, unload it under load, check privileges.
    Fuzz(cmd::fuzz::FuzzArgs),
    /// Prove the verdict: boot the debug kernel with deliberately broken modules, one bug each.
    Selfcheck(cmd::selfcheck::SelfcheckArgs),
    /// The modules' line and branch coverage from the debug kernel's test and fuzz runs (HTML).
    Coverage,
    /// Runs inside the guest (started by the other commands, not by hand).
    #[command(hide = true)]
    Guest(cmd::guest::GuestArgs),
}

/// Options shared by every command that boots a VM.
#[derive(Args, Debug, Clone)]
pub struct VmArgs {
    /// Kernel(s): a line (5.10, 6.1, 6.12, 7.2, 7.3, next), a flavour of one (7.3-rt, 7.3-cloud),
    /// a group (lts, latest, all), a comma list, `env` (GENL_LAB_KERNEL_* variables), or the path of
    /// a kernel tree you built. Default: `env` when GENL_LAB_KERNEL_IMAGE is set, else 6.1.
    #[arg(long, short = 'k', env = "GENL_LAB_KERNEL")]
    pub kernel: Option<String>,
    /// Hardware acceleration: kvm, tcg (software emulation), or auto (kvm only where it really works).
    #[arg(long, default_value = "auto", env = "GENL_LAB_ACCEL")]
    pub accel: vm::AccelChoice,
    /// Kill a VM that has not finished after this many seconds.
    #[arg(long, default_value_t = 1800, env = "GENL_LAB_TIMEOUT")]
    pub timeout: u64,
    /// Never install missing tools; print the command that would install them instead.
    #[arg(long, env = "GENL_LAB_NO_INSTALL", value_parser = clap::builder::FalseyValueParser::new())]
    pub no_install: bool,
    /// Boot with allocator debugging: slub_debug=FZPU, and KFENCE sampling where the kernel has it.
    #[arg(long)]
    pub hardened: bool,
    /// Show the whole kernel console while the VM runs (it is always saved to the log).
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// Set by commands that boot several kernels side by side: the guests' output goes to
    /// their logs only.
    #[arg(skip)]
    pub quiet: bool,
}

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
        Command::Exec(args) => cmd::exec::run(&args),
        Command::Watch(args) => cmd::watch::run(&args),
        Command::Shell(args) => cmd::exec::shell(&args),
        Command::Kernels(args) => cmd::kernels::run(&args),
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
