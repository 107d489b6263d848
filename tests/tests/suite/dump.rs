//! `dump`: the dumpit of `CMD_ECHO`, its bounds, and a dump cut short by its reader.

use std::fmt::Write as _;

use genl_lab_tests::genl::{uapi, Attr, GenlSocket, Message, NLM_F_DUMP};
use genl_lab_tests::{
    clients, concurrent, concurrent_portless, crafted, ensure_loaded, exclusive, exit_code_of_all,
    insta_settings, lines_text, section, shell_words, snapshot, wait_for_refcnt_zero, KernelLog,
};

#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn dump_default_count() {
    let _share = concurrent();
    ensure_loaded();
    snapshot!(clients(&["dump"]));
}

#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn dump_count_1() {
    let _share = concurrent();
    ensure_loaded();
    snapshot!(clients(&["dump", "--count", "1"]));
}

#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn dump_count_7() {
    let _share = concurrent();
    ensure_loaded();
    snapshot!(clients(&["dump", "--count", "7"]));
}

/// The largest dump, complete and in order: checked line by line, summarised in the snapshot.
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn dump_count_100000() {
    let _share = concurrent();
    ensure_loaded();
    let max = uapi::GNL_FOOBAR_XMPL_DUMP_COUNT_MAX.to_string();
    let doc = clients(&["dump", "--count", &max]);
    let expected: String = (0..uapi::GNL_FOOBAR_XMPL_DUMP_COUNT_MAX)
        .map(|i| format!("  {i}: message {} of {max}\n", i + 1))
        .chain(std::iter::once(format!("  received {max} messages\n")))
        .collect();
    let (head, rest) = doc.split_once("stdout:\n").expect("a stdout section");
    let (stdout, tail) = rest.split_once("stderr:\n").expect("a stderr section");
    assert!(
        stdout == expected,
        "dump --count {max} is not complete and in order"
    );
    let lines: Vec<&str> = stdout.lines().collect();
    let mut summary = String::new();
    for line in &lines[..3] {
        writeln!(summary, "{line}").unwrap();
    }
    writeln!(
        summary,
        "  [... {} lines checked one by one ...]",
        lines.len() - 5
    )
    .unwrap();
    for line in &lines[lines.len() - 2..] {
        writeln!(summary, "{line}").unwrap();
    }
    snapshot!(format!("{head}stdout:\n{summary}stderr:\n{tail}"));
}

/// Out-of-range counts are bad arguments (exit 2); the wording is each client's own.
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn dump_count_out_of_range_client_side() {
    let _share = concurrent();
    ensure_loaded();
    let mut doc = String::new();
    for count in ["0", "100001", "-1", "many"] {
        let args = ["dump", "--count", count];
        let (code, outcomes) = exit_code_of_all(&args);
        writeln!(doc, "$ CLIENT {}\nexit: {code}", shell_words(&args)).unwrap();
        for (client, outcome) in outcomes {
            assert!(outcome.stdout.is_empty(), "{client}: {outcome:?}");
            section(&mut doc, &format!("stderr of {client}"), &outcome.stderr);
        }
    }
    snapshot!(doc);
}

/// The module enforces the bounds too: a crafted dump with `A_COUNT` 0 or 100001.
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn dump_count_out_of_range_kernel_side() {
    let _share = concurrent();
    ensure_loaded();
    let mut doc = String::new();
    for count in [0, uapi::GNL_FOOBAR_XMPL_DUMP_COUNT_MAX + 1] {
        doc += &crafted(
            &format!("CMD_ECHO dump, A_COUNT {count}"),
            NLM_F_DUMP,
            uapi::GNL_FOOBAR_XMPL_CMD_ECHO,
            &[Attr::u32(uapi::GNL_FOOBAR_XMPL_A_COUNT, count)],
        );
    }
    snapshot!(doc);
}

