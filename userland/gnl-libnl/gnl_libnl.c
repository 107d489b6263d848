// SPDX-License-Identifier: MIT
/*
 * gnl-libnl: a client of the gnl_foobar_xmpl generic netlink family written
 * with libnl-3 and libnl-genl-3, the way most C programs talk netlink. The
 * command line and every output line are specified in
 * userland/INTERFACE.md and shared with gnl-raw and gnl-rust.
 *
 * libnl does the socket, the message building and the reading loop; the
 * callbacks below add the checks libnl leaves to its users (port id,
 * sender, message type, command, attribute sizes, dump order).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>

#include "gnl_foobar_xmpl.h"

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

/* The kernel's helpers, as the kernel's own tools/ define them. */
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define __printf(a, b)	__attribute__((format(printf, a, b)))

/* Exit codes of INTERFACE.md. */
enum {
	EXIT_OK,
	EXIT_KERNEL,	/* request rejected, or a socket call failed */
	EXIT_USAGE,
	EXIT_NO_FAMILY,
	EXIT_PERM,
	EXIT_PROTO,	/* the reply breaks the protocol */
};

/*
 * libnl peeks (MSG_PEEK | MSG_TRUNC) and grows its buffer to fit each
 * datagram, so nothing is ever cut; starting at 32 KiB, the largest dump
 * datagram the kernel builds, it rarely has to.
 */
#define RX_BUF_SIZE	32768
#define EXTACK_MAX	256

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

/* What the kernel answered when it refused a request. */
struct kerr {
	int err;		/* positive errno, 0 if no error */
	char extack[EXTACK_MAX];
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

static const char *prog = "gnl-libnl";

static int usage_error(const char *fmt, ...)
	__printf(1, 2);

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "error: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\ntry '%s --help'\n", prog);
	return EXIT_USAGE;
}

/* libnl turns errno into its own codes; errno itself still says why. */
static int sys_error(const char *syscall)
{
	int err = errno ? errno : EIO;

	fprintf(stderr, "error: %s: %s (errno %d)\n", syscall, strerror(err),
		err);
	return EXIT_KERNEL;
}

static int proto_error(const char *fmt, ...)
	__printf(1, 2);

static int proto_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "error: unexpected reply: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_PROTO;
}

static int kernel_error(const struct kerr *ke)
{
	if (ke->err == EPERM) {
		fprintf(stderr, "error: permission denied: this operation needs CAP_NET_ADMIN (run as root)\n");
		return EXIT_PERM;
	}
	fprintf(stderr, "error: kernel rejected the request: %s (errno %d)",
		strerror(ke->err), ke->err);
	if (ke->extack[0])
		fprintf(stderr, ": %s", ke->extack);
	fputc('\n', stderr);
	return EXIT_KERNEL;
}

/* ---- attribute checks ---- */

static int check_str(const struct nlattr *nla, const char *name)
{
	if (!nla)
		return proto_error("missing attribute %s", name);
	if (nla_len(nla) < 1 ||
	    strnlen(nla_data(nla), nla_len(nla)) == (size_t)nla_len(nla))
		return proto_error("attribute %s is not a NUL-terminated string",
				   name);
	return EXIT_OK;
}

static int check_size(const struct nlattr *nla, const char *name, int size)
{
	if (!nla)
		return proto_error("missing attribute %s", name);
	if (nla_len(nla) != size)
		return proto_error("attribute %s has %d bytes (expected %d)",
				   name, nla_len(nla), size);
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
		      nlmsg_datalen(nlh) - hlen, NULL) < 0)
		return;
	msg = tb[NLMSGERR_ATTR_MSG];
	if (msg && nla_len(msg) > 0)
		snprintf(ke->extack, sizeof(ke->extack), "%.*s", nla_len(msg),
			 (char *)nla_data(msg));
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
		return EXIT_NO_FAMILY;
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

	genlmsg_parse(nlh, 0, tb, GNL_FOOBAR_XMPL_A_MAX, NULL);
	ret = check_str(tb[GNL_FOOBAR_XMPL_A_MSG], "GNL_FOOBAR_XMPL_A_MSG");
	if (ret)
		return ret;
	if (*print)
		printf("received: %s\n",
		       nla_get_string(tb[GNL_FOOBAR_XMPL_A_MSG]));
	return EXIT_OK;
}

/* Prints "sent:" and "received:" when @print (bench runs are silent). */
static int do_echo(struct client *c, const char *text, bool print)
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

	genlmsg_parse(nlh, 0, tb, GNL_FOOBAR_XMPL_A_MAX, NULL);
	ret = check_size(tb[GNL_FOOBAR_XMPL_A_INDEX], "GNL_FOOBAR_XMPL_A_INDEX",
			 sizeof(__u32));
	if (!ret)
		ret = check_str(tb[GNL_FOOBAR_XMPL_A_MSG], "GNL_FOOBAR_XMPL_A_MSG");
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

static int do_dump(struct client *c, __u32 count, bool print)
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
static int do_error(struct client *c)
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

