//! `gnl-rust`'s library: the gnl_foobar_xmpl family through neli 0.7's socket handle.
//!
//! Read it next to neli's `examples/`: [`NlSocketHandle`], [`GenlmsghdrBuilder`] with
//! [`NlattrBuilder`], `nlctrl`'s family lookup, attribute handles on the replies, and neli's
//! `Nlmsgerr` (with its extack) mapped to the exit codes of `userland/INTERFACE.md`. The numbers
//! come from the C header, through `nl_codec::uapi`.

use std::{collections::VecDeque, fmt};

use neli::{
    consts::{
        genl::{self, CtrlAttr, CtrlAttrMcastGrp, CtrlCmd, Index, NlAttrType},
        nl::{GenlId, NlmF, NlmsgerrAttr},
        socket::NlFamily,
    },
    err::SocketError,
    genl::{AttrTypeBuilder, Genlmsghdr, GenlmsghdrBuilder, Nlattr, NlattrBuilder, NoUserHeader},
    nl::{NlPayload, Nlmsghdr, NlmsghdrBuilder},
    socket::synchronous::NlSocketHandle,
    types::{Buffer, GenlBuffer},
    utils::Groups,
    Size, ToBytes,
};
use nl_codec::uapi as c;

/// Name of the family, of its events group, and the limits of its arguments (from the header).
pub const FAMILY_NAME: &str = c::GNL_FOOBAR_XMPL_FAMILY_NAME;
/// The multicast group of events.
pub const MCGRP_EVENTS: &str = c::GNL_FOOBAR_XMPL_MCGRP_EVENTS;
/// Longest `A_MSG` in bytes, without its NUL.
pub const MSG_MAX_LEN: usize = c::GNL_FOOBAR_XMPL_MSG_MAX_LEN as usize;
/// Bounds of a dump count.
pub const DUMP_COUNT: std::ops::RangeInclusive<u32> =
    c::GNL_FOOBAR_XMPL_DUMP_COUNT_MIN..=c::GNL_FOOBAR_XMPL_DUMP_COUNT_MAX;

/// The family's commands and attributes as neli enums (a module of their own: `neli_enum`'s
/// expansion names `Result` and `Error` unqualified).
pub mod uapi {
    use neli::neli_enum;
    use nl_codec::uapi as c;

    /// Commands of the family (`GNL_FOOBAR_XMPL_CMD_*`).
    #[neli_enum(serialized_type = "u8")]
    pub enum Cmd {
        Echo = c::GNL_FOOBAR_XMPL_CMD_ECHO,
        ReplyWithNlmsgErr = c::GNL_FOOBAR_XMPL_CMD_REPLY_WITH_NLMSG_ERR,
        SetDumpCount = c::GNL_FOOBAR_XMPL_CMD_SET_DUMP_COUNT,
        GetStats = c::GNL_FOOBAR_XMPL_CMD_GET_STATS,
    }
    impl neli::consts::genl::Cmd for Cmd {}

    /// Attributes of the family (`GNL_FOOBAR_XMPL_A_*`).
    #[neli_enum(serialized_type = "u16")]
    pub enum Attr {
        Msg = c::GNL_FOOBAR_XMPL_A_MSG,
        Count = c::GNL_FOOBAR_XMPL_A_COUNT,
        Index = c::GNL_FOOBAR_XMPL_A_INDEX,
        StatName = c::GNL_FOOBAR_XMPL_A_STAT_NAME,
        StatValue = c::GNL_FOOBAR_XMPL_A_STAT_VALUE,
    }
    impl neli::consts::genl::NlAttrType for Attr {}
}
pub use uapi::{Attr, Cmd};

/// A message of the family as neli types it.
type Msg = Nlmsghdr<u16, Genlmsghdr<Cmd, Attr>>;

pub use nl_codec::strerror;

