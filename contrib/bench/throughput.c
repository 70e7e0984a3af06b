/*
 * throughput.c -- figure 2: one connection, 64-byte PUBLISHes pipelined
 * in batches, at most a window of them published but not yet received.
 * It also checks their order and size.  tp_run is also the history
 * throughput (history.c), with FCALL wspubsub_publish.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis.h>

#include "conn.h"
#include "figures.h"
#include "wsbench.h"

static struct {
	int	 got, expect, disorder, badsize, done, n;
	int64_t	 t_last;
} T;

static void
tp_msg(struct conn *c, const uint8_t *p, size_t n)
{
	int seq = 0, i;

	(void)c;
	if (n != TP_SIZE)
		T.badsize++;
	for (i = 0; i < 10 && i < (int)n; i++)
		seq = seq * 10 + (p[i] - '0');
	if (seq != T.expect)
		T.disorder++;
	T.expect = seq + 1;
	if (++T.got == T.n)
		T.done = 1;
	T.t_last = now_ns();
}

/*
 * n messages to c, plain PUBLISHes or (fcall) FCALLs of wspubsub_publish,
 * pipelined: figures f_rate and f_lost of the side (name in the notes).
 */
void
tp_run(struct conn *c, int n, int fcall, int side, int f_rate, int f_lost,
    const char *name)
{
	const int figs[] = { f_rate, f_lost, -1 };
	char head[160], *batch;
	size_t hlen, clen, blen;
	int64_t t0 = 0, end, last_progress;
	int sent = 0, i, last_got = 0;

	phase_reset();
	memset(&T, 0, sizeof(T));
	T.n = n;
	cb_msg = tp_msg;
	/* Preformatted commands; the 10-digit sequence number is patched. */
	if (fcall)
		hlen = (size_t)snprintf(head, sizeof(head), "*5\r\n$5\r\n"
		    "FCALL\r\n$16\r\nwspubsub_publish\r\n$1\r\n1\r\n"
		    "$%zu\r\n%s\r\n$%d\r\n", strlen(c->user), c->user,
		    TP_SIZE);
	else
		hlen = (size_t)snprintf(head, sizeof(head), "*3\r\n$7\r\n"
		    "PUBLISH\r\n$%zu\r\n%s\r\n$%d\r\n", strlen(c->user),
		    c->user, TP_SIZE);
	clen = hlen + TP_SIZE + 2;
	batch = xrealloc(NULL, clen * TP_BATCH);
	for (i = 0; i < TP_BATCH; i++) {
		char *m = batch + (size_t)i * clen;
		memcpy(m, head, hlen);
		memset(m + hlen, 'x', TP_SIZE);
		memcpy(m + hlen + TP_SIZE, "\r\n", 2);
	}
	end = now_ns() + 60 * SEC;
	last_progress = now_ns();
	while (!T.done) {
		while (sent < T.n && sent - T.got <= TP_WINDOW - TP_BATCH) {
			int k = T.n - sent < TP_BATCH ? T.n - sent : TP_BATCH;
			for (i = 0; i < k; i++) {
				char num[16];
				snprintf(num, sizeof(num), "%010d", sent + i);
				memcpy(batch + (size_t)i * clen + hlen, num, 10);
			}
			blen = clen * (size_t)k;
			if (redisAppendFormattedCommand(pub.rc, batch, blen) !=
			    REDIS_OK)
				die("redisAppendFormattedCommand failed");
			if (t0 == 0)
				t0 = now_ns();
			pub_flush();
			sent += k;
		}
		poll_once(5);
		if (c->state != S_OPEN) {
			phase_fail(side, figs, "throughput: %s", ph.err);
			break;
		}
		if (T.got != last_got) {
			last_got = T.got;
			last_progress = now_ns();
		} else if (now_ns() - last_progress > 5 * SEC) {
			note("throughput (%s): nothing received for 5 s; "
			    "%d of %d received", name, T.got, T.n);
			break;
		}
		if (now_ns() > end) {
			note("throughput (%s): timed out after 60 s; %d of %d "
			    "received", name, T.got, T.n);
			break;
		}
	}
	cb_msg = NULL;
	if (T.got > 0 && T.t_last > t0)
		fig[f_rate].v[side] = T.got / ((T.t_last - t0) / 1e9);
	fig[f_lost].v[side] = T.n - T.got;
	if (T.disorder || T.badsize)
		note("throughput (%s): %d out of order, %d of the wrong size",
		    name, T.disorder, T.badsize);
	free(batch);
}

void
fig_throughput(int side)
{
	static const int figs[] = { F_TP_RATE, F_TP_LOST, -1 };
	struct conn *c;
	int64_t end;

	phase_reset();
	c = side_open(side, side ? "tp-raw" : "tp-ws");
	end = now_ns() + 5 * SEC;
	while (c->state != S_OPEN && ph.failed == 0 && now_ns() < end)
		poll_once(5);
	if (c->state != S_OPEN)
		phase_fail(side, figs, "throughput: connection not open: %s",
		    ph.nerr ? ph.err : "timed out after 5 s");
	else
		tp_run(c, tp_n, 0, side, F_TP_RATE, F_TP_LOST,
		    side_name[side]);
	close_all(&c, 1);
}