static int do_set_dump_count(struct client *c, __u32 count)
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
	int rem, ret;

	(void)arg;
	nla_for_each_attr(nla, genlmsg_attrdata(genl, 0),
			  genlmsg_attrlen(genl, 0), rem) {
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
	genlmsg_parse(nlh, 0, tb, GNL_FOOBAR_XMPL_A_MAX, NULL);
	ret = check_str(tb[GNL_FOOBAR_XMPL_A_STAT_NAME],
			"GNL_FOOBAR_XMPL_A_STAT_NAME");
	if (!ret)
		ret = check_size(tb[GNL_FOOBAR_XMPL_A_STAT_VALUE],
				 "GNL_FOOBAR_XMPL_A_STAT_VALUE", sizeof(__u64));
	if (ret)
		return ret;
	print_stat(tb[GNL_FOOBAR_XMPL_A_STAT_NAME],
		   tb[GNL_FOOBAR_XMPL_A_STAT_VALUE]);
	return EXIT_OK;
}

static int do_stats(struct client *c, bool dump)
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

	genlmsg_parse(nlh, 0, tb, GNL_FOOBAR_XMPL_A_MAX, NULL);
	switch (genl->cmd) {
	case GNL_FOOBAR_XMPL_CMD_ECHO:
		ret = check_str(tb[GNL_FOOBAR_XMPL_A_MSG], "GNL_FOOBAR_XMPL_A_MSG");
		if (ret)
			return ret;
		printf("event: echo %s\n",
		       nla_get_string(tb[GNL_FOOBAR_XMPL_A_MSG]));
		break;
	case GNL_FOOBAR_XMPL_CMD_SET_DUMP_COUNT:
		ret = check_size(tb[GNL_FOOBAR_XMPL_A_COUNT],
				 "GNL_FOOBAR_XMPL_A_COUNT", sizeof(__u32));
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
static int do_monitor(struct client *c, unsigned long count)
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

/* ---- bench: timed round trips, for cargo lab bench ---- */

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* One iteration; a one-shot opens, resolves and frees a client of its own. */
static int bench_once(struct client *c, const char *workload, __u32 count)
{
	struct client own = {};
	int ret;

	if (!strcmp(workload, "steady"))
		return do_echo(c, "hello", false);
	if (!strcmp(workload, "dump"))
		return do_dump(c, count, false);
	ret = open_socket(&own);
	if (!ret)
		ret = resolve_family(&own);
	if (!ret)
		ret = do_echo(&own, "hello", false);
	nl_socket_free(own.sk);
	return ret;
}

/* Prints the nanoseconds of each iteration, one per line, once all ran. */
static int do_bench(struct client *c, const char *workload,
		    unsigned long iterations, __u32 count)
{
	unsigned long i;
	__u64 *ns, start;
	int ret = EXIT_OK;

	ns = calloc(iterations, sizeof(*ns));
	if (!ns) {
		fprintf(stderr, "error: out of memory\n");
		return EXIT_KERNEL;
	}
	for (i = 0; i < iterations && !ret; i++) {
		start = now_ns();
		ret = bench_once(c, workload, count);
		ns[i] = now_ns() - start;
	}
	for (i = 0; i < iterations && !ret; i++)
		printf("%llu\n", (unsigned long long)ns[i]);
	free(ns);
	return ret;
}

/* ---- the command line ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s <command> [options]\n"
		"\n"
		"Client of the %s generic netlink family (libnl).\n"
		"\n"
		"Commands:\n"
		"  echo [MSG]            send MSG (default: hello), print the reply\n"
		"  dump [--count N]      dump N messages (default: the module's count)\n"
		"  error                 ask for an error, print errno and extack\n"
		"  monitor [--count N]   print events, exit after N of them\n"
		"  set-dump-count N      set the default dump count (needs CAP_NET_ADMIN)\n"
		"  stats [--dump]        print the module's counters\n"
		"  bench oneshot|steady|dump [--iterations N] [--count N]\n"
		"                        time N round trips, print nanoseconds\n"
		"\n"
		"Options:\n"
		"  -h, --help            print this help\n",
		prog, GNL_FOOBAR_XMPL_FAMILY_NAME);
}

/* A whole decimal number in [min, max], nothing else. */
static int parse_count(const char *s, unsigned long min, unsigned long max,
		       unsigned long *out)
{
	unsigned long v;
	char *end;

	if (*s < '0' || *s > '9')
		goto invalid;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		goto invalid;
	*out = v;
	return EXIT_OK;
invalid:
	fprintf(stderr, "error: invalid count '%s': expected an integer from %lu to %lu\n"
		"try '%s --help'\n", s, min, max, prog);
	return EXIT_USAGE;
}

struct args {
	const char *cmd;
	const char *msg;
	unsigned long count;	/* 0: not given */
	bool dump;
	const char *workload;	/* bench */
	unsigned long iterations;
};

/* Options of a subcommand; argv[0] is the subcommand's name. */
static int parse_sub(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'c' },
		{ "dump", no_argument, NULL, 'd' },
		{ "iterations", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	bool is_bench = !strcmp(a->cmd, "bench");
	bool is_dump = !strcmp(a->cmd, "dump") || is_bench;
	bool is_monitor = !strcmp(a->cmd, "monitor");
	bool is_stats = !strcmp(a->cmd, "stats");
	int opt, ret;

	/* bench's workload comes first, its options after it. */
	if (is_bench && argc > 1 && argv[1][0] != '-') {
		a->workload = argv[1];
		argv[1] = argv[0];
		argc--;
		argv++;
	}
	optind = 0;	/* glibc: restart scanning on a new argv */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			if (!is_dump && !is_monitor)
				return usage_error("%s takes no --count", a->cmd);
			ret = parse_count(optarg, GNL_FOOBAR_XMPL_DUMP_COUNT_MIN,
					  is_dump ? GNL_FOOBAR_XMPL_DUMP_COUNT_MAX :
					  UINT_MAX, &a->count);
			if (ret)
				return ret;
			break;
		case 'd':
			if (!is_stats)
				return usage_error("%s takes no --dump", a->cmd);
			a->dump = true;
			break;
		case 'i':
			if (!is_bench)
				return usage_error("%s takes no --iterations", a->cmd);
			ret = parse_count(optarg, 1, 10000000, &a->iterations);
			if (ret)
				return ret;
			break;
		case 'h':
			usage(stdout);
			exit(EXIT_OK);
		default:
			return usage_error("unknown option or missing value");
		}
	}
	argc -= optind;
	argv += optind;
	if (!strcmp(a->cmd, "echo") && argc > 0) {
		a->msg = argv[0];
		argc--;
		argv++;
	} else if (!strcmp(a->cmd, "set-dump-count")) {
		if (argc < 1)
			return usage_error("%s needs a count", a->cmd);
		ret = parse_count(argv[0], GNL_FOOBAR_XMPL_DUMP_COUNT_MIN,
				  GNL_FOOBAR_XMPL_DUMP_COUNT_MAX, &a->count);
		if (ret)
			return ret;
		argc--;
		argv++;
	} else if (is_bench && (!a->workload ||
				(strcmp(a->workload, "oneshot") &&
				 strcmp(a->workload, "steady") &&
				 strcmp(a->workload, "dump")))) {
		return usage_error("bench needs oneshot, steady or dump");
	}
	if (argc > 0)
		return usage_error("unexpected argument '%s'", argv[0]);
	return EXIT_OK;
}

