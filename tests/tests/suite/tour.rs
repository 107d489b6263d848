//! `tour`: `gnl-tour` captures the clients on nlmon, and the tutorial's examples
//! (`docs/tutorial.md`, the ```` ```text tour:NAME ```` blocks) are what it captured.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use genl_lab_tests::{concurrent, ensure_loaded, lab, normalize_tour, run_command};

/// The tutorial, from the workspace (the guest sees the host's checkout).
const TUTORIAL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/tutorial.md");

/// The client a block without one (`tour:echo`) shows.
const DEFAULT_CLIENT: &str = lab_facts::GNL_RAW;

/// The tutorial's `tour:` blocks, as (`client/part`, text, line number).
fn tutorial_blocks(page: &str) -> Vec<(String, String, usize)> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, String, usize)> = None;
    for (i, line) in page.lines().enumerate() {
        if let Some((name, body, at)) = &mut open {
            if line.trim_end() == "```" {
                blocks.push((name.clone(), body.clone(), *at));
                open = None;
            } else {
                body.push_str(line);
                body.push('\n');
            }
        } else if let Some(name) = line.trim().strip_prefix("```text tour:") {
            let name = if name.contains('/') {
                name.to_owned()
            } else {
                format!("{DEFAULT_CLIENT}/{name}")
            };
            open = Some((name, String::new(), i + 1));
        }
    }
    assert!(open.is_none(), "{TUTORIAL}: a tour block is not closed");
    blocks
}

/// A unified-looking diff of two texts, line by line (`-` the page, `+` the capture).
fn diff(page: &str, captured: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (page.lines().collect(), captured.lines().collect());
    let mut out = String::new();
    for i in 0..a.len().max(b.len()) {
        match (a.get(i), b.get(i)) {
            (Some(x), Some(y)) if x == y => out.push_str(&format!("  {x}\n")),
            (x, y) => {
                if let Some(x) = x {
                    out.push_str(&format!("- {x}\n"));
                }
                if let Some(y) = y {
                    out.push_str(&format!("+ {y}\n"));
                }
            }
        }
    }
    out
}

