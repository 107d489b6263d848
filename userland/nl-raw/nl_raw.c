// SPDX-License-Identifier: MIT
/*
 * nl-raw: a client of the nl_foobar_xmpl classic netlink protocol, written
 * with nothing but an AF_NETLINK socket and pthreads. The command line and
 * every output line are specified in userland/nl-raw/README.md and shared
 * with nl-rust.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/netlink.h>

#include "nl_foobar_xmpl.h"
#include "nl_sock.h"
#include "report.h"

#define RX_BUF_SIZE	32768
#define TX_BUF_SIZE	NLMSG_SPACE(NL_FOOBAR_XMPL_MSG_MAX_LEN + 1)
/* Requests in flight at most; keeps replies within the receive buffer. */
#define WINDOW		64

struct client {
	int fd;
	__u32 port;		/* our port id, the kernel's replies go to it */
	bool ack;		/* request NLM_F_ACK */
	bool session;		/* output format: session or send */

	pthread_mutex_t lock;
	pthread_cond_t cond;
	__u32 sent;		/* seq of the last request sent, from 1 */
	__u32 done;		/* seq of the last request fully answered */
	bool have_reply;	/* request done + 1 got its reply, not its ack */
	/* Requests in flight, by seq % WINDOW, to compare with the replies. */
	char text[WINDOW][NL_FOOBAR_XMPL_MSG_MAX_LEN + 1];
	size_t len[WINDOW];
};

const char *const prog = "nl-raw";

/* Ends the process from any thread, after what is printed so far. */
static void __noreturn quit(int code)
{
	fflush(stdout);
	_exit(code);
}

/* A broken reply ends the process, from whichever thread reads it. */
static void proto_fail(const char *fmt, ...)
	__printf(1, 2) __noreturn;

static void proto_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vproto_error(fmt, ap);
	va_end(ap);
	quit(EXIT_PROTO);
}

static int too_long(size_t len)
{
	fprintf(stderr, "error: message is %zu bytes; the maximum is %d\n", len,
		NL_FOOBAR_XMPL_MSG_MAX_LEN);
	return EXIT_USAGE;
}

static int open_socket(struct client *c)
{
	c->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_FOOBAR_XMPL);
	if (c->fd < 0) {
		if (errno != EPROTONOSUPPORT)
			return sys_error("socket");
		fprintf(stderr,
			"error: netlink protocol %d (%s) not available: is the module loaded? (insmod %s.ko)\n",
			NETLINK_FOOBAR_XMPL, NL_FOOBAR_XMPL_NAME,
			NL_FOOBAR_XMPL_NAME);
		return EXIT_NO_MODULE;
	}
	return nl_sock_setup(c->fd, &c->port);
}

/* Waits until every request sent is answered. */
static void wait_idle(struct client *c)
{
	pthread_mutex_lock(&c->lock);
	while (c->done != c->sent)
		pthread_cond_wait(&c->cond, &c->lock);
	pthread_mutex_unlock(&c->lock);
}

/* Sends one ECHO request with the next sequence number. */
static int send_echo(struct client *c, const char *text, size_t len)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	char buf[TX_BUF_SIZE] __aligned(NLMSG_ALIGNTO);
	struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
	__u32 seq;

	pthread_mutex_lock(&c->lock);
	while (c->sent - c->done >= WINDOW)
		pthread_cond_wait(&c->cond, &c->lock);
	seq = ++c->sent;
	memcpy(c->text[seq % WINDOW], text, len);
	c->len[seq % WINDOW] = len;
	pthread_mutex_unlock(&c->lock);

	memset(buf, 0, sizeof(buf));
	nlh->nlmsg_len = NLMSG_LENGTH(len + 1);
	nlh->nlmsg_type = NL_FOOBAR_XMPL_MSG_ECHO;
	nlh->nlmsg_flags = NLM_F_REQUEST | (c->ack ? NLM_F_ACK : 0);
	nlh->nlmsg_seq = seq;
	nlh->nlmsg_pid = c->port;
	memcpy(NLMSG_DATA(nlh), text, len);

	if (sendto(c->fd, buf, nlh->nlmsg_len, 0, (struct sockaddr *)&kernel,
		   sizeof(kernel)) < 0) {
		int ret = sys_error("send");

		pthread_mutex_lock(&c->lock);
		c->sent--;
		pthread_mutex_unlock(&c->lock);
		return ret;
	}
	return EXIT_OK;
}

