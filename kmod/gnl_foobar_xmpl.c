// SPDX-License-Identifier: GPL-2.0
/*
 * gnl_foobar_xmpl: an example generic netlink family.
 *
 * The wire contract is the YNL spec gnl_foobar_xmpl.yaml: the UAPI header
 * (userland/include/gnl_foobar_xmpl.h), the policies, the ops table and the
 * multicast groups (gnl_foobar_xmpl_nl_gen.[ch]) are generated from it by the
 * kernel's ynl-gen-c (cargo lab lint --regenerate); this file holds the
 * handlers the generated header declares, and the family. genl_compat.h lets
 * both build on 5.10 and 6.1. All state lives in
 * the network namespace of the requesting socket. Operations run in parallel
 * (.parallel_ops): counters are atomics and the dump count is a single u32
 * read with READ_ONCE(), so only its writers need a lock.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/error-injection.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/netlink.h>
#include <linux/string.h>
#include <net/genetlink.h>
#include <net/net_namespace.h>
#include <net/netlink.h>
#include <net/netns/generic.h>
#include <net/sock.h>

/* First: the generated header names struct genl_split_ops, new in 6.2. */
#include "genl_compat.h"
#include "gnl_foobar_xmpl_nl_gen.h"

enum xmpl_stat {
	XMPL_STAT_ECHO,
	XMPL_STAT_DUMP,
	XMPL_STAT_DUMP_MESSAGES,
	XMPL_STAT_ERROR,
	XMPL_STAT_SET_DUMP_COUNT,

	XMPL_STAT_COUNT
};

/* Part of the interface: clients print the counters in this order. */
static const char * const xmpl_stat_names[XMPL_STAT_COUNT] = {
	[XMPL_STAT_ECHO]		= "echo",
	[XMPL_STAT_DUMP]		= "dump",
	[XMPL_STAT_DUMP_MESSAGES]	= "dump-messages",
	[XMPL_STAT_ERROR]		= "error",
	[XMPL_STAT_SET_DUMP_COUNT]	= "set-dump-count",
};

struct xmpl_net {
	u32 dump_count;
	atomic64_t stats[XMPL_STAT_COUNT];
};

/* Cursor of both dumps, kept in cb->ctx between dumpit calls. */
struct xmpl_dump_ctx {
	u32 index;	/* next message or counter to send */
	u32 count;	/* echo dump length, fixed by .start */
};

static unsigned int xmpl_net_id __read_mostly;

/*
 * Serializes dump count updates with their events, so that listeners see the
 * values in the order they were stored. Global: updates are rare.
 */
static DEFINE_MUTEX(xmpl_config_lock);

static struct genl_family xmpl_family;

static struct xmpl_net *xmpl_net(const struct net *net)
{
	return net_generic(net, xmpl_net_id);
}

static void xmpl_stat_add(const struct net *net, enum xmpl_stat stat, u32 n)
{
	atomic64_add(n, &xmpl_net(net)->stats[stat]);
}

static struct xmpl_dump_ctx *xmpl_dump_ctx(struct netlink_callback *cb)
{
	NL_ASSERT_DUMP_CTX_FITS(struct xmpl_dump_ctx);

	return (struct xmpl_dump_ctx *)cb->ctx;
}

/* Events are best effort: a request never fails because of them. */
static void xmpl_notify(struct net *net, struct sk_buff *skb, void *hdr)
{
	genlmsg_end(skb, hdr);
	genlmsg_multicast_netns(&xmpl_family, net, skb, 0,
				GNL_FOOBAR_XMPL_NLGRP_EVENTS, GFP_KERNEL);
}

static void xmpl_notify_echo(struct net *net, const char *msg)
{
	struct sk_buff *skb;
	void *hdr;

	if (!genl_has_listeners(&xmpl_family, net,
				GNL_FOOBAR_XMPL_NLGRP_EVENTS))
		return;

	skb = genlmsg_new(nla_total_size(strlen(msg) + 1), GFP_KERNEL);
	if (!skb)
		return;

	hdr = genlmsg_put(skb, 0, 0, &xmpl_family, 0, GNL_FOOBAR_XMPL_CMD_ECHO);
	if (!hdr || nla_put_string(skb, GNL_FOOBAR_XMPL_A_MSG, msg)) {
		nlmsg_free(skb);
		return;
	}
	xmpl_notify(net, skb, hdr);
}

