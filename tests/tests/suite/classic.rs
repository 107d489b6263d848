//! The classic netlink unit: `nl_foobar_xmpl` on its own protocol number, through `nl-rust` and
//! `nl-raw` (one snapshot for both), crafted malformed datagrams, and its load and unload.

use genl_lab_tests::classic::{self, message, MSG_ECHO};
use genl_lab_tests::{classic_module, lines_text, section, snapshot, KernelLog};

const REQUEST_ACK: u16 = libc::NLM_F_REQUEST as u16 | libc::NLM_F_ACK as u16;

#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn classic_not_loaded() {
    let _turn = classic_module();
    classic::ensure_unloaded();
    snapshot!(classic::scenario(&["send", "hello"], None));
}

#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn classic_send() {
    let _turn = classic_module();
    classic::ensure_loaded();
    snapshot!(classic::scenario(
        &["send", "classic netlink says hi"],
        None
    ));
}

#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn classic_send_with_ack() {
    let _turn = classic_module();
    classic::ensure_loaded();
    snapshot!(classic::scenario(&["--ack", "send", "hello world"], None));
}

#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn classic_send_empty_and_longest() {
    let _turn = classic_module();
    classic::ensure_loaded();
    let longest = "y".repeat(255);
    let mut doc = classic::scenario(&["send", ""], None);
    doc += &classic::scenario(&["send", &longest], None);
    snapshot!(doc);
}

/// 256 bytes: refused by the clients before anything is sent.
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn classic_send_too_long() {
    let _turn = classic_module();
    classic::ensure_loaded();
    let msg = "z".repeat(256);
    snapshot!(classic::scenario(&["send", &msg], None));
}

/// Lines of standard input, replies correlated by sequence number, printed in request order.
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn classic_session() {
    let _turn = classic_module();
    classic::ensure_loaded();
    snapshot!(classic::scenario(&["session"], Some(b"one\ntwo\n\nthree")));
}

#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn classic_session_with_ack() {
    let _turn = classic_module();
    classic::ensure_loaded();
    snapshot!(classic::scenario(
        &["--ack", "session"],
        Some(b"alpha\nbeta\n")
    ));
}

/// Replies to the good lines come out before the error about the bad one.
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn classic_session_bad_lines() {
    let _turn = classic_module();
    classic::ensure_loaded();
    let mut long_line = b"first\n".to_vec();
    long_line.extend(std::iter::repeat_n(b'w', 256));
    long_line.push(b'\n');
    let mut doc = classic::scenario(&["session"], Some(b"ok\nnul\0byte\nnever\n"));
    doc += &classic::scenario(&["session"], Some(&long_line));
    snapshot!(doc);
}

/// A hundred requests in flight through one session: every reply comes back, in order.
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn classic_session_many() {
    let _turn = classic_module();
    classic::ensure_loaded();
    let input: String = (1..=100).map(|i| format!("line {i}\n")).collect();
    let mut expected = String::new();
    for i in 1..=100 {
        expected += &format!("reply #{i}: line {i}\nack #{i}\n");
    }
    for client in classic::CLIENTS {
        let mut command = std::process::Command::new(genl_lab_tests::lab().client(client));
        command.args(["--ack", "session"]);
        let outcome = genl_lab_tests::run_command_with_stdin(command, Some(input.as_bytes()));
        assert_eq!(outcome.code, Some(0), "{client}: {outcome:?}");
        assert_eq!(
            outcome.stdout, expected,
            "{client} lost, duplicated or reordered replies"
        );
    }
}

/// What no client sends: the module must answer each with the right errno and never trust a
/// length it did not check.
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn classic_malformed_datagrams() {
    let _turn = classic_module();
    classic::ensure_loaded();
    let flags = REQUEST_ACK;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "a valid echo of \"hi\" with NLM_F_ACK",
            message(19, MSG_ECHO, flags, 1, b"hi\0"),
        ),
        ("no payload", message(16, MSG_ECHO, flags, 2, b"")),
        (
            "payload without its NUL",
            message(18, MSG_ECHO, flags, 3, b"hi"),
        ),
        (
            "a NUL inside the payload",
            message(20, MSG_ECHO, flags, 4, b"h\0i\0"),
        ),
        ("256 bytes and a NUL", {
            let mut payload = vec![b'x'; 256];
            payload.push(0);
            message(16 + 257, MSG_ECHO, flags, 5, &payload)
        }),
        (
            "unknown message type 0x11",
            message(19, MSG_ECHO + 1, flags, 6, b"hi\0"),
        ),
        (
            "nlmsg_len longer than the datagram",
            message(100, MSG_ECHO, flags, 7, b"hi\0"),
        ),
        (
            "nlmsg_len shorter than a header",
            message(8, MSG_ECHO, flags, 8, b"hi\0"),
        ),
        (
            "an 8-byte datagram",
            message(16, MSG_ECHO, flags, 9, b"")[..8].to_vec(),
        ),
        (
            "no NLM_F_REQUEST, with NLM_F_ACK",
            message(19, MSG_ECHO, libc::NLM_F_ACK as u16, 10, b"hi\0"),
        ),
        ("a good message, then one whose length lies", {
            // The first message padded to 4 bytes, as netlink aligns messages in a datagram.
            let mut two = message(19, MSG_ECHO, flags, 11, b"ok\0");
            two.push(0);
            two.extend(message(64, MSG_ECHO, flags, 12, b"bad\0"));
            two
        }),
    ];
    let doc: String = cases
        .iter()
        .map(|(what, datagram)| classic::crafted(what, datagram))
        .collect();
    snapshot!(doc);
}

/// A second insmod fails cleanly (EEXIST) and leaves the loaded module working.
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn classic_load_twice() {
    let _turn = classic_module();
    classic::ensure_loaded();
    let mut log = KernelLog::mark();
    let outcome = classic::insmod();
    let lines = log.lines_of(classic::MODULE);
    assert_ne!(
        outcome.code,
        Some(0),
        "a second insmod succeeded: {outcome:?}"
    );
    assert!(classic::loaded());
    let mut doc = String::from("$ insmod nl_foobar_xmpl.ko (again)\n");
    doc += &format!("failed: {}\n", outcome.stderr.contains("File exists"));
    section(&mut doc, "kernel log", &lines_text(&lines));
    doc += &classic::scenario(&["send", "still here"], None);
    snapshot!(doc);
}

/// The last classic test (name order): unload, reload and unload, with the lines they log.
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn classic_load_and_unload() {
    let _turn = classic_module();
    classic::ensure_loaded();
    let mut log = KernelLog::mark();
    let first = classic::rmmod();
    let again = classic::insmod();
    let last = classic::rmmod();
    let lines = log.lines_of(classic::MODULE);
    for (what, outcome) in [("rmmod", &first), ("insmod", &again), ("rmmod", &last)] {
        assert_eq!(outcome.code, Some(0), "{what}: {outcome:?}");
    }
    assert!(!classic::loaded(), "the module is still loaded");
    let mut doc = String::from("$ rmmod; insmod; rmmod\n");
    section(&mut doc, "kernel log", &lines_text(&lines));
    snapshot!(doc);
}
