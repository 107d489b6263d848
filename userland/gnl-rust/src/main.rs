//! `gnl-rust`: command-line client of the gnl_foobar_xmpl family (see `userland/INTERFACE.md`).

// The C runtime's `main` is used instead of Rust's: it spares the system calls of Rust's runtime
// set-up (stdio checks, SIGPIPE, stack guard), so this client makes no more of them than the C
// ones, and a closed pipe ends it by SIGPIPE as it ends them. Arguments still reach
// `std::env::args_os` (glibc hands them to the Rust standard library at start-up).
#![cfg_attr(not(test), no_main)]

use std::{
    ffi::OsString,
    fs::File,
    io::{self, BufWriter, Write},
    mem::ManuallyDrop,
    os::{fd::FromRawFd, unix::ffi::OsStrExt},
    time::Instant,
};

use clap::{Parser, Subcommand, ValueEnum};
use gnl_rust::{uapi, Client, Error, Event};

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
        #[arg(long, value_name = "N", default_value_t = uapi::DUMP_COUNT_MAX,
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

/// Parses a dump count: an integer in [DUMP_COUNT_MIN, DUMP_COUNT_MAX].
fn parse_dump_count(arg: &str) -> Result<u32, String> {
    let n: u32 = arg
        .parse()
        .map_err(|_| format!("'{arg}' is not a whole number"))?;
    gnl_rust::check_dump_count(n).map_err(|_| {
        format!(
            "{n} is outside [{}, {}]",
            uapi::DUMP_COUNT_MIN,
            uapi::DUMP_COUNT_MAX
        )
    })?;
    Ok(n)
}

/// File descriptor 1 as a writer that never closes it.
struct Fd1(ManuallyDrop<File>);

impl Write for Fd1 {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.0).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Standard output, buffered here and flushed explicitly: without Rust's runtime nothing flushes
/// it at exit, and one `write` per dump line would cost more than the dump.
fn stdout() -> BufWriter<Fd1> {
    // SAFETY: fd 1 is open for the whole process; ManuallyDrop keeps it from being closed.
    let file = ManuallyDrop::new(unsafe { File::from_raw_fd(1) });
    BufWriter::with_capacity(64 * 1024, Fd1(file))
}

/// The `error` subcommand's output for the kernel's answer.
fn error_lines(err: &gnl_rust::KernelError) -> String {
    let mut text = format!("errno: {} ({})\n", err.errno, gnl_rust::strerror(err.errno));
    if let Some(extack) = &err.extack {
        text.push_str(&format!("extack: {extack}\n"));
    }
    text
}

/// One `monitor` line for an event.
fn event_line(out: &mut impl Write, event: &Event) -> io::Result<()> {
    match event {
        Event::Echo(msg) => {
            out.write_all(b"event: echo ")?;
            out.write_all(msg)?;
            out.write_all(b"\n")
        }
        Event::SetDumpCount(n) => writeln!(out, "event: set-dump-count {n}"),
        Event::Unknown(cmd) => writeln!(out, "event: unknown command {cmd}"),
    }
}

/// Why a run failed: the family's error, or writing standard output.
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
        // Checked before anything is opened or sent.
        gnl_rust::check_message(msg.as_bytes())?;
    }
    let mut client = Client::open()?;
    match command {
        Command::Bench {
            workload,
            iterations,
            count,
        } => bench(&mut client, workload, iterations, count, out)?,
        Command::Echo { msg } => {
            let res = client.echo(msg.as_bytes());
            // "sent:" is printed once the request is out, whatever the answer (as gnl-raw does).
            if !matches!(res, Err(Error::Syscall { call: "send", .. })) {
                out.write_all(b"sent: ")?;
                out.write_all(msg.as_bytes())?;
                out.write_all(b"\n")?;
            }
            let reply = res?;
            out.write_all(b"received: ")?;
            out.write_all(&reply)?;
            out.write_all(b"\n")?;
        }
        Command::Dump { count } => {
            let mut written = Ok(());
            let received = client.dump_each(count, |index, msg| {
                if written.is_ok() {
                    written = write!(out, "{index}: ")
                        .and_then(|()| out.write_all(msg))
                        .and_then(|()| out.write_all(b"\n"));
                }
            })?;
            written?;
            writeln!(out, "received {received} messages")?;
        }
        Command::Error => {
            let err = client.error()?;
            out.write_all(error_lines(&err).as_bytes())?;
        }
        Command::Monitor { count } => {
            client.subscribe()?;
            writeln!(
                out,
                "listening on {}/{}",
                uapi::FAMILY_NAME,
                uapi::MCGRP_EVENTS
            )?;
            out.flush()?;
            let mut seen = 0u32;
            while count.is_none_or(|n| seen < n) {
                let event = client.next_event()?;
                event_line(out, &event)?;
                out.flush()?;
                seen += 1;
            }
        }
        Command::SetDumpCount { count } => {
            client.set_dump_count(count)?;
            writeln!(out, "default dump count: {count}")?;
        }
        Command::Stats { dump } => {
            let stats = if dump {
                client.stats_dump()?
            } else {
                client.stats()?
            };
            for stat in stats {
                writeln!(out, "{}: {}", stat.name, stat.value)?;
            }
        }
    }
    Ok(())
}

