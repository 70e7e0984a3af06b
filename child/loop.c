/*
 * loop.c -- the life of an upgraded connection: poll the client and the
 * Redis socket, turn each published message into one frame, answer
 * control frames, keep the connection alive with pings and close it by
 * the rules of RFC 6455 section 7.
 *
 * Output goes straight to the socket with one write per frame; only
 * what the kernel does not take is buffered, and while anything is
 * buffered Redis is not read, so a slow client holds back its own Redis
 * connection instead of growing this process.
 *
 * With upstream_stream set, the data messages the client sends go to
 * upstream.c, under upstream_rate; while its queue is full the client is
 * not read (the rest of a read waits in c->in), so a slow Redis holds
 * back the client in turn.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <bsd/unistd.h>

#include "../master/log.h"
#include "auth.h"
#include "client.h"
#include "clock.h"
#include "signals.h"
#include "stats.h"
#include "subscriber.h"
#include "testhook.h"
#include "user.h"

#define OUT_KEEP	(64 * 1024)	/* free a larger buffer once empty */
#define BATCH_MAX	(32 * 1024)	/* frames gathered for one write */
#define COPY_MAX	(16 * 1024)	/* larger payloads are not copied */
/*
 * Above this much unsent output, pings from the client go unanswered
 * (RFC 6455 5.5.3 allows answering only the latest), so a client that
 * floods pings without reading cannot grow the buffer.
 */
#define OUT_REPLY_LIMIT	(64 * 1024)
/*
 * A signal pending while a descriptor is ready stays pending (see
 * signals_let_in()); let it in this often, not on every message.
 */
#define SIGNALS_EVERY_MS 100

/* Room for n more bytes at o->data + o->len. */
static int
out_reserve(struct outbuf *o, size_t n)
{
	size_t cap;
	uint8_t *d;

	if (o->off > 0 && o->len + n > o->cap) {
		memmove(o->data, o->data + o->off, o->len - o->off);
		o->len -= o->off;
		o->off = 0;
	}
	if (o->len + n > o->cap) {
		cap = o->cap ? o->cap : OUT_INITIAL;
		while (cap < o->len + n)
			cap *= 2;
		if ((d = realloc(o->data, cap)) == NULL)
			return -1;
		o->data = d;
		o->cap = cap;
	}
	return 0;
}

static int
out_append(struct outbuf *o, const uint8_t *p, size_t n)
{
	if (out_reserve(o, n) == -1)
		return -1;
	memcpy(o->data + o->len, p, n);
	o->len += n;
	return 0;
}

static int
out_pending(const struct client *c)
{
	return c->out.len > c->out.off;
}

/* Send what is buffered: 0 (maybe partly sent) or -1 on error. */
static int
out_flush(struct client *c)
{
	struct outbuf *o = &c->out;
	ssize_t n;

	while (o->off < o->len) {
		n = io_write(&c->io, o->data + o->off, o->len - o->off);
		if (n == -1)
			return errno == EAGAIN ? 0 : -1;
		o->off += (size_t)n;
	}
	o->off = o->len = 0;
	if (o->cap > OUT_KEEP) {
		free(o->data);
		o->data = NULL;
		o->cap = 0;
	}
	return 0;
}

/*
 * One frame whose payload is head then data (the wspubsub.v1 header and
 * the message): written at once if nothing is queued, the rest queued.
 */
static int
send_parts(struct client *c, int opcode, const void *head, size_t headlen,
    const void *data, size_t len)
{
	uint8_t hdr[WS_FRAME_HEADER_MAX];
	size_t hlen = ws_frame_header(hdr, opcode, 1, headlen + len), sent = 0;
	struct iovec iov[3] = {
		{ .iov_base = hdr, .iov_len = hlen },
		{ .iov_base = (void *)head, .iov_len = headlen },
		{ .iov_base = (void *)data, .iov_len = len },
	};
	size_t i;
	ssize_t n;

	if (!out_pending(c)) {
		n = io_writev(&c->io, iov, 3);
		if (n == -1 && errno != EAGAIN)
			return -1;
		sent = n > 0 ? (size_t)n : 0;
	}
	for (i = 0; i < 3; i++) {
		if (sent < iov[i].iov_len && out_append(&c->out,
		    (const uint8_t *)iov[i].iov_base + sent,
		    iov[i].iov_len - sent) == -1)
			return -1;
		sent = sent > iov[i].iov_len ? sent - iov[i].iov_len : 0;
	}
	return 0;
}

