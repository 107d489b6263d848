//! The nl_foobar_xmpl contract, mirrored from `userland/include/nl_foobar_xmpl.h`, and the few
//! netlink UAPI constants the `libc` crate does not export on every target.

/// Netlink protocol number of the module, the third argument of `socket(2)`.
pub const NETLINK_FOOBAR_XMPL: i32 = 28;
/// Name of the protocol and of its module.
pub const NL_FOOBAR_XMPL_NAME: &str = "nl_foobar_xmpl";
/// Longest ECHO string accepted, in bytes, not counting the NUL.
pub const NL_FOOBAR_XMPL_MSG_MAX_LEN: usize = 255;
/// Message type of an echo request and of its reply (`NLMSG_MIN_TYPE`).
pub const NL_FOOBAR_XMPL_MSG_ECHO: u16 = 0x10;

/// `struct nlmsghdr` size, aligned.
pub const NLMSG_HDRLEN: usize = 16;
/// `struct nlattr` header size, aligned.
pub const NLA_HDRLEN: usize = 4;
/// `struct nlmsgerr`: the error and a copy of the request's header.
pub const NLMSGERR_LEN: usize = 4 + NLMSG_HDRLEN;
/// Message type of errors and acknowledgements.
pub const NLMSG_ERROR: u16 = 2;
/// `nlmsg_flags` of requests.
pub const NLM_F_REQUEST: u16 = 0x1;
/// `nlmsg_flags`: ask for an acknowledgement.
pub const NLM_F_ACK: u16 = 0x4;
/// `nlmsg_flags` of an `NLMSG_ERROR`: the request's payload is not copied.
pub const NLM_F_CAPPED: u16 = 0x100;
/// `nlmsg_flags` of an `NLMSG_ERROR`: extended ack attributes follow.
pub const NLM_F_ACK_TLVS: u16 = 0x200;
/// Extended ack attribute: the error message string.
pub const NLMSGERR_ATTR_MSG: u16 = 1;
/// `nla_type` bits that are the type (not the nested and byte order flags).
pub const NLA_TYPE_MASK: u16 = !(0x8000 | 0x4000);
/// Socket option level of netlink.
pub const SOL_NETLINK: i32 = 270;
/// Socket option: only the request's header is copied into errors.
pub const NETLINK_CAP_ACK: i32 = 10;
/// Socket option: extended acks (error messages).
pub const NETLINK_EXT_ACK: i32 = 11;

/// `NLMSG_ALIGN`: netlink messages and attributes are 4-byte aligned.
pub const fn align(len: usize) -> usize {
    (len + 3) & !3
}
