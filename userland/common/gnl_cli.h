/* SPDX-License-Identifier: MIT */
/*
 * The half of a gnl_foobar_xmpl client that is not netlink: the command
 * line, the kernel's refusals, the bench loop and main(). A client fills a
 * struct gnl_ops with its requests and hands it to gnl_cli_main().
 */
#ifndef LAB_GNL_CLI_H
#define LAB_GNL_CLI_H

#include <stdbool.h>

#include <linux/types.h>

#include "report.h"

#define EXTACK_MAX	256

/* What the kernel answered when it refused a request. */
struct kerr {
	int err;		/* positive errno, 0 if no error */
	char extack[EXTACK_MAX];
};

/* Prints the refusal in INTERFACE.md's words; returns its exit code. */
int kernel_error(const struct kerr *ke);

/* Each client's own: its socket and what it resolved. */
struct client;

/* The requests of a client; each prints what INTERFACE.md says it prints. */
struct gnl_ops {
	const char *via;	/* for --help: "raw sockets", "libnl" */
	/* A socket with the family resolved; *c is set even on failure. */
	int (*open)(struct client **c);
	void (*close)(struct client *c);	/* NULL is fine */
	/* @print false: bench, silent. */
	int (*echo)(struct client *c, const char *text, bool print);
	/* @count 0: the module's default. */
	int (*dump)(struct client *c, __u32 count, bool print);
	int (*error)(struct client *c);
	/* @count 0: run until killed. */
	int (*monitor)(struct client *c, unsigned long count);
	int (*set_dump_count)(struct client *c, __u32 count);
	int (*stats)(struct client *c, bool dump);
};

/* Parses the command line, opens a client, runs the command: main(). */
int gnl_cli_main(int argc, char **argv, const struct gnl_ops *ops);

#endif /* LAB_GNL_CLI_H */
