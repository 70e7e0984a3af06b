/*
 * history.c -- figure 6: what message history costs, measured through
 * wspubsub on both sides: with history (FCALL wspubsub_publish, a
 * wspubsub.v1 client) and its baseline in the same run.
 *
 *   latency     one v1 connection; FCALL and PUBLISH alternate, 1 ms
 *               apart, 64-byte payloads carrying their send time; then
 *               the same to a raw subscriber of both channels (Redis
 *               alone)
 *   throughput  tp_run (throughput.c): FCALL, then PUBLISH, each to a
 *               v1 connection of its own; then both without any
 *               subscriber (what Redis alone executes per second)
 *   replay      ?since= the id before 100 held messages: connect() to
 *               the last of them; baseline ?since= the newest id:
 *               connect() to "event: recovered" (nothing to replay)
 *   memory      Redis' used_memory before and after 100 channels x 100
 *               messages (the default history size), per message;
 *               baseline the same count of PUBLISHes (no subscribers:
 *               nothing is kept, so it shows the noise)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>

#include <hiredis.h>

#include "conn.h"
#include "figures.h"
#include "servers.h"
#include "wsbench.h"

static const char *const how[2] = { "wspubsub_publish", "PUBLISH" };

/*
 * A v1 connection (raw: a raw subscriber of both channels), open within
 * 5 s, or NULL (ph.err says why).
 */
static struct conn *
open_v1(const char *user, const char *since, int raw)
{
	struct conn *c = raw ? raw_open_history(user) :
	    ws_open_v1(user, since);
	int64_t end = now_ns() + 5 * SEC;

	while (c->state != S_OPEN && c->state != S_CLOSED && now_ns() < end)
		poll_once(5);
	if (c->state == S_OPEN)
		return c;
	if (ph.nerr == 0)
		snprintf(ph.err, sizeof(ph.err), "%s: not open after 5 s",
		    user);
	close_all(&c, 1);
	return NULL;
}

/* wspubsub loads the library itself at start: wait for it, 10 s. */
static int
library_loaded(void)
{
	int64_t end = now_ns() + 10 * SEC;
	redisReply *r;
	int ok = 0;

	while (!ok && now_ns() < end) {
		if ((r = redisCommand(adm, "FUNCTION LIST LIBRARYNAME "
		    "wspubsub")) == NULL)
			die("FUNCTION LIST: %s", adm->errstr);
		ok = r->type == REDIS_REPLY_ARRAY && r->elements > 0;
		freeReplyObject(r);
		if (!ok)
			usleep(50000);
	}
	return ok;
}

/* 64 bytes: "SEQ TIME_NS " and padding. */
static size_t
payload(char *buf, int seq, int64_t t)
{
	int n = snprintf(buf, TP_SIZE + 1, "%d %" PRId64 " ", seq, t);

	memset(buf + n, 'x', (size_t)(TP_SIZE - n));
	buf[TP_SIZE] = '\0';
	return TP_SIZE;
}

/* -- latency: even sequence numbers go through the function -- */
static struct {
	struct conn	*c;
	int64_t		*lat[2];
	int		 nlat[2], got[2], sent, done, badhdr;
} L;

#define HL_TOTAL	(2 * (HIS_LAT_N + LAT_WARM))

static void
hl_msg(struct conn *c, const uint8_t *p, size_t n)
{
	int64_t now = now_ns(), t;
	const uint8_t *nl;
	char buf[TP_SIZE + 1];
	int seq, k, has_id = c->id[0] != '\0';

	if (c->kind == K_RAW) {
		/* From Redis: the function's messages are "<id>\n<payload>". */
		if ((has_id = (nl = memchr(p, '\n', n)) != NULL)) {
			n -= (size_t)(nl + 1 - p);
			p = nl + 1;
		}
	}
	if (n != TP_SIZE)
		return;
	memcpy(buf, p, n);
	buf[n] = '\0';
	if (sscanf(buf, "%d %" SCNd64, &seq, &t) != 2 || seq < 0)
		return;
	k = seq & 1;
	/* The function's messages carry an id, PUBLISH's do not. */
	if (has_id != (k == 0))
		L.badhdr++;
	if (seq >= 2 * LAT_WARM && L.nlat[k] < HIS_LAT_N)
		L.lat[k][L.nlat[k]++] = now - t;
	L.got[k]++;
	if (L.got[0] + L.got[1] == HL_TOTAL)
		L.done = 1;
}

