/*
 * reconnect.h -- a client's subscription kept through Redis restarts,
 * failovers and slot migrations.
 *
 * This side knows nothing of WebSocket: it says what became of the
 * subscription, and the caller tells the client.
 */
#ifndef CHILD_RECONNECT_H
#define CHILD_RECONNECT_H

#include <stdint.h>

#include "history.h"
#include "settings.h"

struct sub;

struct subscription {
	struct sub	*sub;		/* NULL while reconnecting */
	/*
	 * Where the next subscription resumes: the client's since at
	 * first, then the newest id handed out before a loss.
	 */
	struct history_id from;
	int64_t		 lost_at;	/* 0 while connected */
	int64_t		 retry_at;
	int		 backoff;	/* ms */
};

/* What became of the subscription. */
enum resub {
	RESUB_OK,		/* it goes on, or a retry is due at retry_at */
	RESUB_TOO_SLOW,		/* dropped while the client held us back */
	RESUB_LOST,		/* lost, and reconnecting is off */
	RESUB_GAVE_UP,		/* still away after redis_retry_timeout */
};

/*
 * The connection failed (s->sub is NULL if it is already closed).
 * backlog_last is when output to the client was last held back, 0 if
 * never; peer is for logs.
 */
enum resub	redis_lost(struct subscription *s, const struct child_conf *,
		    const char *peer, int64_t backlog_last, int64_t now);
/* The server ended the subscription (the slot moved): resubscribe now. */
void		redis_dropped(struct subscription *s, const char *peer,
		    const char *channel, int64_t now);
/*
 * A message with an id showed that one before it is missing: subscribe
 * again at once, replaying from the newest handed out.
 */
void		redis_hole(struct subscription *s, const char *peer,
		    int64_t now);
/* One attempt to reconnect and resubscribe, once retry_at has come. */
enum resub	redis_retry(struct subscription *s, const struct child_conf *,
		    const char *peer, const char *channel, int64_t now);

#endif /* CHILD_RECONNECT_H */
