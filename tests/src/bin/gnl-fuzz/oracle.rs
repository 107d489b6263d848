//! The oracle: what each message sent to the family must get, derived from the spec and the
//! kernel's documented rules (`netlink_rcv_skb()`, `genl_family_rcv_msg()`, the attribute policy
//! of `lib/nlattr.c`), and the check of every answer against it.
//!
//! A message without `NLM_F_REQUEST` or of a control type gets only the ACK it asks for. A request
//! to another family gets `-ENOENT`; to ours, with a short header `-EINVAL`; from 6.1, a reserved
//! header field or flag `-EINVAL`; to a command or mode the spec lacks `-EOPNOTSUPP`; attributes
//! the op's policy refuses the errno the policy model says, naming the attribute in extack; and a
//! request the policy takes its reply, dump or ACK, unless a handler refuses it (semantics.rs).
//! Exactly one ending per request; dumps end with `NLMSG_DONE`.

use crate::nl::{self, Msg, F_ACK, F_DUMP, F_MULTI, F_REQUEST, GENL_HDRLEN, HDRLEN};
use crate::nla;
use crate::semantics::Semantics;
use crate::spec::{Mode, Spec};

/// `NLM_F_ECHO`: one of the flags 6.1's header check lets through.
const F_ECHO: u16 = 8;
/// Where a request's attributes start: after its netlink and genl headers.
const ATTRS_AT: usize = HDRLEN + GENL_HDRLEN;
/// Events are multicast: addressed to port 0, whoever receives them.
pub const MULTICAST_PORT: u32 = 0;

/// What differs between the kernel lines the lab runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelRules {
    /// 6.1+ (`resv_start_op`): the reserved genl field and flags beyond request, ack, echo and
    /// dump are refused with `-EINVAL`, and an op without a policy refuses every attribute.
    pub checks_requests: bool,
}

impl KernelRules {
    /// The rules of a kernel release such as `6.1.0-57-amd64`.
    pub fn for_release(release: &str) -> KernelRules {
        let mut numbers = release
            .split(|c: char| !c.is_ascii_digit())
            .map(|n| n.parse::<u32>().unwrap_or(0));
        let version = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
        KernelRules {
            checks_requests: version >= (6, 1),
        }
    }

    /// The running kernel's rules.
    pub fn running() -> KernelRules {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        KernelRules::for_release(release.trim())
    }
}

/// Whether a message must, must not or may be answered.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Expect {
    Must,
    Never,
    Maybe,
}

/// An ending: `NLMSG_ERROR` 0, `NLMSG_DONE`, or `NLMSG_ERROR` with an errno.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Final {
    Ack,
    Done,
    Error(i32),
}

impl Final {
    /// The ending a final message is.
    pub fn of(m: &Msg) -> Final {
        match m.code().unwrap_or(0) {
            0 if m.ty == nl::NLMSG_DONE => Final::Done,
            0 => Final::Ack,
            code => Final::Error(-code),
        }
    }

    /// Its name in the counts.
    pub fn name(self) -> String {
        match self {
            Final::Ack => "ack".into(),
            Final::Done => "done".into(),
            Final::Error(e) => crate::counts::errno_name(e),
        }
    }
}

/// What may come before the ending.
#[derive(Clone, Debug, PartialEq)]
pub enum Replies {
    None,
    /// Whatever (nlctrl, or a number garbage shares).
    Any,
    /// The do's reply, of this command.
    One(u8),
    /// The dump's messages, of this command.
    Dump(u8),
    /// Classic protocol: exactly these bytes.
    Exact(Vec<u8>),
}

/// What one message must get, and what it got so far.
#[derive(Debug)]
pub struct Pending {
    /// The operation, for the counts.
    pub label: String,
    pub expect: Expect,
    ack: bool,
    /// The endings that may come (`None`: any).
    finals: Option<Vec<Final>>,
    /// The policy error and the offset of the attribute its extack must name.
    bad_attr: Option<(i32, usize)>,
    replies: Replies,
    /// The attributes the handler sees, for the semantic checks.
    request: Vec<(u16, Vec<u8>)>,
    /// Classic: an error must carry an extack message.
    pub want_extack: bool,
    dump: Vec<Vec<(u16, Vec<u8>)>>,
    /// Answers were lost (`ENOBUFS`): the dump's contents are not judged.
    pub lost: bool,
    n_finals: u32,
    n_replies: u32,
    /// Nothing more must come.
    pub done: bool,
    /// Something came.
    pub answered: bool,
    /// The policy took it: the handler was reached.
    pub valid: bool,
    /// A dump request that reaches `netlink_dump_start()`.
    pub starts_dump: bool,
    /// The message, for the reproducer.
    pub what: String,
}

