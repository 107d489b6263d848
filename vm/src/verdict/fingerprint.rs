//! Crash fingerprints: each kernel report (splat) in a log reduced to its kind and the first
//! frames of its stack, without addresses or offsets, so the same bug reads the same on every
//! kernel and every run (`WARNING in xmpl_echo_doit <- genl_family_rcv_msg_doit <- genl_rcv_msg`).

use crate::health;

/// How many stack frames a fingerprint keeps.
const FRAMES: usize = 3;

/// How many lines after its first one a report may run to.
const MAX_REPORT_LINES: usize = 120;

/// Frames that belong to the reporting machinery, not to the bug: skipped.
const REPORTING_FRAMES: &[&str] = &[
    "dump_stack",
    "dump_stack_lvl",
    "show_stack",
    "print_report",
    "print_address_description",
    "kasan_report",
    "kasan_check_range",
    "__kasan_check_read",
    "__kasan_check_write",
    "kfence_report_error",
    "kfence_handle_page_fault",
    "__warn",
    "warn_slowpath_fmt",
    "report_bug",
    "handle_bug",
    "exc_invalid_op",
    "asm_exc_invalid_op",
    "__might_resched",
    "__might_sleep",
    "__might_fault",
    "might_fault",
    "print_circular_bug",
    "check_noncircular",
    "check_prev_add",
    "check_prevs_add",
    "validate_chain",
    "__lock_acquire",
    "lock_acquire",
    "ubsan_epilogue",
    "panic",
    "die",
    "oops_end",
    "page_fault_oops",
    "kernelmode_fixup_or_oops",
    "__bad_area_nosemaphore",
    "do_user_addr_fault",
    "exc_page_fault",
    "asm_exc_page_fault",
];

/// The part of a log line after its `[    1.234567] ` timestamp (and any `<4>` level).
fn text_of(line: &str) -> &str {
    let line = line.trim();
    let line = match line.strip_prefix('[').and_then(|r| r.split_once(']')) {
        Some((stamp, rest)) if stamp.trim().chars().all(|c| c.is_ascii_digit() || c == '.') => rest,
        _ => line,
    };
    line.trim()
}

/// `gnl_echo_doit+0x1a/0x40 [gnl_foobar_xmpl]` gives `gnl_echo_doit`; `? foo+0x1/0x2` (a stale
/// stack word) and markers such as `<TASK>` give nothing.
fn frame(text: &str) -> Option<&str> {
    let text = text.strip_prefix("RIP: 0010:").unwrap_or(text);
    if text.starts_with('?') || text.starts_with('<') {
        return None;
    }
    let symbol = text.split_whitespace().next()?;
    let (function, offset) = symbol.split_once("+0x")?;
    offset.contains("/0x").then_some(function)
}

/// A report's kind from its first line, more precise than the health scan's marker: the sanitizer
/// and its bug type, or the lockdep check, never addresses, CPUs, PIDs or line numbers.
fn kind(first: &str, marker: &str) -> String {
    let text = text_of(first);
    for prefix in ["BUG: KASAN: ", "BUG: KFENCE: ", "KFENCE: ", "UBSAN: "] {
        if let Some(rest) = text.strip_prefix(prefix) {
            let tool = prefix
                .trim_start_matches("BUG: ")
                .trim_end_matches([':', ' ']);
            let what = rest.split(" in ").next().unwrap_or(rest).trim();
            return format!("{tool} {what}");
        }
    }
    if let Some(rest) = text.strip_prefix("WARNING: possible ") {
        return format!(
            "lockdep {}",
            rest.trim_end_matches(['!', ' '])
                .trim_end_matches(" detected")
        );
    }
    if text.starts_with("WARNING: inconsistent lock state") {
        return "lockdep inconsistent lock state".to_owned();
    }
    if text.starts_with("WARNING: ") {
        return "WARNING".to_owned();
    }
    if let Some(rest) = text.strip_prefix("kernel BUG at ") {
        let file = rest.split(':').next().unwrap_or(rest);
        return format!("BUG at {file}");
    }
    if let Some(rest) = text.strip_prefix("BUG: ") {
        let what = rest.split([',', ':']).next().unwrap_or(rest).trim();
        return format!("BUG {what}");
    }
    marker.to_owned()
}

/// Where a report that starts at `start` ends: its `---[ end trace` line, KASAN's closing `====`
/// rule, or [`MAX_REPORT_LINES`] later.
fn report_end(lines: &[&str], start: usize) -> usize {
    let last = (start + MAX_REPORT_LINES).min(lines.len().saturating_sub(1));
    (start + 1..=last)
        .find(|&i| {
            let t = text_of(lines[i]);
            t.starts_with("---[ end trace") || (t.len() > 20 && t.chars().all(|c| c == '='))
        })
        .unwrap_or(last)
}

