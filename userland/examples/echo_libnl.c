// SPDX-License-Identifier: MIT
/*
 * echo_libnl: the smallest complete generic netlink client on libnl-genl-3.
 * libnl resolves the family's id (genl_ctrl_resolve), builds the headers
 * (genlmsg_put), checks the reply's attributes against a policy
 * (genlmsg_parse) and waits for the kernel's ack (nl_wait_for_ack). The bytes
 * it sends are in docs/tutorial.md (tour:gnl-libnl/echo).
 *
 * Usage: echo-libnl [MESSAGE]
 */
#include <stdio.h>
#include <string.h>

#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>

#include "gnl_foobar_xmpl.h"

/* What a reply may carry: libnl checks it before the callback sees it. */
static struct nla_policy reply_policy[GNL_FOOBAR_XMPL_A_MAX + 1] = {
	[GNL_FOOBAR_XMPL_A_MSG] = { .type = NLA_NUL_STRING,
				    .maxlen = GNL_FOOBAR_XMPL_MSG_MAX_LEN + 1 },
};

/* Called for each valid message of the answer: the echo's reply. */
static int on_reply(struct nl_msg *msg, void *arg)
{
	struct nlattr *attrs[GNL_FOOBAR_XMPL_A_MAX + 1];
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct genlmsghdr *genl;
	int *replies = arg;
	int err;

	if (!genlmsg_valid_hdr(nlh, 0)) {
		fprintf(stderr, "the reply has no generic netlink header\n");
		return NL_STOP;
	}
	genl = genlmsg_hdr(nlh);
	if (genl->cmd != GNL_FOOBAR_XMPL_CMD_ECHO) {
		fprintf(stderr, "the reply is command %u, not an echo\n", genl->cmd);
		return NL_STOP;
	}
	err = genlmsg_parse(nlh, 0, attrs, GNL_FOOBAR_XMPL_A_MAX, reply_policy);
	if (err < 0) {
		fprintf(stderr, "the reply breaks its policy: %s\n", nl_geterror(err));
		return NL_STOP;
	}
	if (!attrs[GNL_FOOBAR_XMPL_A_MSG]) {
		fprintf(stderr, "the reply carries no string\n");
		return NL_STOP;
	}
	printf("received: %s\n", nla_get_string(attrs[GNL_FOOBAR_XMPL_A_MSG]));
	(*replies)++;
	return NL_OK;
}

int main(int argc, char **argv)
{
	const char *text = argc > 1 ? argv[1] : "hello";
	struct nl_sock *sk;
	struct nl_msg *msg = NULL;
	int family, err, replies = 0, ret = 1;

	if (strlen(text) > GNL_FOOBAR_XMPL_MSG_MAX_LEN) {
		fprintf(stderr, "the message is too long\n");
		return 2;
	}
	sk = nl_socket_alloc();
	if (!sk) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	err = genl_connect(sk);
	if (err < 0) {
		fprintf(stderr, "genl_connect: %s\n", nl_geterror(err));
		goto out;
	}
	family = genl_ctrl_resolve(sk, GNL_FOOBAR_XMPL_FAMILY_NAME);
	if (family < 0) {
		fprintf(stderr, "%s: %s (is the module loaded?)\n",
			GNL_FOOBAR_XMPL_FAMILY_NAME, nl_geterror(family));
		goto out;
	}

	msg = nlmsg_alloc();
	if (!msg ||
	    !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, 0,
			 GNL_FOOBAR_XMPL_CMD_ECHO, GNL_FOOBAR_XMPL_FAMILY_VERSION) ||
	    nla_put_string(msg, GNL_FOOBAR_XMPL_A_MSG, text) < 0) {
		fprintf(stderr, "cannot build the request\n");
		goto out;
	}
	err = nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, on_reply, &replies);
	if (err < 0) {
		fprintf(stderr, "nl_socket_modify_cb: %s\n", nl_geterror(err));
		goto out;
	}
	/* libnl adds NLM_F_ACK: the reply comes first, then the ack. */
	err = nl_send_auto(sk, msg);
	if (err >= 0)
		err = nl_wait_for_ack(sk);
	if (err < 0) {
		fprintf(stderr, "kernel: %s\n", nl_geterror(err));
		goto out;
	}
	if (replies != 1) {
		fprintf(stderr, "%d replies instead of one\n", replies);
		goto out;
	}
	ret = 0;
out:
	nlmsg_free(msg);
	nl_socket_free(sk);
	return ret;
}
