//! The capture, in the guest: an `nlmon` device, `tcpdump` on it, each client's steps one after
//! the other, then every packet assigned to the step whose time window holds it and kept only if
//! it is the clients' conversation with nlctrl or with the family (udev and others speak netlink
//! too).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};

use crate::decode::{self, Known, Message};

/// The `nlmon` device the tour creates (and removes).
pub const DEVICE: &str = "nlmon-tour";

/// The length of the header `LINKTYPE_NETLINK` puts before each datagram (like Linux's cooked
/// `sll` header: packet type, ARPHRD type, address, then the netlink protocol, big-endian).
const NETLINK_SLL_LEN: usize = 16;

/// One thing each client does, in order.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    /// The step's name, also the tutorial's block name (`tour:echo`).
    pub name: &'static str,
    /// The client's arguments.
    pub args: &'static [&'static str],
    /// Run as `nobody` (no capabilities), through `setpriv`.
    pub nobody: bool,
    /// With the client's `monitor --count 1` subscribed meanwhile.
    pub monitor: bool,
}

/// The tour: echo, dump, the error command, the admin-only command as nobody, an event.
pub const STEPS: [Step; 5] = [
    Step {
        name: "echo",
        args: &["echo", "hello"],
        nobody: false,
        monitor: false,
    },
    Step {
        name: "dump",
        args: &["dump"],
        nobody: false,
        monitor: false,
    },
    Step {
        name: "error",
        args: &["error"],
        nobody: false,
        monitor: false,
    },
    Step {
        name: "admin",
        args: &["set-dump-count", "5"],
        nobody: true,
        monitor: false,
    },
    Step {
        name: "event",
        args: &["echo", "hello, listeners"],
        nobody: false,
        monitor: true,
    },
];

/// One client's run of one step.
#[derive(Debug, Clone)]
pub struct Run {
    pub client: String,
    pub step: Step,
    /// The command lines, as typed in a shell.
    pub commands: Vec<String>,
    /// What the client (and its monitor) printed, and their exit codes.
    pub output: String,
    /// The guest's clock (the capture's) when the step started and ended.
    pub window: (Duration, Duration),
    /// The datagrams of this step, in capture order.
    pub datagrams: Vec<Datagram>,
}

/// One captured datagram of a step, decoded.
#[derive(Debug, Clone)]
pub struct Datagram {
    /// Its index among the capture's packets.
    pub packet: usize,
    /// The netlink bytes (without the capture's link-layer header).
    pub data: Vec<u8>,
    pub messages: Vec<Message>,
}

/// A finished capture: every step of every client, and the kept packets as a pcap.
pub struct Capture {
    pub runs: Vec<Run>,
    pub known: Known,
    header: PcapHeader,
    packets: Vec<PcapPacket<'static>>,
}

fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// `cmd` with `args`, run to the end; an error names the command and what it said.
fn run(program: &str, args: &[&str]) -> Result<()> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("cannot run {program}"))?;
    if !out.status.success() {
        bail!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// The `nlmon` device, up; removed again on drop.
struct Nlmon;

impl Nlmon {
    fn up() -> Result<Nlmon> {
        let _ = Command::new("ip")
            .args(["link", "del", DEVICE])
            .stderr(Stdio::null())
            .status();
        // Debian's kernels build nlmon as a module (CONFIG_NLMON=m); others may have it built in.
        let _ = Command::new("modprobe").arg("nlmon").status();
        run("ip", &["link", "add", DEVICE, "type", "nlmon"])
            .context("cannot create an nlmon device: the kernel needs CONFIG_NLMON")?;
        let nlmon = Nlmon;
        run("ip", &["link", "set", DEVICE, "up"])?;
        Ok(nlmon)
    }
}

impl Drop for Nlmon {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", DEVICE]).status();
    }
}

