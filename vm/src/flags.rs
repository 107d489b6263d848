//! Every command line of the runner in one place: the commands, the options each takes, and the
//! options every VM-booting command shares (`VmArgs`). Only option types live here: each command
//! is `impl flags::X { fn run }` in `cmd/`, `main.rs` parses and dispatches.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The genl-lab runner: build a netlink kernel module, boot it in a VM, test it.
#[derive(Parser, Debug)]
#[command(name = "cargo lab", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Build everything, boot each kernel, run the snapshot suite in it, print a verdict.
    Test(TestArgs),
    /// Show the module at work: each client's echo, dump and error, then the kernel log.
    Demo(DemoArgs),
    /// Every message on the wire: capture the clients on nlmon, show each byte by name, save a pcap.
    Tour(TourArgs),
    /// Boot a kernel with the module inserted and run CMD as root in it.
    Exec(ExecArgs),
    /// Boot one kernel and keep it: rerun the suite (or `-- FILTER`) on every change, until Ctrl-C.
    Watch(WatchArgs),
    /// Boot a kernel with the module inserted and open an interactive root shell.
    Shell(ShellArgs),
    /// List the known kernels, what is cached, and the exact package versions.
    Kernels(KernelsArgs),
    /// Start your own family: a renamed, green copy of this whole lab in DIR (default ../NAME).
    New(NewArgs),
    /// Static checks: the module (W=1, sparse, checkpatch), rustfmt, clippy, shellcheck, actionlint.
    Lint(LintArgs),
    /// Benchmarks: each client's round-trip cost in the VM, or with --lab the lab's own phases.
    Bench(BenchArgs),
    /// Hostile input and load: fuzz the family, hammer it, unload it under load, check privileges.
    Fuzz(FuzzArgs),
    /// Prove the verdict: boot the debug kernel with deliberately broken modules, one bug each.
    Selfcheck(SelfcheckArgs),
    /// The modules' line and branch coverage from the debug kernel's test and fuzz runs (HTML).
    Coverage(CoverageArgs),
    /// Runs inside the guest (started by the other commands, not by hand).
    #[command(hide = true)]
    Guest(GuestArgs),
}

/// Whether the lab may install what it misses (every command that needs tools).
#[derive(Args, Debug, Clone, Copy)]
pub struct InstallArgs {
    /// Never install missing tools; print the command that would install them instead.
    #[arg(long, env = "GENL_LAB_NO_INSTALL", value_parser = clap::builder::FalseyValueParser::new())]
    pub no_install: bool,
}

/// What the user asked for with `--accel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AccelChoice {
    /// KVM where it really works (CPU virtualization flags and a usable /dev/kvm), else TCG.
    Auto,
    /// Hardware virtualization; fails if /dev/kvm cannot be opened.
    Kvm,
    /// Software emulation: slow, but works everywhere.
    Tcg,
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
    pub accel: AccelChoice,
    /// Kill a VM that has not finished after this many seconds.
    #[arg(long, default_value_t = 1800, env = "GENL_LAB_TIMEOUT")]
    pub timeout: u64,
    #[command(flatten)]
    pub install: InstallArgs,
    /// vCPUs per guest. Default: the host's cores, shared among the guests that run at once (under
    /// TCG each vCPU is a host thread: more than the cores only adds switching).
    #[arg(long, env = "GENL_LAB_CPUS", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub cpus: Option<u16>,
    /// Boot with allocator debugging: slub_debug=FZPU, and KFENCE sampling where the kernel has it.
    #[arg(long)]
    pub hardened: bool,
    /// More kernel command-line options, e.g. `--append clocksource=hpet` (repeatable).
    #[arg(long, value_name = "OPTIONS", env = "GENL_LAB_APPEND")]
    pub append: Vec<String>,
    /// Show the whole kernel console while the VM runs (it is always saved to the log).
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

/// `--gdb`, on the commands that keep a guest up for a person.
#[derive(Args, Debug, Clone, Copy)]
pub struct DebuggerArgs {
    /// Open QEMU's gdb stub (localhost:1234, no KASLR) and write `target/lab/<kernel>/gdb/init.gdb`,
    /// which loads vmlinux (a Debian kernel's `-dbg` package is fetched once) and the modules'
    /// symbols at their load addresses: `gdb -x target/lab/<kernel>/gdb/init.gdb`.
    #[arg(long)]
    pub gdb: bool,
}

/// Arguments of `cargo lab test`.
#[derive(Args, Debug)]
pub struct TestArgs {
    #[command(flatten)]
    pub vm: VmArgs,
    /// Kernels booted side by side (the host's cores are shared among them): default one per 2
    /// host cores.
    #[arg(long, short = 'j', default_value_t = default_jobs())]
    pub jobs: usize,
    /// Do not rerun a failed test. By default each failed test is rerun once in the same boot, and
    /// one that passes then is reported as flaky (exit 4), never as a pass.
    #[arg(long, env = "GENL_LAB_NO_RETRY", value_parser = clap::builder::FalseyValueParser::new())]
    pub no_retry: bool,
    /// Passed to the suite binary, e.g. a test name filter: `cargo lab test -- echo`.
    #[arg(last = true)]
    pub suite_args: Vec<String>,
}

