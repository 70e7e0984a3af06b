/*
 * upstream.c -- append what a client sends to a Redis Stream, on a
 * connection of its own opened when first needed (upstream.h).
 *
 * hiredis connects and authenticates (as for the subscriber); from then
 * on the child writes the XADDs itself, without blocking, and reads the
 * replies after poll(2), parsing them with resp.c.  It makes no call the
 * child does not make already (send, recv, poll, and connect to the
 * address the configuration or a sentinel names), so it runs in the
 * child's sandbox.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <bsd/string.h>

#include "../master/log.h"
#include "clock.h"
#include "cluster.h"
#include "redis.h"
#include "resp.h"
#include "sentinel.h"
#include "stats.h"
#include "upstream.h"

#define Q_KEEP		(64 * 1024)	/* free a larger queue once empty */
#define BACKOFF_MIN	50		/* ms, doubling up to BACKOFF_MAX */
#define BACKOFF_MAX	1000
#define ARGS_MAX	16
#define REDIRECTS_MAX	5		/* -MOVED in a row, then back off */

/*
 * u is zero (static, or wiped by upstream_close): not written here, so
 * that a client that never sends leaves its pages untouched.
 */
void
upstream_init(struct upstream *u, const struct child_conf *conf)
{
	u->conf = conf;
}

const char *
upstream_error(const struct upstream *u)
{
	return u->err[0] ? u->err : "unknown error";
}

int
upstream_pending(const struct upstream *u)
{
	return u->count;
}

int
upstream_full(const struct upstream *u)
{
	return u->count >= UPSTREAM_WINDOW || (u->count > 0 &&
	    u->qlen - u->qack >= UPSTREAM_WINDOW_BYTES);
}

ssize_t
upstream_reply(const char *buf, size_t len, char *type, const char **text,
    size_t *textlen)
{
	struct resp_reply r;
	struct resp_elem e;
	size_t need;
	ssize_t n;

	if (len == 0)
		return 0;
	if (buf[0] == '$') {
		if ((n = resp_bulk(buf, len, &e, &need)) <= 0)
			return n;
		if (e.type != '$')
			return -1;	/* a null reply: not an XADD's */
		*type = '$';
		*text = e.str;
		*textlen = e.len;
		return n;
	}
	if (buf[0] != '-' && buf[0] != '+')
		return -1;
	if ((n = resp_parse(buf, len, &r, &need)) <= 0)
		return n;
	*type = r.type;
	*text = r.line;
	*textlen = r.line_len;
	return n;
}

/* Room for n more bytes of commands: 0, or -1 out of memory. */
static int
q_room(struct upstream *u, size_t n)
{
	size_t cap;
	char *nq;

	if (u->qack > 0 && u->qlen + n > u->qcap) {
		memmove(u->q, u->q + u->qack, u->qlen - u->qack);
		u->qlen -= u->qack;
		u->qsent -= u->qack;
		u->qack = 0;
	}
	if (u->qlen + n <= u->qcap)
		return 0;
	cap = u->qcap ? u->qcap : 4096;
	while (cap < u->qlen + n)
		cap *= 2;
	/* Not realloc: the old bytes are a client's, wiped before free. */
	if ((nq = malloc(cap)) == NULL)
		return -1;
	if (u->q != NULL) {
		memcpy(nq, u->q, u->qlen);
		explicit_bzero(u->q, u->qcap);
		free(u->q);
	}
	u->q = nq;
	u->qcap = cap;
	return 0;
}

static void
q_put(struct upstream *u, const void *p, size_t n)
{
	memcpy(u->q + u->qlen, p, n);
	u->qlen += n;
}

/* Append one command in RESP (argv with lengths) to the queue. */
static int
q_command(struct upstream *u, int argc, const char **argv,
    const size_t *lens, size_t payload, int event)
{
	char num[32];
	size_t total;
	int i, n, slot;

	if (u->failed || u->count == UPSTREAM_WINDOW)
		return -1;
	total = 16;
	for (i = 0; i < argc; i++)
		total += 16 + lens[i];
	if (q_room(u, total) == -1) {
		strlcpy(u->err, "out of memory", sizeof(u->err));
		return -1;
	}
	total = u->qlen;
	n = snprintf(num, sizeof(num), "*%d\r\n", argc);
	q_put(u, num, (size_t)n);
	for (i = 0; i < argc; i++) {
		n = snprintf(num, sizeof(num), "$%zu\r\n", lens[i]);
		q_put(u, num, (size_t)n);
		q_put(u, argv[i], lens[i]);
		q_put(u, "\r\n", 2);
	}
	slot = (u->head + u->count) % UPSTREAM_WINDOW;
	u->size[slot] = u->qlen - total;
	u->bytes[slot] = payload;
	u->event[slot] = event;
	u->count++;
	return 0;
}

