//! Attributes: the attribute spaces the tour meets (nlctrl's, the family's, extack's), each
//! attribute's name and how its payload reads, nested ones as children.

use std::ops::Range;

use nl_codec::{hex, uapi};
use serde_json::{json, Value};

use super::Field;

/// How an attribute's payload reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Str,
    U16,
    U32,
    U64,
    /// `CTRL_ATTR_OP_FLAGS`: `GENL_*` capability bits.
    OpFlags,
    /// A list of nested entries of `Set`, each numbered by its type.
    Array(Set),
    Bytes,
}

/// The attribute spaces the tour meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Set {
    Ctrl,
    CtrlOp,
    CtrlGroup,
    Family,
    Extack,
}

/// An attribute's name, how its payload reads, and what its number means for the filters
/// (`family id`, `group id`: numbers the kernel assigns at run time).
fn attr_def(set: Set, ty: u16) -> (String, Kind, &'static str) {
    let named = |name: &str, kind| (name.to_owned(), kind, "");
    match (set, i32::from(ty)) {
        (Set::Ctrl, libc::CTRL_ATTR_FAMILY_ID) => {
            ("CTRL_ATTR_FAMILY_ID".into(), Kind::U16, "family id")
        }
        (Set::Ctrl, libc::CTRL_ATTR_FAMILY_NAME) => named("CTRL_ATTR_FAMILY_NAME", Kind::Str),
        (Set::Ctrl, libc::CTRL_ATTR_VERSION) => named("CTRL_ATTR_VERSION", Kind::U32),
        (Set::Ctrl, libc::CTRL_ATTR_HDRSIZE) => named("CTRL_ATTR_HDRSIZE", Kind::U32),
        (Set::Ctrl, libc::CTRL_ATTR_MAXATTR) => named("CTRL_ATTR_MAXATTR", Kind::U32),
        (Set::Ctrl, libc::CTRL_ATTR_OPS) => named("CTRL_ATTR_OPS", Kind::Array(Set::CtrlOp)),
        (Set::Ctrl, libc::CTRL_ATTR_MCAST_GROUPS) => {
            named("CTRL_ATTR_MCAST_GROUPS", Kind::Array(Set::CtrlGroup))
        }
        (Set::Ctrl, 8) => named("CTRL_ATTR_POLICY", Kind::Bytes),
        (Set::Ctrl, 9) => named("CTRL_ATTR_OP_POLICY", Kind::Bytes),
        (Set::Ctrl, 10) => named("CTRL_ATTR_OP", Kind::U32),
        (Set::CtrlOp, libc::CTRL_ATTR_OP_ID) => named("CTRL_ATTR_OP_ID", Kind::U32),
        (Set::CtrlOp, libc::CTRL_ATTR_OP_FLAGS) => named("CTRL_ATTR_OP_FLAGS", Kind::OpFlags),
        (Set::CtrlGroup, libc::CTRL_ATTR_MCAST_GRP_NAME) => {
            named("CTRL_ATTR_MCAST_GRP_NAME", Kind::Str)
        }
        (Set::CtrlGroup, libc::CTRL_ATTR_MCAST_GRP_ID) => {
            ("CTRL_ATTR_MCAST_GRP_ID".into(), Kind::U32, "group id")
        }
        (Set::Extack, 1) => named("NLMSGERR_ATTR_MSG", Kind::Str),
        (Set::Extack, 2) => named("NLMSGERR_ATTR_OFFS", Kind::U32),
        (Set::Extack, 3) => named("NLMSGERR_ATTR_COOKIE", Kind::Bytes),
        (Set::Extack, 4) => named("NLMSGERR_ATTR_POLICY", Kind::Bytes),
        (Set::Extack, 5) => named("NLMSGERR_ATTR_MISS_TYPE", Kind::U32),
        (Set::Extack, 6) => named("NLMSGERR_ATTR_MISS_NEST", Kind::U32),
        (Set::Family, _) => family_attr(ty),
        _ => (format!("attribute {ty}"), Kind::Bytes, ""),
    }
}

/// One of the family's attributes: its name from the header, its type from the spec.
fn family_attr(ty: u16) -> (String, Kind, &'static str) {
    let Some((_, name)) = uapi::GNL_FOOBAR_XMPL_A_NAMES.iter().find(|(v, _)| *v == ty) else {
        return (format!("attribute {ty}"), Kind::Bytes, "");
    };
    let ynl = uapi::GNL_FOOBAR_XMPL_A_TYPES
        .iter()
        .find(|(n, _)| n == name)
        .map_or("binary", |(_, t)| t);
    let kind = match ynl {
        "string" => Kind::Str,
        "u16" => Kind::U16,
        "u32" => Kind::U32,
        "u64" => Kind::U64,
        _ => Kind::Bytes,
    };
    ((*name).to_owned(), kind, "")
}

/// `CTRL_ATTR_OP_FLAGS` bits by name (`GENL_*` of `<linux/genetlink.h>`).
fn op_flags(flags: u32) -> String {
    let bits: [(i32, &str); 5] = [
        (libc::GENL_ADMIN_PERM, "ADMIN_PERM"),
        (libc::GENL_CMD_CAP_DO, "CMD_CAP_DO"),
        (libc::GENL_CMD_CAP_DUMP, "CMD_CAP_DUMP"),
        (libc::GENL_CMD_CAP_HASPOL, "CMD_CAP_HASPOL"),
        (0x10, "UNS_ADMIN_PERM"),
    ];
    let names: Vec<&str> = bits
        .iter()
        .filter(|(bit, _)| flags & *bit as u32 != 0)
        .map(|(_, n)| *n)
        .collect();
    if names.is_empty() {
        "0".to_owned()
    } else {
        names.join("|")
    }
}