/// An `NLMSG_ERROR` the kernel answered with: errno and extack text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelError {
    /// The positive errno.
    pub errno: i32,
    /// `NLMSGERR_ATTR_MSG`, if the kernel sent one.
    pub extack: Option<String>,
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (errno {})", strerror(self.errno), self.errno)?;
        self.extack
            .iter()
            .try_for_each(|text| write!(f, ": {text}"))
    }
}

/// Everything that can go wrong, one variant per row of INTERFACE.md's error table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Longer than [`MSG_MAX_LEN`] (exit 2).
    MessageTooLong(usize),
    /// The family is not registered (exit 3).
    FamilyNotFound,
    /// `EPERM` (exit 4).
    PermissionDenied,
    /// Any other errno from the kernel (exit 1).
    Kernel(KernelError),
    /// A socket call failed (exit 1).
    Syscall(&'static str, i32),
    /// A reply neli or this client refused, in neli's words (exit 5).
    Protocol(String),
}

impl Error {
    /// The exit code INTERFACE.md gives this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Kernel(_) | Error::Syscall(..) => 1,
            Error::MessageTooLong(_) => 2,
            Error::FamilyNotFound => 3,
            Error::PermissionDenied => 4,
            Error::Protocol(_) => 5,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::MessageTooLong(len) => {
                write!(f, "message is {len} bytes; the maximum is {MSG_MAX_LEN}")
            }
            Error::FamilyNotFound => write!(
                f,
                "generic netlink family {FAMILY_NAME} not found: \
                 is the module loaded? (insmod {FAMILY_NAME}.ko)"
            ),
            Error::PermissionDenied => {
                f.write_str("permission denied: this operation needs CAP_NET_ADMIN (run as root)")
            }
            Error::Kernel(err) => write!(f, "kernel rejected the request: {err}"),
            Error::Syscall(call, errno) => {
                write!(f, "{call}: {} (errno {errno})", strerror(*errno))
            }
            Error::Protocol(detail) => write!(f, "unexpected reply: {detail}"),
        }
    }
}

/// Result of every fallible operation here.
pub type Result<T> = std::result::Result<T, Error>;

/// One counter of `CMD_GET_STATS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// `A_STAT_NAME`.
    pub name: String,
    /// `A_STAT_VALUE`.
    pub value: u64,
}

/// One event of the `events` group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A `CMD_ECHO`: the echoed `A_MSG`.
    Echo(Vec<u8>),
    /// A `CMD_SET_DUMP_COUNT`: the new default.
    SetDumpCount(u32),
    /// Another command.
    Unknown(u8),
}

/// Refuses a message the family would refuse, before anything is sent.
pub fn check_message(msg: &[u8]) -> Result<()> {
    match msg.len() {
        len if len > MSG_MAX_LEN => Err(Error::MessageTooLong(len)),
        _ => Ok(()),
    }
}

/// The bytes of a string attribute, without its NUL.
fn string_bytes(msg: &Msg, attr: Attr) -> Result<Vec<u8>> {
    let payload = msg.get_payload().ok_or_else(|| missing(attr))?;
    let handle = payload.attrs().get_attr_handle();
    let bytes = handle.get_attribute(attr).ok_or_else(|| missing(attr))?;
    let bytes: &[u8] = bytes.nla_payload().as_ref();
    Ok(bytes.strip_suffix(&[0]).unwrap_or(bytes).to_vec())
}

/// A `u32`/`u64` attribute.
fn number<T: neli::FromBytes>(msg: &Msg, attr: Attr) -> Result<T> {
    let payload = msg.get_payload().ok_or_else(|| missing(attr))?;
    payload
        .attrs()
        .get_attr_handle()
        .get_attr_payload_as::<T>(attr)
        .map_err(|e| Error::Protocol(format!("attribute {attr:?}: {e}")))
}

fn missing(attr: Attr) -> Error {
    Error::Protocol(format!("missing attribute {attr:?}"))
}

