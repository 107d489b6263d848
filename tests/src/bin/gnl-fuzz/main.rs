//! `gnl-fuzz`: hostile input and load against the modules, run as root inside the lab's guest
//! (`cargo lab fuzz`): a seeded fuzzer of both protocols, concurrent echoes, dumps and monitors,
//! unloads under load, load/unload cycles checked for leaks, privileges and namespaces.
//!
//! Exit 0 when every scenario passed, 1 otherwise; each prints its counts. A seed replays the same
//! requests on each fuzzing socket (the interleaving of the sockets is up to the scheduler).

mod classic;
mod counts;
mod faults;
mod fuzz;
mod generate;
mod nla;
mod oracle;
mod privileges;
mod semantics;
mod spec;
mod stress;
mod unload;

use nl_codec as nl;

use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};

/// Hostile input and load against gnl_foobar_xmpl and nl_foobar_xmpl (run as root in the guest).
#[derive(Parser, Debug)]
#[command(name = "gnl-fuzz")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Every scenario in turn: fuzz (both protocols), stress, unload, leaks, privileges.
    All(Opts),
    /// Only the fuzzer (both protocols).
    Fuzz(Opts),
    /// Only the concurrency scenarios.
    Stress(Opts),
    /// Only rmmod under load and the load/unload leak check.
    Unload(Opts),
    /// Only the privilege and namespace scenarios.
    Privileges,
    /// Only the fault injection scenarios (a kernel with fault injection: `--kernel debug`).
    Faults(Opts),
    /// The child side of the privilege scenarios (started by `privileges`).
    #[command(hide = true)]
    Probe {
        /// SET_DUMP_COUNT must be allowed (else refused with EPERM).
        #[arg(long)]
        admin: bool,
        /// Running in a new network namespace.
        #[arg(long)]
        fresh_netns: bool,
    },
}

#[derive(clap::Args, Debug, Clone)]
struct Opts {
    /// Fuzz messages per protocol.
    #[arg(long, default_value_t = 100_000)]
    count: u64,
    /// Seed of the fuzzer (default: from the clock; printed either way).
    #[arg(long)]
    seed: Option<u64>,
    /// Fuzzing sockets (threads) per protocol.
    #[arg(long, default_value_t = 4)]
    sockets: usize,
    /// Echo threads of the stress, and requests each.
    #[arg(long, default_value_t = 8)]
    threads: usize,
    /// Echo requests per stress thread.
    #[arg(long, default_value_t = 10_000)]
    echoes: usize,
    /// rmmod/insmod cycles under load.
    #[arg(long, default_value_t = 20)]
    unloads: u32,
    /// Quiet load/unload cycles for the leak check.
    #[arg(long, default_value_t = 100)]
    cycles: u32,
    /// `all` also injects faults (allocation failures, fail_function); needs a kernel built
    /// with fault injection, such as the lab's debug kernel.
    #[arg(long)]
    faults: bool,
    /// Requests sent while the module's allocations fail.
    #[arg(long, default_value_t = 3000)]
    fault_requests: u64,
    /// Module loads attempted while allocations fail.
    #[arg(long, default_value_t = 40)]
    fault_loads: u32,
}

/// One echo over the classic protocol, checked.
pub fn classic_echo(text: &[u8]) -> Result<(), String> {
    let sock = nl::Sock::open(nl::NETLINK_FOOBAR_XMPL).map_err(|e| e.to_string())?;
    let mut payload = text.to_vec();
    payload.push(0);
    sock.send(&nl::message(
        nl::NLMSG_MIN_TYPE,
        nl::F_REQUEST,
        42,
        &payload,
    ))
    .map_err(|e| format!("classic echo: {e}"))?;
    let mut buf = vec![0u8; 4096];
    let n = sock
        .recv(&mut buf, 30_000)
        .map_err(|e| e.to_string())?
        .ok_or("classic echo: no reply")?;
    match nl::parse(&buf[..n], sock.port)?.as_slice() {
        [m] if m.ty == nl::NLMSG_MIN_TYPE && m.seq == 42 && m.payload == payload => Ok(()),
        other => Err(format!("classic echo: answered {other:?}")),
    }
}

/// The family, with the modules loaded.
fn family() -> Result<nl::Family, String> {
    unload::load_all()?;
    let sock = nl::Sock::open(nl::NETLINK_GENERIC).map_err(|e| e.to_string())?;
    nl::resolve(&sock, nl::uapi::GNL_FOOBAR_XMPL_FAMILY_NAME)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "family gnl_foobar_xmpl is not registered".into())
}

/// A normal echo on both protocols still works.
fn still_works() -> Result<(), String> {
    let fam = family()?;
    stress::dump_once(fam, 10)?;
    let sock = nl::Sock::open(nl::NETLINK_GENERIC).map_err(|e| e.to_string())?;
    sock.send(&nl::message(
        fam.id,
        nl::F_REQUEST,
        1,
        &nl::genl(
            nl::uapi::GNL_FOOBAR_XMPL_CMD_ECHO,
            &[nl::attr(nl::uapi::GNL_FOOBAR_XMPL_A_MSG, b"still here\0")],
        ),
    ))
    .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 4096];
    let n = sock
        .recv(&mut buf, 30_000)
        .map_err(|e| e.to_string())?
        .ok_or("no echo reply")?;
    let msgs = nl::parse(&buf[..n], sock.port)?;
    match msgs.first().and_then(|m| m.genl()) {
        Some((nl::uapi::GNL_FOOBAR_XMPL_CMD_ECHO, attrs))
            if attrs == [(nl::uapi::GNL_FOOBAR_XMPL_A_MSG, &b"still here\0"[..])] => {}
        _ => return Err(format!("echo after the run answered {msgs:?}")),
    }
    classic_echo(b"still here")
}

