/*
 * proc.c -- the table of children.  It grows as needed and is scanned
 * linearly: the master touches it once per accept and once per exit.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proc.h"

static struct proc	*procs;
static int		 nprocs, procs_cap;

struct proc *
proc_add(pid_t pid, int chan)
{
	struct proc *n;
	int cap;

	if (nprocs == procs_cap) {
		cap = procs_cap ? procs_cap * 2 : 64;
		if ((n = reallocarray(procs, (size_t)cap, sizeof(*n))) == NULL)
			return NULL;
		procs = n;
		procs_cap = cap;
	}
	n = &procs[nprocs++];
	memset(n, 0, sizeof(*n));
	n->pid = pid;
	n->chan = chan;
	n->state = PROC_SPARE;
	n->slot = -1;
	return n;
}

struct proc *
proc_find(pid_t pid)
{
	int i;

	for (i = 0; i < nprocs; i++)
		if (procs[i].pid == pid)
			return &procs[i];
	return NULL;
}

void
proc_remove(struct proc *p)
{
	if (p->chan != -1)
		close(p->chan);
	*p = procs[--nprocs];
}

/*
 * The spare that came back last: its caches are warm and its Redis
 * connection was checked last, and the others can age out.
 */
struct proc *
proc_spare(void)
{
	struct proc *best = NULL;
	int i;

	for (i = 0; i < nprocs; i++)
		if (procs[i].state == PROC_SPARE &&
		    (best == NULL || procs[i].idle_since > best->idle_since))
			best = &procs[i];
	return best;
}

int64_t
proc_trim_spares(int keep, int64_t now, int64_t idle_ms)
{
	int64_t next = 0;
	int i, spares = proc_count(PROC_SPARE);

	for (i = 0; i < nprocs && spares > keep; i++) {
		if (procs[i].state != PROC_SPARE)
			continue;
		if (procs[i].idle_since + idle_ms > now) {
			if (next == 0 || procs[i].idle_since + idle_ms < next)
				next = procs[i].idle_since + idle_ms;
			continue;
		}
		procs[i].state = PROC_RETIRING;
		close(procs[i].chan);	/* EOF on the channel: exit */
		procs[i].chan = -1;
		spares--;
	}
	return spares > keep ? next : 0;
}

int
proc_count(enum proc_state state)
{
	int i, n = 0;

	for (i = 0; i < nprocs; i++)
		if (procs[i].state == state)
			n++;
	return n;
}

/* Busy children whose peer has the same address as peer ("host:port"). */
int
proc_count_host(const char *peer)
{
	const char *colon = strrchr(peer, ':');
	size_t hlen = colon ? (size_t)(colon - peer) : strlen(peer);
	int i, n = 0;

	for (i = 0; i < nprocs; i++)
		if (procs[i].state == PROC_BUSY &&
		    strncmp(procs[i].peer, peer, hlen) == 0 &&
		    procs[i].peer[hlen] == ':')
			n++;
	return n;
}

int
proc_total(void)
{
	return nprocs;
}

void
proc_signal(int sig, int busy_only)
{
	int i;

	for (i = 0; i < nprocs; i++)
		if ((!busy_only || procs[i].state == PROC_BUSY) &&
		    kill(procs[i].pid, sig) == -1)
			log_debug("kill %ld: signal %d", (long)procs[i].pid,
			    sig);
}

/* Spares hold the old configuration: let them go, new ones follow. */
void
proc_retire_spares(void)
{
	int i;

	for (i = 0; i < nprocs; i++) {
		if (procs[i].state != PROC_SPARE)
			continue;
		procs[i].state = PROC_RETIRING;
		close(procs[i].chan);	/* EOF on the channel: exit */
		procs[i].chan = -1;
	}
}

void
proc_close_chans(void)
{
	int i;

	for (i = 0; i < nprocs; i++)
		if (procs[i].chan != -1)
			close(procs[i].chan);
	free(procs);
	procs = NULL;
	nprocs = procs_cap = 0;
}
