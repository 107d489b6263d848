//! Fault injection, on a kernel built with it (the lab's debug kernel): the module's own
//! allocations fail at random (failslab and fail_page_alloc, limited to this process's faulting
//! thread and to call stacks that pass through the module) while requests, dumps and events go
//! on; module loads fail at random; `fail_function` makes the module's per-namespace init fail.
//! Every request still gets exactly one ending (`-ENOMEM` is a fine one), the module never
//! half-loads, normal operation works right after, and the lab's kmemleak scan after the run
//! finds nothing.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::thread;

use fastrand::Rng;

use crate::nl::uapi::*;
use crate::nl::{self, Family, Sock, F_ACK, F_DUMP, F_REQUEST};
use crate::unload;

const FAILSLAB: &str = "/sys/kernel/debug/failslab";
const FAIL_PAGE_ALLOC: &str = "/sys/kernel/debug/fail_page_alloc";
const FAIL_FUNCTION: &str = "/sys/kernel/debug/fail_function";
/// The module function the `fail_function` step fails (ALLOW_ERROR_INJECTION in the module).
const INJECTABLE: &str = "xmpl_net_init";
const TIMEOUT_MS: i32 = 30_000;
const ENOMEM: i32 = -libc::ENOMEM;

/// Writes an existing debugfs attribute (debugfs refuses to create a missing one with a
/// misleading "Permission denied").
fn write(path: impl AsRef<Path>, value: &str) -> Result<(), String> {
    let path = path.as_ref();
    fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|mut f| f.write_all(value.as_bytes()))
        .map_err(|e| format!("echo {value} > {}: {e}", path.display()))
}

/// Fails unless the kernel can inject faults; mounts debugfs if needed.
pub fn available() -> Result<(), String> {
    lab_facts::mount_debugfs();
    for dir in [FAILSLAB, FAIL_PAGE_ALLOC, FAIL_FUNCTION] {
        if !Path::new(dir).exists() {
            return Err(format!(
                "{dir} is missing: this kernel has no fault injection (use `--kernel debug`)"
            ));
        }
    }
    // Faults strike only in the module's call stacks: without the filter they would fail any
    // allocation of the faulting thread, the kernel's own included.
    let filter = Path::new(FAILSLAB).join("require-start");
    if !filter.exists() {
        return Err(format!(
            "{} is missing: this kernel has fault injection without \
             CONFIG_FAULT_INJECTION_STACKTRACE_FILTER (vm/kconfig/debug.config sets it)",
            filter.display()
        ));
    }
    Ok(())
}

/// Where faults may strike: only in call stacks through `[start, end)` (the module's text, or
/// the function that runs a module's init).
fn arm(dir: &str, probability: u32, (start, end): (u64, u64)) -> Result<(), String> {
    for (attr, value) in [
        ("probability", probability.to_string()),
        ("interval", "1".into()),
        ("times", "-1".into()),
        ("space", "0".into()),
        // The kernel's banner and stack dump per failure would read as a kernel bug.
        ("verbose", "0".into()),
        ("task-filter", "Y".into()),
        ("require-start", start.to_string()),
        ("require-end", end.to_string()),
        ("stacktrace-depth", "32".into()),
    ] {
        write(Path::new(dir).join(attr), &value)?;
    }
    // GFP_KERNEL allocations too (the module's are), not only atomic ones.
    write(Path::new(dir).join("ignore-gfp-wait"), "N")?;
    if dir == FAIL_PAGE_ALLOC {
        // Order 0 stays: a failed order-0 page prints the allocator's warning with a stack
        // dump, and slab falls back to order 0 when a larger slab page fails (that path is
        // what failing order >= 1 exercises).
        write(Path::new(dir).join("min-order"), "1")?;
    }
    Ok(())
}

fn disarm() -> Result<(), String> {
    for dir in [FAILSLAB, FAIL_PAGE_ALLOC] {
        write(Path::new(dir).join("probability"), "0")?;
    }
    Ok(())
}

/// Marks the calling thread as one that faults may strike (`task-filter`).
fn make_it_fail(on: bool) -> Result<(), String> {
    write("/proc/thread-self/make-it-fail", if on { "1" } else { "0" })
}

