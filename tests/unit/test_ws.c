/*
 * test_ws.c -- unit tests for ws/: the incremental frame parser (fed whole,
 * byte by byte and split at every point), the frame writer, masking,
 * UTF-8 validation, close codes and the opening handshake.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../ws/ws.h"

#define FIN	0x80
#define UNUSED	__attribute__((unused))

/* The masking key of the RFC 6455 section 5.7 examples. */
static const uint8_t KEY[4] = { 0x37, 0xfa, 0x21, 0x3d };

/*
 * A growable byte stream of client frames.
 */
struct stream {
	uint8_t	*b;
	size_t	 len, cap;
};

static void
s_reserve(struct stream *s, size_t more)
{
	if (s->len + more <= s->cap)
		return;
	while (s->len + more > s->cap)
		s->cap = s->cap ? s->cap * 2 : 256;
	s->b = realloc(s->b, s->cap);
	assert_non_null(s->b);
}

static void
s_raw(struct stream *s, const void *p, size_t len)
{
	s_reserve(s, len);
	if (len > 0)
		memcpy(s->b + s->len, p, len);
	s->len += len;
}

/*
 * A header.  form is 0 for the minimal length encoding, or 7, 16 or 64 to
 * force one; the mask key KEY follows when masked.
 */
static void
s_hdr(struct stream *s, uint8_t b0, int masked, int form, uint64_t len)
{
	uint8_t h[WS_FRAME_HEADER_MAX];
	size_t n = 0;
	int i;

	if (form == 0)
		form = len < 126 ? 7 : len <= 0xffff ? 16 : 64;
	h[n++] = b0;
	switch (form) {
	case 7:
		h[n++] = (uint8_t)len;
		break;
	case 16:
		h[n++] = 126;
		h[n++] = (uint8_t)(len >> 8);
		h[n++] = (uint8_t)len;
		break;
	default:
		h[n++] = 127;
		for (i = 7; i >= 0; i--)
			h[n++] = (uint8_t)(len >> (8 * i));
	}
	if (masked) {
		h[1] |= 0x80;
		memcpy(h + n, KEY, 4);
		n += 4;
	}
	s_raw(s, h, n);
}

/* A whole frame; the payload is masked here, independently of ws_mask(). */
static void
s_frame_ex(struct stream *s, uint8_t b0, int masked, int form,
    const void *payload, size_t len)
{
	const uint8_t *p = payload;
	size_t i;

	s_hdr(s, b0, masked, form, len);
	s_reserve(s, len);
	for (i = 0; i < len; i++)
		s->b[s->len + i] = masked ? p[i] ^ KEY[i & 3] : p[i];
	s->len += len;
}

static void
s_frame(struct stream *s, uint8_t b0, const void *payload, size_t len)
{
	s_frame_ex(s, b0, 1, 0, payload, len);
}

static void
s_str(struct stream *s, uint8_t b0, const char *payload)
{
	s_frame(s, b0, payload, strlen(payload));
}

/* A close frame with a code and a reason. */
static void
s_close(struct stream *s, unsigned int code, const char *reason,
    size_t rlen)
{
	uint8_t pl[WS_CONTROL_MAX];

	assert_true(rlen + 2 <= sizeof(pl));
	pl[0] = (uint8_t)(code >> 8);
	pl[1] = (uint8_t)code;
	memcpy(pl + 2, reason, rlen);
	s_frame(s, FIN | WS_OP_CLOSE, pl, rlen + 2);
}

static void
s_free(struct stream *s)
{
	free(s->b);
	memset(s, 0, sizeof(*s));
}

/*
 * What a parser made of a stream: its events (payloads copied) and the
 * error that stopped it, if any.
 */
#define MAXEV	32

struct rec {
	int	 err;		/* 0 or a negative enum ws_err */
	size_t	 err_at;	/* stream bytes consumed when err came */
	size_t	 nev;
	struct {
		int		 type;
		unsigned int	 code;
		size_t		 len;
		uint8_t		*data;
	} ev[MAXEV];
};

static void
rec_free(struct rec *r)
{
	size_t i;

	for (i = 0; i < r->nev; i++)
		free(r->ev[i].data);
	memset(r, 0, sizeof(*r));
}

/*
 * Feed s to a fresh parser in pieces ending at each of ends[] (the last
 * one is s's length).  Each piece is a private heap copy of exactly its
 * size, so an overread is caught by ASan, and is unmasked in place.
 */
static void
feed(const uint8_t *s, size_t max, const size_t *ends, size_t nends,
    struct rec *r)
{
	struct ws_parser p;
	struct ws_event ev;
	size_t i, start = 0, off, used, n;
	uint8_t *buf;
	int rc;

	memset(r, 0, sizeof(*r));
	ws_parser_init(&p, max);
	for (i = 0; i < nends; start = ends[i++]) {
		n = ends[i] - start;
		buf = malloc(n ? n : 1);
		assert_non_null(buf);
		memcpy(buf, s + start, n);
		off = 0;
		for (;;) {
			used = (size_t)-1;
			rc = ws_parse(&p, buf + off, n - off, &used, &ev);
			if (used > n - off)
				fail_msg("used %zu > %zu offered", used,
				    n - off);
			off += used;
			if (rc < 0) {
				r->err = rc;
				r->err_at = start + off;
				free(buf);
				ws_parser_free(&p);
				return;
			}
			if (rc == 0) {
				if (off != n)
					fail_msg("returned 0 with %zu of %zu "
					    "bytes used", off, n);
				break;
			}
			assert_int_equal(rc, 1);
			if (r->nev == MAXEV)
				fail_msg("too many events");
			r->ev[r->nev].type = ev.type;
			r->ev[r->nev].code = ev.code;
			r->ev[r->nev].len = ev.len;
			r->ev[r->nev].data = malloc(ev.len ? ev.len : 1);
			assert_non_null(r->ev[r->nev].data);
			if (ev.len > 0)
				memcpy(r->ev[r->nev].data, ev.data, ev.len);
			r->nev++;
			if (off == n)
				break;
		}
		free(buf);
	}
	ws_parser_free(&p);
}

static void
rec_same(const struct rec *a, const struct rec *b, const char *how)
{
	size_t i;

	if (a->err != b->err)
		fail_msg("%s: error %d (%s), whole gave %d (%s)", how, b->err,
		    ws_strerror(b->err), a->err, ws_strerror(a->err));
	if (a->nev != b->nev)
		fail_msg("%s: %zu events, whole gave %zu", how, b->nev,
		    a->nev);
	for (i = 0; i < a->nev; i++) {
		if (a->ev[i].type != b->ev[i].type ||
		    a->ev[i].code != b->ev[i].code ||
		    a->ev[i].len != b->ev[i].len ||
		    memcmp(a->ev[i].data, b->ev[i].data, a->ev[i].len) != 0)
			fail_msg("%s: event %zu differs from whole", how, i);
	}
}

/*
 * Parse s whole into r, then byte by byte, at every split point (for
 * short streams) and in odd-sized chunks, and check every way gives the
 * same events and error.  r->err_at is the byte-by-byte position of the
 * error, which is where a fail-fast parser must stop.
 */
static void
parse_every_way(const struct stream *s, size_t max, struct rec *r)
{
	struct rec o;
	size_t *ends, i, k, n, step;
	char how[64];

	feed(s->b, max, &s->len, 1, r);

	ends = calloc(s->len + 1, sizeof(*ends));
	assert_non_null(ends);
	for (i = 0; i < s->len; i++)
		ends[i] = i + 1;
	feed(s->b, max, ends, s->len, &o);
	rec_same(r, &o, "byte by byte");
	r->err_at = o.err_at;
	rec_free(&o);

	if (s->len <= 600) {
		for (k = 1; k < s->len; k++) {
			ends[0] = k;
			ends[1] = s->len;
			feed(s->b, max, ends, 2, &o);
			snprintf(how, sizeof(how), "split at %zu", k);
			rec_same(r, &o, how);
			rec_free(&o);
		}
	}
	for (step = 3; step <= 7; step += 4) {
		for (n = 0, i = step; i < s->len; i += step)
			ends[n++] = i;
		ends[n++] = s->len;
		feed(s->b, max, ends, n, &o);
		snprintf(how, sizeof(how), "chunks of %zu", step);
		rec_same(r, &o, how);
		rec_free(&o);
	}
	free(ends);
}

static void
assert_event(const struct rec *r, size_t i, int type, const void *data,
    size_t len)
{
	if (i >= r->nev)
		fail_msg("event %zu missing (%zu events)", i, r->nev);
	assert_int_equal(r->ev[i].type, type);
	assert_int_equal(r->ev[i].len, len);
	if (len > 0)
		assert_memory_equal(r->ev[i].data, data, len);
}

/* Parse a stream expected to fail; returns the byte-by-byte position. */
static size_t
expect_error(const struct stream *s, size_t max, int err)
{
	struct rec r;
	size_t at;

	parse_every_way(s, max, &r);
	if (r.err != err)
		fail_msg("got %d (%s), want %d (%s)", r.err,
		    ws_strerror(r.err), err, ws_strerror(err));
	at = r.err_at;
	rec_free(&r);
	return at;
}

static uint8_t *
pattern(size_t len)
{
	uint8_t *p = malloc(len ? len : 1);
	size_t i;

	assert_non_null(p);
	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 7 + (i >> 8) * 13 + 1);
	return p;
}

/*
 * Frame parser: normal traffic.
 */

/* The exact bytes of RFC 6455 5.7: a masked "Hello". */
static void
test_parse_rfc_hello(void **state UNUSED)
{
	static const uint8_t hello[] = { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
	    0x7f, 0x9f, 0x4d, 0x51, 0x58 };
	struct stream s = { 0 };
	struct rec r;

	s_raw(&s, hello, sizeof(hello));
	parse_every_way(&s, 0, &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.nev, 1);
	assert_event(&r, 0, WS_EV_TEXT, "Hello", 5);
	rec_free(&r);
	s_free(&s);
}

