/*
 * latency.c -- figure 1: one connection, 2,000 PUBLISHes 1 ms apart (a
 * timerfd tick each) after 20 warm-up ones.  Each payload carries its
 * send time; latency is the receipt time minus it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>

#include "conn.h"
#include "figures.h"
#include "wsbench.h"

static struct {
	struct conn	*c;
	int64_t		*lat;
	int		 sent, got, nlat, done, pong;
} L;

static void
lat_msg(struct conn *c, const uint8_t *p, size_t n)
{
	int64_t now = now_ns(), t;
	char buf[64];
	int seq;

	(void)c;
	if (n == 4 && memcmp(p, "pong", 4) == 0) {
		L.pong = 1;
		return;
	}
	if (n >= sizeof(buf))
		return;
	memcpy(buf, p, n);
	buf[n] = '\0';
	if (sscanf(buf, "%d %" SCNd64, &seq, &t) != 2)
		return;
	if (seq >= LAT_WARM && L.nlat < LAT_N)
		L.lat[L.nlat++] = now - t;
	L.got++;
	if (L.got == LAT_N + LAT_WARM)
		L.done = 1;
}

static void
lat_tick(uint64_t ticks)
{
	char buf[64];
	int n;

	(void)ticks;	/* one message per tick, even after a late wake-up */
	if (L.sent >= LAT_N + LAT_WARM)
		return;
	n = snprintf(buf, sizeof(buf), "%d %" PRId64, L.sent, now_ns());
	pub_append(L.c->user, buf, (size_t)n);
	pub_flush();
	L.sent++;
}

void
fig_latency(int side)
{
	static const int figs[] = { F_LAT_P50, F_LAT_P90, F_LAT_P99,
	    F_LAT_MAX, F_LAT_LOST, -1 };
	struct itimerspec its = { { 0, 1000000 }, { 0, 1000000 } };
	struct conn timer = { .kind = K_TIMER, .state = S_OPEN };
	int64_t end;
	int open_done = 0, n;

	phase_reset();
	memset(&L, 0, sizeof(L));
	L.lat = xrealloc(NULL, sizeof(int64_t) * (LAT_N + LAT_WARM));
	L.c = side_open(side, side ? "lat-raw" : "lat-ws");
	end = now_ns() + 5 * SEC;
	while (!open_done && ph.failed == 0 && now_ns() < end) {
		poll_once(5);
		open_done = L.c->state == S_OPEN;
	}
	if (!open_done) {
		phase_fail(side, figs, "latency: connection not open: %s",
		    ph.nerr ? ph.err : "timed out after 5 s");
		goto out;
	}
	cb_msg = lat_msg;
	if (side == 0) {
		/* Masking sanity check: the server answers "ping" with "pong". */
		ws_send(L.c, 1, "ping", 4);
		if (wait_until(&L.pong, now_ns() + 2 * SEC) == -1)
			note("no \"pong\" to a masked \"ping\" in 2 s");
	}
	if ((timer.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK |
	    TFD_CLOEXEC)) == -1)
		die("timerfd_create: %s", strerror(errno));
	conn_add(&timer, EPOLLIN);
	cb_tick = lat_tick;
	timerfd_settime(timer.fd, 0, &its, NULL);
	/* 2,020 ticks of 1 ms, then up to 2 s for the last ones. */
	end = now_ns() + (LAT_N + LAT_WARM) * MS * 3 + 2 * SEC;
	while (!L.done && now_ns() < end && L.c->state == S_OPEN)
		poll_once(5);
	cb_tick = NULL;
	epoll_ctl(epfd, EPOLL_CTL_DEL, timer.fd, NULL);
	close(timer.fd);
	if (L.c->state != S_OPEN)
		phase_fail(side, figs, "latency: %s", ph.err);
	else if (!L.done)
		note("latency (%s): %d of %d received before the timeout",
		    side_name[side], L.got, LAT_N + LAT_WARM);
	n = L.nlat;
	if (n > 0) {
		qsort(L.lat, (size_t)n, sizeof(int64_t), cmp_i64);
		fig[F_LAT_P50].v[side] = pct(L.lat, (size_t)n, 0.50) / 1e3;
		fig[F_LAT_P90].v[side] = pct(L.lat, (size_t)n, 0.90) / 1e3;
		fig[F_LAT_P99].v[side] = pct(L.lat, (size_t)n, 0.99) / 1e3;
		fig[F_LAT_MAX].v[side] = L.lat[n - 1] / 1e3;
	}
	fig[F_LAT_LOST].v[side] = LAT_N + LAT_WARM - L.got;
out:
	close_all(&L.c, 1);
	free(L.lat);
}