/// What the clients build, crafted: each message carries `A_INDEX` and `A_MSG`.
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn dump_crafted() {
    let _share = concurrent();
    ensure_loaded();
    snapshot!(crafted(
        "CMD_ECHO dump, no attribute",
        NLM_F_DUMP,
        uapi::GNL_FOOBAR_XMPL_CMD_ECHO,
        &[]
    ));
}

/// The original example's clients send `A_MSG` with their dump request: accepted and ignored.
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn dump_crafted_with_msg_like_the_original_example() {
    let _share = concurrent();
    ensure_loaded();
    snapshot!(crafted(
        "CMD_ECHO dump, A_MSG \"ignored\"",
        NLM_F_DUMP,
        uapi::GNL_FOOBAR_XMPL_CMD_ECHO,
        &[Attr::string(uapi::GNL_FOOBAR_XMPL_A_MSG, "ignored")]
    ));
}

/// `set-dump-count` changes what a dump without `--count` delivers.
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn dump_after_set_dump_count() {
    let _share = concurrent_portless();
    ensure_loaded();
    let mut doc = clients(&["set-dump-count", "5"]);
    doc += &clients(&["dump"]);
    doc += &clients(&["set-dump-count", "3"]);
    doc += &clients(&["dump"]);
    snapshot!(doc);
}

/// A dump of 100000 messages whose reader reads one datagram and closes its socket: the module
/// ends the dump, releases its module reference and goes on answering.
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn dump_interrupted_by_closing_the_socket() {
    let _machine = exclusive();
    ensure_loaded();
    let mut log = KernelLog::mark();
    {
        let mut socket = GenlSocket::open().expect("socket");
        let family = socket.module_family();
        socket
            .send(
                family.id,
                NLM_F_DUMP,
                uapi::GNL_FOOBAR_XMPL_CMD_ECHO,
                uapi::GNL_FOOBAR_XMPL_FAMILY_VERSION as u8,
                &[Attr::u32(
                    uapi::GNL_FOOBAR_XMPL_A_COUNT,
                    uapi::GNL_FOOBAR_XMPL_DUMP_COUNT_MAX,
                )],
            )
            .expect("send the dump request");
        let first = socket.recv().expect("the dump's first datagram");
        assert!(
            matches!(
                first.first(),
                Some(Message::Genl {
                    cmd: uapi::GNL_FOOBAR_XMPL_CMD_ECHO,
                    ..
                })
            ),
            "the dump's first datagram: {first:?}"
        );
        assert!(
            !first.iter().any(Message::is_final),
            "100000 messages fit in one datagram?"
        );
    }
    // The kernel finishes the dump (and drops its reference) after the socket's RCU grace period.
    wait_for_refcnt_zero();
    let lines = log.module_lines();
    // How far the dump got depends on the kernel's skb sizes: checked here, filtered below.
    let aborted = regex::Regex::new(r"aborted after (\d+)$").unwrap();
    let sent: Vec<u32> = lines
        .iter()
        .filter_map(|l| aborted.captures(l))
        .map(|c| c[1].parse().unwrap())
        .collect();
    assert!(
        matches!(sent.as_slice(), [n] if *n > 0 && *n < uapi::GNL_FOOBAR_XMPL_DUMP_COUNT_MAX),
        "the module must log one abort, after some but not all messages: {lines:#?}"
    );
    let mut doc =
        String::from("request: CMD_ECHO dump, A_COUNT 100000; one datagram read, socket closed\n");
    section(&mut doc, "kernel log", &lines_text(&lines));
    doc += &crafted(
        "CMD_ECHO, A_MSG \"still there\"",
        0,
        uapi::GNL_FOOBAR_XMPL_CMD_ECHO,
        &[Attr::string(uapi::GNL_FOOBAR_XMPL_A_MSG, "still there")],
    );
    let mut settings = insta_settings();
    settings.add_filter(r"aborted after \d+", "aborted after [N]");
    settings.bind(|| insta::assert_snapshot!(doc));
}
