//! Which kernel-log lines mean the kernel is unhealthy: the one list behind the lab's verdict
//! (`vm/src/health.rs`, over the whole console log and dmesg) and the suite's check of every
//! scenario's window (`tests/src/kmsg.rs`).
//!
//! A kernel with fault injection on prints [`FAULT_INJECTION`] and a stack dump for every failure
//! it injects on purpose; that dump is expected output, so [`scan`] skips it (and nothing else).

/// Markers of an unhealthy kernel, each with the name a verdict gives it. The first that matches
/// a line names it, so specific markers come before generic ones. A marker matches where no
/// letter, digit or `_` stands right before it (`BUG ` is not in `DEBUG `).
pub const MARKERS: &[(&str, &str)] = &[
    ("Kernel panic", "kernel panic"),
    // Debug kernels: KASAN, KFENCE, UBSAN, lockdep, kmemleak, might_sleep.
    ("BUG: KASAN:", "KASAN report"),
    ("KFENCE", "KFENCE report"),
    ("UBSAN:", "UBSAN report"),
    (
        "BUG: sleeping function called from invalid context",
        "sleeping in atomic context",
    ),
    (
        "WARNING: possible circular locking dependency",
        "lockdep: circular locking dependency",
    ),
    ("possible recursive locking", "lockdep: recursive locking"),
    (
        "inconsistent lock state",
        "lockdep: inconsistent lock state",
    ),
    ("suspicious RCU usage", "lockdep: suspicious RCU usage"),
    ("unreferenced object", "memory leak"),
    ("Memory leak", "memory leak"),
    // SLUB's reports start `BUG kmalloc-64 (...): Poison overwritten`.
    ("Poison overwritten", "slab corruption"),
    ("Redzone overwritten", "slab corruption"),
    ("Object padding overwritten", "slab corruption"),
    ("Freepointer corrupt", "slab corruption"),
    ("slab corruption", "slab corruption"),
    ("Slab corruption", "slab corruption"),
    ("list_add corruption", "list corruption"),
    ("list_del corruption", "list corruption"),
    ("refcount_t:", "refcount_t report"),
    ("kernel BUG at", "BUG"),
    ("BUG:", "BUG"),
    ("BUG ", "BUG"),
    ("Oops", "Oops"),
    ("Unable to handle kernel", "Oops"),
    ("general protection fault", "general protection fault"),
    ("WARNING:", "WARNING"),
    ("Call Trace", "Call Trace"),
    ("blocked for more than", "hung task"),
    ("soft lockup", "soft lockup"),
];

/// The banner of a failure injected on purpose (`CONFIG_FAULT_INJECTION`, `lib/fault-inject.c`).
pub const FAULT_INJECTION: &str = "FAULT_INJECTION: forcing a failure";

/// Taint flags that mean the kernel was hurt (`Documentation/admin-guide/tainted-kernels.rst`):
/// B bad page, D died (oops), W warning, L soft lockup.
pub const HARMFUL_TAINTS: [(u32, char); 4] = [(5, 'B'), (7, 'D'), (9, 'W'), (14, 'L')];

/// The harmful flags of `/proc/sys/kernel/tainted`'s value, e.g. `['W']`.
pub fn harmful_taints(tainted: u64) -> Vec<char> {
    HARMFUL_TAINTS
        .iter()
        .filter(|(bit, _)| tainted & (1 << bit) != 0)
        .map(|(_, flag)| *flag)
        .collect()
}

/// The kind of report `line` is, if it is one (see [`MARKERS`]).
pub fn marker(line: &str) -> Option<&'static str> {
    MARKERS
        .iter()
        .find(|(marker, _)| matches_at_word(line, marker))
        .map(|(_, kind)| *kind)
}

/// Every unhealthy line of `lines`, as its index and its kind, in order; the stack dump after a
/// [`FAULT_INJECTION`] banner is skipped up to its end (`</TASK>`) or the first line that is no
/// part of a stack dump, which is scanned like any other.
pub fn scan<'a>(lines: impl IntoIterator<Item = &'a str>) -> Vec<(usize, &'static str)> {
    let mut found = Vec::new();
    let mut in_injected_dump = false;
    for (i, line) in lines.into_iter().enumerate() {
        let text = without_timestamp(line);
        if text.contains(FAULT_INJECTION) {
            in_injected_dump = true;
            continue;
        }
        if in_injected_dump {
            if is_stack_dump_line(text) {
                in_injected_dump = !text.trim_start().starts_with("</TASK>");
                continue;
            }
            in_injected_dump = false;
        }
        if let Some(kind) = marker(line) {
            found.push((i, kind));
        }
    }
    found
}

