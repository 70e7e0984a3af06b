/*
 * listen.c -- bind every "listen" address (IPv4 and IPv6) and keep the set
 * in step with the configuration across reloads.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "listen.h"
#include "log.h"

#define LISTEN_BACKLOG	511

struct listener {
	int			fd;
	struct conf_listen	addr;	/* the config entry it came from */
	char			name[300];
	int			keep;	/* mark for listen_update() */
};

static struct listener	listeners[LISTEN_MAX];
static int		nlisteners;
static int		activated;	/* sockets came from systemd */

void
sockaddr_name(const void *sa, char *buf, size_t len)
{
	const struct sockaddr *s = sa;
	char host[INET6_ADDRSTRLEN];

	if (s->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(s6->sin6_port));
	} else if (s->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = sa;
		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(s4->sin_port));
	} else
		snprintf(buf, len, "local");
}

/* The same socket serves both: a change of "tls" or "proxy" keeps it. */
static int
same_addr(const struct conf_listen *a, const struct conf_listen *b)
{
	return strcmp(a->host, b->host) == 0 && strcmp(a->port, b->port) == 0;
}

static int
bind_one(const struct conf_listen *l)
{
	struct addrinfo hints, *res, *ai;
	char name[300];
	int fd, on = 1, err, bound = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	conf_listen_name(l, name, sizeof(name));
	if ((err = getaddrinfo(l->host[0] ? l->host : NULL, l->port, &hints,
	    &res)) != 0) {
		log_error("listen %s: %s", name, gai_strerror(err));
		return -1;
	}
	for (ai = res; ai != NULL && nlisteners < LISTEN_MAX; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd == -1) {
			log_warn("listen %s: socket", name);
			continue;
		}
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on,
		    sizeof(on)) == -1 ||
		    (ai->ai_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
		    IPV6_V6ONLY, &on, sizeof(on)) == -1)) {
			log_warn("listen %s: setsockopt", name);
			close(fd);
			continue;
		}
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
		    listen(fd, LISTEN_BACKLOG) == -1) {
			sockaddr_name(ai->ai_addr, name, sizeof(name));
			log_warn("listen %s", name);
			close(fd);
			continue;
		}
		listeners[nlisteners].fd = fd;
		listeners[nlisteners].addr = *l;
		listeners[nlisteners].keep = 1;
		sockaddr_name(ai->ai_addr, listeners[nlisteners].name,
		    sizeof(listeners[nlisteners].name));
		log_info("listening on %s%s%s", listeners[nlisteners].name,
		    l->tls ? " (TLS)" : "", l->proxy ? " (PROXY protocol)" : "");
		nlisteners++;
		bound++;
	}
	freeaddrinfo(res);
	return bound > 0 ? 0 : -1;
}

void
listen_adopt(int fd, int tls, int proxy)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct listener *l;

	if (nlisteners == LISTEN_MAX)
		return;
	l = &listeners[nlisteners++];
	memset(l, 0, sizeof(*l));
	l->fd = fd;
	l->addr.tls = tls;
	l->addr.proxy = proxy;
	l->keep = 1;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
		sockaddr_name(&ss, l->name, sizeof(l->name));
	else
		snprintf(l->name, sizeof(l->name), "descriptor %d", fd);
	log_info("listening on %s%s%s (from systemd)", l->name,
	    tls ? " (TLS)" : "", proxy ? " (PROXY protocol)" : "");
	activated = 1;
}

int
listen_update(const struct conf *conf)
{
	int i, j, have, failed = 0;

	if (activated)
		return 0;	/* systemd owns the sockets; listen is unused */

	for (i = 0; i < nlisteners; i++) {
		listeners[i].keep = 0;
		for (j = 0; j < conf->nlisten; j++)
			if (same_addr(&listeners[i].addr, &conf->listen[j])) {
				listeners[i].keep = 1;
				listeners[i].addr.tls = conf->listen[j].tls;
				listeners[i].addr.proxy =
				    conf->listen[j].proxy;
			}
	}
	for (i = 0; i < nlisteners; ) {
		if (listeners[i].keep) {
			i++;
			continue;
		}
		log_info("no longer listening on %s", listeners[i].name);
		close(listeners[i].fd);
		listeners[i] = listeners[--nlisteners];
	}
	for (j = 0; j < conf->nlisten; j++) {
		for (have = 0, i = 0; i < nlisteners; i++)
			if (same_addr(&listeners[i].addr, &conf->listen[j]))
				have = 1;
		if (!have && bind_one(&conf->listen[j]) == -1)
			failed++;
	}
	return failed;
}

void
listen_close_all(void)
{
	int i;

	for (i = 0; i < nlisteners; i++)
		close(listeners[i].fd);
	nlisteners = 0;
}

int
listen_pollfds(struct pollfd *pfd, int max)
{
	int i;

	for (i = 0; i < nlisteners && i < max; i++) {
		pfd[i].fd = listeners[i].fd;
		pfd[i].events = POLLIN;
		pfd[i].revents = 0;
	}
	return i;
}

/* Is any listening socket (bound or adopted from systemd) TLS? */
int
listen_any_tls(void)
{
	int i;

	for (i = 0; i < nlisteners; i++)
		if (listeners[i].addr.tls)
			return 1;
	return 0;
}

int
listen_how(int fd)
{
	int i;

	for (i = 0; i < nlisteners; i++)
		if (listeners[i].fd == fd)
			return (listeners[i].addr.tls ? CHILD_TLS : 0) |
			    (listeners[i].addr.proxy ? CHILD_PROXY : 0);
	return 0;
}
