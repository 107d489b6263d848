//! The request generator: from the spec, requests for every operation in each of its modes (and
//! in the modes it lacks), with its attributes valid, at their boundaries and just past them,
//! repeated where `multi-attr` allows and where it does not, attributes the op does not take, and
//! the malformed framing any netlink parser must survive. The generator only makes bytes; the
//! oracle reads them back as the kernel will.

use std::ops::RangeBounds;

use fastrand::Rng;

use crate::nl::{self, F_ACK, F_DUMP, F_REQUEST, HDRLEN};
use crate::nla::{NLA_F_NESTED, NLA_F_NET_BYTEORDER};
use crate::spec::{AttrType, Mode, Spec};

/// A generic netlink family id no family has (ids are allocated from 16 up).
const NO_SUCH_FAMILY: u16 = 0xfffe;
/// How many values above a lower bound count as "small" (cheap: a count sizes a dump).
const SMALL_SPAN: i128 = 64;
/// The longest random string or byte run, besides the boundary cases.
const SHORT_TEXT: usize = 48;
/// Printable ASCII.
const PRINTABLE: std::ops::Range<u8> = b' '..b'\x7f';
/// Flags a request may carry that 6.1 refuses (and 5.10 ignores): `NLM_F_ROOT` or `NLM_F_MATCH`
/// alone, `NLM_F_ECHO` (allowed), `NLM_F_DUMP_INTR`, `NLM_F_DUMP_FILTERED`, `NLM_F_ATOMIC`.
const ODD_FLAGS: [u16; 6] = [0x100, 0x200, 0x8, 0x10, 0x20, 0x400];
/// How deep nested garbage goes.
const MAX_NESTING: u32 = 2;

/// True once in `n` times.
pub fn one_in(r: &mut Rng, n: u32) -> bool {
    r.u32(0..n) == 0
}

/// Picks by weight: `pick(r, &[(w, v), ...])`.
fn pick<T: Copy>(r: &mut Rng, choices: &[(u32, T)]) -> T {
    let total: u32 = choices.iter().map(|(w, _)| w).sum();
    let mut at = r.u32(0..total);
    for (w, v) in choices {
        if at < *w {
            return *v;
        }
        at -= w;
    }
    choices[choices.len() - 1].1
}

/// Random bytes, as many as `len` picks.
pub fn bytes(r: &mut Rng, len: impl RangeBounds<usize>) -> Vec<u8> {
    let n = r.usize(len);
    (0..n).map(|_| r.u8(..)).collect()
}

/// Printable text, as long as `len` picks.
fn text(r: &mut Rng, len: impl RangeBounds<usize>) -> Vec<u8> {
    let n = r.usize(len);
    (0..n).map(|_| r.u8(PRINTABLE)).collect()
}

fn int_bytes(value: i128, width: usize) -> Vec<u8> {
    (value as u64).to_ne_bytes()[..width].to_vec()
}

/// A value for an integer attribute: mostly valid and small, its bounds and one past them, any
/// value of the width, and the wrong width. The largest valid values are rare: a limit often
/// sizes work (a dump's length).
fn int_value(
    r: &mut Rng,
    bytes: usize,
    signed: bool,
    min: Option<i128>,
    max: Option<i128>,
) -> Vec<u8> {
    let (lowest, highest) = AttrType::int_bounds(bytes, signed);
    let (lo, hi) = (min.unwrap_or(lowest), max.unwrap_or(highest));
    #[derive(Clone, Copy)]
    enum V {
        Small,
        Low,
        BelowLow,
        AboveHigh,
        High,
        Any,
        WrongWidth,
    }
    let value = match pick(
        r,
        &[
            (700, V::Small),
            (50, V::Low),
            (70, V::BelowLow),
            (70, V::AboveHigh),
            (2, V::High),
            (80, V::Any),
            (28, V::WrongWidth),
        ],
    ) {
        V::Small => (lo + r.i64(0..SMALL_SPAN as i64) as i128).min(hi),
        V::Low => lo + r.i64(0..=1) as i128,
        V::BelowLow => lo - 1,
        V::AboveHigh => hi + 1,
        V::High => hi - r.i64(0..=1) as i128,
        V::Any => int_value_any(r, lowest, highest),
        V::WrongWidth => return bytes_of_wrong_width(r, bytes),
    };
    int_bytes(value.clamp(lowest, highest), bytes)
}

