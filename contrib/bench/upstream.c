/*
 * upstream.c -- figure 7: client messages to a Redis Stream
 * (upstream_stream), with wspubsub restarted with it set (side 0) and
 * without (side 1):
 *
 *   rate   one client sends UP_N 64-byte text messages as fast as its
 *          socket takes them, timed from the first to XLEN == UP_N;
 *          against one hiredis connection appending the same entries
 *          with pipelined XADDs (Redis alone: the floor)
 *   idle   UP_IDLE connections that never send: Redis connections and
 *          the server's Pss per connection, with upstream_stream set and
 *          without (a client that only listens must cost no more)
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis.h>

#include "conn.h"
#include "figures.h"
#include "servers.h"
#include "wsbench.h"

#define UP_N		50000
#define UP_SIZE		64
#define UP_BATCH	1000	/* XADDs per pipelined write (Redis alone) */
#define UP_IDLE		1000
#define UP_KEY		"wsbench:in"

static const char up_conf[] = "upstream_stream " UP_KEY "\n"
    "upstream_rate 0\n";

static long long
xlen(void)
{
	redisReply *r;
	long long n = -1;

	if ((r = redisCommand(adm, "XLEN " UP_KEY)) == NULL)
		die("XLEN: %s", adm->errstr);
	if (r->type == REDIS_REPLY_INTEGER)
		n = r->integer;
	freeReplyObject(r);
	return n;
}

static void
del_key(void)
{
	redisReply *r;

	if ((r = redisCommand(adm, "DEL " UP_KEY)) == NULL)
		die("DEL: %s", adm->errstr);
	freeReplyObject(r);
}

/* One WebSocket client sends UP_N messages; the stream must hold them. */
static void
rate_ws(void)
{
	static const int figs[] = { F_UP_RATE, F_UP_LOST, -1 };
	char payload[UP_SIZE];
	struct conn *c;
	int64_t t0, end, t_last = 0;
	long long n = 0, last = 0;
	int i;

	phase_reset();
	del_key();
	c = ws_open("up-sender");
	end = now_ns() + 5 * SEC;
	while (c->state != S_OPEN && c->state != S_CLOSED && now_ns() < end)
		poll_once(5);
	if (c->state != S_OPEN) {
		phase_fail(0, figs, "upstream: not open after 5 s: %s",
		    ph.err);
		close_all(&c, 1);
		return;
	}
	memset(payload, 'u', sizeof(payload));
	t0 = now_ns();
	for (i = 0; i < UP_N; i++)
		ws_send(c, 1, payload, sizeof(payload));
	end = t0 + 60 * SEC;
	while (n < UP_N && now_ns() < end && c->state == S_OPEN) {
		poll_once(2);
		if ((n = xlen()) != last) {
			last = n;
			t_last = now_ns();
		}
	}
	if (n < UP_N)
		phase_fail(0, figs, "upstream: %lld of %d in the stream", n,
		    UP_N);
	if (n > 0)
		fig[F_UP_RATE].v[0] = n / ((t_last - t0) / 1e9);
	fig[F_UP_LOST].v[0] = UP_N - n;
	close_all(&c, 1);
}

/* The same entries appended by one hiredis connection, pipelined. */
static void
rate_redis(void)
{
	static const int figs[] = { F_UP_RATE, -1 };
	const char *argv[14] = { "XADD", UP_KEY, "MAXLEN", "~", "100000", "*",
	    "user", "up-sender", "conn", "wsbench-1-0", "type", "text", "data",
	    NULL };
	size_t lens[14];
	char payload[UP_SIZE];
	redisReply *r;
	int64_t t0;
	int i, j, k;

	del_key();
	memset(payload, 'u', sizeof(payload));
	argv[13] = payload;
	for (i = 0; i < 13; i++)
		lens[i] = strlen(argv[i]);
	lens[13] = sizeof(payload);
	t0 = now_ns();
	for (i = 0; i < UP_N; i += UP_BATCH) {
		k = UP_N - i < UP_BATCH ? UP_N - i : UP_BATCH;
		for (j = 0; j < k; j++)
			redisAppendCommandArgv(adm, 14, argv, lens);
		for (j = 0; j < k; j++) {
			if (redisGetReply(adm, (void **)&r) != REDIS_OK) {
				phase_fail(1, figs, "XADD: %s", adm->errstr);
				return;
			}
			freeReplyObject(r);
		}
	}
	fig[F_UP_RATE].v[1] = UP_N / ((now_ns() - t0) / 1e9);
	if (xlen() != UP_N)
		phase_fail(1, figs, "Redis alone: XLEN %lld", xlen());
	del_key();
}

/* UP_IDLE connections that never send, opened and measured. */
static void
idle(int side)
{
	static const int figs[] = { F_UP_RCONN, F_UP_PSS, -1 };
	struct conn **cs = calloc(UP_IDLE, sizeof(*cs));
	double conns0, conns1;
	long pss0, pss1;

	phase_reset();
	ws_settle_pool(30);
	usleep(MEM_SETTLE_MS * 1000);
	conns0 = redis_info("clients", "connected_clients");
	ws_tree(NULL, &pss0);
	if (open_many(0, side ? "up-off" : "up-on", cs, 0, UP_IDLE,
	    OPEN_INFLIGHT, 60) == -1) {
		phase_fail(side, figs, "upstream: could not open %d "
		    "connections: %s", UP_IDLE, ph.err);
		goto out;
	}
	ws_settle(UP_IDLE, 20);
	usleep(MEM_SETTLE_MS * 1000);
	conns1 = redis_info("clients", "connected_clients");
	ws_tree(NULL, &pss1);
	fig[F_UP_RCONN].v[side] = (conns1 - conns0) / UP_IDLE;
	fig[F_UP_PSS].v[side] = (double)(pss1 - pss0) / UP_IDLE;
out:
	close_all(cs, UP_IDLE);
	free(cs);
	ws_settle(0, 30);
}

void
fig_upstream(void)
{
	note("7. upstream: restarting wspubsub with upstream_stream set");
	restart_wspubsub(up_conf);
	rate_ws();
	idle(0);
	note("7. upstream: restarting wspubsub without it");
	restart_wspubsub(NULL);
	idle(1);
	rate_redis();
}
