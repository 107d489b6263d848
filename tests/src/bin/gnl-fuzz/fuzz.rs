//! The fuzzer: seeded random and malformed requests to the generic netlink family and to the
//! classic protocol, from several sockets at once, each answer checked against an oracle of
//! what the kernel must, may and must not answer.
//!
//! The oracle follows `netlink_rcv_skb()`: messages are read while their header is sound, and the
//! rest of a datagram is dropped silently (generic netlink) or answered with `-EINVAL` (the classic
//! module's contract). A message without `NLM_F_REQUEST` or of a netlink control type is answered
//! only when it asks for `NLM_F_ACK`. Any other message to the family is answered (a reply, an
//! error, an ack or a dump ending in `NLMSG_DONE`), except a successful `SET_DUMP_COUNT` without
//! `NLM_F_ACK`. No request gets two endings. The classic protocol is simple enough to predict every
//! answer exactly: the errno, and the reply's bytes.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Instant;

use fastrand::Rng;

use crate::nl::{self, Family, Msg, Sock, F_ACK, F_DUMP, F_MULTI, F_REQUEST, HDRLEN};

/// How long one answer may take (TCG guests are slow, dumps of 100000 messages slower).
const ANSWER_TIMEOUT_MS: i32 = 30_000;

use nl_codec::uapi::{
    GNL_FOOBAR_XMPL_A_COUNT as A_COUNT, GNL_FOOBAR_XMPL_A_MSG as A_MSG,
    GNL_FOOBAR_XMPL_CMD_ECHO as CMD_ECHO, GNL_FOOBAR_XMPL_CMD_SET_DUMP_COUNT as CMD_SET_DUMP_COUNT,
    GNL_FOOBAR_XMPL_DUMP_COUNT_MAX, GNL_FOOBAR_XMPL_DUMP_COUNT_MIN,
};
/// A generic netlink family id no family has (ids are allocated from 16 up).
const NO_SUCH_FAMILY: u16 = 0xfffe;

/// Which protocol a run fuzzes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Target {
    /// The generic netlink family gnl_foobar_xmpl.
    Genl(Family),
    /// The classic protocol of nl_foobar_xmpl.
    Classic,
}

/// What one run found.
#[derive(Default, Debug)]
pub struct Totals {
    /// Datagrams and messages sent.
    pub datagrams: u64,
    /// Messages generated (a datagram carries one or more).
    pub messages: u64,
    /// Messages the oracle said must be answered, and were.
    pub answered: u64,
    /// Messages that must not be answered, and were not.
    pub ignored: u64,
    /// Answers whose content the oracle checked byte for byte (echo replies, classic errnos).
    pub checked: u64,
    /// Errors received, by errno.
    pub errnos: std::collections::BTreeMap<i32, u64>,
    /// `ENOBUFS` reports (answers the kernel dropped and said so).
    pub overruns: u64,
    /// Sockets closed on purpose with answers (or a dump) outstanding.
    pub abandoned: u64,
    /// Events the monitor received, all well formed.
    pub events: u64,
    /// Violations of the oracle, each with its reproducer.
    pub violations: Vec<String>,
}

impl Totals {
    fn merge(&mut self, o: Totals) {
        self.datagrams += o.datagrams;
        self.messages += o.messages;
        self.answered += o.answered;
        self.ignored += o.ignored;
        self.checked += o.checked;
        for (k, v) in o.errnos {
            *self.errnos.entry(k).or_default() += v;
        }
        self.overruns += o.overruns;
        self.abandoned += o.abandoned;
        self.events += o.events;
        self.violations.extend(o.violations);
    }

    /// One line of counts.
    pub fn summary(&self) -> String {
        let mut errnos = String::new();
        for (e, n) in &self.errnos {
            write!(errnos, " {}:{n}", errno_name(*e)).unwrap();
        }
        format!(
            "{} messages in {} datagrams; answered {} that must be, {} ignored that must be, {} \
             answers checked byte for byte; errors{errnos}; {} overruns (ENOBUFS), {} sockets \
             closed mid-answer; {} events; {} violations",
            self.messages,
            self.datagrams,
            self.answered,
            self.ignored,
            self.checked,
            self.overruns,
            self.abandoned,
            self.events,
            self.violations.len()
        )
    }
}