static void xmpl_notify_dump_count(struct net *net, u32 count)
{
	struct sk_buff *skb;
	void *hdr;

	if (!genl_has_listeners(&xmpl_family, net,
				GNL_FOOBAR_XMPL_NLGRP_EVENTS))
		return;

	skb = genlmsg_new(nla_total_size(sizeof(u32)), GFP_KERNEL);
	if (!skb)
		return;

	hdr = genlmsg_put(skb, 0, 0, &xmpl_family, 0,
			  GNL_FOOBAR_XMPL_CMD_SET_DUMP_COUNT);
	if (!hdr || nla_put_u32(skb, GNL_FOOBAR_XMPL_A_COUNT, count)) {
		nlmsg_free(skb);
		return;
	}
	xmpl_notify(net, skb, hdr);
}

int gnl_foobar_xmpl_nl_echo_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct net *net = genl_info_net(info);
	struct sk_buff *rsp;
	const char *msg;
	void *hdr;

	if (GENL_REQ_ATTR_CHECK(info, GNL_FOOBAR_XMPL_A_MSG)) {
		NL_SET_ERR_MSG(info->extack, "message attribute is required");
		return -EINVAL;
	}
	msg = nla_data(info->attrs[GNL_FOOBAR_XMPL_A_MSG]);

	pr_debug("echo from portid %u: \"%s\"\n", info->snd_portid, msg);

	rsp = genlmsg_new(nla_total_size(strlen(msg) + 1), GFP_KERNEL);
	if (!rsp) {
		NL_SET_ERR_MSG(info->extack, "no memory for the reply");
		return -ENOMEM;
	}

	hdr = genlmsg_put_reply(rsp, info, &xmpl_family, 0,
				GNL_FOOBAR_XMPL_CMD_ECHO);
	if (!hdr || nla_put_string(rsp, GNL_FOOBAR_XMPL_A_MSG, msg))
		goto err_free_rsp;
	genlmsg_end(rsp, hdr);

	/* Before the reply, so that a client that has it sees both. */
	xmpl_stat_add(net, XMPL_STAT_ECHO, 1);
	xmpl_notify_echo(net, msg);

	return genlmsg_reply(rsp, info);

err_free_rsp:
	nlmsg_free(rsp);
	NL_SET_ERR_MSG(info->extack, "reply does not fit");
	return -EMSGSIZE;
}

int gnl_foobar_xmpl_nl_echo_start(struct netlink_callback *cb)
{
	struct xmpl_dump_ctx *ctx = xmpl_dump_ctx(cb);
	struct nlattr **attrs = genl_compat_dump_attrs(cb);
	struct net *net = sock_net(cb->skb->sk);

	/* Sampled once: a concurrent update does not change a running dump. */
	if (attrs[GNL_FOOBAR_XMPL_A_COUNT])
		ctx->count = nla_get_u32(attrs[GNL_FOOBAR_XMPL_A_COUNT]);
	else
		ctx->count = READ_ONCE(xmpl_net(net)->dump_count);

	xmpl_stat_add(net, XMPL_STAT_DUMP, 1);
	pr_debug("dump of %u messages to portid %u started\n", ctx->count,
		 NETLINK_CB(cb->skb).portid);
	return 0;
}

static int xmpl_echo_dump_one(struct sk_buff *skb, struct netlink_callback *cb,
			      u32 index, u32 count)
{
	char msg[sizeof("message 4294967295 of 4294967295")];
	void *hdr;

	hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
			  &xmpl_family, NLM_F_MULTI, GNL_FOOBAR_XMPL_CMD_ECHO);
	if (!hdr)
		return -EMSGSIZE;

	snprintf(msg, sizeof(msg), "message %u of %u", index + 1, count);
	if (nla_put_u32(skb, GNL_FOOBAR_XMPL_A_INDEX, index) ||
	    nla_put_string(skb, GNL_FOOBAR_XMPL_A_MSG, msg)) {
		genlmsg_cancel(skb, hdr);
		return -EMSGSIZE;
	}

	genlmsg_end(skb, hdr);
	return 0;
}

