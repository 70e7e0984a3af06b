/*
 * test_redis.c -- unit tests for child/resp.c (the in-place RESP2 parser
 * of a subscribed connection's pushes) and child/cluster.c (hash slots,
 * the slot map from CLUSTER SLOTS, -MOVED/-ASK).
 *
 * The replies below are the bytes Redis 7 sends (captured from a real
 * redis-server); the CLUSTER SLOTS trees are built with hiredis' own
 * reader from raw RESP, as the child gets them from redisCommand().
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <hiredis/hiredis.h>

#include "../../child/cluster.h"
#include "../../child/resp.h"

#define UNUSED	__attribute__((unused))
#define S(lit)	lit, sizeof(lit) - 1

/* ---------------------------------------------------------------- RESP */

static const char MESSAGE[] =
    "*3\r\n$7\r\nmessage\r\n$5\r\nalice\r\n$5\r\nhello\r\n";
static const char SMESSAGE[] =
    "*3\r\n$8\r\nsmessage\r\n$3\r\nfoo\r\n$5\r\na\r\nb\0\r\n";
static const char SUBSCRIBE[] =
    "*3\r\n$9\r\nsubscribe\r\n$5\r\nalice\r\n:1\r\n";
static const char SSUBSCRIBE[] =
    "*3\r\n$10\r\nssubscribe\r\n$3\r\nfoo\r\n:1\r\n";
static const char UNSUBSCRIBE[] =
    "*3\r\n$11\r\nunsubscribe\r\n$5\r\nalice\r\n:0\r\n";
static const char SUNSUBSCRIBE[] =
    "*3\r\n$12\r\nsunsubscribe\r\n$5\r\nalice\r\n:0\r\n";
static const char MOVED[] = "-MOVED 749 127.0.0.1:7001\r\n";
static const char OK[] = "+OK\r\n";
static const char PONG[] = "*2\r\n$4\r\npong\r\n$0\r\n\r\n";
static const char NULLBULK[] =
    "*3\r\n$7\r\nmessage\r\n$5\r\nalice\r\n$-1\r\n";
static const char EMPTY[] =
    "*3\r\n$7\r\nmessage\r\n$5\r\nalice\r\n$0\r\n\r\n";

static const struct {
	const char	*s;
	size_t		 len;
} valid[] = {
	{ S(MESSAGE) }, { S(SMESSAGE) }, { S(SUBSCRIBE) }, { S(SSUBSCRIBE) },
	{ S(UNSUBSCRIBE) }, { S(SUNSUBSCRIBE) }, { S(MOVED) }, { S(OK) },
	{ S(PONG) }, { S(NULLBULK) }, { S(EMPTY) },
	{ S("-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)"
	    "UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n") },
	{ S("-CLUSTERDOWN Hash slot not served\r\n") },
	{ S("+PONG\r\n") },
	{ S("-\r\n") },
	{ S("*1\r\n:-42\r\n") },
	{ S("*3\r\n:1\r\n:2\r\n:3\r\n") },
	{ S("*1\r\n$4\r\n\r\n\r\n\r\n") },
};

/*
 * What *need must be after parsing the first `cut' bytes of the valid
 * reply s: the end of the bulk string whose header is complete and
 * whose data is not, else 0.  Walks the reply independently of resp.c.
 */
static size_t
expected_need(const char *s, size_t len, size_t cut)
{
	const char *p = s, *end = s + len, *nl;
	long n, i, blen;

	if (s[0] != '*')
		return 0;
	nl = strstr(p, "\r\n");
	n = strtol(p + 1, NULL, 10);
	p = nl + 2;
	for (i = 0; i < n; i++) {
		nl = memchr(p, '\n', (size_t)(end - p));
		assert_non_null(nl);
		if (cut < (size_t)(nl + 1 - s))
			return 0;	/* inside a header line */
		if (*p == ':') {
			p = nl + 1;
			continue;
		}
		blen = strtol(p + 1, NULL, 10);
		p = nl + 1;
		if (blen < 0)
			continue;
		p += blen + 2;
		if (cut < (size_t)(p - s))
			return (size_t)(p - s);
	}
	fail_msg("cut %zu is not a proper prefix", cut);
	return 0;
}

