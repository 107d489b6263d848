/* SPDX-License-Identifier: MIT */
/*
 * The raw clients' netlink socket (gnl-raw, nl-raw): extended acks without
 * the request echoed back, and a port id the kernel picks.
 */
#ifndef LAB_NL_SOCK_H
#define LAB_NL_SOCK_H

#include <linux/types.h>

/*
 * Sets NETLINK_EXT_ACK and NETLINK_CAP_ACK on @fd, binds it to a port the
 * kernel chooses (never taken) and stores that port id in @port. Returns an
 * exit code of report.h, the error line printed.
 */
int nl_sock_setup(int fd, __u32 *port);

#endif /* LAB_NL_SOCK_H */
