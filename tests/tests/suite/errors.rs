//! Errors: the module not loaded, `error`, unknown commands, missing, oversized and malformed
//! attributes, each through the clients where they can send it and crafted where they cannot.

use std::fmt::Write as _;

use genl_lab_tests::genl::{uapi, Attr, GenlSocket, Message, NLM_F_ACK, NLM_F_DUMP};
use genl_lab_tests::{
    clients, concurrent, crafted, ensure_loaded, ensure_unloaded, exclusive, exit_code_of_all,
    kernel_at_least, section, shell_words, snapshot,
};

/// Every operation of every client with no family registered: exit 3 and the hint to insmod.
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn module_not_loaded() {
    let _machine = exclusive();
    ensure_unloaded();
    let mut doc = String::new();
    for args in [
        &["echo"][..],
        &["dump"],
        &["dump", "--count", "5"],
        &["error"],
        &["set-dump-count", "5"],
        &["stats"],
        &["stats", "--dump"],
        &["monitor", "--count", "1"],
    ] {
        doc += &clients(args);
    }
    snapshot!(doc);
}

/// `CMD_REPLY_WITH_NLMSG_ERR` is always answered with -EINVAL and an extack message; for the
/// clients that is the expected answer (exit 0).
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn error_command() {
    let _share = concurrent();
    ensure_loaded();
    let mut doc = clients(&["error"]);
    doc += &crafted(
        "CMD_REPLY_WITH_NLMSG_ERR",
        0,
        uapi::GNL_FOOBAR_XMPL_CMD_REPLY_WITH_NLMSG_ERR,
        &[],
    );
    snapshot!(doc);
}

/// Commands the family does not have: 0 (`CMD_UNSPEC`), the first after `CMD_MAX`, and 255.
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn unknown_command() {
    let _share = concurrent();
    ensure_loaded();
    let mut doc = String::new();
    for cmd in [0, uapi::GNL_FOOBAR_XMPL_CMD_GET_STATS + 1, 255] {
        doc += &crafted(&format!("command {cmd}"), 0, cmd, &[]);
        doc += &crafted(&format!("command {cmd} dump"), NLM_F_DUMP, cmd, &[]);
    }
    snapshot!(doc);
}

/// Requests without their required attribute: echo without `A_MSG`, set-dump-count without
/// `A_COUNT`. The extack's missing-attribute type exists from Linux 6.0 on: asserted here, not
/// snapshotted, so that one snapshot serves every kernel.
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn missing_attribute() {
    let _share = concurrent();
    ensure_loaded();
    let mut doc = String::new();
    let cases = [
        (
            "CMD_ECHO without A_MSG",
            0,
            uapi::GNL_FOOBAR_XMPL_CMD_ECHO,
            uapi::GNL_FOOBAR_XMPL_A_MSG,
        ),
        (
            "CMD_SET_DUMP_COUNT without A_COUNT",
            NLM_F_ACK,
            uapi::GNL_FOOBAR_XMPL_CMD_SET_DUMP_COUNT,
            uapi::GNL_FOOBAR_XMPL_A_COUNT,
        ),
    ];
    for (what, flags, cmd, attr) in cases {
        doc += &crafted(what, flags, cmd, &[]);
        let mut socket = GenlSocket::open().expect("socket");
        let family = socket.module_family();
        let answer = socket.request(family.id, flags, cmd, &[]).expect("request");
        let expected = kernel_at_least(6, 0).then_some(u32::from(attr));
        assert!(
            matches!(answer.as_slice(), [Message::Error { missing, .. }] if *missing == expected),
            "{what}: the extack names the missing attribute from 6.0 on: {answer:?}"
        );
    }
    snapshot!(doc);
}

/// A message of 256 bytes: every client refuses it before sending (exit 2, shared text).
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn message_too_long_client_side() {
    let _share = concurrent();
    ensure_loaded();
    let msg = "x".repeat((uapi::GNL_FOOBAR_XMPL_MSG_MAX_LEN as usize) + 1);
    let mut doc = clients(&["echo", &msg]);
    // Bytes, not characters: 128 two-byte characters are 256 bytes.
    doc += &clients(&["echo", &"é".repeat(128)]);
    snapshot!(doc);
}

/// The same messages crafted, past the clients' check: the module's policy rejects them.
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn message_too_long_kernel_side() {
    let _share = concurrent();
    ensure_loaded();
    let mut doc = String::new();
    for len in [(uapi::GNL_FOOBAR_XMPL_MSG_MAX_LEN as usize) + 1, 1000] {
        let msg = "x".repeat(len);
        doc += &crafted(
            &format!("CMD_ECHO, A_MSG of {len} bytes"),
            0,
            uapi::GNL_FOOBAR_XMPL_CMD_ECHO,
            &[Attr::string(uapi::GNL_FOOBAR_XMPL_A_MSG, &msg)],
        );
    }
    snapshot!(doc);
}