impl Pending {
    /// Expects `finals` (and `replies`) if `expect` says an answer comes.
    pub fn new(
        label: &str,
        expect: Expect,
        ack: bool,
        finals: Vec<Final>,
        replies: Replies,
        what: String,
    ) -> Pending {
        Pending {
            label: label.to_owned(),
            expect,
            ack,
            finals: Some(finals),
            bad_attr: None,
            replies,
            request: Vec::new(),
            want_extack: false,
            dump: Vec::new(),
            lost: false,
            n_finals: 0,
            n_replies: 0,
            done: expect != Expect::Must,
            answered: false,
            valid: false,
            starts_dump: false,
            what,
        }
    }

    /// A request refused with `errno`.
    pub fn error(label: &str, errno: i32, what: String) -> Pending {
        Pending::new(
            label,
            Expect::Must,
            false,
            vec![Final::Error(errno)],
            Replies::None,
            what,
        )
    }

    /// A message netlink does not hand to the family: only the ACK it asks for.
    pub fn control(label: &str, ack: bool, what: String) -> Pending {
        let expect = if ack { Expect::Must } else { Expect::Never };
        Pending::new(label, expect, ack, vec![Final::Ack], Replies::None, what)
    }

    /// Its number was also read from garbage: any answer, or none, is fair.
    pub fn anything_goes(&mut self) {
        self.expect = Expect::Maybe;
        self.done = true;
        self.finals = None;
        self.replies = Replies::Any;
        self.bad_attr = None;
    }

    /// An earlier dump of the same datagram may still be running on the socket: a dump request
    /// may find it busy (`netlink_dump_start()` checks before the policy does).
    pub fn may_find_dump_busy(&mut self) {
        if let (true, Some(finals)) = (self.starts_dump, &mut self.finals) {
            finals.push(Final::Error(libc::EBUSY));
        }
    }

    /// Answers were lost: what is missing is no violation.
    pub fn overrun(&mut self) {
        self.done = true;
        self.lost = true;
    }

    /// Judges one answer; returns the problems, and whether its content was checked.
    pub fn take(&mut self, m: &Msg, oracle: Option<&Oracle>, ext_ack: bool) -> (Vec<String>, bool) {
        let mut problems = Vec::new();
        let mut checked = false;
        self.answered = true;
        if self.expect == Expect::Never {
            problems.push(format!("{} answered, but must be ignored", self.what));
        }
        if m.is_final() {
            self.n_finals += 1;
            self.done = true;
            // A Maybe shares its number with garbage taken for a header: two answers are fair.
            if self.n_finals > 1 && self.expect != Expect::Maybe {
                problems.push(format!("{} answered twice", self.what));
            }
            let got = Final::of(m);
            if let Some(finals) = &self.finals {
                if finals.contains(&got) {
                    checked = true;
                } else {
                    problems.push(format!(
                        "{}: ended with {got:?}, expected one of {finals:?}",
                        self.what
                    ));
                }
            }
            let reply_due = matches!(self.replies, Replies::One(_) | Replies::Exact(_));
            if got == Final::Ack && reply_due && self.n_replies == 0 && self.expect == Expect::Must
            {
                problems.push(format!("{}: acked without its reply", self.what));
            }
            if let Final::Error(e) = got {
                problems.extend(self.check_extack(m, e, ext_ack));
            }
            if let (Replies::Dump(cmd), Some(o), Final::Done, false) =
                (&self.replies, oracle, got, self.lost)
            {
                if let Err(e) = o.semantics.check_dump(*cmd, &self.request, &self.dump) {
                    problems.push(format!("{}: {e}", self.what));
                }
            }
        } else {
            self.n_replies += 1;
            match (&self.replies, oracle) {
                (Replies::Any, _) => {}
                (Replies::Exact(want), _) => {
                    if m.ty != nl::NLMSG_MIN_TYPE || m.flags != 0 || &m.payload != want {
                        problems.push(format!(
                            "{}: reply {m:?} (expected payload {want:?})",
                            self.what
                        ));
                    }
                    checked = true;
                    if !self.ack {
                        self.done = true;
                    }
                }
                (Replies::One(cmd), Some(o)) => {
                    if self.n_replies > 1 || m.flags & F_MULTI != 0 {
                        problems.push(format!(
                            "{}: a second reply, or a dump message, to a do",
                            self.what
                        ));
                    }
                    if !self.ack {
                        self.done = true;
                    }
                    match o.check_sent(m, *cmd, Mode::Do) {
                        Ok(attrs) => match o.semantics.check_reply(*cmd, &self.request, &attrs) {
                            Ok(()) => checked = true,
                            Err(e) => problems.push(format!("{}: {e}", self.what)),
                        },
                        Err(e) => problems.push(format!("{}: {e}", self.what)),
                    }
                }
                (Replies::Dump(cmd), Some(o)) => {
                    if m.flags & F_MULTI == 0 {
                        problems.push(format!("{}: a dump message without NLM_F_MULTI", self.what));
                    }
                    match o.check_sent(m, *cmd, Mode::Dump) {
                        Ok(attrs) => self.dump.push(attrs),
                        Err(e) => problems.push(format!("{}: {e}", self.what)),
                    }
                }
                _ => problems.push(format!("{}: a reply where none was due: {m:?}", self.what)),
            }
        }
        (problems, checked)
    }

