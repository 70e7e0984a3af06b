/*
 * subscriber.c -- the child's Redis side: find the server that carries
 * the channel, subscribe before the client is told 101, then hand each
 * published message to the poll loop as it is read.
 *
 * hiredis connects, authenticates and runs the few commands that come
 * before the subscription (PING, ROLE, CLUSTER SLOTS).  From SUBSCRIBE
 * on the child reads the socket itself: Redis then sends nothing but
 * pushes, which resp.c parses in place, so a message goes from the read
 * buffer to the client with no copy and no allocation.
 *
 * The connection is blocking, but the loop reads from it only after
 * poll(2) reported it readable, so a read never waits.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <bsd/string.h>
#include <hiredis/hiredis.h>

#include "clock.h"
#include "cluster.h"
#include "redis.h"
#include "resp.h"
#include "sentinel.h"
#include "subscriber.h"

#define BUF_SIZE	(64 * 1024)
#define BUF_MAX		(RESP_BULK_MAX + BUF_SIZE)
#define REDIRECTS_MAX	5

struct sub {
	redisContext		*ctx;
	struct redis_addr	 addr;		/* host "" for redis_socket */
	char			 node[REDIS_HOST_MAX + 16];
	int			 sharded;	/* SSUBSCRIBE, not SUBSCRIBE */
	char			*buf;		/* unparsed bytes: [start, end) */
	size_t			 cap, start, end;
	size_t			 need;		/* length of the reply at start */
	char			 err[128];
	/* How every message on our channel starts, up to the payload. */
	char			 prefix[CHANNEL_PREFIX_MAX + USER_NAME_MAX + 40];
	size_t			 prefix_len;
};

/*
 * A child reads one subscription at a time, so they share this buffer;
 * only a reply larger than it gets one of its own, freed afterwards.
 */
static char	shared_buf[BUF_SIZE];