/* Every length form, at and around each boundary, text and binary. */
static void
test_parse_lengths(void **state UNUSED)
{
	static const size_t lens[] = { 0, 1, 2, 3, 4, 5, 124, 125, 126, 127,
	    128, 300, 1000, 65535, 65536, 65537, 70000 };
	struct stream s = { 0 };
	struct rec r;
	uint8_t *pl;
	size_t i, hlen;

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		pl = pattern(lens[i]);
		s_frame(&s, FIN | WS_OP_BINARY, pl, lens[i]);
		hlen = lens[i] < 126 ? 6 : lens[i] <= 0xffff ? 8 : 14;
		assert_int_equal(s.len, hlen + lens[i]);
		parse_every_way(&s, 0, &r);
		if (r.err != 0)
			fail_msg("length %zu: %s", lens[i],
			    ws_strerror(r.err));
		assert_int_equal(r.nev, 1);
		assert_event(&r, 0, WS_EV_BINARY, pl, lens[i]);
		rec_free(&r);
		s_free(&s);

		/* The same as ASCII text. */
		memset(pl, 'a', lens[i]);
		s_frame(&s, FIN | WS_OP_TEXT, pl, lens[i]);
		parse_every_way(&s, 0, &r);
		assert_int_equal(r.err, 0);
		assert_int_equal(r.nev, 1);
		assert_event(&r, 0, WS_EV_TEXT, pl, lens[i]);
		rec_free(&r);
		s_free(&s);
		free(pl);
	}
}

/* Empty payloads of every frame type, one after another. */
static void
test_parse_empty(void **state UNUSED)
{
	struct stream s = { 0 };
	struct rec r;

	s_frame(&s, FIN | WS_OP_TEXT, "", 0);
	s_frame(&s, FIN | WS_OP_BINARY, "", 0);
	s_frame(&s, FIN | WS_OP_PING, "", 0);
	s_frame(&s, FIN | WS_OP_PONG, "", 0);
	s_frame(&s, FIN | WS_OP_CLOSE, "", 0);
	parse_every_way(&s, 100, &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.nev, 5);
	assert_event(&r, 0, WS_EV_TEXT, "", 0);
	assert_event(&r, 1, WS_EV_BINARY, "", 0);
	assert_event(&r, 2, WS_EV_PING, "", 0);
	assert_event(&r, 3, WS_EV_PONG, "", 0);
	assert_event(&r, 4, WS_EV_CLOSE, "", 0);
	assert_int_equal(r.ev[4].code, WS_CLOSE_NO_STATUS);
	rec_free(&r);
	s_free(&s);
}

/* An empty message made of empty fragments, the first in a new parser. */
static void
test_parse_empty_fragments(void **state UNUSED)
{
	struct stream s = { 0 };
	struct rec r;

	s_frame(&s, WS_OP_TEXT, "", 0);
	s_frame(&s, WS_OP_CONT, "", 0);
	s_frame(&s, FIN | WS_OP_CONT, "", 0);
	s_frame(&s, WS_OP_BINARY, "", 0);
	s_frame(&s, FIN | WS_OP_CONT, "ab", 2);
	parse_every_way(&s, 0, &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.nev, 2);
	assert_event(&r, 0, WS_EV_TEXT, "", 0);
	assert_event(&r, 1, WS_EV_BINARY, "ab", 2);
	rec_free(&r);
	s_free(&s);
}

/* Several frames in one buffer: each call returns one event. */
static void
test_parse_several_in_one_buffer(void **state UNUSED)
{
	struct stream s = { 0 };
	struct ws_parser p;
	struct ws_event ev;
	size_t used, off = 0, first;

	s_str(&s, FIN | WS_OP_TEXT, "one");
	first = s.len;
	s_str(&s, FIN | WS_OP_PING, "two");
	s_str(&s, FIN | WS_OP_BINARY, "three");

	ws_parser_init(&p, 0);
	assert_int_equal(ws_parse(&p, s.b, s.len, &used, &ev), 1);
	assert_int_equal(used, first);
	assert_int_equal(ev.type, WS_EV_TEXT);
	assert_int_equal(ev.len, 3);
	assert_memory_equal(ev.data, "one", 3);
	off += used;
	assert_int_equal(ws_parse(&p, s.b + off, s.len - off, &used, &ev), 1);
	assert_int_equal(ev.type, WS_EV_PING);
	assert_memory_equal(ev.data, "two", 3);
	off += used;
	assert_int_equal(ws_parse(&p, s.b + off, s.len - off, &used, &ev), 1);
	assert_int_equal(ev.type, WS_EV_BINARY);
	assert_int_equal(ev.len, 5);
	assert_memory_equal(ev.data, "three", 5);
	off += used;
	assert_int_equal(off, s.len);
	assert_int_equal(ws_parse(&p, s.b + off, 0, &used, &ev), 0);
	assert_int_equal(used, 0);
	assert_int_equal(ev.type, WS_EV_NONE);
	ws_parser_free(&p);
	s_free(&s);
}

/* A partial frame returns 0 with everything consumed and no event. */
static void
test_parse_partial(void **state UNUSED)
{
	struct stream s = { 0 };
	struct ws_parser p;
	struct ws_event ev;
	size_t used;

	s_str(&s, FIN | WS_OP_TEXT, "Hello");
	ws_parser_init(&p, 0);
	assert_int_equal(ws_parse(&p, s.b, s.len - 1, &used, &ev), 0);
	assert_int_equal(used, s.len - 1);
	assert_int_equal(ev.type, WS_EV_NONE);
	assert_int_equal(ws_parse(&p, s.b + s.len - 1, 1, &used, &ev), 1);
	assert_int_equal(used, 1);
	assert_int_equal(ev.type, WS_EV_TEXT);
	assert_int_equal(ev.len, 5);
	assert_memory_equal(ev.data, "Hello", 5);
	ws_parser_free(&p);
	s_free(&s);
}

/* Fragmented text and binary with control frames in between. */
static void
test_parse_fragmented(void **state UNUSED)
{
	struct stream s = { 0 };
	struct rec r;

	s_str(&s, WS_OP_TEXT, "Hel");
	s_str(&s, FIN | WS_OP_PING, "p1");
	s_str(&s, WS_OP_CONT, "lo, ");
	s_str(&s, FIN | WS_OP_PONG, "");
	s_str(&s, WS_OP_CONT, "");
	s_str(&s, FIN | WS_OP_CONT, "world");
	s_frame(&s, WS_OP_BINARY, "\x00\xff", 2);
	s_str(&s, FIN | WS_OP_PING, "p2");
	s_frame(&s, FIN | WS_OP_CONT, "\xfe", 1);
	s_str(&s, FIN | WS_OP_TEXT, "after");
	parse_every_way(&s, 0, &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.nev, 6);
	assert_event(&r, 0, WS_EV_PING, "p1", 2);
	assert_event(&r, 1, WS_EV_PONG, "", 0);
	assert_event(&r, 2, WS_EV_TEXT, "Hello, world", 12);
	assert_event(&r, 3, WS_EV_PING, "p2", 2);
	assert_event(&r, 4, WS_EV_BINARY, "\x00\xff\xfe", 3);
	assert_event(&r, 5, WS_EV_TEXT, "after", 5);
	rec_free(&r);
	s_free(&s);

	/* Binary fragments with every byte value, one of them long. */
	uint8_t *pl = pattern(70000);
	s_frame(&s, WS_OP_BINARY, pl, 10);
	s_frame(&s, FIN | WS_OP_PING, pl, 125);
	s_frame(&s, WS_OP_CONT, pl + 10, 65990);
	s_frame(&s, FIN | WS_OP_CONT, pl + 66000, 4000);
	parse_every_way(&s, 0, &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.nev, 2);
	assert_event(&r, 0, WS_EV_PING, pl, 125);
	assert_event(&r, 1, WS_EV_BINARY, pl, 70000);
	rec_free(&r);
	s_free(&s);
	free(pl);
}

/* A parser serves many messages; a big one does not spoil the next. */
static void
test_parse_reuse(void **state UNUSED)
{
	struct stream s = { 0 };
	struct rec r;
	uint8_t *big = pattern(200000);

	s_str(&s, FIN | WS_OP_TEXT, "first");
	s_frame(&s, WS_OP_BINARY, big, 100000);
	s_frame(&s, FIN | WS_OP_CONT, big + 100000, 100000);
	s_str(&s, WS_OP_TEXT, "sm");
	s_str(&s, FIN | WS_OP_CONT, "all");
	s_str(&s, FIN | WS_OP_BINARY, "x");
	parse_every_way(&s, 0, &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.nev, 4);
	assert_event(&r, 0, WS_EV_TEXT, "first", 5);
	assert_event(&r, 1, WS_EV_BINARY, big, 200000);
	assert_event(&r, 2, WS_EV_TEXT, "small", 5);
	assert_event(&r, 3, WS_EV_BINARY, "x", 1);
	rec_free(&r);
	s_free(&s);
	free(big);
}

static void
test_parse_control_payloads(void **state UNUSED)
{
	struct stream s = { 0 };
	struct rec r;
	uint8_t *pl = pattern(125);

	s_frame(&s, FIN | WS_OP_PING, pl, 125);
	s_frame(&s, FIN | WS_OP_PONG, pl, 125);
	s_close(&s, 1000, "bye", 3);
	parse_every_way(&s, 0, &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.nev, 3);
	assert_event(&r, 0, WS_EV_PING, pl, 125);
	assert_event(&r, 1, WS_EV_PONG, pl, 125);
	assert_event(&r, 2, WS_EV_CLOSE, "bye", 3);
	assert_int_equal(r.ev[2].code, 1000);
	rec_free(&r);
	s_free(&s);

	/* A close reason of the largest size, in UTF-8. */
	char reason[123];
	memset(reason, 'r', sizeof(reason));
	memcpy(reason + 100, "\xe2\x82\xac", 3);
	s_close(&s, 4999, reason, sizeof(reason));
	parse_every_way(&s, 0, &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.nev, 1);
	assert_event(&r, 0, WS_EV_CLOSE, reason, sizeof(reason));
	assert_int_equal(r.ev[0].code, 4999);
	rec_free(&r);
	s_free(&s);
	free(pl);
}

