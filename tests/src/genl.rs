//! Crafted generic netlink requests over a real `AF_NETLINK` socket, byte by byte, so the suite
//! can send what no client would (wrong types, oversized strings, unknown commands) and do what
//! no client does (close a socket in the middle of a dump).

use std::fmt::{self, Write as _};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// The UAPI, generated from `userland/include/` by the codec crate.
pub use nl_codec::uapi;

use nl_codec::{
    align4, attrs, cstr, u32_at, CTRL_ATTR_FAMILY_ID, CTRL_ATTR_FAMILY_NAME,
    CTRL_ATTR_MCAST_GROUPS, CTRL_ATTR_MCAST_GRP_ID, CTRL_ATTR_MCAST_GRP_NAME, CTRL_CMD_GETFAMILY,
    F_ACK_TLVS as NLM_F_ACK_TLVS, F_CAPPED as NLM_F_CAPPED, GENL_HDRLEN, GENL_ID_CTRL,
    HDRLEN as NLMSG_HDRLEN, NETLINK_ADD_MEMBERSHIP, NETLINK_CAP_ACK, NETLINK_EXT_ACK,
    NETLINK_GENERIC, NLMSGERR_ATTR_MISS_TYPE, NLMSGERR_ATTR_MSG, NLMSGERR_ATTR_OFFS, NLMSG_DONE,
    NLMSG_ERROR, SOL_NETLINK,
};
/// `NLM_F_REQUEST`, `NLM_F_ACK`, `NLM_F_DUMP`, from the codec.
pub use nl_codec::{F_ACK as NLM_F_ACK, F_DUMP as NLM_F_DUMP, F_REQUEST as NLM_F_REQUEST};

/// One attribute, its payload given byte by byte (so it can be wrong on purpose).
#[derive(Debug, Clone)]
pub struct Attr {
    /// `nla_type`.
    pub kind: u16,
    /// Payload, unpadded.
    pub payload: Vec<u8>,
}

impl Attr {
    /// Any payload.
    pub fn raw(kind: u16, payload: impl Into<Vec<u8>>) -> Self {
        Attr {
            kind,
            payload: payload.into(),
        }
    }

    /// A NUL-terminated string.
    pub fn string(kind: u16, value: &str) -> Self {
        let mut payload = value.as_bytes().to_vec();
        payload.push(0);
        Attr { kind, payload }
    }

    /// A native-endian u16.
    pub fn u16(kind: u16, value: u16) -> Self {
        Attr {
            kind,
            payload: value.to_ne_bytes().to_vec(),
        }
    }

    /// A native-endian u32.
    pub fn u32(kind: u16, value: u32) -> Self {
        Attr {
            kind,
            payload: value.to_ne_bytes().to_vec(),
        }
    }

    /// A native-endian u64.
    pub fn u64(kind: u16, value: u64) -> Self {
        Attr {
            kind,
            payload: value.to_ne_bytes().to_vec(),
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        let len = 4 + self.payload.len();
        out.extend_from_slice(&(len as u16).to_ne_bytes());
        out.extend_from_slice(&self.kind.to_ne_bytes());
        out.extend_from_slice(&self.payload);
        out.resize(align4(out.len()), 0);
    }
}

/// Parses a stream of attributes; stops at the first malformed one (the codec's parser).
pub fn parse_attrs(data: &[u8]) -> Vec<(u16, Vec<u8>)> {
    attrs(data)
        .into_iter()
        .map(|(k, v)| (k, v.to_vec()))
        .collect()
}

fn attr_u32(payload: &[u8]) -> Option<u32> {
    u32_at(payload, 0)
}

fn attr_str(payload: &[u8]) -> String {
    cstr(payload)
}

/// `strerror(errno)`, the C library's text (the clients print the same).
pub fn strerror(errno: i32) -> String {
    // SAFETY: strerror returns a pointer to a NUL-terminated string valid until the next call;
    // the suite holds its lock, and the text is copied at once.
    unsafe { std::ffi::CStr::from_ptr(libc::strerror(errno)) }
        .to_string_lossy()
        .into_owned()
}

/// One netlink message received from the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A generic netlink message of the family (or of nlctrl).
    Genl {
        /// `nlmsg_type`: the family ID.
        family: u16,
        /// `nlmsg_flags`.
        flags: u16,
        /// `nlmsg_seq`.
        seq: u32,
        /// genl command.
        cmd: u8,
        /// Attributes, in order.
        attrs: Vec<(u16, Vec<u8>)>,
    },
    /// `NLMSG_DONE`, ending a dump.
    Done {
        /// `nlmsg_seq`.
        seq: u32,
    },
    /// `NLMSG_ERROR`: an ACK (`errno` 0) or an error, with the extended ACK.
    Error {
        /// `nlmsg_seq`.
        seq: u32,
        /// Positive errno, 0 for an ACK.
        errno: i32,
        /// `NLMSGERR_ATTR_MSG`.
        extack: Option<String>,
        /// `NLMSGERR_ATTR_OFFS`: offset of the offending attribute in the request.
        offset: Option<u32>,
        /// `NLMSGERR_ATTR_MISS_TYPE`: the type of a missing attribute (Linux 6.0 and later).
        missing: Option<u32>,
    },
}