/* Request c->done + 1 is answered in full. */
static void advance(struct client *c)
{
	pthread_mutex_lock(&c->lock);
	c->done++;
	c->have_reply = false;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

static void on_echo(struct client *c, const struct nlmsghdr *nlh)
{
	size_t len = NLMSG_PAYLOAD(nlh, 0);
	const char *text = NLMSG_DATA(nlh);
	__u32 seq = nlh->nlmsg_seq;

	if (c->have_reply)
		proto_fail("second reply to request #%u", seq);
	if (len < 1 || len > NL_FOOBAR_XMPL_MSG_MAX_LEN + 1 ||
	    strnlen(text, len) != len - 1)
		proto_fail("reply #%u is not one NUL-terminated string of at most %d bytes",
			   seq, NL_FOOBAR_XMPL_MSG_MAX_LEN);
	if (len - 1 != c->len[seq % WINDOW] ||
	    memcmp(text, c->text[seq % WINDOW], len - 1))
		proto_fail("reply #%u differs from the request", seq);

	if (c->session)
		printf("reply #%u: %s\n", seq, text);
	else
		printf("received: %s\n", text);
	if (c->ack) {
		pthread_mutex_lock(&c->lock);
		c->have_reply = true;
		pthread_mutex_unlock(&c->lock);
	} else {
		advance(c);
	}
}

/* Prints the kernel's refusal, with its extack message if any, and exits. */
static void __noreturn
on_refusal(const struct nlmsghdr *nlh, const struct nlmsgerr *e)
{
	size_t off = NLMSG_HDRLEN + sizeof(*e);
	const char *extack = NULL;
	int alen = 0;

	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off = NLMSG_HDRLEN +
		      NLMSG_ALIGN(sizeof(e->error) + e->msg.nlmsg_len);
	if (nlh->nlmsg_flags & NLM_F_ACK_TLVS) {
		if (e->msg.nlmsg_len < NLMSG_HDRLEN || off > nlh->nlmsg_len)
			proto_fail("NLMSG_ERROR #%u: bad request length %u",
				   nlh->nlmsg_seq, e->msg.nlmsg_len);
		while (nlh->nlmsg_len - off >= NLA_HDRLEN) {
			const struct nlattr *nla =
				(const void *)((const char *)nlh + off);

			if (nla->nla_len < NLA_HDRLEN ||
			    nla->nla_len > nlh->nlmsg_len - off)
				proto_fail("NLMSG_ERROR #%u: malformed extack attribute",
					   nlh->nlmsg_seq);
			if ((nla->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG) {
				extack = (const char *)nla + NLA_HDRLEN;
				alen = nla->nla_len - NLA_HDRLEN;
				if (!alen || strnlen(extack, alen) != (size_t)alen - 1)
					proto_fail("NLMSG_ERROR #%u: extack message is not a NUL-terminated string",
						   nlh->nlmsg_seq);
			}
			off += NLA_ALIGN(nla->nla_len);
			if (off > nlh->nlmsg_len)
				off = nlh->nlmsg_len;
		}
	}

	fprintf(stderr, "error: kernel rejected the request: %s (errno %d)",
		strerror(-e->error), -e->error);
	if (extack)
		fprintf(stderr, ": %s", extack);
	fputc('\n', stderr);
	quit(EXIT_KERNEL);
}

static void on_error(struct client *c, const struct nlmsghdr *nlh)
{
	const struct nlmsgerr *e = NLMSG_DATA(nlh);
	__u32 seq = nlh->nlmsg_seq;

	if (NLMSG_PAYLOAD(nlh, 0) < sizeof(*e))
		proto_fail("NLMSG_ERROR #%u of %u bytes is too short", seq,
			   nlh->nlmsg_len);
	if (e->error > 0)
		proto_fail("NLMSG_ERROR #%u carries a positive error %d", seq,
			   e->error);
	if (e->error < 0)
		on_refusal(nlh, e);
	if (!c->ack)
		proto_fail("ack #%u that was not requested", seq);
	if (!c->have_reply)
		proto_fail("ack #%u before the reply", seq);
	if (c->session)
		printf("ack #%u\n", seq);
	else
		printf("acked\n");
	advance(c);
}

/* Checks a message's header against the request it answers, then uses it. */
static void on_message(struct client *c, const struct nlmsghdr *nlh)
{
	__u32 expected;
	bool idle;

	pthread_mutex_lock(&c->lock);
	idle = c->done == c->sent;
	expected = c->done + 1;
	pthread_mutex_unlock(&c->lock);

	if (idle)
		proto_fail("message of type %u with no request in flight",
			   nlh->nlmsg_type);
	if (nlh->nlmsg_type != NL_FOOBAR_XMPL_MSG_ECHO &&
	    nlh->nlmsg_type != NLMSG_ERROR)
		proto_fail("message type %u, expected %u or NLMSG_ERROR",
			   nlh->nlmsg_type, NL_FOOBAR_XMPL_MSG_ECHO);
	if (nlh->nlmsg_seq != expected)
		proto_fail("sequence number %u, expected %u", nlh->nlmsg_seq,
			   expected);
	if (nlh->nlmsg_pid != c->port)
		proto_fail("nlmsg_pid %u, expected our port %u",
			   nlh->nlmsg_pid, c->port);

	if (nlh->nlmsg_type == NLMSG_ERROR)
		on_error(c, nlh);
	else
		on_echo(c, nlh);
}

/* Receives one datagram and handles every message in it. */
static void receive(struct client *c)
{
	static char buf[RX_BUF_SIZE] __aligned(NLMSG_ALIGNTO);
	struct sockaddr_nl sa;
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct msghdr mh = {
		.msg_name = &sa, .msg_namelen = sizeof(sa),
		.msg_iov = &iov, .msg_iovlen = 1,
	};
	const struct nlmsghdr *nlh;
	int left, step;
	ssize_t n;

	/* The session's receiver may be cancelled here only: see do_session(). */
	do {
		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
		n = recvmsg(c->fd, &mh, 0);
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		quit(sys_error("recv"));
	if (mh.msg_flags & MSG_TRUNC)
		proto_fail("datagram truncated to %d bytes", RX_BUF_SIZE);
	if (mh.msg_namelen != sizeof(sa) || sa.nl_family != AF_NETLINK ||
	    sa.nl_pid != 0)
		proto_fail("datagram from port %u, not from the kernel",
			   sa.nl_pid);

	/* NLMSG_NEXT() without going past the end after an unpadded one. */
	for (left = n, nlh = (void *)buf; NLMSG_OK(nlh, left);
	     left -= step, nlh = (void *)((char *)nlh + step)) {
		on_message(c, nlh);
		step = NLMSG_ALIGN(nlh->nlmsg_len);
		if (step > left)
			step = left;
	}
	if (left)
		proto_fail("%d bytes left over in a datagram of %zd bytes",
			   left, n);
}

static void *receiver(void *arg)
{
	struct client *c = arg;

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	for (;;)
		receive(c);
	return NULL;
}

static int do_send(struct client *c, const char *text)
{
	size_t len = strlen(text);
	int ret;

	if (len > NL_FOOBAR_XMPL_MSG_MAX_LEN)
		return too_long(len);
	ret = open_socket(c);
	if (ret)
		return ret;
	ret = send_echo(c, text, len);
	if (ret)
		return ret;
	printf("sent: %s\n", text);
	while (c->done != c->sent)
		receive(c);
	return EXIT_OK;
}

/*
 * One request per line of standard input; a second thread prints the
 * replies. The kernel answers each request before send() returns, so the
 * replies, and the output, come in request order.
 */
static int do_session(struct client *c)
{
	size_t cap = 0;
	char *line = NULL;
	pthread_t thread;
	ssize_t n;
	int ret;

	ret = open_socket(c);
	if (ret)
		return ret;
	setvbuf(stdout, NULL, _IOLBF, 0);
	ret = pthread_create(&thread, NULL, receiver, c);
	if (ret) {
		errno = ret;
		return sys_error("pthread_create");
	}

	while ((n = getline(&line, &cap, stdin)) >= 0) {
		if (n && line[n - 1] == '\n')
			line[--n] = '\0';
		if (memchr(line, '\0', n)) {
			wait_idle(c);
			fprintf(stderr, "error: message contains a NUL byte\n");
			ret = EXIT_USAGE;
			break;
		}
		if (n > NL_FOOBAR_XMPL_MSG_MAX_LEN) {
			wait_idle(c);
			ret = too_long(n);
			break;
		}
		ret = send_echo(c, line, n);
		if (ret) {
			wait_idle(c);
			break;
		}
	}
	if (!ret && ferror(stdin)) {
		wait_idle(c);
		ret = sys_error("read");
	}
	if (!ret)
		wait_idle(c);
	free(line);
	/* Before main() closes the socket it blocks on. */
	pthread_cancel(thread);
	pthread_join(thread, NULL);
	return ret;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s [--ack] send MSG\n"
		"       %s [--ack] session\n"
		"\n"
		"Client of the %s classic netlink protocol (number %d).\n"
		"\n"
		"Commands:\n"
		"  send MSG  send MSG, print it and the kernel's reply\n"
		"  session   send each line of standard input, print each reply\n"
		"\n"
		"Options:\n"
		"  --ack     request an acknowledgment (NLM_F_ACK) and report it\n"
		"  -h, --help  print this help\n",
		prog, prog, NL_FOOBAR_XMPL_NAME, NETLINK_FOOBAR_XMPL);
}

int main(int argc, char **argv)
{
	struct client c = {
		.fd = -1,
		.lock = PTHREAD_MUTEX_INITIALIZER,
		.cond = PTHREAD_COND_INITIALIZER,
	};
	const char *pos[2];
	bool options = true;
	int npos = 0;
	int ret;
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (options && a[0] == '-' && a[1]) {
			if (!strcmp(a, "--")) {
				options = false;
			} else if (!strcmp(a, "--ack")) {
				c.ack = true;
			} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
				usage(stdout);
				return EXIT_OK;
			} else {
				return usage_error("unknown option '%s'", a);
			}
			continue;
		}
		if (npos == 2)
			return usage_error("unexpected argument '%s'", a);
		pos[npos++] = a;
	}
	if (!npos)
		return usage_error("a command is required: send or session");

	if (!strcmp(pos[0], "send")) {
		if (npos != 2)
			return usage_error("send needs one argument, MSG");
		ret = do_send(&c, pos[1]);
	} else if (!strcmp(pos[0], "session")) {
		if (npos != 1)
			return usage_error("unexpected argument '%s'", pos[1]);
		c.session = true;
		ret = do_session(&c);
	} else {
		return usage_error("unknown command '%s'", pos[0]);
	}
	if (c.fd >= 0)
		close(c.fd);
	return ret;
}
