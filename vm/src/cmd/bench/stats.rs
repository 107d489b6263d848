//! Statistics of the raw samples: per client, mean, median, 99th percentile and rates.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::contract::{BenchPlan, RawRun};

/// Mean, median and 99th percentile of a set of samples, in nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub n: usize,
    pub mean_ns: f64,
    pub median_ns: f64,
    pub p99_ns: f64,
    pub min_ns: f64,
}

impl Stats {
    /// The statistics of `samples` (all zero for none). The median of an even count is the mean
    /// of the two middle samples; p99 is the nearest-rank percentile.
    pub fn of(samples: &[u64]) -> Stats {
        if samples.is_empty() {
            return Stats::default();
        }
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2] as f64
        } else {
            (sorted[n / 2 - 1] as f64 + sorted[n / 2] as f64) / 2.0
        };
        let rank = (0.99 * n as f64).ceil() as usize;
        Stats {
            n,
            mean_ns: sorted.iter().map(|&s| s as f64).sum::<f64>() / n as f64,
            median_ns: median,
            p99_ns: sorted[rank.clamp(1, n) - 1] as f64,
            min_ns: sorted[0] as f64,
        }
    }

    /// Operations per second at the mean latency, `per_op` operations per sample.
    pub fn per_second(&self, per_op: f64) -> f64 {
        if self.mean_ns > 0.0 {
            per_op * 1e9 / self.mean_ns
        } else {
            0.0
        }
    }
}

/// One client's results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClientResult {
    pub client: String,
    /// In-process: open a socket, resolve the family, echo, close.
    pub oneshot: Stats,
    /// A whole `echo hello` process, start to exit.
    pub process: Stats,
    /// One echo on an open socket.
    pub steady: Stats,
    pub steady_per_sec: f64,
    /// One dump of `dump_count` messages.
    pub dump: Stats,
    pub dump_msgs_per_sec: f64,
    /// System calls of one `echo hello` process, and by name.
    pub syscalls: u64,
    pub syscalls_by_name: BTreeMap<String, u64>,
}

/// One run of `cargo lab bench` on one kernel: what is saved under `target/lab/bench/`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    pub kernel: String,
    pub release: String,
    pub accel: String,
    /// UTC, ISO 8601.
    pub date: String,
    pub versions: BTreeMap<String, String>,
    pub plan: BenchPlan,
    pub clients: Vec<ClientResult>,
}

pub(super) fn summarize(raw: &RawRun) -> Vec<ClientResult> {
    raw.clients
        .iter()
        .map(|c| {
            let steady = Stats::of(&c.steady);
            let dump = Stats::of(&c.dump);
            ClientResult {
                client: c.client.clone(),
                oneshot: Stats::of(&c.oneshot),
                process: Stats::of(&c.process),
                steady,
                steady_per_sec: steady.per_second(1.0),
                dump,
                dump_msgs_per_sec: dump.per_second(f64::from(raw.plan.dump_count)),
                syscalls: c.syscalls.values().sum(),
                syscalls_by_name: c.syscalls.clone(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_of_samples() {
        let s = Stats::of(&[5, 1, 3, 2, 4]);
        assert_eq!((s.n, s.median_ns, s.min_ns, s.mean_ns), (5, 3.0, 1.0, 3.0));
        assert_eq!(s.p99_ns, 5.0);
        assert_eq!(Stats::of(&[4, 1, 3, 2]).median_ns, 2.5);
        let hundred: Vec<u64> = (1..=100).collect();
        assert_eq!(Stats::of(&hundred).p99_ns, 99.0);
        let thousand: Vec<u64> = (1..=1000).collect();
        assert_eq!(Stats::of(&thousand).p99_ns, 990.0);
        assert_eq!(Stats::of(&[]), Stats::default());
        assert_eq!(Stats::of(&[7]).p99_ns, 7.0);
        let s = Stats::of(&[1_000, 1_000]);
        assert_eq!(s.per_second(1.0), 1e6);
        assert_eq!(s.per_second(100.0), 1e8);
        assert_eq!(Stats::default().per_second(1.0), 0.0);
    }
}
