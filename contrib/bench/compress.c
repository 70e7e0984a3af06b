/*
 * compress.c -- figure 8: what permessage-deflate costs, measured through
 * wspubsub on both sides: side 0's connections offer the extension (the
 * server, compression yes, accepts it), side 1's do not.
 *
 *   latency  one connection; 2,000 messages of 2 KiB of JSON, 1 ms apart,
 *            each carrying its send time; the client inflates the
 *            compressed ones before it reads the time, as a browser would
 *            before handing them over
 *   wire     the bytes of those messages' frames, headers included, per
 *            message
 *   memory   the server's Pss per connection with 1,000 idle connections,
 *            then again once each has received one 2 KiB message (the
 *            server compresses it in state that is gone again after)
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
#include "servers.h"
#include "wsbench.h"

#define Z_SIZE		2048	/* the message: JSON of this many bytes */
#define Z_MEM_N		1000

static struct {
	struct conn	*c;
	int64_t		*lat;
	int		 sent, got, nlat, done;
	char		 body[Z_SIZE];	/* the JSON after the header fields */
	int		 fan, fan_done;
} Z;

/*
 * Notifications as a backend would publish them: keys repeat, values
 * vary.  The send fields come first; the rest is fixed per run.
 */
static void
make_body(void)
{
	size_t n = 0;
	int i;

	for (i = 0; n < sizeof(Z.body) - 300; i++)
		n += (size_t)snprintf(Z.body + n, sizeof(Z.body) - n,
		    "%s{\"id\":%d,\"type\":\"comment\",\"post\":%d,"
		    "\"from\":\"user%d\",\"text\":\"reply number %d to your "
		    "post\",\"read\":false}", i ? "," : "", 1000 + i * 37,
		    (i * 7919) % 10007, (i * 131) % 997, i * 13);
}

static size_t
message(char *buf, size_t cap, int seq)
{
	int n = snprintf(buf, cap, "{\"seq\":%d,\"t\":%" PRId64
	    ",\"items\":[%s", seq, now_ns(), Z.body);
	size_t len = (size_t)n < cap ? (size_t)n : cap - 1;

	/* Exactly Z_SIZE bytes: pad, then close the JSON. */
	while (len < Z_SIZE - 2)
		buf[len++] = ' ';
	buf[Z_SIZE - 2] = ']';
	buf[Z_SIZE - 1] = '}';
	return Z_SIZE;
}

static void
z_msg(struct conn *c, const uint8_t *p, size_t n)
{
	int64_t now = now_ns(), t;
	char head[64];
	int seq;

	(void)c;
	if (n != Z_SIZE)
		return;
	memcpy(head, p, sizeof(head) - 1);
	head[sizeof(head) - 1] = '\0';
	if (sscanf(head, "{\"seq\":%d,\"t\":%" SCNd64, &seq, &t) != 2)
		return;
	if (seq >= LAT_WARM && Z.nlat < LAT_N)
		Z.lat[Z.nlat++] = now - t;
	if (++Z.got == LAT_N + LAT_WARM)
		Z.done = 1;
}

static void
z_tick(uint64_t ticks)
{
	char buf[Z_SIZE + 64];
	size_t n;

	(void)ticks;
	if (Z.sent >= LAT_N + LAT_WARM)
		return;
	n = message(buf, sizeof(buf), Z.sent);
	pub_append(Z.c->user, buf, n);
	pub_flush();
	Z.sent++;
}

