/*
 * sentinel.c -- ask Redis Sentinel where the master is.
 *
 * Each sentinel is asked in turn, as the Sentinel client guidelines say;
 * the first one that names the master wins.  The caller then checks with
 * ROLE that the address really is a master, since a sentinel's answer can
 * lag behind a failover.  Sentinels are asked without AUTH.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bsd/string.h>

#include "redis.h"
#include "sentinel.h"

/* [host, port] from SENTINEL get-master-addr-by-name. */
static int
master_reply(const redisReply *r, struct redis_addr *a)
{
	char *end;
	long port;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING ||
	    r->element[1]->type != REDIS_REPLY_STRING)
		return -1;
	port = strtol(r->element[1]->str, &end, 10);
	if (*end != '\0' || port < 1 || port > 65535 ||
	    strlcpy(a->host, r->element[0]->str, sizeof(a->host)) >=
	    sizeof(a->host))
		return -1;
	a->port = (int)port;
	a->ip[0] = '\0';
	return 0;
}

int
sentinel_master(const struct child_conf *conf, struct redis_addr *a,
    char *err, size_t errlen)
{
	const struct redis_addr *s;
	redisContext *c;
	redisReply *r;
	char why[128], name[REDIS_HOST_MAX + 8];
	int i, ok;

	snprintf(err, errlen, "no sentinel configured");
	for (i = 0; i < conf->nredis_sentinels; i++) {
		s = &conf->redis_sentinels[i];
		redis_addr_name(s, name, sizeof(name));
		if ((c = redis_dial(conf, s, why,
		    sizeof(why))) == NULL) {
			snprintf(err, errlen, "sentinel %s: %s", name, why);
			continue;
		}
		r = redisCommand(c, "SENTINEL get-master-addr-by-name %s",
		    conf->redis_master_name);
		ok = r != NULL && master_reply(r, a) == 0;
		if (!ok)
			snprintf(err, errlen, "sentinel %s: %s", name,
			    r == NULL ? c->errstr :
			    r->type == REDIS_REPLY_NIL ? "unknown master name" :
			    r->type == REDIS_REPLY_ERROR ? r->str :
			    "unexpected reply");
		if (r != NULL)
			freeReplyObject(r);
		redisFree(c);
		if (ok)
			return 0;
	}
	return -1;
}
