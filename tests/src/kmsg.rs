//! Kernel-log capture around a scenario: a mark before it, the module's lines after it, and the
//! check that the kernel stayed healthy meanwhile (`lab_facts`' reader and markers).

use lab_facts::kmsg::{Kmsg, LOST};

use crate::lab::MODULE;

/// A reader of `/dev/kmsg` positioned at the end of the log when it was created.
#[derive(Debug)]
pub struct KernelLog {
    kmsg: Kmsg,
}

impl KernelLog {
    /// Opens `/dev/kmsg` (non-blocking) and seeks to its end: later reads see only new records.
    pub fn mark() -> Self {
        let kmsg = Kmsg::mark()
            .unwrap_or_else(|e| panic!("cannot open /dev/kmsg (run as root in the lab): {e}"));
        KernelLog { kmsg }
    }

    /// The module's lines (`pr_fmt` prefix `gnl_foobar_xmpl: `) since the mark, prefix kept; in
    /// a concurrent test, only the lines of its own requests ([`crate::turn::owns_line`]).
    ///
    /// Panics if any line of the window, the module's or not, shows the kernel unhealthy.
    /// Leaves out the kernel's one-time taint notices, which name the module but depend on
    /// whether an earlier test already loaded it in this boot.
    pub fn module_lines(&mut self) -> Vec<String> {
        self.lines_of(MODULE)
    }

    /// Like [`KernelLog::module_lines`], for the module named `module`.
    pub fn lines_of(&mut self, module: &str) -> Vec<String> {
        let all = self
            .kmsg
            .read_new()
            .unwrap_or_else(|e| panic!("read(/dev/kmsg): {e}"));
        // The lab's own list, the one its verdict uses too.
        let unhealthy: Vec<_> = lab_facts::health::scan(all.iter().map(String::as_str))
            .into_iter()
            .map(|(i, kind)| format!("{kind}: {}", all[i]))
            .collect();
        assert!(
            unhealthy.is_empty(),
            "the kernel logged trouble during this scenario: {unhealthy:#?}"
        );
        let prefix = format!("{module}: ");
        all.into_iter()
            .filter(|line| line.starts_with(&prefix) || line == LOST)
            .filter(|line| line == LOST || crate::turn::owns_line(line))
            .filter(|line| !line.ends_with("taints kernel.") && !line.ends_with("tainting kernel"))
            .collect()
    }
}
