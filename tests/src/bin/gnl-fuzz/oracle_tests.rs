//! Host tests of the oracle: its predictions from the spec and the kernel's rules, and the cases
//! where it was wrong before (a Maybe answered twice, set-dump-count without ACK, multicast events
//! taken for unicast).

use super::*;

const FAMILY: u16 = 0x20;
const PORT: u32 = 4242;

fn oracle(release: &str) -> Oracle {
    let spec = Spec::builtin().unwrap();
    Oracle {
        semantics: Semantics::new(&spec).unwrap(),
        spec,
        family: FAMILY,
        rules: KernelRules::for_release(release),
    }
}

fn attr(o: &Oracle, name: &str, value: &[u8]) -> Vec<u8> {
    nl::attr(o.spec.attr_named(name).unwrap().value, value)
}

fn request(o: &Oracle, op: &str, flags: u16, attrs: &[Vec<u8>]) -> Vec<u8> {
    let cmd = o.spec.op_named(op).unwrap().value;
    nl::message(FAMILY, flags, 1, &nl::genl(cmd, attrs))
}

fn predict(o: &Oracle, msg: &[u8]) -> Pending {
    o.predict(msg, "the request".into())
}

/// An `NLMSG_ERROR` with `code` and extack naming the attribute at `offs`.
fn error(code: i32, offs: Option<u32>) -> Msg {
    let mut payload = code.to_ne_bytes().to_vec();
    payload.extend_from_slice(&[0; HDRLEN]);
    payload[4..8].copy_from_slice(&(HDRLEN as u32).to_ne_bytes());
    let mut flags = nl::F_CAPPED;
    if let Some(at) = offs {
        flags |= nl::F_ACK_TLVS;
        payload.extend(nl::attr(nl::NLMSGERR_ATTR_OFFS, &at.to_ne_bytes()));
    }
    Msg {
        ty: nl::NLMSG_ERROR,
        flags,
        seq: 1,
        pid: PORT,
        payload,
    }
}

fn reply(o: &Oracle, op: &str, flags: u16, attrs: &[Vec<u8>]) -> Msg {
    let cmd = o.spec.op_named(op).unwrap().value;
    Msg {
        ty: FAMILY,
        flags,
        seq: 1,
        pid: PORT,
        payload: nl::genl(cmd, attrs),
    }
}

#[test]
fn set_dump_count_without_ack_is_answered_only_when_refused() {
    let o = oracle("6.1.0-57-amd64");
    let count = attr(&o, "count", &5u32.to_ne_bytes());
    // Its success says nothing: an answer would be a violation, silence is not.
    let p = predict(
        &o,
        &request(
            &o,
            "set-dump-count",
            F_REQUEST,
            std::slice::from_ref(&count),
        ),
    );
    assert_eq!((p.expect, p.done), (Expect::Never, true));
    let mut p = predict(
        &o,
        &request(&o, "set-dump-count", F_REQUEST | F_ACK, &[count]),
    );
    assert_eq!(p.expect, Expect::Must);
    assert_eq!(
        p.take(&error(0, None), Some(&o), true).0,
        Vec::<String>::new()
    );
    // Without count its handler refuses it: that must be answered.
    let p = predict(&o, &request(&o, "set-dump-count", F_REQUEST, &[]));
    assert_eq!(p.expect, Expect::Must);
}

#[test]
fn a_maybe_may_be_answered_twice_a_must_may_not() {
    let o = oracle("6.1.0-57-amd64");
    let mut p = predict(&o, &request(&o, "reply-with-nlmsg-err", F_REQUEST, &[]));
    let refused = error(-libc::EINVAL, None);
    assert!(p.take(&refused, Some(&o), true).0.is_empty());
    assert!(p
        .take(&refused, Some(&o), true)
        .0
        .iter()
        .any(|e| e.contains("answered twice")));
    p.anything_goes();
    assert!(p.take(&refused, Some(&o), true).0.is_empty());
}

#[test]
fn multicast_events_are_read_as_multicast() {
    let o = oracle("6.1.0-57-amd64");
    let ntf = o.spec.op_named("set-dump-count-ntf").unwrap().value;
    let count = o.spec.attr_named("count").unwrap().value;
    let bytes = nl::message(
        FAMILY,
        0,
        0,
        &nl::genl(ntf, &[nl::attr(count, &7u32.to_ne_bytes())]),
    );
    let got = events(&bytes).unwrap();
    assert_eq!(o.check_event(&got[0]), Ok(()));
    // Out of the spec's range, or addressed to a port: not an event.
    let bad = nl::message(
        FAMILY,
        0,
        0,
        &nl::genl(ntf, &[nl::attr(count, &0u32.to_ne_bytes())]),
    );
    assert!(o.check_event(&events(&bad).unwrap()[0]).is_err());
    let mut unicast = bytes.clone();
    unicast[12..16].copy_from_slice(&PORT.to_ne_bytes());
    assert!(o.check_event(&events(&unicast).unwrap()[0]).is_err());
}

