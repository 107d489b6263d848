//! Client library of the gnl_foobar_xmpl generic netlink family, built on neli.
//!
//! [`Client::open`] opens a generic netlink socket (extended ack and capped acks on), resolves the
//! family and its `events` multicast group through `nlctrl` in one request, and then offers one
//! method per operation of the family, each returning typed results or an [`Error`] that knows the
//! exit code the clients' interface (`userland/INTERFACE.md`) gives it.
//!
//! Every reply is checked before use: the sender is the kernel, the message type, the genl
//! command, the sequence number and the port id match the request, lengths stay within the
//! datagram (a truncated datagram is an error), required attributes are present with the right
//! size, and dump indexes arrive in order.
//!
//! neli provides the socket wrapper ([`neli::socket::NlSocket`]), the protocol constants and the
//! extack parsing; the request/reply state machine is here rather than in neli's `NlRouter`,
//! which costs a background thread, an epoll set and an eventfd per socket and cannot parse the
//! capped error messages `NETLINK_CAP_ACK` asks for. Requests are encoded straight into one
//! reused buffer and replies are read in place, attribute by attribute, as the C clients do:
//! neli's builders allocate a vector per attribute and per attribute list, and its parser
//! (`Genlmsghdr::from_bytes_with_input`) copies every attribute of every message into vectors of
//! its own, which made a 100000-message dump several times slower than the C client's.
//!
//! ```no_run
//! let mut client = gnl_rust::Client::open()?;
//! let reply = client.echo(b"hi")?;
//! assert_eq!(reply, b"hi");
//! # Ok::<(), gnl_rust::Error>(())
//! ```

pub mod uapi;

use std::{
    ffi::CStr,
    fmt,
    io::{self, Cursor},
    mem,
    os::fd::{AsRawFd, RawFd},
};

use neli::{
    consts::{
        genl::{CtrlAttr, CtrlAttrMcastGrp, CtrlCmd},
        nl::{GenlId, NlmsgerrAttr},
        socket::{Msg, NlFamily},
    },
    socket::NlSocket,
    types::{Buffer, GenlBuffer},
    utils::Groups,
    FromBytesWithInput,
};

use crate::uapi::{Attr, Cmd};

/// Size of the receive buffer: the kernel never builds a netlink datagram larger than 32 KiB
/// for a receiver, so one `recvfrom` always gets a whole datagram.
pub const RECV_BUF_LEN: usize = 32 * 1024;

/// Length of `struct nlmsghdr`.
const NLMSG_HDRLEN: usize = 16;

/// Length of `struct genlmsghdr`.
const GENL_HDRLEN: usize = 4;

/// Version of the `nlctrl` family sent in `CTRL_CMD_GETFAMILY` requests.
const CTRL_VERSION: u8 = 2;

/// Length of `struct nlattr`.
const NLA_HDRLEN: usize = 4;

/// The flag bits of `nla_type` (`NLA_F_NESTED`, `NLA_F_NET_BYTEORDER`).
const NLA_TYPE_MASK: u16 = !(libc::NLA_F_NESTED as u16 | libc::NLA_F_NET_BYTEORDER as u16);

/// The C library's text for an errno value (`strerror(3)`), so every client prints the same text.
pub fn strerror(errno: i32) -> String {
    // SAFETY: strerror returns a pointer to a NUL-terminated string that stays valid until the
    // next strerror call on this thread; it is copied at once.
    unsafe { CStr::from_ptr(libc::strerror(errno)) }
        .to_string_lossy()
        .into_owned()
}

/// An error the kernel answered a request with: an `NLMSG_ERROR` (or a failed `NLMSG_DONE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelError {
    /// The positive errno value (the message carries it negated).
    pub errno: i32,
    /// The extended ack message (`NLMSGERR_ATTR_MSG`), if the kernel sent one.
    pub extack: Option<String>,
}

impl fmt::Display for KernelError {
    /// `STRERROR (errno N)`, then `: TEXT` when an extack message came along.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (errno {})", strerror(self.errno), self.errno)?;
        if let Some(text) = &self.extack {
            write!(f, ": {text}")?;
        }
        Ok(())
    }
}

/// Everything that can go wrong, one variant per row of the interface's error table.
///
/// `Display` gives the text after the `error: ` prefix the clients print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The message is longer than [`uapi::MSG_MAX_LEN`] bytes (checked before sending; exit 2).
    MessageTooLong {
        /// Length of the rejected message in bytes.
        len: usize,
    },
    /// Any other argument the family would reject, found before sending (exit 2).
    InvalidArgument(String),
    /// `nlctrl` does not know the family: the module is not loaded (exit 3).
    FamilyNotFound,
    /// The kernel answered `EPERM`: the operation needs `CAP_NET_ADMIN` (exit 4).
    PermissionDenied,
    /// The kernel rejected the request with another errno (exit 1).
    Kernel(KernelError),
    /// A socket call failed (exit 1).
    Syscall {
        /// The call: `socket`, `bind`, `send`, `recv`, `setsockopt` or `getsockname`.
        call: &'static str,
        /// Its errno.
        errno: i32,
    },
    /// A reply that breaks the protocol, with what was wrong (exit 5).
    Protocol(String),
}