/// A socket of the family: neli's socket handle, the family's id and its `events` group.
///
/// neli 0.7.5's `NlRouter` would resolve the family for us (`resolve_genl_family`,
/// `resolve_nl_mcast_group`), but its typed receive (`Nlmsgerr::to_typed`) drops the extack
/// attributes, so no error would show the kernel's message; it also starts a thread per socket.
/// So this client uses `NlSocketHandle` and asks `nlctrl` itself, as those two functions do.
pub struct Client {
    socket: NlSocketHandle,
    family: u16,
    events: Option<u32>,
    seq: u32,
    pending: VecDeque<Msg>,
}

impl Client {
    /// Opens a socket with extended acks and resolves the family by name through `nlctrl`.
    pub fn open() -> Result<Self> {
        let socket = NlSocketHandle::connect(NlFamily::Generic, None, Groups::empty())
            .map_err(socket_error("socket"))?;
        socket
            .enable_ext_ack(true)
            .map_err(socket_error("setsockopt"))?;
        let mut client = Client {
            socket,
            family: 0,
            events: None,
            seq: 0,
            pending: VecDeque::new(),
        };
        let name = nlattr(CtrlAttr::FamilyName, FAMILY_NAME);
        let mut found = None;
        let res = client.transact(
            GenlId::Ctrl.into(),
            CtrlCmd::Getfamily,
            2,
            NlmF::empty(),
            vec![name],
            |msg| {
                let Some(payload) = msg.get_payload() else {
                    return Ok(());
                };
                let attrs = payload.attrs().get_attr_handle();
                let id = attrs.get_attr_payload_as::<u16>(CtrlAttr::FamilyId);
                let groups = attrs.get_nested_attributes::<Index>(CtrlAttr::McastGroups);
                let events = groups.ok().and_then(|groups| {
                    groups.iter().find_map(|group| {
                        let group = group.get_attr_handle::<CtrlAttrMcastGrp>().ok()?;
                        let name =
                            group.get_attr_payload_as_with_len::<String>(CtrlAttrMcastGrp::Name);
                        (name.ok()? == MCGRP_EVENTS)
                            .then(|| group.get_attr_payload_as::<u32>(CtrlAttrMcastGrp::Id).ok())?
                    })
                });
                found = Some((id.map_err(|e| Error::Protocol(e.to_string()))?, events));
                Ok(())
            },
        );
        match res {
            Err(Error::Kernel(KernelError {
                errno: libc::ENOENT,
                ..
            })) => return Err(Error::FamilyNotFound),
            res => res?,
        }
        (client.family, client.events) =
            found.ok_or_else(|| Error::Protocol("nlctrl sent no family".into()))?;
        Ok(client)
    }

    /// Sends one request (genl header built with neli's builders) and hands every reply to
    /// `each` until the answer ends: one reply, an ack, `NLMSG_DONE` or an error.
    fn transact<C: genl::Cmd + fmt::Debug, A: NlAttrType + fmt::Debug>(
        &mut self,
        ty: u16,
        cmd: C,
        version: u8,
        flags: NlmF,
        attrs: Vec<Nlattr<A, Buffer>>,
        mut each: impl FnMut(Nlmsghdr<u16, Genlmsghdr<C, A>>) -> Result<()>,
    ) -> Result<()> {
        self.seq += 1;
        let genl = GenlmsghdrBuilder::<C, A, NoUserHeader>::default()
            .cmd(cmd)
            .version(version)
            .attrs(attrs.into_iter().collect::<GenlBuffer<A, Buffer>>())
            .build()
            .unwrap(); // neli's builders fail only on a field left unset
        let request = NlmsghdrBuilder::default()
            .nl_type(ty)
            .nl_flags(flags | NlmF::REQUEST)
            .nl_seq(self.seq)
            .nl_payload(NlPayload::Payload(genl))
            .build()
            .unwrap();
        self.socket.send(&request).map_err(socket_error("send"))?;
        loop {
            let (msgs, _) = self
                .socket
                .recv::<u16, Genlmsghdr<C, A>>()
                .map_err(socket_error("recv"))?;
            for msg in msgs {
                let msg = msg.map_err(socket_error("recv"))?;
                if *msg.nl_seq() != self.seq {
                    return Err(Error::Protocol(format!(
                        "sequence number {} (expected {})",
                        msg.nl_seq(),
                        self.seq
                    )));
                }
                if *msg.nl_pid() != self.socket.pid() {
                    return Err(Error::Protocol(format!(
                        "port id {} (expected {})",
                        msg.nl_pid(),
                        self.socket.pid()
                    )));
                }
                let last = !msg.nl_flags().contains(NlmF::MULTI) && !flags.contains(NlmF::ACK);
                match msg.nl_payload() {
                    NlPayload::Err(err) => return Err(kernel_error(*err.error(), err.ext_ack())),
                    NlPayload::Ack(_) | NlPayload::Empty | NlPayload::DumpExtAck(_) => {
                        return Ok(())
                    }
                    NlPayload::Payload(_) => each(msg)?,
                }
                if last {
                    return Ok(());
                }
            }
        }
    }

