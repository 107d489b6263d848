//! `echo-neli`: the smallest complete generic netlink client in Rust, written as neli's own
//! examples are: an `NlRouter`, `resolve_genl_family`, a `GenlmsghdrBuilder` with one attribute,
//! and the reply's attribute read through an attribute handle. It asks nlctrl for the
//! `gnl_foobar_xmpl` family's id, sends one echo request and prints the string that comes back;
//! `docs/tutorial.md` shows the bytes (`cargo lab tour --client gnl-rust`).
//!
//! Usage: `echo-neli [MESSAGE]`

use std::error::Error;
use std::fmt::Debug;
use std::process::ExitCode;

// The family's commands and attributes as neli enums, generated from the YNL spec by
// `userland/gnl-rust/build.rs`: `Cmd::Echo` is `GNL_FOOBAR_XMPL_CMD_ECHO`, `Attr::Msg` is
// `GNL_FOOBAR_XMPL_A_MSG`.
use gnl_rust::{Attr, Cmd, FAMILY_NAME};
use neli::{
    consts::{nl::NlmF, socket::NlFamily},
    err::RouterError,
    genl::{AttrTypeBuilder, Genlmsghdr, GenlmsghdrBuilder, NlattrBuilder},
    nl::NlPayload,
    router::synchronous::NlRouter,
    types::{Buffer, GenlBuffer},
    utils::Groups,
};

/// A router error in a line: the kernel's errno for an `NLMSG_ERROR`, neli's words otherwise.
fn explain<T: Debug, P: Debug>(err: RouterError<T, P>) -> String {
    match err {
        RouterError::Nlmsgerr(e) => format!("kernel: {e}"),
        other => other.to_string(),
    }
}

fn echo() -> Result<(), Box<dyn Error>> {
    let msg = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "hello".to_owned());
    if msg.len() > nl_codec::uapi::GNL_FOOBAR_XMPL_MSG_MAX_LEN as usize {
        return Err("the message is too long".into());
    }

    // A generic netlink socket, bound to a port the kernel picks, in no multicast group.
    let (router, _) = NlRouter::connect(NlFamily::Generic, None, Groups::empty())?;
    // CTRL_CMD_GETFAMILY to nlctrl: the family's id, the message type of its requests.
    let family = router.resolve_genl_family(FAMILY_NAME).map_err(|e| {
        format!(
            "cannot resolve {FAMILY_NAME} (is the module loaded?): {}",
            explain(e)
        )
    })?;

    // One attribute: GNL_FOOBAR_XMPL_A_MSG, a NUL-terminated string.
    let attr = NlattrBuilder::default()
        .nla_type(AttrTypeBuilder::default().nla_type(Attr::Msg).build()?)
        .nla_payload(Buffer::from([msg.as_bytes(), b"\0"].concat()))
        .build()?;
    // The generic netlink header: the command and the family's version, then the attribute.
    let request = GenlmsghdrBuilder::default()
        .cmd(Cmd::Echo)
        .version(nl_codec::uapi::GNL_FOOBAR_XMPL_FAMILY_VERSION as u8)
        .attrs(std::iter::once(attr).collect::<GenlBuffer<_, _>>())
        .build()?;

    // The router adds the netlink header (type = the family's id, a sequence number) and hands
    // back the messages that answer it: here one reply, then the kernel's ack.
    let answers = router
        .send::<_, _, u16, Genlmsghdr<Cmd, Attr>>(
            family,
            NlmF::empty(),
            NlPayload::Payload(request),
        )
        .map_err(explain)?;
    let mut replies = 0;
    for answer in answers {
        // An NLMSG_ERROR from the kernel arrives here as an error.
        let answer = answer.map_err(explain)?;
        let Some(reply) = answer.get_payload() else {
            continue;
        };
        if *reply.cmd() != Cmd::Echo {
            return Err(format!("the reply is {:?}, not an echo", reply.cmd()).into());
        }
        let text = reply
            .attrs()
            .get_attr_handle()
            .get_attr_payload_as_with_len::<String>(Attr::Msg)?;
        println!("received: {text}");
        replies += 1;
    }
    if replies != 1 {
        return Err(format!("{replies} replies instead of one").into());
    }
    Ok(())
}

fn main() -> ExitCode {
    match echo() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