impl Message {
    fn seq(&self) -> u32 {
        match self {
            Message::Genl { seq, .. } | Message::Done { seq } | Message::Error { seq, .. } => *seq,
        }
    }

    /// Whether this message ends a request's answer (an ACK, an error or the end of a dump).
    pub fn is_final(&self) -> bool {
        matches!(self, Message::Done { .. } | Message::Error { .. })
    }
}

/// Renders a message of the family for snapshots; the family ID and sequence number left out
/// (checked by [`GenlSocket::request`]).
impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Message::Genl { cmd, attrs, .. } => {
                write!(f, "reply: cmd {cmd}")?;
                for (kind, payload) in attrs {
                    write!(f, ", {}", render_attr(*kind, payload))?;
                }
                Ok(())
            }
            Message::Done { .. } => write!(f, "done"),
            Message::Error {
                errno: 0, extack, ..
            } => {
                write!(f, "ack")?;
                if let Some(text) = extack {
                    write!(f, ", extack: {text}")?;
                }
                Ok(())
            }
            Message::Error {
                errno,
                extack,
                offset,
                missing,
                ..
            } => {
                write!(f, "error: errno {errno} ({})", strerror(*errno))?;
                if let Some(text) = extack {
                    write!(f, ", extack: {text}")?;
                }
                if let Some(offset) = offset {
                    write!(f, ", offending attribute at offset {offset}")?;
                }
                // `missing` is left out: only 6.0 and later report it (see `errors.rs`).
                let _ = missing;
                Ok(())
            }
        }
    }
}

fn render_attr(kind: u16, payload: &[u8]) -> String {
    use uapi::*;
    match (kind, payload.len()) {
        (GNL_FOOBAR_XMPL_A_MSG, _) => format!("MSG {:?}", attr_str(payload)),
        (GNL_FOOBAR_XMPL_A_STAT_NAME, _) => format!("STAT_NAME {:?}", attr_str(payload)),
        (GNL_FOOBAR_XMPL_A_COUNT, 4) => format!("COUNT {}", attr_u32(payload).unwrap()),
        (GNL_FOOBAR_XMPL_A_INDEX, 4) => format!("INDEX {}", attr_u32(payload).unwrap()),
        (GNL_FOOBAR_XMPL_A_STAT_VALUE, 8) => format!(
            "STAT_VALUE {}",
            u64::from_ne_bytes(payload.try_into().unwrap())
        ),
        (GNL_FOOBAR_XMPL_A_PAD, _) => "PAD".to_owned(),
        _ => format!("attr {kind} {payload:02x?}"),
    }
}

/// A family as nlctrl describes it.
#[derive(Debug, Clone)]
pub struct Family {
    /// Family ID (the `nlmsg_type` of its messages).
    pub id: u16,
    /// Multicast groups: name and ID.
    pub groups: Vec<(String, u32)>,
}

impl Family {
    /// The ID of the multicast group `name`.
    pub fn group(&self, name: &str) -> Option<u32> {
        self.groups
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, id)| *id)
    }
}

