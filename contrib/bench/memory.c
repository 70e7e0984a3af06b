/*
 * memory.c -- figures 4 and 5 on the same connections: what 1,000 and
 * then 10,000 idle connections cost in memory (Pss of the servers, the
 * kernel's share), and the fan-out of one message to each of their users.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis.h>

#include "conn.h"
#include "figures.h"
#include "servers.h"
#include "wsbench.h"

static struct {
	int	 got, dup, done, n;
	int64_t	 t_last;
} FO;

static void
fo_msg(struct conn *c, const uint8_t *p, size_t n)
{
	(void)p;
	(void)n;
	if (c->nmsg == 1) {
		FO.t_last = now_ns();
		if (++FO.got == FO.n)
			FO.done = 1;
	} else
		FO.dup++;
}

/*
 * What the kernel did during a fan-out: context switches on the whole
 * machine (/proc/stat ctxt), and redis-server's CPU time and the times it
 * was preempted (schedstat, nonvoluntary_ctxt_switches).
 */
struct sched_snap {
	long long	ctxt, redis_ns, redis_preempted;
};

static void
sched_snap(struct sched_snap *s)
{
	char path[64], line[256];
	FILE *f;

	memset(s, 0, sizeof(*s));
	if ((f = fopen("/proc/stat", "r")) != NULL) {
		while (fgets(line, sizeof(line), f) != NULL)
			if (sscanf(line, "ctxt %lld", &s->ctxt) == 1)
				break;
		fclose(f);
	}
	snprintf(path, sizeof(path), "/proc/%ld/schedstat", (long)redis_pid);
	if ((f = fopen(path, "r")) != NULL) {
		if (fscanf(f, "%lld", &s->redis_ns) != 1)
			s->redis_ns = 0;
		fclose(f);
	}
	snprintf(path, sizeof(path), "/proc/%ld/status", (long)redis_pid);
	if ((f = fopen(path, "r")) != NULL) {
		while (fgets(line, sizeof(line), f) != NULL)
			if (sscanf(line, "nonvoluntary_ctxt_switches: %lld",
			    &s->redis_preempted) == 1)
				break;
		fclose(f);
	}
}

static void
fanout(int side, struct conn **cs, int n, int f_ms, int f_lost)
{
	struct sched_snap s0, s1;
	int64_t t0, end, last_progress;
	int i, last_got = 0;

	memset(&FO, 0, sizeof(FO));
	FO.n = n;
	for (i = 0; i < n; i++) {
		cs[i]->nmsg = 0;
		pub_append(cs[i]->user, "fan-out", 7);
	}
	cb_msg = fo_msg;
	sched_snap(&s0);
	t0 = now_ns();		/* the first PUBLISH leaves now */
	pub_flush();
	end = t0 + 30 * SEC;
	last_progress = t0;
	while (!FO.done) {
		poll_once(5);
		if (FO.got != last_got) {
			last_got = FO.got;
			last_progress = now_ns();
		} else if (now_ns() - last_progress > 5 * SEC) {
			note("fan-out %d (%s): nothing received for 5 s; %d "
			    "of %d", n, side_name[side], FO.got, n);
			break;
		}
		if (now_ns() > end) {
			note("fan-out %d (%s): timed out after 30 s; %d of %d",
			    n, side_name[side], FO.got, n);
			break;
		}
	}
	cb_msg = NULL;
	sched_snap(&s1);
	note("fan-out %d (%s): %.1f context switches per message on the "
	    "machine; redis-server ran %.1f ms and was preempted %lld times",
	    n, side_name[side], (double)(s1.ctxt - s0.ctxt) / n,
	    (s1.redis_ns - s0.redis_ns) / 1e6,
	    s1.redis_preempted - s0.redis_preempted);
	if (FO.got > 0)
		fig[f_ms].v[side] = (FO.t_last - t0) / 1e6;
	if (!FO.done)
		fig[f_ms].failed[side] = 1;
	fig[f_lost].v[side] = n - FO.got;
	if (FO.dup)
		note("fan-out %d (%s): %d duplicates", n, side_name[side],
		    FO.dup);
}

struct memsnap {
	long	avail, kobj, pss_ws, pss_redis, pss_self;
};

static int
cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return x < y ? -1 : x > y;
}

/* After MEM_SETTLE_MS of quiet; MemAvailable and the kernel objects are
 * the medians of 5 readings 100 ms apart (other work on the machine). */
