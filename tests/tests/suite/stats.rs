//! `stats`: the per-namespace counters, doit and dump, after a known workload on fresh counters
//! (a new namespace), and those of a freshly loaded module.

use genl_lab_tests::genl::{uapi, Attr, GenlSocket, NLM_F_ACK, NLM_F_DUMP};
use genl_lab_tests::{
    clients, concurrent, concurrent_portless, crafted, exclusive, fresh_module, fresh_state,
    scenario_with, snapshot, User,
};

/// On fresh counters: 2 echoes, a dump of 4, the error command, a set-dump-count, an echo
/// rejected by policy; the counters count exactly these.
fn workload() {
    fresh_state();
    let mut socket = GenlSocket::open().expect("socket");
    let family = socket.module_family();
    let requests: [(u16, u8, Vec<Attr>); 6] = [
        (
            0,
            uapi::GNL_FOOBAR_XMPL_CMD_ECHO,
            vec![Attr::string(uapi::GNL_FOOBAR_XMPL_A_MSG, "one")],
        ),
        (
            0,
            uapi::GNL_FOOBAR_XMPL_CMD_ECHO,
            vec![Attr::string(uapi::GNL_FOOBAR_XMPL_A_MSG, "two")],
        ),
        (
            NLM_F_DUMP,
            uapi::GNL_FOOBAR_XMPL_CMD_ECHO,
            vec![Attr::u32(uapi::GNL_FOOBAR_XMPL_A_COUNT, 4)],
        ),
        (0, uapi::GNL_FOOBAR_XMPL_CMD_REPLY_WITH_NLMSG_ERR, vec![]),
        (
            NLM_F_ACK,
            uapi::GNL_FOOBAR_XMPL_CMD_SET_DUMP_COUNT,
            vec![Attr::u32(uapi::GNL_FOOBAR_XMPL_A_COUNT, 3)],
        ),
        (0, uapi::GNL_FOOBAR_XMPL_CMD_ECHO, vec![]),
    ];
    for (flags, cmd, attrs) in requests {
        socket
            .request(family.id, flags, cmd, &attrs)
            .expect("workload request");
    }
}

#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn stats_after_workload() {
    let _share = concurrent_portless();
    snapshot!(scenario_with(&["stats"], User::Root, workload));
}

#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn stats_dump_after_workload() {
    let _share = concurrent_portless();
    snapshot!(scenario_with(&["stats", "--dump"], User::Root, workload));
}

/// A fresh module's counters, doit and dump, crafted.
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn stats_fresh_module_crafted() {
    let _machine = exclusive();
    fresh_module();
    let mut doc = crafted("CMD_GET_STATS", 0, uapi::GNL_FOOBAR_XMPL_CMD_GET_STATS, &[]);
    doc += &crafted(
        "CMD_GET_STATS dump",
        NLM_F_DUMP,
        uapi::GNL_FOOBAR_XMPL_CMD_GET_STATS,
        &[],
    );
    snapshot!(doc);
}

/// doit and dump print the same counters.
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn stats_doit_and_dump_agree() {
    let _share = concurrent();
    fresh_state();
    let doit = clients(&["stats"]);
    let dump = clients(&["stats", "--dump"]);
    let stdout = |doc: &str| {
        doc.split_once("stdout:\n")
            .unwrap()
            .1
            .split_once("stderr:")
            .unwrap()
            .0
            .to_owned()
    };
    assert_eq!(stdout(&doit), stdout(&dump));
}