/// A generic netlink socket, extended ACKs and capped ACKs on.
#[derive(Debug)]
pub struct GenlSocket {
    fd: OwnedFd,
    seq: u32,
    /// The port ID the kernel bound the socket to.
    pub portid: u32,
}

fn check(ret: libc::c_int, what: &str) -> io::Result<libc::c_int> {
    if ret < 0 {
        let err = io::Error::last_os_error();
        Err(io::Error::new(err.kind(), format!("{what}: {err}")))
    } else {
        Ok(ret)
    }
}

impl GenlSocket {
    /// Opens and binds a socket (the kernel picks the port ID).
    pub fn open() -> io::Result<Self> {
        // SAFETY: plain syscalls on a descriptor we own; the structs are fully initialised.
        unsafe {
            let fd = check(
                libc::socket(
                    libc::AF_NETLINK,
                    libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                    NETLINK_GENERIC,
                ),
                "socket",
            )?;
            let fd = OwnedFd::from_raw_fd(fd);
            let mut addr: libc::sockaddr_nl = std::mem::zeroed();
            addr.nl_family = libc::AF_NETLINK as u16;
            let len = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
            check(
                libc::bind(
                    fd.as_raw_fd(),
                    &addr as *const _ as *const libc::sockaddr,
                    len,
                ),
                "bind",
            )?;
            let mut len = len;
            check(
                libc::getsockname(
                    fd.as_raw_fd(),
                    &mut addr as *mut _ as *mut libc::sockaddr,
                    &mut len,
                ),
                "getsockname",
            )?;
            let socket = GenlSocket {
                fd,
                seq: 1000,
                portid: addr.nl_pid,
            };
            socket.setsockopt(NETLINK_EXT_ACK, 1)?;
            socket.setsockopt(NETLINK_CAP_ACK, 1)?;
            // A kernel that never answers fails the test instead of hanging the suite.
            let timeout = libc::timeval {
                tv_sec: 30,
                tv_usec: 0,
            };
            check(
                libc::setsockopt(
                    socket.fd.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_RCVTIMEO,
                    &timeout as *const libc::timeval as *const libc::c_void,
                    std::mem::size_of::<libc::timeval>() as libc::socklen_t,
                ),
                "setsockopt(SO_RCVTIMEO)",
            )?;
            Ok(socket)
        }
    }

    fn setsockopt(&self, option: i32, value: i32) -> io::Result<()> {
        // SAFETY: value outlives the call; the length is its size.
        check(
            unsafe {
                libc::setsockopt(
                    self.fd.as_raw_fd(),
                    SOL_NETLINK,
                    option,
                    &value as *const i32 as *const libc::c_void,
                    std::mem::size_of::<i32>() as libc::socklen_t,
                )
            },
            "setsockopt",
        )
        .map(drop)
    }

    /// Joins a multicast group.
    pub fn join(&self, group: u32) -> io::Result<()> {
        self.setsockopt(NETLINK_ADD_MEMBERSHIP, group as i32)
    }

    /// Sends one generic netlink request; returns its sequence number.
    pub fn send(
        &mut self,
        family: u16,
        flags: u16,
        cmd: u8,
        version: u8,
        attrs: &[Attr],
    ) -> io::Result<u32> {
        self.seq += 1;
        let mut msg = vec![0u8; NLMSG_HDRLEN];
        msg.extend_from_slice(&[cmd, version, 0, 0]);
        for attr in attrs {
            attr.encode(&mut msg);
        }
        let len = msg.len() as u32;
        msg[0..4].copy_from_slice(&len.to_ne_bytes());
        msg[4..6].copy_from_slice(&family.to_ne_bytes());
        msg[6..8].copy_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        msg[8..12].copy_from_slice(&self.seq.to_ne_bytes());
        // nlmsg_pid 0: the kernel fills in our port ID.
        // SAFETY: msg is valid for its length; the kernel is the default destination.
        let sent = check(
            unsafe {
                libc::send(
                    self.fd.as_raw_fd(),
                    msg.as_ptr() as *const libc::c_void,
                    msg.len(),
                    0,
                ) as i32
            },
            "send",
        )?;
        assert_eq!(sent as usize, msg.len(), "short send");
        Ok(self.seq)
    }

