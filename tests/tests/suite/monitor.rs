//! `monitor`: events on the `events` group, and the module unloaded under a subscribed monitor.

use std::time::Duration;

use genl_lab_tests::genl::{uapi, Attr, GenlSocket, Message, NLM_F_ACK};
use genl_lab_tests::{
    concurrent, concurrent_portless, ensure_loaded, exclusive, exit_code_of_all, lines_text, load,
    module_loaded, rmmod, run_client, section, snapshot, KernelLog, Monitor, User, CLIENTS,
};

/// Sends the requests that make events: two echoes and a change of the default dump count.
fn make_events() {
    let mut socket = GenlSocket::open().expect("socket");
    let family = socket.module_family();
    for msg in ["first event", "second event"] {
        let answer = socket
            .request(
                family.id,
                0,
                uapi::GNL_FOOBAR_XMPL_CMD_ECHO,
                &[Attr::string(uapi::GNL_FOOBAR_XMPL_A_MSG, msg)],
            )
            .expect("echo");
        assert!(
            matches!(answer.as_slice(), [Message::Genl { .. }]),
            "{answer:?}"
        );
    }
    for count in [9, 3] {
        let answer = socket
            .request(
                family.id,
                NLM_F_ACK,
                uapi::GNL_FOOBAR_XMPL_CMD_SET_DUMP_COUNT,
                &[Attr::u32(uapi::GNL_FOOBAR_XMPL_A_COUNT, count)],
            )
            .expect("set-dump-count");
        assert!(
            matches!(answer.as_slice(), [Message::Error { errno: 0, .. }]),
            "{answer:?}"
        );
    }
}

/// Each client's `monitor --count 4` prints the four events and exits 0.
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn monitor_events() {
    let _share = concurrent_portless();
    ensure_loaded();
    let mut runs = Vec::new();
    for client in CLIENTS {
        let monitor = Monitor::start(client, &["--count", "4"]);
        let mut log = KernelLog::mark();
        make_events();
        let outcome = monitor.wait(Duration::from_secs(30));
        runs.push((client, outcome, log.module_lines()));
    }
    for (client, outcome, _) in &runs[1..] {
        assert_eq!(outcome, &runs[0].1, "{client} and {} disagree", runs[0].0);
    }
    let mut doc =
        String::from("$ CLIENT monitor --count 4 (while 2 echoes and 2 set-dump-count are sent)\n");
    doc += &runs[0].1.render();
    section(&mut doc, "kernel log", &lines_text(&runs[0].2));
    snapshot!(doc);
}

/// Bad monitor counts are bad arguments.
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn monitor_bad_count() {
    let _share = concurrent();
    ensure_loaded();
    for count in ["0", "-3", "x"] {
        let (code, _) = exit_code_of_all(&["monitor", "--count", count]);
        assert_eq!(code, 2, "monitor --count {count}");
    }
}

/// rmmod while every client's monitor is subscribed: the module unloads cleanly (no reference
/// held by a subscription), the monitors stay up, and end on SIGTERM having printed nothing more.
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn unload_while_monitor_subscribed() {
    let _machine = exclusive();
    ensure_loaded();
    let monitors: Vec<_> = CLIENTS
        .iter()
        .map(|client| (*client, Monitor::start(client, &[])))
        .collect();
    let mut log = KernelLog::mark();
    let outcome = rmmod();
    let lines = log.module_lines();
    assert!(
        !module_loaded(),
        "rmmod with monitors subscribed left the module loaded: {outcome:?}"
    );
    let mut doc = String::from("$ rmmod gnl_foobar_xmpl (a monitor of each client subscribed)\n");
    doc += &outcome.render();
    section(&mut doc, "kernel log", &lines_text(&lines));
    let mut first = None;
    for (client, mut monitor) in monitors {
        assert_eq!(
            monitor.next_line(Duration::from_millis(500)),
            None,
            "{client} monitor printed after the unload"
        );
        let outcome = monitor.terminate();
        match &first {
            None => first = Some((client, outcome)),
            Some((first_client, first_outcome)) => {
                assert_eq!(
                    &outcome, first_outcome,
                    "{client} and {first_client} disagree"
                )
            }
        }
    }
    doc += "$ kill -TERM (each monitor)\n";
    doc += &first.unwrap().1.render();
    load();
    snapshot!(doc);
}

/// Rejected requests make no event: with a monitor waiting for one event, an echo without
/// `A_MSG`, a set-dump-count out of range and one from `nobody` go by, then an echo arrives.
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn monitor_ignores_rejected_requests() {
    let _share = concurrent();
    ensure_loaded();
    let mut runs = Vec::new();
    for client in CLIENTS {
        let monitor = Monitor::start(client, &["--count", "1"]);
        let mut socket = GenlSocket::open().expect("socket");
        let family = socket.module_family();
        let rejected = [
            (0, uapi::GNL_FOOBAR_XMPL_CMD_ECHO, vec![]),
            (
                NLM_F_ACK,
                uapi::GNL_FOOBAR_XMPL_CMD_SET_DUMP_COUNT,
                vec![Attr::u32(uapi::GNL_FOOBAR_XMPL_A_COUNT, 0)],
            ),
            (0, uapi::GNL_FOOBAR_XMPL_CMD_REPLY_WITH_NLMSG_ERR, vec![]),
        ];
        for (flags, cmd, attrs) in rejected {
            let answer = socket
                .request(family.id, flags, cmd, &attrs)
                .expect("request");
            assert!(
                matches!(answer.as_slice(), [Message::Error { errno, .. }] if *errno != 0),
                "{answer:?}"
            );
        }
        let as_nobody = run_client(client, &["set-dump-count", "7"], User::Nobody);
        assert_eq!(
            as_nobody.code,
            Some(4),
            "set-dump-count as nobody: {as_nobody:?}"
        );
        let answer = socket
            .request(
                family.id,
                0,
                uapi::GNL_FOOBAR_XMPL_CMD_ECHO,
                &[Attr::string(uapi::GNL_FOOBAR_XMPL_A_MSG, "the only event")],
            )
            .expect("echo");
        assert!(
            matches!(answer.as_slice(), [Message::Genl { .. }]),
            "{answer:?}"
        );
        runs.push((client, monitor.wait(Duration::from_secs(30))));
    }
    for (client, outcome) in &runs[1..] {
        assert_eq!(outcome, &runs[0].1, "{client} and {} disagree", runs[0].0);
    }
    let mut doc = String::from(
        "$ CLIENT monitor --count 1 (while 4 rejected requests and an echo are sent)\n",
    );
    doc += &runs[0].1.render();
    snapshot!(doc);
}