struct Run {
    failures: Vec<String>,
}

impl Run {
    fn scenario(&mut self, name: &str, f: impl FnOnce() -> Vec<String>) {
        println!("==> {name}");
        let started = Instant::now();
        let problems = f();
        let verdict = if problems.is_empty() {
            "passed"
        } else {
            "FAILED"
        };
        println!(
            "<== {name}: {verdict} ({:.1} s)",
            started.elapsed().as_secs_f64()
        );
        for p in problems.iter().take(20) {
            println!("    {p}");
        }
        self.failures
            .extend(problems.into_iter().map(|p| format!("{name}: {p}")));
    }
}

fn fuzz_both(run: &mut Run, o: &Opts, seed: u64) {
    for (name, classic) in [
        ("fuzz generic netlink", false),
        ("fuzz classic netlink", true),
    ] {
        run.scenario(name, || {
            let target = if classic {
                fuzz::Target::Classic
            } else {
                match family() {
                    Ok(f) => fuzz::Target::Genl(f),
                    Err(e) => return vec![e],
                }
            };
            if let Err(e) = unload::load_all() {
                return vec![e];
            }
            let totals = fuzz::run(target, seed, o.count, o.sockets);
            println!("{name}: seed {seed}: {}", totals.summary());
            println!("{name}: per operation:\n{}", totals.table());
            let mut problems = totals.violations;
            if totals.messages < o.count {
                problems.push(format!("only {} messages sent", totals.messages));
            }
            if let Err(e) = still_works() {
                problems.push(format!("after fuzzing: {e}"));
            }
            problems
        });
    }
    // The fuzzer sets random dump counts: back to the default.
    let _ = unload::unload_all().and_then(|()| unload::load_all());
}

fn stress_all(run: &mut Run, o: &Opts) {
    run.scenario("stress: echoes and monitors", || match family() {
        Ok(fam) => stress::echo_storm(fam, o.threads, o.echoes),
        Err(e) => vec![e],
    });
    run.scenario("stress: concurrent dumps", || match family() {
        Ok(fam) => stress::dump_storm(fam, 4, 2),
        Err(e) => vec![e],
    });
}

fn unload_all(run: &mut Run, o: &Opts) {
    run.scenario("unload under load", || {
        let mut p = unload::under_load(o.unloads, 4);
        if let Err(e) = still_works() {
            p.push(format!("after the unloads: {e}"));
        }
        p
    });
    run.scenario("load/unload cycles, leak check", || {
        let mut p = unload::leak_cycles(o.cycles);
        if let Err(e) = still_works() {
            p.push(format!("after the cycles: {e}"));
        }
        p
    });
}

fn faults_all(run: &mut Run, o: &Opts, seed: u64) {
    run.scenario("faults: requests, dumps and events", || {
        let mut p = match family() {
            Ok(fam) => faults::requests(fam, seed, o.fault_requests, 20),
            Err(e) => vec![e],
        };
        if let Err(e) = still_works() {
            p.push(format!("after the faults: {e}"));
        }
        p
    });
    run.scenario("faults: module loads", || {
        let mut p = faults::loads(o.fault_loads, 10);
        if let Err(e) = still_works() {
            p.push(format!("after the faults: {e}"));
        }
        p
    });
    run.scenario("faults: fail_function on the per-namespace init", || {
        let mut p = faults::pernet_init();
        if let Err(e) = still_works() {
            p.push(format!("after the faults: {e}"));
        }
        p
    });
    // The requests set random dump counts: back to the default.
    let _ = unload::unload_all().and_then(|()| unload::load_all());
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Reload without dynamic debug: a run of pr_debug lines per request would push the boot
    // messages out of the kernel log.
    if !matches!(cli.command, Cmd::Probe { .. }) {
        if let Err(e) = unload::unload_all().and_then(|()| unload::load_all()) {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    }
    let mut run = Run {
        failures: Vec::new(),
    };
    let started = Instant::now();
    match &cli.command {
        Cmd::Probe { admin, fresh_netns } => {
            return match privileges::probe(*admin, *fresh_netns) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    println!("  probe FAILED: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Cmd::All(o) | Cmd::Fuzz(o) | Cmd::Stress(o) | Cmd::Unload(o) | Cmd::Faults(o) => {
            let seed = o.seed.unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
            println!(
                "gnl-fuzz: seed {seed} (replay: cargo lab fuzz --seed {seed} --count {})",
                o.count
            );
            let all = matches!(cli.command, Cmd::All(_));
            if all || matches!(cli.command, Cmd::Fuzz(_)) {
                fuzz_both(&mut run, o, seed);
            }
            if all || matches!(cli.command, Cmd::Stress(_)) {
                stress_all(&mut run, o);
            }
            if all || matches!(cli.command, Cmd::Unload(_)) {
                unload_all(&mut run, o);
            }
            if all {
                run.scenario("privileges and namespaces", privileges::run);
            }
            if (all && o.faults) || matches!(cli.command, Cmd::Faults(_)) {
                faults_all(&mut run, o, seed);
            }
        }
        Cmd::Privileges => run.scenario("privileges and namespaces", privileges::run),
    }
    // Last word: the modules unload cleanly.
    if let Err(e) = unload::unload_all() {
        run.failures.push(format!("final unload: {e}"));
    }
    println!(
        "gnl-fuzz: {} in {:.0} s",
        if run.failures.is_empty() {
            "all scenarios passed".to_owned()
        } else {
            format!("{} problems", run.failures.len())
        },
        started.elapsed().as_secs_f64()
    );
    if run.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
