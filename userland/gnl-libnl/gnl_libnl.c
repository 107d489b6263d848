// SPDX-License-Identifier: MIT
/*
 * gnl-libnl: a client of the gnl_foobar_xmpl generic netlink family written
 * with libnl-3 and libnl-genl-3, the way most C programs talk netlink. The
 * command line and every output line are specified in
 * userland/INTERFACE.md and shared with gnl-raw and gnl-rust.
 *
 * libnl does the socket, the message building, the reading loop and,
 * given the policy below, the attribute checks; the callbacks add what
 * libnl leaves to its users (port id, sender, message type, command,
 * required attributes, dump order).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>

#include "gnl_cli.h"
#include "gnl_foobar_xmpl.h"
#include "request.h"

/*
 * libnl peeks (MSG_PEEK | MSG_TRUNC) and grows its buffer to fit each
 * datagram, so nothing is ever cut; starting at 32 KiB, the largest dump
 * datagram the kernel builds, it rarely has to.
 */
#define RX_BUF_SIZE	32768

const char *const prog = "gnl-libnl";
const char *const client_via = "libnl";

/* ---- the socket and the family ---- */

static int set_opt(struct nl_sock *sk, int opt)
{
	int one = 1;

	if (setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, opt, &one,
		       sizeof(one)) < 0)
		return sys_error("setsockopt");
	return EXIT_OK;
}

static int open_socket(struct client *c)
{
	int ret;

	c->sk = nl_socket_alloc();
	if (!c->sk) {
		errno = ENOMEM;
		return sys_error("socket");
	}
	errno = 0;
	/* socket() and bind(); the kernel picks our port id. */
	if (genl_connect(c->sk) < 0)
		return sys_error("socket");
	/* Errors then carry the kernel's explanation, without our request. */
	ret = set_opt(c->sk, NETLINK_EXT_ACK);
	if (!ret)
		ret = set_opt(c->sk, NETLINK_CAP_ACK);
	if (ret)
		return ret;
	nl_socket_set_msg_buf_size(c->sk, RX_BUF_SIZE);
	nl_socket_enable_msg_peek(c->sk);
	return EXIT_OK;
}

/* libnl asks nlctrl (CTRL_CMD_GETFAMILY) and parses the answer for us. */
static int resolve_family(struct client *c)
{
	c->family = genl_ctrl_resolve(c->sk, GNL_FOOBAR_XMPL_FAMILY_NAME);
	if (c->family == -NLE_OBJ_NOTFOUND)
		return family_not_found();
	if (c->family < 0) {
		fprintf(stderr, "error: resolving %s: %s\n",
			GNL_FOOBAR_XMPL_FAMILY_NAME, nl_geterror(c->family));
		return EXIT_KERNEL;
	}
	return EXIT_OK;
}

/* ---- the subcommands ---- */

static int on_echo(struct nlmsghdr *nlh, void *arg)
{
	struct nlattr *tb[GNL_FOOBAR_XMPL_A_MAX + 1];
	const bool *print = arg;
	int ret;

	ret = parse_reply(nlh, tb);
	if (!ret)
		ret = require(tb, GNL_FOOBAR_XMPL_A_MSG);
	if (ret)
		return ret;
	if (*print)
		print_received(nla_get_string(tb[GNL_FOOBAR_XMPL_A_MSG]));
	return EXIT_OK;
}

/* Prints "sent:" and "received:" when @print (bench runs are silent). */
int client_echo(struct client *c, const char *text, bool print)
{
	struct request req = {
		.wait = WAIT_REPLY,
		.cmd = GNL_FOOBAR_XMPL_CMD_ECHO,
		.fn = on_echo,
		.arg = &print,
		.sent = print ? text : NULL,
	};
	struct nl_msg *msg;
	int ret;

	msg = new_request(c, 0, GNL_FOOBAR_XMPL_CMD_ECHO);
	if (!msg)
		return EXIT_KERNEL;
	ret = EXIT_KERNEL;
	if (nla_put_string(msg, GNL_FOOBAR_XMPL_A_MSG, text) < 0) {
		ret = out_of_memory();
		goto out;
	}
	ret = run_request(c, msg, &req);
out:
	nlmsg_free(msg);
	return ret;
}

/* Where a dump is: the next index expected, and whether to print. */
struct dump_state {
	__u32 next;
	bool print;
};

static int on_dump(struct nlmsghdr *nlh, void *arg)
{
	struct nlattr *tb[GNL_FOOBAR_XMPL_A_MAX + 1];
	struct dump_state *st = arg;
	__u32 index;
	int ret;

	ret = parse_reply(nlh, tb);
	if (!ret)
		ret = require(tb, GNL_FOOBAR_XMPL_A_INDEX);
	if (!ret)
		ret = require(tb, GNL_FOOBAR_XMPL_A_MSG);
	if (ret)
		return ret;
	index = nla_get_u32(tb[GNL_FOOBAR_XMPL_A_INDEX]);
	if (index != st->next)
		return proto_error("dump index %u (expected %u)", index, st->next);
	if (st->print)
		print_dump_message(index, nla_get_string(tb[GNL_FOOBAR_XMPL_A_MSG]));
	st->next++;
	return EXIT_OK;
}