/// Kernels side by side by default: one VM (2 vCPUs) per two host cores, at least one.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

/// Arguments of `cargo lab demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    #[command(flatten)]
    pub vm: VmArgs,
}

/// Arguments of `cargo lab coverage` (none).
#[derive(Args, Debug)]
pub struct CoverageArgs {}

/// Arguments of `cargo lab tour`.
#[derive(Args, Debug)]
pub struct TourArgs {
    #[command(flatten)]
    pub vm: VmArgs,
    /// One JSON object per message (a line each) instead of the annotated text.
    #[arg(long)]
    pub json: bool,
    /// Only this client (gnl-raw, gnl-libnl, gnl-rust); repeat for more. Default: all three.
    #[arg(long = "client", value_parser = lab_facts::GENL_CLIENTS)]
    pub clients: Vec<String>,
}

/// Arguments of `cargo lab watch`.
#[derive(Args, Debug)]
pub struct WatchArgs {
    #[command(flatten)]
    pub vm: VmArgs,
    /// On `watch`, `--gdb` needs a kernel with its gdb scripts (`--kernel debug`): their
    /// `lx-symbols` follows the module through the suite's reloads and watch's rebuilds.
    #[command(flatten)]
    pub debugger: DebuggerArgs,
    /// Passed to the suite binary on every round, e.g. a test name filter: `-- echo`.
    #[arg(last = true)]
    pub suite_args: Vec<String>,
}

/// Arguments of `cargo lab exec`.
#[derive(Args, Debug)]
pub struct ExecArgs {
    #[command(flatten)]
    pub vm: VmArgs,
    #[command(flatten)]
    pub debugger: DebuggerArgs,
    /// The command to run as root in the guest, after `--`.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

/// Arguments of `cargo lab shell`.
#[derive(Args, Debug)]
pub struct ShellArgs {
    #[command(flatten)]
    pub vm: VmArgs,
    #[command(flatten)]
    pub debugger: DebuggerArgs,
}

/// Arguments of `cargo lab kernels`.
#[derive(Args, Debug)]
pub struct KernelsArgs {
    /// Look up the newest build of each line in Debian's archive and download it if newer
    /// (the generic flavour, and every flavour already cached).
    #[arg(long)]
    pub update: bool,
    /// Resolve these kernels (e.g. `next`), downloading them if needed, and exit 0 if each exists,
    /// 64 with the reason if not: for scripts that test a line only when Debian has it.
    #[arg(long, value_name = "KERNELS")]
    pub check: Option<String>,
}

/// Arguments of `cargo lab lint`.
#[derive(Args, Debug)]
pub struct LintArgs {
    /// Kernels to build the modules against (default: all).
    #[arg(long, short = 'k', default_value = "all")]
    pub kernel: String,
    #[command(flatten)]
    pub install: InstallArgs,
    /// Regenerate the UAPI header, the module's generated policies and ops, and the reference
    /// documentation from the family's YNL spec (kmod/gnl_foobar_xmpl.yaml), then exit.
    #[arg(long)]
    pub regenerate: bool,
}

/// Arguments of `cargo lab new`.
#[derive(Args, Debug)]
pub struct NewArgs {
    /// The new family's name: lowercase letters, digits and `_`, starting with a letter, at most
    /// 15 bytes.
    pub name: String,
    /// Where the new project goes (a new or empty directory outside this checkout).
    /// Default: ../NAME.
    pub dir: Option<PathBuf>,
}

/// Arguments of `cargo lab bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    pub vm: VmArgs,
    /// Time the lab itself: each phase of `cargo lab test` next to a bare boot of the kernel.
    #[arg(long)]
    pub lab: bool,
    /// Fewer iterations (a smoke run, not numbers to quote).
    #[arg(long)]
    pub quick: bool,
}

/// Arguments of `cargo lab fuzz`.
#[derive(Args, Debug)]
pub struct FuzzArgs {
    #[command(flatten)]
    pub vm: VmArgs,
    /// Fuzz messages per protocol (generic and classic netlink).
    #[arg(long, default_value_t = 100_000)]
    pub count: u64,
    /// Seed of the fuzzer; a seed replays the same requests. Default: from the clock (printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run only one scenario group: all, fuzz, stress, unload, privileges or faults (a kernel
    /// with fault injection: `--kernel debug`).
    #[arg(long, default_value = "all", value_parser = ["all", "fuzz", "stress", "unload", "privileges", "faults"])]
    pub only: String,
    /// More options for the guest driver, after `--` (see `gnl-fuzz all --help`), e.g.
    /// `-- --echoes 2500 --cycles 100`.
    #[arg(last = true)]
    pub extra: Vec<String>,
}

/// Arguments of `cargo lab selfcheck`.
#[derive(Args, Debug)]
pub struct SelfcheckArgs {
    #[command(flatten)]
    pub vm: VmArgs,
    /// Only these cases (default: every one): none, uaf, leak, lockorder, sleep, ubsan.
    pub cases: Vec<String>,
}

/// Arguments of `lab guest` (passed by the host, not typed by users).
#[derive(Args, Debug)]
pub struct GuestArgs {
    /// The job the host wrote (`contract::GuestJob`, `target/lab/<kernel>/guest-job.json`).
    #[arg(long)]
    pub job: PathBuf,
}
