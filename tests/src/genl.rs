//! Crafted generic netlink requests over a real `AF_NETLINK` socket, byte by byte, so the suite
//! can send what no client would (wrong types, oversized strings, unknown commands) and do what
//! no client does (close a socket in the middle of a dump).

use std::fmt::{self, Write as _};
use std::io;

/// The UAPI, generated from `userland/include/` by the codec crate.
pub use nl_codec::uapi;

use nl_codec::{
    attrs, cstr, u32_at, Msg, Sock, CTRL_ATTR_FAMILY_NAME, CTRL_CMD_GETFAMILY, GENL_ID_CTRL,
    NETLINK_CAP_ACK, NETLINK_EXT_ACK, NETLINK_GENERIC, NLMSGERR_ATTR_MISS_TYPE, NLMSGERR_ATTR_MSG,
    NLMSGERR_ATTR_OFFS, NLMSG_DONE, NLMSG_ERROR,
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

    /// The attribute on the wire, padded (the codec's encoder).
    fn encode(&self) -> Vec<u8> {
        nl_codec::attr(self.kind, &self.payload)
    }
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
        (GNL_FOOBAR_XMPL_A_MSG, _) => format!("MSG {:?}", cstr(payload)),
        (GNL_FOOBAR_XMPL_A_STAT_NAME, _) => format!("STAT_NAME {:?}", cstr(payload)),
        (GNL_FOOBAR_XMPL_A_COUNT, 4) => format!("COUNT {}", u32_at(payload, 0).unwrap()),
        (GNL_FOOBAR_XMPL_A_INDEX, 4) => format!("INDEX {}", u32_at(payload, 0).unwrap()),
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

/// A generic netlink socket (the codec's), extended ACKs and capped ACKs on.
pub struct GenlSocket {
    sock: Sock,
    seq: u32,
    /// The port ID the kernel bound the socket to.
    pub portid: u32,
}

/// A kernel that never answers fails the test instead of hanging the suite.
const RECV_TIMEOUT_MS: i32 = 30_000;

fn context(what: &str) -> impl FnOnce(io::Error) -> io::Error + '_ {
    move |err| io::Error::new(err.kind(), format!("{what}: {err}"))
}

impl GenlSocket {
    /// Opens and binds a socket (the kernel picks the port ID).
    pub fn open() -> io::Result<Self> {
        let sock = Sock::open(NETLINK_GENERIC).map_err(context("socket"))?;
        sock.set_netlink(NETLINK_EXT_ACK, 1)
            .map_err(context("setsockopt"))?;
        sock.set_netlink(NETLINK_CAP_ACK, 1)
            .map_err(context("setsockopt"))?;
        Ok(GenlSocket {
            portid: sock.port,
            sock,
            seq: 1000,
        })
    }

    /// Joins a multicast group.
    pub fn join(&self, group: u32) -> io::Result<()> {
        self.sock.join(group).map_err(context("setsockopt"))
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
        let attrs: Vec<Vec<u8>> = attrs.iter().map(Attr::encode).collect();
        // nlmsg_pid 0: the kernel fills in our port ID.
        let msg = nl_codec::message(
            family,
            flags | NLM_F_REQUEST,
            self.seq,
            &nl_codec::genl_version(cmd, version, &attrs),
        );
        self.sock.send(&msg).map_err(context("send"))?;
        Ok(self.seq)
    }

    /// Receives one datagram (waiting up to 30 s) and parses its messages; a truncated
    /// datagram, one not from the kernel (source port ID 0) or not addressed to this socket is
    /// an error.
    pub fn recv(&mut self) -> io::Result<Vec<Message>> {
        self.recv_timeout(RECV_TIMEOUT_MS)?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("recv: no answer within {RECV_TIMEOUT_MS} ms"),
            )
        })
    }

    /// Receives one datagram if one arrives within `timeout_ms`.
    pub fn recv_timeout(&mut self, timeout_ms: i32) -> io::Result<Option<Vec<Message>>> {
        let mut buf = vec![0u8; 256 * 1024];
        let Some(n) = self
            .sock
            .recv(&mut buf, timeout_ms)
            .map_err(context("recv"))?
        else {
            return Ok(None);
        };
        Ok(Some(parse_messages(&buf[..n], self.portid)))
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
                    let list: Vec<(u16, &[u8])> =
                        attrs.iter().map(|(k, v)| (*k, v.as_slice())).collect();
                    let (id, groups) = nl_codec::ctrl_family(&list)
                        .expect("nlctrl reply without CTRL_ATTR_FAMILY_ID");
                    family = Some(Family { id, groups });
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

/// Parses the messages of a datagram with the codec; replies to a request carry the requester's
/// port ID, and anything malformed fails the test.
fn parse_messages(data: &[u8], portid: u32) -> Vec<Message> {
    nl_codec::parse(data, portid)
        .unwrap_or_else(|e| panic!("a malformed kernel datagram: {e}"))
        .iter()
        .map(message)
        .collect()
}

fn message(msg: &Msg) -> Message {
    let seq = msg.seq;
    match msg.ty {
        NLMSG_DONE => Message::Done { seq },
        NLMSG_ERROR => {
            let (mut extack, mut offset, mut missing) = (None, None, None);
            for (kind, value) in attrs(msg.ack_tlvs().unwrap_or_default()) {
                match kind {
                    NLMSGERR_ATTR_MSG => extack = Some(cstr(value)),
                    NLMSGERR_ATTR_OFFS => offset = u32_at(value, 0),
                    NLMSGERR_ATTR_MISS_TYPE => missing = u32_at(value, 0),
                    _ => {}
                }
            }
            Message::Error {
                seq,
                errno: -msg.code().expect("NLMSG_ERROR carries its code"),
                extack,
                offset,
                missing,
            }
        }
        family => {
            let (cmd, attrs) = msg.genl().expect("genl message without genl header");
            Message::Genl {
                family,
                flags: msg.flags,
                seq,
                cmd,
                attrs: attrs.into_iter().map(|(k, v)| (k, v.to_vec())).collect(),
            }
        }
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