static void
hl_tick(uint64_t ticks)
{
	char buf[TP_SIZE + 1];

	(void)ticks;	/* one message per tick, even after a late wake-up */
	if (L.sent >= HL_TOTAL)
		return;
	payload(buf, L.sent, now_ns());
	if (L.sent & 1)
		pub_append(L.c->user, buf, TP_SIZE);
	else
		pub_append_fcall(L.c->user, buf, TP_SIZE);
	pub_flush();
	L.sent++;
}

static void
hist_latency(int raw)
{
	static const int fws[] = { F_HL_P50, F_HL_P99, F_HL_LOST, -1 },
	    fraw[] = { F_HLR_P50, F_HLR_P99, -1 };
	const int *figs = raw ? fraw : fws;
	struct itimerspec its = { { 0, 1000000 }, { 0, 1000000 } };
	struct conn timer = { .kind = K_TIMER, .state = S_OPEN };
	int64_t end;
	int k;

	phase_reset();
	memset(&L, 0, sizeof(L));
	if ((L.c = open_v1(raw ? "hist-lat-raw" : "hist-lat", NULL, raw)) ==
	    NULL) {
		phase_fail(0, figs, "history latency: %s", ph.err);
		phase_fail(1, figs, "history latency: %s", ph.err);
		return;
	}
	for (k = 0; k < 2; k++)
		L.lat[k] = xrealloc(NULL, sizeof(int64_t) * HIS_LAT_N);
	cb_msg = hl_msg;
	if ((timer.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK |
	    TFD_CLOEXEC)) == -1)
		die("timerfd_create: %s", strerror(errno));
	conn_add(&timer, EPOLLIN);
	cb_tick = hl_tick;
	timerfd_settime(timer.fd, 0, &its, NULL);
	end = now_ns() + HL_TOTAL * MS * 3 + 2 * SEC;
	while (!L.done && now_ns() < end && L.c->state == S_OPEN)
		poll_once(5);
	cb_tick = NULL;
	epoll_ctl(epfd, EPOLL_CTL_DEL, timer.fd, NULL);
	close(timer.fd);
	if (L.c->state != S_OPEN) {
		phase_fail(0, figs, "history latency: %s", ph.err);
		phase_fail(1, figs, "history latency: %s", ph.err);
	} else if (!L.done) {
		note("history latency%s: %d and %d of %d received before the "
		    "timeout", raw ? " (Redis alone)" : "", L.got[0], L.got[1],
		    HL_TOTAL / 2);
		if (raw)	/* no lost row: mark the figures */
			for (k = 0; k < 2; k++)
				fig[F_HLR_P50].failed[k] =
				    fig[F_HLR_P99].failed[k] = 1;
	}
	if (L.badhdr)
		note("history latency: %d messages with the wrong header (an id "
		    "on a PUBLISH, or none on the function's)", L.badhdr);
	if (ph.pub_errors)
		phase_fail(0, figs, "history latency: %lld publisher errors",
		    (long long)ph.pub_errors);
	for (k = 0; k < 2; k++) {
		int n = L.nlat[k];
		if (n > 0) {
			qsort(L.lat[k], (size_t)n, sizeof(int64_t), cmp_i64);
			fig[figs[0]].v[k] = pct(L.lat[k], (size_t)n, 0.5) / 1e3;
			fig[figs[1]].v[k] = pct(L.lat[k], (size_t)n, 0.99) /
			    1e3;
		}
		if (!raw)
			fig[F_HL_LOST].v[k] = HIS_LAT_N + LAT_WARM - L.got[k];
		free(L.lat[k]);
	}
	close_all(&L.c, 1);
}