static int
send_frame(struct client *c, int opcode, const void *data, size_t len)
{
	return send_parts(c, opcode, NULL, 0, data, len);
}

static void
fail(struct client *c, unsigned int code, const char *reason,
    const char *by)
{
	c->state = CS_DONE;
	c->close_code = code;
	c->close_reason = reason;
	c->closed_by = by;
}

/*
 * Queue a close frame and start draining.  A code of WS_CLOSE_NO_STATUS
 * sends an empty close (the echo of an empty one).
 */
static void
client_close(struct client *c, unsigned int code, const char *reason,
    const char *by)
{
	uint8_t p[WS_CONTROL_MAX];
	size_t n = 0, rlen;

	if (c->state == CS_CLOSING || c->state == CS_DONE)
		return;
	if (code != WS_CLOSE_NO_STATUS) {
		p[0] = (uint8_t)(code >> 8);
		p[1] = (uint8_t)code;
		rlen = strlen(reason);
		if (rlen > sizeof(p) - 2)
			rlen = sizeof(p) - 2;
		memcpy(p + 2, reason, rlen);
		n = 2 + rlen;
	}
	c->state = CS_CLOSING;
	c->close_code = code;
	c->close_reason = reason;
	c->closed_by = by;
	c->deadline = now_ms() + CLOSE_LINGER_MS;
	if (send_frame(c, WS_OP_CLOSE, p, n) == -1)
		fail(c, code, reason, by);
}

static int
upstream_on(const struct client *c)
{
	return c->conf->upstream_stream[0] != '\0';
}

/* Long enough for upstream.c to retry for redis_retry_timeout. */
static int64_t
drain_deadline(const struct client *c)
{
	return now_ms() + c->conf->redis_retry_timeout +
	    2 * c->conf->redis_connect_timeout + 1000;
}

/* An XADD failed for good: nothing more can be accepted. */
static void
upstream_failed(struct client *c)
{
	log_warnx("%s: upstream: %s", c->peer, upstream_error(&c->up));
	client_close(c, WS_CLOSE_INTERNAL, "upstream unavailable", "server");
}

/*
 * A token bucket: upstream_rate messages a second, and as many at once;
 * the tokens are counted in thousandths of a message.
 */
static int
rate_ok(struct client *c, int64_t now)
{
	int64_t rate = c->conf->upstream_rate, cap = rate * 1000;

	if (rate == 0)
		return 1;
	c->up_tokens += (now - c->up_filled) * rate;
	c->up_filled = now;
	if (c->up_tokens > cap)
		c->up_tokens = cap;
	if (c->up_tokens < 1000)
		return 0;
	c->up_tokens -= 1000;
	return 1;
}

/* A data message from the client, to the stream. */
static void
forward(struct client *c, const struct ws_event *ev)
{
	int64_t now = now_ms();

	if (!rate_ok(c, now)) {
		stats_upstream_limited();
		log_info("%s: over upstream_rate (%d a second)", c->peer,
		    c->conf->upstream_rate);
		client_close(c, WS_CLOSE_POLICY, "rate limit", "server");
		return;
	}
	if (upstream_message(&c->up, c->user, c->conn,
	    ev->type == WS_EV_BINARY, ev->data, ev->len, now) == -1)
		upstream_failed(c);
}

/*
 * Tell the client what reconnect.c decided: Redis dropped us while we
 * held back its reads (messages were lost), or Redis is gone.
 */
static void
redis_outcome(struct client *c, enum resub r)
{
	switch (r) {
	case RESUB_OK:
		break;
	case RESUB_TOO_SLOW:
		client_close(c, WS_CLOSE_POLICY, "too slow, messages lost",
		    "server");
		break;
	case RESUB_LOST:
		client_close(c, WS_CLOSE_INTERNAL, "redis connection lost",
		    "server");
		break;
	case RESUB_GAVE_UP:
		client_close(c, WS_CLOSE_INTERNAL, "redis unavailable",
		    "server");
		break;
	}
}

