// SPDX-License-Identifier: MIT
/*
 * gnl-raw: a client of the gnl_foobar_xmpl generic netlink family written
 * with nothing but AF_NETLINK sockets, to show every byte that libraries
 * usually hide. The command line and every output line are specified in
 * userland/INTERFACE.md and shared with gnl-libnl and gnl-rust.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/genetlink.h>
#include <linux/netlink.h>

#include "gnl_cli.h"
#include "gnl_foobar_xmpl.h"
#include "nl_sock.h"
#include "nlmsg.h"

/*
 * Big enough for any reply: the kernel sizes dump datagrams after the
 * largest buffer it has seen us pass to recvmsg(), up to 32 KiB.
 */
#define RX_BUF_SIZE	32768
/* A request is headers plus at most one string and one u32 attribute. */
#define TX_BUF_SIZE	512

/* How a request's answer ends. */
enum wait_for {
	WAIT_REPLY,	/* doit: one message of the family */
	WAIT_DONE,	/* dump: messages until NLMSG_DONE */
	WAIT_ACK,	/* NLM_F_ACK: an NLMSG_ERROR carrying 0 */
};

struct client {
	int fd;
	__u32 port;		/* our port id, the kernel's replies go to it */
	__u32 seq;		/* of the last request sent */
	__u16 family;		/* nlmsg_type of our family's messages */
	__u32 events_grp;	/* multicast group id of "events" */
};

/* Called for each message of the expected family and command. */
typedef int (*reply_fn)(const struct nlmsghdr *nlh, void *arg);

const char *const prog = "gnl-raw";
const char *const client_via = "raw sockets";

static int send_msg(struct client *c, struct nlmsghdr *nlh)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };

	nlh->nlmsg_seq = ++c->seq;
	if (sendto(c->fd, nlh, nlh->nlmsg_len, 0, (struct sockaddr *)&kernel,
		   sizeof(kernel)) < 0)
		return sys_error("send");
	return EXIT_OK;
}

/*
 * Header checks common to every message answering our request. The
 * kernel addresses its replies to our port id (nlmsg_pid); that the
 * kernel sent them is checked on the datagram's source address.
 */
static int check_header(const struct client *c, const struct nlmsghdr *nlh)
{
	if (nlh->nlmsg_pid != c->port)
		return proto_error("port id %u (expected %u)", nlh->nlmsg_pid,
				   c->port);
	if (nlh->nlmsg_seq != c->seq)
		return proto_error("sequence number %u (expected %u)",
				   nlh->nlmsg_seq, c->seq);
	return EXIT_OK;
}

/*
 * Reads the answer to the last request: messages of @type and @cmd go to
 * @fn, until the end @wait names. A refusal from the kernel is returned in
 * @ke with EXIT_OK: what it means is up to the caller.
 */
static int recv_answer(struct client *c, __u16 type, __u8 cmd,
		       enum wait_for wait, reply_fn fn, void *arg,
		       struct kerr *ke)
{
	static char buf[RX_BUF_SIZE] __aligned(NLMSG_ALIGNTO);
	struct nlmsghdr *nlh;
	bool done = false;
	int len, ret;

	ke->err = 0;
	ke->extack[0] = '\0';
	while (!done) {
		ret = recv_datagram(c->fd, buf, sizeof(buf), &len);
		if (ret)
			goto out;
		for (nlh = (struct nlmsghdr *)buf; !done && NLMSG_OK(nlh, len);
		     nlh = NLMSG_NEXT(nlh, len)) {
			ret = check_header(c, nlh);
			if (ret)
				goto out;
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				ret = parse_error(nlh, ke);
				if (ret)
					goto out;
				if (!ke->err && wait != WAIT_ACK) {
					ret = proto_error("acknowledgment (expected a reply)");
					goto out;
				}
				done = true;
			} else if (nlh->nlmsg_type == NLMSG_DONE &&
				   wait == WAIT_DONE) {
				ret = parse_done(nlh, ke);
				if (ret)
					goto out;
				done = true;
			} else if (nlh->nlmsg_type == type && wait != WAIT_ACK) {
				ret = check_genl(nlh, cmd);
				if (!ret)
					ret = fn(nlh, arg);
				if (ret)
					goto out;
				done = wait == WAIT_REPLY;
			} else {
				ret = proto_error("message type %u (expected %u)",
						  nlh->nlmsg_type,
						  wait == WAIT_ACK ? NLMSG_ERROR : type);
				goto out;
			}
		}
		/* NLMSG_OK() stops at a length that overruns the datagram. */
		if (!done && len > 0) {
			ret = proto_error("malformed message (%d bytes left in the datagram)",
					  len);
			goto out;
		}
	}
	ret = EXIT_OK;
