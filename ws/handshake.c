/*
 * handshake.c -- the opening handshake, server side (RFC 6455 section 4.2).
 *
 * Parses a complete HTTP/1.1 request head, decides whether it is a valid
 * WebSocket upgrade and computes Sec-WebSocket-Accept (SHA-1 and base64,
 * both here: OpenSSL's EVP layer would make every child fault in a dozen
 * pages of libcrypto and take its locks for 60 bytes of input).  Reading
 * the head from the network, its size limit and the response belong to
 * the caller.
 */
#include <ctype.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "ws.h"

#define WS_GUID		"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

size_t
ws_head_end(const char *buf, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (buf[i + 1] == '\n')
			return i + 2;
		if (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

static int
is_tchar(int c)
{
	return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

/* Next line, NUL-terminated in place, CR LF or bare LF stripped. */
static char *
next_line(char **cursor)
{
	char *s = *cursor, *nl;

	if ((nl = strchr(s, '\n')) == NULL)
		return NULL;
	*nl = '\0';
	if (nl > s && nl[-1] == '\r')
		nl[-1] = '\0';
	*cursor = nl + 1;
	return s;
}

static void
trim(char **s)
{
	char *b = *s, *e;

	while (*b == ' ' || *b == '\t')
		b++;
	e = b + strlen(b);
	while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	*s = b;
}

static void
set_unique(struct ws_request *r, const char **field, const char *value)
{
	if (*field != NULL)
		r->duplicate = 1;
	*field = value;
}

int
ws_request_parse(struct ws_request *r, const char *head, size_t len)
{
	char *cur, *line, *sp, *colon, *name, *value, *q;

	/*
	 * Not the 8 KiB of buf: only the head's own bytes and its NUL are
	 * read, and a page that is never written is never faulted in.
	 */
	memset((char *)r + offsetof(struct ws_request, method), 0,
	    offsetof(struct ws_request, pathbuf) -
	    offsetof(struct ws_request, method));
	r->buf[0] = '\0';
	r->pathbuf[0] = '\0';
	if (len > WS_HEAD_MAX || memchr(head, '\0', len) != NULL)
		return 400;
	memcpy(r->buf, head, len);
	r->buf[len] = '\0';
	cur = r->buf;

	/* Request line: METHOD SP target SP HTTP/1.x */
	if ((line = next_line(&cur)) == NULL)
		return 400;
	if ((sp = strchr(line, ' ')) == NULL || sp == line)
		return 400;
	*sp++ = '\0';
	for (r->method = line; *line; line++)
		if (!is_tchar((unsigned char)*line))
			return 400;
	r->target = sp;
	if ((sp = strchr(sp, ' ')) == NULL || sp == r->target)
		return 400;
	*sp++ = '\0';
	if (strncmp(sp, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)sp[7]) ||
	    sp[8] != '\0')
		return 400;
	r->http_minor = sp[7] - '0';
	for (q = (char *)r->target; *q; q++)
		if ((unsigned char)*q <= 0x20 || *q == 0x7f)
			return 400;

	/* Split the target; the path is copied so target stays whole. */
	memcpy(r->pathbuf, r->target, strlen(r->target) + 1);
	if ((q = strchr(r->pathbuf, '?')) != NULL) {
		*q = '\0';
		r->query = r->target + (q - r->pathbuf) + 1;
	}
	r->path = r->pathbuf;

	while ((line = next_line(&cur)) != NULL && *line != '\0') {
		if (*line == ' ' || *line == '\t')
			return 400;	/* obsolete line folding */
		if ((colon = strchr(line, ':')) == NULL || colon == line)
			return 400;
		*colon = '\0';
		for (name = line; *line; line++)
			if (!is_tchar((unsigned char)*line))
				return 400;
		value = colon + 1;
		trim(&value);
		if (strcasecmp(name, "Host") == 0)
			set_unique(r, &r->host, value);
		else if (strcasecmp(name, "Upgrade") == 0) {
			r->upgrade = value;
			r->upgrade_websocket |=
			    ws_token_list_has(value, "websocket");
		} else if (strcasecmp(name, "Connection") == 0) {
			r->connection = value;
			r->connection_upgrade |=
			    ws_token_list_has(value, "upgrade");
		}
		else if (strcasecmp(name, "Sec-WebSocket-Key") == 0)
			set_unique(r, &r->key, value);
		else if (strcasecmp(name, "Sec-WebSocket-Version") == 0)
			set_unique(r, &r->version, value);
		else if (strcasecmp(name, "Origin") == 0)
			set_unique(r, &r->origin, value);
		else if (strcasecmp(name, "Authorization") == 0)
			set_unique(r, &r->authorization, value);
		else if (strcasecmp(name, "Sec-WebSocket-Protocol") == 0 &&
		    r->nprotocol < WS_PROTOCOL_LINES)
			r->protocol[r->nprotocol++] = value;
		else if (strcasecmp(name, "Sec-WebSocket-Extensions") == 0 &&
		    r->nextension < WS_EXTENSION_LINES)
			r->extension[r->nextension++] = value;
	}
	if (line == NULL)
		return 400;	/* no blank line: head incomplete */
	return 0;
}

int
ws_token_list_has(const char *s, const char *token)
{
	size_t tlen = strlen(token), n;

	if (s == NULL)
		return 0;
	while (*s) {
		while (*s == ' ' || *s == '\t' || *s == ',')
			s++;
		n = strcspn(s, ", \t");
		if (n == tlen && strncasecmp(s, token, n) == 0) {
			s += n;
			while (*s == ' ' || *s == '\t')
				s++;
			if (*s == '\0' || *s == ',')
				return 1;
		}
		s += strcspn(s, ",");
	}
	return 0;
}

int
ws_request_is_upgrade(const struct ws_request *r)
{
	return r->upgrade != NULL || r->key != NULL || r->version != NULL;
}

/*
 * 1 when key is the base64 form of exactly 16 bytes: 22 characters of
 * the alphabet and "==" (section 4.1).
 */
static int
key_valid(const char *key)
{
	size_t i;

	if (strlen(key) != 24 || key[22] != '=' || key[23] != '=')
		return 0;
	for (i = 0; i < 22; i++)
		if (!isalnum((unsigned char)key[i]) && key[i] != '+' &&
		    key[i] != '/')
			return 0;
	return 1;
}

int
ws_request_check(const struct ws_request *r)
{
	if (strcmp(r->method, "GET") != 0)
		return 405;
	if (r->http_minor < 1 || r->host == NULL || r->duplicate)
		return 400;
	if (!r->upgrade_websocket || !r->connection_upgrade)
		return 400;
	if (r->version == NULL)
		return 400;
	if (strcmp(r->version, "13") != 0)
		return 426;
	if (r->key == NULL || !key_valid(r->key))
		return 400;
	return 0;
}

#define ROL(x, n)	(((x) << (n)) | ((x) >> (32 - (n))))

/* One 64-byte block of SHA-1 (FIPS 180-4 section 6.1.2). */
static void
sha1_block(uint32_t h[5], const unsigned char *p)
{
	uint32_t w[80], a, b, c, d, e, f, k, t;
	int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		    (uint32_t)p[4 * i + 2] << 8 | (uint32_t)p[4 * i + 3];
	for (; i < 80; i++)
		w[i] = ROL(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
	for (i = 0; i < 80; i++) {
		if (i < 20)
			f = (b & c) | (~b & d), k = 0x5a827999;
		else if (i < 40)
			f = b ^ c ^ d, k = 0x6ed9eba1;
		else if (i < 60)
			f = (b & c) | (b & d) | (c & d), k = 0x8f1bbcdc;
		else
			f = b ^ c ^ d, k = 0xca62c1d6;
		t = ROL(a, 5) + f + e + k + w[i];
		e = d, d = c, c = ROL(b, 30), b = a, a = t;
	}
	h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
}

/* SHA-1 of a short message (at most 119 bytes: two blocks). */
static int
sha1_short(const void *msg, size_t len, unsigned char md[20])
{
	uint32_t h[5] = { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476,
	    0xc3d2e1f0 };
	unsigned char buf[128];
	size_t n, i;
	uint64_t bits = (uint64_t)len * 8;

	if (len > sizeof(buf) - 9)
		return -1;
	n = len + 9 <= 64 ? 64 : 128;
	memset(buf, 0, n);
	memcpy(buf, msg, len);
	buf[len] = 0x80;
	for (i = 0; i < 8; i++)
		buf[n - 1 - i] = (unsigned char)(bits >> (8 * i));
	for (i = 0; i < n; i += 64)
		sha1_block(h, buf + i);
	for (i = 0; i < 20; i++)
		md[i] = (unsigned char)(h[i / 4] >> (24 - 8 * (i % 4)));
	return 0;
}

int
ws_accept_key(const char *key, char out[WS_ACCEPT_LEN + 1])
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char msg[64 + sizeof(WS_GUID)];
	unsigned char md[21];		/* the digest and a zero pad */
	size_t klen = strlen(key), i, o = 0;
	uint32_t v;

	if (klen > 64)
		return -1;
	memcpy(msg, key, klen);
	memcpy(msg + klen, WS_GUID, sizeof(WS_GUID) - 1);
	if (sha1_short(msg, klen + sizeof(WS_GUID) - 1, md) == -1)
		return -1;
	md[20] = 0;
	for (i = 0; i < 21; i += 3) {
		v = (uint32_t)md[i] << 16 | (uint32_t)md[i + 1] << 8 |
		    md[i + 2];
		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = b64[(v >> 6) & 63];
		out[o++] = b64[v & 63];
	}
	out[WS_ACCEPT_LEN - 1] = '=';	/* 20 bytes: one byte of padding */
	out[WS_ACCEPT_LEN] = '\0';
	return 0;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int
ws_request_offers(const struct ws_request *r, const char *protocol)
{
	int i;

	for (i = 0; i < r->nprotocol; i++)
		if (ws_token_list_has(r->protocol[i], protocol))
			return 1;
	return 0;
}

int
ws_query_get(const char *query, const char *name, char *out, size_t outsize)
{
	size_t nlen = strlen(name), o;
	const char *p = query, *end;
	int found = 0, hi, lo;

	if (query == NULL || outsize == 0)
		return -1;
	while (*p) {
		end = p + strcspn(p, "&");
		if ((size_t)(end - p) >= nlen && strncmp(p, name, nlen) == 0 &&
		    (p + nlen == end || p[nlen] == '=')) {
			if (found++)
				return -2;	/* given twice: ambiguous */
			p += nlen;
			if (*p == '=')
				p++;
			for (o = 0; p < end; o++) {
				if (o + 1 >= outsize)
					return -2;
				if (*p != '%') {
					out[o] = *p++;
					continue;
				}
				if (end - p < 3 || (hi = hexval(p[1])) < 0 ||
				    (lo = hexval(p[2])) < 0)
					return -2;
				out[o] = (char)(hi << 4 | lo);
				p += 3;
			}
			out[o] = '\0';
			if (memchr(out, '\0', o) != NULL)
				return -2;	/* %00 */
			found = (int)o + 1;
		}
		p = *end ? end + 1 : end;
	}
	return found ? found - 1 : -1;
}
