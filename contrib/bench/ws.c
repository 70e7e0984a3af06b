/*
 * ws.c -- the RFC 6455 client: connect, the handshake with a random
 * Sec-WebSocket-Key and a checked Sec-WebSocket-Accept, masked client
 * frames, and an incremental parser of the server's frames.  A server
 * frame that is masked, has RSV bits set or is fragmented fails the
 * connection; with ws_offer_deflate, permessage-deflate is offered (and
 * must be accepted), and a message with RSV1 is inflated, as the server
 * keeps no context, each on its own.  A wspubsub.v1 client (ws_open_v1)
 * also checks that the subprotocol was selected and splits each
 * message's header (id, event) from its payload.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <zlib.h>

#include "conn.h"
#include "servers.h"
#include "wsbench.h"

int ws_offer_deflate;

void
ws_flush(struct conn *c)
{
	ssize_t n;

	while (c->ooff < c->olen) {
		n = write(c->fd, c->obuf + c->ooff, c->olen - c->ooff);
		if (n == -1) {
			if (errno == EAGAIN) {
				conn_events(c, EPOLLIN | EPOLLOUT);
				return;
			}
			conn_fail(c, "write: %s", strerror(errno));
			return;
		}
		c->ooff += (size_t)n;
	}
	c->ooff = c->olen = 0;
	if (c->state != S_CONNECTING)
		conn_events(c, EPOLLIN);
}

static void
obuf_put(struct conn *c, const void *p, size_t n)
{
	if (c->olen + n > c->ocap) {
		c->ocap = (c->olen + n) * 2;
		c->obuf = xrealloc(c->obuf, c->ocap);
	}
	memcpy(c->obuf + c->olen, p, n);
	c->olen += n;
}

/* A client frame: always masked, with a fresh random key. */
void
ws_send(struct conn *c, int op, const void *data, size_t len)
{
	uint8_t hdr[14], key[4];
	const uint8_t *d = data;
	size_t h = 0, i;

	if (c->state == S_CLOSED)
		return;
	if (RAND_bytes(key, 4) != 1)
		die("RAND_bytes failed");
	hdr[h++] = (uint8_t)(0x80 | op);
	if (len < 126)
		hdr[h++] = (uint8_t)(0x80 | len);
	else if (len < 65536) {
		hdr[h++] = 0x80 | 126;
		hdr[h++] = (uint8_t)(len >> 8);
		hdr[h++] = (uint8_t)len;
	} else {
		hdr[h++] = 0x80 | 127;
		for (i = 0; i < 8; i++)
			hdr[h++] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
	}
	memcpy(hdr + h, key, 4);
	h += 4;
	obuf_put(c, hdr, h);
	if (c->olen + len > c->ocap) {
		c->ocap = (c->olen + len) * 2;
		c->obuf = xrealloc(c->obuf, c->ocap);
	}
	for (i = 0; i < len; i++)
		c->obuf[c->olen + i] = d[i] ^ key[i & 3];
	c->olen += len;
	if (c->state != S_CONNECTING)
		ws_flush(c);
}

