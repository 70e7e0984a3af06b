/*
 * subscriber.h -- the child's own blocking Redis connection.
 */
#ifndef CHILD_SUBSCRIBER_H
#define CHILD_SUBSCRIBER_H

#include <hiredis/hiredis.h>

#include "child.h"

/* NULL on failure with a reason in err. */
redisContext	*sub_connect(const struct child_conf *, char *err, size_t);
/* SUBSCRIBE and wait for the confirmation: 0 or -1. */
int		 sub_subscribe(redisContext *, const char *channel);
/* PING and wait for PONG: 0 or -1 (the health check). */
int		 sub_ping(redisContext *);
/* One read after poll(2) said readable: 0, or -1 on EOF or error. */
int		 sub_read(redisContext *);
/*
 * Next complete reply already read: 1 with *payload set for a message on
 * the channel (free *reply after use), 0 when none is left, -1 on a
 * protocol error.  Other replies are consumed silently.
 */
int		 sub_next(redisContext *, redisReply **reply,
		    const char **payload, size_t *len);
/* UNSUBSCRIBE (without waiting) and close. */
void		 sub_close(redisContext *, const char *channel);

#endif /* CHILD_SUBSCRIBER_H */