    /// An error's extack: the attribute a policy error names, a message where one is promised.
    fn check_extack(&self, m: &Msg, errno: i32, ext_ack: bool) -> Vec<String> {
        if !ext_ack || m.ty != nl::NLMSG_ERROR {
            return Vec::new();
        }
        let mut problems = Vec::new();
        if self.want_extack && m.extack().is_none() {
            problems.push(format!(
                "{}: error {errno} without extack message",
                self.what
            ));
        }
        if let Some((want, at)) = self.bad_attr {
            let named = m
                .ack_tlvs()
                .map(nl::attrs)
                .unwrap_or_default()
                .into_iter()
                .find(|(k, _)| *k == nl::NLMSGERR_ATTR_OFFS)
                .and_then(|(_, v)| nl::u32_at(v, 0));
            if errno == want && named != Some(at as u32) {
                problems.push(format!(
                    "{}: extack names the attribute at {named:?}, not the refused one at {at}",
                    self.what
                ));
            }
        }
        problems
    }
}

/// The spec, the family's meaning and the kernel's rules: everything a prediction needs.
pub struct Oracle {
    pub spec: Spec,
    pub semantics: Semantics,
    pub family: u16,
    pub rules: KernelRules,
}

impl Oracle {
    /// What `msg` (one message, as long as its `nlmsg_len` says) must get.
    pub fn predict(&self, msg: &[u8], what: String) -> Pending {
        let ty = u16::from_ne_bytes([msg[4], msg[5]]);
        let flags = u16::from_ne_bytes([msg[6], msg[7]]);
        let ack = flags & F_ACK != 0;
        if flags & F_REQUEST == 0 || ty < nl::NLMSG_MIN_TYPE {
            return Pending::control("control message", ack, what);
        }
        if ty == nl::GENL_ID_CTRL {
            let mut p = Pending::new("nlctrl", Expect::Must, ack, Vec::new(), Replies::Any, what);
            p.finals = None;
            return p;
        }
        if ty != self.family {
            return Pending::error("no such family", libc::ENOENT, what);
        }
        let payload = &msg[HDRLEN..];
        if payload.len() < GENL_HDRLEN {
            return Pending::error("short genl header", libc::EINVAL, what);
        }
        let cmd = payload[0];
        let reserved = u16::from_ne_bytes([payload[2], payload[3]]);
        let mode = if flags & F_DUMP == F_DUMP {
            Mode::Dump
        } else {
            Mode::Do
        };
        let op = self.spec.request_op(cmd, mode);
        let label = match op {
            Some(op) => format!("{} {}", op.name, mode.name()),
            None if self.spec.is_request_cmd(cmd) => {
                format!("cmd {cmd} {} (not in spec)", mode.name())
            }
            None => "commands not in spec".to_owned(),
        };
        let odd_flags = flags & !F_DUMP & !(F_REQUEST | F_ACK | F_ECHO) != 0
            || (flags & F_DUMP != 0 && flags & F_DUMP != F_DUMP);
        if self.rules.checks_requests && (reserved != 0 || odd_flags) {
            return Pending::error(&label, libc::EINVAL, what);
        }
        let Some(op) = op else {
            return Pending::error(&label, libc::EOPNOTSUPP, what);
        };
        let starts_dump = mode == Mode::Dump;
        let area = &payload[GENL_HDRLEN..];
        // 5.10 does not parse the attributes of an op without a policy, unless the module gives
        // it one that refuses them all, as 6.1 does: either is fair there.
        let mut refusal_or_not = None;
        let refusal = match self.spec.policy(op, mode) {
            Some(Some(policy)) => nla::validate(area, &policy).err(),
            Some(None) => None,
            None if self.rules.checks_requests => nla::reject_all(area).err(),
            None => {
                refusal_or_not = nla::reject_all(area).err();
                None
            }
        };
        if let Some(r) = refusal {
            let mut p = Pending::error(&label, r.errno, what);
            p.bad_attr = r.at.map(|at| (r.errno, ATTRS_AT + at));
            p.starts_dump = starts_dump;
            return p;
        }
        let request = nla::parsed(area);
        let mut p = match self.semantics.handler_refusal(cmd, mode, &request) {
            Some(errno) => Pending::error(&label, errno, what),
            None if mode == Mode::Dump => Pending::new(
                &label,
                Expect::Must,
                ack,
                vec![Final::Done],
                Replies::Dump(cmd),
                what,
            ),
            None => {
                let has_reply = op.modes[&Mode::Do].reply.is_some();
                // A do without a reply says nothing on success unless asked for an ACK.
                let expect = if has_reply || ack {
                    Expect::Must
                } else {
                    Expect::Never
                };
                let finals = if ack { vec![Final::Ack] } else { Vec::new() };
                let replies = if has_reply {
                    Replies::One(cmd)
                } else {
                    Replies::None
                };
                Pending::new(&label, expect, ack, finals, replies, what)
            }
        };
        if let Some(r) = refusal_or_not {
            if let Some(finals) = &mut p.finals {
                finals.push(Final::Error(r.errno));
            }
            if p.expect == Expect::Never {
                p.expect = Expect::Maybe;
            }
        }
        p.request = request;
        p.ack = ack;
        p.valid = true;
        p.starts_dump = starts_dump;
        p
    }

