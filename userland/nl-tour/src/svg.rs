//! A diagram of one generic netlink request, drawn from its bytes: four bytes a row, each byte
//! in a box coloured by its layer (`nlmsghdr`, `genlmsghdr`, attribute header, payload,
//! padding), each field named beside the row it starts in. Numbers the kernel or the client picks
//! at run time (the family id, the sequence number, the port) carry `class="varies"`, so that
//! a check can compare diagrams of two runs.

use std::fmt::Write as _;

use anyhow::{Context, Result};

use crate::capture::Capture;
use crate::decode::{Field, Message};

const BOX: usize = 56;
const LEFT: usize = 56;
const TOP: usize = 64;
const LINE: usize = 18;
const WIDTH: usize = 760;

/// A field's layer, for its colour and the legend.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layer {
    Nlmsghdr,
    Genlmsghdr,
    AttrHeader,
    Payload,
    Padding,
}

impl Layer {
    fn colour(self) -> &'static str {
        match self {
            Layer::Nlmsghdr => "#cfe2f3",
            Layer::Genlmsghdr => "#d9ead3",
            Layer::AttrHeader => "#fce5cd",
            Layer::Payload => "#fff2cc",
            Layer::Padding => "#eeeeee",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Layer::Nlmsghdr => "struct nlmsghdr (16 bytes)",
            Layer::Genlmsghdr => "struct genlmsghdr (4 bytes)",
            Layer::AttrHeader => "struct nlattr: length, type",
            Layer::Payload => "attribute payload",
            Layer::Padding => "padding to 4 bytes",
        }
    }
}

/// One drawn field: its bytes, its label, its layer, whether it varies between runs.
struct Drawn {
    start: usize,
    end: usize,
    label: String,
    layer: Layer,
    varies: bool,
}

