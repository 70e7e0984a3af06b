/*
 * fuzz_inflate.c -- libFuzzer target for compressed client messages: the
 * parser with permessage-deflate on (ws_parser_inflate), and
 * ws_deflate_message().
 *
 * The first input byte picks the message cap, the client's window and
 * client_no_context_takeover.  The rest is records: a flags byte (opcode,
 * FIN, RSV1), a length byte, then that many payload bytes, each made into
 * a masked frame, so that the fuzzer works on deflate data rather than on
 * frame headers.  The oracles: parsed whole and one byte at a time, the
 * events and the error are the same (but see below); no message is over
 * the cap, and the
 * message buffer never grows past it; and the payload bytes compressed by
 * ws_deflate_message() inflate through the parser to themselves.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../ws/ws.h"

#define MAX_EVENTS	1024

struct trace {
	int		n;
	int		err;
	struct {
		int		type;
		size_t		len;
		uint32_t	sum;
	} ev[MAX_EVENTS];
};

static uint32_t
checksum(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;

	while (n--)
		h = (h ^ *p++) * 16777619u;
	return h;
}

static void
run(struct trace *t, const uint8_t *in, size_t len, size_t step, size_t max,
    int bits, int reset)
{
	struct ws_parser p;
	struct ws_event ev;
	uint8_t *buf;
	size_t off = 0, used, n;
	int r = 0;

	memset(t, 0, sizeof(*t));
	if ((buf = malloc(len + 1)) == NULL)
		abort();
	memcpy(buf, in, len);
	ws_parser_init(&p, max);
	ws_parser_inflate(&p, bits, reset);
	while (off < len && r >= 0 && !p.closed) {
		n = step ? step : len - off;
		if (n > len - off)
			n = len - off;
		r = ws_parse(&p, buf + off, n, &used, &ev);
		if (used > n)
			abort();
		if (max != 0 && p.msg_cap > max + 1 && p.msg_cap > 256)
			abort();	/* grew past the cap */
		if (r == 1) {
			if (max != 0 && ev.len > max &&
			    (ev.type == WS_EV_TEXT || ev.type == WS_EV_BINARY))
				abort();
			if (t->n < MAX_EVENTS) {
				t->ev[t->n].type = ev.type;
				t->ev[t->n].len = ev.len;
				t->ev[t->n].sum = checksum(ev.data, ev.len);
				t->n++;
			}
		}
		off += used;
	}
	t->err = r < 0 ? r : 0;
	ws_parser_free(&p);
	free(buf);
}

/* Records to frames (masked with a key of zeros). */
static size_t
frames(const uint8_t *in, size_t len, uint8_t *out)
{
	static const int ops[] = { WS_OP_TEXT, WS_OP_BINARY, WS_OP_CONT,
	    WS_OP_PING };
	size_t i = 0, o = 0, n;

	while (i + 2 <= len) {
		uint8_t f = in[i];

		n = in[i + 1];
		i += 2;
		if (n > len - i)
			n = len - i;
		out[o++] = (uint8_t)((f & 0x80) | (f & 0x40) | ops[f & 3]);
		if (n < 126)
			out[o++] = 0x80 | (uint8_t)n;
		else {
			out[o++] = 0x80 | 126;
			out[o++] = 0;
			out[o++] = (uint8_t)n;
		}
		memset(out + o, 0, 4);
		o += 4;
		memcpy(out + o, in + i, n);
		o += n;
		i += n;
	}
	return o;
}

/* ws_deflate_message() and back through the parser. */
static void
roundtrip(const uint8_t *in, size_t len)
{
	struct ws_part parts[2] = { { in, len / 2 }, { in + len / 2,
	    len - len / 2 } };
	struct ws_parser p;
	struct ws_event ev;
	uint8_t *buf;
	size_t cap = len + len / 8 + 64, used, h;
	long n;

	if ((buf = malloc(14 + cap)) == NULL)
		abort();
	if ((n = ws_deflate_message(1, 10, parts, 2, buf + 14, cap)) < 0)
		abort();	/* room for the worst case was given */
	h = 2;
	buf[0] = 0x80 | WS_RSV1 | WS_OP_BINARY;
	if (n < 126)
		buf[1] = 0x80 | (uint8_t)n;
	else if (n <= 0xffff) {
		buf[1] = 0x80 | 126;
		buf[2] = (uint8_t)(n >> 8);
		buf[3] = (uint8_t)n;
		h = 4;
	} else
		abort();
	memset(buf + h, 0, 4);
	memmove(buf + h + 4, buf + 14, (size_t)n);
	ws_parser_init(&p, 0);
	ws_parser_inflate(&p, 10, 1);
	if (ws_parse(&p, buf, h + 4 + (size_t)n, &used, &ev) != 1 ||
	    ev.len != len || (len > 0 && memcmp(ev.data, in, len) != 0))
		abort();
	ws_parser_free(&p);
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct trace whole, bytewise;
	static const size_t caps[] = { 0, 1, 125, 1024, 65536 };
	size_t max, len;
	uint8_t *stream;
	int bits, reset;

	if (size < 1 || size > 16384)
		return 0;
	max = caps[data[0] % 5];
	bits = 8 + (data[0] >> 3) % 8;
	reset = (data[0] >> 6) & 1;
	data++;
	size--;
	roundtrip(data, size);
	if ((stream = malloc(size * 4 + 16)) == NULL)
		abort();
	len = frames(data, size, stream);
	run(&whole, stream, len, 0, max, bits, reset);
	run(&bytewise, stream, len, 1, max, bits, reset);
	/*
	 * zlib rejects a back-reference only when it cannot resolve it: one
	 * beyond a small window may still reach bytes inflated in the same
	 * call, so whether such a stream fails depends on how it was split.
	 * With the full window (15) it never does.
	 */
	if (bits < 15 && (whole.err == WS_E_DEFLATE ||
	    bytewise.err == WS_E_DEFLATE))
		goto out;
	if (whole.err != bytewise.err || whole.n != bytewise.n ||
	    memcmp(whole.ev, bytewise.ev, sizeof(whole.ev[0]) *
	    (size_t)whole.n) != 0)
		abort();
out:
	free(stream);
	return 0;
}