impl Error {
    /// The process exit code the interface gives this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Kernel(_) | Error::Syscall { .. } => 1,
            Error::MessageTooLong { .. } | Error::InvalidArgument(_) => 2,
            Error::FamilyNotFound => 3,
            Error::PermissionDenied => 4,
            Error::Protocol(_) => 5,
        }
    }

    /// A kernel error as the interface classifies it: `EPERM` has its own exit code.
    fn from_kernel(err: KernelError) -> Self {
        if err.errno == libc::EPERM {
            Error::PermissionDenied
        } else {
            Error::Kernel(err)
        }
    }

    fn syscall(call: &'static str) -> impl FnOnce(io::Error) -> Error {
        move |e| Error::Syscall {
            call,
            errno: e.raw_os_error().unwrap_or(libc::EIO),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::MessageTooLong { len } => write!(
                f,
                "message is {len} bytes; the maximum is {}",
                uapi::MSG_MAX_LEN
            ),
            Error::InvalidArgument(what) => f.write_str(what),
            Error::FamilyNotFound => write!(
                f,
                "generic netlink family {} not found: is the module loaded? (insmod {}.ko)",
                uapi::FAMILY_NAME,
                uapi::FAMILY_NAME
            ),
            Error::PermissionDenied => {
                f.write_str("permission denied: this operation needs CAP_NET_ADMIN (run as root)")
            }
            Error::Kernel(err) => write!(f, "kernel rejected the request: {err}"),
            Error::Syscall { call, errno } => {
                write!(f, "{call}: {} (errno {errno})", strerror(*errno))
            }
            Error::Protocol(detail) => write!(f, "unexpected reply: {detail}"),
        }
    }
}

impl std::error::Error for Error {}

/// Result of every fallible operation of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// One message of an echo dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpEntry {
    /// `A_INDEX`: position in the dump, from 0.
    pub index: u32,
    /// `A_MSG`, without its NUL.
    pub msg: Vec<u8>,
}

/// One counter of `CMD_GET_STATS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// `A_STAT_NAME`, without its NUL.
    pub name: String,
    /// `A_STAT_VALUE`.
    pub value: u64,
}

/// One event of the `events` multicast group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Someone's `CMD_ECHO` doit: the echoed `A_MSG`, without its NUL.
    Echo(Vec<u8>),
    /// A `CMD_SET_DUMP_COUNT`: the new default `A_COUNT`.
    SetDumpCount(u32),
    /// An event with a command this client does not know.
    Unknown(u8),
}

/// Checks a message against [`uapi::MSG_MAX_LEN`] (and for a NUL byte, which `A_MSG` cannot carry).
pub fn check_message(msg: &[u8]) -> Result<()> {
    if msg.len() > uapi::MSG_MAX_LEN {
        return Err(Error::MessageTooLong { len: msg.len() });
    }
    if msg.contains(&0) {
        return Err(Error::InvalidArgument(
            "the message contains a NUL byte".into(),
        ));
    }
    Ok(())
}

/// Checks a dump count against [`uapi::DUMP_COUNT_MIN`]..=[`uapi::DUMP_COUNT_MAX`].
pub fn check_dump_count(count: u32) -> Result<()> {
    if (uapi::DUMP_COUNT_MIN..=uapi::DUMP_COUNT_MAX).contains(&count) {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "count {count} is outside [{}, {}]",
            uapi::DUMP_COUNT_MIN,
            uapi::DUMP_COUNT_MAX
        )))
    }
}

/// What ends a request's answer.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    /// One data message (doit without `NLM_F_ACK`).
    Reply,
    /// An `NLMSG_ERROR` carrying 0 (doit with `NLM_F_ACK`).
    Ack,
    /// Data messages up to `NLMSG_DONE`.
    Dump,
}

/// A netlink message borrowed from the receive buffer.
struct RawMsg<'a> {
    ty: u16,
    flags: u16,
    seq: u32,
    pid: u32,
    payload: &'a [u8],
}

fn ne_u16(b: &[u8]) -> u16 {
    u16::from_ne_bytes([b[0], b[1]])
}

fn ne_u32(b: &[u8]) -> u32 {
    u32::from_ne_bytes([b[0], b[1], b[2], b[3]])
}

fn align4(len: usize) -> usize {
    (len + 3) & !3
}

/// Splits the first message off `buf`, checking its length against what was received.
fn split_msg(buf: &[u8]) -> Result<(RawMsg<'_>, &[u8])> {
    if buf.len() < NLMSG_HDRLEN {
        return Err(Error::Protocol(format!(
            "{} trailing bytes, too short for a message header",
            buf.len()
        )));
    }
    let len = ne_u32(buf) as usize;
    if len < NLMSG_HDRLEN || len > buf.len() {
        return Err(Error::Protocol(format!(
            "message length {len} outside the {} bytes received",
            buf.len()
        )));
    }
    let msg = RawMsg {
        ty: ne_u16(&buf[4..]),
        flags: ne_u16(&buf[6..]),
        seq: ne_u32(&buf[8..]),
        pid: ne_u32(&buf[12..]),
        payload: &buf[NLMSG_HDRLEN..len],
    };
    let next = align4(len).min(buf.len());
    Ok((msg, &buf[next..]))
}

/// The extack message of the TLVs that follow an error or done message, if any.
///
/// Malformed attributes are ignored, as the C clients ignore them: the error code is what matters.
fn extack_text(tlvs: &[u8]) -> Option<String> {
    let attrs = GenlBuffer::<NlmsgerrAttr, Buffer>::from_bytes_with_input(
        &mut Cursor::new(tlvs),
        tlvs.len(),
    )
    .ok()?;
    attrs
        .iter()
        .find(|a| *a.nla_type().nla_type() == NlmsgerrAttr::Msg)
        .map(|a| {
            let bytes = a.nla_payload().as_ref();
            let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
            String::from_utf8_lossy(&bytes[..end]).into_owned()
        })
}

/// Decodes an `NLMSG_ERROR` payload: the error code and the extack message.
fn parse_error(msg: &RawMsg<'_>) -> Result<(i32, Option<String>)> {
    let p = msg.payload;
    if p.len() < 4 + NLMSG_HDRLEN {
        return Err(too_short(msg));
    }
    let code = ne_u32(p) as i32;
    let mut off = 4 + NLMSG_HDRLEN;
    if msg.flags & libc::NLM_F_CAPPED as u16 == 0 {
        // The request came back whole: skip its payload.
        let req_len = ne_u32(&p[4..]) as usize;
        off = 4 + align4(req_len.max(NLMSG_HDRLEN));
    }
    let extack = if msg.flags & libc::NLM_F_ACK_TLVS as u16 != 0 && off < p.len() {
        extack_text(&p[off..])
    } else {
        None
    };
    Ok((code, extack))
}