static void
test_resp_shapes(void **state UNUSED)
{
	static const char INTS[] =
	    "*3\r\n:-42\r\n:999999999999999999\r\n:7\r\n";
	struct resp_reply r;
	size_t need;

	assert_int_equal(resp_parse(S(MESSAGE), &r, &need),
	    sizeof(MESSAGE) - 1);
	assert_int_equal(need, 0);
	assert_int_equal(r.type, '*');
	assert_int_equal(r.n, 3);
	assert_int_equal(r.e[0].type, '$');
	assert_int_equal(r.e[0].len, 7);
	assert_memory_equal(r.e[0].str, "message", 7);
	assert_ptr_equal(r.e[0].str, MESSAGE + 8);
	assert_int_equal(r.e[1].type, '$');
	assert_memory_equal(r.e[1].str, "alice", 5);
	assert_int_equal(r.e[2].len, 5);
	assert_memory_equal(r.e[2].str, "hello", 5);
	assert_ptr_equal(r.e[2].str, MESSAGE + sizeof(MESSAGE) - 8);
	assert_true(resp_is(&r.e[0], "message"));

	/* smessage, its payload binary: CR LF and NUL inside the bulk. */
	assert_int_equal(resp_parse(S(SMESSAGE), &r, &need),
	    sizeof(SMESSAGE) - 1);
	assert_true(resp_is(&r.e[0], "smessage"));
	assert_true(resp_is(&r.e[1], "foo"));
	assert_int_equal(r.e[2].len, 5);
	assert_memory_equal(r.e[2].str, "a\r\nb\0", 5);

	assert_int_equal(resp_parse(S(SUBSCRIBE), &r, &need),
	    sizeof(SUBSCRIBE) - 1);
	assert_int_equal(r.n, 3);
	assert_true(resp_is(&r.e[0], "subscribe"));
	assert_true(resp_is(&r.e[1], "alice"));
	assert_int_equal(r.e[2].type, ':');
	assert_int_equal(r.e[2].num, 1);
	assert_false(resp_is(&r.e[2], "1"));

	assert_int_equal(resp_parse(S(SSUBSCRIBE), &r, &need),
	    sizeof(SSUBSCRIBE) - 1);
	assert_true(resp_is(&r.e[0], "ssubscribe"));
	assert_int_equal(r.e[2].num, 1);

	assert_int_equal(resp_parse(S(UNSUBSCRIBE), &r, &need),
	    sizeof(UNSUBSCRIBE) - 1);
	assert_true(resp_is(&r.e[0], "unsubscribe"));
	assert_int_equal(r.e[2].type, ':');
	assert_int_equal(r.e[2].num, 0);

	assert_int_equal(resp_parse(S(SUNSUBSCRIBE), &r, &need),
	    sizeof(SUNSUBSCRIBE) - 1);
	assert_true(resp_is(&r.e[0], "sunsubscribe"));
	assert_true(resp_is(&r.e[1], "alice"));
	assert_int_equal(r.e[2].num, 0);

	assert_int_equal(resp_parse(S(MOVED), &r, &need), sizeof(MOVED) - 1);
	assert_int_equal(r.type, '-');
	assert_int_equal(r.line_len, strlen("MOVED 749 127.0.0.1:7001"));
	assert_memory_equal(r.line, "MOVED 749 127.0.0.1:7001", r.line_len);
	assert_ptr_equal(r.line, MOVED + 1);

	assert_int_equal(resp_parse(S(OK), &r, &need), 5);
	assert_int_equal(r.type, '+');
	assert_int_equal(r.line_len, 2);
	assert_memory_equal(r.line, "OK", 2);

	assert_int_equal(resp_parse(S("-\r\n"), &r, &need), 3);
	assert_int_equal(r.type, '-');
	assert_int_equal(r.line_len, 0);

	/* PING in subscribed mode: ["pong", ""]. */
	assert_int_equal(resp_parse(S(PONG), &r, &need), sizeof(PONG) - 1);
	assert_int_equal(r.n, 2);
	assert_true(resp_is(&r.e[0], "pong"));
	assert_int_equal(r.e[1].type, '$');
	assert_int_equal(r.e[1].len, 0);
	assert_true(resp_is(&r.e[1], ""));

	/* A null bulk in an array: type 0. */
	assert_int_equal(resp_parse(S(NULLBULK), &r, &need),
	    sizeof(NULLBULK) - 1);
	assert_int_equal(r.n, 3);
	assert_int_equal(r.e[2].type, 0);
	assert_null(r.e[2].str);
	assert_int_equal(r.e[2].len, 0);
	assert_false(resp_is(&r.e[2], ""));

	/* An empty payload. */
	assert_int_equal(resp_parse(S(EMPTY), &r, &need), sizeof(EMPTY) - 1);
	assert_int_equal(r.e[2].type, '$');
	assert_int_equal(r.e[2].len, 0);
	assert_ptr_equal(r.e[2].str, EMPTY + sizeof(EMPTY) - 3);

	/* Integers: negative, 18 digits; never a leading zero. */
	assert_int_equal(resp_parse(S(INTS), &r, &need), sizeof(INTS) - 1);
	assert_int_equal(r.e[0].num, -42);
	assert_int_equal(r.e[1].num, 999999999999999999LL);
	assert_int_equal(r.e[2].num, 7);
	assert_int_equal(resp_parse(S("*1\r\n:007\r\n"), &r, &need), -1);

	/* An empty buffer is "more to come". */
	assert_int_equal(resp_parse("", 0, &r, &need), 0);
	assert_int_equal(need, 0);
}

