//! Concurrency: many sockets echoing at once with requests in flight (every reply matches its
//! request, none lost or duplicated, the echo counter moves by exactly the number sent), monitors
//! that must see every event or an explicit `ENOBUFS` (never a silent gap), and concurrent
//! dumps of 100000 messages that each arrive exactly once and in order.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::nl::uapi::*;
use crate::nl::{self, Family, Sock, F_ACK, F_DUMP, F_MULTI, F_REQUEST};

const TIMEOUT_MS: i32 = 30_000;

/// Requests each echo thread keeps in flight.
const WINDOW: usize = 16;

fn fail(problems: &mut Vec<String>, p: String) {
    eprintln!("FAIL: {p}");
    problems.push(p);
}

/// The `echo` counter of the caller's namespace.
pub fn echo_counter(fam: Family) -> Result<u64, String> {
    let sock = Sock::open(nl::NETLINK_GENERIC).map_err(|e| e.to_string())?;
    sock.send(&nl::message(
        fam.id,
        F_REQUEST,
        1,
        &nl::genl(GNL_FOOBAR_XMPL_CMD_GET_STATS, &[]),
    ))
    .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 64 * 1024];
    let n = sock
        .recv(&mut buf, TIMEOUT_MS)
        .map_err(|e| e.to_string())?
        .ok_or("no stats reply")?;
    let msgs = nl::parse(&buf[..n], sock.port)?;
    let (_, attrs) = msgs
        .first()
        .and_then(|m| m.genl())
        .ok_or("stats: no genl reply")?;
    let mut name = String::new();
    for (k, v) in attrs {
        match k {
            4 => name = nl::cstr(v),
            5 if name == "echo" && v.len() == 8 => {
                return Ok(u64::from_ne_bytes(v.try_into().unwrap()))
            }
            _ => {}
        }
    }
    Err("stats reply without the echo counter".into())
}

/// One echo thread: `n` requests, `WINDOW` in flight, each reply checked against its request.
fn echo_thread(fam: Family, t: usize, n: usize) -> Result<(), String> {
    let sock = Sock::open(nl::NETLINK_GENERIC).map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut inflight: std::collections::HashMap<u32, Vec<u8>> = Default::default();
    let (mut next, mut done) = (0usize, 0usize);
    while done < n {
        while next < n && inflight.len() < WINDOW {
            let mut msg = format!("s{t}-{next}").into_bytes();
            msg.push(0);
            let seq = next as u32 + 1;
            sock.send(&nl::message(
                fam.id,
                F_REQUEST,
                seq,
                &nl::genl(
                    GNL_FOOBAR_XMPL_CMD_ECHO,
                    &[nl::attr(GNL_FOOBAR_XMPL_A_MSG, &msg)],
                ),
            ))
            .map_err(|e| format!("thread {t}: {e}"))?;
            inflight.insert(seq, msg);
            next += 1;
        }
        let got = sock
            .recv(&mut buf, TIMEOUT_MS)
            .map_err(|e| format!("thread {t}: recv: {e}"))?
            .ok_or_else(|| format!("thread {t}: {} replies missing after 30 s", inflight.len()))?;
        for m in nl::parse(&buf[..got], sock.port)? {
            let want = inflight.remove(&m.seq).ok_or_else(|| {
                format!(
                    "thread {t}: a reply to seq {} not in flight (duplicate?): {m:?}",
                    m.seq
                )
            })?;
            let (cmd, attrs) = m
                .genl()
                .ok_or_else(|| format!("thread {t}: not a reply: {m:?}"))?;
            if m.ty != fam.id
                || cmd != GNL_FOOBAR_XMPL_CMD_ECHO
                || attrs != [(GNL_FOOBAR_XMPL_A_MSG, want.as_slice())]
            {
                return Err(format!("thread {t}: reply {m:?} to {:?}", nl::cstr(&want)));
            }
            done += 1;
        }
    }
    Ok(())
}

