/*
 * test_deflate.c -- unit tests for permessage-deflate in ws/: the offer
 * parser and the answer, compressing a message (checked by inflating it
 * with zlib directly), and compressed client messages through the parser
 * (fed whole and one byte at a time, fragmented, with and without context
 * takeover), its limits and its errors.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "../../ws/ws.h"

#define FIN	0x80
#define RSV1	0x40
#define UNUSED	__attribute__((unused))

static const uint8_t KEY[4] = { 0x37, 0xfa, 0x21, 0x3d };

/* ------------------------------------------------------- negotiation */

static void
answer(const char *const *lines, int n, const char *want)
{
	struct ws_pmd pmd;
	char out[WS_PMD_RESPONSE_MAX];
	int r = ws_pmd_negotiate(lines, n, 10, 10, &pmd);

	if (want == NULL) {
		if (r != 0)
			fail_msg("accepted %s", lines[0]);
		assert_int_equal(pmd.on, 0);
		return;
	}
	if (r != 1)
		fail_msg("declined %s", lines[0]);
	ws_pmd_response(&pmd, out);
	if (strcmp(out, want) != 0)
		fail_msg("offer \"%s\": answered \"%s\", want \"%s\"", lines[0],
		    out, want);
}

static void
one(const char *line, const char *want)
{
	answer(&line, 1, want);
}

#define BASE	"permessage-deflate; server_no_context_takeover"

static void
test_negotiate(void **state UNUSED)
{
	one("permessage-deflate", BASE);
	one("Permessage-Deflate", BASE);
	one("permessage-deflate; client_max_window_bits",
	    BASE "; client_max_window_bits=10");
	one("permessage-deflate; client_max_window_bits=15",
	    BASE "; client_max_window_bits=10");
	one("permessage-deflate; client_max_window_bits=9",
	    BASE "; client_max_window_bits=9");
	one("permessage-deflate; client_max_window_bits=8",
	    BASE "; client_max_window_bits=8");
	one("permessage-deflate; client_max_window_bits=\"12\"",
	    BASE "; client_max_window_bits=10");
	one("permessage-deflate;client_max_window_bits = 12",
	    BASE "; client_max_window_bits=10");
	one("permessage-deflate; server_max_window_bits=12",
	    BASE "; server_max_window_bits=10");
	one("permessage-deflate; server_max_window_bits=9",
	    BASE "; server_max_window_bits=9");
	one("permessage-deflate; server_no_context_takeover", BASE);
	one("permessage-deflate; client_no_context_takeover",
	    BASE "; client_no_context_takeover");
	one("permessage-deflate; server_no_context_takeover; "
	    "client_no_context_takeover; server_max_window_bits=15; "
	    "client_max_window_bits",
	    BASE "; server_max_window_bits=10; client_no_context_takeover; "
	    "client_max_window_bits=10");

	/* Declined: the offer alone. */
	one("", NULL);
	one("x-webkit-deflate-frame", NULL);
	one("permessage-deflate; foo", NULL);
	one("permessage-deflate; foo=1", NULL);
	one("permessage-deflate; server_max_window_bits", NULL);
	one("permessage-deflate; server_max_window_bits=8", NULL);
	one("permessage-deflate; server_max_window_bits=16", NULL);
	one("permessage-deflate; server_max_window_bits=010", NULL);
	one("permessage-deflate; server_max_window_bits=\"1 0\"", NULL);
	one("permessage-deflate; client_max_window_bits=7", NULL);
	one("permessage-deflate; client_max_window_bits=abc", NULL);
	one("permessage-deflate; client_max_window_bits=100000000000000000000",
	    NULL);
	one("permessage-deflate; server_no_context_takeover=1", NULL);
	one("permessage-deflate; client_no_context_takeover=\"\"", NULL);
	one("permessage-deflate; client_max_window_bits; "
	    "client_max_window_bits", NULL);
	one("permessage-deflate; server_no_context_takeover; "
	    "server_no_context_takeover", NULL);
	/* Malformed: nothing accepted. */
	one("permessage-deflate; client_max_window_bits=\"10", NULL);
	one("permessage-deflate; ; ", NULL);
	one("permessage-deflate x", NULL);

	/* Several offers: the first acceptable one. */
	one("permessage-deflate; foo, permessage-deflate; "
	    "client_no_context_takeover", BASE "; client_no_context_takeover");
	one("x-foo; a=\"b,c\", permessage-deflate", BASE);
	one("permessage-deflate; server_max_window_bits=8, "
	    "permessage-deflate; client_max_window_bits",
	    BASE "; client_max_window_bits=10");
	one(", ,permessage-deflate; client_max_window_bits=11, "
	    "permessage-deflate", BASE "; client_max_window_bits=10");
	{
		const char *lines[] = { "x-foo", "permessage-deflate; bar",
		    "permessage-deflate; client_no_context_takeover" };

		answer(lines, 3, BASE "; client_no_context_takeover");
	}
}