/* A bulk string's data may hold anything, CRLF, "$", "*" included. */
static void
test_resp_binary(void **state UNUSED)
{
	static const char tricky[] =
	    "*3\r\n$7\r\nmessage\r\n$2\r\n\r\n\r\n$11\r\n*1\r\n$-1\r\n\r\n\r\n";
	unsigned char bin[256 + 64], all[256];
	struct resp_reply r;
	size_t need, i, off;

	assert_int_equal(resp_parse(S(tricky), &r, &need),
	    sizeof(tricky) - 1);
	assert_int_equal(r.e[1].len, 2);
	assert_memory_equal(r.e[1].str, "\r\n", 2);
	assert_int_equal(r.e[2].len, 11);
	assert_memory_equal(r.e[2].str, "*1\r\n$-1\r\n\r\n", 11);

	for (i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	off = (size_t)snprintf((char *)bin, sizeof(bin),
	    "*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$256\r\n");
	memcpy(bin + off, all, 256);
	memcpy(bin + off + 256, "\r\n", 2);
	assert_int_equal(resp_parse((char *)bin, off + 258, &r, &need),
	    off + 258);
	assert_int_equal(r.e[2].len, 256);
	assert_memory_equal(r.e[2].str, all, 256);
}

/* Every proper prefix of a reply is incomplete; *need is exact. */
static void
test_resp_prefixes(void **state UNUSED)
{
	struct resp_reply r;
	size_t i, cut, need;
	ssize_t n;

	for (i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		n = resp_parse(valid[i].s, valid[i].len, &r, &need);
		if (n != (ssize_t)valid[i].len)
			fail_msg("valid[%zu]: %zd, want %zu", i, n,
			    valid[i].len);
		for (cut = 0; cut < valid[i].len; cut++) {
			need = 12345;
			n = resp_parse(valid[i].s, cut, &r, &need);
			if (n != 0)
				fail_msg("valid[%zu] cut at %zu: %zd", i, cut,
				    n);
			if (need != expected_need(valid[i].s, valid[i].len,
			    cut))
				fail_msg("valid[%zu] cut at %zu: need %zu, "
				    "want %zu", i, cut, need,
				    expected_need(valid[i].s, valid[i].len,
				    cut));
			assert_true(need == 0 ||
			    (need > cut && need <= valid[i].len));
		}
	}

	/*
	 * By hand for MESSAGE: before "$7\r\n" is whole, nothing is known;
	 * then the end of "message\r\n" (17), of "alice\r\n" (28), and once
	 * the last header is read, the whole length (39).  Note that *need
	 * is where the bulk being read ends, a lower bound of the reply's
	 * length, not "the whole reply's length" as resp.h says.
	 */
	assert_int_equal(resp_parse(MESSAGE, 7, &r, &need), 0);
	assert_int_equal(need, 0);
	assert_int_equal(resp_parse(MESSAGE, 8, &r, &need), 0);
	assert_int_equal(need, 17);
	assert_int_equal(resp_parse(MESSAGE, 16, &r, &need), 0);
	assert_int_equal(need, 17);
	assert_int_equal(resp_parse(MESSAGE, 17, &r, &need), 0);
	assert_int_equal(need, 0);
	assert_int_equal(resp_parse(MESSAGE, 21, &r, &need), 0);
	assert_int_equal(need, 28);
	assert_int_equal(resp_parse(MESSAGE, 32, &r, &need), 0);
	assert_int_equal(need, 39);
	assert_int_equal(resp_parse(MESSAGE, 38, &r, &need), 0);
	assert_int_equal(need, 39);
	assert_int_equal(sizeof(MESSAGE) - 1, 39);

	/* A big payload announced: need is known before any data. */
	assert_int_equal(resp_parse(S("*3\r\n$7\r\nmessage\r\n$5\r\nalice\r\n"
	    "$1000000\r\n"), &r, &need), 0);
	assert_int_equal(need, 38 + 1000000 + 2);
	/* The largest bulk Redis can send is accepted. */
	assert_int_equal(resp_parse(S("*1\r\n$536870912\r\n"), &r, &need), 0);
	assert_int_equal(need, 4 + 12 + RESP_BULK_MAX + 2);
}

/* Replies back to back are taken one at a time. */
static void
test_resp_back_to_back(void **state UNUSED)
{
	char buf[1024];
	struct resp_reply r;
	size_t len = 0, off = 0, need, i;
	ssize_t n;

	for (i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		memcpy(buf + len, valid[i].s, valid[i].len);
		len += valid[i].len;
	}
	for (i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		n = resp_parse(buf + off, len - off, &r, &need);
		assert_int_equal(n, valid[i].len);
		assert_int_equal(need, 0);
		assert_int_equal(r.type, valid[i].s[0]);
		off += (size_t)n;
	}
	assert_int_equal(off, len);
	assert_int_equal(resp_parse(buf + off, 0, &r, &need), 0);

	/* The first whole, the second cut: the first parses alone. */
	memcpy(buf, MESSAGE, sizeof(MESSAGE) - 1);
	memcpy(buf + sizeof(MESSAGE) - 1, SUBSCRIBE, 10);
	n = resp_parse(buf, sizeof(MESSAGE) - 1 + 10, &r, &need);
	assert_int_equal(n, sizeof(MESSAGE) - 1);
	assert_true(resp_is(&r.e[2], "hello"));
	assert_int_equal(resp_parse(buf + n, 10, &r, &need), 0);

	/* Garbage after a reply is the next reply's problem. */
	n = resp_parse(S("+OK\r\n!garbage"), &r, &need);
	assert_int_equal(n, 5);
	assert_int_equal(resp_parse(S("!garbage"), &r, &need), -1);
}

static void
test_resp_bad(void **state UNUSED)
{
	static const struct {
		const char	*s;
		size_t		 len;
	} bad[] = {
		/* a type this parser does not take */
		{ S("$5\r\nhello\r\n") }, { S("$-1\r\n") }, { S(":1\r\n") },
		{ S(">3\r\n") }, { S("_\r\n") }, { S("x") }, { S("\r\n") },
		{ S("\0") }, { S("PONG\r\n") },
		{ S("*1\r\n*1\r\n:1\r\n") }, { S("*1\r\n+OK\r\n") },
		{ S("*1\r\n-ERR\r\n") }, { S("*2\r\n$1\r\na\r\n%1\r\n") },
		/* element counts */
		{ S("*0\r\n") }, { S("*4\r\n") }, { S("*-1\r\n") },
		{ S("*-2\r\n") }, { S("*100\r\n") },
		/* bulk lengths */
		{ S("*1\r\n$-2\r\n") }, { S("*1\r\n$-100\r\n") },
		{ S("*1\r\n$-0\r\n\r\n") }, { S("*3\r\n:-0\r\n") },
		{ S("*1\r\n$-01\r\n") }, { S("*1\r\n$05\r\nhello\r\n") },
		{ S("*1\r\n$536870913\r\n") },
		{ S("*1\r\n$999999999999999999\r\n") },
		/* no CRLF right after the bulk data */
		{ S("*1\r\n$5\r\nhelloXY") }, { S("*1\r\n$5\r\nhello\rX") },
		{ S("*1\r\n$5\r\nhello\n\r") }, { S("*1\r\n$5\r\nhello!\r\n") },
		{ S("*1\r\n$0\r\nX\r\n") }, { S("*1\r\n$3\r\nhello\r\n") },
		/* not decimal */
		{ S("*\r\n") }, { S("*x\r\n") }, { S("*1x\r\n") },
		{ S("* 1\r\n") }, { S("*+1\r\n") }, { S("*-\r\n") },
		{ S("*1 \r\n") }, { S("*0x1\r\n") },
		{ S("*1\r\n$\r\n") }, { S("*1\r\n$5a\r\n") },
		{ S("*1\r\n$-\r\n") }, { S("*1\r\n$ 5\r\n") },
		{ S("*1\r\n$-1x\r\n") }, { S("*1\r\n$1.5\r\n") },
		{ S("*1\r\n:\r\n") }, { S("*1\r\n:12a\r\n") },
		{ S("*1\r\n:-\r\n") }, { S("*1\r\n:--1\r\n") },
		{ S("*1\r\n:1234567890123456789\r\n") },
		{ S("*1\r\n$0000000000000000001\r\n") },
		/* bare CR */
		{ S("+OK\rX\n") }, { S("-ERR a\rb\r\n") }, { S("*1\r:1\r\n") },
		{ S("*1\r\n:1\r\r\n") }, { S("*1\r\n$1\r\r\na\r\n") },
		{ S("+\r\r") },
	};
	struct resp_reply r;
	size_t i, need;
	ssize_t n;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = resp_parse(bad[i].s, bad[i].len, &r, &need);
		if (n != -1)
			fail_msg("bad[%zu] \"%.*s\": %zd", i, (int)bad[i].len,
			    bad[i].s, n);
	}
}

