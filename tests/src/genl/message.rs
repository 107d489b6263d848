//! What the suite sends (attributes given byte by byte) and receives (the kernel's messages, parsed
//! by the codec), and how an answer renders in a snapshot.

use std::fmt::{self, Write as _};

use nl_codec::{
    attrs, cstr, u32_at, Msg, NLMSGERR_ATTR_MISS_TYPE, NLMSGERR_ATTR_MSG, NLMSGERR_ATTR_OFFS,
    NLMSG_DONE, NLMSG_ERROR,
};

use super::uapi;

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
    pub(crate) fn encode(&self) -> Vec<u8> {
        nl_codec::attr(self.kind, &self.payload)
    }
}

pub use nl_codec::strerror;

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
    pub(crate) fn seq(&self) -> u32 {
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
/// (checked by [`GenlSocket::request`](super::GenlSocket::request)).
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

/// An attribute as the snapshots show it: its C name without `GNL_FOOBAR_XMPL_A_` and its value
/// as its YNL type says (both from the spec, through `nl_codec::uapi`), or, when it is not one the
/// spec describes or its length does not fit its type, its number and bytes.
fn render_attr(kind: u16, payload: &[u8]) -> String {
    let name = uapi::GNL_FOOBAR_XMPL_A_NAMES
        .iter()
        .find(|(value, _)| *value == kind)
        .map(|(_, name)| *name);
    let ty = name.and_then(|name| {
        uapi::GNL_FOOBAR_XMPL_A_TYPES
            .iter()
            .find(|(c_name, _)| *c_name == name)
            .map(|(_, ty)| *ty)
    });
    let short = name.and_then(|name| name.strip_prefix("GNL_FOOBAR_XMPL_A_"));
    match (short, ty, payload.len()) {
        (Some(name), Some("string"), _) => format!("{name} {:?}", cstr(payload)),
        (Some(name), Some("u32"), 4) => format!("{name} {}", u32_at(payload, 0).unwrap()),
        (Some(name), Some("u64"), 8) => {
            format!("{name} {}", u64::from_ne_bytes(payload.try_into().unwrap()))
        }
        (Some(name), Some("pad"), _) => name.to_owned(),
        _ => format!("attr {kind} {payload:02x?}"),
    }
}

/// Parses the messages of a datagram with the codec; replies to a request carry the requester's
/// port ID, and anything malformed fails the test.
pub(crate) fn parse_messages(data: &[u8], portid: u32) -> Vec<Message> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_render_as_their_spec_types_say() {
        use uapi::*;
        assert_eq!(render_attr(GNL_FOOBAR_XMPL_A_MSG, b"hi\0"), r#"MSG "hi""#);
        assert_eq!(
            render_attr(GNL_FOOBAR_XMPL_A_COUNT, &7u32.to_ne_bytes()),
            "COUNT 7"
        );
        let value = u64::MAX.to_ne_bytes();
        assert_eq!(
            render_attr(GNL_FOOBAR_XMPL_A_STAT_VALUE, &value),
            format!("STAT_VALUE {}", u64::MAX)
        );
        assert_eq!(render_attr(GNL_FOOBAR_XMPL_A_PAD, &[]), "PAD");
        // A length its type cannot have, and a number the spec does not know: the raw bytes.
        assert_eq!(
            render_attr(GNL_FOOBAR_XMPL_A_COUNT, &[1]),
            format!("attr {GNL_FOOBAR_XMPL_A_COUNT} [01]")
        );
        assert_eq!(render_attr(0, &[]), "attr 0 []");
    }
}
