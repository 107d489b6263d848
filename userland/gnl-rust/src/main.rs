//! `gnl-rust`: command-line client of the gnl_foobar_xmpl family (see `userland/INTERFACE.md`).

use std::{
    ffi::OsString,
    io::{self, Write},
    os::unix::ffi::OsStrExt,
    process::ExitCode,
    time::Instant,
};

use clap::{Parser, Subcommand, ValueEnum};
use gnl_rust::{Client, Error, Event, DUMP_COUNT, FAMILY_NAME, MCGRP_EVENTS};

/// Client of the gnl_foobar_xmpl generic netlink family (Rust, neli).
#[derive(Debug, Parser)]
#[command(name = "gnl-rust", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Send MSG and print the kernel's echo of it.
    Echo {
        /// The message, at most 255 bytes.
        #[arg(default_value = "hello")]
        msg: OsString,
    },
    /// Dump the kernel's messages.
    Dump {
        /// Number of messages, 1 to 100000 (default: the module's dump count).
        #[arg(long, value_name = "N", value_parser = parse_dump_count)]
        count: Option<u32>,
    },
    /// Ask for the error reply and print it.
    Error,
    /// Print the events of the multicast group `events`.
    Monitor {
        /// Exit after N events (default: run until killed).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        count: Option<u32>,
    },
    /// Set the default dump count (needs CAP_NET_ADMIN).
    SetDumpCount {
        /// The new default, 1 to 100000.
        #[arg(value_name = "N", value_parser = parse_dump_count)]
        count: u32,
    },
    /// Print the module's counters.
    Stats {
        /// Fetch them with a dump rather than one reply.
        #[arg(long)]
        dump: bool,
    },
    /// Time N round trips and print the nanoseconds of each, one per line.
    Bench {
        /// What one iteration is.
        workload: Workload,
        /// How many iterations.
        #[arg(long, value_name = "N", default_value_t = 1000,
              value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
        iterations: u32,
        /// Messages per dump (dump workload).
        #[arg(long, value_name = "N", default_value_t = *DUMP_COUNT.end(),
              value_parser = parse_dump_count)]
        count: u32,
    },
}

/// One iteration of `bench`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Workload {
    /// Open a socket, resolve the family, echo `hello`, close.
    Oneshot,
    /// Echo `hello` on the socket opened once.
    Steady,
    /// Dump `--count` messages on the socket opened once, printing none.
    Dump,
}

fn parse_dump_count(arg: &str) -> Result<u32, String> {
    let n: u32 = arg
        .parse()
        .map_err(|_| format!("'{arg}' is not a whole number"))?;
    if !DUMP_COUNT.contains(&n) {
        return Err(format!(
            "{n} is outside [{}, {}]",
            DUMP_COUNT.start(),
            DUMP_COUNT.end()
        ));
    }
    Ok(n)
}

/// Why a run failed: the family, or writing standard output.
enum Failure {
    Client(Error),
    Output(io::Error),
}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        Failure::Client(err)
    }
}

impl From<io::Error> for Failure {
    fn from(err: io::Error) -> Self {
        Failure::Output(err)
    }
}

