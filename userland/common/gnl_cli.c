// SPDX-License-Identifier: MIT
/*
 * The command line, refusals and bench loop shared by gnl-raw and gnl-libnl
 * (see gnl_cli.h); gnl-rust has the same in Rust. The interface is
 * userland/INTERFACE.md.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gnl_cli.h"
#include "gnl_foobar_xmpl.h"

int kernel_error(const struct kerr *ke)
{
	if (ke->err == EPERM) {
		fprintf(stderr, "error: permission denied: this operation needs CAP_NET_ADMIN (run as root)\n");
		return EXIT_PERM;
	}
	fprintf(stderr, "error: kernel rejected the request: %s (errno %d)",
		strerror(ke->err), ke->err);
	if (ke->extack[0])
		fprintf(stderr, ": %s", ke->extack);
	fputc('\n', stderr);
	return EXIT_KERNEL;
}

int family_not_found(void)
{
	fprintf(stderr, "error: generic netlink family %s not found: is the module loaded? (insmod %s.ko)\n",
		GNL_FOOBAR_XMPL_FAMILY_NAME, GNL_FOOBAR_XMPL_FAMILY_NAME);
	return EXIT_NO_MODULE;
}

/* ---- the standard output lines ---- */

void print_sent(const char *text)
{
	printf("sent: %s\n", text);
}

void print_received(const char *text)
{
	printf("received: %s\n", text);
}

void print_dump_message(__u32 index, const char *text)
{
	printf("%u: %s\n", index, text);
}

void print_dump_end(__u32 messages)
{
	printf("received %u messages\n", messages);
}

void print_refusal(const struct kerr *ke)
{
	printf("errno: %d (%s)\n", ke->err, strerror(ke->err));
	if (ke->extack[0])
		printf("extack: %s\n", ke->extack);
}

void print_dump_count(__u32 count)
{
	printf("default dump count: %u\n", count);
}

void print_stat(const char *name, __u64 value)
{
	printf("%s: %llu\n", name, (unsigned long long)value);
}

void print_listening(void)
{
	printf("listening on %s/%s\n", GNL_FOOBAR_XMPL_FAMILY_NAME,
	       GNL_FOOBAR_XMPL_MCGRP_EVENTS);
	fflush(stdout);
}

void print_event_echo(const char *text)
{
	printf("event: echo %s\n", text);
}

void print_event_set_dump_count(__u32 count)
{
	printf("event: set-dump-count %u\n", count);
}

void print_event_unknown(__u8 cmd)
{
	printf("event: unknown command %u\n", cmd);
}

/* ---- bench: timed round trips, for cargo lab bench ---- */

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* One iteration; a one-shot opens, resolves and closes a client of its own. */
static int bench_once(struct client *c, const char *workload, __u32 count)
{
	struct client *own = NULL;
	int ret;

	if (!strcmp(workload, "steady"))
		return client_echo(c, "hello", false);
	if (!strcmp(workload, "dump"))
		return client_dump(c, count, false);
	ret = client_open(&own);
	if (!ret)
		ret = client_echo(own, "hello", false);
	client_close(own);
	return ret;
}

/* Prints the nanoseconds of each iteration, one per line, once all ran. */
static int do_bench(struct client *c, const char *workload,
		    unsigned long iterations, __u32 count)
{
	unsigned long i;
	__u64 *ns, start;
	int ret = EXIT_OK;

	ns = calloc(iterations, sizeof(*ns));
	if (!ns)
		return out_of_memory();
	for (i = 0; i < iterations && !ret; i++) {
		start = now_ns();
		ret = bench_once(c, workload, count);
		ns[i] = now_ns() - start;
	}
	for (i = 0; i < iterations && !ret; i++)
		printf("%llu\n", (unsigned long long)ns[i]);
	free(ns);
	return ret;
}

/* ---- the command line ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s <command> [options]\n"
		"\n"
		"Client of the %s generic netlink family (%s).\n"
		"\n"
		"Commands:\n"
		"  echo [MSG]            send MSG (default: hello), print the reply\n"
		"  dump [--count N]      dump N messages (default: the module's count)\n"
		"  error                 ask for an error, print errno and extack\n"
		"  monitor [--count N]   print events, exit after N of them\n"
		"  set-dump-count N      set the default dump count (needs CAP_NET_ADMIN)\n"
		"  stats [--dump]        print the module's counters\n"
		"  bench oneshot|steady|dump [--iterations N] [--count N]\n"
		"                        time N round trips, print nanoseconds\n"
		"\n"
		"Options:\n"
		"  -h, --help            print this help\n",
		prog, GNL_FOOBAR_XMPL_FAMILY_NAME, client_via);
}

/* A whole decimal number in [min, max], nothing else. */
static int parse_count(const char *s, unsigned long min, unsigned long max,
		       unsigned long *out)
{
	unsigned long v;
	char *end;

	if (*s < '0' || *s > '9')
		goto invalid;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		goto invalid;
	*out = v;
	return EXIT_OK;
invalid:
	fprintf(stderr, "error: invalid count '%s': expected an integer from %lu to %lu\n"
		"try '%s --help'\n", s, min, max, prog);
	return EXIT_USAGE;
}

