//! A raw `AF_NETLINK` socket that sends any bytes and parses what the kernel answers without
//! trusting it: the fuzzer's and the stress tests' transport, for both modules' protocols.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// `NETLINK_GENERIC`.
pub const NETLINK_GENERIC: i32 = 16;
/// `NETLINK_FOOBAR_XMPL`, the classic module's protocol (`userland/include/nl_foobar_xmpl.h`).
pub const NETLINK_FOOBAR_XMPL: i32 = 28;

const SOL_NETLINK: i32 = 270;
const NETLINK_ADD_MEMBERSHIP: i32 = 1;
/// `NETLINK_CAP_ACK`.
pub const NETLINK_CAP_ACK: i32 = 10;
/// `NETLINK_EXT_ACK`.
pub const NETLINK_EXT_ACK: i32 = 11;

/// `NLMSG_ERROR`.
pub const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`.
pub const NLMSG_DONE: u16 = 3;
/// `NLMSG_MIN_TYPE`: below it, types belong to netlink itself.
pub const NLMSG_MIN_TYPE: u16 = 0x10;
/// `GENL_ID_CTRL`.
pub const GENL_ID_CTRL: u16 = 0x10;

/// `NLM_F_REQUEST`.
pub const F_REQUEST: u16 = 1;
/// `NLM_F_MULTI`.
pub const F_MULTI: u16 = 2;
/// `NLM_F_ACK`.
pub const F_ACK: u16 = 4;
/// `NLM_F_DUMP`.
pub const F_DUMP: u16 = 0x300;
const F_CAPPED: u16 = 0x100;
const F_ACK_TLVS: u16 = 0x200;

/// Length of `struct nlmsghdr`.
pub const HDRLEN: usize = 16;

/// Rounds up to the netlink alignment (4).
pub fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// The errno of a failed call, kept raw so that callers can match it (`what` is for reading).
fn check(ret: libc::c_int, what: &str) -> io::Result<libc::c_int> {
    let _ = what;
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A bound netlink socket of any protocol.
pub struct Sock {
    fd: OwnedFd,
    /// The port id the kernel gave it.
    pub port: u32,
}

impl Sock {
    /// Opens and binds a socket of `protocol`; the kernel picks the port id.
    pub fn open(protocol: i32) -> io::Result<Sock> {
        // SAFETY: plain syscalls on a descriptor we own; the address is fully initialised.
        unsafe {
            let fd = check(
                libc::socket(
                    libc::AF_NETLINK,
                    libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                    protocol,
                ),
                "socket",
            )?;
            let fd = OwnedFd::from_raw_fd(fd);
            let mut addr: libc::sockaddr_nl = std::mem::zeroed();
            addr.nl_family = libc::AF_NETLINK as u16;
            let mut len = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
            check(
                libc::bind(fd.as_raw_fd(), &addr as *const _ as *const _, len),
                "bind",
            )?;
            check(
                libc::getsockname(fd.as_raw_fd(), &mut addr as *mut _ as *mut _, &mut len),
                "getsockname",
            )?;
            Ok(Sock {
                fd,
                port: addr.nl_pid,
            })
        }
    }

    /// `setsockopt` with an int value.
    pub fn set_int(&self, level: i32, option: i32, value: i32) -> io::Result<()> {
        // SAFETY: value outlives the call; the length is its size.
        check(
            unsafe {
                libc::setsockopt(
                    self.fd.as_raw_fd(),
                    level,
                    option,
                    &value as *const i32 as *const libc::c_void,
                    4,
                )
            },
            "setsockopt",
        )
        .map(drop)
    }

    /// Sets a `SOL_NETLINK` option.
    pub fn set_netlink(&self, option: i32, value: i32) -> io::Result<()> {
        self.set_int(SOL_NETLINK, option, value)
    }

    /// Joins a multicast group.
    pub fn join(&self, group: u32) -> io::Result<()> {
        self.set_netlink(NETLINK_ADD_MEMBERSHIP, group as i32)
    }

    /// Sets the receive buffer, beyond `rmem_max` (we run as root; falls back to the capped one).
    pub fn set_rcvbuf(&self, bytes: i32) -> io::Result<()> {
        self.set_int(libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, bytes)
            .or_else(|_| self.set_int(libc::SOL_SOCKET, libc::SO_RCVBUF, bytes))
    }

    /// Sends one datagram to the kernel.
    pub fn send(&self, bytes: &[u8]) -> io::Result<()> {
        // SAFETY: an all-zero sockaddr_nl addresses the kernel; bytes is valid for its length.
        let mut to: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        to.nl_family = libc::AF_NETLINK as u16;
        let sent = check(
            unsafe {
                libc::sendto(
                    self.fd.as_raw_fd(),
                    bytes.as_ptr() as *const _,
                    bytes.len(),
                    0,
                    &to as *const _ as *const _,
                    std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
                ) as i32
            },
            "send",
        )?;
        if sent as usize != bytes.len() {
            return Err(io::Error::other(format!(
                "short send: {sent} of {}",
                bytes.len()
            )));
        }
        Ok(())
    }

    /// Waits up to `timeout_ms` for a datagram; `Ok(None)` on timeout. Errors include
    /// `ENOBUFS` (the kernel dropped something for this socket), returned as they come.
    /// A datagram that does not come from the kernel or does not fit `buf` is an error.
    pub fn recv(&self, buf: &mut [u8], timeout_ms: i32) -> io::Result<Option<usize>> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        if check(unsafe { libc::poll(&mut pfd, 1, timeout_ms) }, "poll")? == 0 {
            return Ok(None);
        }
        // SAFETY: an all-zero sockaddr_nl is valid; buf and from are valid for their lengths.
        let mut from: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        let mut from_len = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
        let n = unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr() as *mut _,
                buf.len(),
                libc::MSG_TRUNC | libc::MSG_DONTWAIT,
                &mut from as *mut _ as *mut _,
                &mut from_len,
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EAGAIN) {
                return Ok(None);
            }
            return Err(err);
        }
        let n = n as usize;
        if n > buf.len() {
            return Err(io::Error::other(format!(
                "datagram of {n} bytes truncated to {}",
                buf.len()
            )));
        }
        if from.nl_pid != 0 {
            return Err(io::Error::other(format!(
                "datagram from port {} (not the kernel)",
                from.nl_pid
            )));
        }
        Ok(Some(n))
    }
}

/// Attributes as (type, payload), in order.
pub type Attrs<'a> = Vec<(u16, &'a [u8])>;

/// One message the kernel sent.
#[derive(Debug, Clone)]
pub struct Msg {
    /// `nlmsg_type`.
    pub ty: u16,
    /// `nlmsg_flags`.
    pub flags: u16,
    /// `nlmsg_seq`.
    pub seq: u32,
    /// `nlmsg_pid`.
    pub pid: u32,
    /// Everything after the header, `nlmsg_len - 16` bytes.
    pub payload: Vec<u8>,
}

impl Msg {
    /// The error code of an `NLMSG_ERROR` (0 for an ack), or the one a `NLMSG_DONE` carries.
    pub fn code(&self) -> Option<i32> {
        if self.ty != NLMSG_ERROR && self.ty != NLMSG_DONE {
            return None;
        }
        Some(i32::from_ne_bytes(self.payload.get(..4)?.try_into().ok()?))
    }

    /// Whether it ends the answer to a request (an ack, an error, the end of a dump).
    pub fn is_final(&self) -> bool {
        self.ty == NLMSG_ERROR || self.ty == NLMSG_DONE
    }

    /// The extack text of an `NLMSG_ERROR`, if any.
    pub fn extack(&self) -> Option<String> {
        if self.ty != NLMSG_ERROR || self.flags & F_ACK_TLVS == 0 {
            return None;
        }
        let at = if self.flags & F_CAPPED != 0 {
            4 + HDRLEN
        } else {
            let req_len = u32_at(&self.payload, 4)? as usize;
            4 + align4(req_len.max(HDRLEN))
        };
        attrs(self.payload.get(at..)?)
            .into_iter()
            .find(|(kind, _)| *kind == 1)
            .map(|(_, v)| cstr(v))
    }

    /// The genl command and attributes of a message of a generic netlink family.
    pub fn genl(&self) -> Option<(u8, Attrs<'_>)> {
        if self.payload.len() < 4 {
            return None;
        }
        Some((self.payload[0], attrs(&self.payload[4..])))
    }
}

/// A native-endian u32 at `at`.
pub fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// A string attribute's text up to its first NUL.
pub fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// Parses the attributes of a kernel message; stops at the first malformed one.
pub fn attrs(mut data: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while data.len() >= 4 {
        let len = u16::from_ne_bytes([data[0], data[1]]) as usize;
        let kind = u16::from_ne_bytes([data[2], data[3]]) & 0x3fff;
        if len < 4 || len > data.len() {
            break;
        }
        out.push((kind, &data[4..len]));
        data = &data[align4(len).min(data.len())..];
    }
    out
}

/// Splits a datagram the kernel sent into messages, checking each is framed right and addressed
/// to `port`: the kernel never sends anything else, whatever it was sent.
pub fn parse(mut data: &[u8], port: u32) -> Result<Vec<Msg>, String> {
    let mut out = Vec::new();
    while !data.is_empty() {
        if data.len() < HDRLEN {
            return Err(format!(
                "{} trailing bytes in a kernel datagram",
                data.len()
            ));
        }
        let len = u32_at(data, 0).unwrap() as usize;
        if len < HDRLEN || len > data.len() {
            return Err(format!(
                "kernel message length {len} with {} bytes left",
                data.len()
            ));
        }
        let msg = Msg {
            ty: u16::from_ne_bytes([data[4], data[5]]),
            flags: u16::from_ne_bytes([data[6], data[7]]),
            seq: u32_at(data, 8).unwrap(),
            pid: u32_at(data, 12).unwrap(),
            payload: data[HDRLEN..len].to_vec(),
        };
        if msg.pid != port && port != 0 {
            return Err(format!(
                "a message for port {} on port {port}: {msg:?}",
                msg.pid
            ));
        }
        if msg.ty == NLMSG_ERROR && msg.payload.len() < 4 + HDRLEN {
            return Err(format!("NLMSG_ERROR of {} bytes", len));
        }
        out.push(msg);
        data = &data[align4(len).min(data.len())..];
    }
    Ok(out)
}

/// Encodes one attribute (padding included).
pub fn attr(kind: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(align4(4 + payload.len()));
    out.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(payload);
    out.resize(align4(out.len()), 0);
    out
}

/// Encodes one message with a truthful `nlmsg_len` (no padding after it).
pub fn message(ty: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HDRLEN + payload.len());
    out.extend_from_slice(&((HDRLEN + payload.len()) as u32).to_ne_bytes());
    out.extend_from_slice(&ty.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
    out.extend_from_slice(payload);
    out
}

/// A genl payload: header (command, version 1) and attributes.
pub fn genl(cmd: u8, attrs: &[Vec<u8>]) -> Vec<u8> {
    let mut out = vec![cmd, 1, 0, 0];
    for a in attrs {
        out.extend_from_slice(a);
    }
    out
}

/// The gnl_foobar_xmpl family as nlctrl describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Family {
    /// Family id.
    pub id: u16,
    /// The `events` group id.
    pub events: u32,
}

/// Resolves a generic netlink family and its `events` group; `None` when not registered.
pub fn resolve(sock: &Sock, name: &str) -> io::Result<Option<Family>> {
    let mut name_z = name.as_bytes().to_vec();
    name_z.push(0);
    let seq = 0x7fff_0000;
    sock.send(&message(
        GENL_ID_CTRL,
        F_REQUEST,
        seq,
        &genl(3, &[attr(2, &name_z)]),
    ))?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = sock
            .recv(&mut buf, 10_000)?
            .ok_or_else(|| io::Error::other("nlctrl did not answer within 10 s"))?;
        for msg in parse(&buf[..n], sock.port).map_err(io::Error::other)? {
            if msg.seq != seq {
                continue;
            }
            if msg.ty == NLMSG_ERROR {
                return Ok(None);
            }
            let Some((_, list)) = msg.genl() else {
                return Ok(None);
            };
            let mut id = None;
            let mut events = 0;
            for (kind, value) in list {
                match kind {
                    1 if value.len() >= 2 => id = Some(u16::from_ne_bytes([value[0], value[1]])),
                    7 => {
                        for (_, group) in attrs(value) {
                            let g = attrs(group);
                            let gname = g.iter().find(|(k, _)| *k == 1).map(|(_, v)| cstr(v));
                            let gid = g
                                .iter()
                                .find(|(k, _)| *k == 2)
                                .and_then(|(_, v)| u32_at(v, 0));
                            if let (Some(n), Some(i)) = (gname, gid) {
                                if n == "events" {
                                    events = i;
                                }
                            }
                        }
                    }
                    _ => {}
                }
            }
            return Ok(id.map(|id| Family { id, events }));
        }
    }
}
