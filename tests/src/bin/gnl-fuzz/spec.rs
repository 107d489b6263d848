//! The family's YNL spec (`kmod/gnl_foobar_xmpl.yaml`, compiled in) as the fuzzer sees it: every
//! operation with its do and dump, every attribute with its type and checks, every multicast
//! group, and the policy the kernel applies to each request, derived as the kernel's `ynl-gen-c`
//! derives it (`kernel-policy`, `dont-validate`).

use std::collections::BTreeMap;

use serde::Deserialize;

/// The spec, as built into the fuzzer (a rebuild follows every edit of it).
const SPEC_YAML: &str = include_str!("../../../../kmod/gnl_foobar_xmpl.yaml");
/// Where it comes from, for messages.
pub const SPEC_PATH: &str = "kmod/gnl_foobar_xmpl.yaml";

/// The type of an attribute and its `checks`, as the kernel's policy validates it.
#[derive(Clone, Debug, PartialEq)]
pub enum AttrType {
    /// `unused` or `pad`: never in a policy.
    Unused,
    /// `flag`: no payload.
    Flag,
    /// `u8` to `u64`, `s8` to `s64`, with the `min`/`max` checks.
    Int {
        bytes: usize,
        signed: bool,
        min: Option<i128>,
        max: Option<i128>,
    },
    /// `string` (NUL-terminated unless `unterminated-ok`), with `max-len`.
    String {
        max_len: Option<usize>,
        unterminated_ok: bool,
    },
    /// `binary`, with `min-len`/`max-len`.
    Binary {
        min_len: Option<usize>,
        max_len: Option<usize>,
    },
}

impl AttrType {
    /// The smallest and largest value of an integer type, checks aside.
    pub fn int_bounds(bytes: usize, signed: bool) -> (i128, i128) {
        let bits = 8 * bytes as u32;
        if signed {
            (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
        } else {
            (0, (1i128 << bits) - 1)
        }
    }
}

/// One attribute of the family's attribute set.
#[derive(Clone, Debug)]
pub struct Attr {
    pub name: String,
    pub value: u16,
    pub kind: AttrType,
    /// `multi-attr`: may repeat in one message.
    pub multi: bool,
}

/// Do or dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    Do,
    Dump,
}

impl Mode {
    /// `do` or `dump`, as the spec spells it.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Do => "do",
            Mode::Dump => "dump",
        }
    }
}

/// What one mode of an operation takes and answers (attribute values).
#[derive(Clone, Debug, Default)]
pub struct ModeSpec {
    /// The request's attribute list; `None` when the spec gives no `request`.
    pub request: Option<Vec<u16>>,
    /// The reply's attribute list; `None` when the mode has no reply (a do answered by an ACK).
    pub reply: Option<Vec<u16>>,
}

/// One operation.
#[derive(Clone, Debug)]
pub struct Op {
    pub name: String,
    pub value: u8,
    pub modes: BTreeMap<Mode, ModeSpec>,
    /// An event (or notification): its attributes and multicast group.
    pub event: Option<(Vec<u16>, String)>,
    /// `dont-validate` flags: `strict`, `dump`, `dump-strict`.
    pub dont_validate: Vec<String>,
}

/// How the kernel's policies are laid out (`kernel-policy`, `split` by default as in ynl-gen-c).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelPolicy {
    /// One policy per op and mode.
    Split,
    /// One policy per op, the do request's, shared by the dump.
    PerOp,
    /// One policy for the family: every attribute some request takes.
    Global,
}

/// The kernel's policy for one request: the attributes it lists and its `maxattr`; attributes up
/// to `maxattr` that it does not list are `NLA_UNSPEC`.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    pub maxattr: u16,
    pub entries: BTreeMap<u16, AttrType>,
    /// Strict validation (else liberal: unknown attributes and trailing bytes pass).
    pub strict: bool,
}