struct args {
	const char *cmd;
	const char *msg;
	unsigned long count;	/* 0: not given */
	bool dump;
	const char *workload;	/* bench */
	unsigned long iterations;
};

/* Options of a subcommand; argv[0] is the subcommand's name. */
static int parse_sub(int argc, char **argv, struct args *a)
{
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'c' },
		{ "dump", no_argument, NULL, 'd' },
		{ "iterations", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	bool is_bench = !strcmp(a->cmd, "bench");
	bool is_dump = !strcmp(a->cmd, "dump") || is_bench;
	bool is_monitor = !strcmp(a->cmd, "monitor");
	bool is_stats = !strcmp(a->cmd, "stats");
	int opt, ret;

	/* bench's workload comes first, its options after it. */
	if (is_bench && argc > 1 && argv[1][0] != '-') {
		a->workload = argv[1];
		argv[1] = argv[0];
		argc--;
		argv++;
	}
	optind = 0;	/* glibc: restart scanning on a new argv */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			if (!is_dump && !is_monitor)
				return usage_error("%s takes no --count", a->cmd);
			ret = parse_count(optarg, GNL_FOOBAR_XMPL_DUMP_COUNT_MIN,
					  is_dump ? GNL_FOOBAR_XMPL_DUMP_COUNT_MAX :
					  UINT_MAX, &a->count);
			if (ret)
				return ret;
			break;
		case 'd':
			if (!is_stats)
				return usage_error("%s takes no --dump", a->cmd);
			a->dump = true;
			break;
		case 'i':
			if (!is_bench)
				return usage_error("%s takes no --iterations", a->cmd);
			ret = parse_count(optarg, 1, 10000000, &a->iterations);
			if (ret)
				return ret;
			break;
		case 'h':
			usage(stdout);
			exit(EXIT_OK);
		default:
			return usage_error("unknown option or missing value");
		}
	}
	argc -= optind;
	argv += optind;
	if (!strcmp(a->cmd, "echo") && argc > 0) {
		a->msg = argv[0];
		argc--;
		argv++;
	} else if (!strcmp(a->cmd, "set-dump-count")) {
		if (argc < 1)
			return usage_error("%s needs a count", a->cmd);
		ret = parse_count(argv[0], GNL_FOOBAR_XMPL_DUMP_COUNT_MIN,
				  GNL_FOOBAR_XMPL_DUMP_COUNT_MAX, &a->count);
		if (ret)
			return ret;
		argc--;
		argv++;
	} else if (is_bench && (!a->workload ||
				(strcmp(a->workload, "oneshot") &&
				 strcmp(a->workload, "steady") &&
				 strcmp(a->workload, "dump")))) {
		return usage_error("bench needs oneshot, steady or dump");
	}
	if (argc > 0)
		return usage_error("unexpected argument '%s'", argv[0]);
	return EXIT_OK;
}

static int parse_args(int argc, char **argv, struct args *a)
{
	static const char *const cmds[] = {
		"echo", "dump", "error", "monitor", "set-dump-count", "stats",
		"bench",
	};
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	size_t len, i;
	int opt;

	opterr = 0;
	/* '+': stop at the subcommand, its options are parsed after. */
	while ((opt = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (opt != 'h')
			return usage_error("unknown option");
		usage(stdout);
		exit(EXIT_OK);
	}
	if (optind >= argc)
		return usage_error("missing command");
	a->cmd = argv[optind];
	for (i = 0; i < ARRAY_SIZE(cmds); i++)
		if (!strcmp(a->cmd, cmds[i]))
			break;
	if (i == ARRAY_SIZE(cmds))
		return usage_error("unknown command '%s'", a->cmd);
	a->msg = "hello";
	a->iterations = 1000;
	if (parse_sub(argc - optind, argv + optind, a))
		return EXIT_USAGE;
	/* Checked before anything is sent, as the kernel would refuse it. */
	len = strlen(a->msg);
	if (len > GNL_FOOBAR_XMPL_MSG_MAX_LEN) {
		fprintf(stderr, "error: message is %zu bytes; the maximum is %d\n",
			len, GNL_FOOBAR_XMPL_MSG_MAX_LEN);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

static int run(struct client *c, const struct args *a)
{
	if (!strcmp(a->cmd, "echo"))
		return client_echo(c, a->msg, true);
	if (!strcmp(a->cmd, "dump"))
		return client_dump(c, a->count, true);
	if (!strcmp(a->cmd, "bench"))
		return do_bench(c, a->workload, a->iterations,
				a->count ? a->count : GNL_FOOBAR_XMPL_DUMP_COUNT_MAX);
	if (!strcmp(a->cmd, "error"))
		return client_error(c);
	if (!strcmp(a->cmd, "monitor"))
		return client_monitor(c, a->count);
	if (!strcmp(a->cmd, "set-dump-count"))
		return client_set_dump_count(c, a->count);
	return client_stats(c, a->dump);
}

int main(int argc, char **argv)
{
	struct client *c = NULL;
	struct args a = {};
	int ret;

	ret = parse_args(argc, argv, &a);
	if (ret)
		goto out;
	if (!strcmp(a.cmd, "monitor"))
		setvbuf(stdout, NULL, _IOLBF, 0);
	ret = client_open(&c);
	if (ret)
		goto out;
	ret = run(c, &a);
out:
	client_close(c);
	return ret;
}
