/*
 * upstream.h -- what a client sends, appended to a Redis Stream.
 *
 * Entries go out on a second Redis connection of the child's, opened
 * when the first entry is queued and closed after UPSTREAM_IDLE_MS
 * without one, so a client that only listens costs no second
 * connection.  (The subscribed connection cannot carry them: Redis
 * refuses XADD on a subscribed RESP2 connection, and in a cluster the
 * stream's slot is usually on another node than the channel's.)
 *
 * XADDs are pipelined; each stays queued until Redis has answered it,
 * so after a lost connection the unanswered ones are sent again on the
 * next (at least once).  The queue is bounded: while upstream_full()
 * the caller stops reading its client, and a slow Redis slows the client
 * down through TCP instead of growing this process.
 *
 * This side knows nothing of WebSocket: it says what became of the
 * entries, and the caller tells the client.
 */
#ifndef CHILD_UPSTREAM_H
#define CHILD_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <hiredis/hiredis.h>

#include "settings.h"

#define UPSTREAM_WINDOW		256		/* XADDs awaiting replies */
#define UPSTREAM_WINDOW_BYTES	(256 * 1024)	/* ... or this many bytes */
#define UPSTREAM_IDLE_MS	10000		/* then the connection goes */
#define UPSTREAM_REPLY_MAX	4096		/* an XADD's reply, or error */
#define UPSTREAM_CONN_MAX	(HOSTNAME_MAX + 40)	/* conn ids */

/* What upstream_io(), upstream_timer() and upstream_drain() found. */
#define UP_OK		0
#define UP_FAILED	(-1)	/* see upstream_error(); close the client */

struct upstream {
	const struct child_conf	*conf;
	redisContext	*ctx;		/* NULL: not connected */
	struct redis_addr addr;		/* of ctx (not for redis_socket) */
	char		 node[REDIS_HOST_MAX + 16];
	/* Formatted XADDs: [ack, sent) sent, [sent, len) not yet. */
	char		*q;
	size_t		 qack, qsent, qlen, qcap;
	/* The unanswered XADDs, oldest at head: lengths, payload bytes. */
	size_t		 size[UPSTREAM_WINDOW];
	size_t		 bytes[UPSTREAM_WINDOW];
	int		 event[UPSTREAM_WINDOW];	/* not a message */
	int		 head, count;
	char		 in[UPSTREAM_REPLY_MAX];	/* replies read */
	size_t		 inlen;
	int		 failed;
	int64_t		 lost_at;	/* first failure; 0 while fine */
	int64_t		 retry_at;	/* next connect, while lost */
	int		 backoff;	/* ms */
	int		 redirects;	/* -MOVED since the last entry */
	int64_t		 idle_at;	/* close the connection then */
	char		 err[512];
};

/* Start on a zeroed struct upstream (as upstream_close() leaves it). */
void	upstream_init(struct upstream *, const struct child_conf *);
/*
 * Queue one data message (binary: not text) from user's connection conn;
 * upstream_io() sends it.  0, or -1 (out of memory, or failed).
 */
int	upstream_message(struct upstream *, const char *user,
	    const char *conn, int binary, const void *data, size_t len,
	    int64_t now);
/* The same for an event: "connect", or "disconnect" with its code. */
int	upstream_event(struct upstream *, const char *user, const char *conn,
	    const char *event, unsigned int code, int64_t now);
/* As much is unanswered as may be: read no more from the client. */
int	upstream_full(const struct upstream *);
/* Number of XADDs not yet answered. */
int	upstream_pending(const struct upstream *);
/* The socket to poll and for what (0 and -1: nothing to wait for). */
int	upstream_fd(const struct upstream *, short *events);
/* Send and read after poll(2) reported revents: UP_OK or UP_FAILED. */
int	upstream_io(struct upstream *, short revents, int64_t now);
/* When upstream_timer() has something to do; 0 = never. */
int64_t	upstream_deadline(const struct upstream *);
/* Reconnect when due (UP_FAILED past redis_retry_timeout), or idle out. */
int	upstream_timer(struct upstream *, int64_t now);
/*
 * Wait until every queued XADD is answered, retrying as above, at most
 * until deadline: UP_OK, or UP_FAILED.
 */
int	upstream_drain(struct upstream *, int64_t deadline);
/* Close the connection and wipe and free the queue. */
void	upstream_close(struct upstream *);
const char *upstream_error(const struct upstream *);

/*
 * One reply at the start of buf: an XADD's bulk string (the entry's id),
 * an error or a status line.  Its length with *type ('$', '-' or '+'),
 * *text and *len set; 0 when incomplete; -1 when it is none of those.
 */
ssize_t	upstream_reply(const char *buf, size_t len, char *type,
	    const char **text, size_t *textlen);

#endif /* CHILD_UPSTREAM_H */