/// The family's contract, read from its YNL spec.
#[derive(Clone, Debug)]
pub struct Spec {
    pub name: String,
    pub version: u8,
    pub attrs: Vec<Attr>,
    pub ops: Vec<Op>,
    pub groups: Vec<String>,
    pub kernel_policy: KernelPolicy,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawSpec {
    name: String,
    #[serde(default = "one")]
    version: u8,
    kernel_policy: Option<String>,
    #[serde(default)]
    definitions: Vec<RawDefinition>,
    attribute_sets: Vec<RawSet>,
    operations: RawOps,
    mcast_groups: Option<RawList<RawNamed>>,
}

fn one() -> u8 {
    1
}

#[derive(Deserialize)]
struct RawDefinition {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    value: Option<i128>,
}

#[derive(Deserialize)]
struct RawSet {
    name: String,
    attributes: Vec<RawAttr>,
}

/// A check's limit: a number or the name of a `const` definition.
#[derive(Deserialize)]
#[serde(untagged)]
enum Limit {
    Number(i128),
    Name(String),
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct RawChecks {
    min: Option<Limit>,
    max: Option<Limit>,
    min_len: Option<Limit>,
    max_len: Option<Limit>,
    #[serde(default)]
    unterminated_ok: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawAttr {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    value: Option<u16>,
    #[serde(default)]
    multi_attr: bool,
    #[serde(default)]
    checks: RawChecks,
}

#[derive(Deserialize)]
struct RawList<T> {
    list: Vec<T>,
}

#[derive(Deserialize)]
struct RawNamed {
    name: String,
}

#[derive(Deserialize)]
struct RawOps {
    list: Vec<RawOp>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawOp {
    name: String,
    value: Option<u8>,
    #[serde(rename = "do")]
    do_: Option<RawMode>,
    dump: Option<RawMode>,
    event: Option<RawAttrList>,
    notify: Option<String>,
    mcgrp: Option<String>,
    #[serde(default)]
    dont_validate: Vec<String>,
}

#[derive(Deserialize)]
struct RawMode {
    request: Option<RawAttrList>,
    reply: Option<RawAttrList>,
}

#[derive(Deserialize)]
struct RawAttrList {
    #[serde(default)]
    attributes: Vec<String>,
}

impl Spec {
    /// The spec built into the fuzzer.
    pub fn builtin() -> Result<Spec, String> {
        Spec::parse(SPEC_YAML)
    }

    /// Reads a spec; an error names the spec and what the fuzzer cannot model.
    pub fn parse(yaml: &str) -> Result<Spec, String> {
        let raw: RawSpec =
            serde_yaml_ng::from_str(yaml).map_err(|e| format!("{SPEC_PATH}: {e}"))?;
        let consts: BTreeMap<String, i128> = raw
            .definitions
            .iter()
            .filter(|d| d.kind == "const")
            .filter_map(|d| Some((d.name.clone(), d.value?)))
            .collect();
        let limit = |l: &Option<Limit>| -> Result<Option<i128>, String> {
            match l {
                None => Ok(None),
                Some(Limit::Number(n)) => Ok(Some(*n)),
                Some(Limit::Name(n)) => consts.get(n).copied().map(Some).ok_or_else(|| {
                    format!("{SPEC_PATH}: check limit {n} is not a const definition")
                }),
            }
        };
        let [set] = raw.attribute_sets.as_slice() else {
            return Err(format!(
                "{SPEC_PATH}: the fuzzer models one attribute set, the spec has {}",
                raw.attribute_sets.len()
            ));
        };
        let mut attrs = Vec::new();
        let mut next = 1;
        for a in &set.attributes {
            let value = a.value.unwrap_or(next);
            next = value + 1;
            let c = &a.checks;
            let len = |l| limit(l).map(|v| v.map(|n| n as usize));
            let int = |bytes, signed| -> Result<AttrType, String> {
                Ok(AttrType::Int {
                    bytes,
                    signed,
                    min: limit(&c.min)?,
                    max: limit(&c.max)?,
                })
            };
            let kind = match a.kind.as_str() {
                "unused" | "pad" => AttrType::Unused,
                "flag" => AttrType::Flag,
                "u8" => int(1, false)?,
                "u16" => int(2, false)?,
                "u32" => int(4, false)?,
                "u64" => int(8, false)?,
                "s8" => int(1, true)?,
                "s16" => int(2, true)?,
                "s32" => int(4, true)?,
                "s64" => int(8, true)?,
                "string" => AttrType::String {
                    max_len: len(&c.max_len)?,
                    unterminated_ok: c.unterminated_ok,
                },
                "binary" => AttrType::Binary {
                    min_len: len(&c.min_len)?,
                    max_len: len(&c.max_len)?,
                },
                other => {
                    return Err(format!(
                        "{SPEC_PATH}: attribute {} has type {other}, which the fuzzer does not \
                         model yet (tests/src/bin/gnl-fuzz/spec.rs)",
                        a.name
                    ))
                }
            };
            attrs.push(Attr {
                name: a.name.clone(),
                value,
                kind,
                multi: a.multi_attr,
            });
        }
        let attr_value = |name: &String| -> Result<u16, String> {
            attrs
                .iter()
                .find(|a| &a.name == name)
                .map(|a| a.value)
                .ok_or_else(|| format!("{SPEC_PATH}: attribute {name} is not in set {}", set.name))
        };
        let list = |l: &Option<RawAttrList>| -> Result<Option<Vec<u16>>, String> {
            l.as_ref()
                .map(|l| l.attributes.iter().map(attr_value).collect())
                .transpose()
        };
        let mut ops: Vec<Op> = Vec::new();
        let mut next = 0u8;
        for o in &raw.operations.list {
            let value = o.value.unwrap_or(next);
            next = value.wrapping_add(1);
            let mut modes = BTreeMap::new();
            for (mode, raw_mode) in [(Mode::Do, &o.do_), (Mode::Dump, &o.dump)] {
                if let Some(m) = raw_mode {
                    let spec = ModeSpec {
                        request: list(&m.request)?,
                        reply: list(&m.reply)?,
                    };
                    modes.insert(mode, spec);
                }
            }
            let event_attrs = match (&o.event, &o.notify) {
                (Some(e), _) => Some(list(&Some(RawAttrList {
                    attributes: e.attributes.clone(),
                }))?),
                (None, Some(of)) => {
                    let op = ops.iter().find(|p| &p.name == of).ok_or_else(|| {
                        format!(
                            "{SPEC_PATH}: {} notifies {of}, an unknown operation",
                            o.name
                        )
                    })?;
                    Some(op.modes.get(&Mode::Do).and_then(|m| m.reply.clone()))
                }
                (None, None) => None,
            };
            let event = match (event_attrs, &o.mcgrp) {
                (Some(a), Some(g)) => Some((a.unwrap_or_default(), g.clone())),
                _ => None,
            };
            ops.push(Op {
                name: o.name.clone(),
                value,
                modes,
                event,
                dont_validate: o.dont_validate.clone(),
            });
        }
        let kernel_policy = match raw.kernel_policy.as_deref() {
            None | Some("split") => KernelPolicy::Split,
            Some("per-op") => KernelPolicy::PerOp,
            Some("global") => KernelPolicy::Global,
            Some(other) => return Err(format!("{SPEC_PATH}: kernel-policy {other} is unknown")),
        };
        Ok(Spec {
            name: raw.name,
            version: raw.version,
            attrs,
            ops,
            groups: raw
                .mcast_groups
                .map(|g| g.list.into_iter().map(|n| n.name).collect())
                .unwrap_or_default(),
            kernel_policy,
        })
    }

    /// The attribute of this value, if the set has one.
    pub fn attr(&self, value: u16) -> Option<&Attr> {
        self.attrs.iter().find(|a| a.value == value)
    }

    /// The attribute of this name (the semantic checks name them).
    pub fn attr_named(&self, name: &str) -> Result<&Attr, String> {
        self.attrs
            .iter()
            .find(|a| a.name == name)
            .ok_or_else(|| format!("{SPEC_PATH} has no attribute {name}"))
    }

    /// The operation of this name.
    pub fn op_named(&self, name: &str) -> Result<&Op, String> {
        self.ops
            .iter()
            .find(|o| o.name == name)
            .ok_or_else(|| format!("{SPEC_PATH} has no operation {name}"))
    }

    /// The operation a request with this command and mode reaches, if any (events share their
    /// values with requests but take none).
    pub fn request_op(&self, cmd: u8, mode: Mode) -> Option<&Op> {
        self.ops
            .iter()
            .find(|o| o.value == cmd && o.modes.contains_key(&mode))
    }

    /// Whether some operation with this command takes requests at all.
    pub fn is_request_cmd(&self, cmd: u8) -> bool {
        self.ops
            .iter()
            .any(|o| o.value == cmd && !o.modes.is_empty())
    }

    /// Every (operation, mode) a request can reach, in spec order.
    pub fn requests(&self) -> Vec<(&Op, Mode)> {
        self.ops
            .iter()
            .flat_map(|o| o.modes.keys().map(move |m| (o, *m)))
            .collect()
    }

    /// The attributes a policy lists, as ynl-gen-c lays the policies out; `None`: no policy.
    fn policy_list(&self, op: &Op, mode: Mode) -> Option<Vec<u16>> {
        let request = |o: &Op, m| o.modes.get(&m).and_then(|s| s.request.clone());
        let list = match self.kernel_policy {
            KernelPolicy::Split => request(op, mode),
            KernelPolicy::PerOp => request(op, Mode::Do),
            KernelPolicy::Global => {
                let mut all: Vec<u16> = self
                    .requests()
                    .into_iter()
                    .filter_map(|(o, m)| request(o, m))
                    .flatten()
                    .collect();
                all.sort_unstable();
                all.dedup();
                Some(all)
            }
        };
        list.filter(|l| !l.is_empty())
    }

    /// The kernel's policy for a request of this op and mode: `None` when the op has none (then
    /// the kernel's own rules apply), and `Some(None)` when the dump is not validated at all.
    pub fn policy(&self, op: &Op, mode: Mode) -> Option<Option<Policy>> {
        let flag = |f: &str| op.dont_validate.iter().any(|d| d == f);
        if mode == Mode::Dump && flag("dump") {
            return Some(None);
        }
        let strict = match mode {
            Mode::Do => !flag("strict"),
            Mode::Dump => !flag("dump-strict"),
        };
        let list = self.policy_list(op, mode)?;
        let entries: BTreeMap<u16, AttrType> = list
            .iter()
            .filter_map(|v| Some((*v, self.attr(*v)?.kind.clone())))
            .filter(|(_, k)| *k != AttrType::Unused)
            .collect();
        Some(Some(Policy {
            maxattr: list.iter().copied().max().unwrap_or(0),
            entries,
            strict,
        }))
    }

    /// The op whose event has this command, if any.
    pub fn event_op(&self, cmd: u8) -> Option<&Op> {
        self.ops
            .iter()
            .find(|o| o.value == cmd && o.event.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_spec_has_every_op_attribute_and_group() {
        let spec = Spec::builtin().unwrap();
        assert_eq!(spec.name, "gnl_foobar_xmpl");
        let echo = spec.op_named("echo").unwrap();
        assert_eq!(echo.value, 1);
        assert!(echo.modes.contains_key(&Mode::Do) && echo.modes.contains_key(&Mode::Dump));
        let count = spec.attr_named("count").unwrap();
        assert_eq!(
            count.kind,
            AttrType::Int {
                bytes: 4,
                signed: false,
                min: Some(1),
                max: Some(100_000)
            }
        );
        assert!(spec.attr_named("stat-name").unwrap().multi);
        assert_eq!(spec.op_named("set-dump-count").unwrap().value, 3);
        assert_eq!(spec.op_named("get-stats").unwrap().value, 4);
        assert_eq!(spec.groups, ["events"]);
        // Events share their values with requests, but a request never reaches them.
        assert_eq!(spec.request_op(1, Mode::Do).unwrap().name, "echo");
        assert_eq!(spec.event_op(3).unwrap().name, "set-dump-count-ntf");
    }

    #[test]
    fn policies_follow_the_kernel_policy_layout() {
        let mut spec = Spec::builtin().unwrap();
        let echo = spec.op_named("echo").unwrap().clone();
        let stats = spec.op_named("get-stats").unwrap().clone();
        let msg = spec.attr_named("msg").unwrap().value;
        let count = spec.attr_named("count").unwrap().value;
        for layout in [KernelPolicy::Split, KernelPolicy::PerOp] {
            spec.kernel_policy = layout;
            let p = spec.policy(&echo, Mode::Dump).unwrap().unwrap();
            assert_eq!(p.maxattr, count);
            assert!(p.entries.contains_key(&msg) && p.strict);
            assert_eq!(spec.policy(&stats, Mode::Do), None);
        }
        spec.kernel_policy = KernelPolicy::Global;
        assert_eq!(
            spec.policy(&stats, Mode::Do).unwrap().unwrap().maxattr,
            count
        );
    }
}
