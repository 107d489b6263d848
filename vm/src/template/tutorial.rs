//! The tutorial's byte dumps for a renamed family: nlctrl's messages carry the family's name, so
//! their bytes and lengths change with it. Each such datagram of a `tour:` block is read back from
//! its own hex column, given the new name, and drawn again by the tour's own renderer.

use anyhow::{bail, Result};
use nl_tour::decode::{self, Known};
use nl_tour::render;

/// `page` (docs/tutorial.md) with every datagram that carries `old`'s name carrying `new`'s.
/// Fails when such a datagram is not what the renderer draws from its own bytes (a hand-edited
/// page), since then there is no telling what it should become.
pub fn rename_family(page: &str, old: &str, new: &str) -> Result<String> {
    let mut out = String::new();
    let mut in_block = false;
    let mut datagram: Vec<&str> = Vec::new();
    for (i, line) in page.lines().enumerate() {
        let heading = line.starts_with("--> ") || line.starts_with("<-- ");
        let closes = in_block && line.trim_end() == "```";
        if in_block && (heading || closes) && !datagram.is_empty() {
            out.push_str(&redraw(&datagram, old, new, i + 1 - datagram.len())?);
            datagram.clear();
        }
        if closes {
            in_block = false;
        } else if in_block {
            datagram.push(line);
            continue;
        } else if line.trim().starts_with("```text tour:") {
            in_block = true;
        }
        out.push_str(line);
        out.push('\n');
    }
    Ok(out)
}

/// One datagram's lines, redrawn with the new name when they carry the old one.
fn redraw(lines: &[&str], old: &str, new: &str, line_no: usize) -> Result<String> {
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let bytes = hex_column(lines);
    let name = [old.as_bytes(), b"\0"].concat();
    if !bytes.windows(name.len()).any(|w| w == name) {
        return Ok(text);
    }
    if draw(&bytes) != text {
        bail!(
            "docs/tutorial.md:{line_no}: this datagram is not what gnl-tour draws from its own \
             bytes, so it cannot be renamed: replace it with a fresh `cargo lab tour` capture"
        );
    }
    Ok(draw(&renamed(&bytes, &name, new)))
}

/// The bytes of a datagram's text view: the hex column of each line (8 bytes at most).
fn hex_column(lines: &[&str]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for line in lines.iter().filter_map(|l| l.strip_prefix("    ")) {
        let column = &line[..line.len().min(render::HEX_WIDTH)];
        for pair in column.split_whitespace() {
            match u8::from_str_radix(pair, 16) {
                Ok(b) if pair.len() == 2 => bytes.push(b),
                _ => break,
            }
        }
    }
    bytes
}

fn draw(bytes: &[u8]) -> String {
    let mut out = String::new();
    render::datagram(&mut out, bytes, &decode::datagram(bytes, Known::default()));
    out
}

/// The datagram with each nlctrl message's `CTRL_ATTR_FAMILY_NAME` `name` replaced by `new`, and
/// the lengths that follow from it.
fn renamed(bytes: &[u8], name: &[u8], new: &str) -> Vec<u8> {
    let header = nl_codec::HDRLEN + nl_codec::GENL_HDRLEN;
    let mut out = Vec::new();
    let mut at = 0;
    while bytes.len() - at >= nl_codec::HDRLEN {
        let len = nl_codec::u32_at(bytes, at).unwrap_or(0) as usize;
        if len < header || at + len > bytes.len() {
            break;
        }
        let msg = &bytes[at..at + len];
        let ty = u16::from_ne_bytes([msg[4], msg[5]]);
        let mut body = msg[..header].to_vec();
        if ty == nl_codec::GENL_ID_CTRL {
            for (kind, payload) in nl_codec::attrs(&msg[header..]) {
                let payload = if kind == nl_codec::CTRL_ATTR_FAMILY_NAME && payload == name {
                    [new.as_bytes(), b"\0"].concat()
                } else {
                    payload.to_vec()
                };
                body.extend(nl_codec::attr(kind, &payload));
            }
        } else {
            body.extend_from_slice(&msg[header..]);
        }
        let total = body.len() as u32;
        body[..4].copy_from_slice(&total.to_ne_bytes());
        out.extend(body);
        at += nl_codec::align4(len).min(bytes.len() - at);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use nl_codec::{attr, genl_version, message, CTRL_ATTR_FAMILY_NAME, F_REQUEST, GENL_ID_CTRL};

    /// nlctrl's `CTRL_CMD_GETFAMILY` request for `name`, as a tour block draws it.
    fn resolve_block(name: &str) -> String {
        let name_attr = attr(CTRL_ATTR_FAMILY_NAME, format!("{name}\0").as_bytes());
        let bytes = message(
            GENL_ID_CTRL,
            F_REQUEST,
            1,
            &genl_version(3, 1, &[name_attr]),
        );
        format!("```text tour:resolve\n{}```\n", draw(&bytes))
    }

    #[test]
    fn a_new_name_changes_the_attribute_and_the_message_length() {
        let new = crate::template::example_family();
        let page = rename_family(
            &resolve_block(crate::template::FAMILY),
            crate::template::FAMILY,
            new,
        )
        .unwrap();
        assert_eq!(page, resolve_block(new));
        let len = nl_codec::HDRLEN + nl_codec::GENL_HDRLEN + nl_codec::align4(4 + new.len() + 1);
        assert!(
            page.contains(&format!(
                "--> to the kernel, {len} bytes: CTRL_CMD_GETFAMILY request\n"
            )),
            "{page}"
        );
        assert!(
            page.contains(&format!("\"{new}\", NUL-terminated")),
            "{page}"
        );
        assert!(
            page.contains(&nl_codec::hex(&new.as_bytes()[..4])),
            "{page}"
        );
        // Datagrams without the name stay as they are.
        let other = resolve_block("nlctrl");
        assert_eq!(
            rename_family(&other, crate::template::FAMILY, new).unwrap(),
            other
        );
    }

    #[test]
    fn a_hand_edited_datagram_is_refused() {
        let page = resolve_block(crate::template::FAMILY).replacen("len ", "len 1", 1);
        let err = rename_family(
            &page,
            crate::template::FAMILY,
            crate::template::example_family(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("docs/tutorial.md:2:"), "{err}");
    }
}
