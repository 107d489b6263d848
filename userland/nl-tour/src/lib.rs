//! The guided tour of generic netlink (`cargo lab tour`, `gnl-tour` in the guest): captures what
//! the clients and the kernel say on an `nlmon` device ([`capture`]), names every byte of it
//! ([`decode`]), shows it in 80 columns ([`render`]) or as JSON, and draws one request ([`svg`]).

pub mod capture;
pub mod decode;
pub mod render;
pub mod svg;

use std::fmt::Write as _;

use capture::{Capture, Datagram, Run};

/// The part of a step a datagram belongs to: family resolution (nlctrl), or the step itself.
pub fn part(run: &Run, datagram: &Datagram) -> &'static str {
    let nlctrl = datagram
        .messages
        .iter()
        .any(|m| m.ty == nl_codec::GENL_ID_CTRL)
        || datagram
            .messages
            .iter()
            .any(|m| m.answers == Some(nl_codec::GENL_ID_CTRL));
    if nlctrl {
        "resolve"
    } else {
        run.step.name
    }
}

/// The heading of a part: `--- gnl-raw/echo`; the tutorial's blocks are named after it.
pub fn part_heading(client: &str, part: &str) -> String {
    format!("--- {client}/{part}")
}

/// The whole tour as text: per client and step, the commands and what they printed, then each
/// datagram. Family resolution is shown in full in the first step, and summed up in the others.
pub fn text(capture: &Capture) -> String {
    let mut out = String::new();
    for run in &capture.runs {
        let title = format!("=== {}: {} ", run.client, run.step.name);
        writeln!(out, "{title:=<78}").unwrap();
        for command in &run.commands {
            writeln!(out, "$ {command}").unwrap();
        }
        for line in run.output.lines() {
            writeln!(out, "| {line}").unwrap();
        }
        let first_step = run.step.name == capture::STEPS[0].name;
        let mut current = "";
        let mut resolved = 0;
        for d in &run.datagrams {
            let part = part(run, d);
            if part == "resolve" && !first_step {
                resolved += 1;
                continue;
            }
            if part != current {
                writeln!(out, "\n{}", part_heading(&run.client, part)).unwrap();
                current = part;
            }
            render::datagram(&mut out, &d.data, &d.messages);
        }
        if resolved > 0 {
            writeln!(
                out,
                "\n(and before that, {resolved} datagrams resolving the family, as in {})",
                part_heading(&run.client, "resolve").trim_start_matches("--- ")
            )
            .unwrap();
        }
        writeln!(out).unwrap();
    }
    out
}

/// The whole tour as JSON, one object per message (a line each).
pub fn json(capture: &Capture) -> String {
    let mut out = String::new();
    for run in &capture.runs {
        for d in &run.datagrams {
            for (i, msg) in d.messages.iter().enumerate() {
                let mut v = decode::to_json(&d.data, msg);
                v["client"] = run.client.clone().into();
                v["step"] = run.step.name.into();
                v["part"] = part(run, d).into();
                v["direction"] = if msg.is_request() {
                    "to kernel"
                } else {
                    "from kernel"
                }
                .into();
                v["packet"] = (d.packet + 1).into();
                v["message"] = (i + 1).into();
                writeln!(out, "{v}").unwrap();
            }
        }
    }
    out
}

/// The blocks of a tour's text: `(client/part, lines)`, in order, without their headings and
/// trailing empty lines.
pub fn blocks(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        let heading = line.strip_prefix("--- ");
        if heading.is_some() || line.starts_with("=== ") || line.starts_with("(and before that") {
            if let Some((name, body)) = current.take() {
                out.push((name, body.trim_end().to_owned() + "\n"));
            }
            current = heading.map(|h| (h.to_owned(), String::new()));
            continue;
        }
        if let Some((_, body)) = &mut current {
            body.push_str(line);
            body.push('\n');
        }
    }
    if let Some((name, body)) = current {
        out.push((name, body.trim_end().to_owned() + "\n"));
    }
    out
}
