/*
 * stats.c -- a child's side of the scoreboard, and /metrics.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bsd/string.h>

#include "stats.h"

static struct stats	 *sb;
static struct stats_slot *me;

#define ADD(field, n)	__atomic_fetch_add(&(field), (n), __ATOMIC_RELAXED)
#define GET(field)	__atomic_load_n(&(field), __ATOMIC_RELAXED)

void
stats_attach(struct stats *s, int i)
{
	sb = s;
	me = s != NULL && i >= 0 && i < s->nslots ? &s->slot[i] : NULL;
	if (me != NULL) {
		me->pid = getpid();
		me->state = SLOT_SPARE;
	}
}

void
stats_state(int state, const char *user, const char *peer)
{
	if (me == NULL)
		return;
	if (state == SLOT_HANDSHAKE) {
		me->started = time(NULL);
		me->msgs_in = me->bytes_in = me->msgs_out = me->bytes_out = 0;
		strlcpy(me->peer, peer ? peer : "", sizeof(me->peer));
		me->user[0] = '\0';
	}
	if (state == SLOT_SPARE) {
		/* Back in the pool: nothing of the last client stays. */
		me->started = 0;
		me->peer[0] = me->user[0] = '\0';
	}
	if (state == SLOT_OPEN) {
		strlcpy(me->user, user ? user : "", sizeof(me->user));
		ADD(sb->connections_total, 1);
	}
	me->state = state;
}

/* Async-signal-safe: a store into our own slot. */
void
stats_trapped(int nr)
{
	if (me != NULL)
		__atomic_store_n(&me->trapped, nr, __ATOMIC_RELAXED);
}

void
stats_fail(enum stats_fail why)
{
	if (sb != NULL && why < FAIL_MAX)
		ADD(sb->fail[why], 1);
}

void
stats_io(uint64_t mi, uint64_t bi, uint64_t mo, uint64_t bo)
{
	if (me == NULL)
		return;
	me->msgs_in = mi;
	me->bytes_in = bi;
	me->msgs_out = mo;
	me->bytes_out = bo;
}

void
stats_redis(int reconnected)
{
	if (sb == NULL)
		return;
	if (reconnected)
		ADD(sb->redis_reconnects, 1);
	else
		ADD(sb->redis_errors, 1);
}

void
stats_resume(int gap)
{
	if (sb == NULL)
		return;
	if (gap)
		ADD(sb->history_gaps, 1);
	else
		ADD(sb->history_recovered, 1);
}

void
stats_replayed(size_t n)
{
	if (sb != NULL && n > 0)
		ADD(sb->history_replayed, n);
}

void
stats_upstream(int message, size_t n)
{
	if (sb == NULL)
		return;
	if (message) {
		ADD(sb->upstream_messages, 1);
		ADD(sb->upstream_bytes, n);
	} else
		ADD(sb->upstream_events, 1);
}

void
stats_upstream_limited(void)
{
	if (sb != NULL)
		ADD(sb->upstream_rate_limited, 1);
}

void
stats_upstream_failure(void)
{
	if (sb != NULL)
		ADD(sb->upstream_failures, 1);
}

int
stats_history_warn_first(void)
{
	int no = 0;

	if (sb == NULL)
		return 1;
	return __atomic_compare_exchange_n(&sb->history_warned, &no, 1, 0,
	    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

void
stats_close(unsigned int code)
{
	if (me == NULL)
		return;
	ADD(sb->msgs_in, me->msgs_in);
	ADD(sb->bytes_in, me->bytes_in);
	ADD(sb->msgs_out, me->msgs_out);
	ADD(sb->bytes_out, me->bytes_out);
	if (code >= 1000 && code < 1000 + STATS_CODES)
		ADD(sb->close_codes[code - 1000], 1);
	else
		ADD(sb->close_codes[STATS_CODES], 1);
	me->msgs_in = me->bytes_in = me->msgs_out = me->bytes_out = 0;
	me->state = SLOT_FREE;
}

int
stats_shutting_down(void)
{
	return sb != NULL && GET(sb->shutting_down);
}

int
stats_generation(void)
{
	return sb != NULL ? GET(sb->generation) : 0;
}

struct out {
	char	*buf;
	size_t	 len, used;
	int	 full;
};

static void
put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->used, o->len - o->used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->len - o->used)
		o->full = 1;
	else
		o->used += (size_t)n;
}

static void
metric(struct out *o, const char *name, const char *type, const char *help)
{
	put(o, "# HELP wspubsub_%s %s\n# TYPE wspubsub_%s %s\n", name, help,
	    name, type);
}