/* Wipe and free what was queued, once all of it is answered. */
static void
q_reset(struct upstream *u)
{
	if (u->q != NULL)
		explicit_bzero(u->q, u->qlen);
	u->qack = u->qsent = u->qlen = 0;
	if (u->qcap > Q_KEEP) {
		free(u->q);
		u->q = NULL;
		u->qcap = 0;
	}
}

static void
disconnect(struct upstream *u)
{
	if (u->ctx != NULL)
		redisFree(u->ctx);
	u->ctx = NULL;
	u->inlen = 0;
	u->qsent = u->qack;	/* the unanswered go again */
}

/*
 * Connect and authenticate to a (NULL: redis_socket), and with Sentinel
 * check that it is the master.  NULL with the reason in why.
 */
static redisContext *
connect_to(const struct child_conf *conf, const struct redis_addr *a,
    char *why, size_t whylen)
{
	redisContext *c;

	c = redis_dial(conf, a, why, whylen);
	if (c != NULL && conf->redis_password[0] != '\0' &&
	    redis_auth(c, conf, why, whylen) == -1) {
		redisFree(c);
		c = NULL;
	}
	if (c != NULL && conf->nredis_sentinels > 0 && !redis_is_master(c)) {
		snprintf(why, whylen, "not (or no longer) the master");
		redisFree(c);
		c = NULL;
	}
	return c;
}

/*
 * The slot map, from the first seed that gives it (the owner the map
 * named did not answer: a failover, say).  0, or -1 with why set.
 */
static int
refresh_map(const struct child_conf *conf, char *why, size_t whylen)
{
	redisContext *c;
	redisReply *r;
	int i, ok;

	for (i = 0; i < conf->nredis_nodes; i++) {
		if ((c = connect_to(conf, &conf->redis_nodes[i], why,
		    whylen)) == NULL)
			continue;
		r = redisCommand(c, "CLUSTER SLOTS");
		ok = r != NULL && cluster_map_load(r, &conf->redis_nodes[i]) ==
		    0;
		if (!ok)
			snprintf(why, whylen, "CLUSTER SLOTS: %s", r == NULL ?
			    c->errstr : "unexpected reply");
		freeReplyObject(r);
		redisFree(c);
		if (ok)
			return 0;
	}
	return -1;
}

/*
 * Connect to where the stream's key lives: the server, the master the
 * sentinels name, or the cluster node that owns its slot.  0, or -1
 * with u->err set.
 */
static int
dial(struct upstream *u)
{
	const struct child_conf *conf = u->conf;
	const struct redis_addr *owner;
	struct redis_addr a;
	char why[200];
	redisContext *c = NULL;
	unsigned int slot;

	why[0] = '\0';
	memset(&a, 0, sizeof(a));
	if (conf->redis_cluster) {
		slot = cluster_slot(conf->upstream_stream,
		    strlen(conf->upstream_stream));
		if ((owner = cluster_map_owner(slot)) != NULL) {
			a = *owner;
			c = connect_to(conf, &a, why, sizeof(why));
		}
		if (c == NULL && refresh_map(conf, why, sizeof(why)) == 0 &&
		    (owner = cluster_map_owner(slot)) != NULL) {
			a = *owner;
			c = connect_to(conf, &a, why, sizeof(why));
		}
		if (owner == NULL)
			a = conf->redis_nodes[0];
	} else if (conf->nredis_sentinels > 0) {
		if (sentinel_master(conf, &a, why, sizeof(why)) == 0)
			c = connect_to(conf, &a, why, sizeof(why));
	} else if (conf->redis_socket[0] == '\0') {
		strlcpy(a.host, conf->redis_host, sizeof(a.host));
		strlcpy(a.ip, conf->redis_host_ip, sizeof(a.ip));
		a.port = conf->redis_port;
		c = connect_to(conf, &a, why, sizeof(why));
	} else
		c = connect_to(conf, NULL, why, sizeof(why));
	if (conf->redis_socket[0] != '\0' && !conf->redis_cluster &&
	    conf->nredis_sentinels == 0)
		strlcpy(u->node, conf->redis_socket, sizeof(u->node));
	else
		redis_addr_name(&a, u->node, sizeof(u->node));
	if (c == NULL) {
		snprintf(u->err, sizeof(u->err), "%s: %s", u->node, why);
		return -1;
	}
	u->ctx = c;
	u->addr = a;
	u->inlen = 0;
	u->qsent = u->qack;
	return 0;
}