    /// A message the module sent for `cmd`'s `mode` (or its event): the family's, of that
    /// command, every attribute one the spec lists there and valid by its type and checks.
    pub fn check_sent(&self, m: &Msg, cmd: u8, mode: Mode) -> Result<Vec<(u16, Vec<u8>)>, String> {
        let list = self
            .spec
            .request_op(cmd, mode)
            .and_then(|op| op.modes[&mode].reply.clone());
        self.check_attrs(m, cmd, list.unwrap_or_default())
    }

    fn check_attrs(&self, m: &Msg, cmd: u8, list: Vec<u16>) -> Result<Vec<(u16, Vec<u8>)>, String> {
        if m.ty != self.family || m.payload.len() < GENL_HDRLEN || m.payload[0] != cmd {
            return Err(format!("not a message of command {cmd}: {m:?}"));
        }
        let attrs = nl::attrs_checked(&m.payload[GENL_HDRLEN..])?;
        for (kind, value) in &attrs {
            let attr = self
                .spec
                .attr(*kind)
                .ok_or(format!("attribute {kind} is not in the spec"))?;
            let padding = attr.kind == crate::spec::AttrType::Unused;
            if !padding && !list.contains(kind) {
                return Err(format!(
                    "attribute {} is not in the spec's list for command {cmd}",
                    attr.name
                ));
            }
            if !padding {
                nla::check_sent(&attr.kind, value).map_err(|e| {
                    format!(
                        "attribute {} fails its own policy ({}): {value:?}",
                        attr.name,
                        crate::counts::errno_name(e)
                    )
                })?;
            }
        }
        Ok(attrs.into_iter().map(|(k, v)| (k, v.to_vec())).collect())
    }

    /// An event of the family: multicast, of an event op, carrying what the spec says it does.
    pub fn check_event(&self, m: &Msg) -> Result<(), String> {
        if m.seq != 0 || m.pid != MULTICAST_PORT {
            return Err("event with a sequence number or a port id".into());
        }
        let cmd = m
            .payload
            .first()
            .copied()
            .ok_or("event without genl header")?;
        let op = self
            .spec
            .event_op(cmd)
            .ok_or(format!("event of command {cmd}, not an event"))?;
        let (list, _) = op.event.clone().unwrap_or_default();
        self.check_attrs(m, cmd, list).map(|_| ())
    }
}

/// The events of one datagram a monitor read.
pub fn events(datagram: &[u8]) -> Result<Vec<Msg>, String> {
    nl::parse(datagram, MULTICAST_PORT)
}

#[cfg(test)]
#[path = "oracle_tests.rs"]
mod tests;
