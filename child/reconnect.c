/*
 * reconnect.c -- what a child does when its Redis connection drops
 * while it serves a client.
 *
 * Two causes look the same from here, an EOF.  Redis may have restarted:
 * then the child reconnects with backoff and SUBSCRIBEs again, silently,
 * for up to redis_retry_timeout, and closes with 1011 if Redis stays away.
 * Or Redis may have dropped this subscriber for exceeding its pub/sub
 * output-buffer limit: that only happens while the child holds back its
 * reads because the client does not keep up, and messages were lost, so
 * the client is told with 1008 and can reconnect and resynchronise.
 *
 * On a Redis Cluster the subscription also ends when the channel's slot
 * migrates to another node: the old owner pushes sunsubscribe.  The child
 * then finds the new owner and subscribes there at once.  A failover
 * looks like a restart: the connection drops, and the retries find the
 * promoted replica in the slot map (or, with Sentinel, from the
 * sentinels) once it has taken over.
 */
#include <stdlib.h>

#include "../master/log.h"
#include "client.h"
#include "clock.h"
#include "stats.h"
#include "subscriber.h"

#define RETRY_FIRST_MS	50
#define RETRY_MAX_MS	1000
/* Held back this recently when Redis hung up: a slow consumer. */
#define SLOW_WINDOW_MS	2000

/* The connection failed (c->redis is NULL if it is already closed). */
void
redis_lost(struct client *c, int64_t now)
{
	const char *why = c->redis ? sub_error(c->redis) : "subscribe failed";

	if (c->backlog_last != 0 && now - c->backlog_last < SLOW_WINDOW_MS) {
		log_warnx("%s: redis dropped the subscription while the client "
		    "was not keeping up (%s)", c->peer, why);
		client_close(c, WS_CLOSE_POLICY, "too slow, messages lost",
		    "server");
		return;
	}
	log_warnx("%s: redis connection%s%s lost: %s", c->peer,
	    c->redis ? " to " : "", c->redis ? sub_node(c->redis) : "", why);
	stats_redis(0);
	sub_close(c->redis, NULL);
	c->redis = NULL;
	if (c->conf->redis_retry_timeout <= 0) {
		client_close(c, WS_CLOSE_INTERNAL, "redis connection lost",
		    "server");
		return;
	}
	c->redis_lost_at = now;
	c->redis_retry_at = now;
	c->redis_backoff = RETRY_FIRST_MS;
}

/* The server ended the subscription (the slot moved): resubscribe now. */
void
redis_dropped(struct client *c, int64_t now)
{
	log_info("%s: %s unsubscribed %s (slot moved?); resubscribing",
	    c->peer, sub_node(c->redis), c->channel);
	sub_close(c->redis, NULL);
	c->redis = NULL;
	c->redis_lost_at = now;
	c->redis_retry_at = now;
	c->redis_backoff = RETRY_FIRST_MS;
}

/* One attempt to reconnect and resubscribe; called when retry is due. */
void
redis_retry(struct client *c, int64_t now)
{
	char err[256];

	if (sub_subscribe(&c->redis, c->conf, c->channel, err,
	    sizeof(err)) == 0) {
		log_info("%s: resubscribed to %s on %s after %lld ms", c->peer,
		    c->channel, sub_node(c->redis),
		    (long long)(now_ms() - c->redis_lost_at));
		c->redis_lost_at = c->redis_retry_at = 0;
		stats_redis(1);
		return;
	}
	log_debug("%s: resubscribing: %s", c->peer, err);
	now = now_ms();
	if (now - c->redis_lost_at >= c->conf->redis_retry_timeout) {
		log_warnx("%s: redis still unavailable after %d ms", c->peer,
		    c->conf->redis_retry_timeout);
		client_close(c, WS_CLOSE_INTERNAL, "redis unavailable",
		    "server");
		return;
	}
	/* Spread the children out so a restarted Redis is not stampeded. */
	c->redis_retry_at = now + c->redis_backoff / 2 +
	    arc4random_uniform((uint32_t)c->redis_backoff / 2 + 1);
	if (c->redis_backoff < RETRY_MAX_MS)
		c->redis_backoff *= 2;
}