static void
test_parse_close_codes(void **state UNUSED)
{
	static const unsigned int good[] = { 1000, 1001, 1002, 1003, 1007,
	    1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000,
	    4999 };
	static const unsigned int bad[] = { 0, 1, 999, 1004, 1005, 1006,
	    1015, 1016, 1100, 2000, 2999, 5000, 6000, 65535 };
	struct stream s = { 0 };
	struct rec r;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_true(ws_close_code_valid(good[i]));
		s_close(&s, good[i], "", 0);
		parse_every_way(&s, 0, &r);
		if (r.err != 0)
			fail_msg("code %u: %s", good[i], ws_strerror(r.err));
		assert_int_equal(r.nev, 1);
		assert_event(&r, 0, WS_EV_CLOSE, "", 0);
		assert_int_equal(r.ev[0].code, good[i]);
		rec_free(&r);
		s_free(&s);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (ws_close_code_valid(bad[i]))
			fail_msg("ws_close_code_valid(%u)", bad[i]);
		s_close(&s, bad[i], "x", 1);
		parse_every_way(&s, 0, &r);
		if (r.err != WS_E_CLOSE_CODE)
			fail_msg("code %u: got %d", bad[i], r.err);
		assert_int_equal(ws_err_close_code(r.err), WS_CLOSE_PROTOCOL);
		rec_free(&r);
		s_free(&s);
	}
	/* Every code in the ranges, against the rules of section 7.4. */
	for (i = 0; i < 70000; i++) {
		int want = (i >= 1000 && i <= 1003) ||
		    (i >= 1007 && i <= 1014) || (i >= 3000 && i <= 4999);
		if (ws_close_code_valid((unsigned int)i) != want)
			fail_msg("ws_close_code_valid(%zu) != %d", i, want);
	}
}

static void
test_parse_close_len1(void **state UNUSED)
{
	struct stream s = { 0 };

	s_frame(&s, FIN | WS_OP_CLOSE, "\x03", 1);
	expect_error(&s, 0, WS_E_CLOSE_LEN);
	assert_int_equal(ws_err_close_code(WS_E_CLOSE_LEN), WS_CLOSE_PROTOCOL);
	s_free(&s);
}

static void
test_parse_close_reason_utf8(void **state UNUSED)
{
	struct stream s = { 0 };

	s_close(&s, 1000, "ok\xff", 3);
	expect_error(&s, 0, WS_E_UTF8);
	s_free(&s);
	s_close(&s, 1000, "\xe2\x82", 2);		/* truncated */
	expect_error(&s, 0, WS_E_UTF8);
	s_free(&s);
	s_close(&s, 1001, "\xed\xa0\x80", 3);		/* surrogate */
	expect_error(&s, 0, WS_E_UTF8);
	s_free(&s);
	s_close(&s, 1000, "\xc0\x80", 2);		/* overlong NUL */
	expect_error(&s, 0, WS_E_UTF8);
	s_free(&s);
}

/* After a close frame the peer may send nothing more. */
static void
test_parse_after_close(void **state UNUSED)
{
	struct stream s = { 0 };
	struct rec r;

	s_close(&s, 1000, "", 0);
	s_str(&s, FIN | WS_OP_TEXT, "late");
	parse_every_way(&s, 0, &r);
	assert_int_equal(r.nev, 1);
	assert_event(&r, 0, WS_EV_CLOSE, "", 0);
	assert_int_equal(r.ev[0].code, 1000);
	assert_int_equal(r.err, WS_E_CLOSED);
	rec_free(&r);
	s_free(&s);
}

/*
 * Frame parser: protocol errors.  Each must be found as soon as the
 * header bytes that decide it are in, before any payload.
 */

static void
test_err_unmasked(void **state UNUSED)
{
	static const uint8_t ops[] = { WS_OP_TEXT, WS_OP_BINARY, WS_OP_PING,
	    WS_OP_PONG, WS_OP_CLOSE };
	struct stream s = { 0 };
	size_t i;

	for (i = 0; i < sizeof(ops); i++) {
		s_frame_ex(&s, FIN | ops[i], 0, 0, "abc", 3);
		assert_int_equal(expect_error(&s, 0, WS_E_UNMASKED), 2);
		s_free(&s);
	}
	/* An unmasked continuation inside a message. */
	s_str(&s, WS_OP_TEXT, "a");
	s_frame_ex(&s, FIN | WS_OP_CONT, 0, 0, "b", 1);
	assert_int_equal(expect_error(&s, 0, WS_E_UNMASKED), 7 + 2);
	s_free(&s);
	/* Unmasked with a 16-bit length, before the length bytes. */
	s_frame_ex(&s, FIN | WS_OP_BINARY, 0, 16, "abc", 3);
	assert_true(expect_error(&s, 0, WS_E_UNMASKED) <= 4);
	s_free(&s);
	assert_int_equal(ws_err_close_code(WS_E_UNMASKED), WS_CLOSE_PROTOCOL);
}

static void
test_err_rsv(void **state UNUSED)
{
	static const uint8_t rsv[] = { 0x40, 0x20, 0x10, 0x70 };
	static const uint8_t ops[] = { WS_OP_TEXT, WS_OP_BINARY, WS_OP_PING,
	    WS_OP_CLOSE };
	struct stream s = { 0 };
	size_t i, j;

	for (i = 0; i < sizeof(rsv); i++) {
		for (j = 0; j < sizeof(ops); j++) {
			s_str(&s, FIN | rsv[i] | ops[j], "abc");
			assert_int_equal(expect_error(&s, 0, WS_E_RSV), 2);
			s_free(&s);
		}
		/* On a continuation frame, too. */
		s_str(&s, WS_OP_BINARY, "a");
		s_str(&s, FIN | rsv[i] | WS_OP_CONT, "b");
		assert_int_equal(expect_error(&s, 0, WS_E_RSV), 7 + 2);
		s_free(&s);
	}
	assert_int_equal(ws_err_close_code(WS_E_RSV), WS_CLOSE_PROTOCOL);
}

static void
test_err_opcode(void **state UNUSED)
{
	static const uint8_t ops[] = { 3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe,
	    0xf };
	struct stream s = { 0 };
	size_t i;

	for (i = 0; i < sizeof(ops); i++) {
		s_str(&s, FIN | ops[i], "abc");
		assert_int_equal(expect_error(&s, 0, WS_E_OPCODE), 2);
		s_free(&s);
		/* Without FIN and inside a fragmented message. */
		s_str(&s, WS_OP_TEXT, "a");
		s_str(&s, ops[i], "");
		assert_int_equal(expect_error(&s, 0, WS_E_OPCODE), 7 + 2);
		s_free(&s);
	}
	assert_int_equal(ws_err_close_code(WS_E_OPCODE), WS_CLOSE_PROTOCOL);
}

static void
test_err_control_fragmented(void **state UNUSED)
{
	static const uint8_t ops[] = { WS_OP_PING, WS_OP_PONG, WS_OP_CLOSE };
	struct stream s = { 0 };
	size_t i;

	for (i = 0; i < sizeof(ops); i++) {
		s_str(&s, ops[i], "");
		assert_int_equal(expect_error(&s, 0, WS_E_CTRL_FRAGMENTED), 2);
		s_free(&s);
		s_str(&s, WS_OP_TEXT, "a");
		s_frame(&s, ops[i], "\x03\xe8", 2);
		assert_int_equal(expect_error(&s, 0, WS_E_CTRL_FRAGMENTED),
		    7 + 2);
		s_free(&s);
	}
	assert_int_equal(ws_err_close_code(WS_E_CTRL_FRAGMENTED),
	    WS_CLOSE_PROTOCOL);
}

static void
test_err_control_too_long(void **state UNUSED)
{
	static const uint8_t ops[] = { WS_OP_PING, WS_OP_PONG, WS_OP_CLOSE };
	struct stream s = { 0 };
	struct rec r;
	uint8_t *pl = pattern(70000);
	size_t i;

	for (i = 0; i < sizeof(ops); i++) {
		s_frame(&s, FIN | ops[i], pl, 126);
		assert_int_equal(expect_error(&s, 0, WS_E_CTRL_TOO_LONG), 2);
		s_free(&s);
		s_frame(&s, FIN | ops[i], pl, 65536);
		assert_int_equal(expect_error(&s, 0, WS_E_CTRL_TOO_LONG), 2);
		s_free(&s);
		/* A control frame may only use the 7-bit length form. */
		s_frame_ex(&s, FIN | ops[i], 1, 16, "\x03\xe8", 2);
		parse_every_way(&s, 0, &r);
		if (r.err != WS_E_CTRL_TOO_LONG && r.err != WS_E_LENGTH)
			fail_msg("16-bit form control frame: %d", r.err);
		rec_free(&r);
		s_free(&s);
	}
	free(pl);
	assert_int_equal(ws_err_close_code(WS_E_CTRL_TOO_LONG),
	    WS_CLOSE_PROTOCOL);
}

static void
test_err_continuation_without_start(void **state UNUSED)
{
	struct stream s = { 0 };

	s_str(&s, FIN | WS_OP_CONT, "x");
	assert_int_equal(expect_error(&s, 0, WS_E_NO_MESSAGE), 2);
	s_free(&s);
	s_str(&s, WS_OP_CONT, "x");
	assert_int_equal(expect_error(&s, 0, WS_E_NO_MESSAGE), 2);
	s_free(&s);
	/* After a finished message, with a control frame between. */
	s_str(&s, WS_OP_TEXT, "a");
	s_str(&s, FIN | WS_OP_CONT, "b");
	s_str(&s, FIN | WS_OP_PING, "");
	s_str(&s, FIN | WS_OP_CONT, "c");
	assert_int_equal(expect_error(&s, 0, WS_E_NO_MESSAGE),
	    7 + 7 + 6 + 2);
	s_free(&s);
	assert_int_equal(ws_err_close_code(WS_E_NO_MESSAGE),
	    WS_CLOSE_PROTOCOL);
}

static void
test_err_data_inside_message(void **state UNUSED)
{
	static const uint8_t first[] = { WS_OP_TEXT, WS_OP_BINARY };
	static const uint8_t second[] = { WS_OP_TEXT, WS_OP_BINARY,
	    FIN | WS_OP_TEXT, FIN | WS_OP_BINARY };
	struct stream s = { 0 };
	size_t i, j;

	for (i = 0; i < sizeof(first); i++) {
		for (j = 0; j < sizeof(second); j++) {
			s_str(&s, first[i], "a");
			s_str(&s, FIN | WS_OP_PING, "");
			s_str(&s, WS_OP_CONT, "b");
			s_str(&s, second[j], "c");
			assert_int_equal(expect_error(&s, 0, WS_E_IN_MESSAGE),
			    7 + 6 + 7 + 2);
			s_free(&s);
		}
	}
	assert_int_equal(ws_err_close_code(WS_E_IN_MESSAGE),
	    WS_CLOSE_PROTOCOL);
}