/* The Redis connection failed: retry later, or close. */
static void
lost(struct client *c, int64_t now)
{
	redis_outcome(c, redis_lost(&c->redis, c->conf, c->peer,
	    c->backlog_last, now));
}

/*
 * Subscribed (again): tell a wspubsub.v1 client how its resume went, or
 * that the replay after a Redis reconnect left a hole.
 */
static void
resumed(struct client *c)
{
	static const char recovered[] = "event: recovered\n\n";
	static const char gap[] = "event: gap\n\n";
	int r = sub_resume(c->redis.sub), is_gap;

	/* Live: the backend hears of it once, after the first SUBSCRIBE. */
	if (upstream_on(c) && c->conf->upstream_events && !c->up_live) {
		c->up_live = 1;
		if (upstream_event(&c->up, c->user, c->conn, "connect", 0,
		    now_ms()) == -1) {
			upstream_failed(c);
			return;
		}
	}
	stats_replayed(sub_replay_size(c->redis.sub));
	if (c->resume_pending) {
		/* No history to go by: the client cannot know it is whole. */
		is_gap = r != HISTORY_RECOVERED;
		c->resume_pending = 0;
		stats_resume(is_gap);
	} else if (r == HISTORY_GAP) {
		is_gap = 1;
		stats_resume(1);
	} else
		return;
	if (c->v1 && send_frame(c, WS_OP_TEXT, is_gap ? gap : recovered,
	    (is_gap ? sizeof(gap) : sizeof(recovered)) - 1) == -1)
		fail(c, WS_CLOSE_ABNORMAL, "write error", "server");
}

static void
identify(struct client *c, const struct ws_event *ev)
{
	char err[256], since[HISTORY_ID_MAX + 1];
	int n;

	if (user_identify_parse((const char *)ev->data, ev->len, c->user,
	    sizeof(c->user)) == -1) {
		client_close(c, WS_CLOSE_POLICY, "identify required", "server");
		return;
	}
	if ((n = user_identify_since((const char *)ev->data, ev->len, since,
	    sizeof(since))) != -1) {
		if (n < 0 || !c->v1 || history_id_parse(since, (size_t)n,
		    &c->redis.from) == -1) {
			client_close(c, WS_CLOSE_POLICY, !c->v1 ?
			    "since needs the wspubsub.v1 subprotocol" :
			    "malformed since", "server");
			return;
		}
		c->resume_pending = 1;
	}
	if (user_channel(c->conf->channel_prefix, c->user, c->channel,
	    sizeof(c->channel)) == -1) {
		client_close(c, WS_CLOSE_POLICY, "user name too long", "server");
		return;
	}
	c->state = CS_OPEN;
	c->deadline = 0;
	setproctitle("%s %s", c->user, c->peer);
	stats_state(SLOT_OPEN, c->user, NULL);
	log_info("%s: identified as %s", c->peer, c->user);
	if (sub_subscribe(&c->redis.sub, c->conf, c->channel, &c->redis.from,
	    err, sizeof(err)) == -1) {
		log_warnx("%s: %s", c->peer, err);
		lost(c, now_ms());	/* retried like a restart */
		return;
	}
	resumed(c);
}

