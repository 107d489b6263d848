//! A generic netlink socket that sends crafted requests and collects their answers, and resolves
//! families through nlctrl.

use std::io;

use nl_codec::{
    Sock, CTRL_ATTR_FAMILY_NAME, CTRL_CMD_GETFAMILY, GENL_ID_CTRL, NETLINK_CAP_ACK,
    NETLINK_EXT_ACK, NETLINK_GENERIC,
};

use super::message::{parse_messages, Attr, Message};
use super::{uapi, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST};

/// A family as nlctrl describes it.
#[derive(Debug, Clone)]
pub struct Family {
    /// Family ID (the `nlmsg_type` of its messages).
    pub id: u16,
    /// Multicast groups: name and ID.
    pub groups: Vec<(String, u32)>,
}

impl Family {
    /// The ID of the multicast group `name`.
    pub fn group(&self, name: &str) -> Option<u32> {
        self.groups
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, id)| *id)
    }
}

/// A generic netlink socket (the codec's), extended ACKs and capped ACKs on.
pub struct GenlSocket {
    sock: Sock,
    seq: u32,
    /// The port ID the kernel bound the socket to.
    pub portid: u32,
}

/// A kernel that never answers fails the test instead of hanging the suite.
const RECV_TIMEOUT_MS: i32 = 30_000;

fn context(what: &str) -> impl FnOnce(io::Error) -> io::Error + '_ {
    move |err| io::Error::new(err.kind(), format!("{what}: {err}"))
}

impl GenlSocket {
    /// Opens and binds a socket: the kernel picks the port ID, except in a concurrent test
    /// (one of its own, [`crate::turn::next_port`]).
    pub fn open() -> io::Result<Self> {
        let sock = loop {
            match Sock::open_at(NETLINK_GENERIC, crate::turn::next_port()) {
                // Still held by a socket of an earlier concurrent test: take the next.
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
                other => break other.map_err(context("socket"))?,
            }
        };
        sock.set_netlink(NETLINK_EXT_ACK, 1)
            .map_err(context("setsockopt"))?;
        sock.set_netlink(NETLINK_CAP_ACK, 1)
            .map_err(context("setsockopt"))?;
        Ok(GenlSocket {
            portid: sock.port,
            sock,
            seq: 1000,
        })
    }

    /// Joins a multicast group.
    pub fn join(&self, group: u32) -> io::Result<()> {
        self.sock.join(group).map_err(context("setsockopt"))
    }

    /// Sends one generic netlink request; returns its sequence number.
    pub fn send(
        &mut self,
        family: u16,
        flags: u16,
        cmd: u8,
        version: u8,
        attrs: &[Attr],
    ) -> io::Result<u32> {
        self.seq += 1;
        let attrs: Vec<Vec<u8>> = attrs.iter().map(Attr::encode).collect();
        // nlmsg_pid 0: the kernel fills in our port ID.
        let msg = nl_codec::message(
            family,
            flags | NLM_F_REQUEST,
            self.seq,
            &nl_codec::genl_version(cmd, version, &attrs),
        );
        self.sock.send(&msg).map_err(context("send"))?;
        Ok(self.seq)
    }

    /// Receives one datagram (waiting up to 30 s) and parses its messages; a truncated
    /// datagram, one not from the kernel (source port ID 0) or not addressed to this socket is
    /// an error.
    pub fn recv(&mut self) -> io::Result<Vec<Message>> {
        self.recv_timeout(RECV_TIMEOUT_MS)?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("recv: no answer within {RECV_TIMEOUT_MS} ms"),
            )
        })
    }

    /// Receives one datagram if one arrives within `timeout_ms`.
    pub fn recv_timeout(&mut self, timeout_ms: i32) -> io::Result<Option<Vec<Message>>> {
        let mut buf = vec![0u8; 256 * 1024];
        let Some(n) = self
            .sock
            .recv(&mut buf, timeout_ms)
            .map_err(context("recv"))?
        else {
            return Ok(None);
        };
        Ok(Some(parse_messages(&buf[..n], self.portid)))
    }

    /// Sends a request and collects its answer: a dump up to `NLMSG_DONE` (or an error), an
    /// `NLM_F_ACK` request up to its ACK (or error), anything else up to its one reply or error.
    ///
    /// Checks every message of the answer carries the request's sequence number.
    pub fn request(
        &mut self,
        family: u16,
        flags: u16,
        cmd: u8,
        attrs: &[Attr],
    ) -> io::Result<Vec<Message>> {
        self.request_with_version(
            family,
            flags,
            cmd,
            uapi::GNL_FOOBAR_XMPL_FAMILY_VERSION as u8,
            attrs,
        )
    }

    /// [`GenlSocket::request`] with any genl header version.
    pub fn request_with_version(
        &mut self,
        family: u16,
        flags: u16,
        cmd: u8,
        version: u8,
        attrs: &[Attr],
    ) -> io::Result<Vec<Message>> {
        let seq = self.send(family, flags, cmd, version, attrs)?;
        let mut answer = Vec::new();
        loop {
            for message in self.recv()? {
                assert_eq!(
                    message.seq(),
                    seq,
                    "answer with the wrong sequence number: {message:?}"
                );
                let last = if flags & NLM_F_DUMP == NLM_F_DUMP || flags & NLM_F_ACK != 0 {
                    message.is_final()
                } else {
                    true
                };
                answer.push(message);
                if last {
                    return Ok(answer);
                }
            }
        }
    }

    /// Resolves a family through nlctrl; `None` when it is not registered.
    pub fn family(&mut self, name: &str) -> io::Result<Option<Family>> {
        let answer = self.request_with_version(
            GENL_ID_CTRL,
            0,
            CTRL_CMD_GETFAMILY,
            1,
            &[Attr::string(CTRL_ATTR_FAMILY_NAME, name)],
        )?;
        let mut family = None;
        for message in answer {
            match message {
                Message::Genl { attrs, .. } => {
                    let list: Vec<(u16, &[u8])> =
                        attrs.iter().map(|(k, v)| (*k, v.as_slice())).collect();
                    let (id, groups) = nl_codec::ctrl_family(&list)
                        .expect("nlctrl reply without CTRL_ATTR_FAMILY_ID");
                    family = Some(Family { id, groups });
                }
                Message::Error {
                    errno: libc::ENOENT,
                    ..
                } => return Ok(None),
                Message::Error { errno: 0, .. } => {}
                other => panic!("unexpected nlctrl answer: {other:?}"),
            }
        }
        Ok(family)
    }

    /// Resolves the module's family; panics when it is not registered.
    pub fn module_family(&mut self) -> Family {
        self.family(uapi::GNL_FOOBAR_XMPL_FAMILY_NAME)
            .expect("CTRL_CMD_GETFAMILY")
            .unwrap_or_else(|| {
                panic!(
                    "family {} is not registered",
                    uapi::GNL_FOOBAR_XMPL_FAMILY_NAME
                )
            })
    }
}