/// Short name of an errno for the summary.
pub fn errno_name(e: i32) -> String {
    match e {
        0 => "ack".into(),
        libc::EINVAL => "EINVAL".into(),
        libc::EOPNOTSUPP => "EOPNOTSUPP".into(),
        libc::ENOENT => "ENOENT".into(),
        libc::EMSGSIZE => "EMSGSIZE".into(),
        libc::ERANGE => "ERANGE".into(),
        libc::EPERM => "EPERM".into(),
        libc::EBUSY => "EBUSY".into(),
        libc::E2BIG => "E2BIG".into(),
        libc::ENOBUFS => "ENOBUFS".into(),
        libc::EPROTO => "EPROTO".into(),
        e => format!("errno{e}"),
    }
}

/// What the oracle expects for one message.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Expect {
    Must,
    Never,
    Maybe,
}

#[derive(Debug)]
struct Pending {
    expect: Expect,
    /// The request asked for an ack: only a final message completes it.
    ack: bool,
    /// The bytes of the `A_MSG` an echo reply must carry (generic netlink).
    echo: Option<Vec<u8>>,
    /// Classic: the exact final code (0 ack, negative errno), if one must come.
    code: Option<i32>,
    /// Classic: the exact reply payload, if one must come.
    reply: Option<Vec<u8>>,
    /// Classic: an error must carry an extack message.
    want_extack: bool,
    finals: u32,
    replies: u32,
    done: bool,
    /// Index of the message in its datagram, for the reproducer.
    what: String,
}

impl Pending {
    fn new(expect: Expect, ack: bool, what: String) -> Self {
        Pending {
            expect,
            ack,
            echo: None,
            code: None,
            reply: None,
            want_extack: false,
            finals: 0,
            replies: 0,
            done: expect != Expect::Must,
            what,
        }
    }

    /// Its number was also read from garbage: any answer, or none, is fair.
    fn anything_goes(&mut self) {
        self.expect = Expect::Maybe;
        self.done = true;
        self.code = None;
        self.reply = None;
        self.echo = None;
    }
}

/// Runs the fuzzer on `target` with `workers` sockets sending `count` messages in all, plus a
/// monitor of the events group (generic netlink).
pub fn run(target: Target, seed: u64, count: u64, workers: usize) -> Totals {
    let stop = Arc::new(AtomicBool::new(false));
    let events = Arc::new(AtomicU64::new(0));
    let monitor_problems = Arc::new(Mutex::new(Vec::new()));
    let monitor = match target {
        Target::Genl(fam) => {
            let (stop, events, problems) = (stop.clone(), events.clone(), monitor_problems.clone());
            Some(thread::spawn(move || {
                monitor(fam, &stop, &events, &problems)
            }))
        }
        Target::Classic => None,
    };
    let per = count.div_ceil(workers as u64);
    let handles: Vec<_> = (0..workers)
        .map(|w| {
            let wseed = seed ^ (w as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            thread::spawn(move || Worker::new(target, w, wseed).run(per))
        })
        .collect();
    let mut totals = Totals::default();
    for h in handles {
        match h.join() {
            Ok(t) => totals.merge(t),
            Err(_) => totals.violations.push("a fuzz worker panicked".into()),
        }
    }
    stop.store(true, Ordering::SeqCst);
    if let Some(m) = monitor {
        if m.join().is_err() {
            totals.violations.push("the monitor panicked".into());
        }
    }
    totals.events = events.load(Ordering::SeqCst);
    totals
        .violations
        .extend(monitor_problems.lock().unwrap().drain(..));
    totals
}

/// Reads the events group while the fuzzer runs, with a small buffer so that it overruns: every
/// event must be well formed; losses must come with `ENOBUFS`.
fn monitor(fam: Family, stop: &AtomicBool, events: &AtomicU64, problems: &Mutex<Vec<String>>) {
    let fail = |p: String| problems.lock().unwrap().push(format!("monitor: {p}"));
    let sock = match Sock::open(nl::NETLINK_GENERIC) {
        Ok(s) => s,
        Err(e) => return fail(format!("socket: {e}")),
    };
    if let Err(e) = sock
        .set_rcvbuf(16 * 1024)
        .and_then(|_| sock.join(fam.events))
    {
        return fail(format!("subscribe: {e}"));
    }
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::SeqCst) {
        let n = match sock.recv(&mut buf, 200) {
            Ok(Some(n)) => n,
            Ok(None) => continue,
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => continue,
            Err(e) => return fail(format!("recv: {e}")),
        };
        let msgs = match nl::parse(&buf[..n], 0) {
            Ok(m) => m,
            Err(e) => return fail(e),
        };
        for m in msgs {
            events.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = check_event(fam, &m) {
                fail(format!("{e}: {m:?}"));
            }
        }
    }
}