/* ------------------------------------------------------- compressing */

/* Inflate a permessage-deflate payload as a client would. */
static uint8_t *
client_inflate(const uint8_t *in, size_t len, size_t *outlen)
{
	static const uint8_t tail[4] = { 0, 0, 0xff, 0xff };
	z_stream z;
	size_t cap = 1 << 20;
	uint8_t *out = malloc(cap), *both = malloc(len + 4);

	assert_non_null(out);
	assert_non_null(both);
	memcpy(both, in, len);
	memcpy(both + len, tail, 4);
	memset(&z, 0, sizeof(z));
	assert_int_equal(inflateInit2(&z, -10), Z_OK);
	z.next_in = both;
	z.avail_in = (uInt)(len + 4);
	z.next_out = out;
	z.avail_out = (uInt)cap;
	assert_true(inflate(&z, Z_SYNC_FLUSH) == Z_OK);
	assert_int_equal(z.avail_in, 0);
	*outlen = cap - z.avail_out;
	inflateEnd(&z);
	free(both);
	return out;
}

static void
test_deflate_roundtrip(void **state UNUSED)
{
	static const size_t sizes[] = { 1, 2, 100, 256, 1000, 2048, 65535,
	    65536, 300000 };
	uint8_t *msg, *out, *back;
	size_t i, k, cap, got;
	long n;

	msg = malloc(300000);
	assert_non_null(msg);
	for (i = 0; i < 300000; i++)
		msg[i] = "{\"type\":\"notice\",\"n\":123}"[i % 25] ^
		    (uint8_t)((i / 997) & 1);
	for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t len = sizes[k], split = len / 3;
		struct ws_part parts[2] = { { msg, split },
		    { msg + split, len - split } };

		cap = len + 64;
		out = malloc(cap);
		assert_non_null(out);
		n = ws_deflate_message(1, 10, parts, 2, out, cap);
		assert_true(n >= 0);
		back = client_inflate(out, (size_t)n, &got);
		assert_int_equal(got, len);
		assert_memory_equal(back, msg, len);
		free(back);
		/* Too little room: -1, nothing else. */
		if (n > 1)
			assert_int_equal(ws_deflate_message(1, 10, parts, 2,
			    out, (size_t)n - 1), -1);
		free(out);
	}
	free(msg);
}

static void
test_deflate_incompressible(void **state UNUSED)
{
	uint8_t msg[4096], out[4096];
	struct ws_part part = { msg, sizeof(msg) };
	uint32_t x = 12345;
	size_t i;

	for (i = 0; i < sizeof(msg); i++) {
		x = x * 1103515245 + 12345;
		msg[i] = (uint8_t)(x >> 16);
	}
	/* Room only for less than the message: it does not get smaller. */
	assert_int_equal(ws_deflate_message(1, 10, &part, 1, out,
	    sizeof(msg) - 1), -1);
}

/* ------------------------------------------------------- inflating */

/* A client's compressor: one stream, kept or reset between messages. */
struct comp {
	z_stream	z;
	int		reset;
};

static void
comp_init(struct comp *c, int bits, int reset)
{
	memset(c, 0, sizeof(*c));
	assert_int_equal(deflateInit2(&c->z, 6, Z_DEFLATED, -bits, 8,
	    Z_DEFAULT_STRATEGY), Z_OK);
	c->reset = reset;
}