/// Attributes of the wrong type or size, and attributes the operation does not take.
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn wrong_attribute_type_or_size() {
    let _share = concurrent();
    ensure_loaded();
    let cases: Vec<(&str, u16, u8, Vec<Attr>)> = vec![
        (
            "CMD_ECHO, A_MSG without its NUL",
            0,
            uapi::GNL_FOOBAR_XMPL_CMD_ECHO,
            vec![Attr::raw(uapi::GNL_FOOBAR_XMPL_A_MSG, b"hello".to_vec())],
        ),
        (
            "CMD_ECHO, A_MSG empty (no byte at all)",
            0,
            uapi::GNL_FOOBAR_XMPL_CMD_ECHO,
            vec![Attr::raw(uapi::GNL_FOOBAR_XMPL_A_MSG, Vec::new())],
        ),
        (
            "CMD_ECHO dump, A_COUNT as u16",
            NLM_F_DUMP,
            uapi::GNL_FOOBAR_XMPL_CMD_ECHO,
            vec![Attr::u16(uapi::GNL_FOOBAR_XMPL_A_COUNT, 5)],
        ),
        (
            "CMD_ECHO dump, A_COUNT as u64",
            NLM_F_DUMP,
            uapi::GNL_FOOBAR_XMPL_CMD_ECHO,
            vec![Attr::u64(uapi::GNL_FOOBAR_XMPL_A_COUNT, 5)],
        ),
        (
            "CMD_SET_DUMP_COUNT, A_COUNT as u8",
            NLM_F_ACK,
            uapi::GNL_FOOBAR_XMPL_CMD_SET_DUMP_COUNT,
            vec![Attr::raw(uapi::GNL_FOOBAR_XMPL_A_COUNT, vec![5])],
        ),
        (
            "CMD_SET_DUMP_COUNT, A_COUNT 0",
            NLM_F_ACK,
            uapi::GNL_FOOBAR_XMPL_CMD_SET_DUMP_COUNT,
            vec![Attr::u32(uapi::GNL_FOOBAR_XMPL_A_COUNT, 0)],
        ),
        (
            "CMD_SET_DUMP_COUNT, A_COUNT 100001",
            NLM_F_ACK,
            uapi::GNL_FOOBAR_XMPL_CMD_SET_DUMP_COUNT,
            vec![Attr::u32(
                uapi::GNL_FOOBAR_XMPL_A_COUNT,
                uapi::GNL_FOOBAR_XMPL_DUMP_COUNT_MAX + 1,
            )],
        ),
        (
            "CMD_ECHO, A_MSG and an unknown attribute 42",
            0,
            uapi::GNL_FOOBAR_XMPL_CMD_ECHO,
            vec![
                Attr::string(uapi::GNL_FOOBAR_XMPL_A_MSG, "hi"),
                Attr::u32(42, 1),
            ],
        ),
        (
            "CMD_ECHO, A_MSG and A_COUNT (doit and dumpit share a policy: ignored)",
            0,
            uapi::GNL_FOOBAR_XMPL_CMD_ECHO,
            vec![
                Attr::string(uapi::GNL_FOOBAR_XMPL_A_MSG, "hi"),
                Attr::u32(uapi::GNL_FOOBAR_XMPL_A_COUNT, 1),
            ],
        ),
        (
            "CMD_ECHO, A_MSG twice (the last one counts)",
            0,
            uapi::GNL_FOOBAR_XMPL_CMD_ECHO,
            vec![
                Attr::string(uapi::GNL_FOOBAR_XMPL_A_MSG, "first"),
                Attr::string(uapi::GNL_FOOBAR_XMPL_A_MSG, "second"),
            ],
        ),
    ];
    let mut doc = String::new();
    for (what, flags, cmd, attrs) in cases {
        doc += &crafted(what, flags, cmd, &attrs);
    }
    snapshot!(doc);
}

/// Arguments no client accepts: exit 2, each client's own wording (INTERFACE.md shares only the
/// exit code), always `error: ` first and a pointer to `--help`.
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn bad_arguments() {
    let _share = concurrent();
    ensure_loaded();
    let mut doc = String::new();
    for args in [
        &["frobnicate"][..],
        &["echo", "a", "b"],
        &["set-dump-count"],
        &["set-dump-count", "0"],
        &["set-dump-count", "100001"],
        &["monitor", "--count", "0"],
        &["stats", "--count", "1"],
    ] {
        let (code, outcomes) = exit_code_of_all(args);
        writeln!(doc, "$ CLIENT {}\nexit: {code}", shell_words(args)).unwrap();
        assert_eq!(code, 2, "bad arguments {args:?} exit 2");
        for (client, outcome) in outcomes {
            assert!(
                outcome.stdout.is_empty(),
                "{client} {args:?} printed to stdout: {outcome:?}"
            );
            assert!(
                outcome.stderr.starts_with("error: "),
                "{client} {args:?}: {outcome:?}"
            );
            assert!(
                outcome.stderr.contains("--help"),
                "{client} {args:?} points to --help: {outcome:?}"
            );
            section(&mut doc, &format!("stderr of {client}"), &outcome.stderr);
        }
    }
    snapshot!(doc);
}

/// No subcommand at all is a bad argument too: exit 2 and one `error: ` line, not the usage
/// (INTERFACE.md: every error is one line on standard error starting with `error: `).
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn no_arguments() {
    let _share = concurrent();
    let (code, outcomes) = exit_code_of_all(&[]);
    assert_eq!(code, 2, "no arguments: exit 2");
    let mut doc = format!("$ CLIENT\nexit: {code}\n");
    for (client, outcome) in outcomes {
        assert!(
            outcome.stdout.is_empty(),
            "{client} printed to stdout: {outcome:?}"
        );
        assert!(
            outcome.stderr.starts_with("error: "),
            "{client} without arguments: {outcome:?}"
        );
        section(&mut doc, &format!("stderr of {client}"), &outcome.stderr);
    }
    snapshot!(doc);
}

/// `--help` and `-h`: usage on standard output, exit 0 (the text is each client's own).
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn help() {
    let _share = concurrent();
    for flag in ["--help", "-h"] {
        for client in genl_lab_tests::CLIENTS {
            let outcome = genl_lab_tests::run_client(client, &[flag], genl_lab_tests::User::Root);
            assert_eq!(outcome.code, Some(0), "{client} {flag}: {outcome:?}");
            assert!(
                outcome.stdout.to_lowercase().contains("usage"),
                "{client} {flag}: {outcome:?}"
            );
            assert!(outcome.stderr.is_empty(), "{client} {flag}: {outcome:?}");
        }
    }
}