static int parse_args(int argc, char **argv, struct args *a)
{
	static const char *const cmds[] = {
		"echo", "dump", "error", "monitor", "set-dump-count", "stats",
		"bench",
	};
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	size_t len, i;
	int opt;

	opterr = 0;
	/* '+': stop at the subcommand, its options are parsed after. */
	while ((opt = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (opt != 'h')
			return usage_error("unknown option");
		usage(stdout);
		exit(EXIT_OK);
	}
	if (optind >= argc)
		return usage_error("missing command");
	a->cmd = argv[optind];
	for (i = 0; i < ARRAY_SIZE(cmds); i++)
		if (!strcmp(a->cmd, cmds[i]))
			break;
	if (i == ARRAY_SIZE(cmds))
		return usage_error("unknown command '%s'", a->cmd);
	a->msg = "hello";
	a->iterations = 1000;
	if (parse_sub(argc - optind, argv + optind, a))
		return EXIT_USAGE;
	/* Checked before anything is sent, as the kernel would refuse it. */
	len = strlen(a->msg);
	if (len > GNL_FOOBAR_XMPL_MSG_MAX_LEN) {
		fprintf(stderr, "error: message is %zu bytes; the maximum is %d\n",
			len, GNL_FOOBAR_XMPL_MSG_MAX_LEN);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

static int run(struct client *c, const struct args *a)
{
	if (!strcmp(a->cmd, "echo"))
		return do_echo(c, a->msg, true);
	if (!strcmp(a->cmd, "dump"))
		return do_dump(c, a->count, true);
	if (!strcmp(a->cmd, "bench"))
		return do_bench(c, a->workload, a->iterations,
				a->count ? a->count : GNL_FOOBAR_XMPL_DUMP_COUNT_MAX);
	if (!strcmp(a->cmd, "error"))
		return do_error(c);
	if (!strcmp(a->cmd, "monitor"))
		return do_monitor(c, a->count);
	if (!strcmp(a->cmd, "set-dump-count"))
		return do_set_dump_count(c, a->count);
	return do_stats(c, a->dump);
}

int main(int argc, char **argv)
{
	struct client c = {};
	struct args a = {};
	int ret;

	ret = parse_args(argc, argv, &a);
	if (ret)
		goto out;
	if (!strcmp(a.cmd, "monitor"))
		setvbuf(stdout, NULL, _IOLBF, 0);
	ret = open_socket(&c);
	if (ret)
		goto out;
	ret = resolve_family(&c);
	if (ret)
		goto out;
	ret = run(&c, &a);
out:
	nl_socket_free(c.sk);
	return ret;
}
