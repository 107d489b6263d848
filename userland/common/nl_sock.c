// SPDX-License-Identifier: MIT
/* The raw clients' netlink socket set-up, see nl_sock.h. */
#include <sys/socket.h>

#include <linux/netlink.h>

#include "nl_sock.h"
#include "report.h"

static int set_opt(int fd, int opt)
{
	int one = 1;

	if (setsockopt(fd, SOL_NETLINK, opt, &one, sizeof(one)) < 0)
		return sys_error("setsockopt");
	return EXIT_OK;
}

int nl_sock_setup(int fd, __u32 *port)
{
	struct sockaddr_nl local = { .nl_family = AF_NETLINK };
	socklen_t len = sizeof(local);
	int ret;

	/* Errors then carry the kernel's explanation, without our request. */
	ret = set_opt(fd, NETLINK_EXT_ACK);
	if (!ret)
		ret = set_opt(fd, NETLINK_CAP_ACK);
	if (ret)
		return ret;
	/* Port id 0: the kernel picks a free one. */
	if (bind(fd, (struct sockaddr *)&local, sizeof(local)) < 0)
		return sys_error("bind");
	if (getsockname(fd, (struct sockaddr *)&local, &len) < 0)
		return sys_error("getsockname");
	*port = local.nl_pid;
	return EXIT_OK;
}
