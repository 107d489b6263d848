/* SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause) */
/* Do not edit directly, auto-generated from: */
/*	kmod/gnl_foobar_xmpl.yaml */
/* YNL-GEN kernel header */

#ifndef _LINUX_GNL_FOOBAR_XMPL_GEN_H
#define _LINUX_GNL_FOOBAR_XMPL_GEN_H

#include <net/netlink.h>
#include <net/genetlink.h>

#include <uapi/linux/gnl_foobar_xmpl.h>

/* Ops table for gnl_foobar_xmpl */
extern const struct genl_split_ops gnl_foobar_xmpl_nl_ops[6];

int gnl_foobar_xmpl_nl_echo_start(struct netlink_callback *cb);
int gnl_foobar_xmpl_nl_echo_done(struct netlink_callback *cb);

int gnl_foobar_xmpl_nl_echo_doit(struct sk_buff *skb, struct genl_info *info);
int gnl_foobar_xmpl_nl_echo_dumpit(struct sk_buff *skb,
				   struct netlink_callback *cb);
int gnl_foobar_xmpl_nl_reply_with_nlmsg_err_doit(struct sk_buff *skb,
						 struct genl_info *info);
int gnl_foobar_xmpl_nl_set_dump_count_doit(struct sk_buff *skb,
					   struct genl_info *info);
int gnl_foobar_xmpl_nl_get_stats_doit(struct sk_buff *skb,
				      struct genl_info *info);
int gnl_foobar_xmpl_nl_get_stats_dumpit(struct sk_buff *skb,
					struct netlink_callback *cb);

enum {
	GNL_FOOBAR_XMPL_NLGRP_EVENTS,
};

#endif /* _LINUX_GNL_FOOBAR_XMPL_GEN_H */