static struct conn *
ws_connect(const char *user, int v1, const char *since)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	unsigned char raw[16], sha[SHA_DIGEST_LENGTH];
	char key[32], cat[96], req[640];
	struct conn *c = calloc(1, sizeof(*c));
	int one = 1, n;

	if (c == NULL)
		die("out of memory");
	c->kind = K_WS;
	c->v1 = v1;
	snprintf(c->user, sizeof(c->user), "%s", user);
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		die("RAND_bytes failed");
	EVP_EncodeBlock((unsigned char *)key, raw, sizeof(raw));
	snprintf(cat, sizeof(cat), "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11",
	    key);
	SHA1((unsigned char *)cat, strlen(cat), sha);
	EVP_EncodeBlock((unsigned char *)c->accept, sha, sizeof(sha));
	n = snprintf(req, sizeof(req), "GET /?user=%s%s%s HTTP/1.1\r\n"
	    "Host: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
	    "Sec-WebSocket-Version: 13\r\n%s%s\r\n", user,
	    since ? "&since=" : "", since ? since : "", ws_port, key,
	    v1 ? "Sec-WebSocket-Protocol: wspubsub.v1\r\n" : "",
	    ws_offer_deflate ? "Sec-WebSocket-Extensions: permessage-deflate; "
	    "client_max_window_bits\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof(req))
		die("handshake request too long");
	obuf_put(c, req, (size_t)n);

	if ((c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1)
		die("socket: %s (raise the open-files limit?)",
		    strerror(errno));
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	sa.sin_port = htons((uint16_t)ws_port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->state = S_CONNECTING;
	c->t_connect = now_ns();
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 &&
	    errno != EINPROGRESS) {
		int e = errno;
		conn_add(c, EPOLLIN);
		conn_fail(c, "connect: %s", strerror(e));
		return c;
	}
	conn_add(c, EPOLLIN | EPOLLOUT);
	return c;
}

struct conn *
ws_open(const char *user)
{
	return ws_connect(user, 0, NULL);
}

struct conn *
ws_open_v1(const char *user, const char *since)
{
	return ws_connect(user, 1, since);
}

/* The 101: returns the bytes of the head used, 0 while incomplete. */
static size_t
ws_head(struct conn *c, const uint8_t *d, size_t len)
{
	const char *p = memmem(d, len, "\r\n\r\n", 4), *line, *eol, *end;
	static const char hname[] = "sec-websocket-accept:";
	static const char pname[] = "sec-websocket-protocol:";
	static const char ename[] = "sec-websocket-extensions:";
	int ok = 0, proto = 0;

	if (p == NULL) {
		if (len > 8192)
			conn_fail(c, "response head over 8 KiB");
		return 0;
	}
	end = p + 2;
	if (len < 13 || memcmp(d, "HTTP/1.1 101 ", 13) != 0) {
		eol = memchr(d, '\r', len);
		conn_fail(c, "handshake refused: %.*s",
		    (int)(eol ? eol - (const char *)d : 40), (const char *)d);
		return 0;
	}
	for (line = (const char *)d; line < end; line = eol + 2) {
		eol = memmem(line, (size_t)(end - line + 2), "\r\n", 2);
		if ((size_t)(eol - line) > sizeof(hname) - 1 &&
		    strncasecmp(line, hname, sizeof(hname) - 1) == 0) {
			const char *v = line + sizeof(hname) - 1;
			while (*v == ' ' || *v == '\t')
				v++;
			ok = (size_t)(eol - v) == strlen(c->accept) &&
			    memcmp(v, c->accept, (size_t)(eol - v)) == 0;
		}
		if ((size_t)(eol - line) > sizeof(pname) - 1 &&
		    strncasecmp(line, pname, sizeof(pname) - 1) == 0) {
			const char *v = line + sizeof(pname) - 1;
			while (*v == ' ' || *v == '\t')
				v++;
			proto = eol - v == 11 && memcmp(v, "wspubsub.v1", 11) == 0;
		}
		if ((size_t)(eol - line) > sizeof(ename) - 1 &&
		    strncasecmp(line, ename, sizeof(ename) - 1) == 0)
			c->pmd = strstr(line, "permessage-deflate") != NULL;
	}
	if (!ok) {
		conn_fail(c, "missing or wrong Sec-WebSocket-Accept");
		return 0;
	}
	if (c->v1 && !proto) {
		conn_fail(c, "subprotocol wspubsub.v1 not selected");
		return 0;
	}
	if (ws_offer_deflate != c->pmd) {
		conn_fail(c, "permessage-deflate %s", c->pmd ?
		    "accepted, not offered" : "offered, not accepted");
		return 0;
	}
	c->state = S_OPEN;
	c->t_open = now_ns();
	ph.opened++;
	if (cb_open)
		cb_open(c);
	return (size_t)(p + 4 - (const char *)d);
}

/*
 * A wspubsub.v1 message: "name: value\n" lines, a "\n" alone, the payload.
 * Keeps the id and event in c; the payload's offset, or -1.
 */
static long
v1_header(struct conn *c, const uint8_t *p, size_t n)
{
	const uint8_t *line = p, *end = p + n, *eol;
	size_t len;

	c->id[0] = c->event[0] = '\0';
	while (line < end) {
		if ((eol = memchr(line, '\n', (size_t)(end - line))) == NULL)
			return -1;
		if (eol == line)
			return eol + 1 - p;
		len = (size_t)(eol - line);
		if (len > 4 && memcmp(line, "id: ", 4) == 0 &&
		    len - 4 < sizeof(c->id)) {
			memcpy(c->id, line + 4, len - 4);
			c->id[len - 4] = '\0';
		} else if (len > 7 && memcmp(line, "event: ", 7) == 0 &&
		    len - 7 < sizeof(c->event)) {
			memcpy(c->event, line + 7, len - 7);
			c->event[len - 7] = '\0';
		}
		line = eol + 1;
	}
	return -1;
}

/*
 * A compressed message inflated into c->zbuf: the server keeps no
 * context, so each starts afresh.  0, or -1 when it does not inflate.
 */
static int
inflate_msg(struct conn *c, const uint8_t *p, size_t n, size_t *outlen)
{
	static const uint8_t tail[4] = { 0, 0, 0xff, 0xff };
	z_stream *z = c->inf;
	int r, i;

	if (z == NULL) {
		if ((z = calloc(1, sizeof(*z))) == NULL ||
		    inflateInit2(z, -15) != Z_OK)
			die("inflateInit2 failed");
		c->inf = z;
	} else if (inflateReset(z) != Z_OK)
		return -1;
	*outlen = 0;
	for (i = 0; i < 2; i++) {
		z->next_in = (Bytef *)(uintptr_t)(i ? tail : p);
		z->avail_in = (uInt)(i ? sizeof(tail) : n);
		do {
			if (*outlen == c->zcap) {
				c->zcap = c->zcap ? c->zcap * 2 : 65536;
				c->zbuf = xrealloc(c->zbuf, c->zcap);
			}
			z->next_out = c->zbuf + *outlen;
			z->avail_out = (uInt)(c->zcap - *outlen);
			r = inflate(z, Z_SYNC_FLUSH);
			*outlen = c->zcap - z->avail_out;
			if (r != Z_OK && r != Z_BUF_ERROR)
				return -1;
		} while (z->avail_in > 0 || z->avail_out == 0);
	}
	return 0;
}

/* Complete server frames in d: returns the bytes used. */
static size_t
ws_frames(struct conn *c, const uint8_t *d, size_t len)
{
	size_t off = 0, h, i;
	uint64_t n;
	int op;

	while ((c->state == S_OPEN || c->state == S_CLOSING) &&
	    len - off >= 2) {
		const uint8_t *f = d + off;
		if (f[1] & 0x80) {
			conn_fail(c, "masked server frame");
			break;
		}
		if ((f[0] & 0x70) && !(c->pmd && (f[0] & 0x70) == 0x40 &&
		    ((f[0] & 0x0f) == 1 || (f[0] & 0x0f) == 2))) {
			conn_fail(c, "RSV bits set");
			break;
		}
		op = f[0] & 0x0f;
		n = f[1] & 0x7f;
		h = 2;
		if (n == 126) {
			if (len - off < 4)
				break;
			n = (uint64_t)f[2] << 8 | f[3];
			h = 4;
		} else if (n == 127) {
			if (len - off < 10)
				break;
			for (n = 0, i = 0; i < 8; i++)
				n = n << 8 | f[2 + i];
			h = 10;
			if (n > (1u << 30)) {
				conn_fail(c, "frame too large");
				break;
			}
		}
		if (len - off < h + n)
			break;
		off += h + n;
		switch (op) {
		case 1: case 2:
			if (c->state == S_CLOSING)
				break;	/* sent before our close: not wanted */
			if (!(f[0] & 0x80)) {
				conn_fail(c, "fragmented message");
				return off;
			}
			c->nmsg++;
			c->wire += h + n;
			if (f[0] & 0x40) {
				size_t zn;
				if (inflate_msg(c, f + h, (size_t)n, &zn) ==
				    -1) {
					conn_fail(c, "message does not "
					    "inflate");
					return off;
				}
				f = c->zbuf;
				h = 0;
				n = zn;
			}
			if (c->v1) {
				long hl = v1_header(c, f + h, (size_t)n);
				if (hl < 0) {
					conn_fail(c, "wspubsub.v1 message "
					    "without a header");
					return off;
				}
				h += (size_t)hl;
				n -= (uint64_t)hl;
			}
			if (cb_msg)
				cb_msg(c, f + h, (size_t)n);
			break;
		case 8:
			if (c->state == S_CLOSING && n >= 2 &&
			    (f[h] << 8 | f[h + 1]) == 1000) {
				/* The echo of ours; the EOF comes next. */
				c->got_close = 1;
				break;
			}
			conn_fail(c, "server closed%s: code %d",
			    c->state == S_CLOSING ? " (answering ours)" : "",
			    n >= 2 ? f[h] << 8 | f[h + 1] : 1005);
			return off;
		case 9:
			if (c->state == S_OPEN)
				ws_send(c, 10, f + h, (size_t)n);
			break;
		case 10:
			break;
		default:
			conn_fail(c, "unexpected opcode %d", op);
			return off;
		}
	}
	return off;
}

void
ws_read(struct conn *c)
{
	static uint8_t rbuf[65536];
	const uint8_t *d;
	size_t len, used = 0;
	ssize_t n;

	n = read(c->fd, rbuf, sizeof(rbuf));
	if (n == -1) {
		if (errno != EAGAIN)
			conn_fail(c, "read: %s", strerror(errno));
		return;
	}
	if (n == 0) {
		/* RFC 6455 7.1.1: the server closes TCP first. */
		if (c->state == S_CLOSING && c->got_close)
			conn_closed(c);
		else
			conn_fail(c, "EOF from server%s", c->state ==
			    S_HANDSHAKE ? " during the handshake" :
			    c->state == S_CLOSING ? " before its close frame" :
			    "");
		return;
	}
	if (c->ilen > 0) {
		if (c->ilen + (size_t)n > c->icap) {
			c->icap = (c->ilen + (size_t)n) * 2;
			c->ibuf = xrealloc(c->ibuf, c->icap);
		}
		memcpy(c->ibuf + c->ilen, rbuf, (size_t)n);
		c->ilen += (size_t)n;
		d = c->ibuf;
		len = c->ilen;
	} else {
		d = rbuf;
		len = (size_t)n;
	}
	if (c->state == S_HANDSHAKE)
		used = ws_head(c, d, len);
	if (c->state == S_OPEN || c->state == S_CLOSING)
		used += ws_frames(c, d + used, len - used);
	if (c->state == S_CLOSED)
		return;
	/* Keep the incomplete rest. */
	len -= used;
	if (len > c->icap) {
		c->icap = len * 2;
		c->ibuf = xrealloc(c->ibuf, c->icap);
	}
	memmove(c->ibuf, d + used, len);
	c->ilen = len;
	if (len == 0 && c->icap > 65536) {
		free(c->ibuf);
		c->ibuf = NULL;
		c->icap = 0;
	}
}