/*
 * The connection failed or Redis said "not now": drop it, keep what is
 * unanswered, and retry after a while; UP_FAILED once that has lasted
 * longer than redis_retry_timeout.
 */
static int
lost(struct upstream *u, int64_t now)
{
	disconnect(u);
	if (u->count == 0 && u->lost_at == 0) {
		/* Nothing to send again (Redis closed an idle connection, say):
		 * the next entry connects afresh. */
		log_debug("upstream %s: %s", u->node, upstream_error(u));
		return UP_OK;
	}
	if (u->lost_at == 0) {
		u->lost_at = now;
		u->backoff = BACKOFF_MIN;
		log_warnx("upstream %s: %s", u->node, upstream_error(u));
	} else if ((u->backoff *= 2) > BACKOFF_MAX)
		u->backoff = BACKOFF_MAX;
	if (u->conf->redis_retry_timeout == 0 ||
	    now - u->lost_at >= u->conf->redis_retry_timeout) {
		u->failed = 1;
		stats_upstream_failure();
		return UP_FAILED;
	}
	u->retry_at = now + u->backoff;
	return UP_OK;
}

/* A refusal that retrying will not cure (OOM, an ACL, a wrong type). */
static int
refused(struct upstream *u, const char *text, size_t len)
{
	snprintf(u->err, sizeof(u->err), "%s: XADD: %.*s", u->node,
	    (int)(len > 120 ? 120 : len), text);
	disconnect(u);
	u->failed = 1;
	stats_upstream_failure();
	return UP_FAILED;
}

