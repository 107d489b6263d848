//! Harness for the classic netlink unit (`nl_foobar_xmpl`, its own protocol number): loading the
//! module, running `nl-rust` and `nl-raw` (which must agree byte for byte), and crafted datagrams
//! on a raw socket for the malformed input no client sends.

use std::fmt::Write as _;
use std::io;
use std::path::Path;
use std::process::Command;

use crate::{lab, lines_text, run_command_with_stdin, section, shell_words, KernelLog, Outcome};

/// Name of the module and of its `pr_fmt` prefix.
pub const MODULE: &str = nl_codec::uapi::NL_FOOBAR_XMPL_NAME;

/// The protocol number (`NETLINK_FOOBAR_XMPL` in `nl_foobar_xmpl.h`).
pub const PROTOCOL: i32 = nl_codec::uapi::NETLINK_FOOBAR_XMPL;

/// `NL_FOOBAR_XMPL_MSG_ECHO` (`NLMSG_MIN_TYPE`).
pub const MSG_ECHO: u16 = nl_codec::uapi::NL_FOOBAR_XMPL_MSG_ECHO;

/// The clients that must behave identically.
pub const CLIENTS: [&str; 2] = ["nl-rust", "nl-raw"];

/// Whether the module is loaded.
pub fn loaded() -> bool {
    Path::new("/sys/module").join(MODULE).exists()
}

/// `insmod nl_foobar_xmpl.ko dyndbg=+p`, as an outcome (it may be meant to fail).
pub fn insmod() -> Outcome {
    let mut command = Command::new("insmod");
    command
        .arg(lab().kmod_dir.join(format!("{MODULE}.ko")))
        .arg("dyndbg=+p");
    run_command_with_stdin(command, None)
}

/// `rmmod nl_foobar_xmpl`, as an outcome.
pub fn rmmod() -> Outcome {
    let mut command = Command::new("rmmod");
    command.arg(MODULE);
    run_command_with_stdin(command, None)
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
    let (first, first_outcome, first_lines) = &runs[0];
    let (other, outcome, lines) = &runs[1];
    assert_eq!(
        outcome,
        first_outcome,
        "{other} and {first} disagree on `{}`",
        args.join(" ")
    );
    assert_eq!(
        crate::normalize(&lines.join("\n")),
        crate::normalize(&first_lines.join("\n")),
        "the module logged different lines for {other} and {first}"
    );
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
    let mut bytes = Vec::with_capacity(16 + payload.len());
    bytes.extend_from_slice(&len.to_ne_bytes());
    bytes.extend_from_slice(&kind.to_ne_bytes());
    bytes.extend_from_slice(&flags.to_ne_bytes());
    bytes.extend_from_slice(&seq.to_ne_bytes());
    bytes.extend_from_slice(&0u32.to_ne_bytes());
    bytes.extend_from_slice(payload);
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

/// Sends one datagram to the kernel on a fresh socket and renders every message of the answer
/// (nothing within a second is "no answer").
fn exchange(datagram: &[u8]) -> io::Result<String> {
    // SAFETY: plain socket calls on a descriptor this function owns and closes.
    unsafe {
        let fd = libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            PROTOCOL,
        );
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let one: libc::c_int = 1;
        for option in [libc::NETLINK_EXT_ACK, libc::NETLINK_CAP_ACK] {
            libc::setsockopt(
                fd,
                libc::SOL_NETLINK,
                option,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        let timeout = libc::timeval {
            tv_sec: 1,
            tv_usec: 0,
        };
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&timeout as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        );
        let mut kernel: libc::sockaddr_nl = std::mem::zeroed();
        kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        let sent = libc::sendto(
            fd,
            datagram.as_ptr().cast(),
            datagram.len(),
            0,
            (&kernel as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        );
        if sent < 0 {
            let err = io::Error::last_os_error();
            libc::close(fd);
            return Ok(format!(
                "send failed: {}\n",
                crate::genl::strerror(err.raw_os_error().unwrap_or(0))
            ));
        }
        let mut buf = vec![0u8; 32 * 1024];
        let mut answer = String::new();
        loop {
            let n = libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0);
            if n < 0 {
                break;
            }
            answer += &render(&buf[..n as usize]);
        }
        libc::close(fd);
        if answer.is_empty() {
            answer = "no answer\n".to_owned();
        }
        Ok(answer)
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// One line per message of a datagram: its type, and for an error the errno and extack text.
fn render(mut datagram: &[u8]) -> String {
    const NLMSG_ERROR: u16 = 2;
    const NLMSGERR_ATTR_MSG: u16 = 1;
    let mut out = String::new();
    while datagram.len() >= 16 {
        let len = (u32_at(datagram, 0) as usize).clamp(16, datagram.len());
        let (kind, seq) = (u16_at(datagram, 4), u32_at(datagram, 8));
        let body = &datagram[16..len];
        if kind == NLMSG_ERROR && body.len() >= 4 {
            let errno = -(u32_at(body, 0) as i32);
            let mut line = if errno == 0 {
                format!("ack seq {seq}")
            } else {
                format!(
                    "error seq {seq}: {} (errno {errno})",
                    crate::genl::strerror(errno)
                )
            };
            // With NETLINK_CAP_ACK the request's header alone follows, then the extack TLVs.
            let mut tlvs = body.get(4 + 16..).unwrap_or_default();
            while tlvs.len() >= 4 {
                let tlv_len = (u16_at(tlvs, 0) as usize).clamp(4, tlvs.len());
                if u16_at(tlvs, 2) == NLMSGERR_ATTR_MSG {
                    let text = String::from_utf8_lossy(&tlvs[4..tlv_len]);
                    write!(line, ": {}", text.trim_end_matches('\0')).unwrap();
                }
                tlvs = tlvs.get((tlv_len + 3) & !3..).unwrap_or_default();
            }
            out += &line;
        } else {
            let text = String::from_utf8_lossy(body);
            write!(
                out,
                "type {kind:#x} seq {seq}: {:?}",
                text.trim_end_matches('\0')
            )
            .unwrap();
        }
        out.push('\n');
        datagram = datagram.get((len + 3) & !3..).unwrap_or_default();
    }
    out
}
