//! What a fuzzing run counted: the totals of one line, and per operation how many messages were
//! sent, how many answered, and how each ended, so a user sees every operation was exercised.

use std::collections::BTreeMap;
use std::fmt::Write as _;

pub use nl_codec::errno_name;

/// How many bytes of a datagram a reproducer shows.
const REPRODUCER_BYTES: usize = 512;

/// One operation's counts.
#[derive(Default, Debug, Clone)]
pub struct OpCounts {
    pub sent: u64,
    pub answered: u64,
    /// Taken by the policy (so the handler was reached).
    pub valid: u64,
    /// Endings by name: ack, done, or the errno.
    pub endings: BTreeMap<String, u64>,
}

/// What one run found.
#[derive(Default, Debug)]
pub struct Totals {
    /// Datagrams sent.
    pub datagrams: u64,
    /// Messages generated (a datagram carries one or more).
    pub messages: u64,
    /// Messages the oracle said must be answered, and were.
    pub answered: u64,
    /// Messages that must not be answered, and were not.
    pub ignored: u64,
    /// Answers whose ending or content the oracle checked exactly.
    pub checked: u64,
    /// `ENOBUFS` reports (answers the kernel dropped and said so).
    pub overruns: u64,
    /// Sockets closed on purpose with answers (or a dump) outstanding.
    pub abandoned: u64,
    /// Events the monitor received, all well formed.
    pub events: u64,
    /// Per operation (and kind of message the family does not take).
    pub ops: BTreeMap<String, OpCounts>,
    /// Violations of the oracle, each with its reproducer.
    pub violations: Vec<String>,
}

impl Totals {
    /// Adds another worker's counts.
    pub fn merge(&mut self, o: Totals) {
        self.datagrams += o.datagrams;
        self.messages += o.messages;
        self.answered += o.answered;
        self.ignored += o.ignored;
        self.checked += o.checked;
        self.overruns += o.overruns;
        self.abandoned += o.abandoned;
        self.events += o.events;
        for (name, c) in o.ops {
            let mine = self.ops.entry(name).or_default();
            mine.sent += c.sent;
            mine.answered += c.answered;
            mine.valid += c.valid;
            for (e, n) in c.endings {
                *mine.endings.entry(e).or_default() += n;
            }
        }
        self.violations.extend(o.violations);
    }

    /// Counts an ending of an operation.
    pub fn ending(&mut self, op: &str, name: String) {
        *self
            .ops
            .entry(op.to_owned())
            .or_default()
            .endings
            .entry(name)
            .or_default() += 1;
    }

    /// One line of counts.
    pub fn summary(&self) -> String {
        format!(
            "{} messages in {} datagrams; answered {} that must be, {} ignored that must be, {} \
             answers checked exactly; {} overruns (ENOBUFS), {} sockets closed mid-answer; {} \
             events; {} violations",
            self.messages,
            self.datagrams,
            self.answered,
            self.ignored,
            self.checked,
            self.overruns,
            self.abandoned,
            self.events,
            self.violations.len()
        )
    }

    /// The per-operation table: sent, answered, and each ending.
    pub fn table(&self) -> String {
        let width = self.ops.keys().map(String::len).max().unwrap_or(0);
        let mut out = String::new();
        for (name, c) in &self.ops {
            let mut endings = String::new();
            for (e, n) in &c.endings {
                write!(endings, " {e} {n}").unwrap();
            }
            writeln!(
                out,
                "  {name:width$}  sent {:>6}  answered {:>6}  valid {:>6} ;{endings}",
                c.sent, c.answered, c.valid
            )
            .unwrap();
        }
        out
    }
}

/// A datagram in hex, for a reproducer.
pub fn hex(d: &[u8]) -> String {
    let shown = nl_codec::hex(&d[..d.len().min(REPRODUCER_BYTES)]).replace(' ', "");
    if d.len() > REPRODUCER_BYTES {
        shown + "..."
    } else {
        shown
    }
}
