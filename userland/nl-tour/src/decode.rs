//! Every byte of a netlink datagram, named: `nlmsghdr`, `genlmsghdr`, attributes (nested ones as
//! children), `NLMSG_ERROR` with the request it quotes and its extack, `NLMSG_DONE`. Names come
//! from the family's generated UAPI (`nl_codec::uapi`) and the kernel's `genetlink.h` (`libc`).

mod attrs;

use std::ops::Range;

use nl_codec::{errno_name, hex, uapi};
use serde_json::{json, Value};

use attrs::{attributes, Set};

/// What the decoder must know beyond the bytes: the family's id, learnt from nlctrl's answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Known {
    /// `gnl_foobar_xmpl`'s message type in this boot.
    pub family: Option<u16>,
}

/// One field of a message: the bytes it occupies, its name, its value as shown, its value for
/// tools, and the fields inside it (a header's fields, a nested attribute's attributes).
#[derive(Debug, Clone)]
pub struct Field {
    /// The bytes shown on this field's own line, as offsets in the datagram.
    pub at: Range<usize>,
    /// `len`, `flags`, `GNL_FOOBAR_XMPL_A_MSG`, ...
    pub name: String,
    /// The value as the text view shows it.
    pub text: String,
    /// The value for `--json`.
    pub value: Value,
    /// Fields inside this one, one level deeper.
    pub children: Vec<Field>,
}

impl Field {
    fn leaf(at: Range<usize>, name: &str, text: String, value: Value) -> Field {
        Field {
            at,
            name: name.to_owned(),
            text,
            value,
            children: Vec::new(),
        }
    }

    fn group(name: &str, children: Vec<Field>) -> Field {
        Field {
            at: 0..0,
            name: name.to_owned(),
            text: String::new(),
            value: Value::Null,
            children,
        }
    }
}

/// One netlink message, decoded.
#[derive(Debug, Clone)]
pub struct Message {
    /// Where it sits in its datagram.
    pub at: Range<usize>,
    /// `nlmsg_type`, `nlmsg_flags`, `nlmsg_seq`, `nlmsg_pid`.
    pub ty: u16,
    pub flags: u16,
    pub seq: u32,
    pub port: u32,
    /// A one-line summary: `CTRL_CMD_GETFAMILY request`, `NLMSG_ERROR -22 EINVAL`, ...
    pub summary: String,
    /// The family name a nlctrl message is about (`CTRL_ATTR_FAMILY_NAME`).
    pub about: Option<String>,
    /// For `NLMSG_ERROR`: the `nlmsg_type` of the request it answers.
    pub answers: Option<u16>,
    /// Its fields, in wire order.
    pub fields: Vec<Field>,
}

impl Message {
    /// Whether a user socket sent it (requests carry `NLM_F_REQUEST`, the kernel's messages not).
    pub fn is_request(&self) -> bool {
        self.flags & nl_codec::F_REQUEST != 0
    }
}

/// Decodes every message of a datagram; a malformed rest is one field of raw bytes.
pub fn datagram(data: &[u8], known: Known) -> Vec<Message> {
    let mut out = Vec::new();
    let mut at = 0;
    while data.len() - at >= nl_codec::HDRLEN {
        let len = nl_codec::u32_at(data, at).unwrap_or(0) as usize;
        if len < nl_codec::HDRLEN || at + len > data.len() {
            break;
        }
        out.push(message(data, at..at + len, known));
        at += nl_codec::align4(len).min(data.len() - at);
    }
    out
}

/// The learnt facts of a datagram from the kernel: the family's id if it is nlctrl's answer
/// about `gnl_foobar_xmpl`.
pub fn learn(data: &[u8], known: &mut Known) {
    for msg in datagram(data, *known) {
        if msg.ty == nl_codec::GENL_ID_CTRL
            && !msg.is_request()
            && msg.about.as_deref() == Some(uapi::GNL_FOOBAR_XMPL_FAMILY_NAME)
        {
            let payload = &data[msg.at.start + nl_codec::HDRLEN..msg.at.end];
            if let Some((id, _)) = payload
                .get(nl_codec::GENL_HDRLEN..)
                .map(nl_codec::attrs)
                .and_then(|a| nl_codec::ctrl_family(&a))
            {
                known.family = Some(id);
            }
        }
    }
}