int
stats_render(char *buf, size_t len)
{
	static const char *const fails[FAIL_MAX] = {
		"bad_request", "method", "version", "too_large",
		"unauthorized", "forbidden", "redis", "timeout", "tls"
	};
	struct out o = { buf, len, 0, 0 };
	uint64_t mi, bi, mo, bo;
	int i, open = 0, handshake = 0;

	if (sb == NULL)
		return -1;
	mi = GET(sb->msgs_in);
	bi = GET(sb->bytes_in);
	mo = GET(sb->msgs_out);
	bo = GET(sb->bytes_out);
	for (i = 0; i < sb->nslots; i++) {
		const struct stats_slot *s = &sb->slot[i];
		int st = GET(s->state);

		if (st == SLOT_OPEN)
			open++;
		else if (st == SLOT_HANDSHAKE)
			handshake++;
		if (st == SLOT_OPEN || st == SLOT_HANDSHAKE) {
			mi += GET(s->msgs_in);
			bi += GET(s->bytes_in);
			mo += GET(s->msgs_out);
			bo += GET(s->bytes_out);
		}
	}
	metric(&o, "connections", "gauge", "Clients connected now.");
	put(&o, "wspubsub_connections{state=\"open\"} %d\n", open);
	put(&o, "wspubsub_connections{state=\"handshake\"} %d\n", handshake);
	metric(&o, "spare_children", "gauge", "Children waiting for a client.");
	put(&o, "wspubsub_spare_children %d\n", GET(sb->spare));
	metric(&o, "child_reuses_total", "counter",
	    "Children that went back to the spare pool after a client.");
	put(&o, "wspubsub_child_reuses_total %llu\n",
	    (unsigned long long)GET(sb->reused));
	metric(&o, "sandbox_kills_total", "counter",
	    "Children killed for a system call the sandbox forbids.");
	put(&o, "wspubsub_sandbox_kills_total %llu\n",
	    (unsigned long long)GET(sb->sandbox_kills));
	metric(&o, "connections_total", "counter", "Upgraded connections.");
	put(&o, "wspubsub_connections_total %llu\n",
	    (unsigned long long)GET(sb->connections_total));
	metric(&o, "handshake_failures_total", "counter",
	    "Handshakes that did not end in 101, by reason.");
	for (i = 0; i < FAIL_MAX; i++)
		put(&o, "wspubsub_handshake_failures_total{reason=\"%s\"} "
		    "%llu\n", fails[i], (unsigned long long)GET(sb->fail[i]));
	metric(&o, "refused_total", "counter",
	    "Clients refused by the master.");
	put(&o, "wspubsub_refused_total{status=\"503\"} %llu\n",
	    (unsigned long long)GET(sb->refused_full));
	put(&o, "wspubsub_refused_total{status=\"429\"} %llu\n",
	    (unsigned long long)GET(sb->refused_per_ip));
	metric(&o, "messages_sent_total", "counter", "Messages to clients.");
	put(&o, "wspubsub_messages_sent_total %llu\n", (unsigned long long)mo);
	metric(&o, "bytes_sent_total", "counter",
	    "Payload bytes to clients.");
	put(&o, "wspubsub_bytes_sent_total %llu\n", (unsigned long long)bo);
	metric(&o, "messages_received_total", "counter",
	    "Messages from clients.");
	put(&o, "wspubsub_messages_received_total %llu\n",
	    (unsigned long long)mi);
	metric(&o, "bytes_received_total", "counter",
	    "Payload bytes from clients.");
	put(&o, "wspubsub_bytes_received_total %llu\n",
	    (unsigned long long)bi);
	metric(&o, "upstream_messages_total", "counter",
	    "Client messages appended to upstream_stream.");
	put(&o, "wspubsub_upstream_messages_total %llu\n",
	    (unsigned long long)GET(sb->upstream_messages));
	metric(&o, "upstream_bytes_total", "counter",
	    "Payload bytes of the client messages appended.");
	put(&o, "wspubsub_upstream_bytes_total %llu\n",
	    (unsigned long long)GET(sb->upstream_bytes));
	metric(&o, "upstream_events_total", "counter",
	    "Connect and disconnect events appended.");
	put(&o, "wspubsub_upstream_events_total %llu\n",
	    (unsigned long long)GET(sb->upstream_events));
	metric(&o, "upstream_rate_limited_total", "counter",
	    "Clients closed (1008) for sending over upstream_rate.");
	put(&o, "wspubsub_upstream_rate_limited_total %llu\n",
	    (unsigned long long)GET(sb->upstream_rate_limited));
	metric(&o, "upstream_failures_total", "counter",
	    "Clients closed (1011) because XADD failed for good.");
	put(&o, "wspubsub_upstream_failures_total %llu\n",
	    (unsigned long long)GET(sb->upstream_failures));
	metric(&o, "redis_errors_total", "counter",
	    "Redis connections lost while serving.");
	put(&o, "wspubsub_redis_errors_total %llu\n",
	    (unsigned long long)GET(sb->redis_errors));
	metric(&o, "redis_reconnects_total", "counter",
	    "Successful resubscriptions after a lost Redis connection.");
	put(&o, "wspubsub_redis_reconnects_total %llu\n",
	    (unsigned long long)GET(sb->redis_reconnects));
	metric(&o, "history_recoveries_total", "counter",
	    "Resumes with since that found every missed message in history.");
	put(&o, "wspubsub_history_recoveries_total %llu\n",
	    (unsigned long long)GET(sb->history_recovered));
	metric(&o, "history_gaps_total", "counter",
	    "Resumes, and replays after a Redis reconnect, that found "
	    "messages missing (event: gap).");
	put(&o, "wspubsub_history_gaps_total %llu\n",
	    (unsigned long long)GET(sb->history_gaps));
	metric(&o, "history_replayed_total", "counter",
	    "Messages sent again from history.");
	put(&o, "wspubsub_history_replayed_total %llu\n",
	    (unsigned long long)GET(sb->history_replayed));
	metric(&o, "close_codes_total", "counter",
	    "Finished connections by close code (1006: no close frame).");
	for (i = 0; i < STATS_CODES; i++)
		if (GET(sb->close_codes[i]) != 0)
			put(&o, "wspubsub_close_codes_total{code=\"%d\"} %llu\n",
			    1000 + i,
			    (unsigned long long)GET(sb->close_codes[i]));
	put(&o, "wspubsub_close_codes_total{code=\"other\"} %llu\n",
	    (unsigned long long)GET(sb->close_codes[STATS_CODES]));
	return o.full ? -1 : (int)o.used;
}
