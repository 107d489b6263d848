//! kmemleak, the debug kernel's leak detector, as the runner's guest side (a scan after every
//! run) and the fuzzer's leak check (a scan after the load/unload cycles) both drive it.

use std::fs;
use std::io;
use std::path::Path;
use std::thread;
use std::time::Duration;

const KMEMLEAK: &str = "/sys/kernel/debug/kmemleak";

/// Whether this kernel has kmemleak (the lab's debug kernel); mounts debugfs if needed.
pub fn available() -> bool {
    crate::mount_debugfs();
    Path::new(KMEMLEAK).exists()
}

/// `echo command > /sys/kernel/debug/kmemleak`.
pub fn command(command: &str) -> io::Result<()> {
    fs::write(KMEMLEAK, command)
        .map_err(|e| io::Error::new(e.kind(), format!("echo {command} > {KMEMLEAK}: {e}")))
}

/// Scans twice, as the kernel's networking CI does (an object younger than 5 s, or one a stale
/// pointer still hides, escapes a first scan), and returns kmemleak's report: every suspected
/// leak since the last `clear`.
pub fn scan() -> io::Result<String> {
    thread::sleep(Duration::from_secs(6));
    command("scan")?;
    thread::sleep(Duration::from_secs(1));
    command("scan")?;
    fs::read_to_string(KMEMLEAK)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot read {KMEMLEAK}: {e}")))
}

/// The suspected leaks in a report, each by its first line (`unreferenced object 0x… (size N)`).
pub fn suspects(report: &str) -> Vec<&str> {
    report
        .lines()
        .filter(|l| l.starts_with("unreferenced object"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suspects_are_the_reports_headers() {
        let report = "unreferenced object 0xffff888003a1c000 (size 64):\n  comm \"insmod\", pid 9\n  backtrace (crc 0):\n    kmalloc_trace+0x2a/0x60\nunreferenced object 0xffff888003a1c040 (size 32):\n  comm \"x\"\n";
        assert_eq!(
            suspects(report),
            [
                "unreferenced object 0xffff888003a1c000 (size 64):",
                "unreferenced object 0xffff888003a1c040 (size 32):"
            ]
        );
        assert!(suspects("").is_empty());
    }
}
