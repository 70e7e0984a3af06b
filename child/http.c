/*
 * http.c -- the HTTP side of a child: read the request head under the
 * handshake deadline and a size limit, and write the few responses a
 * WebSocket endpoint gives.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "../ws/ws.h"
#include "clock.h"
#include "http.h"
#include "signals.h"

int
http_wait(const struct http *h, short events)
{
	struct pollfd pfd = { .fd = h->io->fd };
	struct timespec ts;
	int64_t left;
	int n;

	for (;;) {
		if (child_stop)
			return -1;
		if ((events & POLLIN) && io_pending(h->io))
			return 1;
		if ((left = h->deadline - now_ms()) <= 0)
			return 0;
		pfd.events = events | h->io->want;
		ts.tv_sec = left / 1000;
		ts.tv_nsec = (left % 1000) * 1000000;
		n = ppoll(&pfd, 1, &ts, h->waitmask);
		if (n > 0)
			return 1;
		if (n == -1 && errno != EINTR)
			return -1;
	}
}

int
http_read_head(const struct http *h, char *buf, size_t *len,
    size_t *head_len)
{
	size_t from, end;
	ssize_t n;

	*len = 0;
	for (;;) {
		if (*len >= WS_HEAD_MAX)
			return 431;
		if (http_wait(h, POLLIN) != 1)
			return -1;
		n = io_read(h->io, buf + *len, WS_HEAD_MAX - *len);
		if (n == 0)
			return -1;
		if (n == -1) {
			if (errno == EAGAIN)
				continue;
			return -1;
		}
		/* Rescan only what can hold a new end of head. */
		from = *len > 3 ? *len - 3 : 0;
		*len += (size_t)n;
		if ((end = ws_head_end(buf + from, *len - from)) != 0) {
			*head_len = from + end;
			return 0;
		}
	}
}

static int
write_all(const struct http *h, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = io_write(h->io, buf, len);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n == -1 && errno != EAGAIN)
			return -1;
		if (http_wait(h, POLLOUT) != 1)
			return -1;
	}
	return 0;
}

static const char *
status_text(int status)
{
	switch (status) {
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 405: return "Method Not Allowed";
	case 426: return "Upgrade Required";
	case 431: return "Request Header Fields Too Large";
	case 503: return "Service Unavailable";
	default:  return "Error";
	}
}

/* The header a status needs besides the usual ones. */
static const char *
status_header(int status)
{
	switch (status) {
	case 401: return "WWW-Authenticate: Bearer\r\n";
	case 405: return "Allow: GET\r\n";
	case 426: return "Sec-WebSocket-Version: 13\r\n";
	default:  return "";
	}
}

/*
 * A complete response with a body of any type; a small body goes out
 * in the same write as the head.
 */
int
http_send(const struct http *h, int status, const char *type, const char *body,
    size_t len)
{
	char buf[1024];
	int n;

	n = snprintf(buf, sizeof(buf), "HTTP/1.1 %d %s\r\n%s"
	    "Content-Type: %s\r\nContent-Length: %zu\r\n"
	    "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
	    status, status_text(status), status_header(status), type, len);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -1;
	if (len <= sizeof(buf) - (size_t)n) {
		memcpy(buf + n, body, len);
		return write_all(h, buf, (size_t)n + len);
	}
	if (write_all(h, buf, (size_t)n) == -1)
		return -1;
	return write_all(h, body, len);
}

int
http_respond(const struct http *h, int status, const char *body)
{
	char line[256];
	int n;

	n = snprintf(line, sizeof(line), "%s\n", body);
	if (n < 0 || (size_t)n >= sizeof(line))
		return -1;
	return http_send(h, status, "text/plain", line, (size_t)n);
}

int
http_switch(const struct http *h, const char *key, const char *protocol,
    const char *extensions)
{
	char accept[WS_ACCEPT_LEN + 1], buf[512];
	int n;

	if (ws_accept_key(key, accept) == -1)
		return -1;
	n = snprintf(buf, sizeof(buf), "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: %s\r\n%s%s%s%s%s%s\r\n", accept,
	    protocol ? "Sec-WebSocket-Protocol: " : "", protocol ? protocol : "",
	    protocol ? "\r\n" : "",
	    extensions ? "Sec-WebSocket-Extensions: " : "",
	    extensions ? extensions : "", extensions ? "\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -1;
	return write_all(h, buf, (size_t)n);
}
