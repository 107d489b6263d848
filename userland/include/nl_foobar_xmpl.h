/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR MIT) */
/*
 * The nl_foobar_xmpl classic netlink protocol: the contract shared by the
 * kernel module (kmod/nl_foobar_xmpl.c) and the C client (userland/nl-raw).
 * The Rust client (userland/nl-rust) mirrors it in src/uapi.rs.
 *
 * The module owns its own netlink protocol number in the initial network
 * namespace. A request is one netlink message of type NL_FOOBAR_XMPL_MSG_ECHO
 * whose payload is a NUL-terminated string; the reply, unicast to the
 * sender's port, has the same type, the same nlmsg_seq and the same payload.
 * Errors come back as NLMSG_ERROR with a negative errno and, if the socket
 * enabled NETLINK_EXT_ACK, an extack message. As for every kernel reply, the
 * source address has nl_pid 0 and the header's nlmsg_pid is the port the
 * reply is sent to (the requester's), as netlink_ack() does.
 */
#ifndef _UAPI_NL_FOOBAR_XMPL_H
#define _UAPI_NL_FOOBAR_XMPL_H

#include <linux/netlink.h>

/*
 * Protocol number, the third argument of socket(AF_NETLINK, SOCK_RAW, ...).
 * Free (and below MAX_LINKS, 32) in the UAPI netlink.h of every kernel the lab
 * tests, 5.10 to 6.12, where 0-22 are taken. Not 17 (kept free for NETLINK_DM),
 * not 23 (the next one mainline would assign), not 30 or 31 (used by former
 * staging drivers and by most netlink tutorials, so the likeliest to clash
 * with another out-of-tree module on a developer's machine).
 */
#define NETLINK_FOOBAR_XMPL	28

#define NL_FOOBAR_XMPL_NAME	"nl_foobar_xmpl"

/* Longest ECHO string accepted, in bytes, not counting the NUL. */
#define NL_FOOBAR_XMPL_MSG_MAX_LEN	255

/* Message types; below NLMSG_MIN_TYPE the numbers belong to netlink itself. */
enum nl_foobar_xmpl_msg_type {
	/*
	 * Payload: a string and its NUL, exactly (nlmsg_len counts no padding
	 * and no second NUL), at most NL_FOOBAR_XMPL_MSG_MAX_LEN + 1 bytes.
	 * Errors: -EINVAL (no payload, no NUL at the end, a NUL before it),
	 * -EMSGSIZE (too long).
	 */
	NL_FOOBAR_XMPL_MSG_ECHO = NLMSG_MIN_TYPE,

	__NL_FOOBAR_XMPL_MSG_MAX,
	NL_FOOBAR_XMPL_MSG_MAX = __NL_FOOBAR_XMPL_MSG_MAX - 1
};

/*
 * Other errors: a message type above NL_FOOBAR_XMPL_MSG_MAX gets -EOPNOTSUPP.
 * A datagram whose framing is broken (fewer bytes than a header, nlmsg_len
 * shorter than a header or longer than the bytes received) gets -EINVAL; the
 * header echoed in that NLMSG_ERROR is the one received (zero-filled where
 * bytes are missing) with nlmsg_len set to the header's size. Messages
 * without NLM_F_REQUEST, and netlink's own types (below NLMSG_MIN_TYPE), are
 * ignored, but acked when they ask for NLM_F_ACK.
 */

#endif /* _UAPI_NL_FOOBAR_XMPL_H */