fn int_value_any(r: &mut Rng, lowest: i128, highest: i128) -> i128 {
    (r.u64(..) as i128).clamp(lowest, highest)
}

fn bytes_of_wrong_width(r: &mut Rng, width: usize) -> Vec<u8> {
    let other = [1, 2, 4, 8, 3, 0]
        .into_iter()
        .filter(|w| *w != width)
        .collect::<Vec<_>>();
    let w = other[r.usize(..other.len())];
    bytes(r, w..=w)
}

/// A string: valid, exactly at its limit, one past it, without its NUL, empty, with NULs inside.
pub fn string_value(r: &mut Rng, max_len: Option<usize>) -> Vec<u8> {
    let limit = max_len.unwrap_or(SHORT_TEXT * 4);
    #[derive(Clone, Copy)]
    enum S {
        Valid,
        AtLimit,
        PastLimit,
        NoNul,
        Empty,
        NulInside,
        Binary,
        Long,
    }
    let with_nul = |mut s: Vec<u8>| {
        s.push(0);
        s
    };
    match pick(
        r,
        &[
            (70, S::Valid),
            (5, S::AtLimit),
            (5, S::PastLimit),
            (5, S::NoNul),
            (2, S::Empty),
            (5, S::NulInside),
            (5, S::Binary),
            (3, S::Long),
        ],
    ) {
        S::Valid => with_nul(text(r, 1..=SHORT_TEXT.min(limit))),
        S::AtLimit => with_nul(text(r, limit..=limit)),
        S::PastLimit => with_nul(text(r, limit + 1..=limit + 1)),
        S::NoNul => text(r, 1..=limit + 1),
        S::Empty => Vec::new(),
        S::NulInside => {
            let mut s = text(r, 2..=SHORT_TEXT);
            let at = r.usize(..s.len());
            s[at] = 0;
            s
        }
        S::Binary => bytes(r, 0..=SHORT_TEXT),
        S::Long => with_nul(text(r, limit..=limit * 3)),
    }
}

/// A payload for an attribute of this type.
fn value(r: &mut Rng, kind: &AttrType) -> Vec<u8> {
    match kind {
        AttrType::Int {
            bytes: w,
            signed,
            min,
            max,
        } => int_value(r, *w, *signed, *min, *max),
        AttrType::String { max_len, .. } => string_value(r, *max_len),
        AttrType::Flag if one_in(r, 10) => bytes(r, 1..4),
        AttrType::Flag => Vec::new(),
        AttrType::Binary { max_len, .. } => bytes(r, 0..=max_len.unwrap_or(SHORT_TEXT) + 1),
        AttrType::Unused => bytes(r, 0..=SHORT_TEXT),
    }
}

/// One attribute of type `kind`, sometimes with a flag bit set or a lying length.
fn attr(r: &mut Rng, kind: u16, payload: &[u8]) -> Vec<u8> {
    let mut kind = kind;
    if one_in(r, 30) {
        kind |= [NLA_F_NESTED, NLA_F_NET_BYTEORDER][r.usize(..2)];
    }
    let mut a = nl::attr(kind, payload);
    match r.u32(0..40) {
        0 => a[..2].copy_from_slice(&r.u16(0..4).to_ne_bytes()),
        1 => a[..2].copy_from_slice(&((4 + payload.len() + r.usize(1..64)) as u16).to_ne_bytes()),
        2 => a.truncate(4 + payload.len()),
        _ => {}
    }
    a
}