static void
handle_event(struct client *c, const struct ws_event *ev)
{
	char other[USER_NAME_MAX + 1];

	switch (ev->type) {
	case WS_EV_TEXT:
	case WS_EV_BINARY:
		c->msgs_in++;
		c->bytes_in += ev->len;
#ifdef WSPUBSUB_TEST_HOOKS
		if (c->state == CS_OPEN && test_hook(ev->data, ev->len))
			break;
#endif
		if (c->state == CS_IDENTIFY) {
			if (ev->type == WS_EV_TEXT)
				identify(c, ev);
		} else if (ev->type == WS_EV_TEXT && auth_enabled(c->conf) &&
		    ev->len > 0 && ev->data[0] == '{' &&
		    user_identify_parse((const char *)ev->data, ev->len,
		    other, sizeof(other)) == 0) {
			/* The token names the user; nothing else may. */
			client_close(c, WS_CLOSE_POLICY,
			    "identify not allowed with tokens", "server");
		} else if (ev->type == WS_EV_TEXT && ev->len == 4 &&
		    memcmp(ev->data, "ping", 4) == 0 &&
		    c->out.len - c->out.off < OUT_REPLY_LIMIT) {
			if (send_frame(c, WS_OP_TEXT, "pong", 4) == -1)
				fail(c, WS_CLOSE_ABNORMAL, "write error",
				    "server");
		} else if (c->state == CS_OPEN && upstream_on(c))
			forward(c, ev);
		/* Without upstream_stream, anything else is not used. */
		break;
	case WS_EV_PING:
		if (c->out.len - c->out.off < OUT_REPLY_LIMIT &&
		    send_frame(c, WS_OP_PONG, ev->data, ev->len) == -1)
			fail(c, WS_CLOSE_ABNORMAL, "write error", "server");
		break;
	case WS_EV_PONG:
	case WS_EV_NONE:
		break;
	case WS_EV_CLOSE:
		/* Its close is echoed once what it sent is in the stream. */
		if (upstream_pending(&c->up) > 0 && upstream_drain(&c->up,
		    drain_deadline(c)) != UP_OK) {
			upstream_failed(c);
			break;
		}
		client_close(c, ev->code, "", "client");
		break;
	}
}

/*
 * The client's input waits while the upstream queue is full, and, with
 * upstream_events, until the connect entry is queued (the first
 * SUBSCRIBE failed and is being retried): it must precede the messages.
 */
static int
input_waits(const struct client *c)
{
	return upstream_full(&c->up) || (c->state == CS_OPEN &&
	    upstream_on(c) && c->conf->upstream_events && !c->up_live);
}

/*
 * Feed the bytes read from the client to the parser and act on each
 * event; while input_waits() the rest waits in c->in.
 */
static void
client_input(struct client *c)
{
	struct ws_event ev;
	size_t used;
	int r;

	while (c->in_off < c->in_len &&
	    (c->state == CS_IDENTIFY || c->state == CS_OPEN)) {
		if (input_waits(c))
			return;
		r = ws_parse(&c->parser, c->in + c->in_off,
		    c->in_len - c->in_off, &used, &ev);
		c->in_off += used;
		if (r < 0) {
			log_info("%s: %s", c->peer, ws_strerror(r));
			client_close(c, (unsigned int)ws_err_close_code(r),
			    ws_strerror(r), "server");
			break;
		}
		if (r == 1)
			handle_event(c, &ev);
	}
	c->in_off = c->in_len = 0;
}

/* Unparsed input waits (see input_waits()): read no more meanwhile. */
static int
held(const struct client *c)
{
	return c->in_off < c->in_len;
}

static void
client_read(struct client *c)
{
	ssize_t n;

	n = io_read(&c->io, c->in, sizeof(c->in));
	if (n == -1) {
		if (errno == EAGAIN)
			return;
		/* Closing: a reset or a TLS EOF without close_notify ends it
		 * as EOF does, keeping the close code. */
		if (c->state == CS_CLOSING) {
			c->state = CS_DONE;
			c->clean = !out_pending(c);
			return;
		}
		fail(c, WS_CLOSE_ABNORMAL, "read error", "client");
		return;
	}
	if (n == 0) {
		/* EOF: expected while closing, abnormal before. */
		if (c->state == CS_CLOSING) {
			c->state = CS_DONE;
			c->clean = !out_pending(c);
		} else
			fail(c, WS_CLOSE_ABNORMAL, "connection lost", "client");
		return;
	}
	c->ping_sent = 0;	/* any traffic proves the peer alive */
	if (c->state != CS_CLOSING) {
		c->in_off = 0;
		c->in_len = (size_t)n;
		client_input(c);
	}
}

/* A frame into the output buffer, to go out with others in one write. */
static int
queue_parts(struct client *c, int opcode, const void *head, size_t headlen,
    const void *data, size_t len)
{
	uint8_t hdr[WS_FRAME_HEADER_MAX];
	size_t hlen = ws_frame_header(hdr, opcode, 1, headlen + len);

	if (out_append(&c->out, hdr, hlen) == -1 ||
	    (headlen > 0 && out_append(&c->out, head, headlen) == -1) ||
	    out_append(&c->out, data, len) == -1)
		return -1;
	return 0;
}

