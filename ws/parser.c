/*
 * parser.c -- incremental parser for client frames (RFC 6455 section 5).
 *
 * Input may be split anywhere, down to one byte per call.  Each header is
 * checked as soon as the bytes that decide it are in, so a bad frame fails
 * before its payload is read.  Data frames are reassembled into one
 * message under msg_max; text is validated while it arrives, so invalid
 * UTF-8 fails fast, also across fragments.  With permessage-deflate
 * agreed, a message whose first frame has RSV1 is inflated as its frames
 * arrive (deflate.c), and the cap and UTF-8 apply to what comes out.
 */
#include <stdlib.h>
#include <string.h>

#include "ws.h"
#include "internal.h"

enum { ST_HEADER, ST_PAYLOAD };

/* A reassembly buffer larger than this is freed after its message. */
#define MSG_KEEP	(64 * 1024)

#define IS_CONTROL(op)	((op) & 0x8)

void
ws_parser_init(struct ws_parser *p, size_t max)
{
	memset(p, 0, sizeof(*p));
	p->state = ST_HEADER;
	p->hdr_need = 2;
	p->msg_max = max;
	ws_utf8_init(&p->utf8);
}

static void
msg_free(struct ws_parser *p)
{
	free(p->msg);
	p->msg = NULL;
	p->msg_cap = p->msg_len = 0;
}

void
ws_parser_free(struct ws_parser *p)
{
	msg_free(p);
	ws_inflate_free(p);
}

/*
 * The most compressed bytes a message of max bytes may take: deflate's
 * stored blocks add 5 bytes per 64 KiB, a client's own choices (empty
 * blocks, flushes) a little more.  Inflated bytes are capped as they
 * come out; this stops a stream that never produces any.
 */
static uint64_t
wire_max(size_t max)
{
	return (uint64_t)max + max / 8 + 1024;
}

/* Checks on the first two header bytes. */
static int
check_start(struct ws_parser *p)
{
	uint8_t b0 = p->hdr[0], b1 = p->hdr[1];
	int op = b0 & 0x0f;

	p->fin = (b0 & 0x80) != 0;
	p->opcode = op;
	/* RSV1 is "compressed": only on a message's first frame. */
	if ((b0 & 0x30) || ((b0 & 0x40) && (p->inflate_bits == 0 ||
	    (op != WS_OP_TEXT && op != WS_OP_BINARY))))
		return WS_E_RSV;
	switch (op) {
	case WS_OP_CONT:
		if (p->msg_opcode == 0)
			return WS_E_NO_MESSAGE;
		break;
	case WS_OP_TEXT:
	case WS_OP_BINARY:
		if (p->msg_opcode != 0)
			return WS_E_IN_MESSAGE;
		break;
	case WS_OP_CLOSE:
	case WS_OP_PING:
	case WS_OP_PONG:
		if (!p->fin)
			return WS_E_CTRL_FRAGMENTED;
		if ((b1 & 0x7f) > WS_CONTROL_MAX)
			return WS_E_CTRL_TOO_LONG;
		break;
	default:
		return WS_E_OPCODE;
	}
	if (!(b1 & 0x80))
		return WS_E_UNMASKED;
	switch (b1 & 0x7f) {
	case 126:
		p->hdr_need = 2 + 2 + 4;
		break;
	case 127:
		p->hdr_need = 2 + 8 + 4;
		break;
	default:
		p->hdr_need = 2 + 4;
	}
	return 0;
}

/* Checks once the whole header is in. */
static int
check_header(struct ws_parser *p)
{
	uint8_t *h = p->hdr;
	uint64_t len = h[1] & 0x7f;
	size_t i;

	if (len == 126) {
		len = (uint64_t)h[2] << 8 | h[3];
		if (len < 126)
			return WS_E_LENGTH;
	} else if (len == 127) {
		if (h[2] & 0x80)
			return WS_E_LENGTH;
		for (len = 0, i = 2; i < 10; i++)
			len = len << 8 | h[i];
		if (len <= 0xffff)
			return WS_E_LENGTH;
	}
	memcpy(p->key, h + p->hdr_need - 4, 4);
	p->flen = len;
	p->fgot = 0;

	if (p->opcode == WS_OP_TEXT || p->opcode == WS_OP_BINARY) {
		p->msg_deflated = (h[0] & 0x40) != 0;
		p->msg_wire = 0;
	}
	if (!IS_CONTROL(p->opcode) && p->msg_max != 0) {
		if (p->msg_deflated) {
			if (len > wire_max(p->msg_max) - p->msg_wire)
				return WS_E_TOO_BIG;
		} else {
			size_t have = p->opcode == WS_OP_CONT ?
			    p->msg_len : 0;
			if (len > p->msg_max - have)
				return WS_E_TOO_BIG;
		}
	}
	if (p->msg_deflated && !IS_CONTROL(p->opcode))
		p->msg_wire += len;
	if (p->opcode == WS_OP_TEXT || p->opcode == WS_OP_BINARY) {
		/* A new message: drop the last one's bytes. */
		p->msg_opcode = p->opcode;
		p->msg_len = 0;
		if (p->msg_cap > MSG_KEEP)
			msg_free(p);
		ws_utf8_init(&p->utf8);
	}
	return 0;
}

