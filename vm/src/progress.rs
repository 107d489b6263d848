//! Progress of long steps (downloads, installs, builds): a bar with size, rate and time left on a
//! terminal (indicatif), and without one (CI logs) a plain line every 10% or every 30 s.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, HumanDuration, ProgressBar, ProgressStyle};

/// How often a log without a terminal gets a line when the percentage moves slowly.
const LINE_EVERY: Duration = Duration::from_secs(30);

/// What the numbers count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Bytes,
    Percent,
    /// Files compiled (a build whose total is not known ahead).
    Files,
}

/// One step's progress, on stderr.
pub struct Progress {
    label: String,
    unit: Unit,
    total: Option<u64>,
    bar: Option<ProgressBar>,
    /// Without a terminal: the last 10% step printed and when the last line was printed.
    last_tenth: u64,
    last_line: Instant,
    position: u64,
}

impl Progress {
    /// Starts showing `label`; `total` is the expected amount, if known (a spinner otherwise).
    pub fn new(label: impl Into<String>, unit: Unit, total: Option<u64>) -> Progress {
        let label = label.into();
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = match total {
                Some(t) => ProgressBar::new(t),
                None => ProgressBar::new_spinner(),
            };
            let template = match (unit, total) {
                (Unit::Bytes, Some(_)) => {
                    "    {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta} left"
                }
                (Unit::Bytes, None) => "    {msg} {spinner} {bytes} {bytes_per_sec} {elapsed}",
                (Unit::Percent, _) => "    {msg} [{bar:30}] {pos}% {elapsed}, {eta} left",
                (Unit::Files, _) => "    {msg} {spinner} {pos} files, {elapsed}",
            };
            bar.set_style(
                ProgressStyle::with_template(template)
                    .expect("a valid template")
                    .progress_chars("=> "),
            );
            bar.set_message(label.clone());
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        if bar.is_none() {
            eprintln!("    {label}: started");
        }
        Progress {
            label,
            unit,
            total,
            bar,
            last_tenth: 0,
            last_line: Instant::now(),
            position: 0,
        }
    }

    /// Moves to `position` (bytes or percent).
    pub fn set(&mut self, position: u64) {
        self.position = position;
        if let Some(bar) = &self.bar {
            bar.set_position(position);
            return;
        }
        let tenth = self
            .total
            .map_or(0, |t| position.saturating_mul(10) / t.max(1));
        if tenth > self.last_tenth || self.last_line.elapsed() >= LINE_EVERY {
            self.last_tenth = tenth.max(self.last_tenth);
            self.last_line = Instant::now();
            eprintln!("    {}: {}", self.label, self.amount());
        }
    }

    /// `12.3 MiB of 85.0 MiB (14%)`, `40%`, or `12.3 MiB` when the total is unknown.
    fn amount(&self) -> String {
        match (self.unit, self.total) {
            (Unit::Percent, _) => format!("{}%", self.position),
            (Unit::Files, _) => format!("{} files", self.position),
            (Unit::Bytes, Some(t)) => format!(
                "{} of {} ({}%)",
                HumanBytes(self.position),
                HumanBytes(t),
                self.position * 100 / t.max(1)
            ),
            (Unit::Bytes, None) => HumanBytes(self.position).to_string(),
        }
    }

    /// Ends the bar with one line saying how it ended.
    pub fn finish(self, how: &str) {
        let took = HumanDuration(
            self.bar
                .as_ref()
                .map_or(self.last_line.elapsed(), |b| b.elapsed()),
        );
        match &self.bar {
            Some(bar) => {
                bar.finish_and_clear();
                eprintln!("    {}: {how} ({took})", self.label);
            }
            None => eprintln!("    {}: {how}", self.label),
        }
    }
}

/// Runs `work` while a bar follows how many bytes are under `dirs` (a download or a root being
/// written), against `expected` bytes if known.
pub fn watching_size<T>(
    label: &str,
    dirs: &[&Path],
    expected: Option<u64>,
    work: impl FnOnce() -> T,
) -> T {
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut progress = Progress::new(label, Unit::Bytes, expected);
            while !done.load(Ordering::Relaxed) {
                progress.set(dirs.iter().map(|d| size_of(d)).sum());
                std::thread::sleep(Duration::from_millis(250));
            }
            progress.set(dirs.iter().map(|d| size_of(d)).sum());
            let amount = HumanBytes(progress.position).to_string();
            progress.finish(&format!("done, {amount}"));
        });
        let result = work();
        done.store(true, Ordering::Relaxed);
        result
    })
}

/// Bytes of the files below `path` (symbolic links not followed; unreadable entries count 0).
pub fn size_of(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| size_of(&e.path()))
        .sum()
}

/// Follows an apt-get started with `-o APT::Status-Fd=1` and its stdout piped: its progress on a
/// bar labelled `label`, each output line handed to `each`; returns how it exited.
pub fn follow_apt(
    label: &str,
    child: &mut std::process::Child,
    mut each: impl FnMut(&str) -> std::io::Result<()>,
) -> std::io::Result<std::process::ExitStatus> {
    use std::io::BufRead;
    let mut progress = Progress::new(label, Unit::Percent, Some(100));
    let stdout = child.stdout.take().expect("apt-get's stdout is piped");
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line?;
        each(&line)?;
        if let Some(percent) = apt_status_percent(&line) {
            progress.set(percent);
        }
    }
    let status = child.wait()?;
    progress.finish(if status.success() { "done" } else { "failed" });
    Ok(status)
}

/// Overall percent from an `APT::Status-Fd` line: downloading is the first half, unpacking and
/// configuring (`pmstatus`) the second.
pub fn apt_status_percent(line: &str) -> Option<u64> {
    let mut fields = line.splitn(4, ':');
    let kind = fields.next()?;
    let _what = fields.next()?;
    let percent: f64 = fields.next()?.parse().ok()?;
    match kind {
        "dlstatus" => Some((percent / 2.0) as u64),
        "pmstatus" => Some(50 + (percent / 2.0) as u64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apt_status_lines_become_one_percentage() {
        assert_eq!(
            apt_status_percent("dlstatus:1:50.0000:Retrieving file 1 of 2"),
            Some(25)
        );
        assert_eq!(
            apt_status_percent("pmstatus:udev:100.0000:Installed udev"),
            Some(100)
        );
        assert_eq!(
            apt_status_percent("Get:1 http://deb.debian.org bookworm"),
            None
        );
    }

    #[test]
    fn sizes_add_up_below_a_directory() {
        let dir = std::env::temp_dir().join(format!("lab-progress-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("a"), [0u8; 100]).unwrap();
        std::fs::write(dir.join("sub/b"), [0u8; 23]).unwrap();
        assert_eq!(size_of(&dir), 123);
        assert_eq!(watching_size("test", &[&dir], Some(123), || 7), 7);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(size_of(&dir), 0);
    }

    #[test]
    fn lines_without_a_terminal_say_how_far() {
        let mut p = Progress::new("download", Unit::Bytes, Some(2048));
        p.set(1024);
        assert_eq!(p.amount(), "1.00 KiB of 2.00 KiB (50%)");
    }
}
