//! The text view: each field on its own line, its bytes in hex on the left (8 a line), its name
//! and value on the right, nested fields indented. Fits 80 columns.

use std::fmt::Write as _;

use crate::decode::{Field, Message};

/// Width of the hex column: 8 bytes.
pub const HEX_WIDTH: usize = 23;

/// The width of the view.
pub const WIDTH: usize = 80;

/// Bytes per line of the hex column.
const PER_LINE: usize = 8;

/// Appends one line: the hex column, then the text indented by `depth`.
fn line(out: &mut String, hex: &str, depth: usize, text: &str) {
    let indent = "  ".repeat(depth);
    let row = format!("    {hex:<HEX_WIDTH$}  {indent}{text}");
    writeln!(out, "{}", row.trim_end()).unwrap();
}

fn field(out: &mut String, data: &[u8], f: &Field, depth: usize) {
    let hex: Vec<String> = data[f.at.clone()]
        .chunks(PER_LINE)
        .map(nl_codec::hex)
        .collect();
    // A text too long for its line goes on over the next ones.
    let width = WIDTH - (4 + HEX_WIDTH + 2 + 2 * depth);
    let chars: Vec<char> = f.text_or_name().chars().collect();
    let text: Vec<String> = chars
        .chunks(width.max(8))
        .map(|c| c.iter().collect())
        .collect();
    for i in 0..hex.len().max(text.len()).max(1) {
        let h = hex.get(i).map_or("", String::as_str);
        let t = text.get(i).map_or("", String::as_str);
        line(out, h, depth, t);
    }
    for child in &f.children {
        field(out, data, child, depth + 1);
    }
}

impl Field {
    /// What the field's line says: its text, or its name for a group of fields.
    fn text_or_name(&self) -> String {
        if self.text.is_empty() {
            self.name.clone()
        } else {
            self.text.clone()
        }
    }
}

/// Who sent a datagram and to whom, and how big it is: `--> to the kernel, 40 bytes`.
pub fn heading(data: &[u8], msgs: &[Message]) -> String {
    let Some(first) = msgs.first() else {
        return format!("??? {} bytes that are no netlink message", data.len());
    };
    let count = if msgs.len() > 1 {
        format!(", {} messages", msgs.len())
    } else {
        format!(": {}", first.summary)
    };
    if first.is_request() {
        format!("--> to the kernel, {} bytes{count}", data.len())
    } else if first.summary.ends_with(" event") {
        format!(
            "<-- from the kernel to a group member, {} bytes{count}",
            data.len()
        )
    } else {
        format!(
            "<-- from the kernel to port {}, {} bytes{count}",
            first.port,
            data.len()
        )
    }
}

/// A datagram: its heading, then each message's fields.
pub fn datagram(out: &mut String, data: &[u8], msgs: &[Message]) {
    writeln!(out, "{}", heading(data, msgs)).unwrap();
    for (i, msg) in msgs.iter().enumerate() {
        if msgs.len() > 1 {
            writeln!(
                out,
                "  message {} of {}: {}",
                i + 1,
                msgs.len(),
                msg.summary
            )
            .unwrap();
        }
        for f in &msg.fields {
            field(out, data, f, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{self, Known};
    use nl_codec::{attr, genl, message, uapi};

    #[test]
    fn every_byte_is_on_a_line_within_80_columns() {
        let msg = "a message long enough to need several lines of hex";
        let bytes = message(
            0x1b,
            nl_codec::F_REQUEST,
            1,
            &genl(
                uapi::GNL_FOOBAR_XMPL_CMD_ECHO,
                &[attr(
                    uapi::GNL_FOOBAR_XMPL_A_MSG,
                    format!("{msg}\0").as_bytes(),
                )],
            ),
        );
        let msgs = decode::datagram(&bytes, Known { family: Some(0x1b) });
        let mut out = String::new();
        datagram(&mut out, &bytes, &msgs);
        let hex_bytes: usize = out
            .lines()
            .skip(1)
            .map(|l| {
                let hex = l.get(4..).unwrap_or("");
                hex[..hex.len().min(HEX_WIDTH)].split_whitespace().count()
            })
            .sum();
        assert_eq!(hex_bytes, bytes.len(), "{out}");
        assert!(out.lines().all(|l| l.chars().count() <= 80), "{out}");
        assert!(out.starts_with("--> to the kernel, 76 bytes: GNL_FOOBAR_XMPL_CMD_ECHO request\n"));
        assert!(
            out.contains("    01                         cmd GNL_FOOBAR_XMPL_CMD_ECHO (1)\n"),
            "{out}"
        );
    }
}
