//! The fuzzer's run: several sockets at once send the generator's datagrams, walk each datagram
//! as `netlink_rcv_skb()` will to ask the oracle what every message must get, and hold every
//! answer to it; a monitor reads every multicast group of the spec meanwhile.
//!
//! Messages are read while their header is sound; the rest of a datagram is dropped silently
//! (generic netlink) or answered with `-EINVAL` (the classic module's contract). A sequence number
//! also read from garbage (a lying length) leaves that number's answers unjudged.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Instant;

use fastrand::Rng;

use crate::counts::{hex, Totals};
use crate::nl::{self, Family, Msg, Sock, F_DUMP, F_REQUEST, HDRLEN};
use crate::oracle::{self, Expect, Final, KernelRules, Oracle, Pending};
use crate::semantics::Semantics;
use crate::spec::Spec;
use crate::{classic, generate};

/// How long one answer may take (TCG guests are slow, dumps of 100000 messages slower).
const ANSWER_TIMEOUT_MS: i32 = 30_000;
/// How long the monitor waits for an event before it looks whether the run is over.
const MONITOR_POLL_MS: i32 = 200;
/// The monitor's small receive buffer, so that it overruns.
const MONITOR_RCVBUF: i32 = 16 * 1024;
/// A fuzzing socket's receive buffer: big dumps must fit between reads.
const WORKER_RCVBUF: i32 = 8 << 20;
/// Receive buffers of the reading side.
const RECV_BUF: usize = 256 * 1024;
const MONITOR_BUF: usize = 64 * 1024;
/// One datagram in this many closes its socket with the answers still coming.
const ABANDON_ONE_IN: u32 = 400;
/// A worker stops after this many violations; this many are printed as they come.
const MAX_VIOLATIONS: usize = 50;
const PRINTED_VIOLATIONS: usize = 20;
/// Sequence numbers carry the worker's number in their top byte.
const WORKER_SEQ_SHIFT: u32 = 24;
/// Spreads the workers' seeds (the golden ratio's 64-bit constant).
const SEED_SPREAD: u64 = 0x9e37_79b9_7f4a_7c15;
/// Runs shorter than this may miss an operation; longer ones must reach every one.
const RUN_THAT_REACHES_EVERY_OP: u64 = 2_000;

/// Which protocol a run fuzzes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Target {
    /// The generic netlink family gnl_foobar_xmpl.
    Genl(Family),
    /// The classic protocol of nl_foobar_xmpl.
    Classic,
}

/// The oracle of the family at `family`, on the running kernel.
pub fn family_oracle(family: u16) -> Result<Oracle, String> {
    let spec = Spec::builtin()?;
    Ok(Oracle {
        semantics: Semantics::new(&spec)?,
        spec,
        family,
        rules: KernelRules::running(),
    })
}