/// The kernel error an error code stands for; a positive code breaks the protocol.
fn kernel_error(code: i32, extack: Option<String>) -> Result<KernelError> {
    if code >= 0 {
        return Err(Error::Protocol(format!(
            "error code {code} is not negative"
        )));
    }
    Ok(KernelError {
        errno: -code,
        extack,
    })
}

fn too_short(msg: &RawMsg<'_>) -> Error {
    Error::Protocol(format!(
        "message too short ({} bytes)",
        NLMSG_HDRLEN + msg.payload.len()
    ))
}

/// The attributes of a generic netlink message (after its genl header), whose command must be
/// `cmd`, still in the receive buffer.
fn genl_attrs<'a>(msg: &RawMsg<'a>, cmd: u8) -> Result<&'a [u8]> {
    let Some(&got) = msg
        .payload
        .first()
        .filter(|_| msg.payload.len() >= GENL_HDRLEN)
    else {
        return Err(too_short(msg));
    };
    if got != cmd {
        return Err(Error::Protocol(format!("command {got} (expected {cmd})")));
    }
    Ok(&msg.payload[GENL_HDRLEN..])
}

/// Walks a run of attributes in place: `(type, payload)`, the type without its flag bits. An
/// attribute whose length overruns the run is an error and ends the walk.
struct Attrs<'a> {
    rest: &'a [u8],
}

fn attrs(buf: &[u8]) -> Attrs<'_> {
    Attrs { rest: buf }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<(u16, &'a [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let len = if self.rest.len() >= NLA_HDRLEN {
            ne_u16(self.rest) as usize
        } else {
            0
        };
        if len < NLA_HDRLEN || len > self.rest.len() {
            let err = Error::Protocol(format!(
                "malformed generic netlink message: attribute length {len} in {} bytes",
                self.rest.len()
            ));
            self.rest = &[];
            return Some(Err(err));
        }
        let ty = ne_u16(&self.rest[2..]) & NLA_TYPE_MASK;
        let payload = &self.rest[NLA_HDRLEN..len];
        self.rest = &self.rest[align4(len).min(self.rest.len())..];
        Some(Ok((ty, payload)))
    }
}

/// The payload of attribute `ty` in `buf`; the last one wins, as in the kernel's `nla_parse()`.
fn find_raw(buf: &[u8], ty: u16) -> Result<Option<&[u8]>> {
    let mut found = None;
    for attr in attrs(buf) {
        let (t, payload) = attr?;
        if t == ty {
            found = Some(payload);
        }
    }
    Ok(found)
}

/// Full UAPI name of an attribute, for error messages.
fn attr_name(attr: Attr) -> String {
    match attr {
        Attr::Msg => "GNL_FOOBAR_XMPL_A_MSG".into(),
        Attr::Count => "GNL_FOOBAR_XMPL_A_COUNT".into(),
        Attr::Index => "GNL_FOOBAR_XMPL_A_INDEX".into(),
        Attr::StatName => "GNL_FOOBAR_XMPL_A_STAT_NAME".into(),
        Attr::StatValue => "GNL_FOOBAR_XMPL_A_STAT_VALUE".into(),
        other => format!("{}", u16::from(other)),
    }
}

fn missing(attr: Attr) -> Error {
    Error::Protocol(format!("missing attribute {}", attr_name(attr)))
}

/// The payload of an attribute of the family; the last one wins.
fn find_attr(attrs: &[u8], attr: Attr) -> Result<&[u8]> {
    find_raw(attrs, u16::from(attr))?.ok_or_else(|| missing(attr))
}

/// A string attribute's bytes before its NUL; the NUL must be there.
fn str_payload(attr: Attr, payload: &[u8]) -> Result<&[u8]> {
    match payload.iter().position(|&b| b == 0) {
        Some(end) => Ok(&payload[..end]),
        None => Err(Error::Protocol(format!(
            "attribute {} is not a NUL-terminated string",
            attr_name(attr)
        ))),
    }
}

fn u32_payload(attr: Attr, payload: &[u8]) -> Result<u32> {
    <[u8; 4]>::try_from(payload)
        .map(u32::from_ne_bytes)
        .map_err(|_| {
            Error::Protocol(format!(
                "attribute {} has {} bytes (expected 4)",
                attr_name(attr),
                payload.len()
            ))
        })
}

fn u64_payload(attr: Attr, payload: &[u8]) -> Result<u64> {
    <[u8; 8]>::try_from(payload)
        .map(u64::from_ne_bytes)
        .map_err(|_| {
            Error::Protocol(format!(
                "attribute {} has {} bytes (expected 8)",
                attr_name(attr),
                payload.len()
            ))
        })
}

fn find_str(attrs: &[u8], attr: Attr) -> Result<&[u8]> {
    str_payload(attr, find_attr(attrs, attr)?)
}

fn find_u32(attrs: &[u8], attr: Attr) -> Result<u32> {
    u32_payload(attr, find_attr(attrs, attr)?)
}

fn find_u64(attrs: &[u8], attr: Attr) -> Result<u64> {
    u64_payload(attr, find_attr(attrs, attr)?)
}

/// The stats of one `CMD_GET_STATS` doit reply: name/value pairs in the kernel's order.
fn stat_pairs(attrs_buf: &[u8]) -> Result<Vec<Stat>> {
    let mut stats = Vec::new();
    let mut name: Option<String> = None;
    for attr in attrs(attrs_buf) {
        let (ty, payload) = attr?;
        let ty = Attr::from(ty);
        match ty {
            Attr::StatName => {
                if name.is_some() {
                    return Err(missing(Attr::StatValue));
                }
                let bytes = str_payload(ty, payload)?;
                name = Some(String::from_utf8_lossy(bytes).into_owned());
            }
            Attr::StatValue => {
                let Some(n) = name.take() else {
                    return Err(missing(Attr::StatName));
                };
                stats.push(Stat {
                    name: n,
                    value: u64_payload(ty, payload)?,
                });
            }
            // A_PAD and attributes newer than this client.
            _ => {}
        }
    }
    match name {
        Some(_) => Err(missing(Attr::StatValue)),
        None => Ok(stats),
    }
}