out:
	return ret;
}

/* ---- the socket and the family ---- */

static int open_socket(struct client *c)
{
	c->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (c->fd < 0)
		return sys_error("socket");
	return nl_sock_setup(c->fd, &c->port);
}

/* CTRL_ATTR_MCAST_GROUPS: a list of nests, each a name and an id. */
static void find_group(struct nlattr *groups, const char *name, __u32 *id)
{
	struct nlattr *grp, *tb[CTRL_ATTR_MCAST_GRP_MAX + 1];
	int rem;

	nla_for_each(grp, nla_data(groups), nla_payload(groups), rem) {
		parse_attrs(nla_data(grp), nla_payload(grp), tb,
			    CTRL_ATTR_MCAST_GRP_MAX);
		if (!tb[CTRL_ATTR_MCAST_GRP_NAME] || !tb[CTRL_ATTR_MCAST_GRP_ID] ||
		    nla_payload(tb[CTRL_ATTR_MCAST_GRP_ID]) != sizeof(__u32))
			continue;
		/* The whole name and its NUL: "events" must not match "ev". */
		if (nla_payload(tb[CTRL_ATTR_MCAST_GRP_NAME]) == (int)strlen(name) + 1 &&
		    !memcmp(nla_data(tb[CTRL_ATTR_MCAST_GRP_NAME]), name,
			    strlen(name) + 1))
			*id = nla_u32(tb[CTRL_ATTR_MCAST_GRP_ID]);
	}
}

static int on_family(const struct nlmsghdr *nlh, void *arg)
{
	struct nlattr *tb[CTRL_ATTR_MAX + 1];
	struct client *c = arg;
	struct nlattr *head;
	__u16 id;
	int len, ret;

	head = genl_attrs(nlh, &len);
	parse_attrs(head, len, tb, CTRL_ATTR_MAX);
	ret = check_size(tb[CTRL_ATTR_FAMILY_ID], "CTRL_ATTR_FAMILY_ID",
			 sizeof(id));
	if (ret)
		return ret;
	memcpy(&id, nla_data(tb[CTRL_ATTR_FAMILY_ID]), sizeof(id));
	c->family = id;
	if (tb[CTRL_ATTR_MCAST_GROUPS])
		find_group(tb[CTRL_ATTR_MCAST_GROUPS],
			   GNL_FOOBAR_XMPL_MCGRP_EVENTS, &c->events_grp);
	return EXIT_OK;
}

/* Asks nlctrl, the family of families, for our family's id and groups. */
static int resolve_family(struct client *c)
{
	static const char name[] = GNL_FOOBAR_XMPL_FAMILY_NAME;
	char req[TX_BUF_SIZE] __aligned(NLMSG_ALIGNTO);
	struct nlmsghdr *nlh = (struct nlmsghdr *)req;
	struct kerr ke;
	int ret;

	msg_init(nlh, GENL_ID_CTRL, 0, CTRL_CMD_GETFAMILY);
	put_attr(nlh, sizeof(req), CTRL_ATTR_FAMILY_NAME, name, sizeof(name));
	ret = send_msg(c, nlh);
	if (ret)
		return ret;
	ret = recv_answer(c, GENL_ID_CTRL, CTRL_CMD_NEWFAMILY, WAIT_REPLY,
			  on_family, c, &ke);
	if (ret)
		return ret;
	if (ke.err == ENOENT)
		return family_not_found();
	if (ke.err)
		return kernel_error(&ke);
	return EXIT_OK;
}

/* ---- the subcommands ---- */