/* Lines up to RESP_LINE_MAX - 1 bytes before their CRLF. */
static void
test_resp_long_lines(void **state UNUSED)
{
	char *buf = malloc(2 * RESP_LINE_MAX + 16);
	struct resp_reply r;
	size_t need;

	assert_non_null(buf);
	/* Without CRLF: incomplete while shorter than RESP_LINE_MAX. */
	buf[0] = '-';
	memset(buf + 1, 'x', 2 * RESP_LINE_MAX);
	assert_int_equal(resp_parse(buf, RESP_LINE_MAX - 1, &r, &need), 0);
	assert_int_equal(resp_parse(buf, RESP_LINE_MAX, &r, &need), -1);
	assert_int_equal(resp_parse(buf, 2 * RESP_LINE_MAX, &r, &need), -1);
	buf[0] = '+';
	assert_int_equal(resp_parse(buf, RESP_LINE_MAX, &r, &need), -1);

	/* The longest line: RESP_LINE_MAX - 1 bytes, then CR LF. */
	buf[0] = '-';
	buf[RESP_LINE_MAX - 1] = '\r';
	assert_int_equal(resp_parse(buf, RESP_LINE_MAX, &r, &need), 0);
	buf[RESP_LINE_MAX] = '\n';
	assert_int_equal(resp_parse(buf, RESP_LINE_MAX + 1, &r, &need),
	    RESP_LINE_MAX + 1);
	assert_int_equal(r.line_len, RESP_LINE_MAX - 2);
	/* One longer: refused. */
	buf[RESP_LINE_MAX - 1] = 'x';
	buf[RESP_LINE_MAX] = '\r';
	buf[RESP_LINE_MAX + 1] = '\n';
	assert_int_equal(resp_parse(buf, RESP_LINE_MAX + 2, &r, &need), -1);

	/*
	 * A length or integer line holds at most 18 digits (and a sign):
	 * the 19th digit is refused as soon as it comes, CRLF or not.
	 */
	memcpy(buf, "*1\r\n:-", 6);
	memset(buf + 6, '1', 2 * RESP_LINE_MAX - 6);
	assert_int_equal(resp_parse(buf, 6 + 18, &r, &need), 0);
	assert_int_equal(resp_parse(buf, 6 + 19, &r, &need), -1);
	assert_int_equal(resp_parse(buf, 2 * RESP_LINE_MAX, &r, &need), -1);
	memcpy(buf, "*1\r\n$1", 6);
	assert_int_equal(resp_parse(buf, 5 + 18, &r, &need), 0);
	assert_int_equal(resp_parse(buf, 5 + 19, &r, &need), -1);
	memcpy(buf, "*111111111111111111", 19);
	assert_int_equal(resp_parse(buf, 19, &r, &need), 0);
	assert_int_equal(resp_parse(buf, 20, &r, &need), -1);
	free(buf);
}

/* resp_bulk(): one bulk string alone, as inside an array. */
static void
test_resp_bulk(void **state UNUSED)
{
	static const char hello[] = "$5\r\nhello\r\n";
	struct resp_elem e;
	size_t need, cut;

	assert_int_equal(resp_bulk(S(hello), &e, &need), 11);
	assert_int_equal(need, 0);
	assert_int_equal(e.type, '$');
	assert_ptr_equal(e.str, hello + 4);
	assert_int_equal(e.len, 5);
	assert_true(resp_is(&e, "hello"));
	for (cut = 0; cut < sizeof(hello) - 1; cut++) {
		assert_int_equal(resp_bulk(hello, cut, &e, &need), 0);
		assert_int_equal(need, cut < 4 ? 0 : 11);
	}
	assert_int_equal(resp_bulk(S("$0\r\n\r\nmore"), &e, &need), 6);
	assert_int_equal(e.len, 0);
	assert_int_equal(resp_bulk(S("$-1\r\n"), &e, &need), 5);
	assert_int_equal(e.type, 0);
	assert_null(e.str);
	assert_int_equal(resp_bulk(S("$5\r\nhelloXY"), &e, &need), -1);
	assert_int_equal(resp_bulk(S(":1\r\n"), &e, &need), -1);
	assert_int_equal(resp_bulk(S("*1\r\n"), &e, &need), -1);
	assert_int_equal(resp_bulk(S("$-2\r\n"), &e, &need), -1);
	assert_int_equal(resp_bulk(S("$536870913\r\n"), &e, &need), -1);
	assert_int_equal(resp_bulk(S("$x\r\n"), &e, &need), -1);
}

static void
test_resp_is(void **state UNUSED)
{
	struct resp_elem e = { '$', "message", 7, 0 };

	assert_true(resp_is(&e, "message"));
	assert_false(resp_is(&e, "messag"));
	assert_false(resp_is(&e, "messages"));
	assert_false(resp_is(&e, "MESSAGE"));
	assert_false(resp_is(&e, ""));
	e.len = 4;
	assert_true(resp_is(&e, "mess"));
	e.len = 0;
	assert_true(resp_is(&e, ""));
	e.type = 0;
	e.str = NULL;
	assert_false(resp_is(&e, ""));
	e.type = ':';
	e.num = 1;
	assert_false(resp_is(&e, ""));
	assert_false(resp_is(&e, "1"));
}

/* ------------------------------------------------------------- cluster */

static unsigned int
slot_of(const char *key)
{
	return cluster_slot(key, strlen(key));
}

/* Checked against CLUSTER KEYSLOT of a redis-server 7. */
static void
test_cluster_slot(void **state UNUSED)
{
	assert_int_equal(slot_of("123456789"), 0x31C3 & 16383);
	assert_int_equal(slot_of("123456789"), 12739);
	assert_int_equal(slot_of("foo"), 12182);
	assert_int_equal(slot_of("bar"), 5061);
	assert_int_equal(slot_of("user1000"), 3443);
	assert_int_equal(slot_of("{user1000}.following"), 3443);
	assert_int_equal(slot_of("{user1000}.followers"), 3443);
	assert_int_equal(slot_of("foo{}{bar}"), 8363);	/* the whole key */
	assert_int_equal(slot_of("foo{{bar}}zap"), 4015);
	assert_int_equal(slot_of("foo{{bar}}zap"), slot_of("{bar"));
	assert_int_equal(slot_of("foo{bar}{zap}"), 5061);
	assert_int_equal(slot_of("foo{bar}{zap}"), slot_of("bar"));
	assert_int_equal(slot_of(""), 0);
	assert_int_equal(slot_of("a{"), 14311);
	assert_int_equal(slot_of("{}"), 15257);
	assert_int_equal(slot_of("}{x}"), 16287);
	assert_int_equal(slot_of("x{y"), 2740);
	/* Only len bytes count: a tag beyond them is not seen. */
	assert_int_equal(cluster_slot("foo{bar}", 3), 12182);
	assert_int_equal(cluster_slot("{bar}", 4), slot_of("{bar"));
	/* Binary keys. */
	assert_true(cluster_slot("\0\xff{\0}", 5) < CLUSTER_SLOTS);
	assert_int_equal(cluster_slot("a\0{b}", 5), slot_of("b"));
}