/// The value of a request attribute.
#[derive(Clone, Copy)]
enum Val<'a> {
    /// Bytes as they are.
    Bytes(&'a [u8]),
    /// A string: the bytes and a NUL.
    Str(&'a [u8]),
}

/// A socket bound to the gnl_foobar_xmpl family.
///
/// Requests are sequential: each method sends one request and reads its whole answer before it
/// returns. After an [`Error::Protocol`] or [`Error::Syscall`] the socket may hold the rest of an
/// answer; open a new client. A subscribed client should only call [`Client::next_event`].
pub struct Client {
    sock: NlSocket,
    port: u32,
    family_id: u16,
    events_group: Option<u32>,
    seq: u32,
    tx: Vec<u8>,
    rx: Vec<u8>,
    /// The part of `rx` [`Client::next_event`] has not read yet.
    rx_pending: std::ops::Range<usize>,
}

impl Client {
    /// Opens a generic netlink socket and resolves the family and its `events` group.
    ///
    /// System calls: `socket`, `setsockopt` (`NETLINK_EXT_ACK`, `NETLINK_CAP_ACK`), `bind`,
    /// `getsockname` (the port id every reply is checked against), then one `sendto` and one
    /// `recvfrom` for `CTRL_CMD_GETFAMILY`.
    pub fn open() -> Result<Self> {
        let sock = NlSocket::new(NlFamily::Generic).map_err(Error::syscall("socket"))?;
        sock.enable_ext_ack(true)
            .map_err(Error::syscall("setsockopt"))?;
        set_cap_ack(sock.as_raw_fd())?;
        sock.bind(None, Groups::empty())
            .map_err(Error::syscall("bind"))?;
        let port = sock.pid().map_err(Error::syscall("getsockname"))?;
        let mut client = Client {
            sock,
            port,
            family_id: 0,
            events_group: None,
            seq: 0,
            tx: Vec::with_capacity(512),
            // Not zeroed: recvfrom writes it, and only what it wrote is ever read.
            rx: Vec::with_capacity(RECV_BUF_LEN),
            rx_pending: 0..0,
        };
        client.resolve()?;
        Ok(client)
    }

    /// The family id `nlctrl` assigned to gnl_foobar_xmpl (the `nlmsg_type` of its messages).
    pub fn family_id(&self) -> u16 {
        self.family_id
    }

    /// The id of the `events` multicast group, if the family has one.
    pub fn events_group(&self) -> Option<u32> {
        self.events_group
    }

    /// This socket's netlink port id (the `nlmsg_pid` of every unicast reply to it).
    pub fn port_id(&self) -> u32 {
        self.port
    }

    /// `CMD_ECHO` doit: sends `msg` as `A_MSG` and returns the `A_MSG` of the reply.
    pub fn echo(&mut self, msg: &[u8]) -> Result<Vec<u8>> {
        check_message(msg)?;
        let seq = self.send_family(Cmd::Echo, 0, &[(Attr::Msg, Val::Str(msg))])?;
        let mut reply = Vec::new();
        self.transact(seq, self.family_id, Want::Reply, |m| {
            let attrs = genl_attrs(m, u8::from(Cmd::Echo))?;
            reply = find_str(attrs, Attr::Msg)?.to_vec();
            Ok(())
        })
        .map_err(Error::from_kernel_err)?;
        Ok(reply)
    }

    /// `CMD_ECHO` dump: `count` messages (the namespace's default without it), each passed to
    /// `each` as it arrives; returns how many arrived.
    pub fn dump_each(
        &mut self,
        count: Option<u32>,
        mut each: impl FnMut(u32, &[u8]),
    ) -> Result<u32> {
        let n = count.unwrap_or(0).to_ne_bytes();
        let with_count = [(Attr::Count, Val::Bytes(&n))];
        let attrs: &[(Attr, Val<'_>)] = match count {
            Some(n) => {
                check_dump_count(n)?;
                &with_count
            }
            None => &[],
        };
        let seq = self.send_family(Cmd::Echo, libc::NLM_F_DUMP as u16, attrs)?;
        let mut next = 0u32;
        self.transact(seq, self.family_id, Want::Dump, |m| {
            let attrs = genl_attrs(m, u8::from(Cmd::Echo))?;
            let index = find_u32(attrs, Attr::Index)?;
            let msg = find_str(attrs, Attr::Msg)?;
            if index != next {
                return Err(Error::Protocol(format!(
                    "dump index {index} (expected {next})"
                )));
            }
            each(index, msg);
            next += 1;
            Ok(())
        })
        .map_err(Error::from_kernel_err)?;
        Ok(next)
    }

    /// `CMD_ECHO` dump collected into a vector; see [`Client::dump_each`].
    pub fn dump(&mut self, count: Option<u32>) -> Result<Vec<DumpEntry>> {
        let mut entries = Vec::new();
        self.dump_each(count, |index, msg| {
            entries.push(DumpEntry {
                index,
                msg: msg.to_vec(),
            })
        })?;
        Ok(entries)
    }

    /// `CMD_REPLY_WITH_NLMSG_ERR`: returns the error the kernel answers with (`EINVAL` and an
    /// extack message); any other answer is an [`Error::Protocol`].
    pub fn error(&mut self) -> Result<KernelError> {
        let seq = self.send_family(Cmd::ReplyWithNlmsgErr, 0, &[])?;
        match self.transact(seq, self.family_id, Want::Ack, |_| Ok(())) {
            Err(Answer::Kernel(err)) => Ok(err),
            Err(Answer::Local(err)) => Err(err),
            Ok(()) => Err(Error::Protocol(
                "acknowledgement (expected an error)".into(),
            )),
        }
    }

    /// `CMD_SET_DUMP_COUNT` (needs `CAP_NET_ADMIN`): sets the namespace's default dump count
    /// and waits for the ack.
    pub fn set_dump_count(&mut self, count: u32) -> Result<()> {
        check_dump_count(count)?;
        let n = count.to_ne_bytes();
        let seq = self.send_family(
            Cmd::SetDumpCount,
            libc::NLM_F_ACK as u16,
            &[(Attr::Count, Val::Bytes(&n))],
        )?;
        self.transact(seq, self.family_id, Want::Ack, |_| Ok(()))
            .map_err(Error::from_kernel_err)
    }

    /// `CMD_GET_STATS` doit: the namespace's counters, in the kernel's order.
    pub fn stats(&mut self) -> Result<Vec<Stat>> {
        let seq = self.send_family(Cmd::GetStats, 0, &[])?;
        let mut stats = Vec::new();
        self.transact(seq, self.family_id, Want::Reply, |m| {
            stats = stat_pairs(genl_attrs(m, u8::from(Cmd::GetStats))?)?;
            Ok(())
        })
        .map_err(Error::from_kernel_err)?;
        Ok(stats)
    }

    /// `CMD_GET_STATS` dump: one message per counter, in the kernel's order.
    pub fn stats_dump(&mut self) -> Result<Vec<Stat>> {
        let seq = self.send_family(Cmd::GetStats, libc::NLM_F_DUMP as u16, &[])?;
        let mut stats = Vec::new();
        self.transact(seq, self.family_id, Want::Dump, |m| {
            let attrs = genl_attrs(m, u8::from(Cmd::GetStats))?;
            let name = find_str(attrs, Attr::StatName)?;
            stats.push(Stat {
                name: String::from_utf8_lossy(name).into_owned(),
                value: find_u64(attrs, Attr::StatValue)?,
            });
            Ok(())
        })
        .map_err(Error::from_kernel_err)?;
        Ok(stats)
    }

    /// Joins the `events` multicast group; then call [`Client::next_event`].
    pub fn subscribe(&mut self) -> Result<()> {
        let group = self.events_group.ok_or_else(|| {
            Error::Protocol(format!(
                "family {} has no multicast group {}",
                uapi::FAMILY_NAME,
                uapi::MCGRP_EVENTS
            ))
        })?;
        self.sock
            .add_mcast_membership(Groups::new_groups(&[group]))
            .map_err(Error::syscall("setsockopt"))
    }

    /// Blocks until the next event of the `events` group and returns it.
    pub fn next_event(&mut self) -> Result<Event> {
        if self.rx_pending.is_empty() {
            let len = self.recv_datagram()?;
            self.rx_pending = 0..len;
        }
        let buf = &self.rx[self.rx_pending.clone()];
        let (msg, rest) = split_msg(buf)?;
        let consumed = buf.len() - rest.len();
        // Events are addressed to no one: their port id and sequence number mean nothing.
        let event = if msg.ty != self.family_id {
            Err(Error::Protocol(format!(
                "message type {} (expected {})",
                msg.ty, self.family_id
            )))
        } else {
            match msg.payload.first().map(|&c| Cmd::from(c)) {
                _ if msg.payload.len() < GENL_HDRLEN => Err(too_short(&msg)),
                Some(Cmd::Echo) => genl_attrs(&msg, u8::from(Cmd::Echo))
                    .and_then(|attrs| Ok(Event::Echo(find_str(attrs, Attr::Msg)?.to_vec()))),
                Some(Cmd::SetDumpCount) => genl_attrs(&msg, u8::from(Cmd::SetDumpCount))
                    .and_then(|attrs| Ok(Event::SetDumpCount(find_u32(attrs, Attr::Count)?))),
                Some(other) => Ok(Event::Unknown(u8::from(other))),
                None => Err(too_short(&msg)),
            }
        };
        self.rx_pending.start += consumed;
        event
    }

    /// A fresh sequence number, for requests sent with [`Client::send_raw`].
    pub fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Sends `bytes` as they are (one or more netlink messages, for instance a fuzzer's) to the
    /// kernel on this socket.
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.sock
            .send(bytes, Msg::empty())
            .map_err(Error::syscall("send"))?;
        Ok(())
    }

    /// Receives one datagram (checked only for truncation and for coming from the kernel) and
    /// returns its bytes, unparsed.
    pub fn recv_raw(&mut self) -> Result<&[u8]> {
        self.rx_pending = 0..0;
        let len = self.recv_datagram()?;
        Ok(&self.rx[..len])
    }

    /// Resolves the family id and the `events` group with one `CTRL_CMD_GETFAMILY`.
    fn resolve(&mut self) -> Result<()> {
        let ctrl = u16::from(GenlId::Ctrl);
        let seq = self.send(
            ctrl,
            0,
            u8::from(CtrlCmd::Getfamily),
            CTRL_VERSION,
            &[(
                u16::from(CtrlAttr::FamilyName),
                Val::Str(uapi::FAMILY_NAME.as_bytes()),
            )],
        )?;
        let mut found = None;
        let res = self.transact(seq, ctrl, Want::Reply, |m| {
            found = Some(family_of(genl_attrs(m, u8::from(CtrlCmd::Newfamily))?)?);
            Ok(())
        });
        match res {
            Ok(()) => {}
            Err(Answer::Kernel(err)) if err.errno == libc::ENOENT => {
                return Err(Error::FamilyNotFound)
            }
            Err(other) => return Err(Error::from_kernel_err(other)),
        }
        let (id, group) = found.expect("a reply was parsed");
        self.family_id = id;
        self.events_group = group;
        Ok(())
    }

    fn send_family(&mut self, cmd: Cmd, flags: u16, attrs: &[(Attr, Val<'_>)]) -> Result<u32> {
        let mut typed = [(0u16, Val::Bytes(&[])); 2];
        for (slot, (ty, val)) in typed.iter_mut().zip(attrs) {
            *slot = (u16::from(*ty), *val);
        }
        self.send(
            self.family_id,
            flags,
            u8::from(cmd),
            uapi::FAMILY_VERSION,
            &typed[..attrs.len()],
        )
    }

    /// Encodes one request (netlink header, genl header, attributes) into the reused send
    /// buffer and sends it; returns its sequence number.
    fn send(
        &mut self,
        ty: u16,
        flags: u16,
        cmd: u8,
        version: u8,
        attrs: &[(u16, Val<'_>)],
    ) -> Result<u32> {
        let seq = self.next_seq();
        let tx = &mut self.tx;
        tx.clear();
        tx.extend_from_slice(&[0; 4]); // nlmsg_len, set below
        tx.extend_from_slice(&ty.to_ne_bytes());
        tx.extend_from_slice(&(libc::NLM_F_REQUEST as u16 | flags).to_ne_bytes());
        tx.extend_from_slice(&seq.to_ne_bytes());
        tx.extend_from_slice(&self.port.to_ne_bytes());
        tx.extend_from_slice(&[cmd, version, 0, 0]);
        for (attr_ty, val) in attrs {
            let (bytes, nul) = match val {
                Val::Bytes(b) => (*b, 0),
                Val::Str(b) => (*b, 1),
            };
            let len = NLA_HDRLEN + bytes.len() + nul;
            let len16 = u16::try_from(len).map_err(|_| {
                Error::InvalidArgument(format!("attribute of {len} bytes is too long"))
            })?;
            tx.extend_from_slice(&len16.to_ne_bytes());
            tx.extend_from_slice(&attr_ty.to_ne_bytes());
            tx.extend_from_slice(bytes);
            tx.resize(tx.len() + nul + (align4(len) - len), 0);
        }
        let total = tx.len() as u32;
        tx[..4].copy_from_slice(&total.to_ne_bytes());
        self.sock
            .send(&self.tx, Msg::empty())
            .map_err(Error::syscall("send"))?;
        Ok(seq)
    }

    /// Receives one whole datagram from the kernel into `rx` (whose length becomes the
    /// datagram's); returns its length.
    fn recv_datagram(&mut self) -> Result<usize> {
        self.rx.clear();
        let cap = self.rx.capacity();
        loop {
            // SAFETY: an all-zero sockaddr_nl is valid.
            let mut addr: libc::sockaddr_nl = unsafe { mem::zeroed() };
            let mut addr_len = mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
            // neli's NlSocket::recv drops the sender's port, which is checked here, so the call
            // is made directly. MSG_TRUNC makes it return the datagram's real length.
            // SAFETY: rx's spare capacity and addr outlive the call and their sizes are passed.
            let n = unsafe {
                libc::recvfrom(
                    self.sock.as_raw_fd(),
                    self.rx.as_mut_ptr().cast(),
                    cap,
                    libc::MSG_TRUNC,
                    (&mut addr as *mut libc::sockaddr_nl).cast(),
                    &mut addr_len,
                )
            };
            if n < 0 {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(Error::syscall("recv")(err));
            }
            let n = n as usize;
            if n > cap {
                return Err(Error::Protocol(format!(
                    "datagram truncated ({cap} bytes kept)"
                )));
            }
            // SAFETY: the kernel wrote the first n bytes, and n is within the capacity.
            unsafe { self.rx.set_len(n) };
            if addr.nl_pid != 0 {
                return Err(Error::Protocol(format!(
                    "sender port id {} (expected 0)",
                    addr.nl_pid
                )));
            }
            return Ok(n);
        }
    }

    /// Reads the whole answer to request `seq`, passing each data message of type `ty` to
    /// `on_data`; stops after what `want` says ends it.
    fn transact(
        &mut self,
        seq: u32,
        ty: u16,
        want: Want,
        mut on_data: impl FnMut(&RawMsg<'_>) -> Result<()>,
    ) -> std::result::Result<(), Answer> {
        self.rx_pending = 0..0;
        loop {
            let len = self.recv_datagram()?;
            let mut rest = &self.rx[..len];
            let mut done = false;
            while !rest.is_empty() {
                let (msg, tail) = split_msg(rest)?;
                rest = tail;
                if done {
                    return Err(Error::Protocol(format!(
                        "message type {} after the end of the answer",
                        msg.ty
                    ))
                    .into());
                }
                if msg.pid != self.port {
                    return Err(Error::Protocol(format!(
                        "port id {} (expected {})",
                        msg.pid, self.port
                    ))
                    .into());
                }
                if msg.seq != seq {
                    return Err(Error::Protocol(format!(
                        "sequence number {} (expected {seq})",
                        msg.seq
                    ))
                    .into());
                }
                if msg.ty == libc::NLMSG_ERROR as u16 {
                    let (code, extack) = parse_error(&msg)?;
                    if code != 0 {
                        return Err(Answer::Kernel(kernel_error(code, extack)?));
                    }
                    if want != Want::Ack {
                        return Err(
                            Error::Protocol("acknowledgement (expected a reply)".into()).into()
                        );
                    }
                    done = true;
                } else if msg.ty == libc::NLMSG_DONE as u16 && want == Want::Dump {
                    let code = match msg.payload.get(..4) {
                        Some(bytes) => ne_u32(bytes) as i32,
                        None => 0,
                    };
                    if code != 0 {
                        let extack = if msg.flags & libc::NLM_F_ACK_TLVS as u16 != 0 {
                            extack_text(&msg.payload[4..])
                        } else {
                            None
                        };
                        return Err(Answer::Kernel(kernel_error(code, extack)?));
                    }
                    done = true;
                } else if msg.ty == ty && want != Want::Ack {
                    on_data(&msg)?;
                    done = want == Want::Reply;
                } else {
                    let expected = if want == Want::Ack {
                        libc::NLMSG_ERROR as u16
                    } else {
                        ty
                    };
                    return Err(Error::Protocol(format!(
                        "message type {} (expected {expected})",
                        msg.ty
                    ))
                    .into());
                }
            }
            if done {
                return Ok(());
            }
        }
    }
}

impl AsRawFd for Client {
    /// The netlink socket, for polling it or for a fuzzer's own system calls.
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

/// Why a request's answer was not the data asked for: the kernel said no, or something here.
enum Answer {
    Kernel(KernelError),
    Local(Error),
}

impl From<Error> for Answer {
    fn from(err: Error) -> Self {
        Answer::Local(err)
    }
}

impl Error {
    fn from_kernel_err(answer: Answer) -> Self {
        match answer {
            Answer::Kernel(err) => Error::from_kernel(err),
            Answer::Local(err) => err,
        }
    }
}

/// The family id and the `events` group id of a `CTRL_CMD_NEWFAMILY` reply's attributes.
fn family_of(attrs: &[u8]) -> Result<(u16, Option<u32>)> {
    let id = find_raw(attrs, u16::from(CtrlAttr::FamilyId))?
        .ok_or_else(|| Error::Protocol("CTRL_ATTR_FAMILY_ID missing".into()))?;
    let id = <[u8; 2]>::try_from(id)
        .map(u16::from_ne_bytes)
        .map_err(|_| Error::Protocol("CTRL_ATTR_FAMILY_ID is not a u16".into()))?;
    let Some(groups) = find_raw(attrs, u16::from(CtrlAttr::McastGroups))? else {
        return Ok((id, None));
    };
    let name_attr = u16::from(CtrlAttrMcastGrp::Name);
    let id_attr = u16::from(CtrlAttrMcastGrp::Id);
    for group in self::attrs(groups) {
        let (_, fields) = group?;
        // The whole name and its NUL: "events" must not match "ev".
        if find_raw(fields, name_attr)?
            .is_none_or(|name| name.strip_suffix(b"\0") != Some(uapi::MCGRP_EVENTS.as_bytes()))
        {
            continue;
        }
        let gid = find_raw(fields, id_attr)?
            .ok_or_else(|| Error::Protocol("CTRL_ATTR_MCAST_GRP_ID missing".into()))?;
        let gid = <[u8; 4]>::try_from(gid)
            .map(u32::from_ne_bytes)
            .map_err(|_| Error::Protocol("CTRL_ATTR_MCAST_GRP_ID is not a u32".into()))?;
        return Ok((id, Some(gid)));
    }
    Ok((id, None))
}

/// `setsockopt(NETLINK_CAP_ACK)`, which neli has no call for: error messages quote only the
/// request's header, not its payload.
fn set_cap_ack(fd: RawFd) -> Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: the option value is a c_int that outlives the call.
    let ret = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_NETLINK,
            libc::NETLINK_CAP_ACK,
            (&one as *const libc::c_int).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if ret < 0 {
        return Err(Error::syscall("setsockopt")(io::Error::last_os_error()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_texts_follow_the_interface() {
        assert_eq!(
            Error::MessageTooLong { len: 256 }.to_string(),
            "message is 256 bytes; the maximum is 255"
        );
        assert_eq!(
            Error::FamilyNotFound.to_string(),
            "generic netlink family gnl_foobar_xmpl not found: is the module loaded? \
             (insmod gnl_foobar_xmpl.ko)"
        );
        assert_eq!(
            Error::PermissionDenied.to_string(),
            "permission denied: this operation needs CAP_NET_ADMIN (run as root)"
        );
        let err = KernelError {
            errno: libc::EINVAL,
            extack: Some("bad thing".into()),
        };
        assert_eq!(
            Error::Kernel(err).to_string(),
            "kernel rejected the request: Invalid argument (errno 22): bad thing"
        );
        let err = KernelError {
            errno: libc::ERANGE,
            extack: None,
        };
        assert_eq!(
            Error::Kernel(err).to_string(),
            "kernel rejected the request: Numerical result out of range (errno 34)"
        );
        assert_eq!(
            Error::Syscall {
                call: "socket",
                errno: libc::EACCES
            }
            .to_string(),
            "socket: Permission denied (errno 13)"
        );
        assert_eq!(
            Error::Protocol("A_MSG missing".into()).to_string(),
            "unexpected reply: A_MSG missing"
        );
    }

    #[test]
    fn exit_codes_follow_the_interface() {
        assert_eq!(Error::MessageTooLong { len: 300 }.exit_code(), 2);
        assert_eq!(Error::FamilyNotFound.exit_code(), 3);
        assert_eq!(Error::PermissionDenied.exit_code(), 4);
        assert_eq!(Error::Protocol(String::new()).exit_code(), 5);
        assert_eq!(
            Error::from_kernel(KernelError {
                errno: libc::EPERM,
                extack: None
            }),
            Error::PermissionDenied
        );
        let other = KernelError {
            errno: libc::EINVAL,
            extack: None,
        };
        assert_eq!(Error::from_kernel(other.clone()).exit_code(), 1);
    }

    #[test]
    fn arguments_are_checked() {
        assert!(check_message(&[b'a'; 255]).is_ok());
        assert_eq!(
            check_message(&[b'a'; 256]),
            Err(Error::MessageTooLong { len: 256 })
        );
        assert!(check_message(b"a\0b").is_err());
        assert!(check_dump_count(0).is_err());
        assert!(check_dump_count(1).is_ok());
        assert!(check_dump_count(100_000).is_ok());
        assert!(check_dump_count(100_001).is_err());
    }

    fn nlmsg(ty: u16, flags: u16, seq: u32, pid: u32, payload: &[u8]) -> Vec<u8> {
        let len = (NLMSG_HDRLEN + payload.len()) as u32;
        let mut v = Vec::new();
        v.extend_from_slice(&len.to_ne_bytes());
        v.extend_from_slice(&ty.to_ne_bytes());
        v.extend_from_slice(&flags.to_ne_bytes());
        v.extend_from_slice(&seq.to_ne_bytes());
        v.extend_from_slice(&pid.to_ne_bytes());
        v.extend_from_slice(payload);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    #[test]
    fn messages_are_split_within_bounds() {
        let mut buf = nlmsg(30, 0, 7, 99, b"abcde");
        buf.extend(nlmsg(3, 2, 8, 99, &[0; 4]));
        let (m, rest) = split_msg(&buf).unwrap();
        assert_eq!((m.ty, m.seq, m.pid, m.payload), (30, 7, 99, &b"abcde"[..]));
        let (m, rest) = split_msg(rest).unwrap();
        assert_eq!((m.ty, m.flags, m.payload.len()), (3, 2, 4));
        assert!(rest.is_empty());
        let mut bad = nlmsg(30, 0, 1, 1, b"x");
        bad[0] = 200;
        assert!(matches!(split_msg(&bad), Err(Error::Protocol(_))));
        assert!(matches!(split_msg(&bad[..10]), Err(Error::Protocol(_))));
    }

    #[test]
    fn capped_error_with_extack_is_decoded() {
        let mut payload = (-libc::EINVAL).to_ne_bytes().to_vec();
        payload.extend(nlmsg(30, 5, 1, 99, &[]));
        // NLMSGERR_ATTR_MSG "nope\0", padded.
        payload.extend_from_slice(&9u16.to_ne_bytes());
        payload.extend_from_slice(&1u16.to_ne_bytes());
        payload.extend_from_slice(b"nope\0\0\0\0");
        let flags = (libc::NLM_F_CAPPED | libc::NLM_F_ACK_TLVS) as u16;
        let buf = nlmsg(libc::NLMSG_ERROR as u16, flags, 1, 99, &payload);
        let (m, _) = split_msg(&buf).unwrap();
        let (code, extack) = parse_error(&m).unwrap();
        assert_eq!(code, -libc::EINVAL);
        assert_eq!(extack.as_deref(), Some("nope"));
    }

    #[test]
    fn uncapped_error_skips_the_quoted_request() {
        let mut payload = (-libc::ENOENT).to_ne_bytes().to_vec();
        payload.extend(nlmsg(16, 1, 1, 99, b"quoted request"));
        let buf = nlmsg(libc::NLMSG_ERROR as u16, 0, 1, 99, &payload);
        let (m, _) = split_msg(&buf).unwrap();
        assert_eq!(parse_error(&m).unwrap(), (-libc::ENOENT, None));
    }

    #[test]
    fn string_and_integer_attributes_are_checked() {
        assert_eq!(str_payload(Attr::Msg, b"hi\0").unwrap(), b"hi");
        assert!(str_payload(Attr::Msg, b"hi").is_err());
        assert_eq!(u32_payload(Attr::Count, &5u32.to_ne_bytes()).unwrap(), 5);
        assert!(u32_payload(Attr::Count, &[1, 2]).is_err());
        assert!(u64_payload(Attr::StatValue, &[0; 4]).is_err());
    }

    /// One attribute as the kernel lays it out.
    fn nla(ty: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = ((NLA_HDRLEN + payload.len()) as u16).to_ne_bytes().to_vec();
        v.extend_from_slice(&ty.to_ne_bytes());
        v.extend_from_slice(payload);
        v.resize(align4(v.len()), 0);
        v
    }

    #[test]
    fn stats_pairs_keep_the_kernel_order() {
        let buf = [
            nla(4, b"b\0"),
            nla(6, &[]),
            nla(5, &2u64.to_ne_bytes()),
            nla(4, b"a\0"),
            nla(5, &1u64.to_ne_bytes()),
        ]
        .concat();
        let stats = stat_pairs(&buf).unwrap();
        let names: Vec<_> = stats.iter().map(|s| (s.name.as_str(), s.value)).collect();
        assert_eq!(names, [("b", 2), ("a", 1)]);
        assert!(stat_pairs(&nla(4, b"c\0")).is_err());
    }

    #[test]
    fn attributes_are_walked_in_place() {
        let mut buf = [
            nla(1, b"hi\0"),
            nla(3 | 0x8000, &7u32.to_ne_bytes()),
            nla(1, b"yo\0"),
        ]
        .concat();
        assert_eq!(find_str(&buf, Attr::Msg).unwrap(), b"yo");
        assert_eq!(find_u32(&buf, Attr::Index).unwrap(), 7);
        assert_eq!(
            find_attr(&buf, Attr::Count),
            Err(Error::Protocol(
                "missing attribute GNL_FOOBAR_XMPL_A_COUNT".into()
            ))
        );
        buf[0] = 200;
        assert!(matches!(find_raw(&buf, 1), Err(Error::Protocol(_))));
        assert!(matches!(find_raw(&[1, 0], 1), Err(Error::Protocol(_))));
    }

    #[test]
    fn the_family_and_its_group_are_found() {
        let group =
            |name: &[u8], id: u32| nla(1, &[nla(1, name), nla(2, &id.to_ne_bytes())].concat());
        let groups = [group(b"ev\0", 3), group(b"events\0", 9)].concat();
        let buf = [
            nla(2, b"gnl_foobar_xmpl\0"),
            nla(1, &30u16.to_ne_bytes()),
            nla(7, &groups),
        ]
        .concat();
        assert_eq!(family_of(&buf).unwrap(), (30, Some(9)));
        let no_groups = nla(1, &31u16.to_ne_bytes());
        assert_eq!(family_of(&no_groups).unwrap(), (31, None));
        assert!(family_of(&nla(2, b"x\0")).is_err());
    }
}
