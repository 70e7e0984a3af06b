/*
 * redis.h -- one blocking hiredis connection to a Redis server or a
 * sentinel, and how such an address is written.
 */
#ifndef CHILD_REDIS_H
#define CHILD_REDIS_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "settings.h"

/*
 * A blocking connection to a (its ip if the master resolved one), or to
 * redis_socket when a is NULL, with the command timeout and close-on-exec
 * set; no AUTH.  NULL on failure with a reason in err.  A sandboxed child
 * cannot resolve names: a host name learned at run time is an error.
 */
redisContext *redis_dial(const struct child_conf *,
	    const struct redis_addr *a, char *err, size_t);

/*
 * AUTH with redis_username (if set) and redis_password: 0, or -1 with
 * the reply (never the password) in err.
 */
int	redis_auth(redisContext *, const struct child_conf *, char *err,
	    size_t);
/* ROLE says master (a sentinel's answer may be stale during failover). */
int	redis_is_master(redisContext *);

/* An error reply that says "not now" (loading, failing over). */
int	redis_transient(const char *);

/* "host:port", or "[v6addr]:port", for logs and messages. */
void	redis_addr_name(const struct redis_addr *, char *, size_t);

#endif /* CHILD_REDIS_H */
