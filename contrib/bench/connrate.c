/*
 * connrate.c -- figure 3: handshakes per second with 50 in flight, the
 * time from connect() to the first message (loaded, then one connection
 * at a time), the server's CPU time per connection, and the
 * fork+exit+reap floor of this machine.
 *
 * Every connection is closed by the client as soon as its message has
 * arrived (conn_bye: a WebSocket close handshake, or the raw side's
 * Redis connection closed), so that a server that reuses its children
 * (max_clients_per_child > 1) can hand them the next clients: a
 * reconnect storm, and one client after another.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <math.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "conn.h"
#include "figures.h"
#include "servers.h"
#include "wsbench.h"

static struct {
	int	 done;
	int64_t	 t_last_open;
} R;

static void
cr_open(struct conn *c)
{
	R.t_last_open = c->t_open;
	pub_append(c->user, "hello", 5);
	pub_flush();
}

static void
cr_msg(struct conn *c, const uint8_t *p, size_t n)
{
	(void)p;
	(void)n;
	if (c->t_msg == 0) {
		c->t_msg = now_ns();
		R.done++;
		c->bye = 1;	/* close it: that is all it was for */
	}
}

/*
 * One connection at a time: connect, 101, PUBLISH, message, close
 * (the server's close frame and EOF), then the next.
 */
void
cr_alone(int side)
{
	static const int figs[] = { F_CR_SEQ, F_CR_SEQ99, -1 };
	struct conn *cs[CR_SEQ_N] = { NULL };
	int64_t v[CR_SEQ_N], end;
	char user[48];
	int i, n = 0;

	phase_reset();
	memset(&R, 0, sizeof(R));
	cb_open = cr_open;
	cb_msg = cr_msg;
	for (i = 0; i < CR_SEQ_N; i++) {
		snprintf(user, sizeof(user), "seq-%s-%d", side ? "raw" : "ws",
		    i);
		cs[i] = side_open(side, user);
		end = now_ns() + 5 * SEC;
		while (ph.closed + ph.failed <= i && now_ns() < end)
			poll_once(5);
		if (cs[i]->t_msg == 0) {
			phase_fail(side, figs, "connect->first message, one "
			    "at a time: connection %d: %s", i, ph.nerr ?
			    ph.err : "no message in 5 s");
			break;
		}
		v[n++] = cs[i]->t_msg - cs[i]->t_connect;
		if (cs[i]->state != S_CLOSED || ph.failed) {
			phase_fail(side, figs, "connect->first message, one "
			    "at a time: connection %d: close: %s", i, ph.nerr ?
			    ph.err : "not done in 5 s");
			break;
		}
	}
	if (n > 0) {
		qsort(v, (size_t)n, sizeof(int64_t), cmp_i64);
		fig[F_CR_SEQ].v[side] = pct(v, (size_t)n, 0.5) / 1e3;
		fig[F_CR_SEQ99].v[side] = pct(v, (size_t)n, 0.99) / 1e3;
	}
	close_all(cs, CR_SEQ_N);
	if (side == 0)
		ws_settle(0, 20);
}