fn matches_at_word(line: &str, marker: &str) -> bool {
    line.match_indices(marker).any(|(at, _)| {
        line[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric() && c != '_')
    })
}

/// `[   12.345678] text` (console, dmesg) or `text` (`/dev/kmsg`) to `text`.
fn without_timestamp(line: &str) -> &str {
    if let Some(rest) = line.strip_prefix('[') {
        if let Some((stamp, text)) = rest.split_once(']') {
            if stamp.trim().chars().all(|c| c.is_ascii_digit() || c == '.') {
                return text.strip_prefix(' ').unwrap_or(text);
            }
        }
    }
    line
}

/// What `dump_stack()` prints after the fault-injection banner: the injection's parameters, the
/// task and the machine, then the frames and, for a system call, the user registers.
fn is_stack_dump_line(text: &str) -> bool {
    const PREFIXES: [&str; 17] = [
        "name ",
        "CPU: ",
        "Tainted: ",
        "Hardware name: ",
        "Call Trace:",
        "<TASK>",
        "</TASK>",
        "<IRQ>",
        "</IRQ>",
        "RIP: ",
        "Code: ",
        "RSP: ",
        "RAX: ",
        "RDX: ",
        "RBP: ",
        "R10: ",
        "R13: ",
    ];
    let text = text.trim_start();
    if PREFIXES.iter().any(|p| text.starts_with(p)) {
        return true;
    }
    // A frame: `func+0x1f/0x30`, perhaps `? ` before and ` [module]` after.
    let text = text.strip_prefix("? ").unwrap_or(text);
    let mut words = text.split_whitespace();
    let frame = words
        .next()
        .is_some_and(|sym| sym.contains("+0x") && sym.contains("/0x"));
    frame && words.all(|w| w.starts_with('[') && w.ends_with(']'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(log: &str) -> Vec<(usize, &'static str)> {
        scan(log.lines())
    }

    #[test]
    fn debug_kernel_reports_are_found() {
        let cases = [
            (
                "BUG: KASAN: slab-use-after-free in gnl_echo+0x1/0x2 [gnl_foobar_xmpl]",
                "KASAN report",
            ),
            (
                "WARNING: possible circular locking dependency detected",
                "lockdep: circular locking dependency",
            ),
            (
                "WARNING: possible recursive locking detected",
                "lockdep: recursive locking",
            ),
            (
                "WARNING: inconsistent lock state",
                "lockdep: inconsistent lock state",
            ),
            (
                "WARNING: suspicious RCU usage",
                "lockdep: suspicious RCU usage",
            ),
            (
                "BUG: sleeping function called from invalid context at mm/slub.c:1",
                "sleeping in atomic context",
            ),
            (
                "unreferenced object 0xffff888003a1c000 (size 64):",
                "memory leak",
            ),
            (
                "UBSAN: shift-out-of-bounds in net/foo.c:12:3",
                "UBSAN report",
            ),
            (
                "BUG: KFENCE: out-of-bounds read in foo+0x1/0x2",
                "KFENCE report",
            ),
            ("KFENCE: use-after-free read in bar", "KFENCE report"),
            (
                "BUG kmalloc-64 (Tainted: G O): Poison overwritten",
                "slab corruption",
            ),
            ("BUG kmalloc-64 (Not tainted): Object already free", "BUG"),
            (
                "refcount_t: underflow; use-after-free.",
                "refcount_t report",
            ),
            ("Oops#1", "Oops"),
        ];
        for (line, kind) in cases {
            assert_eq!(kinds(line), [(0, kind)], "{line}");
        }
    }

    #[test]
    fn out_of_tree_and_unsigned_modules_do_no_harm() {
        // O (12) and E (13) are what loading the lab's modules sets.
        assert_eq!(harmful_taints((1 << 12) | (1 << 13)), []);
        assert_eq!(harmful_taints((1 << 9) | (1 << 12) | (1 << 7)), ['D', 'W']);
    }

    #[test]
    fn markers_match_at_the_start_of_a_word_only() {
        assert_eq!(marker("gnl_foobar_xmpl: DEBUG mode on"), None);
        assert_eq!(marker("kfence: initialized - using 2097152 bytes"), None);
        assert_eq!(
            marker("[ 1.0] BUG: unable to handle page fault"),
            Some("BUG")
        );
    }

    /// What 6.1 prints with `failslab` on and `verbose=2`: banner, parameters, then the dump.
    const INJECTED: &str = "\
[   20.100000] FAULT_INJECTION: forcing a failure.
[   20.100001] name failslab, interval 1, probability 100, space 0, times 1
[   20.100002] CPU: 0 PID: 321 Comm: gnl-fuzz Tainted: G           O       6.1.0-28-amd64 #1  Debian 6.1.119-1
[   20.100003] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
[   20.100004] Call Trace:
[   20.100005]  <TASK>
[   20.100006]  dump_stack_lvl+0x44/0x5c
[   20.100007]  should_fail_ex.cold+0x32/0x37
[   20.100008]  ? __alloc_skb+0x8c/0x1a0
[   20.100009]  gnl_foobar_xmpl_echo+0x55/0x120 [gnl_foobar_xmpl]
[   20.100010]  do_syscall_64+0x55/0xb0
[   20.100011]  entry_SYSCALL_64_after_hwframe+0x6e/0xd8
[   20.100012] RIP: 0033:0x7f1e2c5a1b3a
[   20.100013] Code: d8 64 89 02 48 c7 c0 ff ff ff ff eb b8 0f 1f 00 f3 0f 1e fa
[   20.100014] RSP: 002b:00007ffd1a0c1e48 EFLAGS: 00000246 ORIG_RAX: 000000000000002c
[   20.100015] RAX: ffffffffffffffda RBX: 0000000000000001 RCX: 00007f1e2c5a1b3a
[   20.100016] RDX: 0000000000000024 RSI: 00005566f7a7e2a0 RDI: 0000000000000003
[   20.100017] RBP: 0000000000000003 R08: 00007ffd1a0c1e60 R09: 000000000000000c
[   20.100018] R10: 0000000000000000 R11: 0000000000000246 R12: 00005566f7a7e2a0
[   20.100019] R13: 0000000000000024 R14: 0000000000000000 R15: 0000000000000000
[   20.100020]  </TASK>
";

    #[test]
    fn an_injected_failure_and_its_stack_dump_are_expected() {
        assert_eq!(kinds(INJECTED), []);
        // The same without timestamps, as /dev/kmsg gives it, and on 5.10 (no <TASK> markers).
        let kmsg: String = INJECTED
            .lines()
            .map(|l| format!("{}\n", &l[15..]))
            .collect();
        assert_eq!(kinds(&kmsg), []);
        let old: String = INJECTED
            .lines()
            .filter(|l| !l.contains("TASK>"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(kinds(&old), []);
    }

    #[test]
    fn what_follows_an_injected_failure_is_still_scanned() {
        // After the dump's end, and right after the banner's lines when no dump follows.
        let after = format!("{INJECTED}[   21.0] Call Trace:\n");
        assert_eq!(kinds(&after), [(21, "Call Trace")]);
        let no_dump = "FAULT_INJECTION: forcing a failure.\n\
                       name failslab, interval 1, probability 100, space 0, times 1\n\
                       WARNING: CPU: 0 PID: 1 at net/netlink/genetlink.c:100 foo+0x1/0x2\n\
                       Call Trace:\n";
        assert_eq!(kinds(no_dump), [(2, "WARNING"), (3, "Call Trace")]);
        // A report in the middle of an injected dump ends the skipping.
        let inside = INJECTED.replace(
            "[   20.100010]  do_syscall_64+0x55/0xb0",
            "[   20.100010] BUG: KASAN: use-after-free in foo+0x1/0x2",
        );
        assert_eq!(kinds(&inside)[0], (10, "KASAN report"));
    }
}