/// An event of the family: an echo with its `A_MSG`, or a new dump count within range.
pub fn check_event(fam: Family, m: &Msg) -> Result<(), String> {
    if m.ty != fam.id || m.seq != 0 || m.pid != 0 {
        return Err("event with a wrong type, sequence number or port id".into());
    }
    let (cmd, attrs) = m.genl().ok_or("event without genl header")?;
    match (cmd, attrs.as_slice()) {
        (CMD_ECHO, [(A_MSG, s)])
            if !s.is_empty()
                && s.len() <= 256
                && s.iter().position(|&c| c == 0) == Some(s.len() - 1) =>
        {
            Ok(())
        }
        (CMD_SET_DUMP_COUNT, [(A_COUNT, v)])
            if v.len() == 4
                && (GNL_FOOBAR_XMPL_DUMP_COUNT_MIN..=GNL_FOOBAR_XMPL_DUMP_COUNT_MAX)
                    .contains(&nl::u32_at(v, 0).unwrap()) =>
        {
            Ok(())
        }
        _ => Err("malformed event".into()),
    }
}

struct Worker {
    target: Target,
    id: usize,
    rng: Rng,
    sock: Sock,
    buf: Vec<u8>,
    seq: u32,
    /// Every request of the current socket, by sequence number.
    pending: HashMap<u32, Pending>,
    /// Sequence numbers read from garbage that the kernel took for a header.
    garbage: HashSet<u32>,
    ext_ack: bool,
    totals: Totals,
}

fn open_socket(target: Target, rng: &mut Rng) -> (Sock, bool) {
    let proto = match target {
        Target::Genl(_) => nl::NETLINK_GENERIC,
        Target::Classic => nl::NETLINK_FOOBAR_XMPL,
    };
    let sock = Sock::open(proto).expect("open a netlink socket");
    let ext_ack = rng.bool();
    sock.set_netlink(nl::NETLINK_EXT_ACK, ext_ack as i32)
        .expect("NETLINK_EXT_ACK");
    sock.set_netlink(nl::NETLINK_CAP_ACK, rng.bool() as i32)
        .expect("NETLINK_CAP_ACK");
    sock.set_rcvbuf(8 << 20).expect("SO_RCVBUF");
    (sock, ext_ack)
}

impl Worker {
    fn new(target: Target, id: usize, seed: u64) -> Self {
        let mut rng = Rng::with_seed(seed);
        let (sock, ext_ack) = open_socket(target, &mut rng);
        Worker {
            target,
            id,
            rng,
            sock,
            buf: vec![0u8; 256 * 1024],
            seq: ((id as u32) + 1) << 24,
            pending: HashMap::new(),
            garbage: HashSet::new(),
            ext_ack,
            totals: Totals::default(),
        }
    }

    fn violation(&mut self, what: String) {
        if self.totals.violations.len() < 20 {
            eprintln!("VIOLATION (worker {}): {what}", self.id);
        }
        self.totals.violations.push(what);
    }

