//! `echo`: the doit of `CMD_ECHO`, through every client and crafted.

use genl_lab_tests::genl::{uapi, Attr};
use genl_lab_tests::{clients, concurrent, crafted, ensure_loaded, snapshot};

#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn echo_default_message() {
    let _share = concurrent();
    ensure_loaded();
    snapshot!(clients(&["echo"]));
}

#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn echo_message() {
    let _share = concurrent();
    ensure_loaded();
    snapshot!(clients(&["echo", "generic netlink says hi"]));
}

#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn echo_utf8_message() {
    let _share = concurrent();
    ensure_loaded();
    snapshot!(clients(&["echo", "héllo wörld ✓"]));
}

#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn echo_empty_message() {
    let _share = concurrent();
    ensure_loaded();
    snapshot!(clients(&["echo", ""]));
}

/// 255 bytes, the longest message the contract allows.
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn echo_longest_message() {
    let _share = concurrent();
    ensure_loaded();
    let msg = "x".repeat(uapi::GNL_FOOBAR_XMPL_MSG_MAX_LEN as usize);
    snapshot!(clients(&["echo", &msg]));
}

/// What the clients build, crafted: the reply is command 1 carrying the same `A_MSG`.
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn echo_crafted() {
    let _share = concurrent();
    ensure_loaded();
    snapshot!(crafted(
        "CMD_ECHO, A_MSG \"hello\"",
        0,
        uapi::GNL_FOOBAR_XMPL_CMD_ECHO,
        &[Attr::string(uapi::GNL_FOOBAR_XMPL_A_MSG, "hello")]
    ));
}
