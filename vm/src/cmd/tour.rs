//! `cargo lab tour`: boots a kernel and runs `gnl-tour` in it, which captures every client's
//! generic netlink traffic on an `nlmon` device and shows each message byte by byte; the capture
//! is saved as `target/lab/<kernel>/netlink.pcap` and the echo request drawn as
//! `target/lab/<kernel>/genl-message.svg`.

use anyhow::Result;

use super::{BootPlan, GuestTask};
use crate::contract::{Mode, PCAP, SVG};
use crate::error::usage_error;
use crate::verdict::Outcome;
use crate::{build, flags, project};

impl flags::TourArgs {
    /// Runs the tour on the one kernel asked for.
    pub fn run(&self) -> Result<u8> {
        run(self)
    }
}

fn run(args: &flags::TourArgs) -> Result<u8> {
    let prep = super::prepare(&args.vm)?;
    let [kernel] = prep.kernels.as_slice() else {
        return Err(usage_error(
            "the tour runs on one kernel at a time: name one with --kernel",
        ));
    };
    let out = project::kernel_dir(&kernel.name);
    let (pcap, svg) = (out.join(PCAP), out.join(SVG));
    std::fs::remove_file(&pcap).ok();
    let mut command = vec![
        prep.bin_dir.join(build::TOUR).display().to_string(),
        "--pcap".to_owned(),
        pcap.display().to_string(),
        "--svg".to_owned(),
        svg.display().to_string(),
    ];
    if args.json {
        command.push("--json".to_owned());
    }
    for client in &args.clients {
        command.extend(["--client".to_owned(), client.clone()]);
    }
    let plan = BootPlan::new(&args.vm, 1);
    let run = super::run_on(
        &prep,
        kernel,
        &plan,
        &GuestTask::new(Mode::Exec { command }),
    )?;
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