    fn run(mut self, count: u64) -> Totals {
        let mut sent = 0u64;
        let mut index = 0u64;
        while sent < count {
            let (datagram, n) = self.datagram();
            let tag = format!("worker {} datagram {index}", self.id);
            index += 1;
            sent += n;
            self.totals.messages += n;
            self.totals.datagrams += 1;
            // The previous datagram's answers were all read: what is left is per datagram.
            self.pending.clear();
            self.garbage.clear();
            let expected = self.expect(&datagram, &tag);
            if let Err(e) = self.sock.send(&datagram) {
                // netlink refuses an empty datagram with ENODATA, nothing else.
                if !(datagram.is_empty() && e.raw_os_error() == Some(libc::ENODATA)) {
                    self.violation(format!(
                        "{tag}: send failed: {e} (datagram {})",
                        hex(&datagram)
                    ));
                }
                continue;
            }
            // Now and then, close the socket with the answers (maybe a dump) still coming.
            if self.rng.u32(0..400) == 0 {
                let _ = self.sock.recv(&mut self.buf, 0);
                self.totals.abandoned += 1;
                self.reopen();
                continue;
            }
            self.collect(&expected, &datagram, &tag);
            if self.totals.violations.len() >= 50 {
                break;
            }
        }
        self.totals
    }

    fn reopen(&mut self) {
        let (sock, ext_ack) = open_socket(self.target, &mut self.rng);
        self.sock = sock;
        self.ext_ack = ext_ack;
        self.pending.clear();
        self.garbage.clear();
    }

    /// Reads answers until every message of the datagram that must be answered is, then what is
    /// already queued (answers come synchronously with the send, except the rest of a dump).
    fn collect(&mut self, expected: &[u32], datagram: &[u8], tag: &str) {
        let started = Instant::now();
        loop {
            let open = expected
                .iter()
                .filter(|s| self.pending.get(s).is_some_and(|p| !p.done))
                .count();
            let timeout = if open == 0 { 0 } else { ANSWER_TIMEOUT_MS };
            match self.sock.recv(&mut self.buf, timeout) {
                Ok(Some(n)) => {
                    let msgs = match nl::parse(&self.buf[..n], self.sock.port) {
                        Ok(m) => m,
                        Err(e) => {
                            self.violation(format!("{tag}: {e}"));
                            return;
                        }
                    };
                    for m in msgs {
                        self.answer(&m, tag, datagram);
                    }
                }
                Ok(None) if open == 0 => break,
                Ok(None) => {
                    let missing: Vec<String> = expected
                        .iter()
                        .filter_map(|s| self.pending.get(s).filter(|p| !p.done))
                        .map(|p| p.what.clone())
                        .collect();
                    self.violation(format!(
                        "{tag}: no answer within {} s to {} (datagram {})",
                        started.elapsed().as_secs(),
                        missing.join(", "),
                        hex(datagram)
                    ));
                    self.reopen();
                    return;
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    self.totals.overruns += 1;
                    for s in expected {
                        if let Some(p) = self.pending.get_mut(s) {
                            p.done = true;
                        }
                    }
                }
                Err(e) => {
                    self.violation(format!("{tag}: recv: {e}"));
                    self.reopen();
                    return;
                }
            }
        }
        for s in expected {
            if let Some(p) = self.pending.get(s) {
                match p.expect {
                    Expect::Must => self.totals.answered += 1,
                    Expect::Never => self.totals.ignored += 1,
                    Expect::Maybe => {}
                }
            }
        }
    }