int gnl_foobar_xmpl_nl_echo_dumpit(struct sk_buff *skb,
				   struct netlink_callback *cb)
{
	struct xmpl_dump_ctx *ctx = xmpl_dump_ctx(cb);
	u32 first = ctx->index;
	int err = 0;

	for (; ctx->index < ctx->count; ctx->index++) {
		err = xmpl_echo_dump_one(skb, cb, ctx->index, ctx->count);
		if (err)
			break;
	}
	xmpl_stat_add(sock_net(skb->sk), XMPL_STAT_DUMP_MESSAGES,
		      ctx->index - first);

	/* A full skb goes out and we are called again; 0 ends the dump. */
	if (err)
		return skb->len ?: err;
	return 0;
}

int gnl_foobar_xmpl_nl_echo_done(struct netlink_callback *cb)
{
	struct xmpl_dump_ctx *ctx = xmpl_dump_ctx(cb);
	u32 portid = NETLINK_CB(cb->skb).portid;

	if (ctx->index < ctx->count)
		pr_debug("dump of %u messages to portid %u aborted after %u\n",
			 ctx->count, portid, ctx->index);
	else
		pr_debug("dump of %u messages to portid %u done\n", ctx->count,
			 portid);
	return 0;
}

int gnl_foobar_xmpl_nl_reply_with_nlmsg_err_doit(struct sk_buff *skb,
						 struct genl_info *info)
{
	pr_debug("error requested by portid %u\n", info->snd_portid);
	xmpl_stat_add(genl_info_net(info), XMPL_STAT_ERROR, 1);

	NL_SET_ERR_MSG(info->extack, "this command always fails");
	return -EINVAL;
}

int gnl_foobar_xmpl_nl_set_dump_count_doit(struct sk_buff *skb,
					   struct genl_info *info)
{
	struct net *net = genl_info_net(info);
	u32 count;

	if (GENL_REQ_ATTR_CHECK(info, GNL_FOOBAR_XMPL_A_COUNT)) {
		NL_SET_ERR_MSG(info->extack, "count attribute is required");
		return -EINVAL;
	}
	count = nla_get_u32(info->attrs[GNL_FOOBAR_XMPL_A_COUNT]);

	mutex_lock(&xmpl_config_lock);
	WRITE_ONCE(xmpl_net(net)->dump_count, count);
	xmpl_stat_add(net, XMPL_STAT_SET_DUMP_COUNT, 1);
	pr_debug("set dump count to %u\n", count);
	xmpl_notify_dump_count(net, count);
	mutex_unlock(&xmpl_config_lock);

	return 0;
}

static int xmpl_put_stat(struct sk_buff *skb, const struct net *net,
			 enum xmpl_stat stat)
{
	u64 value = atomic64_read(&xmpl_net(net)->stats[stat]);

	if (nla_put_string(skb, GNL_FOOBAR_XMPL_A_STAT_NAME,
			   xmpl_stat_names[stat]) ||
	    nla_put_u64_64bit(skb, GNL_FOOBAR_XMPL_A_STAT_VALUE, value,
			      GNL_FOOBAR_XMPL_A_PAD))
		return -EMSGSIZE;
	return 0;
}

static size_t xmpl_stats_size(void)
{
	size_t size = 0;
	int i;

	for (i = 0; i < XMPL_STAT_COUNT; i++)
		size += nla_total_size(strlen(xmpl_stat_names[i]) + 1) +
			nla_total_size_64bit(sizeof(u64));
	return size;
}

int gnl_foobar_xmpl_nl_get_stats_doit(struct sk_buff *skb,
				      struct genl_info *info)
{
	struct net *net = genl_info_net(info);
	struct sk_buff *rsp;
	void *hdr;
	int i;

	pr_debug("stats to portid %u\n", info->snd_portid);

	rsp = genlmsg_new(xmpl_stats_size(), GFP_KERNEL);
	if (!rsp) {
		NL_SET_ERR_MSG(info->extack, "no memory for the reply");
		return -ENOMEM;
	}

	hdr = genlmsg_put_reply(rsp, info, &xmpl_family, 0,
				GNL_FOOBAR_XMPL_CMD_GET_STATS);
	if (!hdr)
		goto err_free_rsp;

