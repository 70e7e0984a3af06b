/*
 * selftest.c -- compress a message and read it back through the parser,
 * as a client's would be: the master runs it once before it forks, so
 * that zlib's calls are bound (and its pages touched) in the master, not
 * in every child.  It sits above deflate.c and parser.c, which it uses.
 */
#include <stdint.h>
#include <string.h>

#include "ws.h"

int
ws_deflate_selftest(void)
{
	static const char msg[] = "permessage-deflate self-test, self-test";
	struct ws_part part = { msg, sizeof(msg) - 1 };
	struct ws_parser p;
	struct ws_event ev;
	uint8_t buf[2 + 4 + WS_CONTROL_MAX];	/* a masked frame */
	size_t used;
	long n;
	int ok;

	n = ws_deflate_message(1, 10, &part, 1, buf + 6, WS_CONTROL_MAX);
	if (n < 0 || n > WS_CONTROL_MAX)	/* a 7-bit length below */
		return -1;
	buf[0] = 0x80 | WS_RSV1 | WS_OP_TEXT;
	buf[1] = 0x80 | (uint8_t)n;
	memset(buf + 2, 0, 4);		/* a mask of zeros */
	ws_parser_init(&p, 1024);
	ws_parser_inflate(&p, 10, 0);
	ok = ws_parse(&p, buf, 6 + (size_t)n, &used, &ev) == 1 &&
	    ev.type == WS_EV_TEXT && ev.len == sizeof(msg) - 1 &&
	    memcmp(ev.data, msg, ev.len) == 0;
	ws_parser_free(&p);
	ws_deflate_release();
	return ok ? 0 : -1;
}