/* Hands the reply's A_MSG (in the receive buffer) to the caller. */
static int on_echo(const struct nlmsghdr *nlh, void *arg)
{
	struct nlattr *tb[GNL_FOOBAR_XMPL_A_MAX + 1];
	const char **reply = arg;
	struct nlattr *head;
	int len, ret;

	head = genl_attrs(nlh, &len);
	parse_attrs(head, len, tb, GNL_FOOBAR_XMPL_A_MAX);
	ret = check_str(tb[GNL_FOOBAR_XMPL_A_MSG], "GNL_FOOBAR_XMPL_A_MSG");
	if (ret)
		return ret;
	*reply = nla_data(tb[GNL_FOOBAR_XMPL_A_MSG]);
	return EXIT_OK;
}

/* Prints "sent:" and "received:" when @print (bench runs are silent). */
int client_echo(struct client *c, const char *text, bool print)
{
	char req[TX_BUF_SIZE] __aligned(NLMSG_ALIGNTO);
	struct nlmsghdr *nlh = (struct nlmsghdr *)req;
	const char *reply = NULL;
	struct kerr ke;
	int ret;

	msg_init(nlh, c->family, 0, GNL_FOOBAR_XMPL_CMD_ECHO);
	put_attr(nlh, sizeof(req), GNL_FOOBAR_XMPL_A_MSG, text, strlen(text) + 1);
	ret = send_msg(c, nlh);
	if (ret)
		return ret;
	if (print)
		print_sent(text);
	ret = recv_answer(c, c->family, GNL_FOOBAR_XMPL_CMD_ECHO, WAIT_REPLY,
			  on_echo, &reply, &ke);
	if (!ret && ke.err)
		ret = kernel_error(&ke);
	if (!ret && print)
		print_received(reply);
	return ret;
}

/* Where a dump is: the next index expected, and whether to print. */
struct dump_state {
	__u32 next;
	bool print;
};

static int on_dump(const struct nlmsghdr *nlh, void *arg)
{
	struct nlattr *tb[GNL_FOOBAR_XMPL_A_MAX + 1];
	struct dump_state *st = arg;
	struct nlattr *head;
	__u32 index;
	int len, ret;

	head = genl_attrs(nlh, &len);
	parse_attrs(head, len, tb, GNL_FOOBAR_XMPL_A_MAX);
	ret = check_size(tb[GNL_FOOBAR_XMPL_A_INDEX], "GNL_FOOBAR_XMPL_A_INDEX",
			 sizeof(__u32));
	if (!ret)
		ret = check_str(tb[GNL_FOOBAR_XMPL_A_MSG], "GNL_FOOBAR_XMPL_A_MSG");
	if (ret)
		return ret;
	index = nla_u32(tb[GNL_FOOBAR_XMPL_A_INDEX]);
	if (index != st->next)
		return proto_error("dump index %u (expected %u)", index, st->next);
	if (st->print)
		print_dump_message(index, nla_data(tb[GNL_FOOBAR_XMPL_A_MSG]));
	st->next++;
	return EXIT_OK;
}

int client_dump(struct client *c, __u32 count, bool print)
{
	char req[TX_BUF_SIZE] __aligned(NLMSG_ALIGNTO);
	struct nlmsghdr *nlh = (struct nlmsghdr *)req;
	struct dump_state st = { .print = print };
	struct kerr ke;
	int ret;

	msg_init(nlh, c->family, NLM_F_DUMP, GNL_FOOBAR_XMPL_CMD_ECHO);
	/* 0: no --count, the module's configured default applies. */
	if (count)
		put_attr(nlh, sizeof(req), GNL_FOOBAR_XMPL_A_COUNT, &count,
			 sizeof(count));
	ret = send_msg(c, nlh);
	if (ret)
		return ret;
	ret = recv_answer(c, c->family, GNL_FOOBAR_XMPL_CMD_ECHO, WAIT_DONE,
			  on_dump, &st, &ke);
	if (!ret && ke.err)
		ret = kernel_error(&ke);
	if (!ret && print)
		print_dump_end(st.next);
	return ret;
}