	for (i = 0; i < XMPL_STAT_COUNT; i++)
		if (xmpl_put_stat(rsp, net, i))
			goto err_free_rsp;

	genlmsg_end(rsp, hdr);
	return genlmsg_reply(rsp, info);

err_free_rsp:
	nlmsg_free(rsp);
	NL_SET_ERR_MSG(info->extack, "reply does not fit");
	return -EMSGSIZE;
}

int gnl_foobar_xmpl_nl_get_stats_dumpit(struct sk_buff *skb,
					struct netlink_callback *cb)
{
	struct xmpl_dump_ctx *ctx = xmpl_dump_ctx(cb);
	struct net *net = sock_net(skb->sk);
	void *hdr;

	if (!ctx->index)
		pr_debug("stats dump to portid %u\n",
			 NETLINK_CB(cb->skb).portid);

	for (; ctx->index < XMPL_STAT_COUNT; ctx->index++) {
		hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid,
				  cb->nlh->nlmsg_seq, &xmpl_family,
				  NLM_F_MULTI, GNL_FOOBAR_XMPL_CMD_GET_STATS);
		if (!hdr)
			return skb->len ?: -EMSGSIZE;

		if (xmpl_put_stat(skb, net, ctx->index)) {
			genlmsg_cancel(skb, hdr);
			return skb->len ?: -EMSGSIZE;
		}
		genlmsg_end(skb, hdr);
	}
	return 0;
}

/*
 * The generated policies, ops table and multicast groups: compiled here, not
 * on their own, as the generator makes the groups static and leaves the
 * struct genl_family of a genetlink-legacy family to us.
 */
#include "gnl_foobar_xmpl_nl_gen.c"

/*
 * .resv_start_op (6.1+) stays 0, as for any new family: every command gets
 * the reserved header field checked and no op may relax validation.
 */
static struct genl_family xmpl_family __ro_after_init = {
	.name		= GNL_FOOBAR_XMPL_FAMILY_NAME,
	.version	= GNL_FOOBAR_XMPL_FAMILY_VERSION,
	.netnsok	= true,
	.parallel_ops	= true,
	.module		= THIS_MODULE,
	.mcgrps		= gnl_foobar_xmpl_nl_mcgrps,
	.n_mcgrps	= ARRAY_SIZE(gnl_foobar_xmpl_nl_mcgrps),
};

/* Error injection (fail_function) lets the lab test a namespace that cannot be made. */
static int __net_init xmpl_net_init(struct net *net)
{
	/* The counters start zeroed: the core allocates with kzalloc(). */
	xmpl_net(net)->dump_count = GNL_FOOBAR_XMPL_DUMP_COUNT_DEFAULT;
	return 0;
}

ALLOW_ERROR_INJECTION(xmpl_net_init, ERRNO);

static struct pernet_operations xmpl_net_ops = {
	.init	= xmpl_net_init,
	.id	= &xmpl_net_id,
	.size	= sizeof(struct xmpl_net),
};

static int __init xmpl_init(void)
{
	int err;

	err = register_pernet_subsys(&xmpl_net_ops);
	if (err)
		return err;

	/* Last: requests arrive as soon as the family is visible. */
	err = genl_compat_register_family(&xmpl_family, gnl_foobar_xmpl_nl_ops,
					  ARRAY_SIZE(gnl_foobar_xmpl_nl_ops));
	if (err)
		goto err_unregister_pernet;

	pr_info("registered family %s version %u\n", xmpl_family.name,
		xmpl_family.version);
	return 0;

err_unregister_pernet:
	unregister_pernet_subsys(&xmpl_net_ops);
	return err;
}

static void __exit xmpl_exit(void)
{
	/*
	 * First: this waits for running operations, and running dumps hold a
	 * module reference, so nothing uses the pernet state once it is gone.
	 */
	genl_compat_unregister_family(&xmpl_family);
	unregister_pernet_subsys(&xmpl_net_ops);

	pr_info("unregistered family %s\n", GNL_FOOBAR_XMPL_FAMILY_NAME);
}

module_init(xmpl_init);
module_exit(xmpl_exit);

MODULE_DESCRIPTION("Example generic netlink family");
MODULE_LICENSE("GPL");
MODULE_ALIAS_GENL_FAMILY(GNL_FOOBAR_XMPL_FAMILY_NAME);