    fn answer(&mut self, m: &Msg, tag: &str, datagram: &[u8]) {
        if let Some(code) = m.code() {
            if m.is_final() {
                *self.totals.errnos.entry(-code).or_default() += 1;
            }
        }
        let Some(p) = self.pending.get_mut(&m.seq) else {
            if !self.garbage.contains(&m.seq) {
                let v = format!(
                    "{tag}: an answer to sequence number {:#x}, never sent: {m:?}",
                    m.seq
                );
                self.violation(v);
            }
            return;
        };
        let mut problems = Vec::new();
        if p.expect == Expect::Never {
            problems.push(format!("{} answered, but must be ignored", p.what));
        }
        let mut checked = false;
        if m.is_final() {
            p.finals += 1;
            p.done = true;
            // A Maybe shares its number with garbage taken for a header: two answers are fair.
            if p.finals > 1 && p.expect != Expect::Maybe {
                problems.push(format!("{} answered twice", p.what));
            }
            let code = m.code().unwrap_or(0);
            if let Some(want) = p.code {
                if code != want {
                    problems.push(format!("{}: errno {} (expected {})", p.what, -code, -want));
                }
                checked = true;
            } else if p.reply.is_some()
                || (p.expect == Expect::Must && matches!(self.target, Target::Classic))
            {
                problems.push(format!(
                    "{}: a final message with code {code} where a reply was due",
                    p.what
                ));
            }
            if code < 0
                && p.want_extack
                && self.ext_ack
                && m.ty == nl::NLMSG_ERROR
                && m.extack().is_none()
            {
                problems.push(format!(
                    "{}: error {} without extack message",
                    p.what, -code
                ));
            }
        } else {
            p.replies += 1;
            if m.flags & F_MULTI == 0 {
                if !p.ack {
                    p.done = true;
                }
                if p.replies > 1 {
                    problems.push(format!("{}: two replies", p.what));
                }
            }
            if let Some(want) = &p.reply {
                if m.ty != nl::NLMSG_MIN_TYPE || m.flags != 0 || &m.payload != want {
                    problems.push(format!(
                        "{}: reply {m:?} (expected payload {want:?})",
                        p.what
                    ));
                }
                checked = true;
            } else if matches!(self.target, Target::Classic) && p.expect != Expect::Maybe {
                problems.push(format!("{}: a reply where none was due: {m:?}", p.what));
            }
            if let (Some(want), Some((CMD_ECHO, attrs))) = (&p.echo, m.genl()) {
                if m.flags & F_MULTI == 0 {
                    let got = attrs
                        .iter()
                        .find(|(k, _)| *k == A_MSG)
                        .map(|(_, v)| v.to_vec());
                    if got.as_ref() != Some(want) {
                        problems.push(format!(
                            "{}: echo reply {got:?} (expected {want:?})",
                            p.what
                        ));
                    }
                    checked = true;
                }
            }
        }
        if checked && problems.is_empty() {
            self.totals.checked += 1;
        }
        for pr in problems {
            self.violation(format!(
                "{tag}: {pr} (datagram {}; answer {m:?})",
                hex(datagram)
            ));
        }
    }

    /// Builds one datagram; returns it and how many messages it was built from.
    fn datagram(&mut self) -> (Vec<u8>, u64) {
        let r = &mut self.rng;
        if r.u32(0..50) == 0 {
            // Shorter than a header (or empty).
            let n = r.usize(0..HDRLEN);
            return ((0..n).map(|_| r.u8(..)).collect(), 1);
        }
        let n = match r.u32(0..100) {
            0..=59 => 1,
            60..=96 => r.usize(2..=6),
            _ => r.usize(16..=48),
        };
        let mut out = Vec::new();
        for _ in 0..n {
            self.seq += 1;
            let seq = self.seq;
            let mut m = match self.target {
                Target::Genl(fam) => gen_genl(&mut self.rng, fam, seq),
                Target::Classic => gen_classic(&mut self.rng, seq),
            };
            lie_about_length(&mut self.rng, &mut m);
            out.extend_from_slice(&m);
            if self.rng.u32(0..10) != 0 {
                out.resize(nl::align4(out.len()), 0);
            }
        }
        if self.rng.u32(0..40) == 0 {
            let extra = self.rng.usize(1..40);
            out.extend((0..extra).map(|_| self.rng.u8(..)));
        }
        (out, n as u64)
    }

