//! The nl_foobar_xmpl contract and the netlink constants, from the lab's codec crate (which
//! generates the contract from `userland/include/nl_foobar_xmpl.h`), under the C names.

pub use nl_codec::uapi::{NETLINK_FOOBAR_XMPL, NL_FOOBAR_XMPL_MSG_ECHO, NL_FOOBAR_XMPL_NAME};
pub use nl_codec::{
    F_ACK as NLM_F_ACK, F_ACK_TLVS as NLM_F_ACK_TLVS, F_REQUEST as NLM_F_REQUEST, NETLINK_CAP_ACK,
    NETLINK_EXT_ACK, NLMSGERR_ATTR_MSG, NLMSG_ERROR,
};

/// Longest ECHO string accepted, in bytes, not counting the NUL.
pub const NL_FOOBAR_XMPL_MSG_MAX_LEN: usize = nl_codec::uapi::NL_FOOBAR_XMPL_MSG_MAX_LEN as usize;
