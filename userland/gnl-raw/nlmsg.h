/* SPDX-License-Identifier: MIT */
/*
 * gnl-raw's netlink messages by hand, as libmnl's helpers make them: a
 * request's headers and attributes, walking and checking a reply's
 * attributes, the kernel's errors and acknowledgments, and one datagram read
 * from the kernel. Every check fails with INTERFACE.md's DETAIL text.
 */
#ifndef LAB_NLMSG_H
#define LAB_NLMSG_H

#include <stdbool.h>
#include <stddef.h>

#include <linux/netlink.h>

#include "gnl_cli.h"

/* A request of genl command @cmd to family @type. */
void msg_init(struct nlmsghdr *nlh, __u16 type, __u16 flags, __u8 cmd);
void put_attr(struct nlmsghdr *nlh, size_t cap, __u16 type, const void *data,
	      size_t len);

struct nlattr *genl_attrs(const struct nlmsghdr *nlh, int *len);
bool nla_ok(const struct nlattr *nla, int rem);
struct nlattr *nla_next(const struct nlattr *nla, int *rem);
#define nla_for_each(pos, head, len, rem) \
	for (pos = (head), rem = (len); nla_ok(pos, rem); \
	     pos = nla_next(pos, &(rem)))
void *nla_data(const struct nlattr *nla);
int nla_payload(const struct nlattr *nla);
int nla_type(const struct nlattr *nla);
__u32 nla_u32(const struct nlattr *nla);
__u64 nla_u64(const struct nlattr *nla);
/* @tb[type] for each attribute up to @max; the last one wins, as in nla_parse(). */
void parse_attrs(struct nlattr *head, int len, struct nlattr **tb, int max);
/* Present and a NUL-terminated string, @name in the error line. */
int check_str(const struct nlattr *nla, const char *name);
/* Present and of @size bytes. */
int check_size(const struct nlattr *nla, const char *name, int size);

/* NLMSG_ERROR: 0 is an acknowledgment, anything else a refusal (in @ke). */
int parse_error(const struct nlmsghdr *nlh, struct kerr *ke);
/* NLMSG_DONE: the dump's final status (in @ke). */
int parse_done(const struct nlmsghdr *nlh, struct kerr *ke);
/* Long enough for a genl header, and of command @cmd. */
int check_genl(const struct nlmsghdr *nlh, __u8 cmd);
/* One datagram from the kernel into @buf, its length in @len. */
int recv_datagram(int fd, void *buf, size_t size, int *len);

#endif /* LAB_NLMSG_H */
