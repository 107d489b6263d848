/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR MIT) */
/*
 * The gnl_foobar_xmpl generic netlink family: the contract shared by the
 * kernel module (kmod/) and the C clients (userland/). The Rust client
 * mirrors it in userland/gnl-rust/src/uapi.rs.
 *
 * Compatible with the original example: family "gnl_foobar_xmpl", version 1,
 * command 1 echoes attribute 1 (doit) or dumps messages carrying it (dumpit),
 * command 2 is always answered with -EINVAL.
 */
#ifndef _UAPI_GNL_FOOBAR_XMPL_H
#define _UAPI_GNL_FOOBAR_XMPL_H

#define GNL_FOOBAR_XMPL_FAMILY_NAME	"gnl_foobar_xmpl"
#define GNL_FOOBAR_XMPL_FAMILY_VERSION	1

/* Multicast group: one event per echo and per configuration change. */
#define GNL_FOOBAR_XMPL_MCGRP_EVENTS	"events"

/* Longest A_MSG string accepted, in bytes, not counting the NUL. */
#define GNL_FOOBAR_XMPL_MSG_MAX_LEN	255

/* Bounds of A_COUNT, the number of messages a dump delivers. */
#define GNL_FOOBAR_XMPL_DUMP_COUNT_MIN		1
#define GNL_FOOBAR_XMPL_DUMP_COUNT_MAX		100000
#define GNL_FOOBAR_XMPL_DUMP_COUNT_DEFAULT	3

enum {
	GNL_FOOBAR_XMPL_A_UNSPEC,
	GNL_FOOBAR_XMPL_A_MSG,		/* NUL-terminated string */
	GNL_FOOBAR_XMPL_A_COUNT,	/* u32: dump length, or the new default */
	GNL_FOOBAR_XMPL_A_INDEX,	/* u32: position of a dump message, from 0 */
	GNL_FOOBAR_XMPL_A_STAT_NAME,	/* NUL-terminated string */
	GNL_FOOBAR_XMPL_A_STAT_VALUE,	/* u64 */
	GNL_FOOBAR_XMPL_A_PAD,		/* alignment padding for u64 values */

	__GNL_FOOBAR_XMPL_A_MAX,
	GNL_FOOBAR_XMPL_A_MAX = __GNL_FOOBAR_XMPL_A_MAX - 1
};

enum {
	GNL_FOOBAR_XMPL_CMD_UNSPEC,
	/*
	 * doit: A_MSG required; the reply (and an event) carries the same A_MSG.
	 * dumpit: A_COUNT optional (default: the configured dump count); each
	 * message carries A_INDEX and A_MSG "message <index+1> of <count>".
	 */
	GNL_FOOBAR_XMPL_CMD_ECHO,
	/* Always answered with NLMSG_ERROR -EINVAL and an extack message. */
	GNL_FOOBAR_XMPL_CMD_REPLY_WITH_NLMSG_ERR,
	/*
	 * Admin only (CAP_NET_ADMIN over the caller's network namespace, so
	 * root in a container that owns its namespace qualifies): A_COUNT
	 * required, sets the default dump count of that namespace; acked, and
	 * an event carries the new A_COUNT.
	 */
	GNL_FOOBAR_XMPL_CMD_SET_DUMP_COUNT,
	/*
	 * Per-namespace counters. doit: one reply carrying, in order, an
	 * A_STAT_NAME / A_STAT_VALUE pair per counter. dumpit: one message per
	 * counter carrying its A_STAT_NAME and A_STAT_VALUE. The counters, in
	 * this order: "echo" (echo requests answered), "dump" (echo dumps
	 * started), "dump-messages" (echo dump messages sent), "error"
	 * (REPLY_WITH_NLMSG_ERR requests), "set-dump-count" (updates applied).
	 */
	GNL_FOOBAR_XMPL_CMD_GET_STATS,

	__GNL_FOOBAR_XMPL_CMD_MAX,
	GNL_FOOBAR_XMPL_CMD_MAX = __GNL_FOOBAR_XMPL_CMD_MAX - 1
};

#endif /* _UAPI_GNL_FOOBAR_XMPL_H */
