/*
 * fuzz_frame.c -- libFuzzer target for ws_parse(): frames, fragment
 * reassembly, UTF-8 across fragments, close rules.
 *
 * The oracle: the same input parsed in one call and one byte at a time
 * must give the same events and the same error.  The first input byte
 * picks the message cap.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../ws/ws.h"

#define MAX_EVENTS	4096

struct trace {
	int		n;
	int		err;
	struct {
		int		type;
		size_t		len;
		unsigned int	code;
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
record(struct trace *t, const struct ws_event *ev)
{
	if (t->n == MAX_EVENTS)
		return;
	t->ev[t->n].type = ev->type;
	t->ev[t->n].len = ev->len;
	t->ev[t->n].code = ev->code;
	t->ev[t->n].sum = ev->len ? checksum(ev->data, ev->len) : 0;
	t->n++;
}

/* Parse buf in chunks of `step' bytes (0 = all at once). */
static void
run(struct trace *t, uint8_t *buf, size_t len, size_t step, size_t max)
{
	struct ws_parser p;
	struct ws_event ev;
	size_t off = 0, used, n;
	int r = 0;

	memset(t, 0, sizeof(*t));
	ws_parser_init(&p, max);
	while (off < len && r >= 0) {
		n = step ? step : len - off;
		if (n > len - off)
			n = len - off;
		uint8_t *chunk = buf + off;
		size_t left = n;
		while (left > 0) {
			r = ws_parse(&p, chunk, left, &used, &ev);
			if (used > left)
				abort();
			if (r < 0)
				break;
			if (r == 1) {
				if (ev.type == WS_EV_NONE)
					abort();
				record(t, &ev);
			} else if (used != left)
				abort();	/* 0 must mean "all consumed" */
			chunk += used;
			left -= used;
			if (p.closed)
				break;
		}
		if (p.closed)
			break;
		off += n;
	}
	t->err = r < 0 ? r : 0;
	ws_parser_free(&p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct trace whole, bytewise;
	static const size_t caps[] = { 0, 1, 125, 126, 1024, 65536 };
	uint8_t *a, *b;
	size_t max;

	if (size < 1)
		return 0;
	max = caps[data[0] % (sizeof(caps) / sizeof(caps[0]))];
	data++;
	size--;
	if ((a = malloc(size + 1)) == NULL || (b = malloc(size + 1)) == NULL)
		abort();
	memcpy(a, data, size);
	memcpy(b, data, size);
	run(&whole, a, size, 0, max);
	run(&bytewise, b, size, 1, max);
	if (whole.err != bytewise.err || whole.n != bytewise.n ||
	    memcmp(whole.ev, bytewise.ev, sizeof(whole.ev[0]) * whole.n) != 0)
		abort();
	free(a);
	free(b);
	return 0;
}