/// Attributes from `at` to `end`, each a field with its header and its payload as children.
pub(super) fn attributes(data: &[u8], mut at: usize, end: usize, set: Set) -> Vec<Field> {
    let mut out = Vec::new();
    while end - at >= nl_codec::NLA_HDRLEN {
        let len = u16::from_ne_bytes([data[at], data[at + 1]]) as usize;
        let raw_ty = u16::from_ne_bytes([data[at + 2], data[at + 3]]);
        let ty = raw_ty & nl_codec::NLA_TYPE_MASK;
        if len < nl_codec::NLA_HDRLEN || at + len > end {
            out.push(Field::leaf(
                at..end,
                "malformed",
                format!("malformed attribute (len {len}, {} bytes left)", end - at),
                Value::Null,
            ));
            return out;
        }
        let payload = at + nl_codec::NLA_HDRLEN..at + len;
        let (name, kind, varies) = attr_def(set, ty);
        let nested = if raw_ty & 0x8000 != 0 { ", nested" } else { "" };
        let mut field = Field::leaf(
            at..at + nl_codec::NLA_HDRLEN,
            &name,
            format!("{name} (len {len}, type {ty}{nested})"),
            Value::Null,
        );
        let (children, value) = payload_fields(data, payload.clone(), kind, varies);
        field.value = value;
        field.children = children;
        let padded = (at + nl_codec::align4(len)).min(end);
        if padded > payload.end {
            field.children.push(Field::leaf(
                payload.end..padded,
                "padding",
                "padding".to_owned(),
                Value::Null,
            ));
        }
        out.push(field);
        at = padded;
    }
    if at < end {
        out.push(Field::leaf(
            at..end,
            "trailing",
            "trailing bytes".into(),
            Value::Null,
        ));
    }
    out
}

/// The payload of an attribute as fields, and its value for tools.
fn payload_fields(data: &[u8], at: Range<usize>, kind: Kind, varies: &str) -> (Vec<Field>, Value) {
    let bytes = &data[at.clone()];
    let num = |n: u64, value: Value| {
        let text = if varies.is_empty() {
            n.to_string()
        } else {
            format!("{varies} {n}")
        };
        (
            vec![Field::leaf(at.clone(), "value", text, value.clone())],
            value,
        )
    };
    match kind {
        Kind::Str => {
            let s = nl_codec::cstr(bytes);
            let value = json!(s);
            let nul = if bytes.last() == Some(&0) {
                ", NUL-terminated"
            } else {
                ""
            };
            let text = format!("\"{s}\"{nul}");
            (vec![Field::leaf(at, "value", text, value.clone())], value)
        }
        Kind::U16 if bytes.len() == 2 => {
            let n = u16::from_ne_bytes([bytes[0], bytes[1]]);
            num(n.into(), json!(n))
        }
        Kind::U32 if bytes.len() == 4 => {
            let n = nl_codec::u32_at(bytes, 0).unwrap_or(0);
            num(n.into(), json!(n))
        }
        Kind::U64 if bytes.len() == 8 => {
            let n = u64::from_ne_bytes(bytes.try_into().unwrap_or_default());
            num(n, json!(n))
        }
        Kind::OpFlags if bytes.len() == 4 => {
            let n = nl_codec::u32_at(bytes, 0).unwrap_or(0);
            let text = op_flags(n);
            (vec![Field::leaf(at, "value", text, json!(n))], json!(n))
        }
        Kind::Array(set) => {
            // Each entry is an attribute whose type is its index and whose payload is
            // attributes of `set`.
            let mut entries = Vec::new();
            let mut p = at.start;
            while at.end - p >= nl_codec::NLA_HDRLEN {
                let len = u16::from_ne_bytes([data[p], data[p + 1]]) as usize;
                let index =
                    u16::from_ne_bytes([data[p + 2], data[p + 3]]) & nl_codec::NLA_TYPE_MASK;
                if len < nl_codec::NLA_HDRLEN || p + len > at.end {
                    entries.push(Field::leaf(
                        p..at.end,
                        "malformed",
                        "malformed entry".into(),
                        Value::Null,
                    ));
                    break;
                }
                let mut entry = Field::leaf(
                    p..p + nl_codec::NLA_HDRLEN,
                    &format!("[{index}]"),
                    format!("[{index}] (len {len}, entry {index})"),
                    Value::Null,
                );
                entry.children = attributes(data, p + nl_codec::NLA_HDRLEN, p + len, set);
                let padded = (p + nl_codec::align4(len)).min(at.end);
                if padded > p + len {
                    entry.children.push(Field::leaf(
                        p + len..padded,
                        "padding",
                        "padding".into(),
                        Value::Null,
                    ));
                }
                entries.push(entry);
                p = padded;
            }
            (entries, Value::Null)
        }
        _ => {
            let value = json!(hex(bytes));
            (
                vec![Field::leaf(
                    at,
                    "value",
                    format!("{} bytes", bytes.len()),
                    value.clone(),
                )],
                value,
            )
        }
    }
}
