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

/*
 * libnl peeks (MSG_PEEK | MSG_TRUNC) and grows its buffer to fit each
 * datagram, so nothing is ever cut; starting at 32 KiB, the largest dump
 * datagram the kernel builds, it rarely has to.
 */
#define RX_BUF_SIZE	32768

/* How a request's answer ends. */
enum wait_for {
	WAIT_REPLY,	/* doit: one message of the family (then libnl's ack) */
	WAIT_DONE,	/* dump: messages until NLMSG_DONE */
	WAIT_ACK,	/* an NLMSG_ERROR carrying 0 */
};

struct client {
	struct nl_sock *sk;
	int family;
};

/* Called for each message of the expected family and command. */
typedef int (*reply_fn)(struct nlmsghdr *nlh, void *arg);

/* One request in flight: what the callbacks check against and report. */
struct request {
	struct client *c;
	enum wait_for wait;
	__u8 cmd;
	unsigned int seq;
	reply_fn fn;
	void *arg;
	const char *sent;	/* echo: printed once the request went out */
	unsigned long replies;	/* family messages seen */
	unsigned long count;	/* monitor: stop after this many, 0: never */
	bool done;
	int ret;		/* exit code of a failure already printed */
	struct kerr ke;
};

const char *const prog = "gnl-libnl";
const char *const client_via = "libnl";

/* ---- what the module sends: libnl checks every reply against it ---- */

/* NLA_STRING: the last byte is the NUL; .maxlen with the type: exact size. */
static const struct nla_policy attr_policy[GNL_FOOBAR_XMPL_A_MAX + 1] = {
	[GNL_FOOBAR_XMPL_A_MSG] = { .type = NLA_STRING },
	[GNL_FOOBAR_XMPL_A_COUNT] = { .type = NLA_U32, .maxlen = sizeof(__u32) },
	[GNL_FOOBAR_XMPL_A_INDEX] = { .type = NLA_U32, .maxlen = sizeof(__u32) },
	[GNL_FOOBAR_XMPL_A_STAT_NAME] = { .type = NLA_STRING },
	[GNL_FOOBAR_XMPL_A_STAT_VALUE] = { .type = NLA_U64,
					   .maxlen = sizeof(__u64) },
};

/* For INTERFACE.md's error lines, which name the attribute. */
static const char *const attr_name[GNL_FOOBAR_XMPL_A_MAX + 1] = {
	[GNL_FOOBAR_XMPL_A_MSG] = "GNL_FOOBAR_XMPL_A_MSG",
	[GNL_FOOBAR_XMPL_A_COUNT] = "GNL_FOOBAR_XMPL_A_COUNT",
	[GNL_FOOBAR_XMPL_A_INDEX] = "GNL_FOOBAR_XMPL_A_INDEX",
	[GNL_FOOBAR_XMPL_A_STAT_NAME] = "GNL_FOOBAR_XMPL_A_STAT_NAME",
	[GNL_FOOBAR_XMPL_A_STAT_VALUE] = "GNL_FOOBAR_XMPL_A_STAT_VALUE",
	[GNL_FOOBAR_XMPL_A_PAD] = "GNL_FOOBAR_XMPL_A_PAD",
};

static const struct nla_policy extack_policy[NLMSGERR_ATTR_MAX + 1] = {
	[NLMSGERR_ATTR_MSG] = { .type = NLA_STRING },
	[NLMSGERR_ATTR_OFFS] = { .type = NLA_U32 },
};

/*
 * libnl refused a reply: say which attribute broke the policy, the first
 * one as libnl met them, and how.
 */