/// The first frames of a report: its `RIP:` (where the CPU was) if it has one, then its stack
/// trace, reporting machinery skipped.
fn frames(report: &[&str]) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let rip = report
        .iter()
        .map(|l| text_of(l))
        .find(|t| t.starts_with("RIP: 0010:"));
    let after_trace = report
        .iter()
        .skip_while(|l| !text_of(l).starts_with("Call Trace:"))
        .map(|l| text_of(l));
    for text in rip.into_iter().chain(after_trace) {
        if let Some(function) = frame(text) {
            if !REPORTING_FRAMES.contains(&function)
                && !function.starts_with("__ubsan_handle_")
                && !function.starts_with("__asan_")
                && found.last().is_none_or(|f| f != function)
            {
                found.push(function.to_owned());
            }
        }
        if found.len() == FRAMES {
            break;
        }
    }
    found
}

/// One fingerprint per distinct report in a kernel log, in order of appearance.
pub fn of_log(log: &str) -> Vec<String> {
    let lines: Vec<&str> = log.lines().collect();
    let mut fingerprints: Vec<String> = Vec::new();
    let mut covered_until = 0;
    for finding in health::scan_console(log) {
        let start = finding.line_no - 1;
        if start < covered_until && covered_until > 0 {
            continue;
        }
        let end = report_end(&lines, start);
        covered_until = end + 1;
        let frames = frames(&lines[start..=end]);
        let kind = kind(lines[start], finding.kind);
        let fingerprint = if frames.is_empty() {
            kind
        } else {
            format!("{kind} in {}", frames.join(" <- "))
        };
        if !fingerprints.contains(&fingerprint) {
            fingerprints.push(fingerprint);
        }
    }
    fingerprints
}

