//! `cargo lab tour`: boots a kernel and runs `gnl-tour` in it, which captures every client's
//! generic netlink traffic on an `nlmon` device and shows each message byte by byte; the capture
//! is saved as `target/lab/<kernel>/netlink.pcap` and the echo request drawn as
//! `target/lab/<kernel>/genl-message.svg`.

use anyhow::Result;

use crate::flags::TourArgs;
use crate::verdict::{usage_error, Outcome};
use crate::{build, project};

/// The capture's file name in `target/lab/<kernel>/`.
pub const PCAP: &str = "netlink.pcap";
/// The diagram's file name in `target/lab/<kernel>/` (`docs/genl-message.svg` is a copy).
pub const SVG: &str = "genl-message.svg";

/// Runs the tour on the one kernel asked for.
pub fn run(args: &TourArgs) -> Result<u8> {
    let prep = super::prepare(&args.vm)?;
    let [kernel] = prep.kernels.as_slice() else {
        return Err(usage_error(
            "the tour runs on one kernel at a time: name one with --kernel",
        ));
    };
    let out = project::kernel_dir(&kernel.name);
    let (pcap, svg) = (out.join(PCAP), out.join(SVG));
    std::fs::remove_file(&pcap).ok();
    let mut mode = vec![
        "exec".to_owned(),
        "--".to_owned(),
        prep.bin_dir.join(build::TOUR).display().to_string(),
        "--pcap".to_owned(),
        pcap.display().to_string(),
        "--svg".to_owned(),
        svg.display().to_string(),
    ];
    if args.json {
        mode.push("--json".to_owned());
    }
    for client in &args.clients {
        mode.extend(["--client".to_owned(), client.clone()]);
    }
    let run = super::boot_guest(&prep, kernel, &args.vm, &mode)?;
    if run.verdict.result == Outcome::Passed {
        eprintln!(
            "==> [{name}] capture: {pcap} (open it with `tshark -r {pcap} -V` or Wireshark); \
             diagram: {svg}",
            name = kernel.name,
            pcap = pcap.display(),
            svg = svg.display()
        );
    }
    run.verdict.print();
    Ok(run.verdict.result.exit_code())
}
