//! The gnl_foobar_xmpl UAPI contract (`userland/include/gnl_foobar_xmpl.h`) mirrored for neli.

use neli::neli_enum;

/// Name of the generic netlink family (`GNL_FOOBAR_XMPL_FAMILY_NAME`).
pub const FAMILY_NAME: &str = "gnl_foobar_xmpl";

/// Version of the family, sent in every genl header (`GNL_FOOBAR_XMPL_FAMILY_VERSION`).
pub const FAMILY_VERSION: u8 = 1;

/// Name of the multicast group carrying events (`GNL_FOOBAR_XMPL_MCGRP_EVENTS`).
pub const MCGRP_EVENTS: &str = "events";

/// Longest `A_MSG` string accepted, in bytes, not counting the NUL (`GNL_FOOBAR_XMPL_MSG_MAX_LEN`).
pub const MSG_MAX_LEN: usize = 255;

/// Smallest `A_COUNT` accepted (`GNL_FOOBAR_XMPL_DUMP_COUNT_MIN`).
pub const DUMP_COUNT_MIN: u32 = 1;

/// Largest `A_COUNT` accepted (`GNL_FOOBAR_XMPL_DUMP_COUNT_MAX`).
pub const DUMP_COUNT_MAX: u32 = 100_000;

/// Number of messages a dump delivers until `CMD_SET_DUMP_COUNT` changes it
/// (`GNL_FOOBAR_XMPL_DUMP_COUNT_DEFAULT`).
pub const DUMP_COUNT_DEFAULT: u32 = 3;

/// Commands of the family (`GNL_FOOBAR_XMPL_CMD_*`), the `cmd` field of the genl header.
#[neli_enum(serialized_type = "u8")]
pub enum Cmd {
    /// `GNL_FOOBAR_XMPL_CMD_UNSPEC`: never sent.
    Unspec = 0,
    /// `GNL_FOOBAR_XMPL_CMD_ECHO`: doit echoes `A_MSG`; dumpit delivers `A_COUNT` messages.
    Echo = 1,
    /// `GNL_FOOBAR_XMPL_CMD_REPLY_WITH_NLMSG_ERR`: always answered with `-EINVAL`.
    ReplyWithNlmsgErr = 2,
    /// `GNL_FOOBAR_XMPL_CMD_SET_DUMP_COUNT`: admin only, sets the default dump count.
    SetDumpCount = 3,
    /// `GNL_FOOBAR_XMPL_CMD_GET_STATS`: per-namespace counters.
    GetStats = 4,
}

impl neli::consts::genl::Cmd for Cmd {}

/// Attributes of the family (`GNL_FOOBAR_XMPL_A_*`).
#[neli_enum(serialized_type = "u16")]
pub enum Attr {
    /// `GNL_FOOBAR_XMPL_A_UNSPEC`: never sent.
    Unspec = 0,
    /// `GNL_FOOBAR_XMPL_A_MSG`: NUL-terminated string.
    Msg = 1,
    /// `GNL_FOOBAR_XMPL_A_COUNT`: u32, a dump length or the new default.
    Count = 2,
    /// `GNL_FOOBAR_XMPL_A_INDEX`: u32, position of a dump message, from 0.
    Index = 3,
    /// `GNL_FOOBAR_XMPL_A_STAT_NAME`: NUL-terminated string.
    StatName = 4,
    /// `GNL_FOOBAR_XMPL_A_STAT_VALUE`: u64.
    StatValue = 5,
    /// `GNL_FOOBAR_XMPL_A_PAD`: alignment padding for u64 values, ignored.
    Pad = 6,
}

impl neli::consts::genl::NlAttrType for Attr {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_the_header() {
        assert_eq!(u8::from(Cmd::Echo), 1);
        assert_eq!(u8::from(Cmd::ReplyWithNlmsgErr), 2);
        assert_eq!(u8::from(Cmd::SetDumpCount), 3);
        assert_eq!(u8::from(Cmd::GetStats), 4);
        assert_eq!(u16::from(Attr::Msg), 1);
        assert_eq!(u16::from(Attr::Count), 2);
        assert_eq!(u16::from(Attr::Index), 3);
        assert_eq!(u16::from(Attr::StatName), 4);
        assert_eq!(u16::from(Attr::StatValue), 5);
        assert_eq!(u16::from(Attr::Pad), 6);
        assert_eq!(Cmd::from(7u8), Cmd::UnrecognizedConst(7));
    }
}
