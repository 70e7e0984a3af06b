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
 * With history on, the child also subscribes to the channel's history
 * channel (history.h), and asks wspubsub_since where the client resumes
 * in the same write as SUBSCRIBE: Redis runs the two back to back, so
 * the replay and the live messages meet without a hole.  Messages with
 * ids are then handed out in order, once: the replay first, a live one
 * already replayed is skipped, and one that shows a hole behind it
 * (SUB_HOLE) asks the caller to subscribe again from the last id.
 * While a slot migrates, the old owner takes SSUBSCRIBE but redirects
 * wspubsub_since once the stream has moved: the child then asks the
 * node named, and keeps listening where SPUBLISH is served.
 *
 * The connection is blocking, but the loop reads from it only after
 * poll(2) reported it readable, so a read never waits.
 */
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <bsd/string.h>
#include <hiredis/hiredis.h>

#include "../master/log.h"
#include "clock.h"
#include "cluster.h"
#include "history.h"
#include "redis.h"
#include "resp.h"
#include "sentinel.h"
#include "stats.h"
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
	int			 own_buf;	/* never shared_buf */
	size_t			 need;		/* length of the reply at start */
	char			 err[128];
	/* How every message on our channel starts, up to the payload. */
	char			 prefix[CHANNEL_PREFIX_MAX + USER_NAME_MAX + 40];
	size_t			 prefix_len;
	/* The same for the history channel; hname is that channel. */
	char			 hname[HISTORY_NAME_MAX];
	char			 hprefix[HISTORY_NAME_MAX + 40];
	size_t			 hprefix_len;
	int			 fcall;		/* asks wspubsub_since */
	int			 resume;	/* enum history_status, or -1 */
	char			*since_buf;	/* wspubsub_since's reply */
	size_t			 since_len;
	struct history_reply	 since;
	size_t			 replayed;	/* entries handed out */
	struct history_id	 last;		/* newest handed out */
	struct history_id	 replay_last;	/* newest once replayed */
	char			 last_str[HISTORY_ID_MAX + 1];
	char			 since_err[128];	/* its error reply */
	int			 since_moved;	/* it was -MOVED (1), -ASK (2) */
	struct redis_addr	 since_to;	/* to there */
};

/*
 * What this process found unusable (see history_off()): wspubsub_since
 * (no library, or an ACL), or the history channels themselves (an ACL).
 */
static int	since_off, channel_off;

/*
 * A child reads one subscription at a time, so they share this buffer;
 * only a reply larger than it gets one of its own, freed afterwards.
 */
static char	shared_buf[BUF_SIZE];

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
	c = redis_dial(conf, a, why,
	    sizeof(why));
	if (c != NULL && conf->redis_password[0] != '\0' &&
	    redis_auth(c, conf, why, sizeof(why)) == -1) {
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
		if (!redis_is_master(s->ctx)) {
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
	strlcpy(a.ip, conf->redis_host_ip, sizeof(a.ip));
	a.port = conf->redis_port;
	return sub_dial(conf, &a, err, errlen);
}

/* Write bytes whole; the socket has the send timeout set. */
static int
send_all(struct sub *s, const char *p, size_t len)
{
	ssize_t n;
	size_t off = 0;

	while (off < len) {
		n = send(s->ctx->fd, p + off, len - off, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(s->err, sizeof(s->err), "write: %s",
			    strerror(errno));
			return -1;
		}
		off += (size_t)n;
	}
	return 0;
}

/*
 * Append a command to *buf (*len bytes so far); NULL argv entries end
 * it early.  0, or -1 out of memory.
 */
static int
append_command(struct sub *s, char **buf, size_t *len, int argc,
    const char **argv)
{
	char *cmd, *nb;
	int n;

	while (argc > 0 && argv[argc - 1] == NULL)
		argc--;
	if ((n = redisFormatCommandArgv(&cmd, argc, argv, NULL)) < 0 ||
	    (nb = realloc(*buf, *len + (size_t)n)) == NULL) {
		if (n >= 0)
			free(cmd);
		snprintf(s->err, sizeof(s->err), "out of memory");
		return -1;
	}
	memcpy(nb + *len, cmd, (size_t)n);
	free(cmd);
	*buf = nb;
	*len += (size_t)n;
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
		/* The large reply is gone (a buffer of its own stays). */
		if (s->buf != shared_buf && !s->own_buf) {
			explicit_bzero(s->buf, s->cap);
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
	if (s->buf != shared_buf) {
		explicit_bzero(s->buf, s->cap);
		free(s->buf);
	}
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

/* Wait for more of a reply, until deadline: 0, or -1. */
static int
read_more(struct sub *s, const struct child_conf *conf, int64_t deadline)
{
	struct pollfd pfd;
	int64_t left;

	if ((left = deadline - now_ms()) <= 0) {
		snprintf(s->err, sizeof(s->err), "no reply within %d ms",
		    conf->redis_connect_timeout);
		return -1;
	}
	pfd.fd = s->ctx->fd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, (int)left) == -1 && errno != EINTR) {
		snprintf(s->err, sizeof(s->err), "poll: %s", strerror(errno));
		return -1;
	}
	if (pfd.revents && sub_read(s) == -1)
		return -1;
	return 0;
}

/* The next reply, waiting for it at most redis_connect_timeout. */
static int
await_reply(struct sub *s, const struct child_conf *conf,
    struct resp_reply *r)
{
	int64_t deadline = now_ms() + conf->redis_connect_timeout;
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
		if (read_more(s, conf, deadline) == -1)
			return -1;
	}
}

