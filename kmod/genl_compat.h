/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The generic netlink API that gnl_foobar_xmpl.c and the code generated from
 * the spec (gnl_foobar_xmpl_nl_gen.[ch], written for the newest kernels) use,
 * on the older kernels the lab builds for (5.10 and 6.1). Each block names
 * the kernel that brought the API it stands in for.
 */
#ifndef _GENL_COMPAT_H
#define _GENL_COMPAT_H

#include <linux/netlink.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/version.h>
#include <net/genetlink.h>
#include <net/netlink.h>

/* 6.0: the required-attribute check with its extack report; 5.10 has neither. */
#ifndef GENL_REQ_ATTR_CHECK
#define GENL_REQ_ATTR_CHECK(info, attr)	(!(info)->attrs[(attr)])
#endif

/* 6.0: the build-time check that a dump's state fits in cb->ctx. */
#ifndef NL_ASSERT_DUMP_CTX_FITS
#define NL_ASSERT_DUMP_CTX_FITS(type_name)				\
	BUILD_BUG_ON(sizeof(type_name) >				\
		     sizeof_field(struct netlink_callback, ctx))
#endif

/*
 * 6.4: the policy's range pointer became const, as the generated ranges are.
 * Before, the kernel only read through it all the same.
 */
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 4, 0)
#undef NLA_POLICY_FULL_RANGE
#define NLA_POLICY_FULL_RANGE(tp, _range) {				\
	.type = NLA_ENSURE_UINT_OR_BINARY_TYPE(tp),			\
	.validation_type = NLA_VALIDATE_RANGE_PTR,			\
	.range = (struct netlink_range_validation *)(_range),		\
}
#endif

/* 6.6: a dump's genl_info, with the request's attributes. */
static inline struct nlattr **genl_compat_dump_attrs(struct netlink_callback *cb)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 6, 0)
	return genl_info_dump(cb)->attrs;
#else
	return genl_dumpit_info(cb)->attrs;
#endif
}

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 2, 0)

/* Registers @family with the generated split ops. */
static inline int genl_compat_register_family(struct genl_family *family,
					      const struct genl_split_ops *ops,
					      unsigned int n_ops)
{
	family->split_ops = ops;
	family->n_split_ops = n_ops;
	return genl_register_family(family);
}

static inline void genl_compat_unregister_family(struct genl_family *family)
{
	genl_unregister_family(family);
}

#else

/*
 * 6.2: split ops, one entry per command and do or dump, each with its own
 * policy. Before, one struct genl_ops per command holds both, with one
 * policy. It has every field the generated table sets (cmd, doit, start,
 * dumpit, done, policy, maxattr, flags), so the table is built as genl_ops,
 * and genl_compat_register_family() folds it into one entry per command.
 * A command whose do and dump take different attributes cannot be folded:
 * registration fails and says so (cargo lab checks the spec for that first).
 */
#define genl_split_ops genl_ops

/* What 6.1 and later give an op without a policy: reject every attribute. */
static const struct nla_policy genl_compat_reject_all[] = {
	{ .type = NLA_REJECT },
	{ .type = NLA_REJECT },
};

static inline bool genl_compat_same_policy(const struct genl_ops *a,
					   const struct genl_ops *b)
{
	if (!a->policy || !b->policy)
		return a->policy == b->policy;
	/* Static const tables: their padding is zero, so bytes compare. */
	return a->maxattr == b->maxattr &&
	       !memcmp(a->policy, b->policy,
		       (a->maxattr + 1) * sizeof(*a->policy));
}

static inline struct genl_ops *genl_compat_op(struct genl_ops *ops,
					      unsigned int *n, u8 cmd)
{
	unsigned int i;

	for (i = 0; i < *n; i++)
		if (ops[i].cmd == cmd)
			return &ops[i];
	return &ops[(*n)++];
}

static inline int genl_compat_register_family(struct genl_family *family,
					      const struct genl_ops *split,
					      unsigned int n_split)
{
	const unsigned int caps = GENL_CMD_CAP_DO | GENL_CMD_CAP_DUMP;
	struct genl_ops *ops, *op;
	unsigned int i, n = 0;
	int err;

	ops = kcalloc(n_split, sizeof(*ops), GFP_KERNEL);
	if (!ops)
		return -ENOMEM;

	for (i = 0; i < n_split; i++) {
		const struct genl_ops *one = &split[i];

		op = genl_compat_op(ops, &n, one->cmd);
		if ((op->doit || op->dumpit) &&
		    !genl_compat_same_policy(op, one)) {
			pr_err("command %u: do and dump take different attributes, which kernels before 6.2 cannot tell apart\n",
			       one->cmd);
			err = -EINVAL;
			goto err_free_ops;
		}
		op->cmd = one->cmd;
		op->flags |= one->flags & ~caps;
		op->validate |= one->validate;
		op->policy = one->policy;
		op->maxattr = one->maxattr;
		if (one->flags & GENL_CMD_CAP_DO) {
			op->doit = one->doit;
		} else {
			op->start = one->start;
			op->dumpit = one->dumpit;
			op->done = one->done;
		}
	}
	for (i = 0; i < n; i++) {
		if (!ops[i].policy) {
			ops[i].policy = genl_compat_reject_all;
			ops[i].maxattr = ARRAY_SIZE(genl_compat_reject_all) - 1;
		}
	}

	family->ops = ops;
	family->n_ops = n;
	err = genl_register_family(family);
	if (err)
		goto err_free_ops;
	return 0;

err_free_ops:
	kfree(ops);
	return err;
}

static inline void genl_compat_unregister_family(struct genl_family *family)
{
	genl_unregister_family(family);
	kfree(family->ops);
}

#endif

#endif /* _GENL_COMPAT_H */