    /// Walks the datagram as the kernel will and records what each message must get; returns the
    /// sequence numbers of this datagram's messages.
    fn expect(&mut self, d: &[u8], tag: &str) -> Vec<u32> {
        let mut seqs = Vec::new();
        let mut off = 0;
        let mut index = 0;
        while d.len() - off >= HDRLEN {
            let len = nl::u32_at(d, off).unwrap() as usize;
            if len < HDRLEN || len > d.len() - off {
                break;
            }
            let m = &d[off..off + len];
            let ty = u16::from_ne_bytes([m[4], m[5]]);
            let flags = u16::from_ne_bytes([m[6], m[7]]);
            let seq = nl::u32_at(m, 8).unwrap();
            let what = format!(
                "message {index} (seq {seq:#x}, type {ty:#x}, flags {flags:#x}, len {len})"
            );
            let mut p = match self.target {
                Target::Genl(fam) => expect_genl(fam, ty, flags, &m[HDRLEN..], what),
                Target::Classic => expect_classic(ty, flags, &m[HDRLEN..], what),
            };
            let ours = seq >> 24 == self.id as u32 + 1 && seq <= self.seq;
            if !ours || seqs.contains(&seq) || self.garbage.contains(&seq) {
                // A header made of garbage (or of a lying length): anything goes for that number.
                p.anything_goes();
                self.garbage.insert(seq);
                if let Some(old) = self.pending.get_mut(&seq) {
                    old.anything_goes();
                }
            }
            if !self.garbage.contains(&seq) {
                self.pending.insert(seq, p);
                seqs.push(seq);
            }
            off += nl::align4(len).min(d.len() - off);
            index += 1;
        }
        let rest = d.len() - off;
        if self.target == Target::Classic && rest > 0 {
            // The classic module answers the broken rest with -EINVAL, echoing its header.
            let mut hdr = [0u8; HDRLEN];
            hdr[..rest.min(HDRLEN)].copy_from_slice(&d[off..off + rest.min(HDRLEN)]);
            let seq = nl::u32_at(&hdr, 8).unwrap();
            let what = format!("the broken rest of {rest} bytes (seq {seq:#x})");
            if self.pending.contains_key(&seq) || self.garbage.contains(&seq) {
                if let Some(old) = self.pending.get_mut(&seq) {
                    old.anything_goes();
                }
                self.garbage.insert(seq);
            } else {
                let mut p = Pending::new(Expect::Must, true, what);
                p.code = Some(-libc::EINVAL);
                p.want_extack = true;
                self.pending.insert(seq, p);
                seqs.push(seq);
            }
        }
        let _ = tag;
        seqs
    }
}

fn expect_genl(fam: Family, ty: u16, flags: u16, payload: &[u8], what: String) -> Pending {
    let ack = flags & F_ACK != 0;
    if flags & F_REQUEST == 0 || ty < nl::NLMSG_MIN_TYPE {
        return Pending::new(if ack { Expect::Must } else { Expect::Never }, ack, what);
    }
    if ty != fam.id {
        return Pending::new(Expect::Must, ack, what);
    }
    let dump = flags & F_DUMP == F_DUMP;
    let cmd = payload.first().copied();
    if cmd == Some(CMD_SET_DUMP_COUNT) && !ack && !dump && payload.len() >= 4 {
        return Pending::new(Expect::Maybe, ack, what);
    }
    let mut p = Pending::new(Expect::Must, ack, what);
    if cmd == Some(CMD_ECHO) && !dump && payload.len() >= 4 {
        // If a reply comes, it carries the last A_MSG up to its first NUL, and a NUL.
        let msg = nl::attrs(&payload[4..])
            .into_iter()
            .rev()
            .find(|(k, _)| *k == A_MSG)
            .map(|(_, v)| {
                let end = v.iter().position(|&c| c == 0).unwrap_or(v.len());
                let mut s = v[..end].to_vec();
                s.push(0);
                s
            });
        p.echo = msg;
    }
    p
}

