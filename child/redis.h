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
 * A blocking connection to (host, port), or to redis_socket when host is
 * NULL, with the command timeout and close-on-exec set; no AUTH.  NULL
 * on failure with a reason in err.
 */
redisContext *redis_dial(const struct child_conf *, const char *host,
	    int port, char *err, size_t);

/* "host:port", or "[v6addr]:port", for logs and messages. */
void	redis_addr_name(const struct redis_addr *, char *, size_t);

#endif /* CHILD_REDIS_H */