int client_dump(struct client *c, __u32 count, bool print)
{
	struct dump_state st = { .print = print };
	struct request req = {
		.wait = WAIT_DONE,
		.cmd = GNL_FOOBAR_XMPL_CMD_ECHO,
		.fn = on_dump,
		.arg = &st,
	};
	struct nl_msg *msg;
	int ret;

	msg = new_request(c, NLM_F_DUMP, GNL_FOOBAR_XMPL_CMD_ECHO);
	if (!msg)
		return EXIT_KERNEL;
	ret = EXIT_KERNEL;
	/* 0: no --count, the module's configured default applies. */
	if (count && nla_put_u32(msg, GNL_FOOBAR_XMPL_A_COUNT, count) < 0) {
		ret = out_of_memory();
		goto out;
	}
	ret = run_request(c, msg, &req);
	if (!ret && print)
		print_dump_end(st.next);
out:
	nlmsg_free(msg);
	return ret;
}

/* The refusal is the expected answer here, so it goes to stdout. */
int client_error(struct client *c)
{
	struct request req = {
		.wait = WAIT_ACK,
		.cmd = GNL_FOOBAR_XMPL_CMD_REPLY_WITH_NLMSG_ERR,
	};
	struct nl_msg *msg;
	int ret;

	msg = new_request(c, 0, GNL_FOOBAR_XMPL_CMD_REPLY_WITH_NLMSG_ERR);
	if (!msg)
		return EXIT_KERNEL;
	ret = transact(c, msg, &req);
	if (ret)
		goto out;
	if (!req.ke.err) {
		ret = proto_error("acknowledgment (expected an error)");
		goto out;
	}
	print_refusal(&req.ke);
out:
	nlmsg_free(msg);
	return ret;
}

int client_set_dump_count(struct client *c, __u32 count)
{
	struct request req = {
		.wait = WAIT_ACK,
		.cmd = GNL_FOOBAR_XMPL_CMD_SET_DUMP_COUNT,
	};
	struct nl_msg *msg;
	int ret;

	/* libnl adds NLM_F_ACK itself (auto-ack). */
	msg = new_request(c, 0, GNL_FOOBAR_XMPL_CMD_SET_DUMP_COUNT);
	if (!msg)
		return EXIT_KERNEL;
	ret = EXIT_KERNEL;
	if (nla_put_u32(msg, GNL_FOOBAR_XMPL_A_COUNT, count) < 0) {
		ret = out_of_memory();
		goto out;
	}
	ret = run_request(c, msg, &req);
	if (!ret)
		print_dump_count(count);
out:
	nlmsg_free(msg);
	return ret;
}

/* doit: NAME, VALUE, NAME, VALUE... in the kernel's order (A_PAD skipped). */
static int on_stats(struct nlmsghdr *nlh, void *arg)
{
	struct genlmsghdr *genl = genlmsg_hdr(nlh);
	struct nlattr *nla, *name = NULL;
	int rem, ret;

	(void)arg;
	ret = validate_reply(nlh);
	if (ret)
		return ret;
	nla_for_each_attr(nla, genlmsg_attrdata(genl, 0),
			  genlmsg_attrlen(genl, 0), rem) {
		if (nla_type(nla) == GNL_FOOBAR_XMPL_A_STAT_NAME) {
			if (name)
				return proto_error("missing attribute %s",
						   "GNL_FOOBAR_XMPL_A_STAT_VALUE");
			name = nla;
		} else if (nla_type(nla) == GNL_FOOBAR_XMPL_A_STAT_VALUE) {
			if (!name)
				return proto_error("missing attribute %s",
						   "GNL_FOOBAR_XMPL_A_STAT_NAME");
			print_stat(nla_get_string(name), nla_get_u64(nla));
			name = NULL;
		}
	}
	if (name)
		return proto_error("missing attribute %s",
				   "GNL_FOOBAR_XMPL_A_STAT_VALUE");
	return EXIT_OK;
}

/* dumpit: one counter per message. */
static int on_stat(struct nlmsghdr *nlh, void *arg)
{
	struct nlattr *tb[GNL_FOOBAR_XMPL_A_MAX + 1];
	int ret;

	(void)arg;
	ret = parse_reply(nlh, tb);
	if (!ret)
		ret = require(tb, GNL_FOOBAR_XMPL_A_STAT_NAME);
	if (!ret)
		ret = require(tb, GNL_FOOBAR_XMPL_A_STAT_VALUE);
	if (ret)
		return ret;
	print_stat(nla_get_string(tb[GNL_FOOBAR_XMPL_A_STAT_NAME]),
		   nla_get_u64(tb[GNL_FOOBAR_XMPL_A_STAT_VALUE]));
	return EXIT_OK;
}

