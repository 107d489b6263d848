//! What no spec can state about gnl_foobar_xmpl, kept apart from the spec-derived oracle: which
//! attributes a handler requires, the op that always fails, that an echo returns the same string,
//! how long an echo dump is and what its messages say, and the counters' names. Each check names
//! its operations and attributes by their spec names; a spec without them fails at start.

use crate::spec::{Mode, Spec};

/// The counters get-stats reports, in order (its doc in the spec says so, in prose).
const STAT_NAMES: [&str; 5] = ["echo", "dump", "dump-messages", "error", "set-dump-count"];

/// Attribute lists as the kernel parsed them: type, payload.
pub type Attrs = [(u16, Vec<u8>)];

/// The family's meaning, with the numbers the spec gives its names.
#[derive(Clone, Debug)]
pub struct Semantics {
    echo: u8,
    always_fails: u8,
    set_dump_count: u8,
    get_stats: u8,
    msg: u16,
    count: u16,
    index: u16,
    stat_name: u16,
    stat_value: u16,
}

/// The last value of an attribute (the kernel keeps the last of a repeated one).
fn last(attrs: &Attrs, kind: u16) -> Option<&[u8]> {
    attrs
        .iter()
        .rev()
        .find(|(k, _)| *k == kind)
        .map(|(_, v)| v.as_slice())
}

/// A string attribute's text up to its first NUL, and the NUL.
pub fn echoed(v: &[u8]) -> Vec<u8> {
    let end = v.iter().position(|&c| c == 0).unwrap_or(v.len());
    let mut s = v[..end].to_vec();
    s.push(0);
    s
}

impl Semantics {
    /// Looks up the names the checks use.
    pub fn new(spec: &Spec) -> Result<Semantics, String> {
        Ok(Semantics {
            echo: spec.op_named("echo")?.value,
            always_fails: spec.op_named("reply-with-nlmsg-err")?.value,
            set_dump_count: spec.op_named("set-dump-count")?.value,
            get_stats: spec.op_named("get-stats")?.value,
            msg: spec.attr_named("msg")?.value,
            count: spec.attr_named("count")?.value,
            index: spec.attr_named("index")?.value,
            stat_name: spec.attr_named("stat-name")?.value,
            stat_value: spec.attr_named("stat-value")?.value,
        })
    }

    /// The errno a handler answers a request the policy accepted with, if it refuses it: echo
    /// needs msg, set-dump-count needs count, reply-with-nlmsg-err always fails.
    pub fn handler_refusal(&self, cmd: u8, mode: Mode, attrs: &Attrs) -> Option<i32> {
        let missing = |kind| last(attrs, kind).is_none();
        let refused = match (mode, cmd) {
            (Mode::Do, c) if c == self.echo => missing(self.msg),
            (Mode::Do, c) if c == self.set_dump_count => missing(self.count),
            (Mode::Do, c) if c == self.always_fails => true,
            _ => false,
        };
        refused.then_some(libc::EINVAL)
    }

    /// A do's reply: an echo carries the request's msg, get-stats every counter in order.
    pub fn check_reply(&self, cmd: u8, request: &Attrs, reply: &Attrs) -> Result<(), String> {
        if cmd == self.echo {
            let want = last(request, self.msg).map(echoed);
            let got = last(reply, self.msg);
            if got != want.as_deref() {
                return Err(format!("echo reply {got:?} (expected {want:?})"));
            }
        } else if cmd == self.get_stats {
            let names: Vec<String> = reply
                .iter()
                .filter(|(k, _)| *k == self.stat_name)
                .map(|(_, v)| crate::nl::cstr(v))
                .collect();
            let values = reply.iter().filter(|(k, _)| *k == self.stat_value).count();
            if names != STAT_NAMES || values != STAT_NAMES.len() {
                return Err(format!("stats named {names:?} with {values} values"));
            }
        }
        Ok(())
    }

    /// A dump's messages: an echo dump has count messages (the namespace's default without one),
    /// message i saying "message i+1 of N"; a stats dump one message per counter.
    pub fn check_dump(
        &self,
        cmd: u8,
        request: &Attrs,
        msgs: &[Vec<(u16, Vec<u8>)>],
    ) -> Result<(), String> {
        if cmd == self.echo {
            let asked = last(request, self.count).map(|v| crate::nl::u32_at(v, 0).unwrap_or(0));
            let total = asked.map_or(msgs.len(), |c| c as usize);
            if msgs.len() != total {
                return Err(format!(
                    "an echo dump of {} messages (asked {total})",
                    msgs.len()
                ));
            }
            for (i, m) in msgs.iter().enumerate() {
                let index = last(m, self.index).and_then(|v| crate::nl::u32_at(v, 0));
                let text = last(m, self.msg).map(crate::nl::cstr);
                let want = format!("message {} of {total}", i + 1);
                if index != Some(i as u32) || text.as_deref() != Some(&want) {
                    return Err(format!(
                        "dump message {i}: index {index:?}, {text:?} (expected {want:?})"
                    ));
                }
            }
        } else if cmd == self.get_stats {
            let names: Vec<String> = msgs
                .iter()
                .map(|m| {
                    last(m, self.stat_name)
                        .map(crate::nl::cstr)
                        .unwrap_or_default()
                })
                .collect();
            if names != STAT_NAMES {
                return Err(format!("a stats dump of {names:?}"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_echo_dump_says_which_message_of_how_many() {
        let spec = Spec::builtin().unwrap();
        let s = Semantics::new(&spec).unwrap();
        let msg = |i: u32, n| {
            vec![
                (s.index, i.to_ne_bytes().to_vec()),
                (s.msg, format!("message {} of {n}\0", i + 1).into_bytes()),
            ]
        };
        let request = [(s.count, 2u32.to_ne_bytes().to_vec())];
        assert_eq!(
            s.check_dump(s.echo, &request, &[msg(0, 2), msg(1, 2)]),
            Ok(())
        );
        assert!(s.check_dump(s.echo, &request, &[msg(0, 2)]).is_err());
        // Without count: the namespace's default, whatever it is, consistently.
        assert_eq!(s.check_dump(s.echo, &[], &[msg(0, 1)]), Ok(()));
        assert!(s.check_dump(s.echo, &[], &[msg(0, 3)]).is_err());
    }

    #[test]
    fn handlers_refuse_what_they_require() {
        let spec = Spec::builtin().unwrap();
        let s = Semantics::new(&spec).unwrap();
        assert_eq!(s.handler_refusal(s.echo, Mode::Do, &[]), Some(libc::EINVAL));
        assert_eq!(s.handler_refusal(s.echo, Mode::Dump, &[]), None);
        assert_eq!(
            s.handler_refusal(s.always_fails, Mode::Do, &[(s.msg, b"x\0".to_vec())]),
            Some(libc::EINVAL)
        );
        assert_eq!(
            s.handler_refusal(
                s.set_dump_count,
                Mode::Do,
                &[(s.count, 5u32.to_ne_bytes().to_vec())]
            ),
            None
        );
    }
}
