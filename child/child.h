/*
 * child.h -- serving one client: the HTTP upgrade, the user's identity,
 * the Redis subscription and the poll loop that joins them.
 *
 * A child knows nothing of listening sockets or supervision: it is handed
 * a connected socket and the settings of settings.h, and returns when
 * the connection is over.
 */
#ifndef CHILD_CHILD_H
#define CHILD_CHILD_H

#include "settings.h"

/* How a listener's connections start. */
#define CHILD_TLS	0x1	/* a TLS handshake */
#define CHILD_PROXY	0x2	/* a PROXY protocol header, before all */
#define CHILD_AGAIN	0x4	/* the process may serve another client */

/*
 * Serve the client on fd (which child_serve closes) until the connection
 * ends; how holds CHILD_TLS and CHILD_PROXY.  peer is the printable peer
 * address for logs and the process title (the PROXY header's, once read).
 * Returns 0 after a normal close, -1 after an error.
 *
 * With CHILD_AGAIN in how, it returns 1 when this process is fit to serve
 * another client: the close was completed by both sides, the Redis
 * connection was unsubscribed, found clean and kept for the next client,
 * and everything of this client's was wiped (buffers cleared, TLS state
 * freed, user, token and counters reset).
 */
int	child_serve(const struct child_conf *, int fd, const char *peer,
	    int how);

/* In a spare, before a client comes: connect to Redis ahead of time. */
void	child_prepare(const struct child_conf *);

#endif /* CHILD_CHILD_H */
