//! `echo`: the doit of `CMD_ECHO`, through every client and crafted.

use genl_lab_tests::genl::{uapi, Attr};
use genl_lab_tests::{clients, crafted, ensure_loaded, serial, snapshot};

#[test]
fn echo_default_message() {
    let _lock = serial();
    ensure_loaded();
    snapshot!(clients(&["echo"]));
}

#[test]
fn echo_message() {
    let _lock = serial();
    ensure_loaded();
    snapshot!(clients(&["echo", "generic netlink says hi"]));
}

#[test]
fn echo_utf8_message() {
    let _lock = serial();
    ensure_loaded();
    snapshot!(clients(&["echo", "héllo wörld ✓"]));
}

#[test]
fn echo_empty_message() {
    let _lock = serial();
    ensure_loaded();
    snapshot!(clients(&["echo", ""]));
}

/// 255 bytes, the longest message the contract allows.
#[test]
fn echo_longest_message() {
    let _lock = serial();
    ensure_loaded();
    let msg = "x".repeat(uapi::MSG_MAX_LEN);
    snapshot!(clients(&["echo", &msg]));
}

/// What the clients build, crafted: the reply is command 1 carrying the same `A_MSG`.
#[test]
fn echo_crafted() {
    let _lock = serial();
    ensure_loaded();
    snapshot!(crafted(
        "CMD_ECHO, A_MSG \"hello\"",
        0,
        uapi::CMD_ECHO,
        &[Attr::string(uapi::A_MSG, "hello")]
    ));
}