/// The text symbols in /proc/kallsyms (root sees the addresses): address, name, `[module]`.
fn text_symbols() -> Result<Vec<(u64, String, Option<String>)>, String> {
    let kallsyms = fs::read_to_string("/proc/kallsyms").map_err(|e| e.to_string())?;
    Ok(kallsyms
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let addr = u64::from_str_radix(f.next()?, 16).ok()?;
            matches!(f.next()?, "t" | "T").then_some(())?;
            let name = f.next()?.to_string();
            Some((addr, name, f.next().map(str::to_string)))
        })
        .filter(|(addr, _, _)| *addr != 0)
        .collect())
}

/// The module's text, from its symbols.
fn module_text(module: &str) -> Result<(u64, u64), String> {
    let tag = format!("[{module}]");
    let symbols = text_symbols()?;
    let addrs = symbols
        .iter()
        .filter(|(_, _, m)| m.as_deref() == Some(&tag))
        .map(|(a, _, _)| *a);
    match (addrs.clone().min(), addrs.max()) {
        // The last function's own length is unknown: a page covers it.
        (Some(lo), Some(hi)) => Ok((lo, hi + 4096)),
        _ => Err(format!("no text symbols of {module} in /proc/kallsyms")),
    }
}

/// A kernel function's text: from its symbol to the next one.
fn kernel_function(name: &str) -> Result<(u64, u64), String> {
    let symbols = text_symbols()?;
    let start = symbols
        .iter()
        .find(|(_, n, m)| n == name && m.is_none())
        .map(|(a, _, _)| *a)
        .ok_or_else(|| format!("no kernel symbol {name} in /proc/kallsyms"))?;
    let end = symbols
        .iter()
        .map(|(a, _, _)| *a)
        .filter(|a| *a > start)
        .min()
        .ok_or_else(|| format!("no symbol after {name} in /proc/kallsyms"))?;
    Ok((start, end))
}

/// What one request ended with.
#[derive(Debug, Default)]
struct Tally {
    requests: u64,
    ok: u64,
    enomem: u64,
}

/// `ops` random requests from one thread while the module's allocations fail with
/// `probability` percent, with a monitor subscribed to the events meanwhile.
pub fn requests(fam: Family, seed: u64, ops: u64, probability: u32) -> Vec<String> {
    let mut problems = Vec::new();
    if let Err(e) = available() {
        return vec![e];
    }
    let text = match module_text(unload::MODULES[0]) {
        Ok(t) => t,
        Err(e) => return vec![e],
    };
    let monitor = match Sock::open(nl::NETLINK_GENERIC).and_then(|s| s.join(fam.events).map(|()| s))
    {
        Ok(s) => s,
        Err(e) => return vec![format!("monitor: {e}")],
    };
    let armed =
        arm(FAILSLAB, probability, text).and_then(|()| arm(FAIL_PAGE_ALLOC, probability, text));
    if let Err(e) = armed {
        return vec![e];
    }
    // The thread that faults may strike does nothing but netlink on buffers it owns.
    let worker = thread::spawn(move || -> Result<Tally, Vec<String>> {
        make_it_fail(true).map_err(|e| vec![e])?;
        let mut rng = Rng::with_seed(seed);
        let mut tally = Tally::default();
        let mut problems = Vec::new();
        let mut buf = vec![0u8; 256 * 1024];
        let sock = Sock::open(nl::NETLINK_GENERIC).map_err(|e| vec![e.to_string()])?;
        for seq in 1..=ops {
            match one_request(&sock, fam, &mut rng, seq as u32, &mut buf) {
                Ok(0) => tally.ok += 1,
                Ok(ENOMEM) => tally.enomem += 1,
                Ok(code) => problems.push(format!("request {seq}: unexpected error {code}")),
                Err(e) => problems.push(format!("request {seq}: {e}")),
            }
            tally.requests += 1;
            if problems.len() > 20 {
                break;
            }
        }
        make_it_fail(false).map_err(|e| vec![e])?;
        if problems.is_empty() {
            Ok(tally)
        } else {
            Err(problems)
        }
    });
    let result = worker.join();
    if let Err(e) = disarm() {
        problems.push(e);
    }
    match result {
        Ok(Ok(tally)) => {
            println!(
                "faults: {} requests under {probability}% allocation failures: {} answered, {} -ENOMEM",
                tally.requests, tally.ok, tally.enomem
            );
            if tally.enomem == 0 {
                problems.push(format!(
                    "no request failed in {} with {probability}% failslab: fault injection did not reach the module",
                    tally.requests
                ));
            }
            if tally.ok == 0 {
                problems.push("no request succeeded".into());
            }
        }
        Ok(Err(p)) => problems.extend(p),
        Err(_) => problems.push("the faulting thread panicked".into()),
    }
    // The monitor's queue holds well-formed events only (some are lost to failed allocations).
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match monitor.recv(&mut buf, 0) {
            Ok(Some(n)) => {
                if let Err(e) = crate::oracle::events(&buf[..n]) {
                    problems.push(format!("monitor: {e}"));
                }
            }
            Ok(None) => break,
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {}
            Err(e) => {
                problems.push(format!("monitor: {e}"));
                break;
            }
        }
    }
    problems
}

