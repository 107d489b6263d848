// SPDX-License-Identifier: MIT
/*
 * echo_raw: the smallest complete generic netlink client on raw sockets.
 * It asks nlctrl for the gnl_foobar_xmpl family's id, sends one
 * GNL_FOOBAR_XMPL_CMD_ECHO request carrying GNL_FOOBAR_XMPL_A_MSG, and prints
 * the string the kernel sends back. docs/tutorial.md shows these very bytes.
 *
 * Usage: echo-raw [MESSAGE]
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/genetlink.h>
#include <linux/netlink.h>

#include "gnl_foobar_xmpl.h"

#define BUF_SIZE	8192

/* Starts a request: nlmsghdr, then genlmsghdr. */
static struct nlmsghdr *put_header(char *buf, __u16 type, __u8 cmd, __u8 version)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
	struct genlmsghdr *genl = NLMSG_DATA(nlh);

	memset(buf, 0, NLMSG_HDRLEN + GENL_HDRLEN);
	nlh->nlmsg_len = NLMSG_HDRLEN + GENL_HDRLEN;
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = 1;
	genl->cmd = cmd;
	genl->version = version;
	return nlh;
}

/* Appends a NUL-terminated string attribute, padded to 4 bytes. */
static void put_string(struct nlmsghdr *nlh, __u16 type, const char *s)
{
	struct nlattr *nla = (struct nlattr *)((char *)nlh + NLMSG_ALIGN(nlh->nlmsg_len));
	size_t len = strlen(s) + 1;

	nla->nla_type = type;
	nla->nla_len = NLA_HDRLEN + len;
	memcpy((char *)nla + NLA_HDRLEN, s, len);
	memset((char *)nla + nla->nla_len, 0, NLA_ALIGN(nla->nla_len) - nla->nla_len);
	nlh->nlmsg_len = NLMSG_ALIGN(nlh->nlmsg_len) + NLA_ALIGN(nla->nla_len);
}

/* The payload of attribute `type`, or NULL; each length is checked before use. */
static const struct nlattr *find_attr(const struct nlmsghdr *nlh, __u16 type)
{
	/* The attributes follow the two headers, up to the message's end. */
	const char *start = (const char *)NLMSG_DATA(nlh) + GENL_HDRLEN;
	const struct nlattr *nla = (const struct nlattr *)start;
	const char *end = (const char *)nlh + nlh->nlmsg_len;

	while ((const char *)nla + NLA_HDRLEN <= end &&
	       nla->nla_len >= NLA_HDRLEN &&
	       (const char *)nla + nla->nla_len <= end) {
		if ((nla->nla_type & NLA_TYPE_MASK) == type)
			return nla;
		nla = (const struct nlattr *)((const char *)nla + NLA_ALIGN(nla->nla_len));
	}
	return NULL;
}

/*
 * Sends the request in `buf` and receives its answer into `buf`. Returns the
 * answer's length, or -1 after printing why (an NLMSG_ERROR, for one).
 */
static int transact(int fd, char *buf)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
	__u32 seq = nlh->nlmsg_seq;
	ssize_t n;

	if (send(fd, buf, nlh->nlmsg_len, 0) < 0) {
		perror("send");
		return -1;
	}
	n = recv(fd, buf, BUF_SIZE, 0);
	if (n < 0) {
		perror("recv");
		return -1;
	}
	if (!NLMSG_OK(nlh, (size_t)n) || nlh->nlmsg_seq != seq) {
		fprintf(stderr, "malformed or unexpected answer\n");
		return -1;
	}
	if (nlh->nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *err = NLMSG_DATA(nlh);

		if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*err))) {
			fprintf(stderr, "truncated NLMSG_ERROR\n");
			return -1;
		}
		fprintf(stderr, "kernel: %s\n", strerror(-err->error));
		return -1;
	}
	return nlh->nlmsg_len;
}

/* Asks nlctrl for the family's id (CTRL_CMD_GETFAMILY by name). */
static int resolve(int fd, char *buf)
{
	struct nlmsghdr *nlh = put_header(buf, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1);
	const struct nlattr *id;

	put_string(nlh, CTRL_ATTR_FAMILY_NAME, GNL_FOOBAR_XMPL_FAMILY_NAME);
	if (transact(fd, buf) < 0) {
		fprintf(stderr, "no family %s (is the module loaded?)\n",
			GNL_FOOBAR_XMPL_FAMILY_NAME);
		return -1;
	}
	if (nlh->nlmsg_type != GENL_ID_CTRL ||
	    nlh->nlmsg_len < NLMSG_LENGTH(GENL_HDRLEN)) {
		fprintf(stderr, "nlctrl sent something else\n");
		return -1;
	}
	id = find_attr(nlh, CTRL_ATTR_FAMILY_ID);
	if (!id || id->nla_len != NLA_HDRLEN + sizeof(__u16)) {
		fprintf(stderr, "nlctrl's answer has no family id\n");
		return -1;
	}
	return *(const __u16 *)((const char *)id + NLA_HDRLEN);
}

int main(int argc, char **argv)
{
	static char buf[BUF_SIZE];
	const char *msg = argc > 1 ? argv[1] : "hello";
	struct sockaddr_nl addr = { .nl_family = AF_NETLINK };
	const struct nlattr *reply;
	struct nlmsghdr *nlh;
	int fd, family, ret = 1;

	if (strlen(msg) > GNL_FOOBAR_XMPL_MSG_MAX_LEN) {
		fprintf(stderr, "the message is too long\n");
		return 2;
	}
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		perror("socket");
		return 1;
	}
	family = resolve(fd, buf);
	if (family < 0)
		goto out;

	nlh = put_header(buf, family, GNL_FOOBAR_XMPL_CMD_ECHO,
			 GNL_FOOBAR_XMPL_FAMILY_VERSION);
	put_string(nlh, GNL_FOOBAR_XMPL_A_MSG, msg);
	if (transact(fd, buf) < 0)
		goto out;
	if (nlh->nlmsg_type != family ||
	    nlh->nlmsg_len < NLMSG_LENGTH(GENL_HDRLEN) ||
	    ((struct genlmsghdr *)NLMSG_DATA(nlh))->cmd != GNL_FOOBAR_XMPL_CMD_ECHO) {
		fprintf(stderr, "the reply is not an echo of our family\n");
		goto out;
	}
	reply = find_attr(nlh, GNL_FOOBAR_XMPL_A_MSG);
	if (!reply || reply->nla_len <= NLA_HDRLEN ||
	    ((const char *)reply)[reply->nla_len - 1] != '\0') {
		fprintf(stderr, "the reply carries no string\n");
		goto out;
	}
	printf("received: %s\n", (const char *)reply + NLA_HDRLEN);
	ret = 0;
out:
	close(fd);
	return ret;
}