/* The refusal is the expected answer here, so it goes to stdout. */
int client_error(struct client *c)
{
	char req[TX_BUF_SIZE] __aligned(NLMSG_ALIGNTO);
	struct nlmsghdr *nlh = (struct nlmsghdr *)req;
	struct kerr ke;
	int ret;

	msg_init(nlh, c->family, 0, GNL_FOOBAR_XMPL_CMD_REPLY_WITH_NLMSG_ERR);
	ret = send_msg(c, nlh);
	if (ret)
		return ret;
	ret = recv_answer(c, c->family, GNL_FOOBAR_XMPL_CMD_REPLY_WITH_NLMSG_ERR,
			  WAIT_ACK, NULL, NULL, &ke);
	if (ret)
		return ret;
	if (!ke.err)
		return proto_error("acknowledgment (expected an error)");
	print_refusal(&ke);
	return EXIT_OK;
}

int client_set_dump_count(struct client *c, __u32 count)
{
	char req[TX_BUF_SIZE] __aligned(NLMSG_ALIGNTO);
	struct nlmsghdr *nlh = (struct nlmsghdr *)req;
	struct kerr ke;
	int ret;

	msg_init(nlh, c->family, NLM_F_ACK, GNL_FOOBAR_XMPL_CMD_SET_DUMP_COUNT);
	put_attr(nlh, sizeof(req), GNL_FOOBAR_XMPL_A_COUNT, &count, sizeof(count));
	ret = send_msg(c, nlh);
	if (ret)
		return ret;
	ret = recv_answer(c, c->family, GNL_FOOBAR_XMPL_CMD_SET_DUMP_COUNT,
			  WAIT_ACK, NULL, NULL, &ke);
	if (!ret && ke.err)
		ret = kernel_error(&ke);
	if (!ret)
		print_dump_count(count);
	return ret;
}

/* doit: NAME, VALUE, NAME, VALUE... in the kernel's order (A_PAD skipped). */
static int on_stats(const struct nlmsghdr *nlh, void *arg)
{
	const struct nlattr *name = NULL;
	struct nlattr *nla, *head;
	int len, rem, ret;

	(void)arg;
	head = genl_attrs(nlh, &len);
	nla_for_each(nla, head, len, rem) {
		if (nla_type(nla) == GNL_FOOBAR_XMPL_A_STAT_NAME) {
			if (name)
				return proto_error("missing attribute %s",
						   "GNL_FOOBAR_XMPL_A_STAT_VALUE");
			ret = check_str(nla, "GNL_FOOBAR_XMPL_A_STAT_NAME");
			if (ret)
				return ret;
			name = nla;
		} else if (nla_type(nla) == GNL_FOOBAR_XMPL_A_STAT_VALUE) {
			if (!name)
				return proto_error("missing attribute %s",
						   "GNL_FOOBAR_XMPL_A_STAT_NAME");
			ret = check_size(nla, "GNL_FOOBAR_XMPL_A_STAT_VALUE",
					 sizeof(__u64));
			if (ret)
				return ret;
			print_stat(nla_data(name), nla_u64(nla));
			name = NULL;
		}
	}
	if (name)
		return proto_error("missing attribute %s",
				   "GNL_FOOBAR_XMPL_A_STAT_VALUE");
	return EXIT_OK;
}

/* dumpit: one counter per message. */
static int on_stat(const struct nlmsghdr *nlh, void *arg)
{
	struct nlattr *tb[GNL_FOOBAR_XMPL_A_MAX + 1];
	struct nlattr *head;
	int len, ret;

	(void)arg;
	head = genl_attrs(nlh, &len);
	parse_attrs(head, len, tb, GNL_FOOBAR_XMPL_A_MAX);
	ret = check_str(tb[GNL_FOOBAR_XMPL_A_STAT_NAME],
			"GNL_FOOBAR_XMPL_A_STAT_NAME");
	if (!ret)
		ret = check_size(tb[GNL_FOOBAR_XMPL_A_STAT_VALUE],
				 "GNL_FOOBAR_XMPL_A_STAT_VALUE", sizeof(__u64));
	if (ret)
		return ret;
	print_stat(nla_data(tb[GNL_FOOBAR_XMPL_A_STAT_NAME]),
		   nla_u64(tb[GNL_FOOBAR_XMPL_A_STAT_VALUE]));
	return EXIT_OK;
}

