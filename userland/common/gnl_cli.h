/* SPDX-License-Identifier: MIT */
/*
 * The half of a gnl_foobar_xmpl client that is not netlink: the command
 * line, the kernel's refusals, the bench loop and main(). A client defines
 * the client_*() requests below; gnl_cli.c calls them.
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
/* The family is not registered: its error line; returns EXIT_NO_MODULE. */
int family_not_found(void);

/*
 * The standard output lines of INTERFACE.md, the same in every C client:
 * each client parses and checks, these print.
 */
void print_sent(const char *text);
void print_received(const char *text);
void print_dump_message(__u32 index, const char *text);
void print_dump_end(__u32 messages);
/* The refusal `error` asks for, on stdout: it is the expected answer. */
void print_refusal(const struct kerr *ke);
void print_dump_count(__u32 count);
void print_stat(const char *name, __u64 value);
/* Flushed: a reader waits for this line before it triggers events. */
void print_listening(void);
void print_event_echo(const char *text);
void print_event_set_dump_count(__u32 count);
void print_event_unknown(__u8 cmd);

/* Each client's own: its socket and what it resolved. */
struct client;

/*
 * What each client defines: its netlink. gnl_cli.c has main(), which parses
 * the command line and calls these; each prints what INTERFACE.md says.
 */
extern const char *const client_via;	/* for --help: "raw sockets", "libnl" */
/* A socket with the family resolved; *c is set even on failure. */
int client_open(struct client **c);
void client_close(struct client *c);	/* NULL is fine */
/* @print false: bench, silent. */
int client_echo(struct client *c, const char *text, bool print);
/* @count 0: the module's default. */
int client_dump(struct client *c, __u32 count, bool print);
int client_error(struct client *c);
/* @count 0: run until killed. */
int client_monitor(struct client *c, unsigned long count);
int client_set_dump_count(struct client *c, __u32 count);
int client_stats(struct client *c, bool dump);

#endif /* LAB_GNL_CLI_H */