int client_stats(struct client *c, bool dump)
{
	struct request req = {
		.wait = dump ? WAIT_DONE : WAIT_REPLY,
		.cmd = GNL_FOOBAR_XMPL_CMD_GET_STATS,
		.fn = dump ? on_stat : on_stats,
	};
	struct nl_msg *msg;
	int ret;

	msg = new_request(c, dump ? NLM_F_DUMP : 0,
			  GNL_FOOBAR_XMPL_CMD_GET_STATS);
	if (!msg)
		return EXIT_KERNEL;
	ret = run_request(c, msg, &req);
	nlmsg_free(msg);
	return ret;
}

/* Events are addressed to no one: port id and sequence number unused. */
static int on_event_header(struct nl_msg *msg, void *arg)
{
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct request *req = arg;

	if (nlmsg_get_src(msg)->nl_pid != 0)
		return fail(req, proto_error("sender port id %u (expected 0)",
					     nlmsg_get_src(msg)->nl_pid));
	if (nlh->nlmsg_type != req->c->family)
		return fail(req, proto_error("message type %u (expected %u)",
					     nlh->nlmsg_type, req->c->family));
	if (!genlmsg_valid_hdr(nlh, 0))
		return fail(req, proto_error("message too short (%u bytes)",
					     nlh->nlmsg_len));
	return NL_OK;
}

static int print_event(struct nlmsghdr *nlh)
{
	struct nlattr *tb[GNL_FOOBAR_XMPL_A_MAX + 1];
	struct genlmsghdr *genl = genlmsg_hdr(nlh);
	int ret;

	ret = parse_reply(nlh, tb);
	if (ret)
		return ret;
	switch (genl->cmd) {
	case GNL_FOOBAR_XMPL_CMD_ECHO:
		ret = require(tb, GNL_FOOBAR_XMPL_A_MSG);
		if (ret)
			return ret;
		print_event_echo(nla_get_string(tb[GNL_FOOBAR_XMPL_A_MSG]));
		break;
	case GNL_FOOBAR_XMPL_CMD_SET_DUMP_COUNT:
		ret = require(tb, GNL_FOOBAR_XMPL_A_COUNT);
		if (ret)
			return ret;
		print_event_set_dump_count(nla_get_u32(tb[GNL_FOOBAR_XMPL_A_COUNT]));
		break;
	default:
		print_event_unknown(genl->cmd);
		break;
	}
	return EXIT_OK;
}

static int on_event(struct nl_msg *msg, void *arg)
{
	struct request *req = arg;
	int ret;

	ret = print_event(nlmsg_hdr(msg));
	if (ret)
		return fail(req, ret);
	if (req->count && ++req->replies == req->count) {
		req->done = true;
		return NL_STOP;
	}
	return NL_OK;
}

/* @count 0: run until killed. */
int client_monitor(struct client *c, unsigned long count)
{
	struct request req = { .c = c, .count = count };
	struct nl_cb *cb;
	int grp, ret;

	grp = genl_ctrl_resolve_grp(c->sk, GNL_FOOBAR_XMPL_FAMILY_NAME,
				    GNL_FOOBAR_XMPL_MCGRP_EVENTS);
	if (grp < 0)
		return proto_error("family %s has no multicast group %s",
				   GNL_FOOBAR_XMPL_FAMILY_NAME,
				   GNL_FOOBAR_XMPL_MCGRP_EVENTS);
	cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!cb) {
		errno = ENOMEM;
		return sys_error("recv");
	}
	nl_cb_set(cb, NL_CB_SEQ_CHECK, NL_CB_CUSTOM, on_event_header, &req);
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, on_event, &req);
	errno = 0;
	if (nl_socket_add_membership(c->sk, grp) < 0) {
		ret = sys_error("setsockopt");
		goto out;
	}
	print_listening();
	ret = EXIT_OK;
	while (!req.done && !req.ret) {
		errno = 0;
		if (nl_recvmsgs(c->sk, cb) < 0 && !req.ret) {
			ret = sys_error("recv");
			goto out;
		}
	}
	ret = req.ret;
out:
	nl_cb_put(cb);
	return ret;
}

/* ---- opening and closing, for gnl_cli.c ---- */

int client_open(struct client **cp)
{
	struct client *c;
	int ret;

	*cp = c = calloc(1, sizeof(*c));
	if (!c)
		return out_of_memory();
	ret = open_socket(c);
	if (!ret)
		ret = resolve_family(c);
	return ret;
}

void client_close(struct client *c)
{
	if (!c)
		return;
	nl_socket_free(c->sk);
	free(c);
}