/*
 * permessage-deflate: the frame's payload (head and data, one message)
 * compressed straight into the output buffer, after room for the longest
 * frame header; the header then goes just before it.  Returns 1 when
 * compressing would not make it smaller: the caller sends it as it is.
 */
static int
queue_compressed(struct client *c, int opcode, const void *head,
    size_t headlen, const void *data, size_t len)
{
	struct ws_part parts[2] = { { head, headlen }, { data, len } };
	uint8_t hdr[WS_FRAME_HEADER_MAX], *at;
	size_t hlen;
	long n;

	if (headlen + len == 0)
		return 1;
	if (out_reserve(&c->out, WS_FRAME_HEADER_MAX + headlen + len) == -1)
		return -1;
	at = c->out.data + c->out.len;
	c->deflate_hold = now_ms() + DEFLATE_HOLD_MS;
	if ((n = ws_deflate_message(c->conf->compression_level,
	    c->pmd.server_bits, parts, 2, at + WS_FRAME_HEADER_MAX,
	    headlen + len - 1)) < 0)
		return 1;
	hlen = ws_frame_header(hdr, opcode | WS_RSV1, 1, (uint64_t)n);
	memmove(at + hlen, at + WS_FRAME_HEADER_MAX, (size_t)n);
	memcpy(at, hdr, hlen);
	c->out.len += hlen + (size_t)n;
	return 0;
}

/*
 * Turn read Redis replies into frames while the socket keeps up.  Small
 * frames are gathered and written together, so a burst of messages costs
 * a few writes, not one each; a large payload is written straight from
 * the Redis read buffer instead of being copied.
 */
static void
deliver(struct client *c)
{
	char head[HISTORY_ID_MAX + 8];
	const char *payload, *id;
	size_t len, hlen;
	int r, op, taken, dropped = 0, hole = 0;

	while (c->state == CS_OPEN && !out_pending(c)) {
		for (taken = 0; c->out.len < BATCH_MAX; taken++) {
			if ((r = sub_next(c->redis.sub, &payload, &len,
			    &id)) == SUB_NONE)
				break;
			if (r == SUB_DROPPED) {
				dropped = 1;
				break;
			}
			if (r == SUB_HOLE) {
				hole = 1;
				break;
			}
			if (r == SUB_ERROR) {
				log_warnx("%s: redis %s: %s", c->peer,
				    sub_node(c->redis.sub),
				    sub_error(c->redis.sub));
				client_close(c, WS_CLOSE_INTERNAL,
				    "redis error", "server");
				return;
			}
			/* wspubsub.v1: "id: ID" or nothing, a blank line. */
			hlen = 0;
			if (c->v1 && id != NULL)
				hlen = (size_t)snprintf(head, sizeof(head),
				    "id: %s\n\n", id);
			else if (c->v1) {
				head[0] = '\n';	/* a plain PUBLISH */
				hlen = 1;
			}
			op = ws_utf8_valid((const uint8_t *)payload, len) ?
			    WS_OP_TEXT : WS_OP_BINARY;
			r = 1;
			if (c->pmd.on &&
			    hlen + len >= c->conf->compression_min_size)
				r = queue_compressed(c, op, head, hlen,
				    payload, len);
			if (r != 1)
				;	/* compressed, or failed */
			else if (hlen + len <= COPY_MAX)
				r = queue_parts(c, op, head, hlen, payload,
				    len);
			else if ((r = out_flush(c)) == 0)
				r = send_parts(c, op, head, hlen, payload, len);
			if (r == -1) {
				fail(c, WS_CLOSE_ABNORMAL, "write error",
				    "server");
				return;
			}
			c->msgs_out++;
			c->bytes_out += len;
			if (len > COPY_MAX && out_pending(c)) {
				taken++;
				break;
			}
		}
		if (out_flush(c) == -1) {
			fail(c, WS_CLOSE_ABNORMAL, "write error", "server");
			return;
		}
		if (dropped) {
			redis_dropped(&c->redis, c->peer, c->channel,
			    now_ms());
			return;
		}
		if (hole) {
			redis_hole(&c->redis, c->peer, now_ms());
			return;
		}
		if (taken == 0)
			return;
	}
}