fn hdr_fields(data: &[u8], at: usize, ty_text: String, flags_text: String) -> Vec<Field> {
    let u16_at = |o: usize| u16::from_ne_bytes([data[at + o], data[at + o + 1]]);
    let u32_at = |o: usize| nl_codec::u32_at(data, at + o).unwrap_or(0);
    let (len, ty, flags, seq, port) = (u32_at(0), u16_at(4), u16_at(6), u32_at(8), u32_at(12));
    vec![
        Field::leaf(at..at + 4, "len", format!("len {len}"), json!(len)),
        Field::leaf(at + 4..at + 6, "type", ty_text, json!(ty)),
        Field::leaf(at + 6..at + 8, "flags", flags_text, json!(flags)),
        Field::leaf(at + 8..at + 12, "seq", format!("seq {seq}"), json!(seq)),
        Field::leaf(
            at + 12..at + 16,
            "port",
            format!("port {port}"),
            json!(port),
        ),
    ]
}

/// `nlmsg_type` by name; our family's id says so (it differs between boots).
fn type_text(ty: u16, known: Known) -> String {
    match ty {
        1 => "type NLMSG_NOOP (1)".to_owned(),
        nl_codec::NLMSG_ERROR => "type NLMSG_ERROR (2)".to_owned(),
        nl_codec::NLMSG_DONE => "type NLMSG_DONE (3)".to_owned(),
        4 => "type NLMSG_OVERRUN (4)".to_owned(),
        nl_codec::GENL_ID_CTRL => "type GENL_ID_CTRL, nlctrl (16)".to_owned(),
        t if Some(t) == known.family => {
            format!("type {}, family id {t}", uapi::GNL_FOOBAR_XMPL_FAMILY_NAME)
        }
        t => format!("type {t} (another family)"),
    }
}

/// `nlmsg_flags` by name: the bits above 0xff mean one thing in a GET request (`ROOT`, `MATCH`,
/// together `DUMP`) and another in an `NLMSG_ERROR` (`CAPPED`, `ACK_TLVS`).
pub fn flag_names(flags: u16, ty: u16) -> Vec<&'static str> {
    let mut names = Vec::new();
    let base: [(u16, &str); 6] = [
        (0x1, "REQUEST"),
        (0x2, "MULTI"),
        (0x4, "ACK"),
        (0x8, "ECHO"),
        (0x10, "DUMP_INTR"),
        (0x20, "DUMP_FILTERED"),
    ];
    let high: &[(u16, &str)] = if ty == nl_codec::NLMSG_ERROR {
        &[(0x100, "CAPPED"), (0x200, "ACK_TLVS")]
    } else if flags & nl_codec::F_DUMP == nl_codec::F_DUMP {
        &[(nl_codec::F_DUMP, "DUMP")]
    } else {
        &[(0x100, "ROOT"), (0x200, "MATCH"), (0x400, "ATOMIC")]
    };
    let mut left = flags;
    for (bit, name) in base.iter().chain(high) {
        if flags & bit == *bit {
            names.push(*name);
            left &= !bit;
        }
    }
    if left != 0 {
        names.push("(unknown bits)");
    }
    names
}

fn flags_text(flags: u16, ty: u16) -> String {
    let names = flag_names(flags, ty);
    if names.is_empty() {
        "flags 0".to_owned()
    } else {
        format!("flags {}", names.join("|"))
    }
}

/// nlctrl's commands (`CTRL_CMD_*` of `<linux/genetlink.h>`).
const CTRL_CMDS: &[(u8, &str)] = &[
    (1, "CTRL_CMD_NEWFAMILY"),
    (2, "CTRL_CMD_DELFAMILY"),
    (3, "CTRL_CMD_GETFAMILY"),
    (4, "CTRL_CMD_NEWOPS"),
    (5, "CTRL_CMD_DELOPS"),
    (6, "CTRL_CMD_GETOPS"),
    (7, "CTRL_CMD_NEWMCAST_GRP"),
    (8, "CTRL_CMD_DELMCAST_GRP"),
    (9, "CTRL_CMD_GETMCAST_GRP"),
    (10, "CTRL_CMD_GETPOLICY"),
];