/* A growing string, for raw RESP. */
struct sb {
	char	*s;
	size_t	 len, cap;
};

static void sb_printf(struct sb *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
sb_printf(struct sb *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->cap == 0) {
		b->cap = 256;
		b->s = malloc(b->cap);
		assert_non_null(b->s);
	}
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		assert_true(n >= 0);
		if ((size_t)n < b->cap - b->len)
			break;
		b->cap = 2 * b->cap + (size_t)n + 64;
		b->s = realloc(b->s, b->cap);
		assert_non_null(b->s);
	}
	b->len += (size_t)n;
}

static void
sb_node(struct sb *b, const char *host, long port, const char *id)
{
	sb_printf(b, "*4\r\n$%zu\r\n%s\r\n:%ld\r\n$%zu\r\n%s\r\n*0\r\n",
	    strlen(host), host, port, strlen(id), id);
}

/* [lo, hi, [host, port, id, []], [host, port + 3, id, []]] */
static void
sb_entry(struct sb *b, long lo, long hi, const char *host, long port)
{
	sb_printf(b, "*4\r\n:%ld\r\n:%ld\r\n", lo, hi);
	sb_node(b, host, port, "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca");
	sb_node(b, host, port + 3, "07c37dfeb235213a872192d90877d0cd55635b91");
}

/* The tree hiredis makes of raw RESP, as redisCommand() returns it. */
static redisReply *
reply_of(const char *raw, size_t len)
{
	redisReader *rd;
	void *reply = NULL;

	rd = redisReaderCreate();
	assert_non_null(rd);
	assert_int_equal(redisReaderFeed(rd, raw, len), REDIS_OK);
	assert_int_equal(redisReaderGetReply(rd, &reply), REDIS_OK);
	assert_non_null(reply);
	redisReaderFree(rd);
	return reply;
}

static int
load_raw(const char *raw, size_t len, const struct redis_addr *asked)
{
	redisReply *r = reply_of(raw, len);
	int rc;

	rc = cluster_map_load(r, asked);
	freeReplyObject(r);
	return rc;
}

static int
load_sb(struct sb *b, const struct redis_addr *asked)
{
	int rc = load_raw(b->s, b->len, asked);

	free(b->s);
	memset(b, 0, sizeof(*b));
	return rc;
}

static const struct redis_addr seed = { "10.0.0.9", 7000, "" };

static void
assert_owner(unsigned int slot, const char *host, int port)
{
	const struct redis_addr *a = cluster_map_owner(slot);

	if (host == NULL) {
		if (a != NULL)
			fail_msg("slot %u: %s:%d, want none", slot, a->host,
			    a->port);
		return;
	}
	if (a == NULL)
		fail_msg("slot %u: none, want %s:%d", slot, host, port);
	if (strcmp(a->host, host) != 0 || a->port != port)
		fail_msg("slot %u: %s:%d, want %s:%d", slot, a->host, a->port,
		    host, port);
}

static int
count_nodes(void)
{
	int i;

	for (i = 0; cluster_map_node(i) != NULL; i++)
		;
	return i;
}

/* Three masters, a replica each: the usual create-cluster layout. */
static void
load_three(void)
{
	struct sb b = { 0 };

	sb_printf(&b, "*3\r\n");
	sb_entry(&b, 0, 5460, "127.0.0.1", 7000);
	sb_entry(&b, 5461, 10922, "127.0.0.1", 7001);
	sb_entry(&b, 10923, 16383, "127.0.0.1", 7002);
	assert_int_equal(load_sb(&b, &seed), 0);
}

static void
test_cluster_map_load(void **state UNUSED)
{
	struct sb b = { 0 };
	const struct redis_addr *a;
	unsigned int s;

	load_three();
	assert_owner(0, "127.0.0.1", 7000);
	assert_owner(5460, "127.0.0.1", 7000);
	assert_owner(5461, "127.0.0.1", 7001);
	assert_owner(10922, "127.0.0.1", 7001);
	assert_owner(10923, "127.0.0.1", 7002);
	assert_owner(16383, "127.0.0.1", 7002);
	assert_owner(16384, NULL, 0);
	assert_owner(99999, NULL, 0);
	/* Masters only, each once, in the reply's order. */
	assert_int_equal(count_nodes(), 3);
	assert_int_equal(cluster_map_node(0)->port, 7000);
	assert_int_equal(cluster_map_node(1)->port, 7001);
	assert_int_equal(cluster_map_node(2)->port, 7002);
	assert_null(cluster_map_node(-1));
	assert_null(cluster_map_node(3));
	for (s = 0; s < CLUSTER_SLOTS; s++)
		assert_non_null(cluster_map_owner(s));

	/* "" and "?" (cluster-preferred-endpoint-type unknown-endpoint):
	 * the host we asked on, with the port the reply gives. */
	sb_printf(&b, "*3\r\n");
	sb_entry(&b, 0, 99, "", 7005);
	sb_entry(&b, 100, 199, "?", 7006);
	sb_entry(&b, 200, 299, "redis-2.example.com", 6379);
	assert_int_equal(load_sb(&b, &seed), 0);
	assert_owner(0, "10.0.0.9", 7005);
	assert_owner(150, "10.0.0.9", 7006);
	assert_owner(250, "redis-2.example.com", 6379);
	assert_owner(300, NULL, 0);
	assert_owner(5000, NULL, 0);	/* the previous map is gone */
	assert_int_equal(count_nodes(), 3);

	/* A node owning several ranges is one node; the replicas and the
	 * Redis 7 metadata ([hostname, ...]) are ignored. */
	sb_printf(&b, "*3\r\n*3\r\n:0\r\n:100\r\n");
	sb_printf(&b, "*4\r\n$8\r\n10.0.0.1\r\n:7000\r\n$2\r\nid\r\n"
	    "*2\r\n$8\r\nhostname\r\n$12\r\nnode1.redis.\r\n");
	sb_printf(&b, "*3\r\n:200\r\n:300\r\n");
	sb_node(&b, "10.0.0.1", 7000, "id");
	sb_printf(&b, "*3\r\n:12182\r\n:12182\r\n");
	sb_node(&b, "10.0.0.1", 7000, "id");
	assert_int_equal(load_sb(&b, &seed), 0);
	assert_int_equal(count_nodes(), 1);
	assert_owner(0, "10.0.0.1", 7000);
	assert_owner(100, "10.0.0.1", 7000);
	assert_owner(101, NULL, 0);
	assert_owner(199, NULL, 0);
	assert_owner(200, "10.0.0.1", 7000);
	assert_owner(12181, NULL, 0);
	assert_owner(12182, "10.0.0.1", 7000);
	assert_owner(12183, NULL, 0);

	/* Older forms: [host, port] (Redis 3), [host, port, id] (4 to 6). */
	assert_int_equal(load_raw(S("*2\r\n"
	    "*3\r\n:0\r\n:8191\r\n*2\r\n$9\r\n127.0.0.1\r\n:30001\r\n"
	    "*3\r\n:8192\r\n:16383\r\n*3\r\n$3\r\n::1\r\n:30002\r\n"
	    "$1\r\nx\r\n"), &seed), 0);
	assert_owner(8191, "127.0.0.1", 30001);
	assert_owner(8192, "::1", 30002);
	a = cluster_map_node(1);
	assert_non_null(a);
	assert_string_equal(a->host, "::1");

	/* A cluster without slots: an empty map. */
	assert_int_equal(load_raw(S("*0\r\n"), &seed), 0);
	assert_int_equal(count_nodes(), 0);
	assert_owner(0, NULL, 0);

	/* Ports at their limits; a host of REDIS_HOST_MAX bytes. */
	char host[REDIS_HOST_MAX + 2];
	memset(host, 'h', sizeof(host));
	host[REDIS_HOST_MAX] = '\0';
	sb_printf(&b, "*2\r\n");
	sb_entry(&b, 0, 0, "a", 1);
	sb_printf(&b, "*3\r\n:1\r\n:1\r\n");
	sb_node(&b, host, 65535, "id");
	assert_int_equal(load_sb(&b, &seed), 0);
	assert_owner(0, "a", 1);
	assert_owner(1, host, 65535);
}

