/*
 * child.c -- one client from accept to exit: read and check the upgrade
 * request, learn the user (from the URL or the identify message), connect
 * to Redis and SUBSCRIBE before answering 101, run the poll loop, then
 * UNSUBSCRIBE and leave one log line that sums the connection up.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <bsd/unistd.h>

#include "../master/log.h"
#include "auth.h"
#include "child.h"
#include "client.h"
#include "clock.h"
#include "http.h"
#include "proxy.h"
#include "signals.h"
#include "stats.h"
#include "subscriber.h"
#include "user.h"

/* After an HTTP error: send FIN and let the peer read the answer. */
static void
linger(struct client *c)
{
	char buf[4096];
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	int64_t end = now_ms() + CLOSE_LINGER_MS, left;
	ssize_t n;

	io_shutdown_write(&c->io);
	while ((left = end - now_ms()) > 0 && poll(&pfd, 1, (int)left) == 1)
		if ((n = io_read(&c->io, buf, sizeof(buf))) == 0 ||
		    (n == -1 && errno != EAGAIN))
			break;
}

static int
refuse(struct client *c, int status, const char *why)
{
	switch (status) {
	case 401: stats_fail(FAIL_UNAUTHORIZED); break;
	case 403: stats_fail(FAIL_FORBIDDEN); break;
	case 405: stats_fail(FAIL_METHOD); break;
	case 426: stats_fail(FAIL_VERSION); break;
	case 431: stats_fail(FAIL_TOO_LARGE); break;
	case 503: stats_fail(FAIL_REDIS); break;
	default: stats_fail(FAIL_BAD_REQUEST); break;
	}
	log_info("%s: HTTP %d: %s", c->peer, status, why);
	if (http_respond(&c->http, status, why) == 0)
		linger(c);
	return -1;
}

static int
health(struct client *c)
{
	char err[256];
	struct sub *r;
	int ok;

	if ((r = sub_connect(c->conf, err, sizeof(err))) == NULL) {
		log_warnx("%s: healthz: redis: %s", c->peer, err);
		ok = 0;
	} else {
		ok = sub_ping(r) == 0;
		sub_close(r, NULL);
	}
	if (stats_shutting_down())
		ok = 0;		/* take this instance out of rotation */
	if (http_respond(&c->http, ok ? 200 : 503, ok ? "ok" :
	    "redis unavailable") == 0)
		linger(c);
	return 0;
}

/* Does the peer ("1.2.3.4:5" or "[::1]:5") fall in a metrics_allow net? */
static int
metrics_allowed(const struct child_conf *conf, const char *peer)
{
	char host[INET6_ADDRSTRLEN];
	unsigned char addr[16];
	const char *end = strrchr(peer, ':'), *start = peer;
	int family, i, bits;

	if (conf->nmetrics_allow == 0)
		return 1;
	if (*start == '[') {
		start++;
		end--;
	}
	if (end == NULL || end <= start || (size_t)(end - start) >= sizeof(host))
		return 0;
	memcpy(host, start, (size_t)(end - start));
	host[end - start] = '\0';
	if (inet_pton(AF_INET, host, addr) == 1)
		family = AF_INET;
	else if (inet_pton(AF_INET6, host, addr) == 1)
		family = AF_INET6;
	else
		return 0;
	for (i = 0; i < conf->nmetrics_allow; i++) {
		const struct metrics_net *n = &conf->metrics_allow[i];

		if (n->family != family)
			continue;
		bits = n->prefix;
		if (memcmp(addr, n->addr, (size_t)bits / 8) != 0)
			continue;
		if (bits % 8 != 0 && ((addr[bits / 8] ^ n->addr[bits / 8]) &
		    (0xff << (8 - bits % 8)) & 0xff) != 0)
			continue;
		return 1;
	}
	return 0;
}

static void
metrics(struct client *c)
{
	static char body[64 * 1024];
	int n;

	if (!metrics_allowed(c->conf, c->peer)) {
		refuse(c, 403, "forbidden");
		return;
	}
	if ((n = stats_render(body, sizeof(body))) < 0) {
		refuse(c, 503, "metrics unavailable");
		return;
	}
	if (http_send(&c->http, 200, "text/plain; version=0.0.4", body,
	    (size_t)n) == 0)
		linger(c);
}

/*
 * A spare connects to Redis while it waits, so a client does not wait for
 * that; the connection is used only if it is still quiet (no EOF, nothing
 * unexpected to read) when the client comes.  On a Redis Cluster it is a
 * connection to some node, and the slot map learnt from it; subscribing
 * moves to the channel's node if that is another.
 */