static void
timers(struct client *c, int64_t now)
{
	const struct child_conf *conf = c->conf;
	static const uint8_t nothing[1];

	if (c->deflate_hold != 0 && now >= c->deflate_hold) {
		ws_deflate_release();
		c->deflate_hold = 0;
	}
	if (c->state == CS_CLOSING && now >= c->deadline) {
		c->state = CS_DONE;
		return;
	}
	if (c->state == CS_IDENTIFY && now >= c->deadline) {
		client_close(c, WS_CLOSE_POLICY, "identify timeout", "server");
		return;
	}
	if (c->token_deadline != 0 && now >= c->token_deadline) {
		client_close(c, WS_CLOSE_POLICY, "token expired", "server");
		return;
	}
	if (upstream_timer(&c->up, now) == UP_FAILED) {
		upstream_failed(c);
		if (c->state == CS_DONE)
			return;
	}
	if (c->state == CS_OPEN && c->redis.sub == NULL &&
	    now >= c->redis.retry_at) {
		redis_outcome(c, redis_retry(&c->redis, c->conf, c->peer,
		    c->channel, now));
		if (c->state != CS_OPEN)
			return;
		if (c->redis.sub != NULL)
			resumed(c);
	}
	if (conf->ping_interval <= 0 || c->state == CS_CLOSING)
		return;
	if (c->ping_sent != 0 && now >= c->ping_sent + conf->ping_timeout) {
		log_info("%s: no answer to ping in %d ms", c->peer,
		    conf->ping_timeout);
		fail(c, WS_CLOSE_ABNORMAL, "ping timeout", "server");
		return;
	}
	if (now >= c->ping_due) {
		if (send_frame(c, WS_OP_PING, nothing, 0) == -1) {
			fail(c, WS_CLOSE_ABNORMAL, "write error", "server");
			return;
		}
		if (c->ping_sent == 0)
			c->ping_sent = now;
		c->ping_due = now + conf->ping_interval;
	}
}

static int64_t
next_deadline(const struct client *c)
{
	int64_t d = 0, u;

	if (c->deadline != 0)
		d = c->deadline;
	if (c->deflate_hold != 0 && (d == 0 || c->deflate_hold < d))
		d = c->deflate_hold;
	if (c->token_deadline != 0 && c->state != CS_CLOSING &&
	    (d == 0 || c->token_deadline < d))
		d = c->token_deadline;
	if (c->state == CS_OPEN && c->redis.sub == NULL &&
	    (d == 0 || c->redis.retry_at < d))
		d = c->redis.retry_at;
	if ((u = upstream_deadline(&c->up)) != 0 && (d == 0 || u < d))
		d = u;
	if (c->state != CS_CLOSING && c->conf->ping_interval > 0) {
		int64_t p = c->ping_due;
		if (c->ping_sent != 0 &&
		    c->ping_sent + c->conf->ping_timeout < p)
			p = c->ping_sent + c->conf->ping_timeout;
		if (d == 0 || p < d)
			d = p;
	}
	return d;
}

/*
 * This connection's id in the stream: the host name, the child's pid and
 * the time it started in microseconds (hex), "web1-4242-5f1e0c3a9b2d0".
 * No two connections on a host share pid and microsecond.
 */
static void
upstream_start(struct client *c)
{
	struct timespec rt;

	if (!upstream_on(c))
		return;
	upstream_init(&c->up, c->conf);
	(void)clock_gettime(CLOCK_REALTIME, &rt);
	snprintf(c->conn, sizeof(c->conn), "%s-%ld-%llx", c->conf->hostname,
	    (long)getpid(), (unsigned long long)rt.tv_sec * 1000000ULL +
	    (unsigned long long)rt.tv_nsec / 1000);
	c->up_tokens = (int64_t)c->conf->upstream_rate * 1000;
	c->up_filled = now_ms();
}

/*
 * The connection is over: what is still queued goes out, with the
 * disconnect event (if the connect one did), before the writer closes.
 */
static void
upstream_end(struct client *c)
{
	if (!c->up.failed && ((c->up_live && upstream_event(&c->up, c->user,
	    c->conn, "disconnect", c->close_code, now_ms()) == -1) ||
	    upstream_drain(&c->up, drain_deadline(c)) != UP_OK))
		log_warnx("%s: upstream: %s; the end of the connection may "
		    "be missing from the stream", c->peer,
		    upstream_error(&c->up));
	upstream_close(&c->up);
}