/// `bench`: runs the iterations, then prints their nanoseconds (printing does not count).
fn bench(
    client: &mut Client,
    workload: Workload,
    iterations: u32,
    count: u32,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let mut ns = Vec::with_capacity(iterations as usize);
    for _ in 0..iterations {
        let start = Instant::now();
        match workload {
            Workload::Oneshot => {
                Client::open()?.echo(b"hello")?;
            }
            Workload::Steady => {
                client.echo(b"hello")?;
            }
            Workload::Dump => {
                client.dump_each(Some(count), |_, _| {})?;
            }
        }
        ns.push(start.elapsed().as_nanos());
    }
    for n in ns {
        writeln!(out, "{n}")?;
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
    // clap's message runs until its blank line before the usage; make it one line.
    let rendered = err.render().to_string();
    let message = rendered.split("\n\n").next().unwrap_or_default();
    let message = message.strip_prefix("error: ").unwrap_or(message);
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Entry point called by the C runtime (see the note at the top).
#[cfg_attr(not(test), no_mangle)]
pub extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) if !err.use_stderr() => {
            // --help and --version print and exit 0.
            let _ = err.print();
            return err.exit_code();
        }
        Err(err) => {
            // INTERFACE.md: one `error: ` line and a pointer to --help, exit 2, like the C clients.
            eprintln!("error: {}", usage_problem(&err));
            eprintln!("try 'gnl-rust --help'");
            return 2;
        }
    };
    let mut out = stdout();
    let res = run(cli.command, &mut out);
    let flushed = out.flush();
    let failure = match (res, flushed) {
        (Err(failure), _) => failure,
        (Ok(()), Err(err)) => Failure::Output(err),
        (Ok(()), Ok(())) => return 0,
    };
    // Whatever was printed before the failure is out before the error line.
    let _ = out.flush();
    match failure {
        Failure::Client(err) => {
            eprintln!("error: {err}");
            err.exit_code().into()
        }
        Failure::Output(err) => {
            eprintln!("error: write: {err}");
            1
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
            parse(&["dump"]),
            Ok(Command::Dump { count: None })
        ));
        assert!(matches!(
            parse(&["dump", "--count", "100000"]),
            Ok(Command::Dump {
                count: Some(100_000)
            })
        ));
        for bad in ["0", "100001", "-1", "x", ""] {
            let err = parse(&["dump", "--count", bad]).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad}");
            assert!(parse(&["set-dump-count", bad]).is_err(), "{bad}");
        }
        assert!(matches!(
            parse(&["set-dump-count", "7"]),
            Ok(Command::SetDumpCount { count: 7 })
        ));
        assert!(parse(&["set-dump-count"]).is_err());
        assert!(parse(&["monitor", "--count", "0"]).is_err());
        assert!(matches!(
            parse(&["monitor", "--count", "2"]),
            Ok(Command::Monitor { count: Some(2) })
        ));
        assert!(matches!(
            parse(&["stats", "--dump"]),
            Ok(Command::Stats { dump: true })
        ));
        assert!(parse(&["bogus"]).is_err());
        assert!(matches!(
            parse(&["bench", "steady", "--iterations", "5"]),
            Ok(Command::Bench {
                workload: Workload::Steady,
                iterations: 5,
                count: 100_000
            })
        ));
        assert!(parse(&["bench"]).is_err());
        assert!(parse(&["bench", "dump", "--iterations", "0"]).is_err());
    }

    #[test]
    fn output_lines_follow_the_interface() {
        let err = gnl_rust::KernelError {
            errno: 22,
            extack: Some("this command always fails".into()),
        };
        assert_eq!(
            error_lines(&err),
            "errno: 22 (Invalid argument)\nextack: this command always fails\n"
        );
        let mut out = Vec::new();
        event_line(&mut out, &Event::Echo(b"hi".to_vec())).unwrap();
        event_line(&mut out, &Event::SetDumpCount(9)).unwrap();
        event_line(&mut out, &Event::Unknown(42)).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "event: echo hi\nevent: set-dump-count 9\nevent: unknown command 42\n"
        );
    }
}