static void
test_err_length_not_minimal(void **state UNUSED)
{
	struct stream s = { 0 };
	uint8_t *pl = pattern(65535);

	s_frame_ex(&s, FIN | WS_OP_BINARY, 1, 16, pl, 0);
	assert_true(expect_error(&s, 0, WS_E_LENGTH) <= 8);
	s_free(&s);
	s_frame_ex(&s, FIN | WS_OP_BINARY, 1, 16, pl, 125);
	assert_true(expect_error(&s, 0, WS_E_LENGTH) <= 8);
	s_free(&s);
	s_frame_ex(&s, FIN | WS_OP_TEXT, 1, 64, "hi", 2);
	assert_true(expect_error(&s, 0, WS_E_LENGTH) <= 14);
	s_free(&s);
	s_frame_ex(&s, FIN | WS_OP_BINARY, 1, 64, pl, 126);
	assert_true(expect_error(&s, 0, WS_E_LENGTH) <= 14);
	s_free(&s);
	s_frame_ex(&s, FIN | WS_OP_BINARY, 1, 64, pl, 65535);
	assert_true(expect_error(&s, 0, WS_E_LENGTH) <= 14);
	s_free(&s);
	/* The smallest lengths of each form are fine. */
	s_frame_ex(&s, FIN | WS_OP_BINARY, 1, 16, pl, 126);
	expect_error(&s, 0, 0);
	s_free(&s);
	free(pl);
	assert_int_equal(ws_err_close_code(WS_E_LENGTH), WS_CLOSE_PROTOCOL);
}

static void
test_err_length_top_bit(void **state UNUSED)
{
	struct stream s = { 0 };

	s_hdr(&s, FIN | WS_OP_BINARY, 1, 64, 0x8000000000000000ULL);
	s_raw(&s, "abcd", 4);
	assert_true(expect_error(&s, 0, WS_E_LENGTH) <= 14);
	s_free(&s);
	s_hdr(&s, FIN | WS_OP_BINARY, 1, 64, UINT64_MAX);
	assert_true(expect_error(&s, 0, WS_E_LENGTH) <= 14);
	s_free(&s);
	s_hdr(&s, WS_OP_TEXT, 1, 64, 0x8000000000010000ULL);
	assert_true(expect_error(&s, 0, WS_E_LENGTH) <= 14);
	s_free(&s);
}

/*
 * Text messages: invalid UTF-8 fails fast, at the byte that makes it
 * impossible, even in a later fragment.
 */
static void
test_err_text_utf8(void **state UNUSED)
{
	struct stream s = { 0 };
	struct rec r;

	/* Header 6 bytes, then "abc", then the bad byte at 9. */
	s_frame(&s, FIN | WS_OP_TEXT, "abc\xff" "defgh", 9);
	assert_int_equal(expect_error(&s, 0, WS_E_UTF8), 10);
	s_free(&s);

	/* Above U+10FFFF: fails at its second byte. */
	s_frame(&s, FIN | WS_OP_TEXT, "\xf4\x90\x80\x80zz", 6);
	assert_int_equal(expect_error(&s, 0, WS_E_UTF8), 6 + 2);
	s_free(&s);

	/* In a later fragment, before that fragment or message ends. */
	s_str(&s, WS_OP_TEXT, "ok");			/* 8 bytes */
	s_str(&s, FIN | WS_OP_PING, "p");		/* 7 bytes */
	s_frame(&s, WS_OP_CONT, "\xf4\x90zz", 4);	/* \x90 at 22 */
	s_str(&s, FIN | WS_OP_CONT, "end");
	parse_every_way(&s, 0, &r);
	assert_int_equal(r.err, WS_E_UTF8);
	assert_int_equal(r.err_at, 8 + 7 + 6 + 2);
	assert_int_equal(r.nev, 1);
	assert_event(&r, 0, WS_EV_PING, "p", 1);
	rec_free(&r);
	s_free(&s);

	/* A sequence split over fragments whose tail is bad. */
	s_frame(&s, WS_OP_TEXT, "x\xe2", 2);		/* 8 bytes */
	s_frame(&s, FIN | WS_OP_CONT, "\x82\x28", 2);	/* \x28 at 15 */
	assert_int_equal(expect_error(&s, 0, WS_E_UTF8), 16);
	s_free(&s);

	/* A surrogate split over fragments: fails at its second byte. */
	s_frame(&s, WS_OP_TEXT, "\xed", 1);		/* 7 bytes */
	s_frame(&s, FIN | WS_OP_CONT, "\xa0\x80", 2);	/* \xa0 at 13 */
	assert_int_equal(expect_error(&s, 0, WS_E_UTF8), 14);
	s_free(&s);

	/* Truncated at the end of the message: found at its end. */
	s_frame(&s, FIN | WS_OP_TEXT, "ab\xe2\x82", 4);
	assert_int_equal(expect_error(&s, 0, WS_E_UTF8), s.len);
	s_free(&s);
	s_frame(&s, WS_OP_TEXT, "ab", 2);
	s_frame(&s, FIN | WS_OP_CONT, "\xf0\x9f\x98", 3);
	assert_int_equal(expect_error(&s, 0, WS_E_UTF8), s.len);
	s_free(&s);

	assert_int_equal(ws_err_close_code(WS_E_UTF8), WS_CLOSE_INVALID_DATA);
}

/* Valid multi-byte text split over fragments; binary is not checked. */
static void
test_parse_text_utf8_split(void **state UNUSED)
{
	struct stream s = { 0 };
	struct rec r;

	s_frame(&s, WS_OP_TEXT, "\xe2", 1);
	s_str(&s, FIN | WS_OP_PING, "");
	s_frame(&s, WS_OP_CONT, "\x82", 1);
	s_frame(&s, WS_OP_CONT, "\xac\xf0\x9f", 3);
	s_frame(&s, FIN | WS_OP_CONT, "\x98\x80", 2);
	s_frame(&s, FIN | WS_OP_BINARY, "\xff\xf4\x90\xc0", 4);
	s_frame(&s, FIN | WS_OP_TEXT, "\xc3\xa9t\xc3\xa9", 5);
	parse_every_way(&s, 0, &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.nev, 4);
	assert_event(&r, 0, WS_EV_PING, "", 0);
	assert_event(&r, 1, WS_EV_TEXT, "\xe2\x82\xac\xf0\x9f\x98\x80", 7);
	assert_event(&r, 2, WS_EV_BINARY, "\xff\xf4\x90\xc0", 4);
	assert_event(&r, 3, WS_EV_TEXT, "\xc3\xa9t\xc3\xa9", 5);
	rec_free(&r);
	s_free(&s);
}

/* The message size cap, in one frame and across fragments. */
static void
test_err_too_big(void **state UNUSED)
{
	struct stream s = { 0 };
	struct rec r;
	uint8_t *pl = pattern(200);

	/* Exactly the cap is fine, one more is not. */
	s_frame(&s, FIN | WS_OP_BINARY, pl, 100);
	s_frame(&s, FIN | WS_OP_BINARY, pl, 100);
	parse_every_way(&s, 100, &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.nev, 2);
	assert_event(&r, 1, WS_EV_BINARY, pl, 100);
	rec_free(&r);
	s_free(&s);

	s_frame(&s, FIN | WS_OP_BINARY, pl, 101);
	assert_int_equal(expect_error(&s, 100, WS_E_TOO_BIG), 6);
	s_free(&s);
	memset(pl, 'a', 200);
	s_frame(&s, FIN | WS_OP_TEXT, pl, 200);
	assert_int_equal(expect_error(&s, 100, WS_E_TOO_BIG), 8);
	s_free(&s);

	/* Fragments that add up to the cap; control frames do not count. */
	s_frame(&s, WS_OP_TEXT, pl, 50);
	s_frame(&s, FIN | WS_OP_PING, pl, 100);
	s_frame(&s, WS_OP_CONT, pl, 0);
	s_frame(&s, FIN | WS_OP_CONT, pl, 50);
	parse_every_way(&s, 100, &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.nev, 2);
	assert_event(&r, 1, WS_EV_TEXT, pl, 100);
	rec_free(&r);
	s_free(&s);

	/* One byte over the cap, in the third fragment. */
	s_frame(&s, WS_OP_BINARY, pl, 40);		/* 46 bytes */
	s_frame(&s, WS_OP_CONT, pl, 40);		/* 46 bytes */
	s_frame(&s, FIN | WS_OP_CONT, pl, 21);
	assert_int_equal(expect_error(&s, 100, WS_E_TOO_BIG), 46 + 46 + 6);
	s_free(&s);

	/* A huge length is refused from its header alone. */
	s_hdr(&s, FIN | WS_OP_BINARY, 1, 64, 1ULL << 40);
	assert_int_equal(expect_error(&s, 65536, WS_E_TOO_BIG), 14);
	s_free(&s);

	assert_int_equal(ws_err_close_code(WS_E_TOO_BIG), WS_CLOSE_TOO_BIG);
	free(pl);
}

/* max 0: no cap. */
static void
test_parse_no_cap(void **state UNUSED)
{
	struct stream s = { 0 };
	struct rec r;
	uint8_t *pl = pattern(300000);

	s_frame(&s, FIN | WS_OP_BINARY, pl, 300000);
	s_frame(&s, WS_OP_BINARY, pl, 100000);
	s_frame(&s, WS_OP_CONT, pl + 100000, 100000);
	s_frame(&s, FIN | WS_OP_CONT, pl + 200000, 100000);
	parse_every_way(&s, 0, &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.nev, 2);
	assert_event(&r, 0, WS_EV_BINARY, pl, 300000);
	assert_event(&r, 1, WS_EV_BINARY, pl, 300000);
	rec_free(&r);
	s_free(&s);
	free(pl);
}

