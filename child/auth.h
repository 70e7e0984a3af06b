/*
 * auth.h -- who may connect: the browser Origin allow-list and the JWT
 * that names the user when authentication is on.
 */
#ifndef CHILD_AUTH_H
#define CHILD_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "../ws/ws.h"
#include "settings.h"

/* Authentication is on: a JWT secret or public key is set. */
int	auth_enabled(const struct child_conf *);
/*
 * Check the request's Origin and, when authentication is on, its token.
 * Returns 0 or the HTTP status to refuse with.  user holds the URL's
 * user or ""; on 0 with a token it holds the token's sub, and when the
 * token's expiry is to close the connection, *expires says when
 * (monotonic ms).  peer is for logs.
 */
int	auth_check(const struct child_conf *, const struct ws_request *,
	    const char *peer, char *user, size_t usersize, int64_t *expires);

#endif /* CHILD_AUTH_H */
