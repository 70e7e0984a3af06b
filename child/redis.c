/*
 * redis.c -- dial one Redis server or sentinel with hiredis, within
 * redis_connect_timeout, and name an address the way logs, errors and
 * -T show it.  Both the subscriber and the sentinel client use these,
 * so they live apart from either.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <arpa/inet.h>

#include "redis.h"

static struct timeval
ms_to_tv(int ms)
{
	struct timeval tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return tv;
}

static int
numeric(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 ||
	    inet_pton(AF_INET6, host, buf) == 1;
}

redisContext *
redis_dial(const struct child_conf *conf, const struct redis_addr *a,
    char *err, size_t errlen)
{
	struct timeval tv = ms_to_tv(conf->redis_connect_timeout);
	redisContext *c;
	const char *host;

	if (a == NULL)
		c = redisConnectUnixWithTimeout(conf->redis_socket, tv);
	else {
		host = a->ip[0] != '\0' ? a->ip : a->host;
		if (conf->sandbox && !numeric(host)) {
			snprintf(err, errlen, "%s is a host name, which a "
			    "sandboxed child cannot resolve", host);
			return NULL;
		}
		c = redisConnectWithTimeout(host, a->port, tv);
	}
	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (c->err) {
		snprintf(err, errlen, "%s", c->errstr);
		redisFree(c);
		return NULL;
	}
	/* Replies to our own commands must come within the same bound. */
	if (redisSetTimeout(c, tv) != REDIS_OK ||
	    fcntl(c->fd, F_SETFD, FD_CLOEXEC) == -1) {
		snprintf(err, errlen, "socket options: %s", strerror(errno));
		redisFree(c);
		return NULL;
	}
	return c;
}

void
redis_addr_name(const struct redis_addr *a, char *buf, size_t len)
{
	if (strchr(a->host, ':') != NULL)
		snprintf(buf, len, "[%s]:%d", a->host, a->port);
	else
		snprintf(buf, len, "%s:%d", a->host, a->port);
}