/* AUTH [user] password; the reply, never the password, is reported. */
static int
auth(redisContext *c, const struct child_conf *conf, char *err,
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

static int
addr_eq(const struct redis_addr *a, const struct redis_addr *b)
{
	return a->port == b->port && strcmp(a->host, b->host) == 0;
}

/* Connect and authenticate to one data node (a is NULL: redis_socket). */
static struct sub *
sub_dial(const struct child_conf *conf, const struct redis_addr *a,
    char *err, size_t errlen)
{
	char why[160], name[sizeof(((struct sub *)0)->node)];
	struct sub *s = NULL;
	redisContext *c;

	why[0] = '\0';
	c = redis_dial(conf, a ? a->host : NULL, a ? a->port : 0, why,
	    sizeof(why));
	if (c != NULL && conf->redis_password[0] != '\0' &&
	    auth(c, conf, why, sizeof(why)) == -1) {
		redisFree(c);
		c = NULL;
	}
	if (c != NULL && (s = calloc(1, sizeof(*s))) == NULL) {
		redisFree(c);
		c = NULL;
		strlcpy(why, "out of memory", sizeof(why));
	}
	if (c == NULL) {
		if (a != NULL)
			redis_addr_name(a, name, sizeof(name));
		snprintf(err, errlen, "%s: %s", a ? name : conf->redis_socket,
		    why);
		return NULL;
	}
	s->ctx = c;
	if (a != NULL) {
		s->addr = *a;
		redis_addr_name(a, s->node, sizeof(s->node));
	} else
		strlcpy(s->node, conf->redis_socket, sizeof(s->node));
	s->buf = shared_buf;
	s->cap = sizeof(shared_buf);
	return s;
}

/* ROLE says master: a sentinel's answer may be stale during failover. */
static int
is_master(redisContext *c)
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

/* A cluster node, tried in turn: the seeds, then the nodes last seen. */
static const struct redis_addr *
cluster_candidate(const struct child_conf *conf, int i)
{
	if (i < conf->nredis_nodes)
		return &conf->redis_nodes[i];
	return cluster_map_node(i - conf->nredis_nodes);
}

static struct sub *
connect_cluster(const struct child_conf *conf, char *err, size_t errlen)
{
	struct redis_addr tried[2 * REDIS_NODES_MAX], a;
	const struct redis_addr *cand;
	redisReply *r;
	struct sub *s;
	int i, j, ntried = 0, ok;

	snprintf(err, errlen, "no cluster node answered");
	for (i = 0; ntried < (int)(sizeof(tried) / sizeof(tried[0])) &&
	    (cand = cluster_candidate(conf, i)) != NULL; i++) {
		for (j = 0; j < ntried && !addr_eq(&tried[j], cand); j++)
			;
		if (j < ntried)
			continue;
		a = tried[ntried++] = *cand;	/* the map may change below */
		if ((s = sub_dial(conf, &a, err, errlen)) == NULL)
			continue;
		if ((r = redisCommand(s->ctx, "CLUSTER SLOTS")) == NULL) {
			snprintf(err, errlen, "%s: CLUSTER SLOTS: %s", s->node,
			    s->ctx->errstr);
			sub_close(s, NULL);
			continue;
		}
		ok = cluster_map_load(r, &a) == 0;
		if (!ok)
			snprintf(err, errlen, "%s: CLUSTER SLOTS: %.80s",
			    s->node, r->type == REDIS_REPLY_ERROR ? r->str :
			    "unexpected reply");
		freeReplyObject(r);
		if (ok)
			return s;
		sub_close(s, NULL);
	}
	return NULL;
}

struct sub *
sub_connect(const struct child_conf *conf, char *err, size_t errlen)
{
	struct redis_addr a;
	struct sub *s;

	if (conf->redis_cluster)
		return connect_cluster(conf, err, errlen);
	if (conf->nredis_sentinels > 0) {
		if (sentinel_master(conf, &a, err, errlen) == -1 ||
		    (s = sub_dial(conf, &a, err, errlen)) == NULL)
			return NULL;
		if (!is_master(s->ctx)) {
			snprintf(err, errlen, "%s is not (or no longer) the "
			    "master", s->node);
			sub_close(s, NULL);
			return NULL;
		}
		return s;
	}
	if (conf->redis_socket[0] != '\0')
		return sub_dial(conf, NULL, err, errlen);
	strlcpy(a.host, conf->redis_host, sizeof(a.host));
	a.port = conf->redis_port;
	return sub_dial(conf, &a, err, errlen);
}

/* Write a command whole; the socket has the send timeout set. */
static int
command(struct sub *s, int argc, const char **argv)
{
	char *cmd;
	int len;
	ssize_t n;
	size_t off = 0;

	if ((len = redisFormatCommandArgv(&cmd, argc, argv, NULL)) < 0) {
		snprintf(s->err, sizeof(s->err), "out of memory");
		return -1;
	}
	while (off < (size_t)len) {
		n = send(s->ctx->fd, cmd + off, (size_t)len - off,
		    MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(s->err, sizeof(s->err), "write: %s",
			    strerror(errno));
			free(cmd);
			return -1;
		}
		off += (size_t)n;
	}
	free(cmd);
	return 0;
}

/*
 * Room to read into: move the unparsed rest to the front, and give a
 * reply larger than the buffer a buffer of its own.
 */
static int
make_room(struct sub *s)
{
	size_t used = s->end - s->start, want;
	char *nb;

	if (used == 0) {
		s->start = s->end = 0;
		if (s->buf != shared_buf) {	/* the large reply is gone */
			free(s->buf);
			s->buf = shared_buf;
			s->cap = sizeof(shared_buf);
		}
		return 0;
	}
	if (s->end < s->cap)
		return 0;
	if (s->start > 0) {
		memmove(s->buf, s->buf + s->start, used);
		s->start = 0;
		s->end = used;
		if (s->end < s->cap)
			return 0;
	}
	want = s->need > s->cap ? s->need : 2 * s->cap;
	if (want > BUF_MAX) {
		snprintf(s->err, sizeof(s->err), "reply larger than %lld bytes",
		    (long long)BUF_MAX);
		return -1;
	}
	if ((nb = malloc(want)) == NULL) {
		snprintf(s->err, sizeof(s->err), "out of memory");
		return -1;
	}
	memcpy(nb, s->buf, used);
	if (s->buf != shared_buf)
		free(s->buf);
	s->buf = nb;
	s->cap = want;
	return 0;
}

int
sub_read(struct sub *s)
{
	ssize_t n;

	if (make_room(s) == -1)
		return -1;
	n = recv(s->ctx->fd, s->buf + s->end, s->cap - s->end, MSG_DONTWAIT);
	if (n > 0) {
		s->end += (size_t)n;
		return 0;
	}
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return 0;
	snprintf(s->err, sizeof(s->err), "%s", n == 0 ?
	    "server closed the connection" : strerror(errno));
	return -1;
}

/* The next reply, waiting for it at most redis_connect_timeout. */
static int
await_reply(struct sub *s, const struct child_conf *conf,
    struct resp_reply *r)
{
	int64_t deadline = now_ms() + conf->redis_connect_timeout, left;
	struct pollfd pfd;
	ssize_t n;

	for (;;) {
		n = resp_parse(s->buf + s->start, s->end - s->start, r,
		    &s->need);
		if (n > 0) {
			s->start += (size_t)n;
			return 0;
		}
		if (n < 0) {
			snprintf(s->err, sizeof(s->err), "protocol error");
			return -1;
		}
		if ((left = deadline - now_ms()) <= 0) {
			snprintf(s->err, sizeof(s->err), "no reply within "
			    "%d ms", conf->redis_connect_timeout);
			return -1;
		}
		pfd.fd = s->ctx->fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, (int)left) == -1 && errno != EINTR) {
			snprintf(s->err, sizeof(s->err), "poll: %s",
			    strerror(errno));
			return -1;
		}
		if (pfd.revents && sub_read(s) == -1)
			return -1;
	}
}