/* msg compressed for permessage-deflate (tail removed); caller frees. */
static uint8_t *
comp_msg(struct comp *c, const void *msg, size_t len, size_t *outlen,
    int final)
{
	size_t cap = len + len / 2 + 64;
	uint8_t *out = malloc(cap);

	assert_non_null(out);
	c->z.next_in = (Bytef *)(uintptr_t)msg;
	c->z.avail_in = (uInt)len;
	c->z.next_out = out;
	c->z.avail_out = (uInt)cap;
	assert_true(deflate(&c->z, final ? Z_FINISH : Z_SYNC_FLUSH) ==
	    (final ? Z_STREAM_END : Z_OK));
	*outlen = cap - c->z.avail_out;
	if (!final) {
		assert_true(*outlen >= 4);
		assert_memory_equal(out + *outlen - 4, "\0\0\xff\xff", 4);
		*outlen -= 4;
	}
	if (c->reset || final)
		deflateReset(&c->z);
	return out;
}

static void
comp_end(struct comp *c)
{
	deflateEnd(&c->z);
}

struct stream {
	uint8_t	*b;
	size_t	 len;
};

static void
s_frame(struct stream *s, uint8_t b0, const uint8_t *p, size_t len)
{
	size_t n = 0, i;
	uint8_t h[14];

	h[n++] = b0;
	if (len < 126)
		h[n++] = 0x80 | (uint8_t)len;
	else if (len <= 0xffff) {
		h[n++] = 0x80 | 126;
		h[n++] = (uint8_t)(len >> 8);
		h[n++] = (uint8_t)len;
	} else {
		h[n++] = 0x80 | 127;
		for (i = 0; i < 8; i++)
			h[n++] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
	}
	memcpy(h + n, KEY, 4);
	n += 4;
	s->b = realloc(s->b, s->len + n + len);
	assert_non_null(s->b);
	memcpy(s->b + s->len, h, n);
	for (i = 0; i < len; i++)
		s->b[s->len + n + i] = p[i] ^ KEY[i & 3];
	s->len += n + len;
}

/* A message of len payload bytes as frames of at most frag bytes. */
static void
s_message(struct stream *s, int op, int rsv1, const uint8_t *p, size_t len,
    size_t frag)
{
	size_t off = 0, n;
	int first = 1;

	do {
		n = len - off < frag ? len - off : frag;
		s_frame(s, (uint8_t)((off + n == len ? FIN : 0) |
		    (first ? (rsv1 ? RSV1 : 0) | op : WS_OP_CONT)), p + off, n);
		off += n;
		first = 0;
	} while (off < len);
}

/*
 * Parse a stream with inflating on; step is the size of each piece
 * handed over (0: all at once).  Calls check() for each message; returns
 * 0 or the error.
 */
typedef void (*checker)(int i, const struct ws_event *);

static int
parse_all(const struct stream *s, size_t max, int bits, int reset,
    size_t step, checker check, int *nmsg, struct ws_parser *keep)
{
	struct ws_parser p;
	struct ws_event ev;
	uint8_t *copy = malloc(s->len ? s->len : 1);
	size_t off = 0, end, used;
	int r = 0;

	assert_non_null(copy);
	memcpy(copy, s->b, s->len);
	ws_parser_init(&p, max);
	if (bits)
		ws_parser_inflate(&p, bits, reset);
	*nmsg = 0;
	while (off < s->len) {
		end = step == 0 || s->len - off < step ? s->len : off + step;
		while (off < end) {
			r = ws_parse(&p, copy + off, end - off, &used, &ev);
			off += used;
			if (r < 0)
				goto done;
			if (r == 1 && check != NULL)
				check((*nmsg)++, &ev);
			else if (r == 1)
				(*nmsg)++;
		}
	}
	r = 0;
done:
	if (keep != NULL)
		*keep = p;
	else
		ws_parser_free(&p);
	free(copy);
	return r;
}

static uint8_t *msgs[8];
static size_t msglens[8];

static void
check_msgs(int i, const struct ws_event *ev)
{
	assert_true(i < 8);
	if (ev->len != msglens[i])
		fail_msg("message %d: %zu bytes, want %zu", i, ev->len,
		    msglens[i]);
	assert_memory_equal(ev->data, msgs[i], ev->len);
}