int
client_loop(struct client *c)
{
	struct pollfd pfd[3];
	struct timespec ts, *tsp;
	int64_t now, d, signals_at = 0;
	int n, reading;

	upstream_start(c);
	c->ping_due = now_ms() + c->conf->ping_interval;
	if (c->state == CS_OPEN && c->redis.sub != NULL)
		resumed(c);	/* subscribed before the 101 */
	c->in_off = 0;
	client_input(c);

	while (c->state != CS_DONE) {
		if (child_stop && c->state != CS_CLOSING)
			client_close(c, WS_CLOSE_GOING_AWAY, "server shutdown",
			    "server");
		if (c->state == CS_CLOSING && !out_pending(c) && !c->wr_shut) {
			/* Our close is out: send FIN, wait for the peer's. */
			io_shutdown_write(&c->io);
			c->wr_shut = 1;
		}
		/*
		 * A blocking command (SUBSCRIBE) may have read published
		 * messages along with its reply; poll(2) would not see them.
		 */
		if (c->state == CS_OPEN && c->redis.sub != NULL &&
		    !out_pending(c))
			deliver(c);
		if (c->state == CS_DONE)
			break;
		if (out_pending(c))
			c->backlog_last = now_ms();
		/* Input held back (input_waits()) that may go on now. */
		if (held(c) && !input_waits(c))
			client_input(c);
		if (c->state == CS_DONE)
			break;
		reading = !held(c) && !input_waits(c);

		pfd[0].fd = c->fd;
		pfd[0].events = reading ? POLLIN : 0;
		if (out_pending(c))
			pfd[0].events |= POLLOUT;
		pfd[0].events |= c->io.want;
		/* Not reading: a reset (POLLHUP, POLLERR) must not spin us. */
		if (pfd[0].events == 0)
			pfd[0].fd = -1;
		pfd[1].fd = -1;
		pfd[1].events = POLLIN;
		if (c->state == CS_OPEN && c->redis.sub != NULL &&
		    !out_pending(c))
			pfd[1].fd = sub_fd(c->redis.sub);
		pfd[2].fd = upstream_fd(&c->up, &pfd[2].events);
		pfd[0].revents = pfd[1].revents = pfd[2].revents = 0;

		tsp = NULL;
		if (reading && io_pending(&c->io)) {
			/* TLS holds decrypted bytes: do not sleep on them. */
			ts.tv_sec = ts.tv_nsec = 0;
			tsp = &ts;
		} else if ((d = next_deadline(c)) != 0) {
			d -= now_ms();
			if (d < 0)
				d = 0;
			ts.tv_sec = d / 1000;
			ts.tv_nsec = (d % 1000) * 1000000;
			tsp = &ts;
		}
		n = ppoll(pfd, 3, tsp, &c->waitmask);
		if (n == -1 && errno != EINTR) {
			log_warn("ppoll");
			fail(c, WS_CLOSE_INTERNAL, "poll error", "server");
			break;
		}
		now = now_ms();
		if (n > 0 && now >= signals_at) {
			signals_let_in(&c->waitmask);
			signals_at = now + SIGNALS_EVERY_MS;
		}
		if (reading && ((n > 0 && pfd[0].revents &
		    (POLLIN | POLLHUP | POLLERR)) || io_pending(&c->io)))
			client_read(c);
		if (c->state != CS_DONE && pfd[0].revents & POLLOUT) {
			if (out_flush(c) == -1)
				fail(c, WS_CLOSE_ABNORMAL, "write error",
				    "server");
			else if (c->redis.sub != NULL)
				deliver(c);	/* replies left in the reader */
		}
		if (c->state == CS_OPEN && c->redis.sub != NULL &&
		    pfd[1].revents) {
			if (sub_read(c->redis.sub) == -1)
				lost(c, now);
			else
				deliver(c);
		}
		if (c->state != CS_DONE && pfd[2].revents &&
		    upstream_io(&c->up, pfd[2].revents, now) == UP_FAILED)
			upstream_failed(c);
		if (c->state != CS_DONE)
			timers(c, now);
		stats_io(c->msgs_in, c->bytes_in, c->msgs_out, c->bytes_out);
	}
	upstream_end(c);
	return 0;
}
