// SPDX-License-Identifier: GPL-2.0
/*
 * nl_foobar_xmpl: a classic netlink protocol of its own, created with
 * netlink_kernel_create() in the initial network namespace. It echoes a
 * NUL-terminated string back to the sender's port. Contract:
 * userland/include/nl_foobar_xmpl.h.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/net.h>
#include <linux/netlink.h>
#include <linux/skbuff.h>
#include <linux/string.h>
#include <linux/stringify.h>
#include <net/net_namespace.h>
#include <net/netlink.h>
#include <net/sock.h>

#include <nl_foobar_xmpl.h>

static struct sock *nl_foobar_xmpl_sk;

static int nl_foobar_xmpl_echo(struct sk_buff *skb, const struct nlmsghdr *nlh,
			       struct netlink_ext_ack *extack)
{
	u32 portid = NETLINK_CB(skb).portid;
	const char *msg = nlmsg_data(nlh);
	int len = nlmsg_len(nlh);
	struct nlmsghdr *rep;
	struct sk_buff *out;

	/* nlmsg_len was checked against the datagram by the caller. */
	if (len < 1) {
		NL_SET_ERR_MSG(extack, "missing message string");
		return -EINVAL;
	}
	if (len > NL_FOOBAR_XMPL_MSG_MAX_LEN + 1) {
		NL_SET_ERR_MSG(extack, "message string longer than "
			       __stringify(NL_FOOBAR_XMPL_MSG_MAX_LEN) " bytes");
		return -EMSGSIZE;
	}
	if (strnlen(msg, len) != len - 1) {
		NL_SET_ERR_MSG(extack,
			       "payload must be one NUL-terminated string");
		return -EINVAL;
	}

	out = nlmsg_new(len, GFP_KERNEL);
	if (!out)
		return -ENOMEM;
	rep = nlmsg_put(out, portid, nlh->nlmsg_seq, NL_FOOBAR_XMPL_MSG_ECHO,
			len, 0);
	if (!rep) {
		nlmsg_free(out);
		return -EMSGSIZE;
	}
	/* No nlmsg_end(): it would count the padding, nlmsg_len is exact. */
	memcpy(nlmsg_data(rep), msg, len);

	pr_debug("echo to port %u seq %u: %s\n", portid, nlh->nlmsg_seq, msg);

	/* Consumes out; fails if the receiver's buffer is full. */
	return nlmsg_unicast(nl_foobar_xmpl_sk, out, portid);
}

static int nl_foobar_xmpl_rcv_msg(struct sk_buff *skb, struct nlmsghdr *nlh,
				  struct netlink_ext_ack *extack)
{
	int err;

	switch (nlh->nlmsg_type) {
	case NL_FOOBAR_XMPL_MSG_ECHO:
		err = nl_foobar_xmpl_echo(skb, nlh, extack);
		break;
	default:
		NL_SET_ERR_MSG(extack, "unknown message type");
		err = -EOPNOTSUPP;
		break;
	}
	if (err)
		pr_debug("type %u from port %u seq %u rejected: %d\n",
			 nlh->nlmsg_type, NETLINK_CB(skb).portid,
			 nlh->nlmsg_seq, err);
	return err;
}

/*
 * Length of the well-framed messages at the start of skb. netlink_rcv_skb()
 * silently drops whatever follows them; we answer it instead.
 */
static unsigned int nl_foobar_xmpl_framed_len(const struct sk_buff *skb)
{
	unsigned int off = 0;

	while (skb->len - off >= NLMSG_HDRLEN) {
		const struct nlmsghdr *nlh = (void *)(skb->data + off);

		if (nlh->nlmsg_len < NLMSG_HDRLEN ||
		    nlh->nlmsg_len > skb->len - off)
			break;
		off += min_t(unsigned int, NLMSG_ALIGN(nlh->nlmsg_len),
			     skb->len - off);
	}
	return off;
}

/*
 * Answer a broken header with -EINVAL. netlink_ack() would copy nlmsg_len
 * bytes of the request into the error, so it gets a copy of the header (as
 * much of it as arrived) whose length covers the header only.
 */
static void nl_foobar_xmpl_reject_framing(struct sk_buff *skb,
					  struct nlmsghdr *hdr,
					  unsigned int left)
{
	struct netlink_ext_ack extack = {};

	if (left < NLMSG_HDRLEN)
		NL_SET_ERR_MSG(&extack, "truncated netlink header");
	else
		NL_SET_ERR_MSG(&extack, "nlmsg_len does not match the datagram");
	pr_debug("bad framing from port %u: %u bytes left, nlmsg_len %u\n",
		 NETLINK_CB(skb).portid, left, hdr->nlmsg_len);
	hdr->nlmsg_len = NLMSG_HDRLEN;
	netlink_ack(skb, hdr, -EINVAL, &extack);
}

static void nl_foobar_xmpl_rcv(struct sk_buff *skb)
{
	unsigned int framed = nl_foobar_xmpl_framed_len(skb);
	unsigned int left = skb->len - framed;
	struct nlmsghdr bad = {};

	if (skb->len && !left) {
		netlink_rcv_skb(skb, nl_foobar_xmpl_rcv_msg);
		return;
	}

	/* Answer the good messages first, then the broken rest. */
	memcpy(&bad, skb->data + framed,
	       min_t(unsigned int, left, sizeof(bad)));
	skb_trim(skb, framed);
	netlink_rcv_skb(skb, nl_foobar_xmpl_rcv_msg);
	nl_foobar_xmpl_reject_framing(skb, &bad, left);
}

static int __init nl_foobar_xmpl_init(void)
{
	struct netlink_kernel_cfg cfg = {
		.input = nl_foobar_xmpl_rcv,
	};

	nl_foobar_xmpl_sk = netlink_kernel_create(&init_net, NETLINK_FOOBAR_XMPL,
						  &cfg);
	if (!nl_foobar_xmpl_sk) {
		/* Also fails for lack of memory, but a clash is the likely cause. */
		pr_err("cannot create netlink protocol %d: is it used by another module?\n",
		       NETLINK_FOOBAR_XMPL);
		return -EBUSY;
	}
	pr_info("loaded, netlink protocol %d\n", NETLINK_FOOBAR_XMPL);
	return 0;
}

static void __exit nl_foobar_xmpl_exit(void)
{
	netlink_kernel_release(nl_foobar_xmpl_sk);
	pr_info("unloaded\n");
}

module_init(nl_foobar_xmpl_init);
module_exit(nl_foobar_xmpl_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Classic netlink example: echo over protocol "
		   __stringify(NETLINK_FOOBAR_XMPL));
MODULE_ALIAS_NET_PF_PROTO(PF_NETLINK, NETLINK_FOOBAR_XMPL);
