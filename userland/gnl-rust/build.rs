//! Generates `enums.rs`: the family's commands and attributes as neli enums, from its YNL spec
//! (`kmod/gnl_foobar_xmpl.yaml`), so that a command or attribute added to the spec is one here
//! too. Each variant's number is the C header's constant of the same name (`nl_codec::uapi`,
//! generated from the header the spec generates), so a stale header fails to compile.

use std::{env, fmt::Write as _, fs, path::Path};

use yaml_rust2::{Yaml, YamlLoader};

/// The family's spec, relative to this crate.
const SPEC: &str = "../../kmod/gnl_foobar_xmpl.yaml";

/// `echo-msg` as `EchoMsg`.
fn camel(name: &str) -> String {
    name.split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or(String::new(), |first| {
                first.to_uppercase().chain(chars).collect()
            })
        })
        .collect()
}

/// The C name of `name` under the YNL `prefix` (`gnl-foobar-xmpl-a-` and `msg`:
/// `GNL_FOOBAR_XMPL_A_MSG`), as ynl-gen-c writes it.
fn c_name(prefix: &str, name: &str) -> String {
    format!("{prefix}{name}").to_uppercase().replace('-', "_")
}

/// The spec's string at `key`, or the build stops naming it.
fn text<'a>(node: &'a Yaml, key: &str) -> &'a str {
    node[key]
        .as_str()
        .unwrap_or_else(|| panic!("{SPEC}: no string `{key}` in {node:?}"))
}

/// The spec's `doc` on one line, as the variant's doc comment.
fn doc_line(node: &Yaml) -> String {
    let doc = node["doc"].as_str().unwrap_or("");
    doc.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// One neli enum: `(variant, C constant, doc)` members of the wire type `ty`.
fn neli_enum(
    out: &mut String,
    name: &str,
    what: &str,
    ty: &str,
    members: &[(String, String, String)],
) {
    writeln!(
        out,
        "/// {what} (generated from `kmod/gnl_foobar_xmpl.yaml`)."
    )
    .unwrap();
    writeln!(out, "#[neli_enum(serialized_type = \"{ty}\")]").unwrap();
    writeln!(out, "pub enum {name} {{").unwrap();
    for (variant, constant, doc) in members {
        writeln!(out, "    /// `{constant}`: {doc}").unwrap();
        writeln!(out, "    {variant} = c::{constant},").unwrap();
    }
    writeln!(out, "}}").unwrap();
}

fn main() {
    println!("cargo:rerun-if-changed={SPEC}");
    let text_of_spec = fs::read_to_string(SPEC).unwrap_or_else(|e| panic!("{SPEC}: {e}"));
    let docs = YamlLoader::load_from_str(&text_of_spec).unwrap_or_else(|e| panic!("{SPEC}: {e}"));
    let spec = &docs[0];

    // The requests: operations with a do or a dump (an event shares its command's number).
    let ops = &spec["operations"];
    let op_prefix = text(ops, "name-prefix");
    let commands: Vec<_> = ops["list"]
        .as_vec()
        .unwrap_or_else(|| panic!("{SPEC}: no operations list"))
        .iter()
        .filter(|op| !op["do"].is_badvalue() || !op["dump"].is_badvalue())
        .map(|op| {
            let name = text(op, "name");
            (camel(name), c_name(op_prefix, name), doc_line(op))
        })
        .collect();

    // The attributes that carry data: not the unused 0, not the alignment padding.
    let set = &spec["attribute-sets"][0];
    let attr_prefix = text(set, "name-prefix");
    let attributes: Vec<_> = set["attributes"]
        .as_vec()
        .unwrap_or_else(|| panic!("{SPEC}: no attributes"))
        .iter()
        .filter(|attr| !matches!(text(attr, "type"), "unused" | "pad"))
        .map(|attr| {
            let name = text(attr, "name");
            (camel(name), c_name(attr_prefix, name), doc_line(attr))
        })
        .collect();

    let mut out = String::new();
    neli_enum(&mut out, "Cmd", "Commands of the family", "u8", &commands);
    writeln!(out, "impl neli::consts::genl::Cmd for Cmd {{}}").unwrap();
    neli_enum(
        &mut out,
        "Attr",
        "Attributes of the family",
        "u16",
        &attributes,
    );
    writeln!(out, "impl neli::consts::genl::NlAttrType for Attr {{}}").unwrap();
    let dest = Path::new(&env::var("OUT_DIR").unwrap()).join("enums.rs");
    fs::write(dest, out).unwrap();
}