/// Every `tour:` block of the tutorial is what `gnl-tour` shows for that client and part now,
/// up to the numbers the kernel assigns at run time (normalized on both sides).
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn tutorial_examples_are_a_real_capture() {
    let _share = concurrent();
    ensure_loaded();
    let page = std::fs::read_to_string(TUTORIAL).expect("read docs/tutorial.md");
    let wanted = tutorial_blocks(&page);
    assert!(wanted.len() >= 6, "docs/tutorial.md lost its tour blocks");
    let mut clients: Vec<&str> = wanted
        .iter()
        .filter_map(|(name, _, _)| name.split('/').next())
        .collect();
    clients.sort();
    clients.dedup();
    let mut tour = Command::new(lab().client("gnl-tour"));
    for client in &clients {
        tour.args(["--client", client]);
    }
    let out = run_command(tour);
    assert_eq!(out.code, Some(0), "gnl-tour failed: {}", out.stderr);
    let captured: BTreeMap<String, String> = nl_tour::blocks(&out.stdout).into_iter().collect();
    let mut wrong = String::new();
    for (name, text, line) in &wanted {
        let Some(now) = captured.get(name) else {
            wrong.push_str(&format!(
                "\ndocs/tutorial.md:{line}: tour:{name} is no part of the tour (parts: {:?})\n",
                captured.keys().collect::<Vec<_>>()
            ));
            continue;
        };
        let (page_text, now_text) = (normalize_tour(text), normalize_tour(now));
        if page_text != now_text {
            wrong.push_str(&format!(
                "\ndocs/tutorial.md:{line}: tour:{name} differs from the capture \
                 (- page, + capture, numbers the kernel assigns normalized):\n{}",
                diff(&page_text, &now_text)
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{wrong}\nThe tutorial's examples must be real: run `cargo lab tour --kernel {}` and \
         replace each block above with the section `--- CLIENT/PART` it prints (then explain \
         what changed in the text around it).",
        lab().kernel
    );
}

/// The README's diagram, drawn by `gnl-tour --svg` from the first echo request it captures.
const DIAGRAM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/genl-message.svg");

/// `--json` says the same as the text: one object per message, each naming its step and part,
/// with every byte of the message; the pcap holds every datagram shown; and the diagram drawn
/// from this capture's echo request is `docs/genl-message.svg`, but for the numbers assigned at
/// run time.
#[test]
#[ignore = "runs in the lab's guest VM as root: `cargo lab test`"]
fn tour_json_pcap_and_diagram() {
    let _share = concurrent();
    ensure_loaded();
    let pcap = std::env::temp_dir().join("tour-test.pcap");
    let svg = std::env::temp_dir().join("tour-test.svg");
    let mut tour = Command::new(lab().client("gnl-tour"));
    tour.args(["--json", "--client", DEFAULT_CLIENT, "--pcap"])
        .arg(&pcap)
        .arg("--svg")
        .arg(&svg);
    let out = run_command(tour);
    assert_eq!(out.code, Some(0), "gnl-tour failed: {}", out.stderr);
    let messages: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let steps: Vec<&str> = messages.iter().filter_map(|m| m["step"].as_str()).collect();
    for step in ["echo", "dump", "error", "admin", "event"] {
        assert!(
            steps.contains(&step),
            "no message of step {step} in {steps:?}"
        );
    }
    let summaries: Vec<&str> = messages
        .iter()
        .filter_map(|m| m["summary"].as_str())
        .collect();
    for expected in [
        "CTRL_CMD_GETFAMILY request",
        "CTRL_CMD_NEWFAMILY reply",
        "GNL_FOOBAR_XMPL_CMD_ECHO request",
        "GNL_FOOBAR_XMPL_CMD_ECHO reply",
        "GNL_FOOBAR_XMPL_CMD_ECHO dump request",
        "NLMSG_DONE: the end of the dump",
        "NLMSG_ERROR -22: EINVAL",
        "NLMSG_ERROR -1: EPERM",
        "GNL_FOOBAR_XMPL_CMD_ECHO event",
    ] {
        assert!(
            summaries.contains(&expected),
            "no {expected:?} in {summaries:#?}"
        );
    }
    for m in &messages {
        let hex = m["bytes"].as_str().unwrap();
        assert_eq!(
            hex.split(' ').count() as u64,
            m["len"].as_u64().unwrap(),
            "{m}"
        );
    }
    let packets = messages
        .iter()
        .filter_map(|m| m["packet"].as_u64())
        .max()
        .unwrap();
    let file = std::fs::File::open(&pcap).expect("gnl-tour wrote the pcap");
    let mut reader = pcap_file::pcap::PcapReader::new(file).expect("a pcap file");
    assert_eq!(reader.header().datalink, pcap_file::DataLink::NETLINK);
    let mut count = 0;
    while let Some(p) = reader.next_packet() {
        p.expect("a whole packet");
        count += 1;
    }
    assert_eq!(count, packets, "the pcap holds exactly the datagrams shown");
    std::fs::remove_file(Path::new(&pcap)).ok();

    let drawn = std::fs::read_to_string(&svg).expect("gnl-tour drew the diagram");
    let committed = std::fs::read_to_string(DIAGRAM).unwrap_or_default();
    assert!(
        nl_tour::svg::normalize(&committed) == nl_tour::svg::normalize(&drawn),
        "docs/genl-message.svg is not what gnl-tour draws from this capture's echo request:\n{}\n\
         Run `cargo lab tour --kernel {}` and copy target/lab/{1}/genl-message.svg to docs/.",
        diff(&committed, &drawn),
        lab().kernel
    );
    std::fs::remove_file(Path::new(&svg)).ok();
}
