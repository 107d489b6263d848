//! Generates `uapi.rs` from the C UAPI headers in `userland/include/`: every `#define` of a number
//! or a string and every enum member becomes a `pub const` of the same name, so the Rust side has
//! no second copy of the contract to keep in step.

use std::{collections::HashMap, env, fmt::Write as _, fs, path::Path};

/// The headers, relative to this crate.
const HEADERS: [&str; 2] = [
    "../include/gnl_foobar_xmpl.h",
    "../include/nl_foobar_xmpl.h",
];

/// Names the headers use from `<linux/netlink.h>`.
const KNOWN: [(&str, i64); 1] = [("NLMSG_MIN_TYPE", 0x10)];

/// The header without its comments.
fn strip_comments(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("/*") {
        out.push_str(&rest[..start]);
        rest = rest[start..]
            .find("*/")
            .map_or("", |end| &rest[start + end + 2..]);
    }
    out + rest
}

/// A value: a number, a known name, or `NAME - 1`, perhaps in parentheses (ynl-gen-c writes
/// `(__X_MAX - 1)`).
fn eval(expr: &str, known: &HashMap<String, i64>) -> Option<i64> {
    let expr = expr.trim();
    if let Some(inner) = expr.strip_prefix('(').and_then(|e| e.strip_suffix(')')) {
        return eval(inner, known);
    }
    if let Some((name, n)) = expr.split_once(" - ") {
        return Some(eval(name, known)? - n.trim().parse::<i64>().ok()?);
    }
    expr.parse().ok().or_else(|| known.get(expr).copied())
}

fn generate(header: &str, known: &mut HashMap<String, i64>, out: &mut String) {
    let text = strip_comments(header);
    let mut in_enum = false;
    let mut next = 0;
    for line in text.lines().map(str::trim) {
        if let Some(def) = line.strip_prefix("#define ") {
            let Some((name, value)) = def.split_once(char::is_whitespace) else {
                continue; // an include guard
            };
            let value = value.trim();
            if value.starts_with('"') {
                writeln!(out, "pub const {name}: &str = {value};").unwrap();
            } else if let Some(n) = eval(value, known) {
                known.insert(name.to_owned(), n);
                // A protocol number is the `int` of socket(2).
                let ty = if name.starts_with("NETLINK_") {
                    "i32"
                } else {
                    "u32"
                };
                writeln!(out, "pub const {name}: {ty} = {n};").unwrap();
            }
        } else if line.starts_with("enum") {
            (in_enum, next) = (true, 0);
        } else if line.starts_with('}') {
            in_enum = false;
        } else if in_enum {
            for member in line.split(',').map(str::trim).filter(|m| !m.is_empty()) {
                let (name, value) = match member.split_once('=') {
                    Some((name, expr)) => (name.trim(), eval(expr, known).expect(member)),
                    None => (member, next),
                };
                known.insert(name.to_owned(), value);
                next = value + 1;
                // The wire's field widths: genl command u8, attribute type and message type u16.
                let ty = if name.contains("_CMD_") { "u8" } else { "u16" };
                if !name.starts_with("__") {
                    writeln!(out, "pub const {name}: {ty} = {value};").unwrap();
                }
            }
        }
    }
}

fn main() {
    let mut known: HashMap<String, i64> =
        KNOWN.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect();
    let mut out = String::new();
    for header in HEADERS {
        println!("cargo:rerun-if-changed={header}");
        let text = fs::read_to_string(header).unwrap_or_else(|e| panic!("{header}: {e}"));
        writeln!(out, "// from userland/include/{}", &header[11..]).unwrap();
        generate(&text, &mut known, &mut out);
    }
    let dest = Path::new(&env::var("OUT_DIR").unwrap()).join("uapi.rs");
    fs::write(dest, out).unwrap();
}
