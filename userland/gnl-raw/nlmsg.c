// SPDX-License-Identifier: MIT
/* gnl-raw's netlink messages by hand, see nlmsg.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/genetlink.h>

#include "gnl_foobar_xmpl.h"
#include "nlmsg.h"

/* ---- building requests ---- */

void msg_init(struct nlmsghdr *nlh, __u16 type, __u16 flags, __u8 cmd)
{
	struct genlmsghdr *genl = NLMSG_DATA(nlh);

	memset(nlh, 0, NLMSG_HDRLEN + GENL_HDRLEN);
	nlh->nlmsg_len = NLMSG_HDRLEN + GENL_HDRLEN;
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	genl->cmd = cmd;
	genl->version = GNL_FOOBAR_XMPL_FAMILY_VERSION;
}

/* Appends one attribute; the caller sized the buffer, so running out is a bug. */
void put_attr(struct nlmsghdr *nlh, size_t cap, __u16 type, const void *data,
	      size_t len)
{
	struct nlattr *nla = (struct nlattr *)((char *)nlh +
					       NLMSG_ALIGN(nlh->nlmsg_len));
	size_t total = NLMSG_ALIGN(nlh->nlmsg_len) + NLA_ALIGN(NLA_HDRLEN + len);

	if (total > cap) {
		fprintf(stderr, "error: request does not fit in %zu bytes\n", cap);
		abort();
	}
	nla->nla_type = type;
	nla->nla_len = NLA_HDRLEN + len;
	memcpy((char *)nla + NLA_HDRLEN, data, len);
	memset((char *)nla + nla->nla_len, 0, NLA_ALIGN(nla->nla_len) - nla->nla_len);
	nlh->nlmsg_len = total;
}

/* ---- reading replies ---- */

/* Attributes of a message start after the genl header. */
struct nlattr *genl_attrs(const struct nlmsghdr *nlh, int *len)
{
	*len = nlh->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN;
	return (struct nlattr *)((char *)NLMSG_DATA(nlh) + GENL_HDRLEN);
}

bool nla_ok(const struct nlattr *nla, int rem)
{
	return rem >= (int)sizeof(*nla) && nla->nla_len >= sizeof(*nla) &&
	       nla->nla_len <= rem;
}

struct nlattr *nla_next(const struct nlattr *nla, int *rem)
{
	int len = NLA_ALIGN(nla->nla_len);

	*rem -= len;
	return (struct nlattr *)((char *)nla + len);
}

void *nla_data(const struct nlattr *nla)
{
	return (char *)nla + NLA_HDRLEN;
}

int nla_payload(const struct nlattr *nla)
{
	return nla->nla_len - NLA_HDRLEN;
}

int nla_type(const struct nlattr *nla)
{
	return nla->nla_type & NLA_TYPE_MASK;
}

/* Last one wins, like the kernel's nla_parse(). */
void parse_attrs(struct nlattr *head, int len, struct nlattr **tb, int max)
{
	struct nlattr *nla;
	int rem;

	memset(tb, 0, sizeof(*tb) * (max + 1));
	nla_for_each(nla, head, len, rem)
		if (nla_type(nla) <= max)
			tb[nla_type(nla)] = nla;
}

int check_str(const struct nlattr *nla, const char *name)
{
	if (!nla)
		return proto_error("missing attribute %s", name);
	/* Its last byte is the NUL, as libnl's NLA_STRING policy wants. */
	if (nla_payload(nla) < 1 ||
	    ((char *)nla_data(nla))[nla_payload(nla) - 1] != '\0')
		return proto_error("attribute %s is not a NUL-terminated string",
				   name);
	return EXIT_OK;
}

int check_size(const struct nlattr *nla, const char *name, int size)
{
	if (!nla)
		return proto_error("missing attribute %s", name);
	if (nla_payload(nla) != size)
		return proto_error("attribute %s has %d bytes (expected %d)",
				   name, nla_payload(nla), size);
	return EXIT_OK;
}