/* -- throughput: the function, then PUBLISH -- */
static void
hist_throughput(void)
{
	static const int figs[] = { F_HT_RATE, F_HT_LOST, -1 };
	static const char *const user[2] = { "hist-tp-fn", "hist-tp-plain" };
	struct conn *c;
	int k;

	for (k = 0; k < 2; k++) {
		phase_reset();
		if ((c = open_v1(user[k], NULL, 0)) == NULL) {
			phase_fail(k, figs, "history throughput: %s", ph.err);
			continue;
		}
		tp_run(c, HIS_TP_N, k == 0, k, F_HT_RATE, F_HT_LOST, how[k]);
		if (ph.pub_errors)
			phase_fail(k, figs, "history throughput: %lld "
			    "publisher errors", (long long)ph.pub_errors);
		close_all(&c, 1);
	}
}

/*
 * FCALLs or PUBLISHes to a channel without subscribers, pipelined as in
 * tp_run: what Redis alone executes per second, from the first write to
 * the last reply.
 */
static void
hist_calls(void)
{
	static const int figs[] = { F_HC_RATE, -1 };
	char head[160], *batch;
	size_t hlen, clen;
	int64_t t0, t_last = 0, end, last_progress;
	int k, i, sent;
	int64_t last_replies;

	for (k = 0; k < 2; k++) {
		phase_reset();
		if (k == 0)
			hlen = (size_t)snprintf(head, sizeof(head), "*5\r\n$5\r\n"
			    "FCALL\r\n$16\r\nwspubsub_publish\r\n$1\r\n1\r\n"
			    "$10\r\nhist-alone\r\n$%d\r\n", TP_SIZE);
		else
			hlen = (size_t)snprintf(head, sizeof(head), "*3\r\n$7\r\n"
			    "PUBLISH\r\n$10\r\nhist-alone\r\n$%d\r\n",
			    TP_SIZE);
		clen = hlen + TP_SIZE + 2;
		batch = xrealloc(NULL, clen * TP_BATCH);
		for (i = 0; i < TP_BATCH; i++) {
			char *m = batch + (size_t)i * clen;
			memcpy(m, head, hlen);
			memset(m + hlen, 'x', TP_SIZE);
			memcpy(m + hlen + TP_SIZE, "\r\n", 2);
		}
		sent = 0;
		last_replies = 0;
		t0 = now_ns();
		end = t0 + 30 * SEC;
		last_progress = t0;
		while (ph.pub_replies < HIS_TP_N) {
			while (sent < HIS_TP_N &&
			    sent - ph.pub_replies <= TP_WINDOW - TP_BATCH) {
				if (redisAppendFormattedCommand(pub.rc, batch,
				    clen * TP_BATCH) != REDIS_OK)
					die("redisAppendFormattedCommand failed");
				pub_flush();
				sent += TP_BATCH;
			}
			poll_once(5);
			if (ph.pub_replies != last_replies) {
				last_replies = ph.pub_replies;
				last_progress = t_last = now_ns();
			} else if (now_ns() - last_progress > 5 * SEC ||
			    now_ns() > end) {
				phase_fail(k, figs, "Redis alone, %s: %lld of "
				    "%d replies", how[k],
				    (long long)ph.pub_replies, HIS_TP_N);
				break;
			}
		}
		free(batch);
		if (ph.pub_errors)
			phase_fail(k, figs, "Redis alone, %s: %lld errors",
			    how[k], (long long)ph.pub_errors);
		if (ph.pub_replies > 0 && t_last > t0)
			fig[F_HC_RATE].v[k] = ph.pub_replies /
			    ((t_last - t0) / 1e9);
	}
}

/* -- replay on connect -- */
static struct {
	char	 ids[HIS_REPLAY + 1][72];	/* ids[0]: before the 100 */
	struct conn *c;
	int	 replay, got, done;
	int64_t	 t_done;
	char	 bad[256];
} R;