/// Runs the fuzzer on `target` with `workers` sockets sending `count` messages in all, plus a
/// monitor of every multicast group of the spec (generic netlink).
pub fn run(target: Target, seed: u64, count: u64, workers: usize) -> Totals {
    let mut totals = Totals::default();
    let oracle = match target {
        Target::Genl(fam) => match family_oracle(fam.id) {
            Ok(o) => Some(Arc::new(o)),
            Err(e) => {
                totals.violations.push(e);
                return totals;
            }
        },
        Target::Classic => None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let events = Arc::new(AtomicU64::new(0));
    let monitor_problems = Arc::new(Mutex::new(Vec::new()));
    let monitor = oracle.clone().map(|o| {
        let (stop, events, problems) = (stop.clone(), events.clone(), monitor_problems.clone());
        thread::spawn(move || monitor(&o, &stop, &events, &problems))
    });
    let per = count.div_ceil(workers as u64);
    let handles: Vec<_> = (0..workers)
        .map(|w| {
            let wseed = seed ^ (w as u64 + 1).wrapping_mul(SEED_SPREAD);
            let oracle = oracle.clone();
            thread::spawn(move || Worker::new(target, oracle, w, wseed).run(per))
        })
        .collect();
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
    if let (Some(o), true) = (&oracle, count >= RUN_THAT_REACHES_EVERY_OP) {
        totals.violations.extend(unexercised(o, &totals));
    }
    totals
}

/// The spec's operations whose handler no request reached.
fn unexercised(o: &Oracle, totals: &Totals) -> Vec<String> {
    o.spec
        .requests()
        .into_iter()
        .map(|(op, mode)| format!("{} {}", op.name, mode.name()))
        .filter(|label| totals.ops.get(label).is_none_or(|c| c.valid == 0))
        .map(|label| format!("{label}: no request reached its handler"))
        .collect()
}

/// Reads every multicast group of the spec while the fuzzer runs, with a small buffer so that it
/// overruns: every event must be one the spec describes; losses must come with `ENOBUFS`.
fn monitor(o: &Oracle, stop: &AtomicBool, events: &AtomicU64, problems: &Mutex<Vec<String>>) {
    let fail = |p: String| problems.lock().unwrap().push(format!("monitor: {p}"));
    let sock = match Sock::open(nl::NETLINK_GENERIC) {
        Ok(s) => s,
        Err(e) => return fail(format!("socket: {e}")),
    };
    let groups = match nl::resolve_groups(&sock, &o.spec.name) {
        Ok(Some((_, groups))) => groups,
        Ok(None) => return fail(format!("family {} is not registered", o.spec.name)),
        Err(e) => return fail(format!("resolve: {e}")),
    };
    for name in &o.spec.groups {
        let Some((_, id)) = groups.iter().find(|(g, _)| g == name) else {
            return fail(format!(
                "the kernel has no multicast group {name}, which the spec has"
            ));
        };
        if let Err(e) = sock.set_rcvbuf(MONITOR_RCVBUF).and_then(|_| sock.join(*id)) {
            return fail(format!("subscribe to {name}: {e}"));
        }
    }
    let mut buf = vec![0u8; MONITOR_BUF];
    while !stop.load(Ordering::SeqCst) {
        let n = match sock.recv(&mut buf, MONITOR_POLL_MS) {
            Ok(Some(n)) => n,
            Ok(None) => continue,
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => continue,
            Err(e) => return fail(format!("recv: {e}")),
        };
        let msgs = match oracle::events(&buf[..n]) {
            Ok(m) => m,
            Err(e) => return fail(e),
        };
        for m in msgs {
            events.fetch_add(1, Ordering::Relaxed);
            if let Err(e) = o.check_event(&m) {
                fail(format!("{e}: {m:?}"));
            }
        }
    }
}

struct Worker {
    target: Target,
    oracle: Option<Arc<Oracle>>,
    id: usize,
    rng: Rng,
    sock: Sock,
    buf: Vec<u8>,
    seq: u32,
    /// Every request of the current datagram, by sequence number.
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
    sock.set_rcvbuf(WORKER_RCVBUF).expect("SO_RCVBUF");
    (sock, ext_ack)
}

impl Worker {
    fn new(target: Target, oracle: Option<Arc<Oracle>>, id: usize, seed: u64) -> Self {
        let mut rng = Rng::with_seed(seed);
        let (sock, ext_ack) = open_socket(target, &mut rng);
        Worker {
            target,
            oracle,
            id,
            rng,
            sock,
            buf: vec![0u8; RECV_BUF],
            seq: ((id as u32) + 1) << WORKER_SEQ_SHIFT,
            pending: HashMap::new(),
            garbage: HashSet::new(),
            ext_ack,
            totals: Totals::default(),
        }
    }

    fn violation(&mut self, what: String) {
        if self.totals.violations.len() < PRINTED_VIOLATIONS {
            eprintln!("VIOLATION (worker {}): {what}", self.id);
        }
        self.totals.violations.push(what);
    }

    fn run(mut self, count: u64) -> Totals {
        let mut sent = 0u64;
        let mut index = 0u64;
        while sent < count {
            let (datagram, n) = match (&self.target, &self.oracle) {
                (Target::Genl(fam), Some(o)) => {
                    let (spec, id) = (&o.spec, fam.id);
                    generate::datagram(&mut self.rng, &mut self.seq, |r, seq| {
                        generate::genl(r, spec, id, seq)
                    })
                }
                _ => generate::datagram(&mut self.rng, &mut self.seq, classic::message),
            };
            let tag = format!("worker {} datagram {index}", self.id);
            index += 1;
            sent += n;
            self.totals.messages += n;
            self.totals.datagrams += 1;
            // The previous datagram's answers were all read: what is left is per datagram.
            self.pending.clear();
            self.garbage.clear();
            let expected = self.expect(&datagram);
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
            if self.rng.u32(0..ABANDON_ONE_IN) == 0 {
                let _ = self.sock.recv(&mut self.buf, 0);
                self.totals.abandoned += 1;
                self.reopen();
                continue;
            }
            self.collect(&expected, &datagram, &tag);
            if self.totals.violations.len() >= MAX_VIOLATIONS {
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
                            p.overrun();
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
                let c = self.totals.ops.entry(p.label.clone()).or_default();
                c.answered += u64::from(p.answered);
                match p.expect {
                    Expect::Must => self.totals.answered += 1,
                    Expect::Never => self.totals.ignored += 1,
                    Expect::Maybe => {}
                }
            }
        }
    }

    fn answer(&mut self, m: &Msg, tag: &str, datagram: &[u8]) {
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
        let (problems, checked) = p.take(m, self.oracle.as_deref(), self.ext_ack);
        if m.is_final() {
            let label = p.label.clone();
            self.totals.ending(&label, Final::of(m).name());
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

    /// Walks the datagram as the kernel will and records what each message must get; returns the
    /// sequence numbers of this datagram's messages.
    fn expect(&mut self, d: &[u8]) -> Vec<u32> {
        let mut seqs = Vec::new();
        let mut off = 0;
        let mut index = 0;
        let mut dump_before = false;
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
            let mut p = match &self.oracle {
                Some(o) => o.predict(m, what),
                None => classic::predict(ty, flags, &m[HDRLEN..], what),
            };
            if dump_before {
                p.may_find_dump_busy();
            }
            dump_before |= flags & F_REQUEST != 0 && flags & F_DUMP == F_DUMP;
            let c = self.totals.ops.entry(p.label.clone()).or_default();
            c.sent += 1;
            c.valid += u64::from(p.valid);
            let ours = seq >> WORKER_SEQ_SHIFT == self.id as u32 + 1 && seq <= self.seq;
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
            if self.pending.contains_key(&seq) || self.garbage.contains(&seq) {
                if let Some(old) = self.pending.get_mut(&seq) {
                    old.anything_goes();
                }
                self.garbage.insert(seq);
            } else {
                let p = classic::broken_rest(rest);
                self.totals.ops.entry(p.label.clone()).or_default().sent += 1;
                self.pending.insert(seq, p);
                seqs.push(seq);
            }
        }
        seqs
    }
}
