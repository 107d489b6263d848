//! Module lifecycle under stress: `rmmod` while clients hammer both modules, repeatedly, and
//! load/unload cycles compared against `/proc/slabinfo` for leaks.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use lab_facts::module;

use crate::nl::uapi::{
    GNL_FOOBAR_XMPL_A_COUNT, GNL_FOOBAR_XMPL_A_MSG, GNL_FOOBAR_XMPL_CMD_ECHO,
    GNL_FOOBAR_XMPL_CMD_GET_STATS,
};
use crate::nl::{self, Sock, F_DUMP, F_REQUEST};

/// The generic netlink module and the classic one.
pub const MODULES: [&str; 2] = lab_facts::MODULES;

fn kmod_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("GENL_LAB_KMOD_DIR").unwrap_or_else(|| ".".into()))
}

/// Whether a module is loaded.
pub fn loaded(module: &str) -> bool {
    module::loaded(module)
}

/// Inserts a module (without dynamic debug, so the kernel log keeps its beginning), with
/// `finit_module(2)`: no process to start, so cycles are quick even under TCG.
pub fn insmod(name: &str) -> Result<(), String> {
    let ko = module::ko(&kmod_dir(), name);
    module::finit(&ko).map_err(|e| format!("insmod {}: {e}", ko.display()))
}

/// One `delete_module(2)` that does not wait: `Ok(false)` while the module is in use.
fn try_rmmod(name: &str) -> Result<bool, String> {
    module::try_delete(name).map_err(|e| format!("rmmod {name}: {e}"))
}

/// Removes a module, retrying for up to `patience` while it is busy; returns how many attempts
/// were refused, or `Err` with that count when it stayed busy.
pub fn rmmod_within(module: &str, patience: Duration) -> Result<Result<u32, u32>, String> {
    let started = Instant::now();
    let mut refused = 0;
    while !try_rmmod(module)? {
        refused += 1;
        if started.elapsed() > patience {
            return Ok(Err(refused));
        }
        thread::sleep(Duration::from_millis(1));
    }
    Ok(Ok(refused))
}

/// Removes a module; with nothing running, a module still busy after 10 s has leaked a
/// reference.
pub fn rmmod(module: &str) -> Result<u32, String> {
    rmmod_within(module, Duration::from_secs(10))?
        .map_err(|n| format!("rmmod {module}: still in use after 10 s ({n} attempts)"))
}

/// Loads both modules if needed.
pub fn load_all() -> Result<(), String> {
    for m in MODULES {
        if !loaded(m) {
            insmod(m)?;
        }
    }
    Ok(())
}

/// Unloads both modules if loaded.
pub fn unload_all() -> Result<(), String> {
    for m in MODULES {
        if loaded(m) {
            rmmod(m)?;
        }
    }
    Ok(())
}

#[derive(Default)]
struct Counts {
    answered: AtomicU64,
    errors: AtomicU64,
    absent: AtomicU64,
    hangs: AtomicU64,
}

