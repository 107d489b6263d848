#!/usr/bin/env python3
# The policies of gnl_foobar_xmpl, as `op do|dump: attr type bounds; ...` lines: first from the
# spec (argv[1]), then "--", then from the kernel (CTRL_CMD_GETPOLICY as `ynl --output-json`
# prints it, on stdin). The two halves are equal when the module's policies are the spec's.
# Used by the suite (tests/tests/suite/ynl.rs) and by .ci/add-command.
import json, sys, yaml
spec = yaml.safe_load(open(sys.argv[1]))
attrs = {a["name"]: a for a in spec["attribute-sets"][0]["attributes"]}
ids, n = {}, 0
for a in spec["attribute-sets"][0]["attributes"]:
    n = a.get("value", n)
    ids[a["name"]] = n
    n += 1
consts = {d["name"]: d["value"] for d in spec.get("definitions", []) if d["type"] == "const"}
def value(v):
    return consts.get(v, v)
def from_spec(name):
    a = attrs[name]
    c = a.get("checks", {})
    t = {"string": "nul-string"}.get(a["type"], a["type"])
    words = [name, t]
    if "max-len" in c: words += ["max-length", str(value(c["max-len"]))]
    # The kernel reports an unsigned integer's range, the type's whole one when unchecked.
    bits = {"u8": 8, "u16": 16, "u32": 32, "u64": 64}.get(a["type"])
    if bits:
        words += ["min-value-u", str(value(c.get("min", 0)))]
        words += ["max-value-u", str(value(c.get("max", 2**bits - 1)))]
    return " ".join(words)
names = {v: k for k, v in ids.items()}
def from_kernel(aid, p):
    words = [names.get(aid, str(aid)), p["type"]]
    for k in ["max-length", "min-value-u", "max-value-u"]:
        if k in p: words += [k, str(p[k])]
    return " ".join(words)
want, have = [], []
ops, n = {}, 0
for op in spec["operations"]["list"]:
    n = op.get("value", n)
    if "do" in op or "dump" in op:  # events share their command's number
        ops[n] = op
    n += 1
kernel = json.load(sys.stdin)
op_policy, policies = {}, {}
# ynl decodes the type-value nests into their ids plus the nested attributes.
for msg in kernel:
    op = msg.get("op-policy")
    if op:
        op = dict(op)
        op_policy.setdefault(op.pop("op-id"), {}).update(op)
    p = msg.get("policy")
    if p:
        p = dict(p)
        policies.setdefault(p.pop("policy-id"), {})[p.pop("attr-id")] = p
for cmd, op in sorted(ops.items()):
    for kind in ["do", "dump"]:
        if kind not in op:
            continue
        req = op[kind].get("request", {}).get("attributes", [])
        want.append(f"{op['name']} {kind}: " + "; ".join(sorted(from_spec(a) for a in req)))
        pid = op_policy.get(cmd, {}).get(kind)
        table = policies.get(pid, {}) if pid is not None else {}
        # An attribute the spec leaves out is rejected: NLA_REJECT, or absent from the policy.
        got = [from_kernel(a, p) for a, p in table.items() if p["type"] != "reject"]
        have.append(f"{op['name']} {kind}: " + "; ".join(sorted(got)))
print("\n".join(want))
print("--")
print("\n".join(have))