fn message(data: &[u8], at: Range<usize>, known: Known) -> Message {
    let start = at.start;
    let ty = u16::from_ne_bytes([data[start + 4], data[start + 5]]);
    let flags = u16::from_ne_bytes([data[start + 6], data[start + 7]]);
    let seq = nl_codec::u32_at(data, start + 8).unwrap_or(0);
    let port = nl_codec::u32_at(data, start + 12).unwrap_or(0);
    let body = start + nl_codec::HDRLEN..at.end;
    let mut fields = vec![Field::group(
        "nlmsghdr",
        hdr_fields(data, start, type_text(ty, known), flags_text(flags, ty)),
    )];
    let mut msg = Message {
        at: at.clone(),
        ty,
        flags,
        seq,
        port,
        summary: String::new(),
        about: None,
        answers: None,
        fields: Vec::new(),
    };
    match ty {
        nl_codec::NLMSG_ERROR => {
            let (summary, more, answers) = error_fields(data, body, flags, known);
            msg.summary = summary;
            msg.answers = answers;
            fields.extend(more);
        }
        nl_codec::NLMSG_DONE => {
            let code = nl_codec::u32_at(data, body.start).map(|c| c as i32);
            msg.summary = "NLMSG_DONE: the end of the dump".into();
            if let Some(code) = code {
                fields.push(Field::leaf(
                    body.start..body.start + 4,
                    "status",
                    format!("status {code} (what the dump returned)"),
                    json!(code),
                ));
                let tlvs = attributes(data, body.start + 4, body.end, Set::Extack);
                if !tlvs.is_empty() {
                    fields.push(Field::group("extack", tlvs));
                }
            }
        }
        t if t >= nl_codec::NLMSG_MIN_TYPE && body.len() >= nl_codec::GENL_HDRLEN => {
            let (cmd, version) = (data[body.start], data[body.start + 1]);
            let (set, cmd_name) = if t == nl_codec::GENL_ID_CTRL {
                let name = CTRL_CMDS.iter().find(|(v, _)| *v == cmd).map(|(_, n)| *n);
                (Set::Ctrl, name.map(str::to_owned))
            } else if Some(t) == known.family {
                let names = uapi::GNL_FOOBAR_XMPL_CMD_NAMES;
                let name = names.iter().find(|(v, _)| *v == cmd).map(|(_, n)| *n);
                (Set::Family, name.map(str::to_owned))
            } else {
                (Set::Family, None)
            };
            let cmd_name = cmd_name.unwrap_or_else(|| format!("command {cmd}"));
            let g = body.start;
            fields.push(Field::group(
                "genlmsghdr",
                vec![
                    Field::leaf(
                        g..g + 1,
                        "cmd",
                        format!("cmd {cmd_name} ({cmd})"),
                        json!(cmd),
                    ),
                    Field::leaf(
                        g + 1..g + 2,
                        "version",
                        format!("version {version}"),
                        json!(version),
                    ),
                    Field::leaf(g + 2..g + 4, "reserved", "reserved".into(), json!(0)),
                ],
            ));
            let attrs = attributes(data, g + nl_codec::GENL_HDRLEN, body.end, set);
            if set == Set::Ctrl {
                msg.about = attrs
                    .iter()
                    .find(|a| a.name == "CTRL_ATTR_FAMILY_NAME")
                    .and_then(|a| a.value.as_str().map(str::to_owned));
            }
            if !attrs.is_empty() {
                fields.push(Field::group("attributes", attrs));
            }
            let role = if flags & nl_codec::F_REQUEST == 0 {
                if seq == 0 && port == 0 {
                    "event"
                } else {
                    "reply"
                }
            } else if flags & nl_codec::F_DUMP == nl_codec::F_DUMP {
                "dump request"
            } else {
                "request"
            };
            msg.summary = format!("{cmd_name} {role}");
        }
        _ => {
            msg.summary = format!("message of type {ty}");
            if !body.is_empty() {
                fields.push(Field::leaf(
                    body.clone(),
                    "payload",
                    "payload".into(),
                    json!(hex(&data[body])),
                ));
            }
        }
    }
    msg.fields = fields;
    msg
}

/// `struct nlmsgerr` (the error, the request's header and perhaps its payload) and the extack.
fn error_fields(
    data: &[u8],
    body: Range<usize>,
    flags: u16,
    known: Known,
) -> (String, Vec<Field>, Option<u16>) {
    let mut out = Vec::new();
    let Some(code) = nl_codec::u32_at(data, body.start).map(|c| c as i32) else {
        return ("NLMSG_ERROR, truncated".into(), out, None);
    };
    let summary = if code == 0 {
        "NLMSG_ERROR 0: an ack".to_owned()
    } else {
        format!("NLMSG_ERROR {code}: {}", errno_name(-code))
    };
    let text = if code == 0 {
        "error 0 (success: an ack)".to_owned()
    } else {
        format!("error {code} (-{})", errno_name(-code))
    };
    out.push(Field::leaf(
        body.start..body.start + 4,
        "error",
        text,
        json!(code),
    ));
    let req = body.start + 4;
    if body.end < req + nl_codec::HDRLEN {
        return (summary, out, None);
    }
    let req_ty = u16::from_ne_bytes([data[req + 4], data[req + 5]]);
    let req_flags = u16::from_ne_bytes([data[req + 6], data[req + 7]]);
    let req_len = nl_codec::u32_at(data, req).unwrap_or(0) as usize;
    out.push(Field::group(
        "the request's nlmsghdr",
        hdr_fields(
            data,
            req,
            type_text(req_ty, known),
            flags_text(req_flags, req_ty),
        ),
    ));
    let mut tlv_start = req + nl_codec::HDRLEN;
    if flags & nl_codec::F_CAPPED == 0 && req_len > nl_codec::HDRLEN {
        let end = (req + nl_codec::align4(req_len)).min(body.end);
        out.push(Field::leaf(
            tlv_start..end,
            "the request's payload",
            "the request's payload, copied back".into(),
            json!(hex(&data[tlv_start..end])),
        ));
        tlv_start = end;
    }
    if flags & nl_codec::F_ACK_TLVS != 0 {
        out.push(Field::group(
            "extack",
            attributes(data, tlv_start, body.end, Set::Extack),
        ));
    }
    (summary, out, Some(req_ty))
}