    /// A request of the family, with its replies.
    fn request(
        &mut self,
        cmd: Cmd,
        flags: NlmF,
        attrs: Vec<Nlattr<Attr, Buffer>>,
        each: impl FnMut(Msg) -> Result<()>,
    ) -> Result<()> {
        let version = c::GNL_FOOBAR_XMPL_FAMILY_VERSION as u8;
        self.transact(self.family, cmd, version, flags, attrs, each)
    }

    /// `CMD_ECHO` doit: the kernel's echo of `msg`.
    pub fn echo(&mut self, msg: &[u8]) -> Result<Vec<u8>> {
        let mut reply = None;
        let attr = nlattr(Attr::Msg, Buffer::from([msg, b"\0"].concat()));
        self.request(Cmd::Echo, NlmF::empty(), vec![attr], |m| {
            reply = Some(string_bytes(&m, Attr::Msg));
            Ok(())
        })?;
        reply.unwrap_or_else(|| Err(missing(Attr::Msg)))
    }

    /// `CMD_ECHO` dump: calls `each` with every message's index and text; returns how many came.
    pub fn dump_each(
        &mut self,
        count: Option<u32>,
        mut each: impl FnMut(u32, &[u8]),
    ) -> Result<u32> {
        let attrs = count.map(|n| nlattr(Attr::Count, n)).into_iter().collect();
        let mut received = 0;
        self.request(Cmd::Echo, NlmF::DUMP, attrs, |msg| {
            let index: u32 = number(&msg, Attr::Index)?;
            if index != received {
                return Err(Error::Protocol(format!(
                    "dump index {index} (expected {received})"
                )));
            }
            each(index, &string_bytes(&msg, Attr::Msg)?);
            received += 1;
            Ok(())
        })?;
        Ok(received)
    }

    /// `CMD_REPLY_WITH_NLMSG_ERR`: the error the kernel always answers with.
    pub fn error(&mut self) -> Result<KernelError> {
        match self.request(Cmd::ReplyWithNlmsgErr, NlmF::empty(), vec![], |_| Ok(())) {
            Err(Error::Kernel(err)) => Ok(err),
            Err(err) => Err(err),
            Ok(()) => Err(Error::Protocol("a reply (expected an error)".into())),
        }
    }

    /// `CMD_SET_DUMP_COUNT` with an acknowledgment.
    pub fn set_dump_count(&mut self, count: u32) -> Result<()> {
        let attr = nlattr(Attr::Count, count);
        self.request(Cmd::SetDumpCount, NlmF::ACK, vec![attr], |_| {
            Err(Error::Protocol(
                "a reply (expected an acknowledgment)".into(),
            ))
        })
    }

