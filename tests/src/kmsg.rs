//! Kernel-log capture through `/dev/kmsg`: a mark before a scenario, the module's lines after it.

use std::fs::File;
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;

use crate::MODULE;

/// Substrings of kernel-log lines that mean the kernel is unhealthy; any of them in a scenario's
/// window fails the test that ran it.
const UNHEALTHY: [&str; 10] = [
    "WARNING:",
    "BUG:",
    "BUG ",
    "Oops",
    "Call Trace",
    "KFENCE",
    "general protection fault",
    "refcount_t:",
    "list_add corruption",
    "Kernel panic",
];

/// A reader of `/dev/kmsg` positioned at the end of the log when it was created.
#[derive(Debug)]
pub struct KernelLog {
    file: File,
}

impl KernelLog {
    /// Opens `/dev/kmsg` (non-blocking) and seeks to its end: later reads see only new records.
    pub fn mark() -> Self {
        let mut file = File::options()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/kmsg")
            .unwrap_or_else(|e| panic!("cannot open /dev/kmsg (run as root in the lab): {e}"));
        file.seek(SeekFrom::End(0))
            .expect("lseek(/dev/kmsg, 0, SEEK_END)");
        KernelLog { file }
    }

    /// Every record written since the mark (or the last read), without the kmsg header.
    pub fn all_lines(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        // One read returns one record; records are at most about 1 KiB of text plus dictionary.
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match self.file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => lines.push(parse_record(&buf[..n])),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                // EPIPE: records were overwritten before we read them; the next read goes on
                // from the oldest record left. Say so, rather than hide the gap.
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => {
                    lines.push("[kernel log records lost: the ring buffer wrapped]".to_owned())
                }
                Err(e) => panic!("read(/dev/kmsg): {e}"),
            }
        }
        lines
    }

    /// The module's lines (`pr_fmt` prefix `gnl_foobar_xmpl: `) since the mark, prefix kept.
    ///
    /// Panics if any line of the window, the module's or not, shows the kernel unhealthy.
    /// Leaves out the kernel's one-time taint notices, which name the module but depend on
    /// whether an earlier test already loaded it in this boot.
    pub fn module_lines(&mut self) -> Vec<String> {
        self.lines_of(MODULE)
    }

    /// Like [`KernelLog::module_lines`], for the module named `module`.
    pub fn lines_of(&mut self, module: &str) -> Vec<String> {
        let all = self.all_lines();
        let unhealthy: Vec<_> = all
            .iter()
            .filter(|line| UNHEALTHY.iter().any(|bad| line.contains(bad)))
            .collect();
        assert!(
            unhealthy.is_empty(),
            "the kernel logged trouble during this scenario: {unhealthy:#?}"
        );
        let prefix = format!("{module}: ");
        all.into_iter()
            .filter(|line| {
                line.starts_with(&prefix) || line.starts_with("[kernel log records lost")
            })
            .filter(|line| !line.ends_with("taints kernel.") && !line.ends_with("tainting kernel"))
            .collect()
    }
}

/// `PRIO,SEQ,USEC,FLAGS[,...];TEXT\n[ KEY=VALUE\n...]` to `TEXT` (still `\xNN`-escaped).
fn parse_record(record: &[u8]) -> String {
    let record = String::from_utf8_lossy(record);
    let first = record.lines().next().unwrap_or("");
    match first.split_once(';') {
        Some((_, text)) => text.to_owned(),
        None => first.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_record;

    #[test]
    fn strips_header_and_dictionary() {
        let record = b"7,1234,5678901,-;gnl_foobar_xmpl: echo; x\n SUBSYSTEM=net\n";
        assert_eq!(parse_record(record), "gnl_foobar_xmpl: echo; x");
    }
}
