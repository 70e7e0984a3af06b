/*
 * stats.h -- the scoreboard: counters in memory shared by the master and
 * every child (Apache prefork's idea).  The master maps it before the
 * first fork; each child owns one slot and is its only writer; totals are
 * added atomically.  It holds no pointers, so it means the same in every
 * process.
 */
#ifndef CHILD_STATS_H
#define CHILD_STATS_H

#include <stdint.h>
#include <sys/types.h>

#include "settings.h"

enum stats_fail {		/* why a handshake did not end in 101 */
	FAIL_BAD_REQUEST, FAIL_METHOD, FAIL_VERSION, FAIL_TOO_LARGE,
	FAIL_UNAUTHORIZED, FAIL_FORBIDDEN, FAIL_REDIS, FAIL_TIMEOUT,
	FAIL_TLS, FAIL_MAX
};

enum slot_state { SLOT_FREE, SLOT_SPARE, SLOT_HANDSHAKE, SLOT_OPEN };

#define STATS_CODES	16	/* close codes 1000-1015; others together */

struct stats_slot {
	pid_t		pid;
	int		state;
	int64_t		started;	/* time(NULL) */
	uint64_t	msgs_in, bytes_in, msgs_out, bytes_out;
	char		user[USER_NAME_MAX + 1];
	char		peer[PEER_MAX];
	int		trapped;	/* the call the sandbox caught, or -1 */
};

struct stats {
	int		nslots;
	int		shutting_down;		/* master: /healthz says 503 */
	int		spare;			/* master */
	uint64_t	refused_full, refused_per_ip;	/* master */
	uint64_t	connections_total;
	uint64_t	fail[FAIL_MAX];
	uint64_t	msgs_in, bytes_in, msgs_out, bytes_out;	/* finished */
	uint64_t	redis_errors, redis_reconnects;
	uint64_t	history_recovered, history_gaps, history_replayed;
	uint64_t	upstream_messages, upstream_bytes, upstream_events;
	uint64_t	upstream_rate_limited, upstream_failures;
	int		history_warned;	/* a child said why history is off */
	int		generation;	/* master: one more at each reload */
	uint64_t	reused;		/* master: children back as spares */
	uint64_t	sandbox_kills;	/* master: children the sandbox killed */
	uint64_t	close_codes[STATS_CODES + 1];
	struct stats_slot slot[];
};

/* In a child: use slot i of s (none of these do anything if not set). */
void	stats_attach(struct stats *s, int i);
void	stats_state(int state, const char *user, const char *peer);
void	stats_fail(enum stats_fail);
void	stats_io(uint64_t msgs_in, uint64_t bytes_in, uint64_t msgs_out,
	    uint64_t bytes_out);
void	stats_redis(int reconnected);
/* A resume (or a replay after a reconnect) was whole, or had a gap. */
void	stats_resume(int gap);
/* Messages replayed from history. */
void	stats_replayed(size_t n);
/* An upstream entry Redis accepted: a message of n bytes, or an event. */
void	stats_upstream(int message, size_t n);
/* A client closed for going over upstream_rate. */
void	stats_upstream_limited(void);
/* An upstream XADD failed for good: its client was closed with 1011. */
void	stats_upstream_failure(void);
/*
 * 1 for the first child to ask since the master started or reloaded (so
 * that a warning every child would give is logged once), else 0.
 */
int	stats_history_warn_first(void);
/* From the SIGSYS handler: the sandbox caught system call nr. */
void	stats_trapped(int nr);
/* The connection is over: fold its counters into the totals. */
void	stats_close(unsigned int code);
/* Prometheus text format; returns its length, or -1 if buf is short. */
int	stats_render(char *buf, size_t len);
int	stats_shutting_down(void);
/* The master's count of reloads (0 without a scoreboard). */
int	stats_generation(void);

#endif /* CHILD_STATS_H */