void
fig_connrate(int side)
{
	static const int figs[] = { F_CR_RATE, F_CR_MED, F_CR_P99, -1 };
	struct conn **cs = calloc(CR_N, sizeof(*cs));
	int64_t t0, end, *first = xrealloc(NULL, sizeof(int64_t) * CR_N);
	struct cpu_snap c0, c1;
	int next = 0, i, nf = 0, have_c0 = 0;
	char user[48];

	phase_reset();
	memset(&R, 0, sizeof(R));
	cb_open = cr_open;
	cb_msg = cr_msg;
	if (side == 0 && (have_c0 = cpu_tree(master_pid, &c0) == 0) == 0)
		note("3. connection rate: cannot read the server's CPU time");
	t0 = now_ns();
	end = t0 + 30 * SEC;
	/* Until every connection has been closed, or has failed. */
	while (ph.closed + ph.failed < CR_N) {
		/*
		 * In flight: started, not yet failed nor given its message.
		 * Those closing (after their message) do not count.
		 */
		while (next < CR_N &&
		    next - R.done - ph.failed_early < CR_INFLIGHT) {
			snprintf(user, sizeof(user), "cr-%s-%d",
			    side ? "raw" : "ws", next);
			cs[next++] = side_open(side, user);
		}
		if (now_ns() > end) {
			phase_fail(side, figs, "connection rate: timed out "
			    "after 30 s: %d handshakes, %d messages, %d "
			    "closed, %d failed", ph.opened, R.done, ph.closed,
			    ph.failed);
			break;
		}
		poll_once(5);
	}
	if (ph.failed)
		phase_fail(side, figs, "connection rate: %d of %d failed; "
		    "first: %s", ph.failed, CR_N, ph.err);
	if (ph.opened > 0 && R.t_last_open > t0)
		fig[F_CR_RATE].v[side] = ph.opened /
		    ((R.t_last_open - t0) / 1e9);
	for (i = 0; i < next; i++)
		if (cs[i] && cs[i]->t_msg)
			first[nf++] = cs[i]->t_msg - cs[i]->t_connect;
	if (nf > 0) {
		qsort(first, (size_t)nf, sizeof(int64_t), cmp_i64);
		fig[F_CR_MED].v[side] = pct(first, (size_t)nf, 0.5) / 1e3;
		fig[F_CR_P99].v[side] = pct(first, (size_t)nf, 0.99) / 1e3;
	}
	close_all(cs, next);
	free(cs);
	free(first);
	/*
	 * Once the children that served are gone or back in the pool: the
	 * master's own time, plus its reaped and its live children's, after
	 * minus before.  A child alive before and reaped since moves from
	 * live to reaped: its time before the phase is in both snapshots and
	 * cancels; the spares alive at the end (reused ones, with
	 * max_clients_per_child > 1) are counted although never reaped.
	 */
	if (side == 0 && ws_settle(0, 20) == 0 && have_c0 && ph.opened > 0 &&
	    cpu_tree(master_pid, &c1) == 0) {
		double n = ph.opened;
		double kids = c1.reaped_ms + c1.live_ms - c0.reaped_ms -
		    c0.live_ms, self = c1.master_ms - c0.master_ms;

		fig[F_CR_CPU].v[0] = (self + kids) * 1e3 / n;
		note("3. connection rate (wspubsub): server CPU %.0f us per "
		    "connection (master %.0f, children %.0f, exit included; "
		    "master + reaped only: %.0f), %.1f page faults; %d "
		    "children before, %d after", (self + kids) * 1e3 / n,
		    self * 1e3 / n, kids * 1e3 / n,
		    (self + c1.reaped_ms - c0.reaped_ms) * 1e3 / n,
		    (c1.faults - c0.faults) / n, c0.nlive, c1.nlive);
	}
}

/*
 * Figure 3 against the fork floor of the same run: CPU per connection in
 * forks (the CPU time of one fork+exit+reap, parent and child: CPU
 * against CPU, which a loaded machine does not skew as it does wall
 * time), and handshakes per second in one core's forks.
 */
void
cr_floor_ratios(void)
{
	double floor = fig[F_CR_FORK].v[0], fcpu = fig[F_CR_FORKCPU].v[0];
	const struct figure *cpu = &fig[F_CR_CPU], *rate = &fig[F_CR_RATE];

	if (fcpu > 0) {
		fig[F_CR_CPUF].v[0] = cpu->v[0] / fcpu;
		fig[F_CR_CPUF].failed[0] = cpu->failed[0];
	}
	if (floor > 0) {
		fig[F_CR_RATEF].v[0] = rate->v[0] / floor;
		fig[F_CR_RATEF].failed[0] = rate->failed[0];
	}
}

static double
cpu_us(int who)
{
	struct rusage ru;

	if (getrusage(who, &ru) == -1)
		return NAN;
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
	    ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

/*
 * The floor under any server that forks per connection: this process
 * (which maps OpenSSL, hiredis and libc, as wspubsub does) forks a child
 * that exits at once, and reaps it, CR_N times in a row.  No server that
 * pays one fork and one exit per client can accept faster on one core.
 */
void
fork_floor(void)
{
	double c0 = cpu_us(RUSAGE_SELF) + cpu_us(RUSAGE_CHILDREN);
	int64_t t0 = now_ns();
	pid_t pid;
	int i, st;

	for (i = 0; i < CR_N; i++) {
		if ((pid = fork()) == -1) {
			note("fork floor: fork: %s", strerror(errno));
			return;
		}
		if (pid == 0)
			_exit(0);
		if (waitpid(pid, &st, 0) == -1) {
			note("fork floor: waitpid: %s", strerror(errno));
			return;
		}
	}
	fig[F_CR_FORK].v[0] = CR_N / ((now_ns() - t0) / 1e9);
	fig[F_CR_FORKCPU].v[0] = (cpu_us(RUSAGE_SELF) +
	    cpu_us(RUSAGE_CHILDREN) - c0) / CR_N;
}