    /// `CMD_GET_STATS`: the counters in the kernel's order, from one reply or from a dump.
    pub fn stats(&mut self, dump: bool) -> Result<Vec<Stat>> {
        let flags = if dump { NlmF::DUMP } else { NlmF::empty() };
        let mut stats = Vec::new();
        self.request(Cmd::GetStats, flags, vec![], |msg| {
            for attr in msg
                .get_payload()
                .map(|p| p.attrs().iter())
                .into_iter()
                .flatten()
            {
                let payload: &[u8] = attr.nla_payload().as_ref();
                match attr.nla_type().nla_type() {
                    Attr::StatName => stats.push(Stat {
                        name: String::from_utf8_lossy(
                            payload.strip_suffix(&[0]).unwrap_or(payload),
                        )
                        .into(),
                        value: 0,
                    }),
                    Attr::StatValue => {
                        let value = payload.try_into().map(u64::from_ne_bytes).map_err(|_| {
                            Error::Protocol(format!(
                                "attribute StatValue has {} bytes (expected 8)",
                                payload.len()
                            ))
                        })?;
                        stats
                            .last_mut()
                            .ok_or_else(|| missing(Attr::StatName))?
                            .value = value;
                    }
                    _ => {}
                }
            }
            Ok(())
        })?;
        Ok(stats)
    }

    /// Joins the `events` group.
    pub fn subscribe(&mut self) -> Result<()> {
        let group = self.events.ok_or_else(|| {
            Error::Protocol(format!(
                "family {FAMILY_NAME} has no multicast group {MCGRP_EVENTS}"
            ))
        })?;
        self.socket
            .add_mcast_membership(Groups::new_groups(&[group]))
            .map_err(socket_error("setsockopt"))
    }

    /// The next event of the group (blocks).
    pub fn next_event(&mut self) -> Result<Event> {
        while self.pending.is_empty() {
            let (msgs, _) = self
                .socket
                .recv::<u16, Genlmsghdr<Cmd, Attr>>()
                .map_err(socket_error("recv"))?;
            for msg in msgs {
                self.pending.push_back(msg.map_err(socket_error("recv"))?);
            }
        }
        let msg = self.pending.pop_front().unwrap();
        match msg.get_payload().map(|p| *p.cmd()) {
            Some(Cmd::Echo) => Ok(Event::Echo(string_bytes(&msg, Attr::Msg)?)),
            Some(Cmd::SetDumpCount) => Ok(Event::SetDumpCount(number(&msg, Attr::Count)?)),
            Some(cmd) => Ok(Event::Unknown(cmd.into())),
            None => Err(Error::Protocol(format!(
                "message type {} (expected {})",
                msg.nl_type(),
                self.family
            ))),
        }
    }
}

/// One attribute, built with neli's builders (they fail only on a field left unset).
fn nlattr<A: NlAttrType, P: Size + ToBytes>(ty: A, payload: P) -> Nlattr<A, Buffer> {
    let ty = AttrTypeBuilder::default().nla_type(ty).build().unwrap();
    NlattrBuilder::default()
        .nla_type(ty)
        .nla_payload(payload)
        .build()
        .unwrap()
}

/// An `NLMSG_ERROR` as this client reports it: errno, extack text, `EPERM` on its own.
fn kernel_error(error: i32, ext_ack: &GenlBuffer<NlmsgerrAttr, Buffer>) -> Error {
    let extack = ext_ack
        .get_attr_handle()
        .get_attr_payload_as_with_len::<String>(NlmsgerrAttr::Msg)
        .ok();
    match -error {
        libc::EPERM => Error::PermissionDenied,
        errno => Error::Kernel(KernelError { errno, extack }),
    }
}

/// A failed socket call (or a datagram neli could not parse).
fn socket_error(call: &'static str) -> impl Fn(SocketError) -> Error {
    move |err| match err {
        SocketError::Io(e) => Error::Syscall(call, e.raw_os_error().unwrap_or(libc::EIO)),
        other => Error::Protocol(other.to_string()),
    }
}
