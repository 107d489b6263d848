//! The kernel's attribute validation (`__nla_validate_parse()` and `validate_nla()` in
//! `lib/nlattr.c`) as a model: what a policy does to the attributes of a request, down to the
//! errno and the attribute extack names. The fuzzer's oracle predicts with it, and the replies and
//! events the module sends are held to the same rules.

use crate::nl::{align4, NLA_HDRLEN};
use crate::spec::{AttrType, Policy};

/// `NLA_F_NESTED`.
pub const NLA_F_NESTED: u16 = 0x8000;
/// `NLA_F_NET_BYTEORDER`.
pub const NLA_F_NET_BYTEORDER: u16 = 0x4000;
const NLA_TYPE_MASK: u16 = !(NLA_F_NESTED | NLA_F_NET_BYTEORDER);

/// Why the kernel refuses the attributes: the errno, and the offset (in the attribute area) of
/// the attribute extack names, when it names one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub errno: i32,
    pub at: Option<usize>,
}

fn refuse(errno: i32, at: usize) -> Refusal {
    Refusal {
        errno,
        at: Some(at),
    }
}

/// An attribute as the kernel walks it: its offset, raw type (flags included) and payload.
pub type Walked<'a> = (usize, u16, &'a [u8]);

/// The attributes of one message, as the kernel walks them (`nla_for_each_attr`): offset, raw
/// type (flags included) and payload; stops where the next header does not fit. Also returns
/// what is left over (negative when the last attribute's padding ran past the end).
pub fn walk(area: &[u8]) -> (Vec<Walked<'_>>, isize) {
    let mut out = Vec::new();
    let mut pos = 0usize;
    let mut rem = area.len() as isize;
    while rem >= NLA_HDRLEN as isize {
        let len = u16::from_ne_bytes([area[pos], area[pos + 1]]) as usize;
        let raw = u16::from_ne_bytes([area[pos + 2], area[pos + 3]]);
        if len < NLA_HDRLEN || len as isize > rem {
            break;
        }
        out.push((pos, raw, &area[pos + NLA_HDRLEN..pos + len]));
        pos += align4(len);
        rem -= align4(len) as isize;
    }
    (out, rem)
}

/// `validate_nla()` of one attribute whose type the policy covers.
fn validate_one(kind: Option<&AttrType>, raw: u16, data: &[u8], strict: bool) -> Result<(), i32> {
    let Some(kind) = kind else {
        // NLA_UNSPEC: a number up to maxattr the policy leaves out.
        return if strict { Err(libc::EINVAL) } else { Ok(()) };
    };
    let len = data.len();
    if let AttrType::Int { bytes, .. } = kind {
        if len != *bytes && strict {
            return Err(libc::EINVAL);
        }
    }
    if strict && raw & NLA_F_NESTED != 0 {
        return Err(libc::EINVAL);
    }
    match kind {
        AttrType::Unused => {}
        AttrType::Flag if len > 0 => return Err(libc::ERANGE),
        AttrType::Flag => {}
        AttrType::String {
            max_len,
            unterminated_ok,
        } => {
            if !unterminated_ok {
                let window = max_len.map_or(len, |m| len.min(m + 1));
                if window == 0 || !data[..window].contains(&0) {
                    return Err(libc::EINVAL);
                }
            }
            if len < 1 {
                return Err(libc::ERANGE);
            }
            if let Some(max) = max_len {
                let text = if data[len - 1] == 0 { len - 1 } else { len };
                if text > *max {
                    return Err(libc::ERANGE);
                }
            }
        }
        AttrType::Binary { min_len, max_len } => {
            if max_len.is_some_and(|m| len > m) || min_len.is_some_and(|m| len < m) {
                return Err(libc::ERANGE);
            }
        }
        AttrType::Int {
            bytes,
            signed,
            min,
            max,
        } => {
            if len < *bytes {
                return Err(libc::ERANGE);
            }
            let value = int_value(&data[..*bytes], *signed);
            if min.is_some_and(|m| value < m) || max.is_some_and(|m| value > m) {
                return Err(libc::ERANGE);
            }
        }
    }
    Ok(())
}

/// A native-endian integer of 1, 2, 4 or 8 bytes.
pub fn int_value(b: &[u8], signed: bool) -> i128 {
    let mut wide = [0u8; 8];
    wide[..b.len()].copy_from_slice(b);
    let unsigned = u64::from_ne_bytes(wide);
    let bits = 8 * b.len() as u32;
    if signed && bits < u64::BITS {
        let shift = u64::BITS - bits;
        i128::from(((unsigned << shift) as i64) >> shift)
    } else if signed {
        i128::from(unsigned as i64)
    } else {
        i128::from(unsigned)
    }
}