static void
hr_msg(struct conn *c, const uint8_t *p, size_t n)
{
	(void)p;
	if (c != R.c || R.done || R.bad[0])
		return;
	if (R.got == 0) {
		if (strcmp(c->event, "recovered") != 0 || c->id[0] != '\0' ||
		    n != 0)
			snprintf(R.bad, sizeof(R.bad), "first message: event "
			    "\"%s\", id \"%s\", %zu bytes (want event: "
			    "recovered)", c->event, c->id, n);
		else if (!R.replay)
			R.done = 1;
	} else if (strcmp(c->id, R.ids[R.got]) != 0 || n != TP_SIZE)
		snprintf(R.bad, sizeof(R.bad), "replayed message %d: id \"%s\" "
		    "(want \"%s\"), %zu bytes", R.got, c->id, R.ids[R.got], n);
	else if (R.got == HIS_REPLAY)
		R.done = 1;
	R.got++;
	if (R.done)
		R.t_done = now_ns();
}

/* HIS_REPLAY + 1 messages with the function; their ids in R.ids. */
static int
replay_setup(const char *chan)
{
	char buf[TP_SIZE + 1];
	redisReply *r;
	int i, ok = 1;

	for (i = 0; i <= HIS_REPLAY; i++) {
		payload(buf, i, 0);
		redisAppendCommand(adm, "FCALL wspubsub_publish 1 %s %b", chan,
		    buf, (size_t)TP_SIZE);
	}
	for (i = 0; i <= HIS_REPLAY; i++) {
		if (redisGetReply(adm, (void **)&r) != REDIS_OK)
			die("FCALL wspubsub_publish: %s", adm->errstr);
		if (r->type == REDIS_REPLY_STRING && r->len < sizeof(R.ids[0]))
			memcpy(R.ids[i], r->str, r->len + 1);
		else {
			if (ok)
				note("FCALL wspubsub_publish answered: %s",
				    r->type == REDIS_REPLY_ERROR ? r->str :
				    "(not an id)");
			ok = 0;
		}
		freeReplyObject(r);
	}
	return ok ? 0 : -1;
}

static void
hist_replay(void)
{
	static const int figs[] = { F_HR_P50, F_HR_P99, F_HR_PER, -1 };
	struct conn *cs[2 * HIS_CONN_N] = { NULL };
	int64_t v[2][HIS_CONN_N], end;
	int nv[2] = { 0, 0 }, i, k;

	phase_reset();
	memset(&R, 0, sizeof(R));
	if (replay_setup("hist-replay") == -1) {
		phase_fail(0, figs, "replay: the function failed");
		phase_fail(1, figs, "replay: the function failed");
		return;
	}
	cb_msg = hr_msg;
	/* One at a time, kept open (as figure 3 alone); the two alternate. */
	for (i = 0; i < 2 * HIS_CONN_N; i++) {
		k = i & 1;
		R.replay = k == 0;
		R.got = R.done = 0;
		R.c = cs[i] = ws_open_v1("hist-replay",
		    R.ids[k == 0 ? 0 : HIS_REPLAY]);
		end = now_ns() + 5 * SEC;
		while (!R.done && !R.bad[0] && R.c->state != S_CLOSED &&
		    now_ns() < end)
			poll_once(5);
		if (!R.done) {
			phase_fail(k, figs, "replay: connection %d: %s", i,
			    R.bad[0] ? R.bad : ph.nerr ? ph.err :
			    "not done in 5 s");
			break;
		}
		v[k][nv[k]++] = R.t_done - R.c->t_connect;
	}
	for (k = 0; k < 2; k++)
		if (nv[k] > 0) {
			qsort(v[k], (size_t)nv[k], sizeof(int64_t), cmp_i64);
			fig[F_HR_P50].v[k] = pct(v[k], (size_t)nv[k], 0.5) /
			    1e3;
			fig[F_HR_P99].v[k] = pct(v[k], (size_t)nv[k], 0.99) /
			    1e3;
		}
	if (nv[0] > 0 && nv[1] > 0)
		fig[F_HR_PER].v[0] = (fig[F_HR_P50].v[0] -
		    fig[F_HR_P50].v[1]) / HIS_REPLAY;
	cb_msg = NULL;
	close_all(cs, 2 * HIS_CONN_N);
	ws_settle(0, 20);
}