__u32 nla_u32(const struct nlattr *nla)
{
	__u32 v;

	memcpy(&v, nla_data(nla), sizeof(v));
	return v;
}

__u64 nla_u64(const struct nlattr *nla)
{
	__u64 v;

	memcpy(&v, nla_data(nla), sizeof(v));
	return v;
}

/*
 * The payload of NLMSG_ERROR (and of NLMSG_DONE from 4.19 on) may be
 * followed by extack attributes. With NETLINK_CAP_ACK the request is not
 * echoed back (NLM_F_CAPPED), so the attributes follow the header.
 */
static void parse_extack(const struct nlmsghdr *nlh, size_t hlen,
			 struct kerr *ke)
{
	struct nlattr *nla;
	int len, rem;

	ke->extack[0] = '\0';
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED) && nlh->nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = NLMSG_DATA(nlh);

		if (e->msg.nlmsg_len < NLMSG_HDRLEN)
			return;
		hlen += e->msg.nlmsg_len - NLMSG_HDRLEN;
	}
	hlen = NLMSG_ALIGN(hlen);
	len = nlh->nlmsg_len - NLMSG_HDRLEN - hlen;
	if (len <= 0)
		return;
	nla_for_each(nla, (struct nlattr *)((char *)NLMSG_DATA(nlh) + hlen),
		     len, rem) {
		if (nla_type(nla) == NLMSGERR_ATTR_MSG && nla_payload(nla) > 0)
			snprintf(ke->extack, sizeof(ke->extack), "%.*s",
				 nla_payload(nla), (char *)nla_data(nla));
	}
}

/* NLMSG_ERROR: 0 is an acknowledgment, anything else a refusal. */
int parse_error(const struct nlmsghdr *nlh, struct kerr *ke)
{
	const struct nlmsgerr *e = NLMSG_DATA(nlh);

	if (nlh->nlmsg_len < NLMSG_SPACE(sizeof(*e)))
		return proto_error("message too short (%u bytes)",
				   nlh->nlmsg_len);
	ke->err = -e->error;
	parse_extack(nlh, sizeof(*e), ke);
	return EXIT_OK;
}

/* NLMSG_DONE carries the dump's final status, an int. */
int parse_done(const struct nlmsghdr *nlh, struct kerr *ke)
{
	int status = 0;

	if (nlh->nlmsg_len >= NLMSG_SPACE(sizeof(status)))
		memcpy(&status, NLMSG_DATA(nlh), sizeof(status));
	ke->err = -status;
	if (status)
		parse_extack(nlh, sizeof(status), ke);
	return EXIT_OK;
}

int check_genl(const struct nlmsghdr *nlh, __u8 cmd)
{
	const struct genlmsghdr *genl = NLMSG_DATA(nlh);

	if (nlh->nlmsg_len < NLMSG_HDRLEN + GENL_HDRLEN)
		return proto_error("message too short (%u bytes)",
				   nlh->nlmsg_len);
	if (genl->cmd != cmd)
		return proto_error("command %u (expected %u)", genl->cmd, cmd);
	return EXIT_OK;
}

/*
 * One datagram, from the kernel (port id 0): any other process may send
 * to our port. A truncated datagram means a reply would be lost.
 */
int recv_datagram(int fd, void *buf, size_t size, int *len)
{
	struct iovec iov = { .iov_base = buf, .iov_len = size };
	struct sockaddr_nl src = {};
	struct msghdr msg = {
		.msg_name = &src,
		.msg_namelen = sizeof(src),
		.msg_iov = &iov,
		.msg_iovlen = 1,
	};
	ssize_t n;

	do {
		n = recvmsg(fd, &msg, 0);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return sys_error("recv");
	if (msg.msg_flags & MSG_TRUNC)
		return proto_error("datagram truncated (%zu bytes kept)", size);
	if (src.nl_pid != 0)
		return proto_error("sender port id %u (expected 0)", src.nl_pid);
	*len = n;
	return EXIT_OK;
}