static void
test_err_close_code_mapping(void **state UNUSED)
{
	static const struct {
		int	err, code;
	} map[] = {
		{ WS_E_UNMASKED, 1002 }, { WS_E_RSV, 1002 },
		{ WS_E_OPCODE, 1002 }, { WS_E_CTRL_FRAGMENTED, 1002 },
		{ WS_E_CTRL_TOO_LONG, 1002 }, { WS_E_NO_MESSAGE, 1002 },
		{ WS_E_IN_MESSAGE, 1002 }, { WS_E_CLOSE_LEN, 1002 },
		{ WS_E_CLOSE_CODE, 1002 }, { WS_E_LENGTH, 1002 },
		{ WS_E_CLOSED, 1002 }, { WS_E_UTF8, 1007 },
		{ WS_E_TOO_BIG, 1009 }, { WS_E_NOMEM, 1011 },
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (ws_err_close_code(map[i].err) != map[i].code)
			fail_msg("ws_err_close_code(%d) = %d, want %d",
			    map[i].err, ws_err_close_code(map[i].err),
			    map[i].code);
		assert_non_null(ws_strerror(map[i].err));
		assert_string_not_equal(ws_strerror(map[i].err),
		    ws_strerror(12345));
	}
}

/*
 * Frame writer and masking.
 */
static void
test_frame_header(void **state UNUSED)
{
	static const struct {
		uint64_t	len;
		size_t		n;
		uint8_t		b[10];
	} t[] = {
		{ 0, 2, { 0x81, 0 } },
		{ 1, 2, { 0x81, 1 } },
		{ 125, 2, { 0x81, 125 } },
		{ 126, 4, { 0x81, 126, 0, 126 } },
		{ 127, 4, { 0x81, 126, 0, 127 } },
		{ 256, 4, { 0x81, 126, 1, 0 } },
		{ 65535, 4, { 0x81, 126, 0xff, 0xff } },
		{ 65536, 10, { 0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0 } },
		{ 1ULL << 32, 10, { 0x81, 127, 0, 0, 0, 1, 0, 0, 0, 0 } },
		{ 0x0102030405060708ULL, 10,
		    { 0x81, 127, 1, 2, 3, 4, 5, 6, 7, 8 } },
	};
	uint8_t out[WS_FRAME_HEADER_MAX];
	size_t i, n;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		memset(out, 0xaa, sizeof(out));
		n = ws_frame_header(out, WS_OP_TEXT, 1, t[i].len);
		if (n != t[i].n)
			fail_msg("length %llu: %zu header bytes, want %zu",
			    (unsigned long long)t[i].len, n, t[i].n);
		assert_memory_equal(out, t[i].b, n);
		assert_int_equal(out[1] & 0x80, 0);	/* never masked */
		assert_int_equal(out[n], 0xaa);		/* wrote no more */
	}

	/* Opcode and FIN. */
	n = ws_frame_header(out, WS_OP_BINARY, 1, 3);
	assert_int_equal(n, 2);
	assert_int_equal(out[0], 0x82);
	assert_int_equal(out[1], 3);
	n = ws_frame_header(out, WS_OP_TEXT, 0, 3);
	assert_int_equal(out[0], 0x01);
	n = ws_frame_header(out, WS_OP_CONT, 1, 0);
	assert_int_equal(out[0], 0x80);
	n = ws_frame_header(out, WS_OP_CLOSE, 1, 2);
	assert_int_equal(out[0], 0x88);
	n = ws_frame_header(out, WS_OP_PING, 1, 0);
	assert_int_equal(out[0], 0x89);
	n = ws_frame_header(out, WS_OP_PONG, 1, 125);
	assert_int_equal(out[0], 0x8a);
	assert_int_equal(out[1], 125);
}

/* A server frame, once masked as a client's, parses back. */
static void
test_frame_header_roundtrip(void **state UNUSED)
{
	static const uint64_t lens[] = { 0, 5, 125, 126, 65535, 65536 };
	struct stream s = { 0 };
	struct rec r;
	uint8_t h[WS_FRAME_HEADER_MAX + 4], *pl;
	size_t i, n;

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		pl = pattern((size_t)lens[i]);
		n = ws_frame_header(h, WS_OP_BINARY, 1, lens[i]);
		h[1] |= 0x80;
		memcpy(h + n, KEY, 4);
		s_raw(&s, h, n + 4);
		s_raw(&s, pl, (size_t)lens[i]);
		ws_mask(s.b + n + 4, (size_t)lens[i], KEY, 0);
		parse_every_way(&s, 0, &r);
		assert_int_equal(r.err, 0);
		assert_event(&r, 0, WS_EV_BINARY, pl, (size_t)lens[i]);
		rec_free(&r);
		s_free(&s);
		free(pl);
	}
}

static void
test_mask(void **state UNUSED)
{
	static const uint8_t masked[] = { 0x7f, 0x9f, 0x4d, 0x51, 0x58 };
	uint8_t buf[64], whole[64], ref[64];
	size_t i, a, b;

	/* RFC 6455 5.7. */
	memcpy(buf, masked, 5);
	ws_mask(buf, 5, KEY, 0);
	assert_memory_equal(buf, "Hello", 5);
	ws_mask(buf, 5, KEY, 0);
	assert_memory_equal(buf, masked, 5);

	for (i = 0; i < sizeof(ref); i++)
		ref[i] = (uint8_t)(i * 31 + 7);
	memcpy(whole, ref, sizeof(whole));
	ws_mask(whole, sizeof(whole), KEY, 0);
	for (i = 0; i < sizeof(whole); i++)
		assert_int_equal(whole[i], ref[i] ^ KEY[i & 3]);

	/* Masking in pieces, each with its offset, equals masking whole. */
	for (a = 0; a <= sizeof(buf); a++) {
		for (b = a; b <= sizeof(buf); b += 3) {
			memcpy(buf, ref, sizeof(buf));
			ws_mask(buf, a, KEY, 0);
			ws_mask(buf + a, b - a, KEY, a);
			ws_mask(buf + b, sizeof(buf) - b, KEY, b);
			if (memcmp(buf, whole, sizeof(buf)) != 0)
				fail_msg("pieces at %zu and %zu differ", a, b);
		}
	}

	/* The offset is taken modulo 4, also when large. */
	memcpy(buf, ref, 8);
	ws_mask(buf, 8, KEY, (1ULL << 40) + 2);
	for (i = 0; i < 8; i++)
		assert_int_equal(buf[i], ref[i] ^ KEY[(i + 2) & 3]);

	/* Zero length touches nothing. */
	memcpy(buf, ref, 4);
	ws_mask(buf, 0, KEY, 1);
	assert_memory_equal(buf, ref, 4);
}

/*
 * UTF-8.
 */
struct u8case {
	const char	*s;
	size_t		 len;
	int		 fail_at;	/* index of the failing byte; -1 when
					   only the end is missing */
};

#define U8(lit, at)	{ lit, sizeof(lit) - 1, at }

static const struct u8case u8_good[] = {
	U8("", 0),
	U8("a", 0),
	U8("hello, world, all ASCII here", 0),
	U8("\x7f", 0),
	U8("\xc2\x80", 0),			/* U+0080 */
	U8("\xc3\xa9", 0),			/* e acute */
	U8("\xdf\xbf", 0),			/* U+07FF */
	U8("\xe0\xa0\x80", 0),			/* U+0800 */
	U8("\xe2\x82\xac", 0),			/* euro */
	U8("\xed\x9f\xbf", 0),			/* U+D7FF */
	U8("\xee\x80\x80", 0),			/* U+E000 */
	U8("\xef\xbf\xbd", 0),			/* U+FFFD */
	U8("\xef\xbf\xbf", 0),			/* U+FFFF */
	U8("\xf0\x90\x80\x80", 0),		/* U+10000 */
	U8("\xf0\x9f\x98\x80", 0),		/* emoji */
	U8("\xf3\xbf\xbf\xbf", 0),
	U8("\xf4\x8f\xbf\xbf", 0),		/* U+10FFFF */
	U8("abcdefghijklmnop\xc3\xa9qrstuvwxyz01234567\xf0\x9f\x98\x80", 0),
	U8("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", 0),
};

static const struct u8case u8_bad[] = {
	U8("\x80", 0),				/* lone continuation */
	U8("\xbf", 0),
	U8("a\x80", 1),
	U8("\xc0\x80", 0),			/* overlong NUL */
	U8("\xc1\xbf", 0),			/* overlong */
	U8("\xe0\x80\x80", 1),			/* overlong */
	U8("\xe0\x9f\xbf", 1),			/* overlong U+07FF */
	U8("\xed\xa0\x80", 1),			/* U+D800 */
	U8("\xed\xbf\xbf", 1),			/* U+DFFF */
	U8("\xf0\x80\x80\x80", 1),		/* overlong */
	U8("\xf0\x8f\xbf\xbf", 1),		/* overlong U+FFFF */
	U8("\xf4\x90\x80\x80", 1),		/* U+110000 */
	U8("\xf4\xbf\xbf\xbf", 1),
	U8("\xf5\x80\x80\x80", 0),
	U8("\xf7\xbf\xbf\xbf", 0),
	U8("\xf8\x88\x80\x80\x80", 0),		/* 5-byte form */
	U8("\xfc\x84\x80\x80\x80\x80", 0),	/* 6-byte form */
	U8("\xfe", 0),
	U8("\xff", 0),
	U8("\xc3\x28", 1),			/* bad continuation */
	U8("\xe2\x28\xa1", 1),
	U8("\xe2\x82\x28", 2),
	U8("\xf0\x9f\x98\x28", 3),
	U8("\xc3\xc3\xa9", 1),			/* lead in place of cont */
	U8("\xc3", -1),				/* truncated */
	U8("\xe2\x82", -1),
	U8("\xe2", -1),
	U8("\xf0\x9f\x98", -1),
	U8("abc\xf0\x9f", -1),
	U8("abcdefgh\x80", 8),			/* after the ASCII fast path */
	U8("abcdefghijklmno\xff", 15),
	U8("abcdefghijklmnopqrstuvw\xe2\x82", -1),
	U8("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xed\xa0\x80", 9),
};

/* Feeding s in two pieces split at k: 1 when valid and complete. */
static int
u8_split(const struct u8case *c, size_t k)
{
	struct ws_utf8 u;

	ws_utf8_init(&u);
	if (ws_utf8_feed(&u, (const uint8_t *)c->s, k) != 0)
		return 0;
	if (ws_utf8_feed(&u, (const uint8_t *)c->s + k, c->len - k) != 0)
		return 0;
	return ws_utf8_complete(&u);
}

/* Index of the first byte rejected when fed one at a time, or -1. */
static int
u8_fail_index(const struct u8case *c, int *complete)
{
	struct ws_utf8 u;
	size_t i;

	ws_utf8_init(&u);
	for (i = 0; i < c->len; i++)
		if (ws_utf8_feed(&u, (const uint8_t *)c->s + i, 1) != 0)
			return (int)i;
	*complete = ws_utf8_complete(&u);
	return -1;
}

