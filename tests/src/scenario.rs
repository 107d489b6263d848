//! Scenarios: one command run by every client, which must agree byte for byte, and crafted
//! requests no client sends; each rendered as one snapshot document with the module's log lines.

use std::fmt::Write as _;

use crate::genl;
use crate::kmsg::KernelLog;
use crate::lab::CLIENTS;
use crate::run::{run_client, section, Outcome, User};
use crate::snapshot::{lines_text, normalize, shell_words};

/// Runs `args` with every client as `user`, with the kernel log captured around each run.
///
/// Asserts that the three clients agree (exit code, standard output, standard error and, after
/// [`normalize`], the module's kernel-log lines), and returns the scenario as one snapshot
/// document: the command, the shared outcome, the module's lines for one run.
pub fn scenario(args: &[&str], user: User) -> String {
    scenario_with(args, user, || {})
}

/// [`scenario`], with `before_each` run before each client (outside the kernel-log window).
pub fn scenario_with(args: &[&str], user: User, mut before_each: impl FnMut()) -> String {
    let mut runs = Vec::new();
    for client in CLIENTS {
        before_each();
        let mut log = KernelLog::mark();
        let outcome = run_client(client, args, user);
        let lines = log.module_lines();
        runs.push((client, outcome, lines));
    }
    let (_, first_outcome, first_lines) = agree(args, &runs);
    let mut doc = String::new();
    let who = match user {
        User::Root => "",
        User::Nobody => "(as nobody) ",
        User::RootInNewNetns => "(in a new network namespace) ",
    };
    writeln!(doc, "{who}$ CLIENT {}", shell_words(args)).unwrap();
    doc.push_str(&first_outcome.render());
    section(&mut doc, "kernel log", &lines_text(first_lines));
    doc
}

/// Runs `args` with every client as root; see [`scenario`].
pub fn clients(args: &[&str]) -> String {
    scenario(args, User::Root)
}

/// Runs `args` with every client and asserts they agree on the exit code alone; returns it.
///
/// For bad arguments, where INTERFACE.md lets the wording differ per client.
pub fn exit_code_of_all(args: &[&str]) -> (i32, Vec<(&'static str, Outcome)>) {
    let outcomes: Vec<_> = CLIENTS
        .iter()
        .map(|c| (*c, run_client(c, args, User::Root)))
        .collect();
    let code = outcomes[0].1.code.unwrap();
    for (client, outcome) in &outcomes {
        assert_eq!(
            outcome.code,
            Some(code),
            "{client} `{}`: {outcome:?}",
            args.join(" ")
        );
    }
    (code, outcomes)
}

/// Sends one crafted request to the module's family on a fresh socket and returns a snapshot
/// document: what was sent (`what`), the kernel's answer, and the module's kernel-log lines.
pub fn crafted(what: &str, flags: u16, cmd: u8, attrs: &[genl::Attr]) -> String {
    let mut socket = genl::GenlSocket::open().expect("open a generic netlink socket");
    let family = socket.module_family();
    let mut log = KernelLog::mark();
    let answer = socket
        .request(family.id, flags, cmd, attrs)
        .expect("crafted request");
    let lines = log.module_lines();
    let mut doc = String::new();
    writeln!(doc, "request: {what}").unwrap();
    section(&mut doc, "answer", &genl::render(&answer));
    section(&mut doc, "kernel log", &lines_text(&lines));
    doc
}

/// Asserts that every client's run (client, outcome, the module's kernel-log lines) matches the
/// first one's: the same outcome byte for byte, the same log lines after [`normalize`]. Returns
/// the first run.
pub fn agree<'a>(
    args: &[&str],
    runs: &'a [(&'static str, Outcome, Vec<String>)],
) -> &'a (&'static str, Outcome, Vec<String>) {
    let first = &runs[0];
    for (client, outcome, lines) in &runs[1..] {
        assert_eq!(
            outcome,
            &first.1,
            "{client} and {} disagree on `{}` (they print byte-identical output)",
            first.0,
            args.join(" ")
        );
        assert_eq!(
            normalize(&lines.join("\n")),
            normalize(&first.2.join("\n")),
            "the module logged different lines for {client} and {} on `{}`",
            first.0,
            args.join(" ")
        );
    }
    first
}
