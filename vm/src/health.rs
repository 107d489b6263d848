//! Kernel log health: finds the reports a healthy kernel never prints (Oops, BUG, WARNING, panic,
//! slab corruption, KFENCE, KASAN, lockdep...), wherever they are in the console log or dmesg. The
//! markers are `lab_facts::health`'s, the same the suite checks each scenario against.

/// One suspicious line in a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What kind of report it is, e.g. "WARNING".
    pub kind: &'static str,
    /// 1-based line number in the scanned text.
    pub line_no: usize,
    /// The line itself, trimmed.
    pub line: String,
}

impl Finding {
    /// One line for a verdict: the kind and where it is.
    pub fn describe(&self, log_name: &str) -> String {
        format!(
            "{} in {log_name} line {}: {}",
            self.kind, self.line_no, self.line
        )
    }
}

/// Scans a kernel log (dmesg) and returns every line that shows the kernel is unhealthy.
pub fn scan(log: &str) -> Vec<Finding> {
    scan_lines(log, |_| true)
}

/// Scans a console log, where the guest's programs also write: only kernel lines count, those that
/// start with a `[    1.234567]` timestamp, so a test that prints "WARNING: " is no kernel report.
pub fn scan_console(log: &str) -> Vec<Finding> {
    scan_lines(log, is_kernel_line)
}

/// Whether a console line is the kernel's (`[    1.234567] ...`) rather than a program's.
pub fn is_kernel_line(line: &str) -> bool {
    let Some(rest) = line.strip_prefix('[') else {
        return false;
    };
    let Some((stamp, _)) = rest.split_once(']') else {
        return false;
    };
    let stamp = stamp.trim();
    !stamp.is_empty() && stamp.chars().all(|c| c.is_ascii_digit() || c == '.')
}

fn scan_lines(log: &str, keep: impl Fn(&str) -> bool) -> Vec<Finding> {
    let kept: Vec<(usize, &str)> = log.lines().enumerate().filter(|(_, l)| keep(l)).collect();
    lab_facts::health::scan(kept.iter().map(|(_, line)| *line))
        .into_iter()
        .map(|(i, kind)| Finding {
            kind,
            line_no: kept[i].0 + 1,
            line: kept[i].1.trim().to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_boot_log_has_no_findings() {
        let log = "[    0.000000] Linux version 6.1.0-56-amd64\n\
                   [   14.7] t: loading out-of-tree module taints kernel.\n\
                   [   14.8] t: module verification failed: signature and/or required key missing - tainting kernel\n\
                   [   15.0] gnl_foobar_xmpl: registered family gnl_foobar_xmpl version 1\n";
        assert!(scan(log).is_empty());
    }

    #[test]
    fn every_kind_of_report_is_found() {
        let cases = [
            (
                "[ 1.0] WARNING: CPU: 0 PID: 1 at net/netlink/genetlink.c:100 foo+0x1/0x2",
                "WARNING",
            ),
            (
                "[ 1.0] BUG: kernel NULL pointer dereference, address: 0000000000000000",
                "BUG",
            ),
            ("[ 1.0] kernel BUG at mm/slub.c:100!", "BUG"),
            ("[ 1.0] Oops: 0000 [#1] PREEMPT SMP NOPTI", "Oops"),
            (
                "[ 1.0] Kernel panic - not syncing: Fatal exception",
                "kernel panic",
            ),
            ("[ 1.0] Call Trace:", "Call Trace"),
            (
                "[ 1.0] BUG kmalloc-64 (Tainted: G O): Poison overwritten",
                "slab corruption",
            ),
            (
                "[ 1.0] BUG: KFENCE: out-of-bounds read in foo+0x1/0x2",
                "KFENCE report",
            ),
            ("[ 1.0] KFENCE: use-after-free read in bar", "KFENCE report"),
            (
                "[ 1.0] general protection fault, probably for non-canonical address",
                "general protection fault",
            ),
            (
                "[ 1.0] INFO: task rmmod:123 blocked for more than 120 seconds.",
                "hung task",
            ),
        ];
        for (line, kind) in cases {
            let found = scan(line);
            assert_eq!(found.len(), 1, "{line}");
            assert_eq!(found[0].kind, kind, "{line}");
        }
    }

    #[test]
    fn console_scan_ignores_program_output() {
        let log = "test warns ... WARNING: this is only a test name\n\
                   [   12.345678] WARNING: CPU: 0 PID: 1 at kernel/foo.c:1 bar\n";
        let found = scan_console(log);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].line_no, 2);
    }

    #[test]
    fn kernel_lines_have_a_timestamp() {
        assert!(is_kernel_line("[   12.345678] gnl_foobar_xmpl: loaded"));
        assert!(is_kernel_line("[0.000000] Linux version"));
        assert!(!is_kernel_line("[ok] test passed"));
        assert!(!is_kernel_line("test result: ok"));
        assert!(!is_kernel_line("[] nothing"));
    }

    #[test]
    fn findings_carry_line_numbers() {
        let log = "ok\nok\n[ 2.0] WARNING: CPU: 1 PID: 7 at x\nok\n";
        let found = scan(log);
        assert_eq!(found[0].line_no, 3);
        assert!(found[0]
            .describe("dmesg.txt")
            .starts_with("WARNING in dmesg.txt line 3:"));
    }
}