static void
mem_snap(int side, struct memsnap *m)
{
	long av[5], ko[5];
	redisReply *r;
	int i;

	usleep(MEM_SETTLE_MS * 1000);
	/* jemalloc returns freed pages lazily; have Redis do it now. */
	if ((r = redisCommand(adm, "MEMORY PURGE")) != NULL)
		freeReplyObject(r);
	usleep(100000);
	for (i = 0; i < 5; i++) {
		if (i)
			usleep(100000);
		meminfo(&av[i], &ko[i]);
	}
	qsort(av, 5, sizeof(long), cmp_long);
	qsort(ko, 5, sizeof(long), cmp_long);
	m->avail = av[2];
	m->kobj = ko[2];
	m->pss_ws = 0;
	if (side == 0)
		ws_tree(NULL, &m->pss_ws);
	m->pss_redis = pss_kib(redis_pid);
	m->pss_self = pss_kib(getpid());
}

static void
mem_figures(int side, const struct memsnap *a, const struct memsnap *b,
    int n, int f0)
{
	double dpss = (double)(b->pss_ws - a->pss_ws);
	double dredis = (double)(b->pss_redis - a->pss_redis);
	double dall = dpss + dredis + (double)(b->pss_self - a->pss_self);
	double drop = (double)(a->avail - b->avail);

	/* f0: the PSS, REDIS, AVAIL, KERN, KOBJ figures in that order */
	if (side == 0)
		fig[f0].v[0] = dpss / n;
	fig[f0 + 1].v[side] = dredis / n;
	fig[f0 + 2].v[side] = drop / n;
	fig[f0 + 3].v[side] = (drop - dall) / n;
	fig[f0 + 4].v[side] = (double)(b->kobj - a->kobj) / n;
}

void
fig_memory_fanout(int side, int do_mem, int do_fan)
{
	static const int f1[] = { F_M1_PSS, F_M1_REDIS, F_M1_AVAIL, F_M1_KERN,
	    F_M1_KOBJ, F_FO1_MS, F_FO1_LOST, F_M2_PSS, F_M2_REDIS, F_M2_AVAIL,
	    F_M2_KERN, F_M2_KOBJ, F_FO2_MS, F_FO2_LOST, -1 };
	static const int f2[] = { F_M2_PSS, F_M2_REDIS, F_M2_AVAIL,
	    F_M2_KERN, F_M2_KOBJ, F_FO2_MS, F_FO2_LOST, -1 };
	struct conn **cs = calloc(MEM_N2, sizeof(*cs));
	const char *prefix = side ? "fo-raw" : "fo-ws";
	struct memsnap before, after;

	phase_reset();
	/*
	 * "Before" with the spare pool as configured: spares beyond it
	 * (reused children, which retire after 10 s idle) would be taken by
	 * the first clients and make the connections look cheaper.
	 */
	if (side == 0)
		ws_settle_pool(30);
	if (do_mem)
		mem_snap(side, &before);

	if (open_many(side, prefix, cs, 0, MEM_N1, OPEN_INFLIGHT, 60) == -1) {
		phase_fail(side, f1, "memory/fan-out: could not open %d "
		    "connections: %s", MEM_N1, ph.err);
		goto out;
	}
	if (side == 0)
		ws_settle(MEM_N1, 20);
	if (do_mem) {
		mem_snap(side, &after);
		mem_figures(side, &before, &after, MEM_N1, F_M1_PSS);
	}
	if (do_fan)
		fanout(side, cs, MEM_N1, F_FO1_MS, F_FO1_LOST);

	if (open_many(side, prefix, cs, MEM_N1, MEM_N2, OPEN_INFLIGHT, 90) ==
	    -1) {
		phase_fail(side, f2, "memory/fan-out: could not open %d "
		    "connections: %s", MEM_N2, ph.err);
		goto out;
	}
	if (side == 0)
		ws_settle(MEM_N2, 30);
	if (do_mem) {
		mem_snap(side, &after);
		mem_figures(side, &before, &after, MEM_N2, F_M2_PSS);
	}
	if (do_fan)
		fanout(side, cs, MEM_N2, F_FO2_MS, F_FO2_LOST);
out:
	close_all(cs, MEM_N2);
	free(cs);
	if (side == 0)
		ws_settle(0, 30);
}