static struct sub *prepared;

/*
 * The output buffer too.  Allocated on the first message, it made every
 * child copy a heap page shared with the master (or fault in a new one)
 * just as that message arrived: in a fan-out to 10,000 idle children, a
 * sixth of their time.  A spare takes that fault while it waits.
 */
static uint8_t *prepared_out;

/*
 * Blocks of 128 KiB and more are mapped on their own and unmapped when
 * freed.  That is glibc's first threshold, but glibc raises it to the size
 * of each such block freed (up to 32 MiB): after one 1 MiB message, the
 * next one's buffers (Redis' reader, the output, the message compressed)
 * would come from the heap and stay there once freed, megabytes kept by
 * an idle connection.  Setting it keeps it where it is.
 */
#define MMAP_THRESHOLD	(128 * 1024)

void
child_prepare(const struct child_conf *conf)
{
	char err[256];

	(void)mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD);
	prepared = sub_connect(conf, err, sizeof(err));
	if ((prepared_out = malloc(OUT_INITIAL)) != NULL)
		memset(prepared_out, 0, OUT_INITIAL);
}

static struct sub *
take_prepared(void)
{
	struct sub *r = prepared;
	struct pollfd pfd;

	prepared = NULL;
	if (r == NULL)
		return NULL;
	pfd.fd = sub_fd(r);
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 0) != 0) {
		sub_close(r, NULL);
		return NULL;
	}
	return r;
}

static int
redis_open(struct client *c)
{
	char err[256];
	int fresh = 0;

	if ((c->redis.sub = take_prepared()) == NULL) {
		fresh = 1;
		if ((c->redis.sub = sub_connect(c->conf, err,
		    sizeof(err))) == NULL) {
			log_warnx("%s: redis: %s", c->peer, err);
			return -1;
		}
	}
	if (c->channel[0] == '\0' || sub_subscribe(&c->redis.sub, c->conf,
	    c->channel, &c->redis.from, err, sizeof(err)) == 0)
		return 0;
	log_warnx("%s: subscribing to %s failed: %s", c->peer, c->channel,
	    err);
	/* A prepared connection may have died unseen: one fresh try. */
	return fresh ? -1 : redis_open(c);
}

static struct ws_request req;	/* static: too large for the stack */

/* From request to 101.  Returns 0 when upgraded, -1 when refused. */
static int
upgrade(struct client *c, char *head, size_t *lenp)
{
	char since[HISTORY_ID_MAX + 1], pmd_answer[WS_PMD_RESPONSE_MAX];
	size_t len, hlen;
	int r, status;

	r = http_read_head(&c->http, head, &len, &hlen);
	*lenp = len;
	if (r == 431)
		return refuse(c, 431, "request head too large");
	if (r != 0) {
		stats_fail(FAIL_TIMEOUT);
		log_info("%s: no complete request head", c->peer);
		return -1;
	}
	if ((status = ws_request_parse(&req, head, hlen)) != 0)
		return refuse(c, status, "malformed request");
	if (!ws_request_is_upgrade(&req) && strcmp(req.method, "GET") == 0) {
		if (strcmp(req.path, "/healthz") == 0) {
			health(c);
			return -1;
		}
		if (strcmp(req.path, "/metrics") == 0) {
			metrics(c);
			return -1;
		}
	}
	if ((status = ws_request_check(&req)) != 0)
		return refuse(c, status, status == 405 ? "GET only" :
		    status == 426 ? "WebSocket version 13 only" :
		    "not a valid WebSocket upgrade");

	r = ws_query_get(req.query, "user", c->user, sizeof(c->user));
	if (r == -2 || (r >= 0 && !user_name_valid(c->user, (size_t)r)))
		return refuse(c, 400, "invalid user name");
	c->v1 = ws_request_offers(&req, SUBPROTOCOL);
	if ((r = ws_query_get(req.query, "since", since,
	    sizeof(since))) != -1) {
		if (!c->v1)
			return refuse(c, 400, "since needs the " SUBPROTOCOL
			    " subprotocol");
		if (r < 0 || history_id_parse(since, (size_t)r,
		    &c->redis.from) == -1)
			return refuse(c, 400, "malformed since");
		c->resume_pending = 1;
	}
	if ((status = auth_check(c->conf, &req, c->peer, c->user,
	    sizeof(c->user), &c->token_deadline)) != 0)
		return refuse(c, status, status == 403 ? "origin not allowed" :
		    "unauthorized");
	if (c->user[0] != '\0' && user_channel(c->conf->channel_prefix,
	    c->user, c->channel, sizeof(c->channel)) == -1)
		return refuse(c, 400, "invalid user name");

	if (c->conf->compression)
		(void)ws_pmd_negotiate(req.extension, req.nextension,
		    DEFLATE_SERVER_BITS, DEFLATE_CLIENT_BITS, &c->pmd);
	if (c->pmd.on)
		ws_pmd_response(&c->pmd, pmd_answer);

	if (redis_open(c) == -1)
		return refuse(c, 503, "redis unavailable");
	if (http_switch(&c->http, req.key, c->v1 ? SUBPROTOCOL : NULL,
	    c->pmd.on ? pmd_answer : NULL) == -1) {
		log_info("%s: could not send 101", c->peer);
		return -1;
	}

	/* Frames sent along with the head. */
	c->in_len = len - hlen;
	memcpy(c->in, head + hlen, c->in_len);
	return 0;
}