static void
test_utf8_valid(void **state UNUSED)
{
	const struct u8case *c;
	size_t i, k;
	int complete;

	for (i = 0; i < sizeof(u8_good) / sizeof(u8_good[0]); i++) {
		c = &u8_good[i];
		if (!ws_utf8_valid((const uint8_t *)c->s, c->len))
			fail_msg("good case %zu rejected", i);
		for (k = 0; k <= c->len; k++)
			if (!u8_split(c, k))
				fail_msg("good case %zu split at %zu "
				    "rejected", i, k);
		complete = 0;
		if (u8_fail_index(c, &complete) != -1 || !complete)
			fail_msg("good case %zu rejected byte by byte", i);
	}
}

static void
test_utf8_invalid(void **state UNUSED)
{
	const struct u8case *c;
	size_t i, k;
	int at, complete;

	for (i = 0; i < sizeof(u8_bad) / sizeof(u8_bad[0]); i++) {
		c = &u8_bad[i];
		if (ws_utf8_valid((const uint8_t *)c->s, c->len))
			fail_msg("bad case %zu accepted", i);
		for (k = 0; k <= c->len; k++)
			if (u8_split(c, k))
				fail_msg("bad case %zu split at %zu "
				    "accepted", i, k);
		/* Fail fast: at the very byte that rules it out. */
		complete = 1;
		at = u8_fail_index(c, &complete);
		if (at != c->fail_at)
			fail_msg("bad case %zu failed at byte %d, want %d", i,
			    at, c->fail_at);
		if (at == -1 && complete)
			fail_msg("bad case %zu: truncated but complete", i);
	}
}

/* Each valid sequence, split at every point, inside ASCII text. */
static void
test_utf8_embedded(void **state UNUSED)
{
	uint8_t buf[64];
	struct ws_utf8 u;
	size_t i, k, n;

	for (i = 0; i < sizeof(u8_bad) / sizeof(u8_bad[0]); i++) {
		const struct u8case *c = &u8_bad[i];
		n = 0;
		memcpy(buf, "0123456789", 10);
		n += 10;
		memcpy(buf + n, c->s, c->len);
		n += c->len;
		memcpy(buf + n, "xyz", 3);
		n += 3;
		/* Followed by ASCII, even a truncated one is now invalid. */
		if (ws_utf8_valid(buf, n))
			fail_msg("bad case %zu accepted inside text", i);
		for (k = 0; k <= n; k++) {
			ws_utf8_init(&u);
			if (ws_utf8_feed(&u, buf, k) == 0 &&
			    ws_utf8_feed(&u, buf + k, n - k) == 0)
				fail_msg("bad case %zu inside text split at "
				    "%zu accepted", i, k);
		}
	}
}

/* The state is carried across calls: "\xf4\x90" alone already fails. */
static void
test_utf8_fail_fast(void **state UNUSED)
{
	struct ws_utf8 u;

	ws_utf8_init(&u);
	assert_int_not_equal(ws_utf8_feed(&u, (const uint8_t *)"\xf4\x90", 2),
	    0);

	ws_utf8_init(&u);
	assert_int_equal(ws_utf8_feed(&u, (const uint8_t *)"\xf4", 1), 0);
	assert_false(ws_utf8_complete(&u));
	assert_int_equal(ws_utf8_feed(&u, (const uint8_t *)"\x90", 1),
	    WS_E_UTF8);

	ws_utf8_init(&u);
	assert_int_equal(ws_utf8_feed(&u, (const uint8_t *)"\xed", 1), 0);
	assert_int_equal(ws_utf8_feed(&u, (const uint8_t *)"\xa0", 1),
	    WS_E_UTF8);

	ws_utf8_init(&u);
	assert_int_equal(ws_utf8_feed(&u, (const uint8_t *)"\xe0", 1), 0);
	assert_int_equal(ws_utf8_feed(&u, (const uint8_t *)"\x9f", 1),
	    WS_E_UTF8);

	ws_utf8_init(&u);
	assert_int_equal(ws_utf8_feed(&u, (const uint8_t *)"\xf0", 1), 0);
	assert_int_equal(ws_utf8_feed(&u, (const uint8_t *)"\x8f", 1),
	    WS_E_UTF8);

	/* An empty feed changes nothing. */
	ws_utf8_init(&u);
	assert_int_equal(ws_utf8_feed(&u, (const uint8_t *)"\xe2", 1), 0);
	assert_int_equal(ws_utf8_feed(&u, (const uint8_t *)"", 0), 0);
	assert_false(ws_utf8_complete(&u));
	assert_int_equal(ws_utf8_feed(&u, (const uint8_t *)"\x82\xac", 2), 0);
	assert_true(ws_utf8_complete(&u));
}

/* Every two-byte lead and continuation pair against the table. */
static void
test_utf8_exhaustive_pairs(void **state UNUSED)
{
	uint8_t b[2];
	unsigned int a, c;
	int want;

	for (a = 0; a < 256; a++) {
		b[0] = (uint8_t)a;
		want = a < 0x80;
		if (ws_utf8_valid(b, 1) != want)
			fail_msg("byte %#x: valid != %d", a, want);
		for (c = 0; c < 256; c++) {
			b[1] = (uint8_t)c;
			want = (a < 0x80 && c < 0x80) ||
			    (a >= 0xc2 && a <= 0xdf && c >= 0x80 && c <= 0xbf);
			if (ws_utf8_valid(b, 2) != want)
				fail_msg("%#x %#x: valid != %d", a, c, want);
		}
	}
}

/*
 * Handshake.
 */
#define R_GET	"GET /chat HTTP/1.1\r\n"
#define H_HOST	"Host: server.example.com\r\n"
#define H_UPG	"Upgrade: websocket\r\n"
#define H_CONN	"Connection: Upgrade\r\n"
#define H_KEY	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
#define H_VER	"Sec-WebSocket-Version: 13\r\n"
#define END	"\r\n"
#define VALID	R_GET H_HOST H_UPG H_CONN H_KEY H_VER END

static struct ws_request req;

static int
status_of(const char *head, size_t len)
{
	int rc;

	if ((rc = ws_request_parse(&req, head, len)) != 0)
		return rc;
	return ws_request_check(&req);
}

static void
test_head_end(void **state UNUSED)
{
	static const char crlf[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
	static const char lf[] = "GET / HTTP/1.1\nHost: a\n\n";
	char buf[128];
	size_t n, k;

	n = strlen(crlf);
	assert_int_equal(ws_head_end(crlf, n), n);
	for (k = 0; k < n; k++)
		if (ws_head_end(crlf, k) != 0)
			fail_msg("CRLF head found in a %zu-byte prefix", k);
	n = strlen(lf);
	assert_int_equal(ws_head_end(lf, n), n);
	for (k = 0; k < n; k++)
		if (ws_head_end(lf, k) != 0)
			fail_msg("LF head found in a %zu-byte prefix", k);

	/* A first frame in the same segment is not part of the head. */
	snprintf(buf, sizeof(buf), "%s\x81\x85\x37\xfa", crlf);
	assert_int_equal(ws_head_end(buf, strlen(buf)), strlen(crlf));
	snprintf(buf, sizeof(buf), "%s\r\n\r\n", crlf);
	assert_int_equal(ws_head_end(buf, strlen(buf)), strlen(crlf));

	assert_int_equal(ws_head_end("", 0), 0);
	assert_int_equal(ws_head_end("GET / HTTP/1.1\r\n", 16), 0);
	assert_int_equal(ws_head_end("GET / HTTP/1.1\r\nA: b\r\n\r", 24), 0);
	assert_int_equal(ws_head_end("GET / HTTP/1.1\r\n\r\n", 18), 18);
}

static void
test_accept_key(void **state UNUSED)
{
	static const struct {
		const char	*key, *accept;
	} t[] = {
		/* RFC 6455 sections 1.3 and 4.2.2 */
		{ "dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" },
		{ "x3JJHMbDL1EzLkh9GBhXDw==", "HSmrc0sMlYUkAGmm5OPpG2HaGWk=" },
		{ "AQIDBAUGBwgJCgsMDQ4PEA==", "C/0nmHhBztSRGR1CwL6Tf4ZjwpY=" },
	};
	char out[WS_ACCEPT_LEN + 1];
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		memset(out, 'X', sizeof(out));
		assert_int_equal(ws_accept_key(t[i].key, out), 0);
		assert_int_equal(out[WS_ACCEPT_LEN], '\0');
		assert_string_equal(out, t[i].accept);
	}
}

static void
test_request_valid(void **state UNUSED)
{
	char out[WS_ACCEPT_LEN + 1];

	assert_int_equal(ws_request_parse(&req, VALID, strlen(VALID)), 0);
	assert_string_equal(req.method, "GET");
	assert_string_equal(req.target, "/chat");
	assert_string_equal(req.path, "/chat");
	assert_null(req.query);
	assert_int_equal(req.http_minor, 1);
	assert_string_equal(req.host, "server.example.com");
	assert_string_equal(req.upgrade, "websocket");
	assert_string_equal(req.connection, "Upgrade");
	assert_string_equal(req.key, "dGhlIHNhbXBsZSBub25jZQ==");
	assert_string_equal(req.version, "13");
	assert_null(req.origin);
	assert_false(req.duplicate);
	assert_true(ws_request_is_upgrade(&req));
	assert_int_equal(ws_request_check(&req), 0);
	assert_int_equal(ws_accept_key(req.key, out), 0);
	assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");

	/* The RFC's own sample request, with Origin and a protocol list. */
	static const char rfc[] =
	    "GET /chat HTTP/1.1\r\n"
	    "Host: server.example.com\r\n"
	    "Upgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Origin: http://example.com\r\n"
	    "Sec-WebSocket-Protocol: chat, superchat\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    "\r\n";
	assert_int_equal(status_of(rfc, strlen(rfc)), 0);
	assert_string_equal(req.origin, "http://example.com");
	assert_true(ws_request_offers(&req, "superchat"));
	assert_false(ws_request_offers(&req, "wspubsub.v1"));
}

