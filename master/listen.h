/*
 * listen.h -- the master's listening sockets.
 */
#ifndef MASTER_LISTEN_H
#define MASTER_LISTEN_H

#include <poll.h>
#include <stddef.h>

#include "conf.h"

#define LISTEN_MAX	(CONF_LISTEN_MAX * 4)	/* a name may give several */

/*
 * Make the open sockets match conf: bind what is new, close what is gone,
 * keep the rest (so a reload does not drop a port's queue).  Returns the
 * number of addresses that could not be bound.
 */
int	listen_update(const struct conf *);
void	listen_close_all(void);
/* Take a listening socket made by someone else (socket activation). */
void	listen_adopt(int fd, int tls, int proxy);
/* Fill pfd with the listeners; returns how many. */
int	listen_pollfds(struct pollfd *, int max);
/* How this listening socket's clients start: CHILD_TLS, CHILD_PROXY. */
int	listen_how(int fd);
int	listen_any_tls(void);
/* Format a socket address as "1.2.3.4:5" or "[::1]:5". */
void	sockaddr_name(const void *sa, char *buf, size_t len);

#endif /* MASTER_LISTEN_H */
