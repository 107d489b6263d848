//! The kernel's YNL client (`ynl`, tools/net/ynl/cli.py from Debian's linux-source, driven by
//! kmod/gnl_foobar_xmpl.yaml) as a fourth client, and the policies the running module reports
//! (CTRL_CMD_GETPOLICY) compared op by op with the spec.

use std::process::Command;
use std::time::{Duration, Instant};

use genl_lab_tests::{
    concurrent, concurrent_portless, ensure_loaded, fresh_state, kernel_at_least, lab,
    run_command_with_stdin, snapshot, snapshot_for, ynl, Outcome,
};

/// `ynl ARGS` as root, or as root without CAP_NET_ADMIN.
fn ynl(args: &[&str], unprivileged: bool) -> Outcome {
    ynl::run(
        args,
        ynl::Options {
            unprivileged,
            ..ynl::Options::default()
        },
    )
}

/// The command and what it did; of a Python traceback only its last line (the error and the
/// decoded extack), since the frames are the tool's internals and change with its version.
fn doc(args: &[&str], outcome: &Outcome) -> String {
    let mut outcome = outcome.clone();
    if outcome.stderr.starts_with("Traceback") {
        let last = outcome.stderr.trim_end().lines().last().unwrap_or("");
        outcome.stderr = format!("{last}\n");
    }
    format!("$ ynl {}\n{}", args.join(" "), outcome.render())
}

fn scenario(args: &[&str]) -> String {
    doc(args, &ynl(args, false))
}

#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn ynl_echo() {
    let _share = concurrent();
    ensure_loaded();
    snapshot!(scenario(&["--do", "echo", "--json", r#"{"msg": "hello"}"#]));
}

#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn ynl_dump() {
    let _share = concurrent();
    ensure_loaded();
    let mut out = scenario(&["--dump", "echo"]);
    out += &scenario(&["--dump", "echo", "--json", r#"{"count": 2}"#]);
    snapshot!(out);
}

/// The error command, and requests the policy rejects: the extack message, offending attribute
/// and (where the kernel reports it) the policy, as ynl decodes them. Kernels before 6.0 send no
/// missing-attribute report (NLMSGERR_ATTR_MISS_TYPE), hence their own snapshot.
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn ynl_errors_and_extack() {
    let _share = concurrent();
    ensure_loaded();
    let long = format!(r#"{{"msg": "{}"}}"#, "x".repeat(256));
    let mut out = scenario(&["--do", "reply-with-nlmsg-err"]);
    out += &scenario(&["--do", "echo"]);
    out += &scenario(&["--do", "echo", "--json", &long]);
    out += &scenario(&["--dump", "echo", "--json", r#"{"count": 0}"#]);
    out += &scenario(&["--do", "set-dump-count", "--json", r#"{"count": 100001}"#]);
    let before_6_0 = (!kernel_at_least(6, 0)).then_some("before-6.0");
    snapshot_for!(before_6_0, out);
}

/// The admin-only command: refused without CAP_NET_ADMIN, acked for root (and the default put back).
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn ynl_admin_only() {
    let _share = concurrent_portless();
    ensure_loaded();
    let set = |n: u32| format!(r#"{{"count": {n}}}"#);
    let five = set(5);
    let args = ["--do", "set-dump-count", "--json", five.as_str()];
    let mut out = doc(&args, &ynl(&args, true));
    out += &scenario(&args);
    out += &scenario(&["--dump", "echo"]);
    let three = set(3);
    out += &scenario(&["--do", "set-dump-count", "--json", &three]);
    snapshot!(out);
}

#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn ynl_stats() {
    let _share = concurrent();
    fresh_state();
    let mut out = scenario(&["--do", "echo", "--json", r#"{"msg": "one"}"#]);
    out += &scenario(&["--dump", "echo", "--json", r#"{"count": 2}"#]);
    out += &scenario(&["--do", "get-stats"]);
    out += &scenario(&["--dump", "get-stats"]);
    snapshot!(out);
}

/// Whether process `pid` has a generic netlink socket subscribed to a multicast group
/// (`/proc/net/netlink` of this thread's namespace: protocol 16, its port ID, a non-zero group
/// mask).
fn subscribed(pid: u32) -> bool {
    let table = std::fs::read_to_string("/proc/thread-self/net/netlink").unwrap_or_default();
    table.lines().skip(1).any(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        f.len() > 3 && f[1] == "16" && f[2] == pid.to_string() && f[3] != "00000000"
    })
}

/// Notifications: `ynl --subscribe events` prints the events of an echo and of a dump count
/// change. (The 6.12 tools cannot mix --subscribe and --do on one socket: two processes.) The
/// sleep is a deadline: the listener stops as soon as it has the two events.
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn ynl_notifications() {
    let _share = concurrent_portless();
    ensure_loaded();
    let args = ["--subscribe", "events", "--sleep", "10"];
    let events = ynl::Options {
        events: Some(2),
        ..ynl::Options::default()
    };
    let listener = ynl::start(&args, events);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !subscribed(listener.pid) {
        assert!(Instant::now() < deadline, "ynl did not subscribe in 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut out = String::new();
    for args in [["echo", "event"], ["set-dump-count", "3"]] {
        let mut command = Command::new(lab().client("gnl-raw"));
        command.args(args);
        let outcome = run_command_with_stdin(command, None);
        out += &format!("$ gnl-raw {}\n{}", args.join(" "), outcome.render());
    }
    out += &doc(&args, &listener.wait());
    snapshot!(out);
}

/// The policies, as `op do|dump: attr type bounds; ...` lines, from the spec and from the kernel.
const POLICIES: &str = include_str!("../../ynl_policies.py");

/// CTRL_CMD_GETPOLICY per op, from the kernel through ynl and the kernel's nlctrl spec.
fn kernel_policies() -> Outcome {
    let nlctrl = lab().client("ynl-specs").join("nlctrl.yaml");
    let nlctrl = nlctrl.to_str().expect("a UTF-8 path");
    let args = [
        "--spec",
        nlctrl,
        "--dump",
        "getpolicy",
        "--json",
        r#"{"family-name": "gnl_foobar_xmpl"}"#,
        "--output-json",
        "--no-schema",
    ];
    ynl(&args, false)
}

/// Every kernel the lab runs (5.10 on: per-op policy dumps came with 5.10) reports each op's
/// policy: they match the spec's request attributes and checks, op by op and do/dump (the policies
/// are generated from the spec; before 6.2, kmod/genl_compat.h folds them into one per command).
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn ynl_policies_match_the_spec() {
    let _share = concurrent();
    ensure_loaded();
    let kernel = kernel_policies();
    assert_eq!(kernel.code, Some(0), "getpolicy failed: {kernel:?}");
    let spec =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../kmod/gnl_foobar_xmpl.yaml");
    let mut python = Command::new("/usr/bin/python3");
    python.arg("-c").arg(POLICIES).arg(spec);
    let compared = run_command_with_stdin(python, Some(kernel.stdout.as_bytes()));
    assert_eq!(compared.code, Some(0), "{compared:?}");
    let (want, have) = compared.stdout.split_once("--\n").expect("two tables");
    assert_eq!(have, want, "the module's policies differ from the spec's");
    snapshot!(compared.stdout);
}
