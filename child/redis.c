/*
 * redis.c -- dial one Redis server or sentinel with hiredis, within
 * redis_connect_timeout, authenticate, ask its role, tell a passing
 * error from a lasting one, and name an address the way logs, errors
 * and -T show it.  The subscriber, the upstream writer and the sentinel
 * client use these, so they live apart from all three.
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

/* AUTH [user] password; the reply, never the password, is reported. */
int
redis_auth(redisContext *c, const struct child_conf *conf, char *err,
    size_t errlen)
{
	redisReply *r;
	int ok;

	if (conf->redis_username[0] != '\0')
		r = redisCommand(c, "AUTH %s %s", conf->redis_username,
		    conf->redis_password);
	else
		r = redisCommand(c, "AUTH %s", conf->redis_password);
	if (r == NULL) {
		snprintf(err, errlen, "AUTH: %.100s", c->errstr);
		return -1;
	}
	ok = r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0;
	if (!ok)
		snprintf(err, errlen, "AUTH: %.80s", r->type ==
		    REDIS_REPLY_ERROR ? r->str : "unexpected reply");
	freeReplyObject(r);
	return ok ? 0 : -1;
}

/* ROLE says master: a sentinel's answer may be stale during failover. */
int
redis_is_master(redisContext *c)
{
	redisReply *r;
	int ok;

	if ((r = redisCommand(c, "ROLE")) == NULL)
		return 0;
	ok = r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
	    r->element[0]->type == REDIS_REPLY_STRING &&
	    strcmp(r->element[0]->str, "master") == 0;
	freeReplyObject(r);
	return ok;
}

/* An error that says "not now" (loading, failing over), not "never". */
int
redis_transient(const char *e)
{
	static const char *const now[] = { "LOADING", "BUSY", "TRYAGAIN",
	    "CLUSTERDOWN", "MASTERDOWN", "READONLY" };
	size_t i;

	for (i = 0; i < sizeof(now) / sizeof(now[0]); i++)
		if (strncmp(e, now[i], strlen(now[i])) == 0)
			return 1;
	return 0;
}
