//! The classic protocol of nl_foobar_xmpl (no generic netlink, no YNL spec): its messages and
//! its oracle, which predicts every answer exactly from `nl_foobar_xmpl.h`: the errno of every
//! error, the bytes of every reply, an extack message on every error.

use fastrand::Rng;

use crate::generate::{bytes, one_in, string_value};
use crate::nl::{self, uapi, F_ACK, F_REQUEST};
use crate::oracle::{Expect, Final, Pending, Replies};

/// The label of its echo in the counts.
const ECHO: &str = "classic echo";
/// Longest message text, not counting the NUL.
const MSG_MAX_LEN: usize = uapi::NL_FOOBAR_XMPL_MSG_MAX_LEN as usize;
/// The one message type it takes.
const MSG_ECHO: u16 = uapi::NL_FOOBAR_XMPL_MSG_ECHO;

/// One message: mostly an echo with a string at or around its limits, sometimes another type.
pub fn message(r: &mut Rng, seq: u32) -> Vec<u8> {
    let ty = match r.u32(0..100) {
        0..=74 => MSG_ECHO,
        75..=84 => r.u16(0..nl::NLMSG_MIN_TYPE),
        _ => r.u16(MSG_ECHO + 1..),
    };
    let payload = if one_in(r, 5) {
        bytes(r, 0..=MSG_MAX_LEN + SLACK)
    } else {
        string_value(r, Some(MSG_MAX_LEN))
    };
    let mut flags = if one_in(r, 20) { 0 } else { F_REQUEST };
    if r.bool() {
        flags |= F_ACK;
    }
    if one_in(r, 10) {
        flags ^= r.u16(..) & !F_REQUEST;
    }
    nl::message(ty, flags, seq, &payload)
}

/// Random payloads reach a little past the limit.
const SLACK: usize = 45;

/// What one message must get.
pub fn predict(ty: u16, flags: u16, payload: &[u8], what: String) -> Pending {
    let ack = flags & F_ACK != 0;
    if flags & F_REQUEST == 0 || ty < nl::NLMSG_MIN_TYPE {
        return Pending::control("control message", ack, what);
    }
    let refuse = |errno| {
        let mut p = Pending::error(ECHO, errno, what.clone());
        p.want_extack = true;
        p
    };
    if ty != MSG_ECHO {
        let mut p = refuse(libc::EOPNOTSUPP);
        p.label = "classic other types".to_owned();
        return p;
    }
    let len = payload.len();
    if len < 1 {
        refuse(libc::EINVAL)
    } else if len > MSG_MAX_LEN + 1 {
        refuse(libc::EMSGSIZE)
    } else if payload.iter().position(|&c| c == 0) != Some(len - 1) {
        refuse(libc::EINVAL)
    } else {
        let finals = if ack { vec![Final::Ack] } else { Vec::new() };
        let mut p = Pending::new(
            ECHO,
            Expect::Must,
            ack,
            finals,
            Replies::Exact(payload.to_vec()),
            what,
        );
        p.valid = true;
        p
    }
}

/// The broken rest of a datagram, answered with `-EINVAL` echoing its header.
pub fn broken_rest(rest: usize) -> Pending {
    let mut p = Pending::error(
        "classic broken rest",
        libc::EINVAL,
        format!("the broken rest of {rest} bytes"),
    );
    p.want_extack = true;
    p
}