/// The kernel reports of a multi-kernel run, one paragraph per fingerprint with the kernels that
/// printed it, so the same bug on several kernels reads as one problem. Empty when none.
/// `kernels` holds each kernel's name and fingerprints.
pub fn by_fingerprint<'a>(kernels: impl IntoIterator<Item = (&'a str, &'a [String])>) -> String {
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for (kernel, fingerprints) in kernels {
        for fingerprint in fingerprints {
            match groups.iter_mut().find(|(f, _)| f == fingerprint) {
                Some((_, kernels)) => kernels.push(kernel),
                None => groups.push((fingerprint, vec![kernel])),
            }
        }
    }
    let mut out = String::new();
    if !groups.is_empty() {
        out += &format!("\nkernel reports ({} distinct):\n", groups.len());
    }
    for (fingerprint, kernels) in groups {
        out += &format!("  {fingerprint}\n      on {}\n", kernels.join(", "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A WARN_ONCE put in the echo handler on purpose, as 6.1 printed it in the lab (dmesg.txt).
    const WARNING: &str = include_str!("../../testdata/warning-6.1.txt");

    /// The same WARNING as 5.10 printed it: other offsets, PID, timestamps and callers' shape.
    const WARNING_ELSEWHERE: &str = include_str!("../../testdata/warning-5.10.txt");

    const KASAN: &str = "\
[   21.412345] ==================================================================
[   21.412399] BUG: KASAN: slab-use-after-free in lab_broken_uaf+0x9c/0xb0 [lab_broken]
[   21.412512] Read of size 4 at addr ffff888004a1c2d0 by task insmod/301
[   21.412600] 
[   21.412612] CPU: 0 UID: 0 PID: 301 Comm: insmod Tainted: G           OE      7.3.4-lab-debug #1
[   21.412700] Call Trace:
[   21.412710]  <TASK>
[   21.412720]  dump_stack_lvl+0x64/0x80
[   21.412730]  print_report+0xcf/0x660
[   21.412740]  ? lab_broken_uaf+0x9c/0xb0 [lab_broken]
[   21.412750]  kasan_report+0xd7/0x110
[   21.412760]  ? lab_broken_uaf+0x9c/0xb0 [lab_broken]
[   21.412770]  lab_broken_uaf+0x9c/0xb0 [lab_broken]
[   21.412780]  lab_broken_init+0x3e/0xff0 [lab_broken]
[   21.412790]  do_one_initcall+0x7a/0x380
[   21.412800]  do_init_module+0x24e/0x7a0
[   21.412810]  </TASK>
[   21.412820] 
[   21.412830] Allocated by task 301:
[   21.412840]  kasan_save_stack+0x30/0x50
[   21.412850]  lab_broken_uaf+0x3d/0xb0 [lab_broken]
[   21.412990] ==================================================================
";

    const LOCKDEP: &str = "\
[   30.100000] ======================================================
[   30.100001] WARNING: possible circular locking dependency detected
[   30.100002] 7.3.4-lab-debug #1 Tainted: G           OE
[   30.100003] ------------------------------------------------------
[   30.100004] insmod/412 is trying to acquire lock:
[   30.100005] ffffffffc0a0e0a0 (lab_lock_b){+.+.}-{4:4}, at: lab_broken_lockorder+0x5a/0xa0 [lab_broken]
[   30.100050] stack backtrace:
[   30.100051] CPU: 1 UID: 0 PID: 412 Comm: insmod Tainted: G           OE      7.3.4-lab-debug #1
[   30.100052] Call Trace:
[   30.100053]  <TASK>
[   30.100054]  dump_stack_lvl+0x8e/0xb0
[   30.100055]  print_circular_bug+0x2d5/0x410
[   30.100056]  check_noncircular+0x14a/0x170
[   30.100057]  __lock_acquire+0x1f45/0x3430
[   30.100058]  lock_acquire+0xd4/0x2f0
[   30.100059]  ? lab_broken_lockorder+0x5a/0xa0 [lab_broken]
[   30.100060]  __mutex_lock+0x9e/0xd90
[   30.100061]  lab_broken_lockorder+0x5a/0xa0 [lab_broken]
[   30.100062]  lab_broken_init+0x3e/0xff0 [lab_broken]
[   30.100063]  do_one_initcall+0x7a/0x380
[   30.100070]  </TASK>
";

    const NULL_DEREF: &str = "\
[   40.000000] BUG: kernel NULL pointer dereference, address: 0000000000000010
[   40.000001] #PF: supervisor read access in kernel mode
[   40.000002] #PF: error_code(0x0000) - not-present page
[   40.000003] Oops: 0000 [#1] PREEMPT SMP NOPTI
[   40.000004] CPU: 0 PID: 77 Comm: gnl-raw Tainted: G           OE      6.12.117+deb12-amd64 #1
[   40.000005] RIP: 0010:gnl_dump_start+0x12/0x60 [gnl_foobar_xmpl]
[   40.000006] Call Trace:
[   40.000007]  <TASK>
[   40.000008]  ? __die+0x23/0x70
[   40.000009]  ? page_fault_oops+0x17d/0x4c0
[   40.000010]  ? exc_page_fault+0x7f/0x180
[   40.000011]  ? asm_exc_page_fault+0x26/0x30
[   40.000012]  ? gnl_dump_start+0x12/0x60 [gnl_foobar_xmpl]
[   40.000013]  genl_start+0xee/0x160
[   40.000014]  __netlink_dump_start+0x1b4/0x2c0
[   40.000015]  </TASK>
[   40.000016] ---[ end trace 0000000000000000 ]---
";

    #[test]
    fn a_warning_is_its_faulting_function_and_callers() {
        assert_eq!(
            of_log(WARNING),
            ["WARNING in xmpl_echo_doit <- genl_family_rcv_msg_doit <- genl_rcv_msg"]
        );
    }

    #[test]
    fn the_same_warning_on_another_kernel_has_the_same_fingerprint() {
        assert_eq!(of_log(WARNING), of_log(WARNING_ELSEWHERE));
    }

    #[test]
    fn kasan_names_its_bug_type_and_skips_its_own_frames() {
        assert_eq!(
            of_log(KASAN),
            ["KASAN slab-use-after-free in lab_broken_uaf <- lab_broken_init <- do_one_initcall"]
        );
    }

    #[test]
    fn lockdep_names_its_check() {
        assert_eq!(
            of_log(LOCKDEP),
            ["lockdep circular locking dependency in __mutex_lock <- lab_broken_lockorder <- lab_broken_init"]
        );
    }

    #[test]
    fn an_oops_is_one_report_named_by_its_bug_line() {
        assert_eq!(
            of_log(NULL_DEREF),
            ["BUG kernel NULL pointer dereference in gnl_dump_start <- genl_start <- __netlink_dump_start"]
        );
    }

    #[test]
    fn the_summary_groups_kernels_by_fingerprint() {
        let runs = [
            ("5.10", of_log(WARNING)),
            ("6.12", of_log(NULL_DEREF)),
            ("7.3", of_log(WARNING_ELSEWHERE)),
        ];
        let summary = by_fingerprint(runs.iter().map(|(k, f)| (*k, f.as_slice())));
        assert_eq!(
            summary,
            "\nkernel reports (2 distinct):\n  \
             WARNING in xmpl_echo_doit <- genl_family_rcv_msg_doit <- genl_rcv_msg\n      on 5.10, 7.3\n  \
             BUG kernel NULL pointer dereference in gnl_dump_start <- genl_start <- __netlink_dump_start\n      on 6.12\n"
        );
    }

    #[test]
    fn two_reports_in_one_log_are_two_fingerprints_and_repeats_count_once() {
        let log = format!("{WARNING}{KASAN}{WARNING_ELSEWHERE}");
        assert_eq!(of_log(&log).len(), 2, "{:?}", of_log(&log));
        assert!(of_log("[ 1.0] all quiet\n").is_empty());
    }
}
