//! Generates `uapi.rs` from the C UAPI headers in `userland/include/`: every `#define` of a number
//! or a string and every enum member becomes a `pub const` of the same name, so the Rust side has
//! no second copy of the contract to keep in step. Each enum also becomes a name table
//! (`<PREFIX>NAMES`, value and name, for decoders), and the family's attributes get their YNL
//! types from the spec the header is generated from (`kmod/gnl_foobar_xmpl.yaml`).

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

/// The longest common prefix of `names` that ends with `_` (`GNL_FOOBAR_XMPL_A_`).
fn common_prefix(names: &[(String, i64)]) -> String {
    let first = names.first().map_or("", |(n, _)| n.as_str());
    let mut len = first.len();
    for (name, _) in names {
        len = len.min(
            first
                .bytes()
                .zip(name.bytes())
                .take_while(|(a, b)| a == b)
                .count(),
        );
    }
    first[..len]
        .rfind('_')
        .map_or(String::new(), |i| first[..=i].to_owned())
}

/// The name table of one enum: `(value, name)` for each value, its first name only (a value
/// named twice, like `..._CMD_ECHO` and `..._CMD_ECHO_NTF`, decodes to the first).
fn name_table(members: &[(String, i64)], out: &mut String) {
    let prefix = common_prefix(members);
    let ty = if prefix.contains("_CMD_") {
        "u8"
    } else {
        "u16"
    };
    writeln!(out, "/// The members of the `{prefix}*` enum by value.").unwrap();
    writeln!(out, "pub const {prefix}NAMES: &[({ty}, &str)] = &[").unwrap();
    let mut seen = Vec::new();
    for (name, value) in members {
        if !seen.contains(value) {
            seen.push(*value);
            writeln!(out, "    ({value}, \"{name}\"),").unwrap();
        }
    }
    writeln!(out, "];").unwrap();
}

fn generate(header: &str, known: &mut HashMap<String, i64>, out: &mut String) {
    let text = strip_comments(header);
    let mut in_enum = false;
    let mut members: Vec<(String, i64)> = Vec::new();
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
            members.clear();
        } else if line.starts_with('}') && in_enum {
            in_enum = false;
            name_table(&members, out);
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
                    if !name.ends_with("_MAX") {
                        members.push((name.to_owned(), value));
                    }
                }
            }
        }
    }
}

/// The family's spec, which the header is generated from.
const SPEC: &str = "../../kmod/gnl_foobar_xmpl.yaml";

/// `GNL_FOOBAR_XMPL_A_TYPES`: each attribute's YNL type (`string`, `u32`, ...) by its C name,
/// from the spec's attribute set (name-prefix plus name, upper case, `-` as `_`).
fn attribute_types(spec: &str, out: &mut String) {
    let docs =
        yaml_rust2::YamlLoader::load_from_str(spec).unwrap_or_else(|e| panic!("{SPEC}: {e}"));
    let set = &docs[0]["attribute-sets"][0];
    let prefix = set["name-prefix"]
        .as_str()
        .expect("the attribute set's name-prefix");
    let c_name = |name: &str| format!("{prefix}{name}").to_uppercase().replace('-', "_");
    writeln!(
        out,
        "/// The family's attributes' YNL types, by C name (from `kmod/gnl_foobar_xmpl.yaml`)."
    )
    .unwrap();
    writeln!(out, "pub const {}TYPES: &[(&str, &str)] = &[", c_name("")).unwrap();
    for attr in set["attributes"]
        .as_vec()
        .expect("the attribute set's attributes")
    {
        let name = attr["name"].as_str().expect("an attribute's name");
        let ty = attr["type"].as_str().expect("an attribute's type");
        writeln!(out, "    (\"{}\", \"{ty}\"),", c_name(name)).unwrap();
    }
    writeln!(out, "];").unwrap();
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
    println!("cargo:rerun-if-changed={SPEC}");
    let spec = fs::read_to_string(SPEC).unwrap_or_else(|e| panic!("{SPEC}: {e}"));
    attribute_types(&spec, &mut out);
    let dest = Path::new(&env::var("OUT_DIR").unwrap()).join("uapi.rs");
    fs::write(dest, out).unwrap();
}
