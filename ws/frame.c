/*
 * frame.c -- the pieces of RFC 6455 framing shared by reader and writer:
 * server frame headers, masking, close-code rules and error names.
 */
#include "ws.h"

size_t
ws_frame_header(uint8_t out[WS_FRAME_HEADER_MAX], int opcode, int fin,
    uint64_t len)
{
	size_t n;

	out[0] = (fin ? 0x80 : 0) | (opcode & (WS_RSV1 | 0x0f));
	if (len < 126) {
		out[1] = (uint8_t)len;
		return 2;
	}
	if (len <= 0xffff) {
		out[1] = 126;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		return 4;
	}
	out[1] = 127;
	for (n = 0; n < 8; n++)
		out[2 + n] = (uint8_t)(len >> (56 - 8 * n));
	return 10;
}

void
ws_mask(uint8_t *buf, size_t len, const uint8_t key[4], uint64_t off)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] ^= key[(off + i) & 3];
}

int
ws_close_code_valid(unsigned int code)
{
	if (code < 1000 || code >= 5000)
		return 0;
	if (code >= 3000)
		return 1;	/* registered (3xxx) and private (4xxx) */
	switch (code) {
	case 1000: case 1001: case 1002: case 1003:
	case 1007: case 1008: case 1009: case 1010:
	case 1011: case 1012: case 1013: case 1014:
		return 1;
	default:
		return 0;	/* 1004-1006, 1015, unassigned 1016-2999 */
	}
}

int
ws_err_close_code(int err)
{
	switch (err) {
	case WS_E_UTF8:
	case WS_E_DEFLATE:
		return WS_CLOSE_INVALID_DATA;
	case WS_E_TOO_BIG:
		return WS_CLOSE_TOO_BIG;
	case WS_E_NOMEM:
		return WS_CLOSE_INTERNAL;
	default:
		return WS_CLOSE_PROTOCOL;
	}
}

const char *
ws_strerror(int err)
{
	switch (err) {
	case WS_OK:			return "no error";
	case WS_E_UNMASKED:		return "unmasked client frame";
	case WS_E_RSV:			return "reserved bit set";
	case WS_E_OPCODE:		return "reserved opcode";
	case WS_E_CTRL_FRAGMENTED:	return "fragmented control frame";
	case WS_E_CTRL_TOO_LONG:	return "control frame over 125 bytes";
	case WS_E_NO_MESSAGE:		return "continuation without a message";
	case WS_E_IN_MESSAGE:		return "data frame inside a fragmented message";
	case WS_E_CLOSE_LEN:		return "close payload of one byte";
	case WS_E_CLOSE_CODE:		return "invalid close code";
	case WS_E_LENGTH:		return "invalid payload length";
	case WS_E_UTF8:			return "invalid UTF-8";
	case WS_E_TOO_BIG:		return "message too big";
	case WS_E_NOMEM:		return "out of memory";
	case WS_E_CLOSED:		return "data after close frame";
	case WS_E_DEFLATE:		return "invalid compressed data";
	default:			return "unknown error";
	}
}