/// A message for `--json`: its header, summary and fields as a tree.
pub fn to_json(data: &[u8], msg: &Message) -> Value {
    fn field(data: &[u8], f: &Field) -> Value {
        let mut v = json!({ "field": f.name, "text": f.text });
        if !f.at.is_empty() {
            v["offset"] = json!(f.at.start);
            v["bytes"] = json!(hex(&data[f.at.clone()]));
        }
        if !f.value.is_null() {
            v["value"] = f.value.clone();
        }
        if !f.children.is_empty() {
            v["children"] = f.children.iter().map(|c| field(data, c)).collect();
        }
        v
    }
    json!({
        "summary": msg.summary,
        "len": msg.at.len(),
        "type": msg.ty,
        "flags": msg.flags,
        "flag_names": flag_names(msg.flags, msg.ty),
        "seq": msg.seq,
        "port": msg.port,
        "bytes": hex(&data[msg.at.clone()]),
        "fields": msg.fields.iter().map(|f| field(data, f)).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nl_codec::{attr, genl, message as encode};

    fn texts(fields: &[Field], depth: usize, out: &mut Vec<String>) {
        for f in fields {
            out.push(format!("{}{}", "  ".repeat(depth), f.text));
            texts(&f.children, depth + 1, out);
        }
    }

    #[test]
    fn an_echo_request_is_named_from_the_uapi_and_the_spec() {
        let known = Known { family: Some(0x1b) };
        let bytes = encode(
            0x1b,
            nl_codec::F_REQUEST | nl_codec::F_ACK,
            7,
            &genl(
                uapi::GNL_FOOBAR_XMPL_CMD_ECHO,
                &[attr(uapi::GNL_FOOBAR_XMPL_A_MSG, b"hi\0")],
            ),
        );
        let msgs = datagram(&bytes, known);
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].summary, "GNL_FOOBAR_XMPL_CMD_ECHO request");
        let mut lines = Vec::new();
        texts(&msgs[0].fields, 0, &mut lines);
        assert!(
            lines.contains(&"  type gnl_foobar_xmpl, family id 27".to_owned()),
            "{lines:#?}"
        );
        assert!(lines.contains(&"  flags REQUEST|ACK".to_owned()));
        assert!(lines.contains(&"  GNL_FOOBAR_XMPL_A_MSG (len 7, type 1)".to_owned()));
        assert!(lines.contains(&"    \"hi\", NUL-terminated".to_owned()));
        assert!(lines.contains(&"    padding".to_owned()));
    }

    #[test]
    fn an_error_quotes_the_request_and_its_extack() {
        let request = encode(0x1b, nl_codec::F_REQUEST, 3, &genl(2, &[]));
        let mut payload = (-libc::EINVAL).to_ne_bytes().to_vec();
        payload.extend_from_slice(&request[..16]);
        payload.extend_from_slice(&attr(1, b"nope\0"));
        let flags = nl_codec::F_CAPPED | nl_codec::F_ACK_TLVS;
        let bytes = encode(nl_codec::NLMSG_ERROR, flags, 3, &payload);
        let msg = &datagram(&bytes, Known { family: Some(0x1b) })[0];
        assert_eq!(msg.summary, "NLMSG_ERROR -22: EINVAL");
        assert_eq!(msg.answers, Some(0x1b));
        let mut lines = Vec::new();
        texts(&msg.fields, 0, &mut lines);
        assert!(
            lines.contains(&"  flags CAPPED|ACK_TLVS".to_owned()),
            "{lines:#?}"
        );
        assert!(lines.contains(&"  NLMSGERR_ATTR_MSG (len 9, type 1)".to_owned()));
        assert!(lines.contains(&"    \"nope\", NUL-terminated".to_owned()));
    }
}