/*
 * A reply that is not an array (an error, say) is refused and the map
 * kept; an array with a bad entry is refused whole and leaves the map
 * empty.
 */
static void
test_cluster_map_load_bad(void **state UNUSED)
{
	static const char *const notarray[] = {
		"-ERR This instance has cluster support disabled\r\n",
		"-CLUSTERDOWN The cluster is down\r\n",
		":1\r\n", "$3\r\nfoo\r\n", "+OK\r\n", "$-1\r\n", "*-1\r\n",
	};
	static const char *const bad[] = {
		/* entries */
		"*1\r\n:1\r\n",
		"*1\r\n*0\r\n",
		"*1\r\n*2\r\n:0\r\n:1\r\n",
		"*1\r\n*3\r\n$1\r\n0\r\n:1\r\n*2\r\n$1\r\na\r\n:1\r\n",
		"*1\r\n*3\r\n:0\r\n$1\r\n1\r\n*2\r\n$1\r\na\r\n:1\r\n",
		"*1\r\n*3\r\n:-1\r\n:1\r\n*2\r\n$1\r\na\r\n:1\r\n",
		"*1\r\n*3\r\n:0\r\n:16384\r\n*2\r\n$1\r\na\r\n:1\r\n",
		"*1\r\n*3\r\n:2\r\n:1\r\n*2\r\n$1\r\na\r\n:1\r\n",
		"*1\r\n*3\r\n:99999999999\r\n:1\r\n*2\r\n$1\r\na\r\n:1\r\n",
		/* the master */
		"*1\r\n*3\r\n:0\r\n:1\r\n:5\r\n",
		"*1\r\n*3\r\n:0\r\n:1\r\n*1\r\n$1\r\na\r\n",
		"*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n:1\r\n:1\r\n",
		"*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n$-1\r\n:1\r\n",
		"*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n$1\r\na\r\n$4\r\n7000\r\n",
		"*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n$1\r\na\r\n:0\r\n",
		"*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n$1\r\na\r\n:-1\r\n",
		"*1\r\n*3\r\n:0\r\n:1\r\n*2\r\n$1\r\na\r\n:65536\r\n",
		/* a good entry, then a bad one */
		"*2\r\n*3\r\n:0\r\n:1\r\n*2\r\n$1\r\na\r\n:1\r\n"
		"*3\r\n:2\r\n:3\r\n*2\r\n$1\r\na\r\n:0\r\n",
	};
	char host[REDIS_HOST_MAX + 2];
	struct sb b = { 0 };
	size_t i;

	for (i = 0; i < sizeof(notarray) / sizeof(notarray[0]); i++) {
		load_three();
		if (load_raw(notarray[i], strlen(notarray[i]), &seed) != -1)
			fail_msg("notarray[%zu] accepted: %s", i, notarray[i]);
		/* A failed load leaves the map empty, whatever the cause. */
		assert_int_equal(count_nodes(), 0);
		assert_owner(16383, NULL, 0);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		load_three();
		if (load_raw(bad[i], strlen(bad[i]), &seed) != -1)
			fail_msg("bad[%zu] accepted: %s", i, bad[i]);
		if (cluster_map_node(0) != NULL || cluster_map_owner(0))
			fail_msg("bad[%zu]: a map remains", i);
	}

	/* A host longer than REDIS_HOST_MAX. */
	memset(host, 'h', sizeof(host));
	host[REDIS_HOST_MAX + 1] = '\0';
	sb_printf(&b, "*1\r\n*3\r\n:0\r\n:1\r\n");
	sb_node(&b, host, 7000, "id");
	load_three();
	assert_int_equal(load_sb(&b, &seed), -1);
	assert_null(cluster_map_node(0));
}

/* More ranges or nodes than the map holds: the rest is left unknown. */
static void
test_cluster_map_load_big(void **state UNUSED)
{
	struct sb b = { 0 };
	int i;

	/* 1000 single-slot ranges on 8 nodes: the first 512 are kept. */
	sb_printf(&b, "*1000\r\n");
	for (i = 0; i < 1000; i++)
		sb_entry(&b, i, i, "10.0.0.1", 7000 + i % 8);
	assert_int_equal(load_sb(&b, &seed), 0);
	assert_int_equal(count_nodes(), 8);
	assert_owner(0, "10.0.0.1", 7000);
	assert_owner(511, "10.0.0.1", 7007);
	assert_owner(512, NULL, 0);
	assert_owner(999, NULL, 0);

	/* 100 masters: all are kept. */
	sb_printf(&b, "*100\r\n");
	for (i = 0; i < 100; i++)
		sb_entry(&b, i * 100, i * 100 + 99, "10.0.0.2", 10000 + i);
	assert_int_equal(load_sb(&b, &seed), 0);
	assert_int_equal(count_nodes(), 100);
	assert_owner(6399, "10.0.0.2", 10063);
	assert_owner(9999, "10.0.0.2", 10099);
	assert_owner(10000, NULL, 0);
}