/* How a message on channel starts, up to its payload; 0 if too long. */
static size_t
message_prefix(char *out, size_t size, int sharded, const char *channel)
{
	int n;

	n = snprintf(out, size, "*3\r\n$%d\r\n%s\r\n$%zu\r\n%s\r\n",
	    sharded ? 8 : 7, sharded ? "smessage" : "message",
	    strlen(channel), channel);
	return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

/* Subscribed: remember what the channels' messages look like. */
static void
subscribed(struct sub *s, int sharded, const char *channel)
{
	s->sharded = sharded;
	s->prefix_len = message_prefix(s->prefix, sizeof(s->prefix), sharded,
	    channel);
	s->hprefix_len = s->hname[0] == '\0' ? 0 : message_prefix(s->hprefix,
	    sizeof(s->hprefix), sharded, s->hname);
}

/*
 * Write [ASKING] FCALL_RO wspubsub_since, then [ASKING] (S)SUBSCRIBE to
 * the channel and its history channel, in one write; without history
 * just the subscription, without subscribe just wspubsub_since.
 */
static int
send_subscribe(struct sub *s, const struct child_conf *conf,
    const char *subscribe, const char *channel, int asking)
{
	const char *ask[1] = { "ASKING" };
	const char *fcall[6] = { "FCALL_RO", "wspubsub_since", "1", channel,
	    s->last_str, NULL };
	const char *sub[3] = { subscribe, channel, NULL };
	char max[16], *buf = NULL;
	size_t len = 0;
	int rc = 0;

	if (s->fcall) {
		snprintf(max, sizeof(max), "%d", conf->history_replay_max);
		fcall[5] = max;
		if (asking)
			rc |= append_command(s, &buf, &len, 1, ask);
		rc |= append_command(s, &buf, &len, 6, fcall);
	}
	if (s->hname[0] != '\0')
		sub[2] = s->hname;
	if (subscribe != NULL) {
		if (asking)
			rc |= append_command(s, &buf, &len, 1, ask);
		rc |= append_command(s, &buf, &len, 3, sub);
	}
	if (rc == 0)
		rc = send_all(s, buf, len);
	free(buf);
	return rc;
}

/*
 * Read wspubsub_since's reply, waiting at most redis_connect_timeout,
 * and keep a copy for sub_next().  An error reply is kept in since_err
 * (the subscription may still stand).  0, or -1 on a broken connection.
 */
static int
read_since(struct sub *s, const struct child_conf *conf)
{
	int64_t deadline = now_ms() + conf->redis_connect_timeout;
	unsigned int slot;
	ssize_t n;

	for (;;) {
		n = history_reply_parse(s->buf + s->start, s->end - s->start,
		    &s->since, &s->need);
		if (n > 0)
			break;
		if (n < 0) {
			snprintf(s->err, sizeof(s->err), "wspubsub_since: "
			    "not its reply");
			return -1;
		}
		if (read_more(s, conf, deadline) == -1)
			return -1;
	}
	if (s->since.error != NULL) {
		snprintf(s->since_err, sizeof(s->since_err), "%.*s",
		    (int)(s->since.error_len > 100 ? 100 :
		    s->since.error_len), s->since.error);
		s->since_moved = cluster_redirect(s->since.error,
		    s->since.error_len, &slot, &s->since_to);
		if (s->since_moved && s->since_to.host[0] == '\0') {
			strlcpy(s->since_to.host, s->addr.host,
			    sizeof(s->since_to.host));
			strlcpy(s->since_to.ip, s->addr.ip,
			    sizeof(s->since_to.ip));
		}
		s->start += (size_t)n;
		return 0;
	}
	/* The entries point into the read buffer: move them to a copy. */
	history_reply_free(&s->since);
	if ((s->since_buf = malloc((size_t)n)) == NULL) {
		snprintf(s->err, sizeof(s->err), "out of memory");
		return -1;
	}
	memcpy(s->since_buf, s->buf + s->start, (size_t)n);
	s->since_len = (size_t)n;
	s->start += (size_t)n;
	if (history_reply_parse(s->since_buf, (size_t)n, &s->since,
	    &s->need) != n) {
		snprintf(s->err, sizeof(s->err), "out of memory");
		return -1;
	}
	s->need = 0;
	s->resume = (int)s->since.status;
	/*
	 * Live messages up to the newest are in the replay (or lost): the
	 * newest is the last handed out once the replay is.
	 */
	if (s->since.newest.set) {
		if (s->since.n == 0)
			s->last = s->since.newest;
		else
			s->replay_last = s->since.newest;
	}
	return 0;
}

/* The reply to ASKING. */
static int
asked(struct sub *s, const struct child_conf *conf)
{
	struct resp_reply r;

	if (await_reply(s, conf, &r) == -1)
		return -1;
	if (r.type != '+') {
		snprintf(s->err, sizeof(s->err), "ASKING: unexpected reply");
		return -1;
	}
	return 0;
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
 * Drop the replay.  Its payloads are wiped first: a reused child's next
 * client is given this heap.
 */
static void
since_free(struct sub *s)
{
	history_reply_free(&s->since);
	if (s->since_buf != NULL) {
		explicit_bzero(s->since_buf, s->since_len);
		free(s->since_buf);
		s->since_buf = NULL;
	}
}

/* Before (re)sending a subscription on s: what to resume from. */
static void
prepare(struct sub *s, const char *hname, const struct history_id *from)
{
	strlcpy(s->hname, hname ? hname : "", sizeof(s->hname));
	s->fcall = hname != NULL && !since_off;
	memset(&s->last, 0, sizeof(s->last));
	memset(&s->replay_last, 0, sizeof(s->replay_last));
	s->last_str[0] = '\0';
	/* Without wspubsub_since no order can be checked: none is kept. */
	if (s->fcall && from != NULL && from->set) {
		s->last = *from;
		(void)history_id_format(from, s->last_str,
		    sizeof(s->last_str));
	}
	s->resume = -1;
	s->since_err[0] = '\0';
	s->since_moved = 0;
	since_free(s);
	s->replayed = 0;
}

/*
 * The rest of a (s)subscribe confirmation: the history channel's, when
 * there is one.  The channel's own is r.
 */
static int
confirmed(struct sub *s, const struct child_conf *conf, const char *kind,
    const struct resp_reply *r, char *err, size_t errlen)
{
	struct resp_reply r2;

	if (!(r->type == '*' && r->n >= 1 && resp_is(&r->e[0], kind)))
		return -1;
	if (s->hname[0] == '\0')
		return 0;
	if (await_reply(s, conf, &r2) == -1)
		return -1;
	if (r2.type == '*' && r2.n >= 1 && resp_is(&r2.e[0], kind))
		return 0;
	reply_error(err, errlen, kind, s, &r2);
	return -1;
}

/*
 * The subscription stands but wspubsub_since was redirected: the slot is
 * migrating, and its old owner serves SSUBSCRIBE (and SPUBLISH) until
 * the end but no longer holds the stream.  Ask the node named, on a
 * connection and a buffer of its own (s may hold unread messages), and
 * take its answer as s's own.  What the function publishes there comes
 * in the replay once the migration ends the subscription.
 */
static int
since_elsewhere(struct sub *s, const struct child_conf *conf,
    const char *channel, char *err, size_t errlen)
{
	struct sub *t;
	int asking = s->since_moved == 2, rc = -1;

	if ((t = sub_dial(conf, &s->since_to, err, errlen)) == NULL)
		return -1;
	if ((t->buf = malloc(BUF_SIZE)) == NULL) {
		t->buf = shared_buf;
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	t->cap = BUF_SIZE;
	t->own_buf = 1;
	prepare(t, s->hname, &s->last);
	if (send_subscribe(t, conf, NULL, channel, asking) == -1 ||
	    (asking && asked(t, conf) == -1) || read_since(t, conf) == -1) {
		snprintf(err, errlen, "%s: wspubsub_since: %s", t->node,
		    sub_error(t));
		goto done;
	}
	if (t->since_moved) {
		snprintf(err, errlen, "%s: wspubsub_since: %s", t->node,
		    t->since_err);
		goto done;
	}
	/* Another error is s's to report, as if s had got it. */
	strlcpy(s->since_err, t->since_err, sizeof(s->since_err));
	s->since_moved = 0;
	rc = 0;
	if (s->since_err[0] != '\0')
		goto done;
	s->since = t->since;
	s->since_buf = t->since_buf;
	s->resume = t->resume;
	s->last = t->last;
	s->replay_last = t->replay_last;
	strlcpy(s->last_str, t->last_str, sizeof(s->last_str));
	memset(&t->since, 0, sizeof(t->since));
	t->since_buf = NULL;
done:
	sub_close(t, NULL);
	return rc;
}

/*
 * SSUBSCRIBE on the node that owns the channel's slot, as the map says,
 * following -MOVED (the map was stale) and -ASK (the slot is being
 * migrated and the channel is served by the importing node).  The
 * history channel and stream share the slot.
 */
static int
subscribe_cluster(struct sub **sp, const struct child_conf *conf,
    const char *channel, const char *hname, const struct history_id *from,
    char *err, size_t errlen)
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
		prepare(*sp, hname, from);
		if (send_subscribe(*sp, conf, "SSUBSCRIBE", channel,
		    asking) == -1 ||
		    ((*sp)->fcall && asking && asked(*sp, conf) == -1) ||
		    ((*sp)->fcall && read_since(*sp, conf) == -1) ||
		    (asking && asked(*sp, conf) == -1) ||
		    await_reply(*sp, conf, &r) == -1)
			return fail(sp, err, errlen);
		if (confirmed(*sp, conf, "ssubscribe", &r, err, errlen) == 0) {
			subscribed(*sp, 1, channel);
			if ((*sp)->since_moved && since_elsewhere(*sp, conf,
			    channel, err, errlen) == -1)
				return fail(sp, err, errlen);
			return 0;
		}
		if (err[0] != '\0')
			return fail(sp, err, errlen);
		kind = r.type == '-' ? cluster_redirect(r.line, r.line_len,
		    &rslot, &to) : 0;
		if (kind == 0 || rslot != slot) {
			reply_error(err, errlen, "SSUBSCRIBE", *sp, &r);
			return fail(sp, err, errlen);
		}
		if (to.host[0] == '\0') {
			strlcpy(to.host, (*sp)->addr.host, sizeof(to.host));
			strlcpy(to.ip, (*sp)->addr.ip, sizeof(to.ip));
		}
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

static int
subscribe(struct sub **sp, const struct child_conf *conf,
    const char *channel, const char *hname, const struct history_id *from,
    char *err, size_t errlen)
{
	struct resp_reply r;

	err[0] = '\0';
	if (conf->redis_cluster)
		return subscribe_cluster(sp, conf, channel, hname, from, err,
		    errlen);
	if (*sp == NULL && (*sp = sub_connect(conf, err, errlen)) == NULL)
		return -1;
	prepare(*sp, hname, from);
	if (send_subscribe(*sp, conf, "SUBSCRIBE", channel, 0) == -1 ||
	    ((*sp)->fcall && read_since(*sp, conf) == -1) ||
	    await_reply(*sp, conf, &r) == -1)
		return fail(sp, err, errlen);
	if (confirmed(*sp, conf, "subscribe", &r, err, errlen) == 0) {
		subscribed(*sp, 0, channel);
		return 0;
	}
	if (err[0] == '\0')
		reply_error(err, errlen, "SUBSCRIBE", *sp, &r);
	return fail(sp, err, errlen);
}

/*
 * Part of history is off in this process from now on (*flag: since_off,
 * or channel_off): say why, once for all the children (until a reload).
 * Without wspubsub_since, messages with ids still arrive, without
 * replay; without the history channel, they do not.
 */
static void
history_off(int *flag, const char *why)
{
	if (*flag)
		return;
	*flag = 1;
	if (!stats_history_warn_first()) {
		log_debug("history unavailable: %s", why);
		return;
	}
	log_warnx("history unavailable: %s; if the library is missing, "
	    "load it: redis-cli -x FUNCTION LOAD REPLACE < "
	    "contrib/redis/wspubsub.lua; if an ACL refuses the history "
	    "channels, allow &{PREFIX* too", why);
}

int
sub_subscribe(struct sub **sp, const struct child_conf *conf,
    const char *channel, const struct history_id *from, char *err,
    size_t errlen)
{
	char hname[HISTORY_NAME_MAX], why[256];
	struct sub *loader;
	int use, loaded;

	use = conf->history && !channel_off &&
	    history_name(channel, hname, sizeof(hname)) == 0;
	if (subscribe(sp, conf, channel, use ? hname : NULL, from, err,
	    errlen) == -1) {
		/* An ACL that allows the user's channel but not its history. */
		if (!use || strstr(err, "NOPERM") == NULL)
			return -1;
		history_off(&channel_off, err);
		return subscribe(sp, conf, channel, NULL, from, err, errlen);
	}
	if (!use || (*sp)->since_err[0] == '\0')
		return 0;
	if (redis_transient((*sp)->since_err)) {
		/* Redis is starting or failing over: try again later. */
		snprintf(err, errlen, "%s: wspubsub_since: %s", (*sp)->node,
		    (*sp)->since_err);
		sub_close(*sp, NULL);
		*sp = NULL;
		return -1;
	}
	memset(&(*sp)->last, 0, sizeof((*sp)->last));	/* nothing to go by */
	if (strncmp((*sp)->since_err, "ERR Function not found", 22) != 0) {
		history_off(&since_off, (*sp)->since_err);
		return 0;
	}
	/*
	 * Redis lost the library (a restart without its data): load it on
	 * a connection of its own (on every master of a cluster), then
	 * subscribe again for the replay.
	 */
	if (conf->redis_cluster) {
		if (sub_install_library(conf) == -1) {
			history_off(&since_off, "the library could not be "
			    "loaded on every cluster master");
			return 0;
		}
	} else if ((loader = sub_connect(conf, why, sizeof(why))) == NULL ||
	    sub_load_library(loader, &loaded, why, sizeof(why)) == -1) {
		sub_close(loader, NULL);
		history_off(&since_off, why);
		return 0;
	} else
		sub_close(loader, NULL);
	sub_close(*sp, NULL);
	*sp = NULL;
	return subscribe(sp, conf, channel, hname, from, err, errlen);
}

int
sub_load_library(struct sub *s, int *loaded, char *err, size_t errlen)
{
	redisReply *r;
	int ok;

	*loaded = 0;
	r = redisCommand(s->ctx, "FCALL_RO wspubsub_version 0");
	if (r == NULL) {
		snprintf(err, errlen, "%s: %s", s->node, s->ctx->errstr);
		return -1;
	}
	ok = r->type == REDIS_REPLY_INTEGER &&
	    r->integer >= history_library_version;
	freeReplyObject(r);
	if (ok)
		return 0;
	r = redisCommand(s->ctx, "FUNCTION LOAD REPLACE %b", history_library,
	    history_library_len);
	if (r == NULL) {
		snprintf(err, errlen, "%s: %s", s->node, s->ctx->errstr);
		return -1;
	}
	ok = r->type == REDIS_REPLY_STRING && strcmp(r->str, "wspubsub") == 0;
	if (!ok)
		snprintf(err, errlen, "%s: FUNCTION LOAD: %.100s", s->node,
		    r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
	freeReplyObject(r);
	if (!ok)
		return -1;
	*loaded = 1;
	log_info("%s: loaded the wspubsub library (version %d) into Redis",
	    s->node, history_library_version);
	return 0;
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
sub_resume(const struct sub *s)
{
	return s->resume;
}

size_t
sub_replay_size(const struct sub *s)
{
	return s->since.n;
}

const struct history_id *
sub_last(const struct sub *s)
{
	return &s->last;
}

/* The next entry of the replay, if any is left. */
static int
next_replayed(struct sub *s, const char **payload, size_t *len,
    const char **id)
{
	const struct history_entry *e;

	if (s->replayed >= s->since.n) {
		if (s->since_buf != NULL) {
			since_free(s);
			s->replayed = 0;
		}
		return SUB_NONE;
	}
	e = &s->since.e[s->replayed++];
	*payload = e->payload;
	*len = e->len;
	s->last = s->replayed == s->since.n && s->replay_last.set ?
	    s->replay_last : e->id;
	(void)history_id_format(&e->id, s->last_str, sizeof(s->last_str));
	*id = s->last_str;
	return SUB_HISTORY;
}

/*
 * A live message on the history channel: SUB_HISTORY when it is next in
 * line, SUB_NONE when it was handed out already (replayed) or is not one
 * of the library's (someone's PUBLISH there: dropped, as it has no id),
 * SUB_HOLE when one before it is missing.
 */
static int
live_history(struct sub *s, const char *p, size_t plen,
    const char **payload, size_t *len, const char **id)
{
	struct history_id m;

	if (history_message(p, plen, &m, payload, len) == -1) {
		log_debug("%s: dropped a message without an id", s->hname);
		return SUB_NONE;
	}
	if (s->last.set) {
		switch (history_order(&s->last, &m)) {
		case 1:
			return SUB_NONE;
		case -1:
			return SUB_HOLE;
		}
	}
	s->last = m;
	(void)history_id_format(&m, s->last_str, sizeof(s->last_str));
	*id = s->last_str;
	return SUB_HISTORY;
}

int
sub_next(struct sub *s, const char **payload, size_t *len, const char **id)
{
	struct resp_reply r;
	struct resp_elem e;
	const char *b;
	size_t avail;
	ssize_t n;
	int k;

	*id = NULL;
	if (s->since_buf != NULL &&
	    (k = next_replayed(s, payload, len, id)) != SUB_NONE)
		return k;
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
			if (s->hname[0] != '\0' &&
			    resp_is(&r.e[1], s->hname)) {
				k = live_history(s, r.e[2].str, r.e[2].len,
				    payload, len, id);
				if (k == SUB_NONE)
					continue;	/* replayed, or not ours */
				return k;
			}
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

/*
 * Forget the subscription, keeping the connection: clear what held the
 * client's messages and reset the rest to what sub_dial() gives.
 */
static void
sub_wipe(struct sub *s)
{
	explicit_bzero(shared_buf, sizeof(shared_buf));
	if (s->buf != shared_buf) {
		explicit_bzero(s->buf, s->cap);
		free(s->buf);
	}
	since_free(s);
	memset((char *)s + offsetof(struct sub, sharded), 0,
	    sizeof(*s) - offsetof(struct sub, sharded));
	s->buf = shared_buf;
	s->cap = sizeof(shared_buf);
}

void
sub_close(struct sub *s, const char *channel)
{
	const char *argv[3];
	char *cmd;
	int len;

	if (s == NULL)
		return;
	/* Best effort, never waiting: Redis drops the rest at close anyway. */
	argv[0] = s->sharded ? "SUNSUBSCRIBE" : "UNSUBSCRIBE";
	argv[1] = channel;
	argv[2] = s->hname;
	if (channel != NULL && channel[0] != '\0' && s->err[0] == '\0' &&
	    (len = redisFormatCommandArgv(&cmd, s->hname[0] ? 3 : 2, argv,
	    NULL)) > 0) {
		(void)send(s->ctx->fd, cmd, (size_t)len,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		free(cmd);
	}
	redisFree(s->ctx);
	if (s->buf != shared_buf) {
		explicit_bzero(s->buf, s->cap);
		free(s->buf);
	}
	since_free(s);
	free(s);
}

/*
 * Replies sub_release() reads at most before the last confirmation: more
 * than Redis' pubsub output limit (32 MiB) can hold.
 */
#define RELEASE_REPLIES_MAX	1000000

/*
 * Leave the channels and make the connection as good as a fresh one:
 * UNSUBSCRIBE and PING in one write; read until Redis says no channel is
 * left (messages still on the way are dropped unread), then the PING's
 * +PONG, which comes only out of subscribe mode and only while still
 * authenticated.  Nothing may be left to read.  Then every byte of the
 * client's messages is wiped and the subscription's state reset, as
 * sub_dial left it.
 */
int
sub_release(struct sub **sp, const struct child_conf *conf,
    const char *channel)
{
	const char *unsub[3], *ping[1] = { "PING" };
	struct sub *s = *sp;
	struct resp_reply r;
	char *buf = NULL;
	size_t len = 0;
	int i, rc = 0, subscribed;

	if (s == NULL)
		return -1;
	if (s->err[0] != '\0' || s->ctx->err != 0)
		goto bad;
	subscribed = channel != NULL && channel[0] != '\0';
	if (subscribed) {
		unsub[0] = s->sharded ? "SUNSUBSCRIBE" : "UNSUBSCRIBE";
		unsub[1] = channel;
		unsub[2] = s->hname[0] ? s->hname : NULL;
		rc |= append_command(s, &buf, &len, 3, unsub);
	}
	rc |= append_command(s, &buf, &len, 1, ping);
	if (rc == 0)
		rc = send_all(s, buf, len);
	free(buf);
	if (rc != 0)
		goto bad;
	if (subscribed) {
		for (i = 0; i < RELEASE_REPLIES_MAX; i++) {
			if (await_reply(s, conf, &r) == -1 || r.type == '-')
				goto bad;
			if (r.type == '*' && r.n == 3 &&
			    (resp_is(&r.e[0], "unsubscribe") ||
			    resp_is(&r.e[0], "sunsubscribe")) &&
			    r.e[2].type == ':' && r.e[2].num == 0)
				break;
		}
		if (i == RELEASE_REPLIES_MAX)
			goto bad;
	}
	if (await_reply(s, conf, &r) == -1 || r.type != '+' ||
	    r.line_len != 4 || memcmp(r.line, "PONG", 4) != 0 ||
	    s->start != s->end)
		goto bad;
	sub_wipe(s);
	return 0;
bad:
	log_debug("%s: connection not kept: %s", s->node,
	    s->err[0] ? s->err : "unexpected reply");
	sub_close(s, NULL);
	*sp = NULL;
	return -1;
}

/* Load the library into one server; says what it did in the log. */
static int
install_one(struct sub *s)
{
	char err[256];
	int loaded;

	if (sub_load_library(s, &loaded, err, sizeof(err)) == -1) {
		log_warnx("history: %s; history is off until the library is "
		    "loaded: redis-cli -h HOST -p PORT -x FUNCTION LOAD "
		    "REPLACE < contrib/redis/wspubsub.lua", err);
		return -1;
	}
	if (!loaded)
		log_info("history: %s has the wspubsub library (version %d "
		    "or later)", s->node, history_library_version);
	return 0;
}

int
sub_install_library(const struct child_conf *conf)
{
	const struct redis_addr *owner, *done[CLUSTER_NODES_MAX];
	char err[256];
	struct sub *s;
	unsigned int slot;
	int i, ndone = 0, rc = 0;

	if ((s = sub_connect(conf, err, sizeof(err))) == NULL) {
		log_warnx("history: cannot load the library now: %s", err);
		return -1;
	}
	if (!conf->redis_cluster) {
		rc = install_one(s);
		sub_close(s, NULL);
		return rc;
	}
	sub_close(s, NULL);
	/* Every master: the owners of the slots, each once. */
	for (slot = 0; slot < CLUSTER_SLOTS; slot++) {
		if ((owner = cluster_map_owner(slot)) == NULL)
			continue;
		for (i = 0; i < ndone && !addr_eq(done[i], owner); i++)
			;
		if (i < ndone || ndone == CLUSTER_NODES_MAX)
			continue;
		done[ndone++] = owner;
		if ((s = sub_dial(conf, owner, err, sizeof(err))) == NULL) {
			log_warnx("history: cannot load the library: %s", err);
			rc = -1;
			continue;
		}
		if (install_one(s) == -1)
			rc = -1;
		sub_close(s, NULL);
	}
	return rc;
}
