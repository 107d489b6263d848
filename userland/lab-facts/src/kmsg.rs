//! Reading the kernel log through `/dev/kmsg` from a mark on: what the suite checks around each
//! scenario and the guest side checks around the last unload.

use std::fs::File;
use std::io::{self, ErrorKind, Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;

/// The line put where records were lost (the ring buffer wrapped before they were read).
pub const LOST: &str = "[kernel log records lost: the ring buffer wrapped]";

/// A reader of `/dev/kmsg` positioned at the end of the log when it was created.
#[derive(Debug)]
pub struct Kmsg {
    file: File,
}

impl Kmsg {
    /// Opens `/dev/kmsg` (non-blocking, root only) and seeks to its end: later reads see only
    /// new records.
    pub fn mark() -> io::Result<Self> {
        let mut file = File::options()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/kmsg")?;
        file.seek(SeekFrom::End(0))?;
        Ok(Kmsg { file })
    }

    /// The text of every record written since the mark (or the last read), in order.
    pub fn read_new(&mut self) -> io::Result<Vec<String>> {
        let mut lines = Vec::new();
        // One read returns one record; records are at most about 1 KiB of text plus dictionary.
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match self.file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => lines.push(record_text(&buf[..n])),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                // EPIPE: records were overwritten before we read them; the next read goes on
                // from the oldest record left. Say so, rather than hide the gap.
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => lines.push(LOST.to_owned()),
                Err(e) => return Err(e),
            }
        }
        Ok(lines)
    }
}

/// `PRIO,SEQ,USEC,FLAGS[,...];TEXT\n[ KEY=VALUE\n...]` to `TEXT` (still `\xNN`-escaped).
pub fn record_text(record: &[u8]) -> String {
    let record = String::from_utf8_lossy(record);
    let first = record.lines().next().unwrap_or("");
    match first.split_once(';') {
        Some((_, text)) => text.to_owned(),
        None => first.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::record_text;

    #[test]
    fn strips_header_and_dictionary() {
        let record = b"7,1234,5678901,-;gnl_foobar_xmpl: echo; x\n SUBSYSTEM=net\n";
        assert_eq!(record_text(record), "gnl_foobar_xmpl: echo; x");
    }
}
