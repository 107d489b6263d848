//! Privileges: `set-dump-count` needs `CAP_NET_ADMIN`; everything else works for `nobody`.

use genl_lab_tests::genl::{uapi, Attr, GenlSocket, Message, NLM_F_ACK};
use genl_lab_tests::{
    clients, concurrent, concurrent_portless, ensure_loaded, fresh_state, normalize, scenario,
    scenario_with, snapshot, User,
};

/// As `nobody` the admin operation is refused (exit 4) and the default dump count unchanged.
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn set_dump_count_as_nobody() {
    let _share = concurrent();
    ensure_loaded();
    let mut doc = scenario(&["set-dump-count", "5"], User::Nobody);
    doc += &clients(&["dump"]);
    snapshot!(doc);
}

/// As root it is acknowledged (and the suite puts the default back).
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn set_dump_count_as_root() {
    let _share = concurrent_portless();
    ensure_loaded();
    let mut doc = clients(&["set-dump-count", "42"]);
    doc += &clients(&["set-dump-count", "3"]);
    // Acked even when the client did not ask (crafted without NLM_F_ACK, a doit answers nothing).
    let mut socket = GenlSocket::open().expect("socket");
    let family = socket.module_family();
    let answer = socket
        .request(
            family.id,
            NLM_F_ACK,
            uapi::GNL_FOOBAR_XMPL_CMD_SET_DUMP_COUNT,
            &[Attr::u32(uapi::GNL_FOOBAR_XMPL_A_COUNT, 3)],
        )
        .expect("set-dump-count");
    assert!(
        matches!(answer.as_slice(), [Message::Error { errno: 0, .. }]),
        "{answer:?}"
    );
    snapshot!(doc);
}

/// The unprivileged operations as `nobody`: the same output as root. (`stats` on fresh counters
/// each time, so that they do not depend on the runs before.)
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn unprivileged_operations_as_nobody() {
    let _share = concurrent();
    ensure_loaded();
    let mut doc = String::new();
    for args in [
        &["echo", "from nobody"][..],
        &["dump", "--count", "2"],
        &["error"],
        &["stats"],
        &["stats", "--dump"],
    ] {
        let setup = || {
            if args[0] == "stats" {
                fresh_state();
            }
        };
        let as_nobody = scenario_with(args, User::Nobody, setup);
        let as_root = scenario_with(args, User::Root, setup);
        assert_eq!(
            normalize(as_nobody.split_once('\n').unwrap().1),
            normalize(as_root.split_once('\n').unwrap().1),
            "{args:?} as nobody and as root"
        );
        doc += &as_nobody;
    }
    snapshot!(doc);
}