static int policy_error(struct nlmsghdr *nlh)
{
	struct genlmsghdr *genl = genlmsg_hdr(nlh);
	struct nlattr *nla;
	int rem, type;

	nla_for_each_attr(nla, genlmsg_attrdata(genl, 0),
			  genlmsg_attrlen(genl, 0), rem) {
		type = nla_type(nla);
		if (type > GNL_FOOBAR_XMPL_A_MAX ||
		    !nla_validate(nla, nla->nla_len, GNL_FOOBAR_XMPL_A_MAX,
				  attr_policy))
			continue;
		if (attr_policy[type].type == NLA_STRING)
			return proto_error("attribute %s is not a NUL-terminated string",
					   attr_name[type]);
		return proto_error("attribute %s has %d bytes (expected %d)",
				   attr_name[type], nla_len(nla),
				   attr_policy[type].maxlen);
	}
	return proto_error("malformed attributes");
}

/* A reply's attributes in @tb, each checked against the policy. */
static int parse_reply(struct nlmsghdr *nlh, struct nlattr **tb)
{
	if (genlmsg_parse(nlh, 0, tb, GNL_FOOBAR_XMPL_A_MAX, attr_policy) < 0)
		return policy_error(nlh);
	return EXIT_OK;
}

/* What a policy cannot say: that an attribute must be there. */
static int require(struct nlattr **tb, int type)
{
	if (!tb[type])
		return proto_error("missing attribute %s", attr_name[type]);
	return EXIT_OK;
}

/* ---- the callbacks every request uses ---- */

/*
 * The extack attributes follow the error header and, unless NETLINK_CAP_ACK
 * capped it (NLM_F_CAPPED), a copy of our request. On NLMSG_DONE they
 * follow the int status.
 */
static void parse_extack(struct nlmsghdr *nlh, int hlen, struct kerr *ke)
{
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
	struct nlattr *msg;

	ke->extack[0] = '\0';
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	if (nlh->nlmsg_type == NLMSG_ERROR && !(nlh->nlmsg_flags & NLM_F_CAPPED)) {
		const struct nlmsgerr *e = nlmsg_data(nlh);

		if (e->msg.nlmsg_len < NLMSG_HDRLEN)
			return;
		hlen += e->msg.nlmsg_len - NLMSG_HDRLEN;
	}
	hlen = NLMSG_ALIGN(hlen);
	if (nlmsg_datalen(nlh) <= hlen ||
	    nla_parse(tb, NLMSGERR_ATTR_MAX,
		      (struct nlattr *)((char *)nlmsg_data(nlh) + hlen),
		      nlmsg_datalen(nlh) - hlen, extack_policy) < 0)
		return;
	msg = tb[NLMSGERR_ATTR_MSG];
	if (msg)
		snprintf(ke->extack, sizeof(ke->extack), "%s",
			 nla_get_string(msg));
}

static int fail(struct request *req, int ret)
{
	req->ret = ret;
	return NL_STOP;
}

/*
 * Runs first for every message: libnl's own check would only compare the
 * sequence number. Replies come from the kernel (sender port id 0), are
 * addressed to our port id and carry our sequence number.
 */
static int on_header(struct nl_msg *msg, void *arg)
{
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct request *req = arg;
	__u32 port = nl_socket_get_local_port(req->c->sk);
	bool ok;

	if (nlmsg_get_src(msg)->nl_pid != 0)
		return fail(req, proto_error("sender port id %u (expected 0)",
					     nlmsg_get_src(msg)->nl_pid));
	if (nlh->nlmsg_pid != port)
		return fail(req, proto_error("port id %u (expected %u)",
					     nlh->nlmsg_pid, port));
	if (nlh->nlmsg_seq != req->seq)
		return fail(req, proto_error("sequence number %u (expected %u)",
					     nlh->nlmsg_seq, req->seq));
	if (nlh->nlmsg_type == NLMSG_ERROR)
		ok = true;
	else if (nlh->nlmsg_type == NLMSG_DONE)
		ok = req->wait == WAIT_DONE;
	else
		ok = nlh->nlmsg_type == req->c->family && req->wait != WAIT_ACK &&
		     !(req->wait == WAIT_REPLY && req->replies);
	if (!ok)
		return fail(req, proto_error("message type %u (expected %u)",
					     nlh->nlmsg_type,
					     req->wait == WAIT_ACK || req->replies ?
					     NLMSG_ERROR : req->c->family));
	return NL_OK;
}

