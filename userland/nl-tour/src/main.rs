//! `gnl-tour`: runs in the lab's guest as root (`cargo lab tour`, and the suite): captures each
//! client's family resolution, echo, dump, error, refused admin command and event on an `nlmon`
//! device, and prints every message as it crossed the socket.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;

/// Capture the clients' generic netlink traffic and show every byte of it.
#[derive(Parser, Debug)]
#[command(name = "gnl-tour")]
struct Args {
    /// One JSON object per message instead of the text view.
    #[arg(long)]
    json: bool,
    /// Also write the capture (the clients' packets only) as a pcap file.
    #[arg(long)]
    pcap: Option<PathBuf>,
    /// Also draw the first client's echo request as an SVG diagram.
    #[arg(long)]
    svg: Option<PathBuf>,
    /// Only these clients (default: all three).
    #[arg(long = "client")]
    clients: Vec<String>,
    /// Where the clients are (default: next to this program).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let bin_dir = match args.bin_dir {
        Some(dir) => dir,
        None => std::env::current_exe()
            .context("cannot find gnl-tour's own path")?
            .parent()
            .context("gnl-tour has no directory")?
            .to_owned(),
    };
    let clients: Vec<&str> = if args.clients.is_empty() {
        // gnl-raw first: it builds every byte by hand, the tutorial follows it.
        vec![
            lab_facts::GNL_RAW,
            lab_facts::GNL_LIBNL,
            lab_facts::GNL_RUST,
        ]
    } else {
        args.clients.iter().map(String::as_str).collect()
    };
    let capture = nl_tour::capture::capture(&bin_dir, &clients)?;
    if let Some(path) = &args.pcap {
        capture.write_pcap(path)?;
    }
    if let Some(path) = &args.svg {
        let svg = nl_tour::svg::from_capture(&capture)?;
        std::fs::write(path, svg).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if args.json {
        print!("{}", nl_tour::json(&capture));
    } else {
        print!("{}", nl_tour::text(&capture));
    }
    Ok(())
}