#[test]
fn a_value_out_of_range_is_erange_and_extack_names_it() {
    let o = oracle("6.1.0-57-amd64");
    let msg = attr(&o, "msg", b"hi\0");
    let zero = attr(&o, "count", &0u32.to_ne_bytes());
    let at = (ATTRS_AT + msg.len()) as u32;
    let mut p = predict(
        &o,
        &request(&o, "echo", F_REQUEST | F_DUMP, &[msg.clone(), zero.clone()]),
    );
    assert!(p
        .take(&error(-libc::ERANGE, Some(at)), Some(&o), true)
        .0
        .is_empty());
    let mut p = predict(&o, &request(&o, "echo", F_REQUEST | F_DUMP, &[msg, zero]));
    let wrong = p
        .take(&error(-libc::ERANGE, Some(ATTRS_AT as u32)), Some(&o), true)
        .0;
    assert!(
        wrong.iter().any(|e| e.contains("extack names")),
        "{wrong:?}"
    );
}

#[test]
fn an_echo_gets_its_string_back() {
    let o = oracle("7.3.4+deb13-amd64");
    let mut p = predict(
        &o,
        &request(&o, "echo", F_REQUEST, &[attr(&o, "msg", b"hi\0there\0")]),
    );
    let (problems, checked) = p.take(
        &reply(&o, "echo", 0, &[attr(&o, "msg", b"hi\0")]),
        Some(&o),
        true,
    );
    assert!(problems.is_empty() && checked && p.done, "{problems:?}");
    let mut p = predict(
        &o,
        &request(&o, "echo", F_REQUEST, &[attr(&o, "msg", b"hi\0")]),
    );
    assert!(!p
        .take(
            &reply(&o, "echo", 0, &[attr(&o, "msg", b"ho\0")]),
            Some(&o),
            true
        )
        .0
        .is_empty());
}

#[test]
fn kernel_lines_differ_where_the_kernel_does() {
    let stats = |o: &Oracle| request(o, "get-stats", F_REQUEST, &[attr(o, "msg", b"x\0")]);
    // 6.1+: an op without a policy refuses every attribute; 5.10 may ignore them.
    let new = oracle("6.1.0-57-amd64");
    let mut p = predict(&new, &stats(&new));
    assert!(!p
        .take(&reply(&new, "get-stats", 0, &[]), Some(&new), true)
        .0
        .is_empty());
    let old = oracle("5.10.0-46-amd64");
    let mut p = predict(&old, &stats(&old));
    assert!(p
        .take(&error(-libc::EINVAL, None), Some(&old), true)
        .0
        .is_empty());
    // 6.1+ checks the reserved header field; 5.10 does not look.
    let mut reserved = request(&new, "echo", F_REQUEST, &[attr(&new, "msg", b"x\0")]);
    reserved[HDRLEN + 2] = 1;
    assert_eq!(predict(&new, &reserved).label, "echo do");
    let mut p = predict(&new, &reserved);
    assert!(p
        .take(&error(-libc::EINVAL, None), Some(&new), true)
        .0
        .is_empty());
    let mut p = predict(&old, &reserved);
    assert!(!p
        .take(&error(-libc::EINVAL, None), Some(&old), true)
        .0
        .is_empty());
}

#[test]
fn requests_the_spec_does_not_have_are_eopnotsupp() {
    let o = oracle("6.1.0-57-amd64");
    let p = predict(&o, &request(&o, "set-dump-count", F_REQUEST | F_DUMP, &[]));
    assert_eq!(p.label, "cmd 3 dump (not in spec)");
    let mut p = predict(&o, &nl::message(FAMILY, F_REQUEST, 1, &nl::genl(77, &[])));
    assert!(p
        .take(&error(-libc::EOPNOTSUPP, None), Some(&o), true)
        .0
        .is_empty());
    let mut p = predict(
        &o,
        &nl::message(FAMILY + 1, F_REQUEST, 1, &nl::genl(1, &[])),
    );
    assert!(p
        .take(&error(-libc::ENOENT, None), Some(&o), true)
        .0
        .is_empty());
}

#[test]
fn a_dump_after_a_dump_may_find_the_socket_busy() {
    let o = oracle("6.1.0-57-amd64");
    let zero = attr(&o, "count", &0u32.to_ne_bytes());
    let dump = request(&o, "echo", F_REQUEST | F_DUMP, &[zero]);
    let busy = error(-libc::EBUSY, None);
    let mut p = predict(&o, &dump);
    assert!(!p.take(&busy, Some(&o), true).0.is_empty());
    // Even one the policy would refuse: the busy check comes first.
    let mut p = predict(&o, &dump);
    p.may_find_dump_busy();
    assert!(p.take(&busy, Some(&o), true).0.is_empty());
}
