//! `nl-rust`: client of the nl_foobar_xmpl classic netlink protocol, with the same command line
//! and byte-identical output as `nl-raw` (see `userland/nl-raw/README.md`).

mod uapi;

use std::{
    ffi::OsString,
    io::{self, BufRead, Write},
    os::unix::ffi::OsStrExt,
    process,
    sync::{Arc, Condvar, Mutex, MutexGuard},
    thread,
};

use clap::{Parser, Subcommand};
use nl_codec::{strerror, Msg, Sock};
use uapi::*;

/// Client of the nl_foobar_xmpl classic netlink protocol (number 28).
#[derive(Debug, Parser)]
#[command(name = "nl-rust", version)]
struct Cli {
    /// Request an acknowledgment (NLM_F_ACK) and report it.
    #[arg(long, global = true)]
    ack: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Send MSG, print it and the kernel's reply.
    Send {
        /// The message, at most 255 bytes.
        msg: OsString,
    },
    /// Send each line of standard input, print each reply.
    Session,
}

/// Exit codes, as the generic netlink clients use them.
const EXIT_KERNEL: i32 = 1;
const EXIT_USAGE: i32 = 2;
const EXIT_NO_PROTO: i32 = 3;
const EXIT_PROTO: i32 = 5;

const RX_BUF_SIZE: usize = 32768;
/// Requests in flight at most; keeps replies within the receive buffer.
const WINDOW: u32 = 64;

/// What the sending and the receiving side share.
struct State {
    /// Sequence number of the last request sent, from 1.
    sent: u32,
    /// Sequence number of the last request fully answered.
    done: u32,
    /// Request `done + 1` got its reply, not yet its ack.
    have_reply: bool,
    /// Requests in flight, by `seq % WINDOW`, to compare with the replies.
    text: Vec<Vec<u8>>,
}

struct Client {
    /// The codec's socket, bound to a port the kernel chose (never taken).
    sock: Sock,
    /// Our port id: the kernel's replies go to it.
    port: u32,
    ack: bool,
    /// Output format: session or send.
    session: bool,
    state: Mutex<State>,
    cond: Condvar,
}

/// Ends the process from any thread, after what is printed so far.
fn quit(code: i32) -> ! {
    let _ = io::stdout().flush();
    process::exit(code)
}

fn sys_error_errno(syscall: &str, errno: i32) -> i32 {
    eprintln!("error: {syscall}: {} (errno {errno})", strerror(errno));
    EXIT_KERNEL
}

fn proto_error(detail: std::fmt::Arguments) -> ! {
    eprintln!("error: unexpected reply: {detail}");
    quit(EXIT_PROTO)
}

fn too_long(len: usize) -> i32 {
    eprintln!("error: message is {len} bytes; the maximum is {NL_FOOBAR_XMPL_MSG_MAX_LEN}");
    EXIT_USAGE
}

/// The string a payload holds if it is exactly one NUL-terminated string.
fn c_string(payload: &[u8]) -> Option<&[u8]> {
    match payload.split_last() {
        Some((0, text)) if !text.contains(&0) => Some(text),
        _ => None,
    }
}

fn print_line(parts: &[&[u8]]) {
    let mut line = parts.concat();
    line.push(b'\n');
    if let Err(err) = io::stdout().lock().write_all(&line) {
        quit(sys_error_errno("write", err.raw_os_error().unwrap_or(0)));
    }
}

fn errno(err: &io::Error) -> i32 {
    err.raw_os_error().unwrap_or(0)
}

/// Opens the codec's socket (bound to a port the kernel chooses) with extended, capped acks.
fn open_socket(ack: bool, session: bool) -> Result<Client, i32> {
    let sock = match Sock::open(NETLINK_FOOBAR_XMPL) {
        Ok(sock) => sock,
        Err(err) if err.raw_os_error() == Some(libc::EPROTONOSUPPORT) => {
            eprintln!(
                "error: netlink protocol {NETLINK_FOOBAR_XMPL} ({NL_FOOBAR_XMPL_NAME}) not \
                 available: is the module loaded? (insmod {NL_FOOBAR_XMPL_NAME}.ko)"
            );
            return Err(EXIT_NO_PROTO);
        }
        Err(err) => return Err(sys_error_errno("socket", errno(&err))),
    };
    for option in [NETLINK_EXT_ACK, NETLINK_CAP_ACK] {
        if let Err(err) = sock.set_netlink(option, 1) {
            return Err(sys_error_errno("setsockopt", errno(&err)));
        }
    }
    Ok(Client {
        port: sock.port,
        sock,
        ack,
        session,
        state: Mutex::new(State {
            sent: 0,
            done: 0,
            have_reply: false,
            text: vec![Vec::new(); WINDOW as usize],
        }),
        cond: Condvar::new(),
    })
}