fn expect_classic(ty: u16, flags: u16, payload: &[u8], what: String) -> Pending {
    let ack = flags & F_ACK != 0;
    if flags & F_REQUEST == 0 || ty < nl::NLMSG_MIN_TYPE {
        let mut p = Pending::new(if ack { Expect::Must } else { Expect::Never }, ack, what);
        if ack {
            p.code = Some(0);
        }
        return p;
    }
    let mut p = Pending::new(Expect::Must, ack, what);
    p.want_extack = true;
    if ty != nl::NLMSG_MIN_TYPE {
        p.code = Some(-libc::EOPNOTSUPP);
        return p;
    }
    let len = payload.len();
    if len < 1 {
        p.code = Some(-libc::EINVAL);
    } else if len > 256 {
        p.code = Some(-libc::EMSGSIZE);
    } else if payload.iter().position(|&c| c == 0) != Some(len - 1) {
        p.code = Some(-libc::EINVAL);
    } else {
        p.reply = Some(payload.to_vec());
        if ack {
            p.code = Some(0);
        }
    }
    p
}

/// A value for `A_COUNT`: mostly small, edges of the range, random; 100000 and its neighbours
/// rarely (`big`), since such a dump is 100000 messages.
fn gen_count(r: &mut Rng, big: bool) -> u32 {
    const EDGES: [u32; 12] = [
        0,
        1,
        2,
        3,
        4,
        7,
        255,
        256,
        100_001,
        0x7fff_ffff,
        0x8000_0000,
        u32::MAX,
    ];
    match r.u32(0..1000) {
        0..=449 => r.u32(0..=64),
        450..=749 => EDGES[r.usize(..EDGES.len())],
        750..=997 => r.u32(..),
        _ if big => r.u32(99_990..=100_010),
        _ => r.u32(100_001..),
    }
}

/// A string payload: any length around the 255-byte limit, NUL-terminated or not, NULs inside.
fn gen_string(r: &mut Rng) -> Vec<u8> {
    let len = match r.u32(0..10) {
        0 => 0,
        1 => r.usize(254..=258),
        2 => r.usize(0..700),
        _ => r.usize(1..48),
    };
    let mut s: Vec<u8> = if r.bool() {
        (0..len).map(|_| r.u8(0x20..0x7f)).collect()
    } else {
        (0..len).map(|_| r.u8(..)).collect()
    };
    match r.u32(0..10) {
        0 => {}
        1 if !s.is_empty() => {
            let at = r.usize(..s.len());
            s[at] = 0;
            s.push(0);
        }
        2 => s.extend_from_slice(&[0, 0, 0]),
        _ => {
            for c in s.iter_mut() {
                if *c == 0 {
                    *c = b'x';
                }
            }
            s.push(0);
        }
    }
    s
}

fn gen_bytes(r: &mut Rng, max: usize) -> Vec<u8> {
    let n = r.usize(0..=max);
    (0..n).map(|_| r.u8(..)).collect()
}

/// One attribute, often right, sometimes with a lying length or a nested mess.
fn gen_attr(r: &mut Rng, cmd: u8, depth: u32) -> Vec<u8> {
    let mut kind = match r.u32(0..100) {
        0..=44 => A_MSG,
        45..=69 => A_COUNT,
        70..=79 => r.u16(3..=6),
        80..=82 => 0,
        83..=87 => r.u16(7..=40),
        _ => r.u16(..),
    };
    if r.u32(0..20) == 0 {
        kind |= [0x8000, 0x4000, 0xc000][r.usize(..3)];
    }
    let payload = match (kind & 0x3fff, r.u32(0..10)) {
        (_, 0) if depth < 2 => (0..r.usize(1..4))
            .flat_map(|_| gen_attr(r, cmd, depth + 1))
            .collect(),
        (A_MSG, 1..=8) => gen_string(r),
        (A_COUNT, 1..=7) => gen_count(r, cmd != CMD_SET_DUMP_COUNT)
            .to_ne_bytes()
            .to_vec(),
        (_, 1..=3) => r.u64(..).to_ne_bytes()[..[1, 2, 4, 8][r.usize(..4)]].to_vec(),
        _ => gen_bytes(r, 40),
    };
    let mut a = nl::attr(kind, &payload);
    match r.u32(0..25) {
        0 => a[..2].copy_from_slice(&r.u16(0..4).to_ne_bytes()),
        1 => a[..2].copy_from_slice(&((4 + payload.len() + r.usize(1..64)) as u16).to_ne_bytes()),
        2 => a.truncate(4 + payload.len()),
        _ => {}
    }
    a
}

