//! Crafted generic netlink requests over a real `AF_NETLINK` socket, byte by byte, so the suite
//! can send what no client would (wrong types, oversized strings, unknown commands) and do what
//! no client does (close a socket in the middle of a dump): the messages and how they render
//! ([`message`]), the socket and the family resolver ([`socket`]).

pub mod message;
pub mod socket;

/// The UAPI, generated from `userland/include/` by the codec crate.
pub use nl_codec::uapi;
/// `NLM_F_REQUEST`, `NLM_F_ACK`, `NLM_F_DUMP`, from the codec.
pub use nl_codec::{F_ACK as NLM_F_ACK, F_DUMP as NLM_F_DUMP, F_REQUEST as NLM_F_REQUEST};

pub use message::{render, strerror, Attr, Message};
pub use socket::{Family, GenlSocket};