/// Attributes nested in garbage.
fn nested_mess(r: &mut Rng, spec: &Spec, depth: u32) -> Vec<u8> {
    let inner: Vec<u8> = (0..r.usize(1..4))
        .flat_map(|_| {
            if depth < MAX_NESTING && r.bool() {
                nested_mess(r, spec, depth + 1)
            } else {
                let a = &spec.attrs[r.usize(..spec.attrs.len())];
                nl::attr(a.value, &value(r, &a.kind))
            }
        })
        .collect();
    nl::attr(r.u16(..) | NLA_F_NESTED, &inner)
}

/// The attributes of a request to `list` (its request's attributes per the spec).
fn attributes(r: &mut Rng, spec: &Spec, list: &[u16]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in list {
        let Some(a) = spec.attr(*v) else { continue };
        if one_in(r, 5) {
            continue;
        }
        // Repeated: the spec allows it for multi-attr; others too, where the kernel keeps the last.
        let times = if a.multi || one_in(r, 20) {
            r.usize(1..=3)
        } else {
            1
        };
        for _ in 0..times {
            let v = value(r, &a.kind);
            out.extend(attr(r, a.value, &v));
        }
    }
    let max = spec.attrs.iter().map(|a| a.value).max().unwrap_or(0);
    #[derive(Clone, Copy)]
    enum Extra {
        None,
        OfTheSet,
        Unknown,
        Zero,
        Nested,
        Leftover,
    }
    for _ in 0..r.usize(0..3) {
        match pick(
            r,
            &[
                (70, Extra::None),
                (12, Extra::OfTheSet),
                (6, Extra::Unknown),
                (3, Extra::Zero),
                (4, Extra::Nested),
                (5, Extra::Leftover),
            ],
        ) {
            Extra::None => {}
            Extra::OfTheSet => {
                let a = &spec.attrs[r.usize(..spec.attrs.len())];
                let v = value(r, &a.kind);
                out.extend(attr(r, a.value, &v));
            }
            Extra::Unknown => {
                let kind = r.u16(max + 1..=max + 32);
                let v = bytes(r, 0..=8);
                out.extend(attr(r, kind, &v));
            }
            Extra::Zero => {
                let v = bytes(r, 0..=8);
                out.extend(attr(r, 0, &v));
            }
            Extra::Nested => out.extend(nested_mess(r, spec, 0)),
            Extra::Leftover => out.extend(bytes(r, 1..4)),
        }
    }
    out
}

/// `nlmsg_flags`: a request, an ACK half the time, the dump bits for a dump, now and then bits
/// the kernel refuses (6.1+) or ignores.
fn flags(r: &mut Rng, mode: Mode) -> u16 {
    let mut f = if one_in(r, 40) { 0 } else { F_REQUEST };
    if r.bool() {
        f |= F_ACK;
    }
    if mode == Mode::Dump {
        f |= F_DUMP;
    }
    match r.u32(0..100) {
        0..=2 => f |= ODD_FLAGS[r.usize(..ODD_FLAGS.len())],
        3..=5 => f ^= r.u16(..) & !F_REQUEST,
        _ => {}
    }
    f
}