/// One random request, read to its end: `Ok(code)` of its single ending (0 for success).
fn one_request(
    sock: &Sock,
    fam: Family,
    rng: &mut Rng,
    seq: u32,
    buf: &mut [u8],
) -> Result<i32, String> {
    let ack = if rng.bool() { F_ACK } else { 0 };
    let (cmd, flags, attrs, what) = match rng.u8(0..5) {
        0 => (
            GNL_FOOBAR_XMPL_CMD_ECHO,
            F_REQUEST | ack,
            vec![nl::attr(GNL_FOOBAR_XMPL_A_MSG, b"under pressure\0")],
            "echo",
        ),
        1 => (
            GNL_FOOBAR_XMPL_CMD_ECHO,
            F_REQUEST | F_DUMP,
            vec![nl::attr(
                GNL_FOOBAR_XMPL_A_COUNT,
                // The family's range starts at 1 (0 would be ERANGE, not a fault).
                &rng.u32(1..200).to_ne_bytes(),
            )],
            "dump",
        ),
        2 => (
            GNL_FOOBAR_XMPL_CMD_GET_STATS,
            F_REQUEST | ack,
            vec![],
            "stats",
        ),
        3 => (
            GNL_FOOBAR_XMPL_CMD_GET_STATS,
            F_REQUEST | F_DUMP,
            vec![],
            "stats dump",
        ),
        // Always acked: without NLM_F_ACK its success sends nothing, and no answer could not
        // be told from a lost one.
        _ => (
            GNL_FOOBAR_XMPL_CMD_SET_DUMP_COUNT,
            F_REQUEST | F_ACK,
            vec![nl::attr(
                GNL_FOOBAR_XMPL_A_COUNT,
                &rng.u32(1..10).to_ne_bytes(),
            )],
            "set dump count",
        ),
    };
    let is_dump = flags & F_DUMP == F_DUMP;
    sock.send(&nl::message(fam.id, flags, seq, &nl::genl(cmd, &attrs)))
        .map_err(|e| format!("{what}: send: {e}"))?;
    // Without NLM_F_ACK a successful doit ends with its reply.
    let reply_ends = !is_dump && flags & F_ACK == 0;
    let mut ending = None;
    while ending.is_none() {
        let n = sock
            .recv(buf, TIMEOUT_MS)
            .map_err(|e| format!("{what}: recv: {e}"))?
            .ok_or_else(|| format!("{what}: no ending within {} s", TIMEOUT_MS / 1000))?;
        for m in nl::parse(&buf[..n], sock.port)? {
            if m.seq != seq {
                return Err(format!(
                    "{what}: a message of seq {} while {seq} was due: {m:?}",
                    m.seq
                ));
            }
            if ending.is_some() {
                return Err(format!("{what}: a message after its ending: {m:?}"));
            }
            if m.is_final() {
                ending = m.code();
            } else if reply_ends {
                ending = Some(0);
            }
        }
    }
    // Everything a request causes is queued before the kernel returns from sendmsg (doit) or
    // from the recvmsg that ended the dump: anything still arriving is a second ending.
    if let Some(n) = sock
        .recv(buf, 0)
        .map_err(|e| format!("{what}: recv: {e}"))?
    {
        return Err(format!(
            "{what}: more after its ending: {:?}",
            nl::parse(&buf[..n], sock.port)
        ));
    }
    ending.ok_or_else(|| format!("{what}: an ending without a code"))
}