static void
test_cluster_map_set(void **state UNUSED)
{
	static const struct redis_addr b7 = { "127.0.0.1", 7010, "" };
	static const struct redis_addr c7 = { "127.0.0.1", 7011, "" };

	load_three();
	/* The low end of a range. */
	cluster_map_set(0, &b7);
	assert_owner(0, "127.0.0.1", 7010);
	assert_owner(1, "127.0.0.1", 7000);
	assert_owner(5460, "127.0.0.1", 7000);
	/* The high end. */
	cluster_map_set(5460, &b7);
	assert_owner(5459, "127.0.0.1", 7000);
	assert_owner(5460, "127.0.0.1", 7010);
	assert_owner(5461, "127.0.0.1", 7001);
	assert_int_equal(count_nodes(), 4);	/* b7 once */
	/* The middle. */
	cluster_map_set(8000, &c7);
	assert_owner(7999, "127.0.0.1", 7001);
	assert_owner(8000, "127.0.0.1", 7011);
	assert_owner(8001, "127.0.0.1", 7001);
	assert_owner(5461, "127.0.0.1", 7001);
	assert_owner(10922, "127.0.0.1", 7001);
	assert_int_equal(count_nodes(), 5);
	/* A single-slot range moves again, and again. */
	cluster_map_set(8000, &b7);
	assert_owner(8000, "127.0.0.1", 7010);
	assert_owner(7999, "127.0.0.1", 7001);
	assert_owner(8001, "127.0.0.1", 7001);
	cluster_map_set(8000, cluster_map_node(1));	/* back to 7001 */
	assert_owner(8000, "127.0.0.1", 7001);
	/* The last slot, the first slot again. */
	cluster_map_set(16383, &c7);
	assert_owner(16383, "127.0.0.1", 7011);
	assert_owner(16382, "127.0.0.1", 7002);
	assert_owner(10923, "127.0.0.1", 7002);
	cluster_map_set(0, &c7);
	assert_owner(0, "127.0.0.1", 7011);
	assert_owner(1, "127.0.0.1", 7000);
	assert_int_equal(count_nodes(), 5);

	/* A slot the map did not know. */
	assert_int_equal(load_raw(S("*0\r\n"), &seed), 0);
	cluster_map_set(42, &b7);
	assert_owner(42, "127.0.0.1", 7010);
	assert_owner(41, NULL, 0);
	assert_owner(43, NULL, 0);
	assert_int_equal(count_nodes(), 1);

	/* A range of two, each end in turn. */
	assert_int_equal(load_raw(S("*1\r\n*3\r\n:10\r\n:11\r\n"
	    "*2\r\n$1\r\na\r\n:1\r\n"), &seed), 0);
	cluster_map_set(11, &b7);
	assert_owner(10, "a", 1);
	assert_owner(11, "127.0.0.1", 7010);
	cluster_map_set(10, &c7);
	assert_owner(10, "127.0.0.1", 7011);
	assert_owner(11, "127.0.0.1", 7010);

	/* Every slot moved one by one, the map stays right. */
	unsigned int s;
	load_three();
	for (s = 0; s < CLUSTER_SLOTS; s += 97)
		cluster_map_set(s, s % 2 ? &b7 : &c7);
	for (s = 0; s < CLUSTER_SLOTS; s++) {
		if (s % 97 == 0)
			assert_owner(s, "127.0.0.1", s % 2 ? 7010 : 7011);
		else
			assert_owner(s, "127.0.0.1",
			    s <= 5460 ? 7000 : s <= 10922 ? 7001 : 7002);
	}
}

/*
 * A -MOVED must be learnt even when the map is full (the range list, or
 * more masters than fit in the first guess at a node table).
 */
static void
test_cluster_map_set_full(void **state UNUSED)
{
	static const struct redis_addr b7 = { "127.0.0.1", 7010, "" };
	struct sb b = { 0 };
	int i;

	sb_printf(&b, "*600\r\n");
	for (i = 0; i < 600; i++)
		sb_entry(&b, i, i, "10.0.0.1", 7000 + i % 8);
	assert_int_equal(load_sb(&b, &seed), 0);
	cluster_map_set(1000, &b7);		/* not in the map */
	assert_owner(1000, "127.0.0.1", 7010);

	load_three();
	for (i = 1; i < 600; i++)		/* split, split, ... */
		cluster_map_set((unsigned int)(2 * i), &b7);
	assert_owner(1198, "127.0.0.1", 7010);

	sb_printf(&b, "*100\r\n");		/* more than 64 masters */
	for (i = 0; i < 100; i++)
		sb_entry(&b, i * 100, i * 100 + 99, "10.0.0.2", 10000 + i);
	assert_int_equal(load_sb(&b, &seed), 0);
	cluster_map_set(9000, &b7);
	assert_owner(9000, "127.0.0.1", 7010);
}

static int
redirect(const char *text, unsigned int *slot, struct redis_addr *to)
{
	*slot = 99999;
	memset(to, 0x55, sizeof(*to));
	return cluster_redirect(text, strlen(text), slot, to);
}