    /// Receives one datagram (blocking) and parses its messages; a truncated datagram, one not
    /// from the kernel (source port ID 0) or not addressed to this socket is an error.
    pub fn recv(&mut self) -> io::Result<Vec<Message>> {
        let mut buf = vec![0u8; 256 * 1024];
        // SAFETY: an all-zero sockaddr_nl is valid.
        let mut from: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        let mut from_len = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
        // SAFETY: buf and from are valid for their lengths.
        let n = check(
            unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr() as *mut libc::c_void,
                    buf.len(),
                    libc::MSG_TRUNC,
                    &mut from as *mut _ as *mut libc::sockaddr,
                    &mut from_len,
                ) as i32
            },
            "recv",
        )? as usize;
        assert!(
            n <= buf.len(),
            "datagram of {n} bytes truncated to {}",
            buf.len()
        );
        assert_eq!(from.nl_pid, 0, "a datagram not from the kernel");
        Ok(parse_messages(&buf[..n], self.portid))
    }

    /// Receives one datagram if one arrives within `timeout_ms`.
    pub fn recv_timeout(&mut self, timeout_ms: i32) -> io::Result<Option<Vec<Message>>> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let ready = check(unsafe { libc::poll(&mut pfd, 1, timeout_ms) }, "poll")?;
        if ready == 0 {
            return Ok(None);
        }
        self.recv().map(Some)
    }

    /// Sends a request and collects its answer: a dump up to `NLMSG_DONE` (or an error), an
    /// `NLM_F_ACK` request up to its ACK (or error), anything else up to its one reply or error.
    ///
    /// Checks every message of the answer carries the request's sequence number.
    pub fn request(
        &mut self,
        family: u16,
        flags: u16,
        cmd: u8,
        attrs: &[Attr],
    ) -> io::Result<Vec<Message>> {
        self.request_with_version(
            family,
            flags,
            cmd,
            uapi::GNL_FOOBAR_XMPL_FAMILY_VERSION as u8,
            attrs,
        )
    }

    /// [`GenlSocket::request`] with any genl header version.
    pub fn request_with_version(
        &mut self,
        family: u16,
        flags: u16,
        cmd: u8,
        version: u8,
        attrs: &[Attr],
    ) -> io::Result<Vec<Message>> {
        let seq = self.send(family, flags, cmd, version, attrs)?;
        let mut answer = Vec::new();
        loop {
            for message in self.recv()? {
                assert_eq!(
                    message.seq(),
                    seq,
                    "answer with the wrong sequence number: {message:?}"
                );
                let last = if flags & NLM_F_DUMP == NLM_F_DUMP || flags & NLM_F_ACK != 0 {
                    message.is_final()
                } else {
                    true
                };
                answer.push(message);
                if last {
                    return Ok(answer);
                }
            }
        }
    }

    /// Resolves a family through nlctrl; `None` when it is not registered.
    pub fn family(&mut self, name: &str) -> io::Result<Option<Family>> {
        let answer = self.request_with_version(
            GENL_ID_CTRL,
            0,
            CTRL_CMD_GETFAMILY,
            1,
            &[Attr::string(CTRL_ATTR_FAMILY_NAME, name)],
        )?;
        let mut family = None;
        for message in answer {
            match message {
                Message::Genl { attrs, .. } => {
                    let mut id = None;
                    let mut groups = Vec::new();
                    for (kind, payload) in attrs {
                        match kind {
                            CTRL_ATTR_FAMILY_ID => {
                                id = Some(u16::from_ne_bytes([payload[0], payload[1]]))
                            }
                            CTRL_ATTR_MCAST_GROUPS => {
                                for (_, group) in parse_attrs(&payload) {
                                    let mut name = None;
                                    let mut gid = None;
                                    for (kind, value) in parse_attrs(&group) {
                                        match kind {
                                            CTRL_ATTR_MCAST_GRP_NAME => {
                                                name = Some(attr_str(&value))
                                            }
                                            CTRL_ATTR_MCAST_GRP_ID => gid = attr_u32(&value),
                                            _ => {}
                                        }
                                    }
                                    if let (Some(name), Some(gid)) = (name, gid) {
                                        groups.push((name, gid));
                                    }
                                }
                            }
                            _ => {}
                        }
                    }
                    family = Some(Family {
                        id: id.expect("nlctrl reply without CTRL_ATTR_FAMILY_ID"),
                        groups,
                    });
                }
                Message::Error {
                    errno: libc::ENOENT,
                    ..
                } => return Ok(None),
                Message::Error { errno: 0, .. } => {}
                other => panic!("unexpected nlctrl answer: {other:?}"),
            }
        }
        Ok(family)
    }

    /// Resolves the module's family; panics when it is not registered.
    pub fn module_family(&mut self) -> Family {
        self.family(uapi::GNL_FOOBAR_XMPL_FAMILY_NAME)
            .expect("CTRL_CMD_GETFAMILY")
            .unwrap_or_else(|| {
                panic!(
                    "family {} is not registered",
                    uapi::GNL_FOOBAR_XMPL_FAMILY_NAME
                )
            })
    }
}