static int
msg_append(struct ws_parser *p, const uint8_t *buf, size_t len)
{
	size_t need = p->msg_len + len, cap;
	uint8_t *n;

	if (len == 0)
		return 0;
	if (need > p->msg_cap) {
		cap = p->msg_cap ? p->msg_cap : 256;
		while (cap < need)
			cap *= 2;
		if ((n = realloc(p->msg, cap)) == NULL)
			return WS_E_NOMEM;
		p->msg = n;
		p->msg_cap = cap;
	}
	memcpy(p->msg + p->msg_len, buf, len);
	p->msg_len = need;
	return 0;
}

static int
finish_control(struct ws_parser *p, struct ws_event *ev)
{
	size_t n = (size_t)p->flen;

	ev->data = p->ctl;
	ev->len = n;
	ev->code = 0;
	switch (p->opcode) {
	case WS_OP_PING:
		ev->type = WS_EV_PING;
		return 1;
	case WS_OP_PONG:
		ev->type = WS_EV_PONG;
		return 1;
	}
	ev->type = WS_EV_CLOSE;
	p->closed = 1;
	if (n == 0) {
		ev->code = WS_CLOSE_NO_STATUS;
		return 1;
	}
	if (n == 1)
		return WS_E_CLOSE_LEN;
	ev->code = (unsigned int)p->ctl[0] << 8 | p->ctl[1];
	if (!ws_close_code_valid(ev->code))
		return WS_E_CLOSE_CODE;
	ev->data = p->ctl + 2;
	ev->len = n - 2;
	if (!ws_utf8_valid(ev->data, ev->len))
		return WS_E_UTF8;
	return 1;
}

/* The frame's payload is complete; 1 if that completes an event. */
static int
finish_frame(struct ws_parser *p, struct ws_event *ev)
{
	p->state = ST_HEADER;
	p->hdr_have = 0;
	p->hdr_need = 2;
	if (IS_CONTROL(p->opcode))
		return finish_control(p, ev);
	if (!p->fin)
		return 0;
	if (p->msg_deflated) {
		int r = ws_inflate_finish(p);
		if (r != 0)
			return r;
	}
	if (p->msg_opcode == WS_OP_TEXT && !ws_utf8_complete(&p->utf8))
		return WS_E_UTF8;
	ev->type = p->msg_opcode == WS_OP_TEXT ? WS_EV_TEXT : WS_EV_BINARY;
	if (ev->data == NULL)
		ev->data = p->msg;
	ev->len = p->msg_len;
	ev->code = 0;
	p->msg_opcode = 0;
	return 1;
}

int
ws_parse(struct ws_parser *p, uint8_t *buf, size_t len, size_t *used,
    struct ws_event *ev)
{
	size_t off = 0, n;
	int r;

	memset(ev, 0, sizeof(*ev));
	*used = 0;
	if (p->closed && len > 0)
		return WS_E_CLOSED;
	while (off < len || (p->state == ST_PAYLOAD && p->fgot == p->flen)) {
		if (p->state == ST_HEADER) {
			n = p->hdr_need - p->hdr_have;
			if (n > len - off)
				n = len - off;
			memcpy(p->hdr + p->hdr_have, buf + off, n);
			p->hdr_have += n;
			off += n;
			*used = off;
			if (p->hdr_have == 2 && p->hdr_need == 2 &&
			    (r = check_start(p)) != 0)
				return r;
			if (p->hdr_have < p->hdr_need)
				continue;
			if ((r = check_header(p)) != 0)
				return r;
			p->state = ST_PAYLOAD;
			continue;
		}

		/* Payload: unmask in place, then validate and store. */
		uint8_t *chunk = buf + off;
		n = len - off;
		if (n > p->flen - p->fgot)
			n = (size_t)(p->flen - p->fgot);
		ws_mask(chunk, n, p->key, p->fgot);
		if (IS_CONTROL(p->opcode))
			memcpy(p->ctl + p->fgot, chunk, n);
		else if (p->msg_deflated) {
			if (n > 0 && (r = ws_inflate_feed(p, chunk, n)) != 0) {
				*used = off + n;
				return r;
			}
		} else {
			if (p->msg_opcode == WS_OP_TEXT &&
			    ws_utf8_feed(&p->utf8, chunk, n) != 0) {
				*used = off + n;
				return WS_E_UTF8;
			}
			if (p->fin && p->opcode != WS_OP_CONT &&
			    p->fgot == 0 && n == p->flen) {
				/* Whole message in this buffer: no copy. */
				ev->data = chunk;
				p->msg_len = n;
			} else if ((r = msg_append(p, chunk, n)) != 0)
				return r;
		}
		p->fgot += n;
		off += n;
		*used = off;
		if (p->fgot < p->flen)
			continue;
		if ((r = finish_frame(p, ev)) != 0)
			return r;
	}
	return 0;
}