static int on_valid(struct nl_msg *msg, void *arg)
{
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct request *req = arg;
	struct genlmsghdr *genl;
	int ret;

	if (!genlmsg_valid_hdr(nlh, 0))
		return fail(req, proto_error("message too short (%u bytes)",
					     nlh->nlmsg_len));
	genl = genlmsg_hdr(nlh);
	if (genl->cmd != req->cmd)
		return fail(req, proto_error("command %u (expected %u)",
					     genl->cmd, req->cmd));
	ret = req->fn(nlh, req->arg);
	if (ret)
		return fail(req, ret);
	req->replies++;
	return NL_OK;
}

/* The dump's end; its int payload is the dump's final status. */
static int on_finish(struct nl_msg *msg, void *arg)
{
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct request *req = arg;
	int status = 0;

	if (nlmsg_datalen(nlh) >= (int)sizeof(status))
		memcpy(&status, nlmsg_data(nlh), sizeof(status));
	req->ke.err = -status;
	if (status)
		parse_extack(nlh, sizeof(status), &req->ke);
	req->done = true;
	return NL_STOP;
}

static int on_ack(struct nl_msg *msg, void *arg)
{
	struct request *req = arg;

	(void)msg;
	/* libnl asks for an ack after every request: a doit's comes last. */
	if (req->wait == WAIT_DONE ||
	    (req->wait == WAIT_REPLY && !req->replies))
		return fail(req, proto_error("acknowledgment (expected a reply)"));
	req->done = true;
	return NL_STOP;
}

static int on_error(struct sockaddr_nl *src, struct nlmsgerr *e, void *arg)
{
	/* libnl hands over the payload; its header sits just before it. */
	struct nlmsghdr *nlh = (struct nlmsghdr *)((char *)e - NLMSG_HDRLEN);
	struct request *req = arg;

	(void)src;
	req->ke.err = -e->error;
	parse_extack(nlh, sizeof(*e), &req->ke);
	req->done = true;
	return NL_STOP;
}

/*
 * Sends @msg and reads its answer: messages of our family and @req->cmd go
 * to @req->fn until the end @req->wait names. A refusal from the kernel is
 * left in @req->ke with EXIT_OK: what it means is up to the caller.
 */
static int transact(struct client *c, struct nl_msg *msg, struct request *req)
{
	struct nl_cb *cb;
	int err, ret;

	req->c = c;
	cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!cb) {
		errno = ENOMEM;
		return sys_error("recv");
	}
	nl_cb_set(cb, NL_CB_SEQ_CHECK, NL_CB_CUSTOM, on_header, req);
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, on_valid, req);
	nl_cb_set(cb, NL_CB_FINISH, NL_CB_CUSTOM, on_finish, req);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, on_ack, req);
	nl_cb_err(cb, NL_CB_CUSTOM, on_error, req);

	/* Fills in our port id and the next sequence number, adds NLM_F_ACK. */
	errno = 0;
	if (nl_send_auto(c->sk, msg) < 0) {
		ret = sys_error("send");
		goto out;
	}
	req->seq = nlmsg_hdr(msg)->nlmsg_seq;
	if (req->sent)
		printf("sent: %s\n", req->sent);
	while (!req->done && !req->ret) {
		errno = 0;
		err = nl_recvmsgs(c->sk, cb);
		/* A refusal stops libnl with an error code: ours to report. */
		if (err < 0 && !req->done && !req->ret) {
			ret = sys_error("recv");
			goto out;
		}
	}
	ret = req->ret;
out:
	nl_cb_put(cb);
	return ret;
}