int client_stats(struct client *c, bool dump)
{
	char req[TX_BUF_SIZE] __aligned(NLMSG_ALIGNTO);
	struct nlmsghdr *nlh = (struct nlmsghdr *)req;
	struct kerr ke;
	int ret;

	msg_init(nlh, c->family, dump ? NLM_F_DUMP : 0,
		 GNL_FOOBAR_XMPL_CMD_GET_STATS);
	ret = send_msg(c, nlh);
	if (ret)
		return ret;
	ret = recv_answer(c, c->family, GNL_FOOBAR_XMPL_CMD_GET_STATS,
			  dump ? WAIT_DONE : WAIT_REPLY, dump ? on_stat : on_stats,
			  NULL, &ke);
	if (!ret && ke.err)
		ret = kernel_error(&ke);
	return ret;
}

static int print_event(const struct client *c, const struct nlmsghdr *nlh)
{
	struct nlattr *tb[GNL_FOOBAR_XMPL_A_MAX + 1];
	const struct genlmsghdr *genl = NLMSG_DATA(nlh);
	struct nlattr *head;
	int len, ret;

	/* Events are addressed to no one: port id and sequence number unused. */
	if (nlh->nlmsg_type != c->family)
		return proto_error("message type %u (expected %u)",
				   nlh->nlmsg_type, c->family);
	if (nlh->nlmsg_len < NLMSG_HDRLEN + GENL_HDRLEN)
		return proto_error("message too short (%u bytes)",
				   nlh->nlmsg_len);
	head = genl_attrs(nlh, &len);
	parse_attrs(head, len, tb, GNL_FOOBAR_XMPL_A_MAX);
	switch (genl->cmd) {
	case GNL_FOOBAR_XMPL_CMD_ECHO:
		ret = check_str(tb[GNL_FOOBAR_XMPL_A_MSG], "GNL_FOOBAR_XMPL_A_MSG");
		if (ret)
			return ret;
		print_event_echo(nla_data(tb[GNL_FOOBAR_XMPL_A_MSG]));
		break;
	case GNL_FOOBAR_XMPL_CMD_SET_DUMP_COUNT:
		ret = check_size(tb[GNL_FOOBAR_XMPL_A_COUNT],
				 "GNL_FOOBAR_XMPL_A_COUNT", sizeof(__u32));
		if (ret)
			return ret;
		print_event_set_dump_count(nla_u32(tb[GNL_FOOBAR_XMPL_A_COUNT]));
		break;
	default:
		print_event_unknown(genl->cmd);
		break;
	}
	return EXIT_OK;
}

/* @count 0: run until killed. */
int client_monitor(struct client *c, unsigned long count)
{
	static char buf[RX_BUF_SIZE] __aligned(NLMSG_ALIGNTO);
	unsigned long seen = 0;
	struct nlmsghdr *nlh;
	int grp = c->events_grp;
	int len, ret;

	if (!grp)
		return proto_error("family %s has no multicast group %s",
				   GNL_FOOBAR_XMPL_FAMILY_NAME,
				   GNL_FOOBAR_XMPL_MCGRP_EVENTS);
	if (setsockopt(c->fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &grp,
		       sizeof(grp)) < 0)
		return sys_error("setsockopt");
	print_listening();
	while (!count || seen < count) {
		ret = recv_datagram(c->fd, buf, sizeof(buf), &len);
		if (ret)
			return ret;
		for (nlh = (struct nlmsghdr *)buf;
		     NLMSG_OK(nlh, len) && (!count || seen < count);
		     nlh = NLMSG_NEXT(nlh, len), seen++) {
			ret = print_event(c, nlh);
			if (ret)
				return ret;
		}
	}
	return EXIT_OK;
}

/* ---- opening and closing, for gnl_cli.c ---- */

int client_open(struct client **cp)
{
	struct client *c;
	int ret;

	*cp = c = calloc(1, sizeof(*c));
	if (!c)
		return out_of_memory();
	c->fd = -1;
	ret = open_socket(c);
	if (!ret)
		ret = resolve_family(c);
	return ret;
}

void client_close(struct client *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}
