// SPDX-License-Identifier: ((GPL-2.0 WITH Linux-syscall-note) OR BSD-3-Clause)
/* Do not edit directly, auto-generated from: */
/*	kmod/gnl_foobar_xmpl.yaml */
/* YNL-GEN kernel source */

#include <net/netlink.h>
#include <net/genetlink.h>

#include "gnl_foobar_xmpl_nl_gen.h"

#include <uapi/linux/gnl_foobar_xmpl.h>

/* Integer value ranges */
static const struct netlink_range_validation gnl_foobar_xmpl_a_count_range = {
	.min	= GNL_FOOBAR_XMPL_DUMP_COUNT_MIN,
	.max	= GNL_FOOBAR_XMPL_DUMP_COUNT_MAX,
};

/* GNL_FOOBAR_XMPL_CMD_ECHO - do */
static const struct nla_policy gnl_foobar_xmpl_echo_do_nl_policy[GNL_FOOBAR_XMPL_A_COUNT + 1] = {
	[GNL_FOOBAR_XMPL_A_MSG] = { .type = NLA_NUL_STRING, .len = GNL_FOOBAR_XMPL_MSG_MAX_LEN, },
	[GNL_FOOBAR_XMPL_A_COUNT] = NLA_POLICY_FULL_RANGE(NLA_U32, &gnl_foobar_xmpl_a_count_range),
};

/* GNL_FOOBAR_XMPL_CMD_ECHO - dump */
static const struct nla_policy gnl_foobar_xmpl_echo_dump_nl_policy[GNL_FOOBAR_XMPL_A_COUNT + 1] = {
	[GNL_FOOBAR_XMPL_A_MSG] = { .type = NLA_NUL_STRING, .len = GNL_FOOBAR_XMPL_MSG_MAX_LEN, },
	[GNL_FOOBAR_XMPL_A_COUNT] = NLA_POLICY_FULL_RANGE(NLA_U32, &gnl_foobar_xmpl_a_count_range),
};

/* GNL_FOOBAR_XMPL_CMD_REPLY_WITH_NLMSG_ERR - do */
static const struct nla_policy gnl_foobar_xmpl_reply_with_nlmsg_err_nl_policy[GNL_FOOBAR_XMPL_A_MSG + 1] = {
	[GNL_FOOBAR_XMPL_A_MSG] = { .type = NLA_NUL_STRING, .len = GNL_FOOBAR_XMPL_MSG_MAX_LEN, },
};

/* GNL_FOOBAR_XMPL_CMD_SET_DUMP_COUNT - do */
static const struct nla_policy gnl_foobar_xmpl_set_dump_count_nl_policy[GNL_FOOBAR_XMPL_A_COUNT + 1] = {
	[GNL_FOOBAR_XMPL_A_COUNT] = NLA_POLICY_FULL_RANGE(NLA_U32, &gnl_foobar_xmpl_a_count_range),
};

/* Ops table for gnl_foobar_xmpl */
const struct genl_split_ops gnl_foobar_xmpl_nl_ops[6] = {
	{
		.cmd		= GNL_FOOBAR_XMPL_CMD_ECHO,
		.doit		= gnl_foobar_xmpl_nl_echo_doit,
		.policy		= gnl_foobar_xmpl_echo_do_nl_policy,
		.maxattr	= GNL_FOOBAR_XMPL_A_COUNT,
		.flags		= GENL_CMD_CAP_DO,
	},
	{
		.cmd		= GNL_FOOBAR_XMPL_CMD_ECHO,
		.start		= gnl_foobar_xmpl_nl_echo_start,
		.dumpit		= gnl_foobar_xmpl_nl_echo_dumpit,
		.done		= gnl_foobar_xmpl_nl_echo_done,
		.policy		= gnl_foobar_xmpl_echo_dump_nl_policy,
		.maxattr	= GNL_FOOBAR_XMPL_A_COUNT,
		.flags		= GENL_CMD_CAP_DUMP,
	},
	{
		.cmd		= GNL_FOOBAR_XMPL_CMD_REPLY_WITH_NLMSG_ERR,
		.doit		= gnl_foobar_xmpl_nl_reply_with_nlmsg_err_doit,
		.policy		= gnl_foobar_xmpl_reply_with_nlmsg_err_nl_policy,
		.maxattr	= GNL_FOOBAR_XMPL_A_MSG,
		.flags		= GENL_CMD_CAP_DO,
	},
	{
		.cmd		= GNL_FOOBAR_XMPL_CMD_SET_DUMP_COUNT,
		.doit		= gnl_foobar_xmpl_nl_set_dump_count_doit,
		.policy		= gnl_foobar_xmpl_set_dump_count_nl_policy,
		.maxattr	= GNL_FOOBAR_XMPL_A_COUNT,
		.flags		= GENL_UNS_ADMIN_PERM | GENL_CMD_CAP_DO,
	},
	{
		.cmd	= GNL_FOOBAR_XMPL_CMD_GET_STATS,
		.doit	= gnl_foobar_xmpl_nl_get_stats_doit,
		.flags	= GENL_CMD_CAP_DO,
	},
	{
		.cmd	= GNL_FOOBAR_XMPL_CMD_GET_STATS,
		.dumpit	= gnl_foobar_xmpl_nl_get_stats_dumpit,
		.flags	= GENL_CMD_CAP_DUMP,
	},
};

static const struct genl_multicast_group gnl_foobar_xmpl_nl_mcgrps[] = {
	[GNL_FOOBAR_XMPL_NLGRP_EVENTS] = { "events", },
};
