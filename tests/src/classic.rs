//! Harness for the classic netlink unit (`nl_foobar_xmpl`, its own protocol number): loading the
//! module, running `nl-rust` and `nl-raw` (which must agree byte for byte), and crafted datagrams
//! on a raw socket for the malformed input no client sends.

use std::fmt::Write as _;
use std::io;
use std::process::Command;

use lab_facts::module::{self, Debug};
use nl_codec::{Sock, NETLINK_CAP_ACK, NETLINK_EXT_ACK, NLMSG_ERROR};

use crate::kmsg::KernelLog;
use crate::lab::lab;
use crate::run::{run_command, run_command_with_stdin, section, Outcome};
use crate::scenario::agree;
use crate::snapshot::{lines_text, shell_words};

/// Name of the module and of its `pr_fmt` prefix.
pub const MODULE: &str = lab_facts::CLASSIC_MODULE;

/// The protocol number (`NETLINK_FOOBAR_XMPL` in `nl_foobar_xmpl.h`).
pub const PROTOCOL: i32 = nl_codec::uapi::NETLINK_FOOBAR_XMPL;

/// `NL_FOOBAR_XMPL_MSG_ECHO` (`NLMSG_MIN_TYPE`).
pub const MSG_ECHO: u16 = nl_codec::uapi::NL_FOOBAR_XMPL_MSG_ECHO;

/// The clients that must behave identically.
pub const CLIENTS: [&str; 2] = lab_facts::CLASSIC_CLIENTS;

/// Whether the module is loaded.
pub fn loaded() -> bool {
    module::loaded(MODULE)
}

/// `insmod nl_foobar_xmpl.ko dyndbg=+p`, as an outcome (it may be meant to fail).
pub fn insmod() -> Outcome {
    run_command(module::insmod(
        &module::ko(&lab().kmod_dir, MODULE),
        Debug::On,
    ))
}

/// `rmmod nl_foobar_xmpl`, as an outcome.
pub fn rmmod() -> Outcome {
    run_command(module::rmmod(MODULE))
}

/// Loads the module unless it is loaded; panics with insmod's output if that fails.
pub fn ensure_loaded() {
    if !loaded() {
        let outcome = insmod();
        assert_eq!(outcome.code, Some(0), "insmod {MODULE} failed: {outcome:?}");
    }
}

/// Unloads the module if it is loaded; panics with rmmod's output if that fails.
pub fn ensure_unloaded() {
    if loaded() {
        let outcome = rmmod();
        assert_eq!(outcome.code, Some(0), "rmmod {MODULE} failed: {outcome:?}");
    }
}

/// Runs `args` (with `stdin`) through both clients, asserts they agree, and returns the snapshot
/// document: the command, the shared outcome, the module's kernel-log lines of one run.
pub fn scenario(args: &[&str], stdin: Option<&[u8]>) -> String {
    let mut runs = Vec::new();
    for client in CLIENTS {
        let mut log = KernelLog::mark();
        let mut command = Command::new(lab().client(client));
        command.args(args);
        let outcome = run_command_with_stdin(command, stdin);
        runs.push((client, outcome, log.lines_of(MODULE)));
    }
    let (_, first_outcome, first_lines) = agree(args, &runs);
    let mut doc = format!("$ CLIENT {}\n", shell_words(args));
    if let Some(stdin) = stdin {
        // A NUL byte would make the snapshot a binary file: show it escaped.
        section(
            &mut doc,
            "stdin",
            &String::from_utf8_lossy(stdin).replace('\0', "\\0"),
        );
    }
    doc += &first_outcome.render();
    section(&mut doc, "kernel log", &lines_text(first_lines));
    doc
}

/// A netlink message header followed by `payload`, with `nlmsg_len` as given (it may lie).
pub fn message(len: u32, kind: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
    let mut bytes = nl_codec::message(kind, flags, seq, payload);
    bytes[..4].copy_from_slice(&len.to_ne_bytes());
    bytes
}

/// What the kernel answered one crafted datagram, rendered for a snapshot.
pub fn crafted(what: &str, datagram: &[u8]) -> String {
    let mut log = KernelLog::mark();
    let answer = exchange(datagram).unwrap_or_else(|e| panic!("{what}: {e}"));
    let lines = log.lines_of(MODULE);
    let mut doc = String::new();
    writeln!(doc, "request: {what}").unwrap();
    section(&mut doc, "answer", &answer);
    section(&mut doc, "kernel log", &lines_text(&lines));
    doc
}

/// Sends one datagram to the kernel on a fresh socket (the codec's) and renders every message
/// of the answer. No waiting: netlink runs a kernel socket's input in the sender's sendmsg, so
/// whatever the module answers is queued before `send` returns (nothing queued is "no answer").
fn exchange(datagram: &[u8]) -> io::Result<String> {
    let sock = Sock::open(PROTOCOL)?;
    for option in [NETLINK_EXT_ACK, NETLINK_CAP_ACK] {
        sock.set_netlink(option, 1)?;
    }
    if let Err(err) = sock.send(datagram) {
        return Ok(format!(
            "send failed: {}\n",
            crate::genl::strerror(err.raw_os_error().unwrap_or(0))
        ));
    }
    let mut buf = vec![0u8; 32 * 1024];
    let mut answer = String::new();
    while let Ok(Some(n)) = sock.recv(&mut buf, 0) {
        answer += &render(&buf[..n], sock.port);
    }
    if answer.is_empty() {
        answer = "no answer\n".to_owned();
    }
    Ok(answer)
}

/// One line per message of a datagram (the codec's parser): its type, and for an error the errno
/// and extack text.
fn render(datagram: &[u8], port: u32) -> String {
    let mut out = String::new();
    for msg in nl_codec::messages(datagram, port) {
        let msg = msg.unwrap_or_else(|e| panic!("a malformed kernel datagram: {e}"));
        let seq = msg.seq;
        match msg.code() {
            Some(code) if msg.ty == NLMSG_ERROR => {
                let errno = -code;
                if errno == 0 {
                    write!(out, "ack seq {seq}").unwrap();
                } else {
                    let text = crate::genl::strerror(errno);
                    write!(out, "error seq {seq}: {text} (errno {errno})").unwrap();
                }
                if let Some(text) = msg.extack() {
                    write!(out, ": {text}").unwrap();
                }
            }
            _ => {
                let text = String::from_utf8_lossy(&msg.payload);
                write!(
                    out,
                    "type {:#x} seq {seq}: {:?}",
                    msg.ty,
                    text.trim_end_matches('\0')
                )
                .unwrap();
            }
        }
        out.push('\n');
    }
    out
}