/// A monitor: counts events of the echo threads; per thread, consecutive indexes unless an
/// `ENOBUFS` came in between. Returns (events, overruns).
///
/// netlink reports `ENOBUFS` once per congestion: drops go on silently until the reader has
/// emptied its queue (`NETLINK_S_CONGESTED`), so an `ENOBUFS` excuses every gap up to the next
/// time the queue is seen empty, and a thread's gap found after that.
fn monitor(
    fam: Family,
    threads: usize,
    rcvbuf: i32,
    slow: bool,
    ready: &AtomicBool,
    stop: &AtomicBool,
) -> Result<(u64, u64), String> {
    let oracle = crate::fuzz::family_oracle(fam.id)?;
    let sock = Sock::open(nl::NETLINK_GENERIC).map_err(|e| e.to_string())?;
    sock.set_rcvbuf(rcvbuf).map_err(|e| e.to_string())?;
    sock.join(fam.events).map_err(|e| e.to_string())?;
    ready.store(true, Ordering::SeqCst);
    let mut last: Vec<Option<u64>> = vec![None; threads];
    let mut overrun_since: Vec<bool> = vec![false; threads];
    let (mut events, mut overruns) = (0u64, 0u64);
    let mut buf = vec![0u8; 64 * 1024];
    let mut quiet_since = Instant::now();
    let mut congested = false;
    loop {
        if slow {
            thread::sleep(Duration::from_micros(300));
        }
        match sock.recv(&mut buf, 100) {
            Ok(Some(n)) => {
                quiet_since = Instant::now();
                for m in crate::oracle::events(&buf[..n])? {
                    oracle.check_event(&m)?;
                    events += 1;
                    let text = m.genl().map(|(_, a)| nl::cstr(a[0].1)).unwrap_or_default();
                    if text == "end" {
                        return Ok((events, overruns));
                    }
                    let (t, i) = text
                        .strip_prefix('s')
                        .and_then(|r| r.split_once('-'))
                        .and_then(|(t, i)| Some((t.parse::<usize>().ok()?, i.parse::<u64>().ok()?)))
                        .ok_or_else(|| format!("an event not from the stress: {text}"))?;
                    let expected = last[t].map_or(0, |l| l + 1);
                    if i < expected || (i > expected && !overrun_since[t]) {
                        return Err(format!(
                            "thread {t}: event {i} after {:?} with no ENOBUFS in between",
                            last[t]
                        ));
                    }
                    last[t] = Some(i);
                    if !congested {
                        overrun_since[t] = false;
                    }
                }
            }
            Ok(None) => {
                congested = false;
                if stop.load(Ordering::SeqCst) && quiet_since.elapsed() > Duration::from_secs(5) {
                    // The end marker itself was lost: only an overrun excuses that.
                    if overruns == 0 {
                        return Err("the end event never came, and no ENOBUFS".into());
                    }
                    return Ok((events, overruns));
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                overruns += 1;
                congested = true;
                overrun_since.iter_mut().for_each(|o| *o = true);
            }
            Err(e) => return Err(format!("recv: {e}")),
        }
    }
}

/// Runs the echo storm with monitors; returns problems found.
pub fn echo_storm(fam: Family, threads: usize, per_thread: usize) -> Vec<String> {
    let mut problems = Vec::new();
    let before = match echo_counter(fam) {
        Ok(v) => v,
        Err(e) => return vec![e],
    };
    let stop = Arc::new(AtomicBool::new(false));
    // Two monitors that keep up (a large buffer), one small and slow that must overrun.
    let monitors: Vec<_> = [(8 << 20, false), (8 << 20, false), (4096, true)]
        .into_iter()
        .map(|(rcvbuf, slow)| {
            let ready = Arc::new(AtomicBool::new(false));
            let (r, s) = (ready.clone(), stop.clone());
            let h = thread::spawn(move || monitor(fam, threads, rcvbuf, slow, &r, &s));
            while !ready.load(Ordering::SeqCst) && !h.is_finished() {
                thread::sleep(Duration::from_millis(5));
            }
            (rcvbuf, slow, h)
        })
        .collect();
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|t| thread::spawn(move || echo_thread(fam, t, per_thread)))
        .collect();
    for (t, w) in workers.into_iter().enumerate() {
        match w.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => fail(&mut problems, e),
            Err(_) => fail(&mut problems, format!("echo thread {t} panicked")),
        }
    }
    let took = started.elapsed();
    let total = (threads * per_thread) as u64;
    let end = Sock::open(nl::NETLINK_GENERIC).and_then(|s| {
        s.send(&nl::message(
            fam.id,
            F_REQUEST | F_ACK,
            1,
            &nl::genl(
                GNL_FOOBAR_XMPL_CMD_ECHO,
                &[nl::attr(GNL_FOOBAR_XMPL_A_MSG, b"end\0")],
            ),
        ))
    });
    if let Err(e) = end {
        fail(&mut problems, format!("end event: {e}"));
    }
    stop.store(true, Ordering::SeqCst);
    println!(
        "stress: {threads} threads x {per_thread} echoes ({WINDOW} in flight each): {total} replies \
         checked in {:.1} s",
        took.as_secs_f64()
    );
    for (rcvbuf, slow, h) in monitors {
        match h.join() {
            Ok(Ok((events, overruns))) => {
                println!(
                    "stress: monitor (rcvbuf {rcvbuf}{}): {events} events, {overruns} ENOBUFS",
                    if slow { ", slow reader" } else { "" }
                );
                // Every event plus the end marker, unless the kernel said it dropped some.
                if overruns == 0 && events != total + 1 {
                    fail(
                        &mut problems,
                        format!(
                            "monitor saw {events} of {} events without ENOBUFS",
                            total + 1
                        ),
                    );
                }
            }
            Ok(Err(e)) => fail(&mut problems, format!("monitor (rcvbuf {rcvbuf}): {e}")),
            Err(_) => fail(&mut problems, "a monitor panicked".into()),
        }
    }
    match echo_counter(fam) {
        // The storm's echoes and the end marker, nobody else's.
        Ok(after) if after - before == total + 1 => {
            println!(
                "stress: echo counter moved by {} (exactly the echoes sent)",
                after - before
            )
        }
        Ok(after) => fail(
            &mut problems,
            format!(
                "echo counter moved by {} for {} echoes",
                after - before,
                total + 1
            ),
        ),
        Err(e) => fail(&mut problems, e),
    }
    problems
}