static void
z_latency(int side)
{
	static const int figs[] = { F_ZL_P50, F_ZL_P99, F_ZL_LOST, F_ZL_WIRE,
	    -1 };
	struct itimerspec its = { { 0, 1000000 }, { 0, 1000000 } };
	struct conn timer = { .kind = K_TIMER, .state = S_OPEN };
	int64_t end;
	int n;

	phase_reset();
	Z.sent = Z.got = Z.nlat = Z.done = 0;
	Z.lat = xrealloc(NULL, sizeof(int64_t) * (LAT_N + LAT_WARM));
	Z.c = ws_open(side ? "zlat-plain" : "zlat-deflate");
	end = now_ns() + 5 * SEC;
	while (Z.c->state != S_OPEN && ph.failed == 0 && now_ns() < end)
		poll_once(5);
	if (Z.c->state != S_OPEN) {
		phase_fail(side, figs, "compression latency: connection not "
		    "open: %s", ph.nerr ? ph.err : "timed out after 5 s");
		goto out;
	}
	cb_msg = z_msg;
	if ((timer.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK |
	    TFD_CLOEXEC)) == -1)
		die("timerfd_create: %s", strerror(errno));
	conn_add(&timer, EPOLLIN);
	cb_tick = z_tick;
	timerfd_settime(timer.fd, 0, &its, NULL);
	end = now_ns() + (LAT_N + LAT_WARM) * MS * 3 + 2 * SEC;
	while (!Z.done && now_ns() < end && Z.c->state == S_OPEN)
		poll_once(5);
	cb_tick = NULL;
	epoll_ctl(epfd, EPOLL_CTL_DEL, timer.fd, NULL);
	close(timer.fd);
	if (Z.c->state != S_OPEN)
		phase_fail(side, figs, "compression latency: %s", ph.err);
	if ((n = Z.nlat) > 0) {
		qsort(Z.lat, (size_t)n, sizeof(int64_t), cmp_i64);
		fig[F_ZL_P50].v[side] = pct(Z.lat, (size_t)n, 0.50) / 1e3;
		fig[F_ZL_P99].v[side] = pct(Z.lat, (size_t)n, 0.99) / 1e3;
	}
	if (Z.c->nmsg > 0)
		fig[F_ZL_WIRE].v[side] = (double)Z.c->wire / Z.c->nmsg;
	fig[F_ZL_LOST].v[side] = LAT_N + LAT_WARM - Z.got;
out:
	close_all(&Z.c, 1);
	free(Z.lat);
	Z.lat = NULL;
}

static void
fan_msg(struct conn *c, const uint8_t *p, size_t n)
{
	(void)p;
	if (c->nmsg == 1 && n == Z_SIZE && ++Z.fan == Z_MEM_N)
		Z.fan_done = 1;
}

/* The server's Pss after a settle (Redis' and ours do not matter here). */
static long
server_pss(void)
{
	long pss = 0;

	usleep(MEM_SETTLE_MS * 1000);
	ws_tree(NULL, &pss);
	return pss;
}

static void
z_memory(int side)
{
	static const int figs[] = { F_ZM_IDLE, F_ZM_AFTER, -1 };
	struct conn **cs = calloc(Z_MEM_N, sizeof(*cs));
	char buf[Z_SIZE + 64];
	long before, idle, after;
	int i;

	phase_reset();
	ws_settle_pool(30);
	before = server_pss();
	if (open_many(0, side ? "zmem-plain" : "zmem-deflate", cs, 0, Z_MEM_N,
	    OPEN_INFLIGHT, 60) == -1) {
		phase_fail(side, figs, "compression memory: could not open %d "
		    "connections: %s", Z_MEM_N, ph.err);
		goto out;
	}
	ws_settle(Z_MEM_N, 20);
	idle = server_pss();
	fig[F_ZM_IDLE].v[side] = (double)(idle - before) / Z_MEM_N;

	Z.fan = Z.fan_done = 0;
	cb_msg = fan_msg;
	for (i = 0; i < Z_MEM_N; i++)
		pub_append(cs[i]->user, buf, message(buf, sizeof(buf), i));
	pub_flush();
	if (wait_until(&Z.fan_done, now_ns() + 30 * SEC) == -1) {
		phase_fail(side, figs + 1, "compression memory: %d of %d "
		    "messages received", Z.fan, Z_MEM_N);
		goto out;
	}
	cb_msg = NULL;
	after = server_pss();
	fig[F_ZM_AFTER].v[side] = (double)(after - before) / Z_MEM_N;
out:
	cb_msg = NULL;
	close_all(cs, Z_MEM_N);
	free(cs);
	ws_settle(0, 30);
}

void
fig_compression(void)
{
	int side;

	make_body();
	for (side = 0; side < 2; side++) {
		ws_offer_deflate = side == 0;
		z_latency(side);
	}
	for (side = 0; side < 2; side++) {
		ws_offer_deflate = side == 0;
		z_memory(side);
	}
	ws_offer_deflate = 0;
}
