/*
 * reconnect.c -- what a child does when its Redis connection drops
 * while it serves a client.
 *
 * Two causes look the same from here, an EOF.  Redis may have restarted:
 * then the child reconnects with backoff and SUBSCRIBEs again, silently,
 * for up to redis_retry_timeout, and gives up (the client gets 1011) if
 * Redis stays away.  Or Redis may have dropped this subscriber for
 * exceeding its pub/sub output-buffer limit: that only happens while the
 * child holds back its reads because the client does not keep up, and
 * messages were lost, so the client is told (1008) and can reconnect and
 * resynchronise.  The caller, which owns the client, does the telling.
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
#include "clock.h"
#include "reconnect.h"
#include "stats.h"
#include "subscriber.h"

#define RETRY_FIRST_MS	50
#define RETRY_MAX_MS	1000
/* Held back this recently when Redis hung up: a slow consumer. */
#define SLOW_WINDOW_MS	2000

enum resub
redis_lost(struct subscription *s, const struct child_conf *conf,
    const char *peer, int64_t backlog_last, int64_t now)
{
	const char *why = s->sub ? sub_error(s->sub) : "subscribe failed";

	if (backlog_last != 0 && now - backlog_last < SLOW_WINDOW_MS) {
		log_warnx("%s: redis dropped the subscription while the client "
		    "was not keeping up (%s)", peer, why);
		return RESUB_TOO_SLOW;
	}
	log_warnx("%s: redis connection%s%s lost: %s", peer,
	    s->sub ? " to " : "", s->sub ? sub_node(s->sub) : "", why);
	stats_redis(0);
	if (s->sub != NULL)
		s->from = *sub_last(s->sub);
	sub_close(s->sub, NULL);
	s->sub = NULL;
	if (conf->redis_retry_timeout <= 0)
		return RESUB_LOST;
	s->lost_at = now;
	s->retry_at = now;
	s->backoff = RETRY_FIRST_MS;
	return RESUB_OK;
}

void
redis_dropped(struct subscription *s, const char *peer, const char *channel,
    int64_t now)
{
	log_info("%s: %s unsubscribed %s (slot moved?); resubscribing",
	    peer, sub_node(s->sub), channel);
	s->from = *sub_last(s->sub);
	sub_close(s->sub, NULL);
	s->sub = NULL;
	s->lost_at = now;
	s->retry_at = now;
	s->backoff = RETRY_FIRST_MS;
}

void
redis_hole(struct subscription *s, const char *peer, int64_t now)
{
	char id[HISTORY_ID_MAX + 1] = "none";

	s->from = *sub_last(s->sub);
	if (s->from.set)
		(void)history_id_format(&s->from, id, sizeof(id));
	log_info("%s: a message with an id is missing after %s; "
	    "resubscribing to replay it", peer, id);
	sub_close(s->sub, NULL);
	s->sub = NULL;
	s->lost_at = now;
	s->retry_at = now;
	s->backoff = RETRY_FIRST_MS;
}

enum resub
redis_retry(struct subscription *s, const struct child_conf *conf,
    const char *peer, const char *channel, int64_t now)
{
	char err[256];

	if (sub_subscribe(&s->sub, conf, channel, &s->from, err,
	    sizeof(err)) == 0) {
		log_info("%s: resubscribed to %s on %s after %lld ms", peer,
		    channel, sub_node(s->sub),
		    (long long)(now_ms() - s->lost_at));
		s->lost_at = s->retry_at = 0;
		stats_redis(1);
		return RESUB_OK;
	}
	log_debug("%s: resubscribing: %s", peer, err);
	now = now_ms();
	if (now - s->lost_at >= conf->redis_retry_timeout) {
		log_warnx("%s: redis still unavailable after %d ms", peer,
		    conf->redis_retry_timeout);
		return RESUB_GAVE_UP;
	}
	/* Spread the children out so a restarted Redis is not stampeded. */
	s->retry_at = now + s->backoff / 2 +
	    arc4random_uniform((uint32_t)s->backoff / 2 + 1);
	if (s->backoff < RETRY_MAX_MS)
		s->backoff *= 2;
	return RESUB_OK;
}