/// One dump of `count` messages on its own socket: indexes 0.. in order, each once, the right
/// text, one `NLMSG_DONE` at the end.
pub fn dump_once(fam: Family, count: u32) -> Result<(), String> {
    let sock = Sock::open(nl::NETLINK_GENERIC).map_err(|e| e.to_string())?;
    sock.set_netlink(nl::NETLINK_EXT_ACK, 1)
        .map_err(|e| e.to_string())?;
    let seq = 77;
    sock.send(&nl::message(
        fam.id,
        F_REQUEST | F_DUMP,
        seq,
        &nl::genl(
            GNL_FOOBAR_XMPL_CMD_ECHO,
            &[nl::attr(GNL_FOOBAR_XMPL_A_COUNT, &count.to_ne_bytes())],
        ),
    ))
    .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut next = 0u32;
    loop {
        let n = sock
            .recv(&mut buf, TIMEOUT_MS)
            .map_err(|e| format!("dump of {count}: recv: {e}"))?
            .ok_or_else(|| format!("dump of {count}: stalled after {next} messages"))?;
        for m in nl::parse(&buf[..n], sock.port)? {
            if m.seq != seq {
                return Err(format!("dump of {count}: seq {} in {m:?}", m.seq));
            }
            if m.ty == nl::NLMSG_DONE {
                if next != count || m.code() != Some(0) {
                    return Err(format!(
                        "dump of {count}: done after {next} messages, code {:?}",
                        m.code()
                    ));
                }
                return Ok(());
            }
            let (cmd, attrs) = m.genl().ok_or("dump: a message without genl header")?;
            let index = attrs
                .iter()
                .find(|(k, _)| *k == GNL_FOOBAR_XMPL_A_INDEX)
                .and_then(|(_, v)| nl::u32_at(v, 0));
            let text = attrs
                .iter()
                .find(|(k, _)| *k == GNL_FOOBAR_XMPL_A_MSG)
                .map(|(_, v)| nl::cstr(v));
            let want = format!("message {} of {count}", next + 1);
            if m.ty != fam.id
                || cmd != GNL_FOOBAR_XMPL_CMD_ECHO
                || m.flags & F_MULTI == 0
                || index != Some(next)
                || text.as_deref() != Some(want.as_str())
            {
                return Err(format!("dump of {count}: {m:?} where index {next} was due"));
            }
            next += 1;
        }
    }
}

/// Concurrent dumps: `threads` threads, each `big` dumps of 100000 and a few small ones.
pub fn dump_storm(fam: Family, threads: usize, big: usize) -> Vec<String> {
    let mut problems = Vec::new();
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            thread::spawn(move || -> Result<u64, String> {
                let mut messages = 0u64;
                for i in 0..big {
                    for small in [1, 2, 3 + t as u32, 1000 + i as u32] {
                        dump_once(fam, small)?;
                        messages += u64::from(small);
                    }
                    dump_once(fam, 100_000)?;
                    messages += 100_000;
                }
                Ok(messages)
            })
        })
        .collect();
    let mut total = 0;
    for w in workers {
        match w.join() {
            Ok(Ok(n)) => total += n,
            Ok(Err(e)) => fail(&mut problems, e),
            Err(_) => fail(&mut problems, "a dump thread panicked".into()),
        }
    }
    println!(
        "stress: {threads} threads x {big} dumps of 100000 (and small ones) at once: {total} dump \
         messages in order, each dump ended once, in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    problems
}