static void
make_msgs(int n, size_t len)
{
	int i;
	size_t k;

	for (i = 0; i < n; i++) {
		msglens[i] = len + (size_t)i * 7;
		msgs[i] = malloc(msglens[i] + 1);
		assert_non_null(msgs[i]);
		for (k = 0; k < msglens[i]; k++)
			msgs[i][k] = (uint8_t)("abcdefgh ijklmnop"[(k * 7 +
			    (size_t)i) % 17]);
	}
}

static void
free_msgs(int n)
{
	int i;

	for (i = 0; i < n; i++) {
		free(msgs[i]);
		msgs[i] = NULL;
	}
}

static void
test_inflate_messages(void **state UNUSED)
{
	static const size_t lens[] = { 0, 1, 125, 126, 1000, 20000, 70000 };
	static const size_t frags[] = { 1, 7, 100, 65536, 1 << 20 };
	static const size_t steps[] = { 0, 1, 13 };
	struct comp c;
	struct stream s;
	size_t li, fi, si, cl;
	int reset, n, k;
	uint8_t *z;

	for (li = 0; li < sizeof(lens) / sizeof(lens[0]); li++)
		for (reset = 0; reset < 2; reset++)
			for (fi = 0; fi < sizeof(frags) / sizeof(frags[0]);
			    fi++) {
				if (lens[li] > 20000 && frags[fi] < 100)
					continue;	/* slow, adds nothing */
				make_msgs(4, lens[li]);
				memset(&s, 0, sizeof(s));
				comp_init(&c, 15, reset);
				for (k = 0; k < 4; k++) {
					z = comp_msg(&c, msgs[k], msglens[k],
					    &cl, 0);
					s_message(&s, k % 2 ? WS_OP_BINARY :
					    WS_OP_TEXT, 1, z, cl, frags[fi]);
					free(z);
				}
				comp_end(&c);
				for (si = 0; si < 3; si++) {
					if (lens[li] > 1000 && steps[si] == 1)
						continue;
					assert_int_equal(parse_all(&s, 1 << 20,
					    15, reset, steps[si], check_msgs,
					    &n, NULL), 0);
					assert_int_equal(n, 4);
				}
				free(s.b);
				free_msgs(4);
			}
}

/* Compressed and plain messages mixed, and a control frame inside. */
static void
test_inflate_mixed(void **state UNUSED)
{
	struct comp c;
	struct stream s = { 0 };
	uint8_t *z;
	size_t cl, half;
	int n;

	make_msgs(3, 500);
	comp_init(&c, 10, 0);
	z = comp_msg(&c, msgs[0], msglens[0], &cl, 0);
	half = cl / 2;
	s_frame(&s, RSV1 | WS_OP_TEXT, z, half);
	s_frame(&s, FIN | WS_OP_PING, (const uint8_t *)"hi", 2);
	s_frame(&s, FIN | WS_OP_CONT, z + half, cl - half);
	free(z);
	s_message(&s, WS_OP_TEXT, 0, msgs[1], msglens[1], 1000);
	z = comp_msg(&c, msgs[2], msglens[2], &cl, 0);
	s_message(&s, WS_OP_TEXT, 1, z, cl, 1000);
	free(z);
	comp_end(&c);
	/* The ping is event 1: check messages by hand. */
	assert_int_equal(parse_all(&s, 1 << 20, 10, 0, 1, NULL, &n, NULL), 0);
	assert_int_equal(n, 4);
	free(s.b);
	free_msgs(3);
}

/* A block with BFINAL set ends a message; the context goes on. */
static void
test_inflate_bfinal(void **state UNUSED)
{
	struct comp c;
	struct stream s = { 0 };
	uint8_t *z;
	size_t cl;
	int n, k;

	make_msgs(3, 300);
	comp_init(&c, 15, 0);
	for (k = 0; k < 3; k++) {
		z = comp_msg(&c, msgs[k], msglens[k], &cl, k == 1);
		s_message(&s, WS_OP_TEXT, 1, z, cl, 1 << 20);
		free(z);
	}
	comp_end(&c);
	assert_int_equal(parse_all(&s, 1 << 20, 15, 0, 0, check_msgs, &n,
	    NULL), 0);
	assert_int_equal(n, 3);
	free(s.b);
	free_msgs(3);
}