static void
test_request_protocols(void **state UNUSED)
{
	/* A list header: it may come in several lines. */
	static const char two[] =
	    "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Sec-WebSocket-Protocol: chat\r\n"
	    "Sec-WebSocket-Protocol: x, wspubsub.v1 \r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n";
	static const char none[] =
	    "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Sec-WebSocket-Protocol: wspubsub.v10, wspubsub\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n";

	assert_int_equal(ws_request_parse(&req, two, strlen(two)), 0);
	assert_int_equal(req.nprotocol, 2);
	assert_true(ws_request_offers(&req, "wspubsub.v1"));
	assert_true(ws_request_offers(&req, "chat"));
	assert_int_equal(ws_request_parse(&req, none, strlen(none)), 0);
	assert_false(ws_request_offers(&req, "wspubsub.v1"));
}

static void
test_request_case_and_whitespace(void **state UNUSED)
{
	static const char head[] =
	    "GET /x HTTP/1.1\r\n"
	    "hOsT:localhost:8765\r\n"
	    "UPGRADE:   WebSocket  \r\n"
	    "connection: keep-alive, Upgrade\r\n"
	    "sec-websocket-key: \tdGhlIHNhbXBsZSBub25jZQ==\t\r\n"
	    "SEC-WEBSOCKET-VERSION: 13\r\n"
	    "X-Other: whatever: with colons\r\n"
	    "\r\n";

	assert_int_equal(status_of(head, strlen(head)), 0);
	assert_string_equal(req.host, "localhost:8765");
	assert_string_equal(req.upgrade, "WebSocket");
	assert_string_equal(req.connection, "keep-alive, Upgrade");
	assert_string_equal(req.key, "dGhlIHNhbXBsZSBub25jZQ==");
}

/* A head parsed from a buffer with bytes after it ignores them. */
static void
test_request_lf_and_trailing(void **state UNUSED)
{
	static const char lf[] =
	    "GET /chat HTTP/1.1\n"
	    "Host: a\n"
	    "Upgrade: websocket\n"
	    "Connection: Upgrade\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\n"
	    "Sec-WebSocket-Version: 13\n"
	    "\n";
	char buf[512];
	size_t n;

	assert_int_equal(status_of(lf, strlen(lf)), 0);
	assert_string_equal(req.key, "dGhlIHNhbXBsZSBub25jZQ==");

	n = (size_t)snprintf(buf, sizeof(buf), "%s\x81\x85junk", VALID);
	n = ws_head_end(buf, n);
	assert_int_equal(n, strlen(VALID));
	assert_int_equal(status_of(buf, n), 0);
}

static void
test_request_status(void **state UNUSED)
{
	static const struct {
		const char	*what, *head;
		int		 status;
	} t[] = {
		{ "valid", VALID, 0 },
		{ "Upgrade: WebSocket", R_GET H_HOST "Upgrade: WebSocket\r\n"
		    H_CONN H_KEY H_VER END, 0 },
		{ "Connection: keep-alive, Upgrade", R_GET H_HOST H_UPG
		    "Connection: keep-alive, Upgrade\r\n" H_KEY H_VER END, 0 },
		{ "Connection: upgrade,keep-alive", R_GET H_HOST H_UPG
		    "Connection: upgrade,keep-alive\r\n" H_KEY H_VER END, 0 },
		{ "headers in another order", R_GET H_VER H_KEY H_CONN
		    H_UPG H_HOST END, 0 },
		{ "path and query", "GET /a/b?user=x&y=%41 HTTP/1.1\r\n"
		    H_HOST H_UPG H_CONN H_KEY H_VER END, 0 },

		{ "POST", "POST /chat HTTP/1.1\r\n" H_HOST H_UPG H_CONN H_KEY
		    H_VER END, 405 },
		{ "PUT", "PUT /chat HTTP/1.1\r\n" H_HOST H_UPG H_CONN H_KEY
		    H_VER END, 405 },
		{ "HEAD", "HEAD /chat HTTP/1.1\r\n" H_HOST H_UPG H_CONN H_KEY
		    H_VER END, 405 },

		{ "version 8", R_GET H_HOST H_UPG H_CONN H_KEY
		    "Sec-WebSocket-Version: 8\r\n" END, 426 },
		{ "version 12", R_GET H_HOST H_UPG H_CONN H_KEY
		    "Sec-WebSocket-Version: 12\r\n" END, 426 },
		{ "version 14", R_GET H_HOST H_UPG H_CONN H_KEY
		    "Sec-WebSocket-Version: 14\r\n" END, 426 },

		{ "no Host", R_GET H_UPG H_CONN H_KEY H_VER END, 400 },
		{ "no Upgrade", R_GET H_HOST H_CONN H_KEY H_VER END, 400 },
		{ "Upgrade: h2c", R_GET H_HOST "Upgrade: h2c\r\n" H_CONN
		    H_KEY H_VER END, 400 },
		{ "Upgrade: websockets", R_GET H_HOST
		    "Upgrade: websockets\r\n" H_CONN H_KEY H_VER END, 400 },
		{ "no Connection", R_GET H_HOST H_UPG H_KEY H_VER END, 400 },
		{ "Connection: keep-alive", R_GET H_HOST H_UPG
		    "Connection: keep-alive\r\n" H_KEY H_VER END, 400 },
		{ "Connection: Upgraded", R_GET H_HOST H_UPG
		    "Connection: Upgraded\r\n" H_KEY H_VER END, 400 },
		{ "Connection: close", R_GET H_HOST H_UPG
		    "Connection: close\r\n" H_KEY H_VER END, 400 },
		{ "no key", R_GET H_HOST H_UPG H_CONN H_VER END, 400 },
		{ "empty key", R_GET H_HOST H_UPG H_CONN
		    "Sec-WebSocket-Key: \r\n" H_VER END, 400 },
		{ "key too short", R_GET H_HOST H_UPG H_CONN
		    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=\r\n" H_VER END,
		    400 },
		{ "key without padding", R_GET H_HOST H_UPG H_CONN
		    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ\r\n" H_VER END,
		    400 },
		{ "key too long", R_GET H_HOST H_UPG H_CONN
		    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==AAAA\r\n"
		    H_VER END, 400 },
		{ "key of 15 bytes", R_GET H_HOST H_UPG H_CONN
		    "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAA\r\n" H_VER END,
		    400 },
		{ "key of 17 bytes", R_GET H_HOST H_UPG H_CONN
		    "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAA=\r\n" H_VER END,
		    400 },
		{ "key of 18 bytes", R_GET H_HOST H_UPG H_CONN
		    "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAAAA\r\n" H_VER END,
		    400 },
		{ "key not base64", R_GET H_HOST H_UPG H_CONN
		    "Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!==\r\n" H_VER END,
		    400 },
		{ "key with a star", R_GET H_HOST H_UPG H_CONN
		    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub2*jZQ==\r\n" H_VER END,
		    400 },
		{ "key with a space", R_GET H_HOST H_UPG H_CONN
		    "Sec-WebSocket-Key: dGhlIHNhbXBs ZSBub25jZQ==\r\n" H_VER
		    END, 400 },
		{ "key with = inside", R_GET H_HOST H_UPG H_CONN
		    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub2=jZQ==\r\n" H_VER END,
		    400 },
		{ "two keys", R_GET H_HOST H_UPG H_CONN H_KEY
		    "Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\n" H_VER END,
		    400 },
		{ "the same key twice", R_GET H_HOST H_UPG H_CONN H_KEY H_KEY
		    H_VER END, 400 },
		{ "two Hosts", R_GET H_HOST H_HOST H_UPG H_CONN H_KEY H_VER END,
		    400 },
		{ "HTTP/1.0", "GET /chat HTTP/1.0\r\n" H_HOST H_UPG H_CONN
		    H_KEY H_VER END, 400 },
		{ "HTTP/2.0", "GET /chat HTTP/2.0\r\n" H_HOST H_UPG H_CONN
		    H_KEY H_VER END, 400 },
		{ "HTTP/1.1x", "GET /chat HTTP/1.1x\r\n" H_HOST H_UPG H_CONN
		    H_KEY H_VER END, 400 },
		{ "no version in request line", "GET /chat\r\n" H_HOST H_UPG
		    H_CONN H_KEY H_VER END, 400 },
		{ "no target", "GET  HTTP/1.1\r\n" H_HOST H_UPG H_CONN H_KEY
		    H_VER END, 400 },
		{ "header without colon", R_GET H_HOST H_UPG H_CONN
		    "X-Broken header\r\n" H_KEY H_VER END, 400 },
		{ "header with empty name", R_GET H_HOST ": value\r\n" H_UPG
		    H_CONN H_KEY H_VER END, 400 },
		{ "space before colon", R_GET "Host : a\r\n" H_UPG H_CONN
		    H_KEY H_VER END, 400 },
		{ "folded header", R_GET H_HOST H_UPG H_CONN H_KEY
		    " continued\r\n" H_VER END, 400 },
		{ "no blank line", R_GET H_HOST H_UPG H_CONN H_KEY H_VER, 400 },
		{ "empty", "", 400 },
	};
	size_t i;
	int st;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		st = status_of(t[i].head, strlen(t[i].head));
		if (st != t[i].status)
			fail_msg("%s: status %d, want %d", t[i].what, st,
			    t[i].status);
	}
}

static void
test_request_missing_version(void **state UNUSED)
{
	static const char head[] = R_GET H_HOST H_UPG H_CONN H_KEY END;
	int st = status_of(head, strlen(head));

	if (st != 400 && st != 426)
		fail_msg("no Sec-WebSocket-Version: status %d", st);
}

static void
test_request_limits(void **state UNUSED)
{
	static char big[WS_HEAD_MAX + 64];
	size_t n;
	char nul[] = R_GET H_HOST "X: a\0b\r\n" H_UPG H_CONN H_KEY H_VER END;

	/* A NUL in the head. */
	assert_int_equal(status_of(nul, sizeof(nul) - 1), 400);

	/* A head of exactly WS_HEAD_MAX bytes is parsed, one more is not. */
	n = (size_t)snprintf(big, sizeof(big), "%s%s%s%s%sX-Pad: ", R_GET,
	    H_HOST, H_UPG, H_CONN, H_KEY);
	memset(big + n, 'p', WS_HEAD_MAX - n - strlen("\r\n" H_VER END));
	n = WS_HEAD_MAX - strlen("\r\n" H_VER END);
	memcpy(big + n, "\r\n" H_VER END, strlen("\r\n" H_VER END));
	n += strlen("\r\n" H_VER END);
	assert_int_equal(n, WS_HEAD_MAX);
	assert_int_equal(ws_head_end(big, n), n);
	assert_int_equal(status_of(big, n), 0);
	assert_string_equal(req.version, "13");

	memmove(big + 1, big, n);
	memcpy(big, "GET /chatx", 10);
	assert_int_not_equal(status_of(big, n + 1), 0);
}

