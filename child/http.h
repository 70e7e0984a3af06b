/*
 * http.h -- the HTTP side of a child: the upgrade request and the few
 * responses a WebSocket endpoint gives, all within the handshake's
 * deadline.
 */
#ifndef CHILD_HTTP_H
#define CHILD_HTTP_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "io.h"

/* The client's connection, as the handshake sees it. */
struct http {
	struct io	*io;
	const sigset_t	*waitmask;	/* the signal mask while polling */
	int64_t		 deadline;	/* the handshake's end (monotonic ms) */
};

/* Wait until the client is ready for events or the deadline: 1, 0, -1. */
int	http_wait(const struct http *, short events);
/*
 * Read until a complete head is in buf (at most WS_HEAD_MAX bytes).
 * Returns 0 with *head_len set (bytes past it are the first frames),
 * 431 when the head is too large, -1 on timeout, EOF or error.
 */
int	http_read_head(const struct http *, char *buf, size_t *len,
	    size_t *head_len);
/* body is one line of text, sent with a newline. */
int	http_respond(const struct http *, int status, const char *body);
int	http_send(const struct http *, int status, const char *type,
	    const char *body, size_t len);
/*
 * 101 Switching Protocols, answering the Sec-WebSocket-Key key, with the
 * subprotocol chosen and the extensions accepted (each NULL for none).
 */
int	http_switch(const struct http *, const char *key,
	    const char *protocol, const char *extensions);

#endif /* CHILD_HTTP_H */