/* The inflate state is freed after each message with reset. */
static void
test_inflate_state(void **state UNUSED)
{
	struct comp c;
	struct stream s = { 0 };
	struct ws_parser p;
	uint8_t *z;
	size_t cl;
	int n;

	make_msgs(1, 300);
	comp_init(&c, 15, 1);
	z = comp_msg(&c, msgs[0], msglens[0], &cl, 0);
	s_message(&s, WS_OP_TEXT, 1, z, cl, 1 << 20);
	free(z);
	comp_end(&c);
	assert_int_equal(parse_all(&s, 1 << 20, 15, 1, 0, check_msgs, &n,
	    &p), 0);
	assert_null(p.inflate);
	ws_parser_free(&p);
	assert_int_equal(parse_all(&s, 1 << 20, 15, 0, 0, check_msgs, &n,
	    &p), 0);
	assert_non_null(p.inflate);
	ws_parser_free(&p);
	assert_null(p.inflate);
	free(s.b);
	free_msgs(1);
}

/* 10 MB of zeros in about 10 KB: 1009, and the buffer stays at the cap. */
static void
test_inflate_bomb(void **state UNUSED)
{
	size_t big = 10 << 20, cl;
	uint8_t *zeros = calloc(1, big), *z;
	struct comp c;
	struct stream s = { 0 };
	struct ws_parser p;
	int n;

	assert_non_null(zeros);
	comp_init(&c, 15, 1);
	z = comp_msg(&c, zeros, big, &cl, 0);
	assert_true(cl < 20000);
	s_message(&s, WS_OP_BINARY, 1, z, cl, 1 << 20);
	free(z);
	comp_end(&c);
	free(zeros);
	assert_int_equal(parse_all(&s, 65536, 15, 1, 0, NULL, &n, &p),
	    WS_E_TOO_BIG);
	assert_true(p.msg_cap <= 65536 + 1);
	ws_parser_free(&p);
	assert_int_equal(ws_err_close_code(WS_E_TOO_BIG), 1009);
	free(s.b);
}

static void
test_inflate_errors(void **state UNUSED)
{
	static const uint8_t junk[] = { 0xff, 0xff, 0xff, 0xff, 0x12 };
	static const uint8_t bad_utf8[] = { 0xc3, 0x28 };
	struct comp c;
	struct stream s = { 0 };
	uint8_t *z;
	size_t cl;
	int n;

	/* Not deflate data. */
	s_message(&s, WS_OP_TEXT, 1, junk, sizeof(junk), 100);
	assert_int_equal(parse_all(&s, 1 << 20, 15, 0, 0, NULL, &n, NULL),
	    WS_E_DEFLATE);
	assert_int_equal(ws_err_close_code(WS_E_DEFLATE), 1007);
	free(s.b);

	/* Truncated: the message ends inside a block. */
	make_msgs(1, 3000);
	memset(&s, 0, sizeof(s));
	comp_init(&c, 15, 0);
	z = comp_msg(&c, msgs[0], msglens[0], &cl, 0);
	s_message(&s, WS_OP_TEXT, 1, z, cl / 2, 100);
	free(z);
	comp_end(&c);
	assert_int_equal(parse_all(&s, 1 << 20, 15, 0, 0, NULL, &n, NULL),
	    WS_E_DEFLATE);
	free(s.b);
	free_msgs(1);

	/* Invalid UTF-8 once inflated. */
	memset(&s, 0, sizeof(s));
	comp_init(&c, 15, 0);
	z = comp_msg(&c, bad_utf8, sizeof(bad_utf8), &cl, 0);
	s_message(&s, WS_OP_TEXT, 1, z, cl, 100);
	free(z);
	comp_end(&c);
	assert_int_equal(parse_all(&s, 1 << 20, 15, 0, 0, NULL, &n, NULL),
	    WS_E_UTF8);
	free(s.b);

	/* A window larger than agreed: distance too far back. */
	make_msgs(1, 20000);
	memset(&s, 0, sizeof(s));
	comp_init(&c, 15, 0);
	z = comp_msg(&c, msgs[0], 1, &cl, 0);
	free(z);
	{
		uint8_t *big = malloc(8000);
		size_t k;

		assert_non_null(big);
		for (k = 0; k < 4000; k++)
			big[k] = (uint8_t)(k * 2654435761u >> 13);
		memcpy(big + 4000, big, 4000);	/* 4 KB back */
		z = comp_msg(&c, big, 8000, &cl, 0);
		s_message(&s, WS_OP_BINARY, 1, z, cl, 1 << 20);
		free(z);
		free(big);
	}
	comp_end(&c);
	assert_int_equal(parse_all(&s, 1 << 20, 10, 0, 0, NULL, &n, NULL),
	    WS_E_DEFLATE);
	free(s.b);
	free_msgs(1);
}

