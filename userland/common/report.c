// SPDX-License-Identifier: MIT
/* The error lines every C client prints, see report.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "report.h"

int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "error: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\ntry '%s --help'\n", prog);
	return EXIT_USAGE;
}

/* libnl turns errno into its own codes; errno itself still says why. */
int sys_error(const char *syscall)
{
	int err = errno ? errno : EIO;

	fprintf(stderr, "error: %s: %s (errno %d)\n", syscall, strerror(err),
		err);
	return EXIT_KERNEL;
}

int vproto_error(const char *fmt, va_list ap)
{
	fprintf(stderr, "error: unexpected reply: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	return EXIT_PROTO;
}

int proto_error(const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = vproto_error(fmt, ap);
	va_end(ap);
	return ret;
}

int out_of_memory(void)
{
	fprintf(stderr, "error: out of memory\n");
	return EXIT_KERNEL;
}