/// One message to the family (or beside it: controller, other families, control types).
pub fn genl(r: &mut Rng, spec: &Spec, family: u16, seq: u32) -> Vec<u8> {
    #[derive(Clone, Copy)]
    enum To {
        Family,
        Control,
        Nobody,
        Nlctrl,
    }
    let ty = match pick(
        r,
        &[
            (88, To::Family),
            (4, To::Control),
            (4, To::Nobody),
            (4, To::Nlctrl),
        ],
    ) {
        To::Family => family,
        To::Control => r.u16(0..nl::NLMSG_MIN_TYPE),
        To::Nobody => NO_SUCH_FAMILY,
        To::Nlctrl => nl::GENL_ID_CTRL,
    };
    let requests = spec.requests();
    let (cmd, mode, list) = match r.u32(0..100) {
        // What the spec has, most of the time.
        0..=84 => {
            let (op, mode) = requests[r.usize(..requests.len())];
            let list = op.modes[&mode].request.clone().unwrap_or_default();
            (op.value, mode, list)
        }
        // An op in the mode it lacks, with the other mode's attributes.
        85..=92 => {
            let (op, mode) = requests[r.usize(..requests.len())];
            let other = if mode == Mode::Do {
                Mode::Dump
            } else {
                Mode::Do
            };
            let list = op.modes[&mode].request.clone().unwrap_or_default();
            (op.value, other, list)
        }
        // A command the spec does not have.
        _ => {
            let taken: Vec<u8> = requests.iter().map(|(o, _)| o.value).collect();
            let cmd = loop {
                let c = r.u8(..);
                if !taken.contains(&c) {
                    break c;
                }
            };
            (
                cmd,
                if r.bool() { Mode::Do } else { Mode::Dump },
                Vec::new(),
            )
        }
    };
    let version = if one_in(r, 8) { r.u8(..) } else { spec.version };
    let reserved = if one_in(r, 12) { r.u16(..) } else { 0 };
    let mut payload = vec![cmd, version];
    payload.extend_from_slice(&reserved.to_ne_bytes());
    payload.extend(attributes(r, spec, &list));
    if one_in(r, 25) {
        payload.truncate(r.usize(0..=payload.len()));
    }
    nl::message(ty, flags(r, mode), seq, &payload)
}

/// Sometimes `nlmsg_len` lies: shorter than the message, longer, or below a header's size.
pub fn lie_about_length(r: &mut Rng, m: &mut [u8]) {
    let real = m.len();
    let lie = match r.u32(0..100) {
        0..=2 => r.usize(0..HDRLEN),
        3..=5 => r.usize(HDRLEN..=real),
        6..=8 => real + r.usize(1..200),
        9 => r.u32(..) as usize,
        _ => return,
    };
    m[..4].copy_from_slice(&(lie as u32).to_ne_bytes());
}

/// A datagram of messages made by `one` (given each a new sequence number): mostly one message,
/// often a few, now and then dozens; sometimes shorter than a header, sometimes with junk after.
pub fn datagram(
    r: &mut Rng,
    seq: &mut u32,
    mut one: impl FnMut(&mut Rng, u32) -> Vec<u8>,
) -> (Vec<u8>, u64) {
    if one_in(r, 50) {
        return (bytes(r, 0..HDRLEN), 1);
    }
    let n = match r.u32(0..100) {
        0..=59 => 1,
        60..=96 => r.usize(2..=6),
        _ => r.usize(16..=48),
    };
    let mut out = Vec::new();
    for _ in 0..n {
        *seq += 1;
        let mut m = one(r, *seq);
        lie_about_length(r, &mut m);
        out.extend_from_slice(&m);
        if !one_in(r, 10) {
            out.resize(nl::align4(out.len()), 0);
        }
    }
    if one_in(r, 40) {
        out.extend(bytes(r, 1..40));
    }
    (out, n as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_and_mode_is_generated() {
        const FAMILY: u16 = 0x20;
        let spec = Spec::builtin().unwrap();
        let mut r = Rng::with_seed(7);
        let mut seen = std::collections::BTreeSet::new();
        for seq in 0..5000 {
            let m = genl(&mut r, &spec, FAMILY, seq);
            if m.len() > HDRLEN && u16::from_ne_bytes([m[4], m[5]]) == FAMILY {
                let dump = u16::from_ne_bytes([m[6], m[7]]) & F_DUMP == F_DUMP;
                seen.insert((m[HDRLEN], dump));
            }
        }
        for (op, mode) in spec.requests() {
            assert!(
                seen.contains(&(op.value, mode == Mode::Dump)),
                "{} {}",
                op.name,
                mode.name()
            );
        }
    }
}
