/*
 * proc.h -- the master's table of children: pre-forked spares waiting for
 * a client, busy children serving one, and spares being retired.
 */
#ifndef MASTER_PROC_H
#define MASTER_PROC_H

#include <stdint.h>
#include <sys/types.h>

#include "conf.h"

enum proc_state {
	PROC_SPARE,	/* waiting on its channel for a client */
	PROC_BUSY,	/* owns a client; the master only counts it */
	PROC_RETIRING,	/* spare told to exit (reload, shutdown) */
};

struct proc {
	pid_t		 pid;
	int		 chan;		/* master's end; -1 once busy */
	enum proc_state	 state;
	char		 peer[PEER_MAX];
	int		 slot;		/* in the scoreboard, or -1 */
	int		 gen;		/* the reload it was forked after */
	int		 served;	/* times it came back as a spare */
	int64_t		 idle_since;	/* monotonic ms, while a spare */
};

/* proc.c: the table. */
struct proc	*proc_add(pid_t, int chan);
struct proc	*proc_find(pid_t);
void		 proc_remove(struct proc *);
struct proc	*proc_spare(void);	/* the one idle the shortest time */
/*
 * Retire spares idle for idle_ms by now while more than keep are left;
 * returns when the next would be due (0: none).
 */
int64_t		 proc_trim_spares(int keep, int64_t now, int64_t idle_ms);
int		 proc_count(enum proc_state);
int		 proc_count_host(const char *peer);
int		 proc_total(void);
/* Signal every child, or only those serving a client. */
void		 proc_signal(int sig, int busy_only);
void		 proc_retire_spares(void);
void		 proc_close_chans(void);	/* in a new child */

/* spawn.c: fork a spare; hand it a client; take it back. */
struct proc	*spawn_spare(const struct conf *);
int		 spawn_handoff(struct proc *, int fd, const char *peer, int how);
/* The master's end of the way back for reused children, or -1. */
int		 spawn_back_fd(void);
/* Children that came back become spares again; returns how many. */
struct stats;
int		 spawn_returned(struct stats *, int64_t now);
/* Close the way back: children that would come back exit instead. */
void		 spawn_back_close(void);
/* In a child: SCHED_BATCH, if batch_scheduling is on. */
void		 spawn_batch(const struct conf *);
/* Fork a process that loads the history library into Redis, and exits. */
pid_t		 spawn_loader(const struct conf *);

/* reap.c: collect exited children; returns how many spares died idle. */
int		 reap_children(struct stats *);

#endif /* MASTER_PROC_H */