/* A request of our family, genl header version 1. */
static struct nl_msg *new_request(struct client *c, int flags, __u8 cmd)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (msg && !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, c->family, 0,
				flags, cmd, GNL_FOOBAR_XMPL_FAMILY_VERSION)) {
		nlmsg_free(msg);
		msg = NULL;
	}
	if (!msg)
		fprintf(stderr, "error: out of memory\n");
	return msg;
}

/* Runs a request of @cmd and turns a refusal into its error line. */
static int run_request(struct client *c, struct nl_msg *msg,
		       struct request *req)
{
	int ret;

	ret = transact(c, msg, req);
	if (!ret && req->ke.err)
		ret = kernel_error(&req->ke);
	return ret;
}

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
	if (c->family == -NLE_OBJ_NOTFOUND) {
		fprintf(stderr, "error: generic netlink family %s not found: is the module loaded? (insmod %s.ko)\n",
			GNL_FOOBAR_XMPL_FAMILY_NAME, GNL_FOOBAR_XMPL_FAMILY_NAME);
		return EXIT_NO_MODULE;
	}
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
		printf("received: %s\n",
		       nla_get_string(tb[GNL_FOOBAR_XMPL_A_MSG]));
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
		fprintf(stderr, "error: out of memory\n");
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
		printf("%u: %s\n", index,
		       nla_get_string(tb[GNL_FOOBAR_XMPL_A_MSG]));
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
		fprintf(stderr, "error: out of memory\n");
		goto out;
	}
	ret = run_request(c, msg, &req);
	if (!ret && print)
		printf("received %u messages\n", st.next);
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
	printf("errno: %d (%s)\n", req.ke.err, strerror(req.ke.err));
	if (req.ke.extack[0])
		printf("extack: %s\n", req.ke.extack);
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
		fprintf(stderr, "error: out of memory\n");
		goto out;
	}
	ret = run_request(c, msg, &req);
	if (!ret)
		printf("default dump count: %u\n", count);
out:
	nlmsg_free(msg);
	return ret;
}

static void print_stat(struct nlattr *name, struct nlattr *value)
{
	printf("%s: %llu\n", nla_get_string(name),
	       (unsigned long long)nla_get_u64(value));
}

/* doit: NAME, VALUE, NAME, VALUE... in the kernel's order (A_PAD skipped). */
static int on_stats(struct nlmsghdr *nlh, void *arg)
{
	struct genlmsghdr *genl = genlmsg_hdr(nlh);
	struct nlattr *nla, *name = NULL;
	int rem;

	(void)arg;
	if (genlmsg_validate(nlh, 0, GNL_FOOBAR_XMPL_A_MAX, attr_policy) < 0)
		return policy_error(nlh);
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
			print_stat(name, nla);
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
	print_stat(tb[GNL_FOOBAR_XMPL_A_STAT_NAME],
		   tb[GNL_FOOBAR_XMPL_A_STAT_VALUE]);
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
		printf("event: echo %s\n",
		       nla_get_string(tb[GNL_FOOBAR_XMPL_A_MSG]));
		break;
	case GNL_FOOBAR_XMPL_CMD_SET_DUMP_COUNT:
		ret = require(tb, GNL_FOOBAR_XMPL_A_COUNT);
		if (ret)
			return ret;
		printf("event: set-dump-count %u\n",
		       nla_get_u32(tb[GNL_FOOBAR_XMPL_A_COUNT]));
		break;
	default:
		printf("event: unknown command %u\n", genl->cmd);
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
	/* A test waits for this line before it triggers events. */
	printf("listening on %s/%s\n", GNL_FOOBAR_XMPL_FAMILY_NAME,
	       GNL_FOOBAR_XMPL_MCGRP_EVENTS);
	fflush(stdout);
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
	if (!c) {
		fprintf(stderr, "error: out of memory\n");
		return EXIT_KERNEL;
	}
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