/// Parses the messages of a datagram; replies to a request carry the requester's port ID.
fn parse_messages(mut data: &[u8], portid: u32) -> Vec<Message> {
    let mut messages = Vec::new();
    while data.len() >= NLMSG_HDRLEN {
        let len = u32::from_ne_bytes(data[0..4].try_into().unwrap()) as usize;
        let kind = u16::from_ne_bytes([data[4], data[5]]);
        let flags = u16::from_ne_bytes([data[6], data[7]]);
        let seq = u32::from_ne_bytes(data[8..12].try_into().unwrap());
        let pid = u32::from_ne_bytes(data[12..16].try_into().unwrap());
        assert!(
            len >= NLMSG_HDRLEN && len <= data.len(),
            "bad nlmsg_len {len} of {}",
            data.len()
        );
        assert_eq!(pid, portid, "a reply addressed to port ID {pid}, not ours");
        let payload = &data[NLMSG_HDRLEN..len];
        messages.push(match kind {
            NLMSG_DONE => Message::Done { seq },
            NLMSG_ERROR => parse_error(seq, flags, payload),
            _ => {
                assert!(
                    payload.len() >= GENL_HDRLEN,
                    "genl message without genl header"
                );
                Message::Genl {
                    family: kind,
                    flags,
                    seq,
                    cmd: payload[0],
                    attrs: parse_attrs(&payload[GENL_HDRLEN..]),
                }
            }
        });
        data = &data[align4(len).min(data.len())..];
    }
    messages
}

fn parse_error(seq: u32, flags: u16, payload: &[u8]) -> Message {
    let error = i32::from_ne_bytes(payload[0..4].try_into().unwrap());
    // struct nlmsgerr: the error, then the request's header (and its payload unless capped).
    let request_len = u32::from_ne_bytes(payload[4..8].try_into().unwrap()) as usize;
    let tlvs_at = if flags & NLM_F_CAPPED != 0 {
        4 + NLMSG_HDRLEN
    } else {
        4 + align4(request_len)
    };
    let (mut extack, mut offset, mut missing) = (None, None, None);
    if flags & NLM_F_ACK_TLVS != 0 && tlvs_at <= payload.len() {
        for (kind, value) in parse_attrs(&payload[tlvs_at..]) {
            match kind {
                NLMSGERR_ATTR_MSG => extack = Some(attr_str(&value)),
                NLMSGERR_ATTR_OFFS => offset = attr_u32(&value),
                NLMSGERR_ATTR_MISS_TYPE => missing = attr_u32(&value),
                _ => {}
            }
        }
    }
    Message::Error {
        seq,
        errno: -error,
        extack,
        offset,
        missing,
    }
}

/// Renders an answer, one message a line, for a snapshot.
pub fn render(answer: &[Message]) -> String {
    let mut out = String::new();
    for message in answer {
        writeln!(out, "{message}").unwrap();
    }
    out
}
