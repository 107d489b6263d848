// SPDX-License-Identifier: MIT
/* gnl-libnl's requests, see request.h. */
#include <errno.h>
#include <string.h>

#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>

#include "gnl_foobar_xmpl.h"
#include "request.h"

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

int parse_reply(struct nlmsghdr *nlh, struct nlattr **tb)
{
	if (genlmsg_parse(nlh, 0, tb, GNL_FOOBAR_XMPL_A_MAX, attr_policy) < 0)
		return policy_error(nlh);
	return EXIT_OK;
}

int validate_reply(struct nlmsghdr *nlh)
{
	if (genlmsg_validate(nlh, 0, GNL_FOOBAR_XMPL_A_MAX, attr_policy) < 0)
		return policy_error(nlh);
	return EXIT_OK;
}

int require(struct nlattr **tb, int type)
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

int fail(struct request *req, int ret)
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
int transact(struct client *c, struct nl_msg *msg, struct request *req)
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
		print_sent(req->sent);
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
struct nl_msg *new_request(struct client *c, int flags, __u8 cmd)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (msg && !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, c->family, 0,
				flags, cmd, GNL_FOOBAR_XMPL_FAMILY_VERSION)) {
		nlmsg_free(msg);
		msg = NULL;
	}
	if (!msg)
		out_of_memory();
	return msg;
}

/* Runs a request of @cmd and turns a refusal into its error line. */
int run_request(struct client *c, struct nl_msg *msg, struct request *req)
{
	int ret;

	ret = transact(c, msg, req);
	if (!ret && req->ke.err)
		ret = kernel_error(&req->ke);
	return ret;
}