/*
 * The request head is read into a buffer on the stack; a child that
 * will serve another client wipes it, and the parsed copy, at once.
 */
static int
handshake(struct client *c)
{
	char head[WS_HEAD_MAX];
	size_t len = 0;
	int r;

	r = upgrade(c, head, &len);
	if (c->again) {
		explicit_bzero(head, len);
		explicit_bzero(&req, sizeof(req));
	}
	return r;
}

/* TLS handshake under the handshake deadline: 0, or -1 to drop. */
static int
tls_accept(struct client *c)
{
	const char *why = NULL;
	int r;

	if ((c->io.ssl = SSL_new(c->conf->tls_ctx)) == NULL ||
	    SSL_set_fd(c->io.ssl, c->fd) != 1) {
		log_warnx("%s: SSL_new failed", c->peer);
		return -1;
	}
	while ((r = io_tls_accept(&c->io, &why)) == 0)
		if (http_wait(&c->http, 0) != 1) {
			stats_fail(FAIL_TLS);
			log_info("%s: TLS handshake not done in time",
			    c->peer);
			return -1;
		}
	if (r == -1) {
		stats_fail(FAIL_TLS);
		log_info("%s: TLS handshake failed: %s", c->peer, why);
		return -1;
	}
	return 0;
}

/*
 * A listener marked proxy: the header comes first, and only its bytes are
 * read, so that what follows (TLS or HTTP) is untouched.  The address it
 * names replaces the proxy's own, unless it is the proxy's own connection
 * (a health check: LOCAL or UNKNOWN).
 */
static char real[PEER_MAX];	/* the client's address, once read */

static int
proxy_read(struct client *c)
{
	uint8_t buf[PROXY_V2_MAX];
	size_t have = 0;
	ssize_t n, take;
	int r;

	for (;;) {
		n = recv(c->fd, buf + have, sizeof(buf) - have, MSG_PEEK);
		if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
			if ((r = http_wait(&c->http, POLLIN)) != 1) {
				stats_fail(FAIL_TIMEOUT);
				log_info("%s: %s", c->peer, r == 0 ?
				    "no PROXY header in time" :
				    "PROXY header: poll error");
				return -1;
			}
			continue;
		}
		if (n <= 0) {
			log_info("%s: closed before the PROXY header",
			    c->peer);
			return -1;
		}
		if ((take = proxy_take(buf, have, buf + have, (size_t)n)) <= 0 ||
		    recv(c->fd, buf + have, (size_t)take, 0) != take)
			r = -1;
		else {
			have += (size_t)take;
			r = proxy_parse(buf, have, real, sizeof(real));
		}
		if (r == -1) {
			stats_fail(FAIL_BAD_REQUEST);
			log_info("%s: bad PROXY header", c->peer);
			return -1;
		}
		if (r == 1)
			break;
	}
	if (real[0] != '\0') {
		log_debug("%s: PROXY header: client %s", c->peer, real);
		c->peer = real;
		setproctitle("handshake %s", real);
		stats_state(SLOT_HANDSHAKE, NULL, real);
	}
	return 0;
}

/*
 * Static, so that it starts zeroed without a memset that would dirty its
 * buffers' pages before they are used; a child that serves another client
 * zeroes it again when one is over (client_wipe).
 */
static struct client current;

/*
 * Everything the client left, before the next one: its bytes in the
 * buffers (cleared, then freed), its TLS state (freed by io_free before
 * this), its user, token, counters and address.
 */