/* Send what is not sent yet, as far as the socket takes it. */
static int
send_some(struct upstream *u, int64_t now)
{
	ssize_t n;

	while (u->ctx != NULL && u->qsent < u->qlen) {
		n = send(u->ctx->fd, u->q + u->qsent, u->qlen - u->qsent,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return UP_OK;
		if (n <= 0) {
			snprintf(u->err, sizeof(u->err), "write: %s",
			    strerror(errno));
			return lost(u, now);
		}
		u->qsent += (size_t)n;
	}
	return UP_OK;
}

/* Connect (again) and send; UP_FAILED past redis_retry_timeout. */
static int
reconnect(struct upstream *u, int64_t now)
{
	int was_lost = u->lost_at != 0;

	if (dial(u) == -1)
		return lost(u, now);
	if (was_lost)
		log_info("upstream %s: connected again, %d entries to send",
		    u->node, u->count);
	u->lost_at = 0;
	u->backoff = 0;
	u->idle_at = now + UPSTREAM_IDLE_MS;
	return send_some(u, now);
}

/* The reply to the oldest XADD. */
static int
answered(struct upstream *u, char type, const char *text, size_t len,
    int64_t now)
{
	struct redis_addr to;
	unsigned int slot;
	char line[RESP_LINE_MAX + 1];

	if (u->count == 0) {
		snprintf(u->err, sizeof(u->err), "%s: a reply nothing asked "
		    "for", u->node);
		return lost(u, now);
	}
	if (type == '$') {
		u->redirects = 0;
		if (u->event[u->head])
			stats_upstream(0, 0);
		else
			stats_upstream(1, u->bytes[u->head]);
		u->qack += u->size[u->head];
		u->head = (u->head + 1) % UPSTREAM_WINDOW;
		if (--u->count == 0)
			q_reset(u);
		u->idle_at = now + UPSTREAM_IDLE_MS;
		return UP_OK;
	}
	if (type != '-')
		return refused(u, text, len);
	if (cluster_redirect(text, len, &slot, &to) == 1) {
		/* The slot moved: send everything unanswered there, now. */
		if (to.host[0] == '\0') {
			strlcpy(to.host, u->addr.host, sizeof(to.host));
			strlcpy(to.ip, u->addr.ip, sizeof(to.ip));
		}
		cluster_map_set(slot, &to);
		log_info("upstream %s: %.*s", u->node, (int)len, text);
		if (++u->redirects > REDIRECTS_MAX) {
			snprintf(u->err, sizeof(u->err), "more than %d "
			    "redirections", REDIRECTS_MAX);
			return lost(u, now);
		}
		disconnect(u);
		return reconnect(u, now);
	}
	memcpy(line, text, len);
	line[len] = '\0';
	if (redis_transient(line) || strncmp(line, "ASK ", 4) == 0) {
		snprintf(u->err, sizeof(u->err), "XADD: %.120s", line);
		return lost(u, now);
	}
	return refused(u, text, len);
}

/* Read and act on the replies that have come. */
static int
read_replies(struct upstream *u, int64_t now)
{
	redisContext *ctx = u->ctx;
	const char *text;
	size_t len, off;
	ssize_t n;
	char type;
	int r;

	n = recv(u->ctx->fd, u->in + u->inlen, sizeof(u->in) - u->inlen,
	    MSG_DONTWAIT);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return UP_OK;
	if (n <= 0) {
		snprintf(u->err, sizeof(u->err), "%s", n == 0 ?
		    "server closed the connection" : strerror(errno));
		return lost(u, now);
	}
	u->inlen += (size_t)n;
	for (off = 0; off < u->inlen; off += (size_t)n) {
		n = upstream_reply(u->in + off, u->inlen - off, &type, &text,
		    &len);
		if (n == 0)
			break;
		if (n < 0 || len > RESP_LINE_MAX) {
			snprintf(u->err, sizeof(u->err), "protocol error");
			return lost(u, now);
		}
		/* After a redirection the rest is the old connection's. */
		if ((r = answered(u, type, text, len, now)) != UP_OK ||
		    u->ctx != ctx)
			return r;
	}
	if (off == 0 && u->inlen == sizeof(u->in)) {
		snprintf(u->err, sizeof(u->err), "reply too long");
		return lost(u, now);
	}
	memmove(u->in, u->in + off, u->inlen - off);
	u->inlen -= off;
	return UP_OK;
}

int
upstream_io(struct upstream *u, short revents, int64_t now)
{
	int r;

	if (u->failed)
		return UP_FAILED;
	if (u->ctx == NULL)
		return UP_OK;
	if (revents & (POLLIN | POLLHUP | POLLERR)) {
		if ((r = read_replies(u, now)) != UP_OK)
			return r;
	}
	return send_some(u, now);
}

int
upstream_fd(const struct upstream *u, short *events)
{
	*events = 0;
	if (u->ctx == NULL)
		return -1;
	/* Always read: Redis closing an idle connection shows up here. */
	*events = POLLIN;
	if (u->qsent < u->qlen)
		*events |= POLLOUT;
	return u->ctx->fd;
}

int64_t
upstream_deadline(const struct upstream *u)
{
	if (u->failed)
		return 0;
	if (u->ctx == NULL)
		return u->count > 0 ? u->retry_at : 0;
	return u->count == 0 ? u->idle_at : 0;
}

int
upstream_timer(struct upstream *u, int64_t now)
{
	if (u->failed)
		return UP_FAILED;
	if (u->ctx == NULL && u->count > 0 && now >= u->retry_at)
		return reconnect(u, now);
	if (u->ctx != NULL && u->count == 0 && now >= u->idle_at) {
		disconnect(u);
		q_reset(u);
	}
	return UP_OK;
}

/*
 * Queue a command, and connect if this is the first since idle.  It is
 * sent when the caller's poll(2) finds the socket writable, together
 * with the others queued from the same read of the client.
 */
static int
queue(struct upstream *u, int argc, const char **argv, const size_t *lens,
    size_t payload, int event, int64_t now)
{
	if (q_command(u, argc, argv, lens, payload, event) == -1)
		return -1;
	if (u->ctx != NULL || u->lost_at != 0)
		return 0;	/* connected, or a retry is due at retry_at */
	return reconnect(u, now) == UP_FAILED ? -1 : 0;
}

/* XADD KEY MAXLEN ~ N * user U conn C, the first nargs of argv. */
static int
xadd_head(const struct upstream *u, const char **argv, size_t *lens,
    char *maxlen, size_t maxlen_size, const char *user, const char *conn)
{
	const char *head[] = { "XADD", u->conf->upstream_stream, "MAXLEN",
	    "~", maxlen, "*", "user", user, "conn", conn };
	int i, n = (int)(sizeof(head) / sizeof(head[0]));

	snprintf(maxlen, maxlen_size, "%d", u->conf->upstream_maxlen);
	for (i = 0; i < n; i++) {
		argv[i] = head[i];
		lens[i] = strlen(head[i]);
	}
	return n;
}

int
upstream_message(struct upstream *u, const char *user, const char *conn,
    int binary, const void *data, size_t len, int64_t now)
{
	const char *argv[ARGS_MAX];
	size_t lens[ARGS_MAX];
	char maxlen[16];
	int n;

	n = xadd_head(u, argv, lens, maxlen, sizeof(maxlen), user, conn);
	argv[n] = "type";
	argv[n + 1] = binary ? "binary" : "text";
	argv[n + 2] = "data";
	argv[n + 3] = data;
	lens[n] = 4;
	lens[n + 1] = strlen(argv[n + 1]);
	lens[n + 2] = 4;
	lens[n + 3] = len;
	return queue(u, n + 4, argv, lens, len, 0, now);
}

int
upstream_event(struct upstream *u, const char *user, const char *conn,
    const char *event, unsigned int code, int64_t now)
{
	const char *argv[ARGS_MAX];
	size_t lens[ARGS_MAX];
	char maxlen[16], num[16];
	int n;

	n = xadd_head(u, argv, lens, maxlen, sizeof(maxlen), user, conn);
	argv[n] = "event";
	argv[n + 1] = event;
	lens[n] = 5;
	lens[n + 1] = strlen(event);
	n += 2;
	if (strcmp(event, "disconnect") == 0) {
		snprintf(num, sizeof(num), "%u", code);
		argv[n] = "code";
		argv[n + 1] = num;
		lens[n] = 4;
		lens[n + 1] = strlen(num);
		n += 2;
	}
	return queue(u, n, argv, lens, 0, 1, now);
}

int
upstream_drain(struct upstream *u, int64_t deadline)
{
	struct pollfd pfd;
	int64_t now, wait;
	int r;

	while (u->count > 0) {
		if (u->failed)
			return UP_FAILED;
		if ((now = now_ms()) >= deadline) {
			snprintf(u->err, sizeof(u->err), "%s: %d entries not "
			    "answered in time", u->node, u->count);
			return UP_FAILED;
		}
		if (u->ctx == NULL) {
			if (now < u->retry_at) {
				wait = (u->retry_at < deadline ? u->retry_at :
				    deadline) - now;
				(void)poll(NULL, 0, (int)wait);
				continue;
			}
			if ((r = upstream_timer(u, now)) != UP_OK)
				return r;
			continue;
		}
		pfd.fd = upstream_fd(u, &pfd.events);
		pfd.revents = 0;
		if (poll(&pfd, 1, (int)(deadline - now)) == -1 &&
		    errno != EINTR) {
			snprintf(u->err, sizeof(u->err), "poll: %s",
			    strerror(errno));
			return UP_FAILED;
		}
		if ((r = upstream_io(u, pfd.revents, now_ms())) != UP_OK)
			return r;
	}
	return u->failed ? UP_FAILED : UP_OK;
}

void
upstream_close(struct upstream *u)
{
	const struct child_conf *conf = u->conf;

	if (u->ctx == NULL && u->q == NULL && u->count == 0 && !u->failed &&
	    u->lost_at == 0)
		return;		/* never used: nothing to wipe */
	if (u->ctx != NULL)
		redisFree(u->ctx);
	if (u->q != NULL) {
		explicit_bzero(u->q, u->qcap);
		free(u->q);
	}
	explicit_bzero(u, sizeof(*u));
	u->conf = conf;
}
