/*
 * fuzz_upstream.c -- libFuzzer target for child/upstream.c: the replies
 * Redis sends to the pipelined XADDs.
 *
 * The input is read twice.  First as replies one after another, as
 * read_replies() takes them, through upstream_reply(); the oracles:
 *   - a reply lies inside the input, its text inside the reply, between
 *     "$LEN\r\n" (LEN its length) and "\r\n" for an id, after the sign
 *     and before "\r\n" for an error or status line;
 *   - growing prefixes of it give 0 until it is whole, then the same
 *     reply; a refused one (-1) is never refused sooner or later.
 * Then as what a Redis server answers to eight queued XADDs, over a
 * socketpair into upstream_io(); the oracles: the queue's offsets stay
 * ordered (answered <= sent <= queued), at most eight are answered, an
 * answered one is gone for good, and a failure is final.
 */
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <hiredis/hiredis.h>

#include "../../child/settings.h"
#include "../../child/upstream.h"
#include "../../master/log.h"

#define CHECK(x)	do { if (!(x)) abort(); } while (0)
#define QUEUED		8

static void
check_one(const char *b, size_t len, ssize_t n, char type, const char *text,
    size_t tlen)
{
	const char *cr;
	char t;
	const char *tx;
	size_t k, tl;
	ssize_t got;

	CHECK(n >= -1 && n <= (ssize_t)len);
	if (n > 0) {
		CHECK(n >= 3 && b[n - 2] == '\r' && b[n - 1] == '\n');
		CHECK(type == b[0]);
		switch (type) {
		case '$':
			CHECK(text > b + 3 && text[-2] == '\r' &&
			    text[-1] == '\n');
			CHECK(text + tlen + 2 == b + n);
			CHECK(strtoll(b + 1, NULL, 10) == (long long)tlen);
			break;
		case '-':
		case '+':
			CHECK(text == b + 1 && tlen + 3 == (size_t)n);
			cr = memchr(text, '\r', tlen);
			CHECK(cr == NULL);
			break;
		default:
			abort();
		}
	}
	/* Prefixes: 0 before the whole reply, and refused no sooner. */
	for (k = 0; k < len && (n <= 0 || k < (size_t)n); k++) {
		got = upstream_reply(b, k, &t, &tx, &tl);
		if (got == -1) {
			CHECK(n == -1);
			return;
		}
		CHECK(got == 0);
	}
	if (n > 0) {
		got = upstream_reply(b, (size_t)n, &t, &tx, &tl);
		CHECK(got == n && t == type && tx == text && tl == tlen);
	}
}

static void
check_queue(const struct upstream *u, int answered_before)
{
	CHECK(u->qack <= u->qsent && u->qsent <= u->qlen);
	CHECK(u->qlen <= u->qcap);
	CHECK(u->count >= 0 && u->count <= answered_before);
	CHECK(u->head >= 0 && u->head < UPSTREAM_WINDOW);
}

static void
drive(const uint8_t *data, size_t size)
{
	static struct child_conf conf;
	static struct upstream u;
	int sv[2], i, r, count, failed;
	char sink[4096];
	ssize_t n;

	memset(&conf, 0, sizeof(conf));
	strcpy(conf.upstream_stream, "fuzz:in");
	strcpy(conf.redis_host, "127.0.0.1");
	conf.redis_port = 1;		/* refused at once: no reconnecting */
	conf.redis_connect_timeout = 100;
	conf.upstream_maxlen = 1000;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		return;
	upstream_init(&u, &conf);
	if ((u.ctx = redisConnectFd(sv[0])) == NULL) {
		close(sv[0]);
		close(sv[1]);
		return;
	}
	for (i = 0; i < QUEUED; i++)
		CHECK(upstream_message(&u, "user", "conn", i & 1, "payload",
		    (size_t)i, 1) == 0);
	CHECK(upstream_pending(&u) == QUEUED && u.qsent == 0);
	CHECK(upstream_io(&u, POLLOUT, 1) == UP_OK);
	CHECK(u.qsent == u.qlen);	/* all written into the pair */
	/* The input in pieces, as reads may split it. */
	while (size > 0) {
		size_t piece = size < 97 ? size : 1 + data[0] % 97;

		if (write(sv[1], data, piece) != (ssize_t)piece)
			break;
		data += piece;
		size -= piece;
		count = u.count;
		failed = u.failed;
		r = upstream_io(&u, POLLIN, 1);
		check_queue(&u, count);
		if (failed)
			CHECK(r == UP_FAILED);
		if (r == UP_FAILED) {
			CHECK(u.failed && u.ctx == NULL);
			break;
		}
		if (u.ctx == NULL)
			break;	/* lost, a retry due: not this target's */
		CHECK(u.inlen < sizeof(u.in));
	}
	while ((n = recv(sv[1], sink, sizeof(sink), MSG_DONTWAIT)) > 0)
		;
	upstream_close(&u);	/* closes sv[0] with the context */
	close(sv[1]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;
	const char *buf = (const char *)data, *text;
	size_t off = 0, tlen;
	ssize_t n;
	char type;

	if (!quiet) {
		log_init(LOG_LEVEL_ERROR);	/* lost connections are normal */
		quiet = 1;
	}
	while (off < size) {
		text = NULL;
		tlen = 0;
		type = 0;
		n = upstream_reply(buf + off, size - off, &type, &text, &tlen);
		check_one(buf + off, size - off, n, type, text, tlen);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	drive(data, size);
	return 0;
}