static void
test_cluster_redirect(void **state UNUSED)
{
	static const char *const other[] = {
		"", "MOVED", "MOVED ", "ASK", "ASK ", "moved 1 a:1",
		"MOVEDX 1 a:1", "MOVED1 a:1",
		"ERR unknown command 'SSUBSCRIBE'",
		"CLUSTERDOWN Hash slot not served",
		"CLUSTERDOWN The cluster is down",
		"TRYAGAIN Multiple keys request during rehashing of slot",
		"CROSSSLOT Keys in request don't hash to the same slot",
		"NOAUTH Authentication required.",
		"LOADING Redis is loading the dataset in memory",
		/* slot */
		"MOVED 16384 127.0.0.1:7001", "MOVED 99999 127.0.0.1:7001",
		"MOVED 184467440737095516150 127.0.0.1:7001",
		"MOVED -1 127.0.0.1:7001", "MOVED x 127.0.0.1:7001",
		"MOVED 1x 127.0.0.1:7001", "MOVED 127.0.0.1:7001",
		"MOVED  127.0.0.1:7001", "MOVED 1",  "MOVED 1 ",
		"MOVED 1\t127.0.0.1:7001",
		/* address */
		"MOVED 1 127.0.0.1", "MOVED 1 127.0.0.1:", "MOVED 1 :",
		"MOVED 1 127.0.0.1:0", "MOVED 1 127.0.0.1:70000",
		"MOVED 1 127.0.0.1:65536", "MOVED 1 127.0.0.1:-1",
		"MOVED 1 127.0.0.1:7001x", "MOVED 1 127.0.0.1:7001 ",
		"MOVED 1 127.0.0.1:7001 extra", "MOVED 1 127.0.0.1:x",
		"MOVED 1 [::1]", "ASK 1 [::1]:", "ASK 1 garbage",
		"ASK 16384 127.0.0.1:7001", "ASK 1 127.0.0.1:0",
	};
	struct redis_addr to;
	unsigned int slot;
	char big[600];
	size_t i;

	assert_int_equal(redirect("MOVED 749 127.0.0.1:7001", &slot, &to), 1);
	assert_int_equal(slot, 749);
	assert_string_equal(to.host, "127.0.0.1");
	assert_int_equal(to.port, 7001);

	assert_int_equal(redirect("ASK 3999 127.0.0.1:6381", &slot, &to), 2);
	assert_int_equal(slot, 3999);
	assert_string_equal(to.host, "127.0.0.1");
	assert_int_equal(to.port, 6381);

	assert_int_equal(redirect("MOVED 0 a:1", &slot, &to), 1);
	assert_int_equal(slot, 0);
	assert_int_equal(to.port, 1);
	assert_int_equal(redirect("MOVED 16383 a:65535", &slot, &to), 1);
	assert_int_equal(slot, 16383);
	assert_int_equal(to.port, 65535);

	/* An empty host: the node that answered. */
	assert_int_equal(redirect("MOVED 12182 :7001", &slot, &to), 1);
	assert_int_equal(slot, 12182);
	assert_string_equal(to.host, "");
	assert_int_equal(to.port, 7001);
	assert_int_equal(redirect("ASK 1 :7001", &slot, &to), 2);
	assert_string_equal(to.host, "");

	/* IPv6, bare as Redis sends it, or bracketed. */
	assert_int_equal(redirect("MOVED 5 ::1:7000", &slot, &to), 1);
	assert_string_equal(to.host, "::1");
	assert_int_equal(to.port, 7000);
	assert_int_equal(redirect("MOVED 5 [::1]:7000", &slot, &to), 1);
	assert_string_equal(to.host, "::1");
	assert_int_equal(to.port, 7000);
	assert_int_equal(redirect("ASK 5 2001:db8::7:6379", &slot, &to), 2);
	assert_string_equal(to.host, "2001:db8::7");
	assert_int_equal(to.port, 6379);
	assert_int_equal(redirect("MOVED 5 [fe80::1%eth0]:7000", &slot, &to),
	    1);
	assert_string_equal(to.host, "fe80::1%eth0");

	/* A host name. */
	assert_int_equal(redirect("MOVED 5 redis-3.example.com:6379", &slot,
	    &to), 1);
	assert_string_equal(to.host, "redis-3.example.com");

	/* Only len bytes are read. */
	assert_int_equal(cluster_redirect("MOVED 5 a:7000xyz", 14, &slot, &to),
	    1);
	assert_int_equal(to.port, 7000);
	assert_int_equal(cluster_redirect("MOVED 5 a:7000", 13, &slot, &to),
	    1);
	assert_int_equal(to.port, 700);

	for (i = 0; i < sizeof(other) / sizeof(other[0]); i++)
		if (redirect(other[i], &slot, &to) != 0)
			fail_msg("\"%s\" taken for a redirection", other[i]);

	/* Hosts up to REDIS_HOST_MAX bytes; longer texts are refused. */
	snprintf(big, sizeof(big), "MOVED 16383 ");
	memset(big + 12, 'h', REDIS_HOST_MAX);
	snprintf(big + 12 + REDIS_HOST_MAX, sizeof(big) - 12 - REDIS_HOST_MAX,
	    ":65535");
	assert_int_equal(redirect(big, &slot, &to), 1);
	assert_int_equal(strlen(to.host), REDIS_HOST_MAX);
	assert_int_equal(to.port, 65535);
	memset(big + 12, 'h', REDIS_HOST_MAX + 1);
	snprintf(big + 12 + REDIS_HOST_MAX + 1,
	    sizeof(big) - 12 - REDIS_HOST_MAX - 1, ":65535");
	assert_int_equal(redirect(big, &slot, &to), 0);
	memset(big + 12, 'h', sizeof(big) - 12);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(redirect(big, &slot, &to), 0);
}

/* Nothing Redis never sends: signs, blanks, stray brackets, a NUL. */
static void
test_cluster_redirect_lenient(void **state UNUSED)
{
	static const char *const other[] = {
		"MOVED +5 a:1", "MOVED  5 a:1", "MOVED -18446744073709551615 a:1",
		"MOVED 5 a:+7000", "MOVED 5 a: 7000",
		"MOVED 5 a:-18446744073709551615",
		"MOVED 5 [::1]x:7000", "MOVED 5 a b:7000",
	};
	struct redis_addr to;
	unsigned int slot;
	size_t i;

	for (i = 0; i < sizeof(other) / sizeof(other[0]); i++)
		if (redirect(other[i], &slot, &to) != 0)
			fail_msg("\"%s\" taken for a redirection", other[i]);
	/* An embedded NUL does not end the text early. */
	assert_int_equal(cluster_redirect("MOVED 5 a:1\0junk", 16, &slot, &to),
	    0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resp_shapes),
		cmocka_unit_test(test_resp_binary),
		cmocka_unit_test(test_resp_prefixes),
		cmocka_unit_test(test_resp_back_to_back),
		cmocka_unit_test(test_resp_bad),
		cmocka_unit_test(test_resp_long_lines),
		cmocka_unit_test(test_resp_bulk),
		cmocka_unit_test(test_resp_is),
		cmocka_unit_test(test_cluster_slot),
		cmocka_unit_test(test_cluster_map_load),
		cmocka_unit_test(test_cluster_map_load_bad),
		cmocka_unit_test(test_cluster_map_load_big),
		cmocka_unit_test(test_cluster_map_set),
		cmocka_unit_test(test_cluster_redirect),
		cmocka_unit_test(test_cluster_map_set_full),
		cmocka_unit_test(test_cluster_redirect_lenient),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