fn run(command: Command, out: &mut impl Write) -> Result<(), Failure> {
    if let Command::Echo { msg } = &command {
        gnl_rust::check_message(msg.as_bytes())?; // before anything is opened
    }
    let mut client = Client::open()?;
    match command {
        Command::Echo { msg } => {
            let res = client.echo(msg.as_bytes());
            // "sent:" once the request is out, whatever the answer.
            if !matches!(res, Err(Error::Syscall("send", _))) {
                out.write_all(&[b"sent: ", msg.as_bytes(), b"\n"].concat())?;
            }
            out.write_all(&[b"received: ", &res?[..], b"\n"].concat())?;
        }
        Command::Dump { count } => {
            let mut written = Ok(());
            let received = client.dump_each(count, |index, msg| {
                if written.is_ok() {
                    written = write!(out, "{index}: ")
                        .and_then(|()| out.write_all(&[msg, b"\n"].concat()));
                }
            })?;
            written?;
            writeln!(out, "received {received} messages")?;
        }
        Command::Error => {
            let err = client.error()?;
            writeln!(
                out,
                "errno: {} ({})",
                err.errno,
                gnl_rust::strerror(err.errno)
            )?;
            if let Some(extack) = err.extack {
                writeln!(out, "extack: {extack}")?;
            }
        }
        Command::Monitor { count } => {
            client.subscribe()?;
            writeln!(out, "listening on {FAMILY_NAME}/{MCGRP_EVENTS}")?;
            out.flush()?;
            for _ in 0..count.unwrap_or(u32::MAX) {
                match client.next_event()? {
                    Event::Echo(msg) => {
                        out.write_all(&[b"event: echo ", &msg[..], b"\n"].concat())?
                    }
                    Event::SetDumpCount(n) => writeln!(out, "event: set-dump-count {n}")?,
                    Event::Unknown(cmd) => writeln!(out, "event: unknown command {cmd}")?,
                }
                out.flush()?;
            }
        }
        Command::SetDumpCount { count } => {
            client.set_dump_count(count)?;
            writeln!(out, "default dump count: {count}")?;
        }
        Command::Stats { dump } => {
            for stat in client.stats(dump)? {
                writeln!(out, "{}: {}", stat.name, stat.value)?;
            }
        }
        Command::Bench {
            workload,
            iterations,
            count,
        } => {
            let mut ns = Vec::with_capacity(iterations as usize);
            for _ in 0..iterations {
                let start = Instant::now();
                match workload {
                    Workload::Oneshot => drop(Client::open()?.echo(b"hello")?),
                    Workload::Steady => drop(client.echo(b"hello")?),
                    Workload::Dump => drop(client.dump_each(Some(count), |_, _| {})?),
                }
                ns.push(start.elapsed().as_nanos());
            }
            ns.iter().try_for_each(|n| writeln!(out, "{n}"))?;
        }
    }
    Ok(())
}

/// clap's complaint as one line, without its `error: ` prefix.
fn usage_problem(err: &clap::Error) -> String {
    use clap::error::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        return "missing command".to_owned();
    }
    let rendered = err.render().to_string();
    let message = rendered.split("\n\n").next().unwrap_or_default();
    let message = message.strip_prefix("error: ").unwrap_or(message);
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) if !err.use_stderr() => {
            let _ = err.print(); // --help, --version
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            eprintln!("error: {}", usage_problem(&err));
            eprintln!("try 'gnl-rust --help'");
            return ExitCode::from(2);
        }
    };
    // One buffer for all of standard output (a dump is 100,000 lines), flushed before any error.
    let mut out = io::BufWriter::with_capacity(64 * 1024, io::stdout().lock());
    let res = run(cli.command, &mut out);
    let res = res.and_then(|()| out.flush().map_err(Failure::Output));
    let _ = out.flush();
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Client(err)) => {
            eprintln!("error: {err}");
            ExitCode::from(err.exit_code())
        }
        Err(Failure::Output(err)) => {
            eprintln!("error: write: {err}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    fn parse(args: &[&str]) -> Result<Command, clap::Error> {
        Cli::try_parse_from(std::iter::once("gnl-rust").chain(args.iter().copied()))
            .map(|cli| cli.command)
    }

    #[test]
    fn arguments_are_validated() {
        assert!(matches!(parse(&["echo"]), Ok(Command::Echo { msg }) if msg == "hello"));
        assert!(matches!(
            parse(&["dump", "--count", "100000"]),
            Ok(Command::Dump {
                count: Some(100_000)
            })
        ));
        for bad in ["0", "100001", "-1", "x", ""] {
            assert_eq!(
                parse(&["dump", "--count", bad]).unwrap_err().exit_code(),
                2,
                "{bad}"
            );
            assert!(parse(&["set-dump-count", bad]).is_err(), "{bad}");
        }
        assert!(parse(&["monitor", "--count", "0"]).is_err());
        assert!(matches!(
            parse(&["stats", "--dump"]),
            Ok(Command::Stats { dump: true })
        ));
        assert!(parse(&["bogus"]).is_err());
        assert!(parse(&["bench", "dump", "--iterations", "0"]).is_err());
    }

    #[test]
    fn errors_follow_the_interface() {
        assert_eq!(Error::MessageTooLong(300).exit_code(), 2);
        assert_eq!(Error::FamilyNotFound.exit_code(), 3);
        assert_eq!(Error::PermissionDenied.exit_code(), 4);
        assert_eq!(Error::Protocol(String::new()).exit_code(), 5);
        assert_eq!(
            Error::Kernel(gnl_rust::KernelError {
                errno: 22,
                extack: Some("x".into())
            })
            .to_string(),
            "kernel rejected the request: Invalid argument (errno 22): x"
        );
        assert_eq!(
            gnl_rust::check_message(&[b'a'; 256]),
            Err(Error::MessageTooLong(256))
        );
    }
}