/// `loads` attempts to insert both modules while the allocations of their init functions (and
/// of what those call: family, pernet and socket registration) may fail: each module either
/// loads completely (its family answers) or not at all. Only the init's call stacks: a failure
/// in the loader itself would print the allocator's warning (vmalloc has no quiet mode), and one
/// in the 9p read of the `.ko` broke the guest's 9p client for the rest of the run.
pub fn loads(loads: u32, probability: u32) -> Vec<String> {
    let mut problems = Vec::new();
    if let Err(e) = available().and_then(|()| unload::unload_all()) {
        return vec![e];
    }
    let init = match kernel_function("do_one_initcall") {
        Ok(range) => range,
        Err(e) => return vec![e],
    };
    let armed = arm(FAILSLAB, probability, init).and_then(|()| arm(FAIL_PAGE_ALLOC, 0, init));
    if let Err(e) = armed {
        return vec![e];
    }
    let (mut loaded, mut refused) = (0, 0);
    for attempt in 0..loads {
        for module in unload::MODULES {
            let result = thread::spawn(move || {
                make_it_fail(true)?;
                let r = unload::insmod(module);
                make_it_fail(false)?;
                r
            })
            .join()
            .unwrap_or_else(|_| Err("the loading thread panicked".into()));
            match (result, unload::loaded(module)) {
                (Ok(()), true) => loaded += 1,
                (Err(_), false) => refused += 1,
                (Ok(()), false) => {
                    problems.push(format!("{module}: loaded but not in /proc/modules"))
                }
                (Err(e), true) => {
                    problems.push(format!("attempt {attempt}: {e}, yet {module} is loaded"))
                }
            }
        }
        if unload::loaded(unload::MODULES[0]) {
            if let Err(e) = crate::family() {
                problems.push(format!("attempt {attempt}: loaded, but {e}"));
            }
        }
        if let Err(e) = unload::unload_all() {
            problems.push(format!("attempt {attempt}: {e}"));
            break;
        }
    }
    if let Err(e) = disarm() {
        problems.push(e);
    }
    println!(
        "faults: {} module loads under {probability}% allocation failures: {loaded} loaded, {refused} refused",
        loads * 2
    );
    if refused == 0 {
        problems.push("no load failed: fault injection did not reach module loading".into());
    }
    problems
}

/// `fail_function` on the module's per-namespace init: a new network namespace cannot be made
/// while it fails, and can right after; the initial namespace's family is unaffected.
pub fn pernet_init() -> Vec<String> {
    let mut problems = Vec::new();
    if let Err(e) = available().and_then(|()| unload::load_all()) {
        return vec![e];
    }
    let injectable =
        fs::read_to_string(Path::new(FAIL_FUNCTION).join("injectable")).unwrap_or_default();
    if !injectable
        .lines()
        .any(|l| l.split_whitespace().next() == Some(INJECTABLE))
    {
        return vec![format!(
            "{INJECTABLE} is not in {FAIL_FUNCTION}/injectable (ALLOW_ERROR_INJECTION in the module)"
        )];
    }
    let new_netns = || {
        Command::new("unshare")
            .args(["--net", "true"])
            .status()
            .map(|s| s.success())
            .map_err(|e| format!("unshare: {e}"))
    };
    let steps = write(Path::new(FAIL_FUNCTION).join("inject"), INJECTABLE)
        .and_then(|()| {
            write(
                Path::new(FAIL_FUNCTION).join(INJECTABLE).join("retval"),
                // An unsigned long: -ENOMEM in two's complement (the file takes no minus sign).
                &(i64::from(ENOMEM) as u64).to_string(),
            )
        })
        .and_then(|()| write(Path::new(FAIL_FUNCTION).join("probability"), "100"))
        .and_then(|()| write(Path::new(FAIL_FUNCTION).join("times"), "-1"))
        .and_then(|()| write(Path::new(FAIL_FUNCTION).join("verbose"), "0"))
        .and_then(|()| new_netns());
    match steps {
        Ok(true) => problems.push(format!(
            "a network namespace was made while {INJECTABLE} failed"
        )),
        Ok(false) => println!("faults: {INJECTABLE} failing: a new network namespace is refused"),
        Err(e) => problems.push(e),
    }
    if let Err(e) = write(
        Path::new(FAIL_FUNCTION).join("inject"),
        &format!("!{INJECTABLE}"),
    ) {
        problems.push(e);
    }
    match new_netns() {
        Ok(true) => {}
        Ok(false) => problems.push(format!(
            "no network namespace after {INJECTABLE} stopped failing"
        )),
        Err(e) => problems.push(e),
    }
    if let Err(e) = crate::family() {
        problems.push(format!("after fail_function: {e}"));
    }
    problems
}