/// The fields with bytes, in wire order, each with its layer.
fn flatten(fields: &[Field], layer: Option<Layer>, out: &mut Vec<Drawn>) {
    for f in fields {
        let own = match (f.name.as_str(), layer) {
            ("nlmsghdr", _) => Some(Layer::Nlmsghdr),
            ("genlmsghdr", _) => Some(Layer::Genlmsghdr),
            ("attributes", _) => Some(Layer::AttrHeader),
            ("padding", _) => Some(Layer::Padding),
            ("value", _) => Some(Layer::Payload),
            (_, l) => l,
        };
        if !f.at.is_empty() {
            let varies = matches!(f.name.as_str(), "seq" | "port")
                || (f.name == "type" && f.text.contains("family id"));
            out.push(Drawn {
                start: f.at.start,
                end: f.at.end,
                label: f.text.clone(),
                layer: own.unwrap_or(Layer::Payload),
                varies,
            });
        }
        flatten(&f.children, own, out);
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Draws the message `msg` of the datagram `data`.
pub fn draw(data: &[u8], msg: &Message) -> String {
    let mut drawn = Vec::new();
    flatten(&msg.fields, None, &mut drawn);
    let base = msg.at.start;
    let rows = msg.at.len().div_ceil(4);
    // Each row is as tall as the labels of the fields that start in it.
    let starting = |row: usize| {
        drawn
            .iter()
            .filter(|d| (d.start - base) / 4 == row)
            .count()
            .max(1)
    };
    let heights: Vec<usize> = (0..rows)
        .map(|r| (starting(r) * LINE + 8).max(34))
        .collect();
    let legend_top = TOP + heights.iter().sum::<usize>() + 24;
    let height = legend_top + 5 * LINE + 16;
    let mut svg = String::new();
    writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="monospace" font-size="13">"#
    )
    .unwrap();
    writeln!(
        svg,
        r#"<rect width="{WIDTH}" height="{height}" fill="white"/>"#
    )
    .unwrap();
    writeln!(
        svg,
        r#"<text x="{LEFT}" y="26" font-size="16" font-weight="bold">{}, {} bytes, as it crossed the socket</text>"#,
        escape(&msg.summary),
        msg.at.len()
    )
    .unwrap();
    writeln!(
        svg,
        r##"<text x="{LEFT}" y="46" fill="#555">4 bytes a row, in the host's byte order (x86: least significant first)</text>"##
    )
    .unwrap();
    let mut y = TOP;
    for (row, h) in heights.iter().enumerate() {
        writeln!(
            svg,
            r##"<text x="{}" y="{}" fill="#888" text-anchor="end">{:>3}</text>"##,
            LEFT - 8,
            y + 22,
            row * 4
        )
        .unwrap();
        for col in 0..4 {
            let offset = base + row * 4 + col;
            if offset >= msg.at.end {
                break;
            }
            let field = drawn.iter().find(|d| (d.start..d.end).contains(&offset));
            let (colour, varies) =
                field.map_or(("#ffffff", false), |d| (d.layer.colour(), d.varies));
            let x = LEFT + col * BOX;
            writeln!(
                svg,
                r##"<rect x="{x}" y="{y}" width="{BOX}" height="30" fill="{colour}" stroke="#666"/>"##
            )
            .unwrap();
            let class = if varies { r#" class="varies""# } else { "" };
            writeln!(
                svg,
                r#"<text{class} x="{}" y="{}" text-anchor="middle">{:02x}</text>"#,
                x + BOX / 2,
                y + 20,
                data[offset]
            )
            .unwrap();
        }
        let mut ly = y + 14;
        for d in drawn.iter().filter(|d| (d.start - base) / 4 == row) {
            let class = if d.varies { r#" class="varies""# } else { "" };
            let bytes = if d.end - d.start == 1 {
                format!("byte {}", d.start - base)
            } else {
                format!("bytes {}-{}", d.start - base, d.end - base - 1)
            };
            writeln!(
                svg,
                r##"<text x="{}" y="{ly}"><tspan fill="#888">{bytes}</tspan> <tspan{class}>{}</tspan></text>"##,
                LEFT + 4 * BOX + 16,
                escape(&d.label)
            )
            .unwrap();
            ly += LINE;
        }
        y += h;
    }
    for (i, layer) in [
        Layer::Nlmsghdr,
        Layer::Genlmsghdr,
        Layer::AttrHeader,
        Layer::Payload,
        Layer::Padding,
    ]
    .into_iter()
    .enumerate()
    {
        let ly = legend_top + i * LINE;
        writeln!(
            svg,
            r##"<rect x="{LEFT}" y="{}" width="14" height="14" fill="{}" stroke="#666"/><text x="{}" y="{}">{}</text>"##,
            ly - 11,
            layer.colour(),
            LEFT + 22,
            ly,
            layer.name()
        )
        .unwrap();
    }
    svg.push_str("</svg>\n");
    svg
}

/// The first echo request of the capture (the first client's), drawn.
pub fn from_capture(capture: &Capture) -> Result<String> {
    let echo = crate::capture::STEPS[0].name;
    capture
        .runs
        .iter()
        .filter(|run| run.step.name == echo)
        .flat_map(|run| run.datagrams.iter().map(move |d| (run, d)))
        .filter(|(run, d)| crate::part(run, d) == echo)
        .find_map(|(_, d)| {
            let msg = d.messages.iter().find(|m| m.is_request())?;
            Some(draw(&d.data, msg))
        })
        .context("the capture holds no echo request to draw")
}

/// The diagram with what varies between runs (`class="varies"`) replaced by `?`, for comparing.
pub fn normalize(svg: &str) -> String {
    let mut out = String::new();
    let mut rest = svg;
    while let Some(at) = rest.find(r#"class="varies""#) {
        let Some(close) = rest[at..].find('>') else {
            break;
        };
        let text_start = at + close + 1;
        out.push_str(&rest[..text_start]);
        let end = rest[text_start..]
            .find('<')
            .map_or(rest.len(), |e| text_start + e);
        out.push('?');
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{self, Known};
    use nl_codec::{attr, genl, message, uapi};

    fn request(family: u16, seq: u32) -> Vec<u8> {
        message(
            family,
            nl_codec::F_REQUEST,
            seq,
            &genl(
                uapi::GNL_FOOBAR_XMPL_CMD_ECHO,
                &[attr(uapi::GNL_FOOBAR_XMPL_A_MSG, b"hello\0")],
            ),
        )
    }

    #[test]
    fn two_runs_draw_the_same_diagram_but_for_what_varies() {
        let draw_one = |family, seq| {
            let bytes = request(family, seq);
            let msgs = decode::datagram(
                &bytes,
                Known {
                    family: Some(family),
                },
            );
            draw(&bytes, &msgs[0])
        };
        let (a, b) = (draw_one(0x20, 2), draw_one(0x1b, 7));
        assert_ne!(a, b);
        assert_eq!(normalize(&a), normalize(&b));
        assert!(
            a.contains(">68<") && a.contains("GNL_FOOBAR_XMPL_A_MSG"),
            "{a}"
        );
        // Something that does not vary still shows: another message differs.
        let bytes = message(0x20, nl_codec::F_REQUEST, 2, &genl(2, &[]));
        let msgs = decode::datagram(&bytes, Known { family: Some(0x20) });
        assert_ne!(normalize(&draw(&bytes, &msgs[0])), normalize(&a));
    }
}