/* Subscribed: remember what the channel's messages look like. */
static void
subscribed(struct sub *s, int sharded, const char *channel)
{
	int n;

	s->sharded = sharded;
	n = snprintf(s->prefix, sizeof(s->prefix), "*3\r\n$%d\r\n%s\r\n"
	    "$%zu\r\n%s\r\n", sharded ? 8 : 7, sharded ? "smessage" :
	    "message", strlen(channel), channel);
	s->prefix_len = n > 0 && (size_t)n < sizeof(s->prefix) ? (size_t)n : 0;
}

/* Send one command and wait for its reply, or for a push confirming it. */
static int
roundtrip(struct sub *s, const struct child_conf *conf, const char *cmd,
    const char *arg, struct resp_reply *r)
{
	const char *argv[2] = { cmd, arg };

	if (command(s, arg ? 2 : 1, argv) == -1)
		return -1;
	return await_reply(s, conf, r);
}

static void
reply_error(char *err, size_t errlen, const char *what,
    const struct sub *s, const struct resp_reply *r)
{
	if (r->type == '-')
		snprintf(err, errlen, "%s: %s: %.*s", s->node, what,
		    (int)(r->line_len > 100 ? 100 : r->line_len), r->line);
	else
		snprintf(err, errlen, "%s: %s: unexpected reply", s->node, what);
}

static int
fail(struct sub **sp, char *err, size_t errlen)
{
	if (*sp != NULL) {
		if (err[0] == '\0')
			snprintf(err, errlen, "%s: %s", (*sp)->node,
			    sub_error(*sp));
		sub_close(*sp, NULL);
		*sp = NULL;
	}
	return -1;
}

/*
 * SSUBSCRIBE on the node that owns the channel's slot, as the map says,
 * following -MOVED (the map was stale) and -ASK (the slot is being
 * migrated and the channel is served by the importing node).
 */
static int
subscribe_cluster(struct sub **sp, const struct child_conf *conf,
    const char *channel, char *err, size_t errlen)
{
	unsigned int slot = cluster_slot(channel, strlen(channel)), rslot = 0;
	const struct redis_addr *owner;
	struct redis_addr want, to;
	struct resp_reply r;
	int hop, asking = 0, kind;

	if (*sp == NULL && (*sp = sub_connect(conf, err, errlen)) == NULL)
		return -1;
	/* Unknown slot: ask the node at hand, follow MOVED. */
	owner = cluster_map_owner(slot);
	want = owner != NULL ? *owner : (*sp)->addr;
	for (hop = 0; hop <= REDIRECTS_MAX; hop++) {
		err[0] = '\0';
		if (!addr_eq(&(*sp)->addr, &want)) {
			sub_close(*sp, NULL);
			if ((*sp = sub_dial(conf, &want, err, errlen)) == NULL)
				return -1;
		}
		if (asking) {
			if (roundtrip(*sp, conf, "ASKING", NULL, &r) == -1)
				return fail(sp, err, errlen);
			if (r.type != '+') {
				reply_error(err, errlen, "ASKING", *sp, &r);
				return fail(sp, err, errlen);
			}
		}
		if (roundtrip(*sp, conf, "SSUBSCRIBE", channel, &r) == -1)
			return fail(sp, err, errlen);
		if (r.type == '*' && r.n >= 1 &&
		    resp_is(&r.e[0], "ssubscribe")) {
			subscribed(*sp, 1, channel);
			return 0;
		}
		kind = r.type == '-' ? cluster_redirect(r.line, r.line_len,
		    &rslot, &to) : 0;
		if (kind == 0 || rslot != slot) {
			reply_error(err, errlen, "SSUBSCRIBE", *sp, &r);
			return fail(sp, err, errlen);
		}
		if (to.host[0] == '\0')
			strlcpy(to.host, (*sp)->addr.host, sizeof(to.host));
		/* MOVED: the map was stale; ASK: this once, during migration. */
		if (kind == 1)
			cluster_map_set(slot, &to);
		want = to;
		asking = kind == 2;
	}
	snprintf(err, errlen, "SSUBSCRIBE %s: more than %d redirections",
	    channel, REDIRECTS_MAX);
	return fail(sp, err, errlen);
}