fn gen_flags(r: &mut Rng) -> u16 {
    let mut f = if r.u32(0..20) == 0 { 0 } else { F_REQUEST };
    if r.bool() {
        f |= F_ACK;
    }
    f |= match r.u32(0..100) {
        0..=19 => F_DUMP,
        20..=22 => 0x100,
        23..=25 => 0x200,
        _ => 0,
    };
    if r.u32(0..10) == 0 {
        f ^= r.u16(..) & !F_REQUEST;
    }
    f
}

fn gen_genl(r: &mut Rng, fam: Family, seq: u32) -> Vec<u8> {
    let ty = match r.u32(0..100) {
        0..=87 => fam.id,
        88..=91 => r.u16(0..nl::NLMSG_MIN_TYPE),
        92..=95 => NO_SUCH_FAMILY,
        _ => nl::GENL_ID_CTRL,
    };
    let cmd = match r.u32(0..100) {
        0..=74 => r.u8(1..=4),
        75..=79 => 0,
        80..=89 => r.u8(5..=10),
        _ => r.u8(..),
    };
    let cmd = if ty == nl::GENL_ID_CTRL {
        [3, 3, 3, r.u8(..)][r.usize(..4)]
    } else {
        cmd
    };
    let version = if r.u32(0..8) == 0 { r.u8(..) } else { 1 };
    let reserved = if r.u32(0..12) == 0 { r.u16(..) } else { 0 };
    let mut payload = vec![cmd, version];
    payload.extend_from_slice(&reserved.to_ne_bytes());
    let nattrs = match r.u32(0..10) {
        0 => 0,
        1..=6 => 1,
        7..=8 => 2,
        _ => r.usize(3..8),
    };
    for _ in 0..nattrs {
        payload.extend(gen_attr(r, cmd, 0));
    }
    if r.u32(0..25) == 0 {
        payload.truncate(r.usize(0..=payload.len()));
    }
    nl::message(ty, gen_flags(r), seq, &payload)
}

fn gen_classic(r: &mut Rng, seq: u32) -> Vec<u8> {
    let ty = match r.u32(0..100) {
        0..=74 => nl::NLMSG_MIN_TYPE,
        75..=84 => r.u16(0..nl::NLMSG_MIN_TYPE),
        _ => r.u16(nl::NLMSG_MIN_TYPE + 1..),
    };
    let payload = if r.u32(0..5) == 0 {
        gen_bytes(r, 300)
    } else {
        gen_string(r)
    };
    nl::message(ty, gen_flags(r), seq, &payload)
}

/// Sometimes `nlmsg_len` lies: shorter than the message, longer, or below a header's size.
fn lie_about_length(r: &mut Rng, m: &mut [u8]) {
    let real = m.len();
    let lie = match r.u32(0..100) {
        0..=2 => r.usize(0..HDRLEN),
        3..=5 => r.usize(HDRLEN..=real),
        6..=8 => real + r.usize(1..200),
        9 => r.u32(..) as usize,
        _ => return,
    };
    m[..4].copy_from_slice(&(lie as u32).to_ne_bytes());
}

/// A datagram in hex, for the report.
pub fn hex(d: &[u8]) -> String {
    let mut s = String::with_capacity(d.len() * 2);
    for b in d.iter().take(512) {
        write!(s, "{b:02x}").unwrap();
    }
    if d.len() > 512 {
        s.push_str("...");
    }
    s
}
