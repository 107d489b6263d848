/* SPDX-License-Identifier: MIT */
/*
 * gnl-libnl's requests: one request in flight, the callbacks libnl calls for
 * its answer (with the checks libnl leaves to its users), and the policy every
 * reply of the module is parsed with.
 */
#ifndef LAB_REQUEST_H
#define LAB_REQUEST_H

#include <stdbool.h>

#include <netlink/genl/genl.h>
#include <netlink/netlink.h>

#include "gnl_cli.h"

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

/* A reply's attributes in @tb, each checked against the policy. */
int parse_reply(struct nlmsghdr *nlh, struct nlattr **tb);
/* Every attribute checked against the policy, where a table cannot hold them (repeats). */
int validate_reply(struct nlmsghdr *nlh);
/* What a policy cannot say: that an attribute must be there. */
int require(struct nlattr **tb, int type);
/* Stops libnl's reading loop with @ret, the error line printed. */
int fail(struct request *req, int ret);
/* A request of our family, genl header version 1; NULL (reported) if out of memory. */
struct nl_msg *new_request(struct client *c, int flags, __u8 cmd);
/*
 * Sends @msg and reads its answer into @req; a refusal from the kernel is
 * left in @req->ke with EXIT_OK.
 */
int transact(struct client *c, struct nl_msg *msg, struct request *req);
/* transact(), a refusal turned into its error line. */
int run_request(struct client *c, struct nl_msg *msg, struct request *req);

#endif /* LAB_REQUEST_H */