/* -- Redis memory per message held -- */
/* nch channels PREFIX-0.. of HIS_MEM_MSGS messages, through adm. */
static int
publish_many(int fcall, const char *prefix, int nch)
{
	char chan[64], buf[TP_SIZE + 1];
	redisReply *r;
	int c, i, bad = 0;

	for (c = 0; c < nch; c++) {
		snprintf(chan, sizeof(chan), "%s-%d", prefix, c);
		for (i = 0; i < HIS_MEM_MSGS; i++) {
			payload(buf, i, 0);
			redisAppendCommand(adm, fcall ? "FCALL wspubsub_publish "
			    "1 %s %b" : "PUBLISH %s %b", chan, buf,
			    (size_t)TP_SIZE);
		}
		for (i = 0; i < HIS_MEM_MSGS; i++) {
			if (redisGetReply(adm, (void **)&r) != REDIS_OK)
				die("%s: %s", how[!fcall], adm->errstr);
			if (r->type != (fcall ? REDIS_REPLY_STRING :
			    REDIS_REPLY_INTEGER) && bad++ == 0)
				note("%s answered: %s", how[!fcall], r->type ==
				    REDIS_REPLY_ERROR ? r->str : "(unexpected)");
			freeReplyObject(r);
		}
	}
	return bad ? -1 : 0;
}

static void
hist_memory(void)
{
	static const int figs[] = { F_HM_BYTES, -1 };
	static const char *const prefix[2] = { "hist-mem", "hist-mem-plain" };
	char name[80];
	redisReply *r;
	double before, after;
	int k, c;

	/*
	 * Redis shrinks the query buffers of clients idle for 2 s (the
	 * publisher's is large after the throughput): let that happen first.
	 * Then a first batch, so that the admin client's buffers are grown.
	 */
	usleep(MEM_SETTLE_MS * 1000);
	if (publish_many(1, "hist-mem-warm", 1) == -1) {
		phase_fail(0, figs, "history memory: the function failed");
		return;
	}
	for (k = 0; k < 2; k++) {
		before = redis_info("memory", "used_memory");
		if (publish_many(k == 0, prefix[k], HIS_MEM_CH) == -1) {
			phase_fail(k, figs, "history memory: %s failed",
			    how[k]);
			continue;
		}
		after = redis_info("memory", "used_memory");
		fig[F_HM_BYTES].v[k] = (after - before) /
		    (HIS_MEM_CH * HIS_MEM_MSGS);
	}
	/* Give Redis its memory back before figures 4 and 5. */
	redisAppendCommand(adm, "DEL {hist-mem-warm-0}#history");
	for (c = 0; c < HIS_MEM_CH; c++) {
		snprintf(name, sizeof(name), "{hist-mem-%d}#history", c);
		redisAppendCommand(adm, "DEL %s", name);
	}
	for (c = -1; c < HIS_MEM_CH; c++)
		if (redisGetReply(adm, (void **)&r) == REDIS_OK)
			freeReplyObject(r);
}

void
fig_history(void)
{
	static const int figs[] = { F_HL_P50, F_HL_P99, F_HL_LOST, F_HLR_P50,
	    F_HLR_P99, F_HT_RATE, F_HT_LOST, F_HC_RATE, F_HR_P50, F_HR_P99,
	    F_HR_PER, F_HM_BYTES, -1 };

	if (!library_loaded()) {
		phase_fail(0, figs, "history: Redis has no library wspubsub "
		    "10 s after the start (did %s load it? see its log)",
		    server_bin);
		return;
	}
	note("6. history: latency");
	hist_latency(0);
	note("6. history: latency (Redis alone)");
	hist_latency(1);
	note("6. history: throughput");
	hist_throughput();
	note("6. history: throughput (Redis alone)");
	hist_calls();
	note("6. history: replay on connect");
	hist_replay();
	note("6. history: Redis memory");
	hist_memory();
}
