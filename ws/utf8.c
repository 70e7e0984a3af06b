/*
 * utf8.c -- incremental, fail-fast UTF-8 validation (RFC 3629).
 *
 * The state is the number of continuation bytes still owed and the range
 * the next one must fall in.  Narrowing that range after the lead byte
 * rejects overlong forms, surrogates and code points above U+10FFFF at the
 * first byte that rules them out, which RFC 6455 section 8.1 asks of a
 * receiver ("fail fast").
 */
#include <string.h>

#include "ws.h"

void
ws_utf8_init(struct ws_utf8 *u)
{
	u->need = 0;
	u->lo = 0x80;
	u->hi = 0xbf;
}

int
ws_utf8_complete(const struct ws_utf8 *u)
{
	return u->need == 0;
}

int
ws_utf8_feed(struct ws_utf8 *u, const uint8_t *p, size_t len)
{
	const uint8_t *end = p + len;
	uint64_t w;

	while (p < end) {
		if (u->need == 0) {
			/* Skip ASCII eight bytes at a time. */
			while (end - p >= 8) {
				memcpy(&w, p, sizeof(w));
				if (w & 0x8080808080808080ULL)
					break;
				p += 8;
			}
			if (p == end)
				break;
			uint8_t c = *p++;
			if (c < 0x80)
				continue;
			u->lo = 0x80;
			u->hi = 0xbf;
			if (c >= 0xc2 && c <= 0xdf)
				u->need = 1;
			else if (c >= 0xe0 && c <= 0xef) {
				u->need = 2;
				if (c == 0xe0)
					u->lo = 0xa0;	/* overlong */
				else if (c == 0xed)
					u->hi = 0x9f;	/* surrogates */
			} else if (c >= 0xf0 && c <= 0xf4) {
				u->need = 3;
				if (c == 0xf0)
					u->lo = 0x90;	/* overlong */
				else if (c == 0xf4)
					u->hi = 0x8f;	/* > U+10FFFF */
			} else
				return WS_E_UTF8;
		} else {
			uint8_t c = *p++;
			if (c < u->lo || c > u->hi)
				return WS_E_UTF8;
			u->need--;
			u->lo = 0x80;
			u->hi = 0xbf;
		}
	}
	return 0;
}

int
ws_utf8_valid(const uint8_t *buf, size_t len)
{
	struct ws_utf8 u;

	ws_utf8_init(&u);
	return ws_utf8_feed(&u, buf, len) == 0 && ws_utf8_complete(&u);
}