int
sub_subscribe(struct sub **sp, const struct child_conf *conf,
    const char *channel, char *err, size_t errlen)
{
	struct resp_reply r;

	err[0] = '\0';
	if (conf->redis_cluster)
		return subscribe_cluster(sp, conf, channel, err, errlen);
	if (*sp == NULL && (*sp = sub_connect(conf, err, errlen)) == NULL)
		return -1;
	if (roundtrip(*sp, conf, "SUBSCRIBE", channel, &r) == -1)
		return fail(sp, err, errlen);
	if (r.type == '*' && r.n >= 1 && resp_is(&r.e[0], "subscribe")) {
		subscribed(*sp, 0, channel);
		return 0;
	}
	reply_error(err, errlen, "SUBSCRIBE", *sp, &r);
	return fail(sp, err, errlen);
}

int
sub_ping(struct sub *s)
{
	redisReply *r;
	int ok;

	if ((r = redisCommand(s->ctx, "PING")) == NULL)
		return -1;
	ok = r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
	freeReplyObject(r);
	return ok ? 0 : -1;
}

int
sub_fd(const struct sub *s)
{
	return s->ctx->fd;
}

const char *
sub_error(const struct sub *s)
{
	if (s->err[0] != '\0')
		return s->err;
	return s->ctx->errstr[0] ? s->ctx->errstr : "EOF";
}

const char *
sub_node(const struct sub *s)
{
	return s->node;
}

int
sub_next(struct sub *s, const char **payload, size_t *len)
{
	struct resp_reply r;
	struct resp_elem e;
	const char *b;
	size_t avail;
	ssize_t n;

	for (;;) {
		b = s->buf + s->start;
		avail = s->end - s->start;
		/*
		 * The common case, a message on our channel: compare the known
		 * start at once and parse only the payload's length.
		 */
		if (s->prefix_len > 0 && avail > s->prefix_len &&
		    memcmp(b, s->prefix, s->prefix_len) == 0) {
			n = resp_bulk(b + s->prefix_len, avail - s->prefix_len,
			    &e, &s->need);
			if (n > 0 && e.type == '$') {
				s->start += s->prefix_len + (size_t)n;
				*payload = e.str;
				*len = e.len;
				return SUB_MESSAGE;
			}
			if (n == 0) {
				if (s->need != 0)
					s->need += s->prefix_len;
				return SUB_NONE;
			}
			/* a null or bad payload: the general parser decides */
		}
		n = resp_parse(b, avail, &r, &s->need);
		if (n == 0)
			return SUB_NONE;
		if (n < 0) {
			snprintf(s->err, sizeof(s->err), "protocol error");
			return SUB_ERROR;
		}
		s->start += (size_t)n;
		if (r.type == '-') {
			snprintf(s->err, sizeof(s->err), "%.*s",
			    (int)(r.line_len > 100 ? 100 : r.line_len), r.line);
			return SUB_ERROR;
		}
		if (r.type != '*' || r.n != 3)
			continue;	/* a PING's pong, say */
		if ((resp_is(&r.e[0], "message") ||
		    resp_is(&r.e[0], "smessage")) && r.e[2].type == '$') {
			*payload = r.e[2].str;
			*len = r.e[2].len;
			return SUB_MESSAGE;
		}
		/* Unasked: the slot moved away (or an admin's doing). */
		if (resp_is(&r.e[0], "sunsubscribe") ||
		    resp_is(&r.e[0], "unsubscribe"))
			return SUB_DROPPED;
		/* [s]subscribe confirmations */
	}
}

void
sub_close(struct sub *s, const char *channel)
{
	const char *argv[2];
	char *cmd;
	int len;

	if (s == NULL)
		return;
	/* Best effort, never waiting: Redis drops the rest at close anyway. */
	argv[0] = s->sharded ? "SUNSUBSCRIBE" : "UNSUBSCRIBE";
	argv[1] = channel;
	if (channel != NULL && channel[0] != '\0' && s->err[0] == '\0' &&
	    (len = redisFormatCommandArgv(&cmd, 2, argv, NULL)) > 0) {
		(void)send(s->ctx->fd, cmd, (size_t)len,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		free(cmd);
	}
	redisFree(s->ctx);
	if (s->buf != shared_buf)
		free(s->buf);
	free(s);
}