/// What `__nla_validate_parse()` does to an attribute area under `policy`.
pub fn validate(area: &[u8], policy: &Policy) -> Result<(), Refusal> {
    let (attrs, rem) = walk(area);
    for (at, raw, data) in attrs {
        let kind = raw & NLA_TYPE_MASK;
        if kind == 0 || kind > policy.maxattr {
            if policy.strict {
                return Err(refuse(libc::EINVAL, at));
            }
            continue;
        }
        validate_one(policy.entries.get(&kind), raw, data, policy.strict)
            .map_err(|errno| refuse(errno, at))?;
    }
    if rem > 0 && policy.strict {
        // "bytes leftover after parsing attributes": no attribute named.
        return Err(Refusal {
            errno: libc::EINVAL,
            at: None,
        });
    }
    Ok(())
}

/// The policy 6.1 and later give an op without one (`genl_policy_reject_all`): every attribute
/// is refused.
pub fn reject_all(area: &[u8]) -> Result<(), Refusal> {
    let (attrs, rem) = walk(area);
    match attrs.first() {
        Some((at, _, _)) => Err(refuse(libc::EINVAL, *at)),
        None if rem > 0 => Err(Refusal {
            errno: libc::EINVAL,
            at: None,
        }),
        None => Ok(()),
    }
}

/// The attributes the handler sees (`tb[]`): the valid ones by type, the last of a repeated one.
pub fn parsed(area: &[u8]) -> Vec<(u16, Vec<u8>)> {
    walk(area)
        .0
        .into_iter()
        .map(|(_, raw, data)| (raw & NLA_TYPE_MASK, data.to_vec()))
        .collect()
}

/// Checks an attribute the kernel sent (a reply or an event) against its type and checks.
pub fn check_sent(kind: &AttrType, data: &[u8]) -> Result<(), i32> {
    validate_one(Some(kind), 0, data, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nl::attr;
    use std::collections::BTreeMap;

    fn echo_policy() -> Policy {
        Policy {
            maxattr: 2,
            entries: BTreeMap::from([
                (
                    1,
                    AttrType::String {
                        max_len: Some(255),
                        unterminated_ok: false,
                    },
                ),
                (
                    2,
                    AttrType::Int {
                        bytes: 4,
                        signed: false,
                        min: Some(1),
                        max: Some(100_000),
                    },
                ),
            ]),
            strict: true,
        }
    }

    #[test]
    fn a_value_out_of_range_is_erange_naming_the_attribute() {
        let p = echo_policy();
        let area = [attr(1, b"hi\0"), attr(2, &0u32.to_ne_bytes())].concat();
        assert_eq!(validate(&area, &p), Err(refuse(libc::ERANGE, 8)));
        let area = attr(2, &100_001u32.to_ne_bytes());
        assert_eq!(validate(&area, &p), Err(refuse(libc::ERANGE, 0)));
        for ok in [1u32, 100_000] {
            assert_eq!(validate(&attr(2, &ok.to_ne_bytes()), &p), Ok(()));
        }
    }

    #[test]
    fn strings_at_their_limits() {
        let p = echo_policy();
        let mut s = vec![b'a'; 255];
        s.push(0);
        assert_eq!(validate(&attr(1, &s), &p), Ok(()));
        // One past the limit: the NUL is beyond the window NLA_NUL_STRING looks in.
        s.insert(0, b'a');
        assert_eq!(validate(&attr(1, &s), &p), Err(refuse(libc::EINVAL, 0)));
        // A NUL in the window but more after it: too long.
        s[255] = 0;
        assert_eq!(validate(&attr(1, &s), &p), Err(refuse(libc::ERANGE, 0)));
        assert_eq!(validate(&attr(1, b""), &p), Err(refuse(libc::EINVAL, 0)));
        assert_eq!(validate(&attr(1, b"abc"), &p), Err(refuse(libc::EINVAL, 0)));
        // A NUL inside is enough for NLA_NUL_STRING.
        assert_eq!(validate(&attr(1, b"a\0bc"), &p), Ok(()));
    }

    #[test]
    fn strict_refuses_what_the_policy_does_not_list_and_leftovers() {
        let mut p = echo_policy();
        assert_eq!(
            validate(&attr(3, &[0; 4]), &p),
            Err(refuse(libc::EINVAL, 0))
        );
        assert_eq!(validate(&attr(0, &[]), &p), Err(refuse(libc::EINVAL, 0)));
        assert_eq!(
            validate(&attr(2, &[1, 0]), &p),
            Err(refuse(libc::EINVAL, 0))
        );
        let leftover = [attr(1, b"x\0"), vec![1, 2]].concat();
        assert_eq!(
            validate(&leftover, &p),
            Err(Refusal {
                errno: libc::EINVAL,
                at: None
            })
        );
        p.strict = false;
        assert_eq!(validate(&attr(3, &[0; 4]), &p), Ok(()));
        assert_eq!(validate(&leftover, &p), Ok(()));
        assert_eq!(
            validate(&attr(2, &[1, 0]), &p),
            Err(refuse(libc::ERANGE, 0))
        );
    }

    #[test]
    fn an_op_without_policy_refuses_every_attribute_from_6_1() {
        assert_eq!(reject_all(&[]), Ok(()));
        assert_eq!(reject_all(&attr(9, b"x")), Err(refuse(libc::EINVAL, 0)));
    }
}
