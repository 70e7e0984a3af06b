/*
 * loop.c -- the generator's event loop: one thread, one epoll set,
 * non-blocking sockets.  A phase sets its callbacks, opens connections
 * and polls until its own counters say it is done or its time is up.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <hiredis.h>

#include <zlib.h>

#include "conn.h"
#include "wsbench.h"

int epfd = -1;

/* The current phase: callbacks and counters. */
void (*cb_open)(struct conn *);
void (*cb_msg)(struct conn *, const uint8_t *, size_t);
void (*cb_tick)(uint64_t);
struct phase ph;

void
conn_events(struct conn *c, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.ptr = c };

	if (c->events == ev)
		return;
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e) == -1)
		die("epoll_ctl: %s", strerror(errno));
	c->events = ev;
}

void
conn_add(struct conn *c, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.ptr = c };

	if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &e) == -1)
		die("epoll_ctl add: %s", strerror(errno));
	c->events = ev;
}

/* Stop watching c; keep the struct until the phase frees it. */
static void
conn_drop(struct conn *c)
{
	if (c->state == S_CLOSED)
		return;
	c->state = S_CLOSED;
	if (c->fd >= 0)
		epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	if (c->rc) {
		redisFree(c->rc);	/* closes fd */
		c->rc = NULL;
	} else if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

void
conn_fail(struct conn *c, const char *fmt, ...)
{
	va_list ap;

	if (c->state == S_CLOSED)
		return;
	if (c->nmsg == 0)
		ph.failed_early++;
	if (ph.nerr++ == 0) {
		int n = snprintf(ph.err, sizeof(ph.err), "%s: ", c->user);
		va_start(ap, fmt);
		vsnprintf(ph.err + n, sizeof(ph.err) - (size_t)n, fmt, ap);
		va_end(ap);
	}
	ph.failed++;
	conn_drop(c);
}

static void
conn_free(struct conn *c)
{
	if (c == NULL)
		return;
	conn_drop(c);
	free(c->obuf);
	free(c->ibuf);
	if (c->inf != NULL) {
		inflateEnd(c->inf);
		free(c->inf);
	}
	free(c->zbuf);
	free(c);
}

static int
sock_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		return errno;
	return err;
}

/* One epoll_wait and its events. */
void
poll_once(int timeout_ms)
{
	struct epoll_event ev[1024];
	struct conn *c;
	uint64_t ticks;
	int n, i, err;

	n = epoll_wait(epfd, ev, 1024, timeout_ms);
	if (n == -1 && errno != EINTR)
		die("epoll_wait: %s", strerror(errno));
	for (i = 0; i < n; i++) {
		c = ev[i].data.ptr;
		if (c->state == S_CLOSED)
			continue;
		if (c->kind == K_TIMER) {
			if (read(c->fd, &ticks, sizeof(ticks)) == sizeof(ticks) &&
			    cb_tick)
				cb_tick(ticks);
			continue;
		}
		if (c->state == S_CONNECTING &&
		    ev[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
			if ((err = sock_error(c->fd)) != 0) {
				conn_fail(c, "connect: %s", strerror(err));
				continue;
			}
			c->state = S_HANDSHAKE;
		}
		if (ev[i].events & EPOLLOUT) {
			if (c->kind == K_WS)
				ws_flush(c);
			else
				redis_write(c);
		}
		if (c->state != S_CLOSED &&
		    ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
			if (c->kind == K_WS)
				ws_read(c);
			else
				redis_read(c);
		}
		/* Not from inside the reader: it still uses c (and c->rc). */
		if (c->bye && c->state == S_OPEN)
			conn_bye(c);
	}
}

void
conn_bye(struct conn *c)
{
	static const uint8_t code[2] = { 0x03, 0xe8 };	/* 1000 */

	if (c->state != S_OPEN)
		return;
	if (c->kind != K_WS) {
		conn_closed(c);
		return;
	}
	c->state = S_CLOSING;
	ws_send(c, 8, code, 2);
}

void
conn_closed(struct conn *c)
{
	if (c->state == S_CLOSED)
		return;
	ph.closed++;
	conn_drop(c);
}

struct conn *
side_open(int side, const char *user)
{
	return side == 0 ? ws_open(user) : raw_open(user);
}

void
phase_reset(void)
{
	memset(&ph, 0, sizeof(ph));
	cb_open = NULL;
	cb_msg = NULL;
	cb_tick = NULL;
}

/*
 * Close every connection: WebSocket ones with a masked close frame
 * first (best effort; the child sees the close or the EOF).
 */
void
close_all(struct conn **cs, int n)
{
	static const uint8_t bye[2] = { 0x03, 0xe8 };	/* 1000 */
	int i;

	for (i = 0; i < n; i++) {
		if (cs[i] == NULL)
			continue;
		if (cs[i]->kind == K_WS && cs[i]->state == S_OPEN) {
			cs[i]->olen = cs[i]->ooff = 0;
			ws_send(cs[i], 8, bye, 2);
		}
		conn_free(cs[i]);
		cs[i] = NULL;
	}
}

/* Open users PREFIX-from .. PREFIX-(to-1), `inflight` at a time. */
int
open_many(int side, const char *prefix, struct conn **cs, int from, int to,
    int inflight, int secs)
{
	int64_t end = now_ns() + (int64_t)secs * SEC;
	int next = from, base_open = ph.opened, base_fail = ph.failed;
	char user[48];

	while (ph.opened - base_open + ph.failed - base_fail < to - from) {
		while (next < to && next - from - (ph.opened - base_open) -
		    (ph.failed - base_fail) < inflight) {
			snprintf(user, sizeof(user), "%s-%d", prefix, next);
			cs[next++] = side_open(side, user);
		}
		if (now_ns() > end) {
			note("opening %d connections: %d open, %d failed after "
			    "%d s", to - from, ph.opened - base_open,
			    ph.failed - base_fail, secs);
			return -1;
		}
		poll_once(10);
	}
	if (ph.failed > base_fail) {
		note("opening connections: %d failed; first: %s",
		    ph.failed - base_fail, ph.err);
		return -1;
	}
	return 0;
}

/* Poll until *done or the deadline; 0 if done. */
int
wait_until(const int *done, int64_t deadline)
{
	while (!*done) {
		if (now_ns() > deadline)
			return -1;
		poll_once(5);
	}
	return 0;
}