/// `tcpdump` writing `file`, started once it listens.
fn tcpdump(file: &Path) -> Result<Child> {
    let mut child = Command::new("tcpdump")
        .args(["-i", DEVICE, "-U", "-Z", "root", "--time-stamp-precision=nano", "-w"])
        .arg(file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run tcpdump: install it on the host (apt-get install tcpdump); the guest runs the host's root filesystem")?;
    let mut stderr = BufReader::new(child.stderr.take().expect("piped"));
    let mut said = String::new();
    loop {
        let mut line = String::new();
        if stderr.read_line(&mut line)? == 0 {
            bail!("tcpdump stopped before it listened: {said}");
        }
        said.push_str(&line);
        if line.contains("listening on") {
            break;
        }
    }
    // The rest (its statistics at the end) is not needed, but must not fill the pipe.
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    Ok(child)
}

/// Shell words of a command line, for showing it.
fn shown(words: &[&str]) -> String {
    words
        .iter()
        .map(|w| {
            if w.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_./=".contains(&b))
            {
                (*w).to_owned()
            } else {
                format!("'{w}'")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs one step of `client` (in `bin_dir`), returning the command lines and their output.
fn step(bin_dir: &Path, client: &str, step: Step) -> Result<(Vec<String>, String)> {
    let path = bin_dir.join(client);
    let path_str = path.to_string_lossy().into_owned();
    let mut commands = Vec::new();
    let mut output = String::new();
    let mut monitor = None;
    if step.monitor {
        commands.push(format!("{client} monitor --count 1 &"));
        let mut child = Command::new(&path)
            .args(["monitor", "--count", "1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run {}", path.display()))?;
        let mut stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut first = String::new();
        stdout.read_line(&mut first)?;
        if !first.starts_with("listening on") {
            let _ = child.kill();
            bail!("{client} monitor did not subscribe: {first:?}");
        }
        output.push_str(&format!("[monitor] {first}"));
        monitor = Some((child, stdout));
    }
    let mut words = vec![client];
    words.extend(step.args);
    let mut cmd = if step.nobody {
        commands.push(format!(
            "setpriv --reuid=65534 --regid=65534 --clear-groups {}",
            shown(&words)
        ));
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            &path_str,
        ]);
        c
    } else {
        commands.push(shown(&words));
        Command::new(&path)
    };
    let out = cmd
        .args(step.args)
        .output()
        .with_context(|| format!("cannot run {}", path.display()))?;
    output.push_str(&String::from_utf8_lossy(&out.stdout));
    output.push_str(&String::from_utf8_lossy(&out.stderr));
    output.push_str(&format!("[exit {}]\n", out.status.code().unwrap_or(-1)));
    if let Some((mut child, mut stdout)) = monitor {
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut rest)?;
        let status = child.wait()?;
        for line in rest.lines() {
            output.push_str(&format!("[monitor] {line}\n"));
        }
        output.push_str(&format!("[monitor exit {}]\n", status.code().unwrap_or(-1)));
    }
    Ok((commands, output))
}

/// Captures every step of every client in `clients`, then reads and sorts the capture.
pub fn capture(bin_dir: &Path, clients: &[&str]) -> Result<Capture> {
    let nlmon = Nlmon::up()?;
    let file = std::env::temp_dir().join(format!("gnl-tour-{}.pcap", std::process::id()));
    let mut dump = tcpdump(&file)?;
    let mut runs = Vec::new();
    let result = (|| -> Result<()> {
        for client in clients {
            for s in STEPS {
                let start = now();
                let (commands, output) = step(bin_dir, client, s)?;
                let end = now();
                runs.push(Run {
                    client: (*client).to_owned(),
                    step: s,
                    commands,
                    output,
                    window: (start, end),
                    datagrams: Vec::new(),
                });
                // Keeps the windows apart.
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(())
    })();
    // On SIGINT tcpdump stops at once, dropping what it has not read yet: first make sure it wrote
    // everything, by a request of our own after the steps that it must have written last.
    let flushed = result.is_ok().then(|| wait_flushed(&file));
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(dump.id() as i32, libc::SIGINT) };
    let status = dump.wait()?;
    drop(nlmon);
    result?;
    flushed.unwrap_or(Ok(()))?;
    if !status.success() {
        bail!("tcpdump failed ({status})");
    }
    let capture = read(&file, runs);
    std::fs::remove_file(&file).ok();
    capture
}

/// Sends nlctrl a request of our own and waits until tcpdump wrote it to `file`: the capture is
/// in order, so everything before it is written too.
fn wait_flushed(file: &Path) -> Result<()> {
    let sock =
        nl_codec::Sock::open(nl_codec::NETLINK_GENERIC).context("cannot open a netlink socket")?;
    nl_codec::resolve(&sock, nl_codec::uapi::GNL_FOOBAR_XMPL_FAMILY_NAME)
        .context("cannot ask nlctrl for the family")?;
    let written = || -> Option<bool> {
        let mut reader = PcapReader::new(std::fs::File::open(file).ok()?).ok()?;
        while let Some(Ok(p)) = reader.next_packet() {
            let data = p.data.get(NETLINK_SLL_LEN..)?;
            let sentinel = nl_codec::u32_at(data, 8) == Some(nl_codec::RESOLVE_SEQ)
                && u16::from_ne_bytes([data[4], data[5]]) == nl_codec::GENL_ID_CTRL;
            if sentinel {
                return Some(true);
            }
        }
        Some(false)
    };
    for _ in 0..200 {
        if written() == Some(true) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("tcpdump did not write the capture within 10 s")
}

/// Reads tcpdump's file, decodes each packet and keeps those of the steps.
fn read(file: &PathBuf, mut runs: Vec<Run>) -> Result<Capture> {
    let reader =
        std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let mut reader = PcapReader::new(reader).context("tcpdump's file is no pcap")?;
    let header = reader.header();
    let mut all = Vec::new();
    while let Some(packet) = reader.next_packet() {
        all.push(
            packet
                .context("a damaged packet in tcpdump's file")?
                .into_owned(),
        );
    }
    let netlink = |p: &PcapPacket| -> Option<Vec<u8>> {
        let data = p.data.get(NETLINK_SLL_LEN..)?;
        let protocol = u16::from_be_bytes([p.data[14], p.data[15]]);
        (protocol == nl_codec::NETLINK_GENERIC as u16).then(|| data.to_vec())
    };
    let mut known = Known::default();
    for p in &all {
        if let Some(data) = netlink(p) {
            decode::learn(&data, &mut known);
        }
    }
    let mut kept = Vec::new();
    for run in &mut runs {
        let mut ports = Vec::new();
        for (i, p) in all.iter().enumerate() {
            if p.timestamp < run.window.0 || p.timestamp > run.window.1 {
                continue;
            }
            let Some(data) = netlink(p) else { continue };
            let messages = decode::datagram(&data, known);
            if messages.iter().any(|m| ours(m, known, &mut ports)) {
                run.datagrams.push(Datagram {
                    packet: kept.len(),
                    data,
                    messages,
                });
                kept.push(i);
            }
        }
    }
    let packets = kept.into_iter().map(|i| all[i].clone()).collect();
    Ok(Capture {
        runs,
        known,
        header,
        packets,
    })
}

/// Whether a message is the clients' business: nlctrl asked or answering about our family, our
/// family's messages, and the errors and dump ends sent to a port that talked about it.
fn ours(msg: &Message, known: Known, ports: &mut Vec<u32>) -> bool {
    let family = uapi_family();
    let yes = match msg.ty {
        nl_codec::GENL_ID_CTRL => msg.about.as_deref() == Some(family),
        nl_codec::NLMSG_ERROR => {
            ports.contains(&msg.port) || (msg.answers.is_some() && msg.answers == known.family)
        }
        nl_codec::NLMSG_DONE => ports.contains(&msg.port),
        t => Some(t) == known.family,
    };
    if yes && !msg.is_request() && msg.port != 0 && !ports.contains(&msg.port) {
        ports.push(msg.port);
    }
    yes
}

fn uapi_family() -> &'static str {
    nl_codec::uapi::GNL_FOOBAR_XMPL_FAMILY_NAME
}

impl Capture {
    /// Writes the kept packets as a pcap (tcpdump's link type and precision), for Wireshark.
    pub fn write_pcap(&self, path: &Path) -> Result<()> {
        let file = std::fs::File::create(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let mut writer = PcapWriter::with_header(file, self.header)
            .with_context(|| format!("cannot write {}", path.display()))?;
        for p in &self.packets {
            writer
                .write_packet(p)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(())
    }
}