static void
test_request_path_query(void **state UNUSED)
{
	static const struct {
		const char	*target, *path, *query;
	} t[] = {
		{ "/", "/", NULL },
		{ "/chat", "/chat", NULL },
		{ "/chat?user=alice", "/chat", "user=alice" },
		{ "/?user=alice&x=1", "/", "user=alice&x=1" },
		{ "/a/b/c?", "/a/b/c", "" },
		{ "/p?q=1?2", "/p", "q=1?2" },
		{ "/%41?user=%41", "/%41", "user=%41" },
	};
	char head[512];
	size_t i;
	int n;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		n = snprintf(head, sizeof(head), "GET %s HTTP/1.1\r\n"
		    H_HOST H_UPG H_CONN H_KEY H_VER END, t[i].target);
		assert_int_equal(status_of(head, (size_t)n), 0);
		assert_string_equal(req.target, t[i].target);
		assert_string_equal(req.path, t[i].path);
		if (t[i].query == NULL)
			assert_null(req.query);
		else {
			assert_non_null(req.query);
			assert_string_equal(req.query, t[i].query);
		}
	}
}

static void
test_request_not_upgrade(void **state UNUSED)
{
	static const char plain[] = "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n";

	assert_int_equal(ws_request_parse(&req, plain, strlen(plain)), 0);
	assert_false(ws_request_is_upgrade(&req));
	assert_string_equal(req.path, "/healthz");
	assert_int_equal(ws_request_check(&req), 400);
	assert_int_equal(ws_request_parse(&req, VALID, strlen(VALID)), 0);
	assert_true(ws_request_is_upgrade(&req));
}

static void
test_token_list(void **state UNUSED)
{
	static const struct {
		const char	*list, *token;
		int		 want;
	} t[] = {
		{ "Upgrade", "upgrade", 1 },
		{ "upgrade", "upgrade", 1 },
		{ "UPGRADE", "upgrade", 1 },
		{ "keep-alive, Upgrade", "upgrade", 1 },
		{ "keep-alive,Upgrade", "upgrade", 1 },
		{ "Upgrade, keep-alive", "upgrade", 1 },
		{ "  Upgrade  ,  keep-alive  ", "upgrade", 1 },
		{ "a, b,\tupgrade\t, c", "upgrade", 1 },
		{ ",,upgrade,,", "upgrade", 1 },
		{ "WebSocket", "websocket", 1 },
		{ "", "upgrade", 0 },
		{ ",", "upgrade", 0 },
		{ "keep-alive", "upgrade", 0 },
		{ "Upgraded", "upgrade", 0 },
		{ "xUpgrade", "upgrade", 0 },
		{ "Upgrade-x", "upgrade", 0 },
		{ "upgrad", "upgrade", 0 },
		{ "keep-alive, upgrad, e", "upgrade", 0 },
		{ "websocket2", "websocket", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (ws_token_list_has(t[i].list, t[i].token) != t[i].want)
			fail_msg("ws_token_list_has(\"%s\", \"%s\") != %d",
			    t[i].list, t[i].token, t[i].want);
	assert_false(ws_token_list_has(NULL, "upgrade"));
}

static void
test_query_get(void **state UNUSED)
{
	static const struct {
		const char	*query, *name;
		size_t		 outsize;
		int		 want;
		const char	*value;
	} t[] = {
		{ "user=alice", "user", 64, 5, "alice" },
		{ "a=1&user=bob&b=2", "user", 64, 3, "bob" },
		{ "user=bob&", "user", 64, 3, "bob" },
		{ "&&user=bob", "user", 64, 3, "bob" },
		{ "user=", "user", 64, 0, "" },
		{ "user=%41lice", "user", 64, 5, "Alice" },
		{ "user=a%2eb", "user", 64, 3, "a.b" },
		{ "user=a%2Eb", "user", 64, 3, "a.b" },
		{ "user=%e2%82%ac", "user", 64, 3, "\xe2\x82\xac" },
		{ "user=%E2%82%AC", "user", 64, 3, "\xe2\x82\xac" },
		{ "user=%3d%26", "user", 64, 2, "=&" },
		{ "user=a=b", "user", 64, 3, "a=b" },
		{ "user=%2541", "user", 64, 3, "%41" },
		/* absent */
		{ "", "user", 64, -1, NULL },
		{ "x=1", "user", 64, -1, NULL },
		{ "users=x", "user", 64, -1, NULL },
		{ "xuser=x", "user", 64, -1, NULL },
		{ "use=x", "user", 64, -1, NULL },
		{ "User=x", "user", 64, -1, NULL },
		/* a name that is a prefix of another */
		{ "users=x&user=y", "user", 64, 1, "y" },
		{ "user=y&users=x", "user", 64, 1, "y" },
		{ "user_name=x&user=y&username=z", "user", 64, 1, "y" },
		/* malformed */
		{ "user=%4", "user", 64, -2, NULL },
		{ "user=%", "user", 64, -2, NULL },
		{ "user=ab%", "user", 64, -2, NULL },
		{ "user=%4&x=1", "user", 64, -2, NULL },
		{ "user=%zz", "user", 64, -2, NULL },
		{ "user=%4g", "user", 64, -2, NULL },
		{ "user=%g4", "user", 64, -2, NULL },
		{ "user=%00", "user", 64, -2, NULL },
		{ "user=a%00b", "user", 64, -2, NULL },
		/* given twice */
		{ "user=a&user=b", "user", 64, -2, NULL },
		{ "user=a&user=a", "user", 64, -2, NULL },
		{ "user=a&x=1&user=", "user", 64, -2, NULL },
		/* too long for out: 5 bytes fit in 6 */
		{ "user=abcde", "user", 6, 5, "abcde" },
		{ "user=abcdef", "user", 6, -2, NULL },
		{ "user=%41%42%43%44%45", "user", 6, 5, "ABCDE" },
		{ "user=%41%42%43%44%45%46", "user", 6, -2, NULL },
		{ "user=a", "user", 2, 1, "a" },
		{ "user=ab", "user", 2, -2, NULL },
		/* a malformed other parameter does not matter */
		{ "x=%zz&user=ok", "user", 64, 2, "ok" },
	};
	char out[64];
	size_t i;
	int rc;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		memset(out, 'Z', sizeof(out));
		rc = ws_query_get(t[i].query, t[i].name, out, t[i].outsize);
		if (rc != t[i].want)
			fail_msg("ws_query_get(\"%s\", \"%s\", %zu) = %d, "
			    "want %d", t[i].query, t[i].name, t[i].outsize,
			    rc, t[i].want);
		if (t[i].value != NULL) {
			if (strcmp(out, t[i].value) != 0)
				fail_msg("ws_query_get(\"%s\"): \"%s\"",
				    t[i].query, out);
		}
	}
	assert_int_equal(ws_query_get(NULL, "user", out, sizeof(out)), -1);

	/* Decoding every byte but NUL. */
	char q[16];
	for (i = 1; i < 256; i++) {
		snprintf(q, sizeof(q), "v=%%%02zx", i);
		assert_int_equal(ws_query_get(q, "v", out, sizeof(out)), 1);
		assert_int_equal((unsigned char)out[0], i);
		snprintf(q, sizeof(q), "v=%%%02zX", i);
		assert_int_equal(ws_query_get(q, "v", out, sizeof(out)), 1);
		assert_int_equal((unsigned char)out[0], i);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_rfc_hello),
		cmocka_unit_test(test_parse_lengths),
		cmocka_unit_test(test_parse_empty),
		cmocka_unit_test(test_parse_empty_fragments),
		cmocka_unit_test(test_parse_several_in_one_buffer),
		cmocka_unit_test(test_parse_partial),
		cmocka_unit_test(test_parse_fragmented),
		cmocka_unit_test(test_parse_reuse),
		cmocka_unit_test(test_parse_control_payloads),
		cmocka_unit_test(test_parse_close_codes),
		cmocka_unit_test(test_parse_close_len1),
		cmocka_unit_test(test_parse_close_reason_utf8),
		cmocka_unit_test(test_parse_after_close),
		cmocka_unit_test(test_parse_text_utf8_split),
		cmocka_unit_test(test_parse_no_cap),
		cmocka_unit_test(test_err_unmasked),
		cmocka_unit_test(test_err_rsv),
		cmocka_unit_test(test_err_opcode),
		cmocka_unit_test(test_err_control_fragmented),
		cmocka_unit_test(test_err_control_too_long),
		cmocka_unit_test(test_err_continuation_without_start),
		cmocka_unit_test(test_err_data_inside_message),
		cmocka_unit_test(test_err_length_not_minimal),
		cmocka_unit_test(test_err_length_top_bit),
		cmocka_unit_test(test_err_text_utf8),
		cmocka_unit_test(test_err_too_big),
		cmocka_unit_test(test_err_close_code_mapping),
		cmocka_unit_test(test_frame_header),
		cmocka_unit_test(test_frame_header_roundtrip),
		cmocka_unit_test(test_mask),
		cmocka_unit_test(test_utf8_valid),
		cmocka_unit_test(test_utf8_invalid),
		cmocka_unit_test(test_utf8_embedded),
		cmocka_unit_test(test_utf8_fail_fast),
		cmocka_unit_test(test_utf8_exhaustive_pairs),
		cmocka_unit_test(test_head_end),
		cmocka_unit_test(test_accept_key),
		cmocka_unit_test(test_request_valid),
		cmocka_unit_test(test_request_case_and_whitespace),
		cmocka_unit_test(test_request_lf_and_trailing),
		cmocka_unit_test(test_request_status),
		cmocka_unit_test(test_request_missing_version),
		cmocka_unit_test(test_request_limits),
		cmocka_unit_test(test_request_path_query),
		cmocka_unit_test(test_request_not_upgrade),
		cmocka_unit_test(test_token_list),
		cmocka_unit_test(test_request_protocols),
		cmocka_unit_test(test_query_get),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