static void
client_wipe(void)
{
	struct client *c = &current;

	if (c->out.data != NULL)
		explicit_bzero(c->out.data, c->out.cap);
	/* A first-size buffer, cleared, serves the next client as a spare's. */
	if (c->out.cap == OUT_INITIAL && prepared_out == NULL)
		prepared_out = c->out.data;
	else
		free(c->out.data);
	if (c->parser.msg != NULL)
		explicit_bzero(c->parser.msg, c->parser.msg_cap);
	ws_parser_free(&c->parser);
	explicit_bzero(c, sizeof(*c));
	explicit_bzero(real, sizeof(real));
}

/*
 * A child may serve another client only after a close that the client
 * started and both sides completed (one the server started says
 * something went wrong: a protocol error, a lost Redis, a timeout), with
 * its Redis connection kept clean (sub_release), and while not asked to
 * stop.
 */
static int
keep_redis(void)
{
	struct client *c = &current;

	if (!c->again || !c->clean || child_stop || c->redis.sub == NULL ||
	    c->closed_by == NULL || strcmp(c->closed_by, "client") != 0)
		return 0;
	if (sub_release(&c->redis.sub, c->conf, c->channel) == -1)
		return 0;
	prepared = c->redis.sub;
	c->redis.sub = NULL;
	return 1;
}

int
child_serve(const struct child_conf *conf, int fd, const char *peer,
    int how)
{
	struct client *c = &current;
	int one = 1, flags, again;
	int64_t ms;

	c->again = (how & CHILD_AGAIN) != 0;
	c->conf = conf;
	c->fd = fd;
	if (prepared_out != NULL) {
		c->out.data = prepared_out;
		c->out.cap = OUT_INITIAL;
		prepared_out = NULL;
	}
	c->io.fd = fd;
	c->peer = peer;
	c->started = now_ms();
	signals_init(&c->waitmask);
	c->http.io = &c->io;
	c->http.waitmask = &c->waitmask;
	c->http.deadline = c->started + conf->handshake_timeout;
	setproctitle("handshake %s", peer);
	stats_state(SLOT_HANDSHAKE, NULL, peer);

	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1) {
		log_warn("%s: fcntl", peer);
		close(fd);
		return -1;
	}
	/* Frames are written whole; do not let Nagle hold them back. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

	if (((how & CHILD_PROXY) && proxy_read(c) == -1) ||
	    ((how & CHILD_TLS) && tls_accept(c) == -1) ||
	    handshake(c) == -1) {
		sub_close(c->redis.sub, NULL);
		io_free(&c->io);
		close(fd);
		return -1;
	}
	ws_parser_init(&c->parser, conf->max_message_size);
	if (c->pmd.on)
		ws_parser_inflate(&c->parser, c->pmd.client_bits,
		    c->pmd.client_reset);
	if (c->channel[0] != '\0') {
		c->state = CS_OPEN;
		setproctitle("%s %s", c->user, c->peer);
	} else {
		c->state = CS_IDENTIFY;
		c->deadline = now_ms() + conf->identify_timeout;
		setproctitle("identify %s", c->peer);
	}
	stats_state(SLOT_OPEN, c->user, NULL);
	log_debug("%s: upgraded%s%s", c->peer, c->user[0] ? " as " : "",
	    c->user);

	client_loop(c);
	if (c->deflate_hold != 0)
		ws_deflate_release();	/* the last messages' bytes too */

	stats_io(c->msgs_in, c->bytes_in, c->msgs_out, c->bytes_out);
	stats_close(c->close_code);
	if (!(again = keep_redis()))
		sub_close(c->redis.sub, c->channel);
	io_free(&c->io);
	close(fd);
	ms = now_ms() - c->started;
	log_info("close user=%s peer=%s duration=%lld.%03llds "
	    "in=%llu/%llu out=%llu/%llu code=%u by=%s reason=\"%s\"",
	    c->user[0] ? c->user : "-", c->peer, (long long)(ms / 1000),
	    (long long)(ms % 1000), (unsigned long long)c->msgs_in,
	    (unsigned long long)c->bytes_in, (unsigned long long)c->msgs_out,
	    (unsigned long long)c->bytes_out, c->close_code,
	    c->closed_by ? c->closed_by : "-",
	    c->close_reason ? c->close_reason : "");
	if (again) {
		client_wipe();
		return 1;
	}
	ws_parser_free(&c->parser);
	free(c->out.data);
	return 0;
}
