/* SPDX-License-Identifier: MIT */
/*
 * What every C client of the lab prints when something goes wrong, and the
 * exit code that goes with it (userland/INTERFACE.md).
 */
#ifndef LAB_REPORT_H
#define LAB_REPORT_H

#include <stdarg.h>

/* The kernel's helpers, as the kernel's own tools/ define them. */
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define __printf(a, b)	__attribute__((format(printf, a, b)))
#define __aligned(x)	__attribute__((aligned(x)))
#define __noreturn	__attribute__((noreturn))

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

/* Exit codes of INTERFACE.md. */
enum {
	EXIT_OK,
	EXIT_KERNEL,	/* request rejected, or a socket call failed */
	EXIT_USAGE,	/* bad arguments, or a message too long */
	EXIT_NO_MODULE,	/* module not loaded: no such family or protocol */
	EXIT_PERM,	/* permission denied */
	EXIT_PROTO,	/* the reply breaks the protocol */
};

/* The client's name, for "try 'PROG --help'": each client defines it. */
extern const char *const prog;

int usage_error(const char *fmt, ...) __printf(1, 2);
int sys_error(const char *syscall);
int proto_error(const char *fmt, ...) __printf(1, 2);
int vproto_error(const char *fmt, va_list ap) __printf(1, 0);
int out_of_memory(void);

#endif /* LAB_REPORT_H */