/// One hammering client: fresh sockets, random operations, every request must get an answer
/// (or the family must be absent) within the timeout.
fn hammer(id: u64, stop: &AtomicBool, c: &Counts) {
    let mut rng = fastrand::Rng::with_seed(id);
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::Relaxed) {
        let classic = rng.u32(0..4) == 0;
        let sock = match Sock::open(if classic {
            nl::NETLINK_FOOBAR_XMPL
        } else {
            nl::NETLINK_GENERIC
        }) {
            Ok(s) => s,
            Err(_) => {
                c.absent.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        let request = if classic {
            nl::message(nl::NLMSG_MIN_TYPE, F_REQUEST | nl::F_ACK, 9, b"hammer\0")
        } else {
            let fam = match nl::resolve(&sock, nl::uapi::GNL_FOOBAR_XMPL_FAMILY_NAME) {
                Ok(Some(f)) => f,
                _ => {
                    c.absent.fetch_add(1, Ordering::Relaxed);
                    thread::sleep(Duration::from_millis(1));
                    continue;
                }
            };
            if rng.bool() {
                let _ = sock.join(fam.events);
            }
            match rng.u32(0..3) {
                0 => nl::message(
                    fam.id,
                    F_REQUEST | F_DUMP,
                    9,
                    &nl::genl(
                        GNL_FOOBAR_XMPL_CMD_ECHO,
                        &[nl::attr(
                            GNL_FOOBAR_XMPL_A_COUNT,
                            &rng.u32(1..300).to_ne_bytes(),
                        )],
                    ),
                ),
                1 => nl::message(
                    fam.id,
                    F_REQUEST | nl::F_ACK,
                    9,
                    &nl::genl(
                        GNL_FOOBAR_XMPL_CMD_ECHO,
                        &[nl::attr(GNL_FOOBAR_XMPL_A_MSG, b"hammer\0")],
                    ),
                ),
                _ => nl::message(
                    fam.id,
                    F_REQUEST | F_DUMP,
                    9,
                    &nl::genl(GNL_FOOBAR_XMPL_CMD_GET_STATS, &[]),
                ),
            }
        };
        if sock.send(&request).is_err() {
            // The classic protocol's kernel socket is gone: ECONNREFUSED.
            c.absent.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        // Read until the request's end; sometimes walk away in the middle of a dump.
        let walk_away = rng.u32(0..4) == 0;
        loop {
            match sock.recv(&mut buf, 30_000) {
                Ok(Some(n)) => {
                    let msgs = nl::parse(&buf[..n], 0).unwrap_or_default();
                    if msgs.iter().any(|m| m.seq == 9 && m.is_final()) {
                        if msgs
                            .iter()
                            .any(|m| m.seq == 9 && m.code().is_some_and(|c| c < 0))
                        {
                            c.errors.fetch_add(1, Ordering::Relaxed);
                        } else {
                            c.answered.fetch_add(1, Ordering::Relaxed);
                        }
                        break;
                    }
                    if walk_away {
                        c.answered.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
                Ok(None) => {
                    c.hangs.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Err(_) => {
                    c.errors.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
    }
}

/// `rmmod` and `insmod` of both modules `cycles` times while `clients` threads hammer them.
pub fn under_load(cycles: u32, clients: u64) -> Vec<String> {
    let mut problems = Vec::new();
    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(Counts::default());
    let started = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|i| {
            let (s, c) = (stop.clone(), counts.clone());
            thread::spawn(move || hammer(i, &s, &c))
        })
        .collect();
    let (mut refused, mut unloaded, mut starved) = (0u32, 0u64, 0u32);
    let mut rng = fastrand::Rng::with_seed(7);
    'cycles: for cycle in 0..cycles {
        thread::sleep(Duration::from_millis(rng.u64(20..200)));
        for m in MODULES {
            // Dumps come and go: unloading may have to wait for a moment with none running.
            let result = rmmod_within(m, Duration::from_secs(5)).and_then(|r| match r {
                Ok(n) => {
                    refused += n;
                    unloaded += 1;
                    insmod(m)
                }
                Err(n) => {
                    refused += n;
                    starved += 1;
                    Ok(())
                }
            });
            if let Err(e) = result {
                problems.push(format!("cycle {cycle}: {e}"));
                break 'cycles;
            }
        }
    }
    stop.store(true, Ordering::SeqCst);
    for h in handles {
        if h.join().is_err() {
            problems.push("a hammer thread panicked".into());
        }
    }
    let c = &counts;
    let hangs = c.hangs.load(Ordering::SeqCst);
    println!(
        "unload: {cycles} rmmod/insmod cycles of both modules under {clients} clients in {:.1} s: \
         {} requests answered, {} errors, {} times absent, {hangs} unanswered; {unloaded} unloads, \
         {refused} refused while busy, {starved} given up after 5 s busy",
        started.elapsed().as_secs_f64(),
        c.answered.load(Ordering::SeqCst),
        c.errors.load(Ordering::SeqCst),
        c.absent.load(Ordering::SeqCst),
    );
    // With the load gone, nothing may keep a module busy.
    for m in MODULES {
        if loaded(m) {
            if let Err(e) = rmmod(m) {
                problems.push(format!("after the load stopped: {e}"));
            }
        }
    }
    if unloaded < u64::from(cycles) {
        problems.push(format!(
            "only {unloaded} unloads in {cycles} cycles of 2 modules"
        ));
    }
    if hangs > 0 {
        problems.push(format!(
            "{hangs} requests got no answer within 30 s during unloads"
        ));
    }
    if c.answered.load(Ordering::SeqCst) == 0 {
        problems.push("no request was answered between the unloads: the load never ran".into());
    }
    problems
}

/// Active objects and objects per slab of every cache, from `/proc/slabinfo`.
fn slabinfo() -> Result<BTreeMap<String, (i64, i64)>, String> {
    let text =
        std::fs::read_to_string("/proc/slabinfo").map_err(|e| format!("/proc/slabinfo: {e}"))?;
    Ok(text
        .lines()
        .skip(2)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((
                f.first()?.to_string(),
                (f.get(1)?.parse().ok()?, f.get(4)?.parse().ok()?),
            ))
        })
        .collect())
}

fn meminfo_kb(key: &str) -> i64 {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix(key)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// Lets deferred frees (RCU, workqueues) finish and drops reclaimable caches before a reading.
fn settle() {
    thread::sleep(Duration::from_millis(500));
    let _ = std::fs::write("/proc/sys/vm/drop_caches", "3");
    thread::sleep(Duration::from_millis(500));
}

fn one_cycle() -> Result<(), String> {
    load_all()?;
    let fam = {
        let s = Sock::open(nl::NETLINK_GENERIC).map_err(|e| e.to_string())?;
        nl::resolve(&s, nl::uapi::GNL_FOOBAR_XMPL_FAMILY_NAME)
            .map_err(|e| e.to_string())?
            .ok_or("family missing after insmod")?
    };
    crate::stress::dump_once(fam, 50)?;
    crate::classic_echo(b"cycle")?;
    unload_all()
}

/// kmemleak's suspects after a fresh scan, each by its report's first line.
fn kmemleak_suspects() -> Result<Vec<String>, String> {
    let report = lab_facts::kmemleak::scan().map_err(|e| e.to_string())?;
    Ok(lab_facts::kmemleak::suspects(&report)
        .into_iter()
        .map(str::to_owned)
        .collect())
}

/// Load/unload cycles: a leak of one object per cycle in any cache shows as a growth of at
/// least `cycles` objects. Objects cached per CPU make noise of a few slabs, so a cache counts
/// as leaking when it grew by at least 3/4 of `cycles` objects and by more than 2 slabs per
/// CPU. On a kernel with kmemleak (the debug kernel) kmemleak judges instead: there the slab
/// counts grow by themselves, as KASAN's quarantine and kmemleak's own bookkeeping hold on to
/// freed objects.
pub fn leak_cycles(cycles: u32) -> Vec<String> {
    let mut problems = Vec::new();
    let started = Instant::now();
    for _ in 0..5 {
        if let Err(e) = one_cycle() {
            return vec![format!("warm-up cycle: {e}")];
        }
    }
    let kmemleak = lab_facts::kmemleak::available();
    let suspects_before = if kmemleak {
        match kmemleak_suspects() {
            Ok(s) => s,
            Err(e) => return vec![e],
        }
    } else {
        Vec::new()
    };
    settle();
    let (before, slab_before) = match slabinfo() {
        Ok(s) => (s, meminfo_kb("Slab:")),
        Err(e) => return vec![e],
    };
    for i in 0..cycles {
        if let Err(e) = one_cycle() {
            return vec![format!("cycle {i}: {e}")];
        }
    }
    settle();
    let after = match slabinfo() {
        Ok(s) => s,
        Err(e) => return vec![e],
    };
    let slab_after = meminfo_kb("Slab:");
    let cpus = thread::available_parallelism().map_or(2, |n| n.get()) as i64;
    let mut growth: Vec<(i64, String, i64)> = after
        .iter()
        .map(|(name, (objs, per_slab))| {
            let old = before.get(name).map_or(0, |b| b.0);
            (objs - old, name.clone(), *per_slab)
        })
        .collect();
    growth.sort();
    growth.reverse();
    let top: Vec<String> = growth
        .iter()
        .take(4)
        .map(|(d, n, _)| format!("{n} {d:+}"))
        .collect();
    println!(
        "leaks: {cycles} load/unload cycles of both modules (each with a dump and a classic echo) in \
         {:.1} s; Slab {slab_before} kB -> {slab_after} kB; largest growth: {}",
        started.elapsed().as_secs_f64(),
        top.join(", ")
    );
    if kmemleak {
        return match kmemleak_suspects() {
            Ok(after) => {
                let new: Vec<String> = after
                    .into_iter()
                    .filter(|s| !suspects_before.contains(s))
                    .collect();
                println!(
                    "leaks: judged by kmemleak on this kernel (slab counts include KASAN's \
                     quarantine): {} new suspected leaks",
                    new.len()
                );
                new.iter()
                    .map(|s| format!("kmemleak after {cycles} load/unload cycles: {s} (the whole report: kmemleak.txt)"))
                    .collect()
            }
            Err(e) => vec![e.to_string()],
        };
    }
    for (delta, name, per_slab) in growth {
        if delta * 4 >= i64::from(cycles) * 3 && delta > 2 * cpus * per_slab {
            problems.push(format!(
                "cache {name} grew by {delta} objects over {cycles} load/unload cycles"
            ));
        }
    }
    problems
}