/*
 * Data that inflates to nothing (empty stored blocks) still counts: a
 * compressed message may take little more than the cap on the wire, also
 * with pings between its fragments.
 */
static void
test_inflate_wire_cap(void **state UNUSED)
{
	static const uint8_t empty[5] = { 0x00, 0x00, 0x00, 0xff, 0xff };
	uint8_t frag[500];
	struct stream s = { 0 };
	size_t i;
	int n, k;

	for (i = 0; i < sizeof(frag); i++)
		frag[i] = empty[i % 5];
	for (k = 0; k < 6; k++) {	/* 3000 bytes, cap 1000 */
		s_frame(&s, (uint8_t)(k ? WS_OP_CONT : RSV1 | WS_OP_BINARY),
		    frag, sizeof(frag));
		s_frame(&s, FIN | WS_OP_PING, (const uint8_t *)"x", 1);
	}
	assert_int_equal(parse_all(&s, 1000, 15, 0, 0, NULL, &n, NULL),
	    WS_E_TOO_BIG);
	assert_int_equal(n, 4);	/* the pings before the cap */
	free(s.b);
}

static void
test_rsv1_rules(void **state UNUSED)
{
	struct stream s = { 0 };
	int n;

	/* Not agreed: RSV1 is a protocol error. */
	s_frame(&s, FIN | RSV1 | WS_OP_TEXT, (const uint8_t *)"\x02\x00", 2);
	assert_int_equal(parse_all(&s, 1000, 0, 0, 0, NULL, &n, NULL),
	    WS_E_RSV);
	free(s.b);
	/* On a control frame. */
	memset(&s, 0, sizeof(s));
	s_frame(&s, FIN | RSV1 | WS_OP_PING, (const uint8_t *)"x", 1);
	assert_int_equal(parse_all(&s, 1000, 15, 0, 0, NULL, &n, NULL),
	    WS_E_RSV);
	free(s.b);
	/* On a continuation frame. */
	memset(&s, 0, sizeof(s));
	s_frame(&s, WS_OP_TEXT, (const uint8_t *)"ab", 2);
	s_frame(&s, FIN | RSV1 | WS_OP_CONT, (const uint8_t *)"cd", 2);
	assert_int_equal(parse_all(&s, 1000, 15, 0, 0, NULL, &n, NULL),
	    WS_E_RSV);
	free(s.b);
	/* RSV2 and RSV3 stay errors. */
	memset(&s, 0, sizeof(s));
	s_frame(&s, FIN | 0x20 | WS_OP_TEXT, (const uint8_t *)"ab", 2);
	assert_int_equal(parse_all(&s, 1000, 15, 0, 0, NULL, &n, NULL),
	    WS_E_RSV);
	free(s.b);
	/* An empty compressed message (just the empty stored block's head). */
	memset(&s, 0, sizeof(s));
	s_frame(&s, FIN | RSV1 | WS_OP_TEXT, (const uint8_t *)"\x00", 1);
	s_frame(&s, FIN | RSV1 | WS_OP_TEXT, (const uint8_t *)"", 0);
	assert_int_equal(parse_all(&s, 1000, 15, 0, 0, NULL, &n, NULL), 0);
	assert_int_equal(n, 2);
	free(s.b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_negotiate),
		cmocka_unit_test(test_deflate_roundtrip),
		cmocka_unit_test(test_deflate_incompressible),
		cmocka_unit_test(test_inflate_messages),
		cmocka_unit_test(test_inflate_mixed),
		cmocka_unit_test(test_inflate_bfinal),
		cmocka_unit_test(test_inflate_state),
		cmocka_unit_test(test_inflate_bomb),
		cmocka_unit_test(test_inflate_errors),
		cmocka_unit_test(test_inflate_wire_cap),
		cmocka_unit_test(test_rsv1_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