impl Client {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until every request sent is answered.
    fn wait_idle(&self) {
        let mut st = self.lock();
        while st.done != st.sent {
            st = self.cond.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Sends one ECHO request with the next sequence number.
    fn send_echo(&self, text: &[u8]) -> Result<(), i32> {
        let seq = {
            let mut st = self.lock();
            while st.sent.wrapping_sub(st.done) >= WINDOW {
                st = self.cond.wait(st).unwrap_or_else(|e| e.into_inner());
            }
            st.sent = st.sent.wrapping_add(1);
            let seq = st.sent;
            st.text[(seq % WINDOW) as usize] = text.to_vec();
            seq
        };

        let flags = NLM_F_REQUEST | if self.ack { NLM_F_ACK } else { 0 };
        let mut payload = Vec::with_capacity(text.len() + 1);
        payload.extend_from_slice(text);
        payload.push(0);
        let mut buf = nl_codec::message(NL_FOOBAR_XMPL_MSG_ECHO, flags, seq, &payload);
        // nlmsg_pid: our port, as nl-raw sends it (the kernel goes by the socket's).
        buf[12..16].copy_from_slice(&self.port.to_ne_bytes());
        if let Err(err) = self.sock.send(&buf) {
            let code = sys_error_errno("send", errno(&err));
            let mut st = self.lock();
            st.sent = st.sent.wrapping_sub(1);
            return Err(code);
        }
        Ok(())
    }

    /// Request `done + 1` is answered in full.
    fn advance(&self) {
        let mut st = self.lock();
        st.done = st.done.wrapping_add(1);
        st.have_reply = false;
        self.cond.notify_all();
    }

    fn on_echo(&self, msg: &Msg, seq: u32) {
        if self.lock().have_reply {
            proto_error(format_args!("second reply to request #{seq}"));
        }
        let payload = &msg.payload[..];
        let text = match c_string(payload) {
            Some(text) if payload.len() <= NL_FOOBAR_XMPL_MSG_MAX_LEN + 1 => text,
            _ => proto_error(format_args!(
                "reply #{seq} is not one NUL-terminated string of at most \
                 {NL_FOOBAR_XMPL_MSG_MAX_LEN} bytes"
            )),
        };
        if self.lock().text[(seq % WINDOW) as usize] != text {
            proto_error(format_args!("reply #{seq} differs from the request"));
        }

        if self.session {
            print_line(&[b"reply #", seq.to_string().as_bytes(), b": ", text]);
        } else {
            print_line(&[b"received: ", text]);
        }
        if self.ack {
            self.lock().have_reply = true;
        } else {
            self.advance();
        }
    }

    /// An ack or an error; the codec's parser has checked it holds a `struct nlmsgerr`.
    fn on_error(&self, msg: &Msg, seq: u32) {
        let error = msg.code().unwrap_or_default();
        if error > 0 {
            proto_error(format_args!(
                "NLMSG_ERROR #{seq} carries a positive error {error}"
            ));
        }
        if error < 0 {
            on_refusal(msg, seq, error);
        }
        if !self.ack {
            proto_error(format_args!("ack #{seq} that was not requested"));
        }
        if !self.lock().have_reply {
            proto_error(format_args!("ack #{seq} before the reply"));
        }
        if self.session {
            print_line(&[b"ack #", seq.to_string().as_bytes()]);
        } else {
            print_line(&[b"acked"]);
        }
        self.advance();
    }

    /// Checks a message's header against the request it answers, then uses it.
    fn on_message(&self, msg: &Msg) {
        let (idle, expected) = {
            let st = self.lock();
            (st.done == st.sent, st.done.wrapping_add(1))
        };
        let (msg_type, seq, pid) = (msg.ty, msg.seq, msg.pid);

        if idle {
            proto_error(format_args!(
                "message of type {msg_type} with no request in flight"
            ));
        }
        if msg_type != NL_FOOBAR_XMPL_MSG_ECHO && msg_type != NLMSG_ERROR {
            proto_error(format_args!(
                "message type {msg_type}, expected {NL_FOOBAR_XMPL_MSG_ECHO} or NLMSG_ERROR"
            ));
        }
        if seq != expected {
            proto_error(format_args!("sequence number {seq}, expected {expected}"));
        }
        if pid != self.port {
            proto_error(format_args!(
                "nlmsg_pid {pid}, expected our port {}",
                self.port
            ));
        }

        if msg_type == NLMSG_ERROR {
            self.on_error(msg, seq);
        } else {
            self.on_echo(msg, seq);
        }
    }

    /// Receives one datagram and handles every message in it, in order, with the codec's
    /// parser (which refuses a truncated datagram or one not from the kernel).
    fn receive(&self, buf: &mut [u8]) {
        let n = loop {
            match self.sock.recv(buf, -1) {
                Ok(Some(n)) => break n,
                Ok(None) => {}
                Err(err) if err.raw_os_error() == Some(libc::EINTR) => {}
                Err(err) if err.raw_os_error().is_some() => {
                    quit(sys_error_errno("recv", errno(&err)))
                }
                Err(err) => proto_error(format_args!("{err}")),
            }
        };
        // nlmsg_pid is checked against our port in on_message().
        for msg in nl_codec::messages(&buf[..n], 0) {
            match msg {
                Ok(msg) => self.on_message(&msg),
                Err(detail) => proto_error(format_args!("{detail}")),
            }
        }
    }
}

/// Prints the kernel's refusal, with its extack message if any, and exits.
fn on_refusal(msg: &Msg, seq: u32, error: i32) -> ! {
    let mut extack: Option<&[u8]> = None;
    if msg.flags & NLM_F_ACK_TLVS != 0 {
        let Some(tlvs) = msg.ack_tlvs() else {
            proto_error(format_args!("NLMSG_ERROR #{seq}: bad request length"));
        };
        let tlvs = nl_codec::attrs_checked(tlvs).unwrap_or_else(|detail| {
            proto_error(format_args!(
                "NLMSG_ERROR #{seq}: malformed extack attribute: {detail}"
            ))
        });
        for (kind, value) in tlvs {
            if kind == NLMSGERR_ATTR_MSG {
                match c_string(value) {
                    Some(text) => extack = Some(text),
                    None => proto_error(format_args!(
                        "NLMSG_ERROR #{seq}: extack message is not a NUL-terminated string"
                    )),
                }
            }
        }
    }

    let mut line = format!(
        "error: kernel rejected the request: {} (errno {})",
        strerror(-error),
        -error
    )
    .into_bytes();
    if let Some(text) = extack {
        line.extend_from_slice(b": ");
        line.extend_from_slice(text);
    }
    line.push(b'\n');
    let _ = io::stderr().lock().write_all(&line);
    quit(EXIT_KERNEL)
}

fn do_send(ack: bool, text: &[u8]) -> i32 {
    if text.len() > NL_FOOBAR_XMPL_MSG_MAX_LEN {
        return too_long(text.len());
    }
    let client = match open_socket(ack, false) {
        Ok(client) => client,
        Err(code) => return code,
    };
    if let Err(code) = client.send_echo(text) {
        return code;
    }
    print_line(&[b"sent: ", text]);
    let mut buf = vec![0u8; RX_BUF_SIZE];
    loop {
        {
            let st = client.lock();
            if st.done == st.sent {
                return 0;
            }
        }
        client.receive(&mut buf);
    }
}

/// One request per line of standard input; a second thread prints the replies. The kernel
/// answers each request before send() returns, so the replies, and the output, come in request
/// order.
fn do_session(ack: bool) -> i32 {
    let client = match open_socket(ack, true) {
        Ok(client) => Arc::new(client),
        Err(code) => return code,
    };
    let receiver = Arc::clone(&client);
    let spawned = thread::Builder::new()
        .name("receiver".into())
        .spawn(move || {
            let mut buf = vec![0u8; RX_BUF_SIZE];
            loop {
                receiver.receive(&mut buf);
            }
        });
    if let Err(err) = spawned {
        return sys_error_errno("pthread_create", err.raw_os_error().unwrap_or(0));
    }

    let mut stdin = io::stdin().lock();
    let mut line = Vec::new();
    loop {
        line.clear();
        match stdin.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(err) => {
                client.wait_idle();
                return sys_error_errno("read", err.raw_os_error().unwrap_or(0));
            }
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        if line.contains(&0) {
            client.wait_idle();
            eprintln!("error: message contains a NUL byte");
            return EXIT_USAGE;
        }
        if line.len() > NL_FOOBAR_XMPL_MSG_MAX_LEN {
            client.wait_idle();
            return too_long(line.len());
        }
        if let Err(code) = client.send_echo(&line) {
            client.wait_idle();
            return code;
        }
    }
    client.wait_idle();
    // The receiver blocks in recvmsg() for good: exiting ends it.
    0
}

fn main() {
    // Die of a closed pipe as the C client does, rather than fail to print.
    // SAFETY: setting a signal's disposition to the default is always sound.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let cli = Cli::parse();
    let code = match &cli.command {
        Command::Send { msg } => do_send(cli.ack, msg.as_bytes()),
        Command::Session => do_session(cli.ack),
    };
    quit(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn ack_goes_anywhere() {
        let cli = Cli::try_parse_from(["nl-rust", "send", "--ack", "hi"]).unwrap();
        assert!(cli.ack);
        let cli = Cli::try_parse_from(["nl-rust", "--ack", "session"]).unwrap();
        assert!(cli.ack);
        assert!(Cli::try_parse_from(["nl-rust", "send"]).is_err());
        assert!(Cli::try_parse_from(["nl-rust", "session", "x"]).is_err());
    }

    #[test]
    fn payload_is_one_c_string() {
        assert_eq!(c_string(b"hi\0"), Some(&b"hi"[..]));
        assert_eq!(c_string(b"\0"), Some(&b""[..]));
        assert_eq!(c_string(b""), None);
        assert_eq!(c_string(b"hi"), None);
        assert_eq!(c_string(b"h\0i\0"), None);
        assert_eq!(c_string(b"hi\0\0"), None);
    }
}
