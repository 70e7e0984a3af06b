/*
 * subscriber.h -- the child's own blocking Redis connection: found
 * (plain, through Sentinel, or on the Redis Cluster node that owns the
 * channel), subscribed, then read without blocking after poll(2).
 */
#ifndef CHILD_SUBSCRIBER_H
#define CHILD_SUBSCRIBER_H

#include <stddef.h>

#include "history.h"
#include "settings.h"

struct sub;

/* What sub_next() found. */
#define SUB_NONE	0	/* no complete reply left; poll again */
#define SUB_MESSAGE	1	/* a message on the channel */
#define SUB_ERROR	(-1)	/* not the protocol we expect */
#define SUB_DROPPED	2	/* the server unsubscribed us (slot moved) */
#define SUB_HISTORY	3	/* a message with an id, replayed or live */
#define SUB_HOLE	4	/* a message with an id is missing: resubscribe */

/*
 * Connect to Redis: the configured server, the master the sentinels
 * name, or any cluster node (learning the slot map from it).  NULL on
 * failure with a reason in err.
 */
struct sub	*sub_connect(const struct child_conf *, char *err, size_t);
/*
 * SUBSCRIBE (SSUBSCRIBE on a cluster) and wait for the confirmation.  On
 * a cluster *sp may be replaced by a connection to the channel's node,
 * following -MOVED and -ASK; *sp may be NULL there to connect afresh.
 * 0, or -1 with *sp closed and set to NULL and a reason in err.
 *
 * With history on, the history channel too, and the messages published
 * after from (when set) are replayed first by sub_next(); sub_resume()
 * then says whether that replay is complete.
 */
int	sub_subscribe(struct sub **sp, const struct child_conf *,
	    const char *channel, const struct history_id *from, char *err,
	    size_t);
/*
 * What resuming found: HISTORY_NONE (from was not set), HISTORY_RECOVERED
 * or HISTORY_GAP; -1 when history is off or unavailable.
 */
int	sub_resume(const struct sub *);
/* How many messages the subscription replays. */
size_t	sub_replay_size(const struct sub *);
/* The newest id handed out or known (set = 0: none), to resume from. */
const struct history_id *sub_last(const struct sub *);
/*
 * Make sure Redis has the history library, at this binary's version or
 * later (FUNCTION LOAD REPLACE otherwise); *loaded says whether it was
 * loaded now.  0, or -1 with a reason in err (ACL, say).
 */
int	sub_load_library(struct sub *, int *loaded, char *err, size_t);
/*
 * The same on the server the children use, or on every master of a Redis
 * Cluster, logging what was done.  0, or -1 if any failed.
 */
int	sub_install_library(const struct child_conf *);
/* PING and wait for PONG: 0 or -1 (the health check). */
int	sub_ping(struct sub *);
/* The socket to poll(2) for reading. */
int	sub_fd(const struct sub *);
/* Why the connection failed, for logs. */
const char *sub_error(const struct sub *);
/* "host:port" (or the socket path) of the connected server. */
const char *sub_node(const struct sub *);
/* One read after poll(2) said readable: 0, or -1 on EOF or error. */
int	sub_read(struct sub *);
/*
 * The next complete reply already read: SUB_MESSAGE (a plain PUBLISH) or
 * SUB_HISTORY (with its id in *id) with *payload and *len set (valid
 * until the next sub_read or sub_next), or SUB_NONE, SUB_ERROR,
 * SUB_DROPPED, SUB_HOLE.  Subscription confirmations are consumed
 * silently.
 */
int	sub_next(struct sub *, const char **payload, size_t *len,
	    const char **id);
/*
 * Keep the connection for another client: UNSUBSCRIBE from channel (NULL
 * or "": none was made), wait until Redis confirms, check that it still
 * answers PING, and wipe every message read.  0, or -1 with *sp closed
 * and set to NULL when the connection is not clean.
 */
int	sub_release(struct sub **sp, const struct child_conf *,
	    const char *channel);
/* UNSUBSCRIBE from channel unless NULL (without waiting), and close. */
void	sub_close(struct sub *, const char *channel);

#endif /* CHILD_SUBSCRIBER_H */
