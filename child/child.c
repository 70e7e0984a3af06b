/*
 * child.c -- one client from accept to exit: read and check the upgrade
 * request, learn the user (from the URL or the identify message), connect
 * to Redis and SUBSCRIBE before answering 101, run the poll loop, then
 * UNSUBSCRIBE and leave one log line that sums the connection up.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <bsd/unistd.h>

#include "../master/log.h"
#include "client.h"
#include "subscriber.h"

volatile sig_atomic_t child_stop;

static void
on_stop(int sig)
{
	(void)sig;
	child_stop = 1;
}

/*
 * SIGTERM and SIGINT ask for a close with 1001.  They stay blocked except
 * inside ppoll(2), so a signal that arrives between a check of child_stop
 * and the wait is not lost.
 */
static void
signals_init(struct client *c)
{
	struct sigaction sa;
	sigset_t block;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &c->waitmask);
	sigdelset(&c->waitmask, SIGTERM);
	sigdelset(&c->waitmask, SIGINT);
}

/* After an HTTP error: send FIN and let the peer read the answer. */
static void
linger(struct client *c)
{
	char buf[4096];
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	int64_t end = now_ms() + CLOSE_LINGER_MS, left;

	io_shutdown_write(&c->io);
	while ((left = end - now_ms()) > 0 && poll(&pfd, 1, (int)left) == 1)
		if (io_read(&c->io, buf, sizeof(buf)) == 0 ||
		    (errno != EAGAIN))
			break;
}

static int
refuse(struct client *c, int status, const char *why)
{
	log_info("%s: HTTP %d: %s", c->peer, status, why);
	if (http_respond(c, status, why) == 0)
		linger(c);
	return -1;
}

static int
health(struct client *c)
{
	char err[128];
	redisContext *r;
	int ok;

	if ((r = sub_connect(c->conf, err, sizeof(err))) == NULL) {
		log_warnx("%s: healthz: redis: %s", c->peer, err);
		ok = 0;
	} else {
		ok = sub_ping(r) == 0;
		redisFree(r);
	}
	if (http_respond(c, ok ? 200 : 503, ok ? "ok" :
	    "redis unavailable") == 0)
		linger(c);
	return 0;
}

/* From request to 101.  Returns 0 when upgraded, -1 when refused. */
static int
upgrade(struct client *c)
{
	static struct ws_request req;
	char head[WS_HEAD_MAX], err[128];
	size_t len, hlen;
	int r, status;

	if ((r = http_read_head(c, head, &len, &hlen)) == 431)
		return refuse(c, 431, "request head too large");
	if (r != 0) {
		log_info("%s: no complete request head", c->peer);
		return -1;
	}
	if ((status = ws_request_parse(&req, head, hlen)) != 0)
		return refuse(c, status, "malformed request");
	if (strcmp(req.path, "/healthz") == 0 && !ws_request_is_upgrade(&req) &&
	    strcmp(req.method, "GET") == 0) {
		health(c);
		return -1;
	}
	if ((status = ws_request_check(&req)) != 0)
		return refuse(c, status, status == 405 ? "GET only" :
		    status == 426 ? "WebSocket version 13 only" :
		    "not a valid WebSocket upgrade");

	r = ws_query_get(req.query, "user", c->user, sizeof(c->user));
	if (r == -2 || (r >= 0 && !user_name_valid(c->user, (size_t)r)))
		return refuse(c, 400, "invalid user name");
	if ((status = auth_check(c, &req)) != 0)
		return refuse(c, status, status == 403 ? "origin not allowed" :
		    "unauthorized");
	if (c->user[0] != '\0' && user_channel(c->conf->channel_prefix,
	    c->user, c->channel, sizeof(c->channel)) == -1)
		return refuse(c, 400, "invalid user name");

	if ((c->redis = sub_connect(c->conf, err, sizeof(err))) == NULL) {
		log_warnx("%s: redis: %s", c->peer, err);
		return refuse(c, 503, "redis unavailable");
	}
	if (c->channel[0] != '\0' && sub_subscribe(c->redis, c->channel) == -1) {
		log_warnx("%s: SUBSCRIBE %s failed: %s", c->peer, c->channel,
		    c->redis->err ? c->redis->errstr : "unexpected reply");
		return refuse(c, 503, "redis unavailable");
	}
	if (http_switch(c, req.key) == -1) {
		log_info("%s: could not send 101", c->peer);
		return -1;
	}

	/* Frames sent along with the head. */
	c->in_len = len - hlen;
	memcpy(c->in, head + hlen, c->in_len);
	return 0;
}

/* TLS handshake under the handshake deadline: 0, or -1 to drop. */
static int
tls_accept(struct client *c)
{
	int64_t deadline = c->started + c->conf->handshake_timeout;
	const char *why = NULL;
	int r;

	if ((c->io.ssl = SSL_new(c->conf->tls_ctx)) == NULL ||
	    SSL_set_fd(c->io.ssl, c->fd) != 1) {
		log_warnx("%s: SSL_new failed", c->peer);
		return -1;
	}
	while ((r = io_tls_accept(&c->io, &why)) == 0)
		if (http_wait(c, 0, deadline) != 1) {
			log_info("%s: TLS handshake not done in time",
			    c->peer);
			return -1;
		}
	if (r == -1) {
		log_info("%s: TLS handshake failed: %s", c->peer, why);
		return -1;
	}
	return 0;
}

int
child_serve(const struct child_conf *conf, int fd, const char *peer,
    int tls)
{
	static struct client c;
	int one = 1, flags;
	int64_t ms;

	memset(&c, 0, sizeof(c));
	c.conf = conf;
	c.fd = fd;
	c.io.fd = fd;
	c.peer = peer;
	c.started = now_ms();
	signals_init(&c);
	setproctitle("handshake %s", peer);

	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1) {
		log_warn("%s: fcntl", peer);
		close(fd);
		return -1;
	}
	/* Frames are written whole; do not let Nagle hold them back. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

	if ((tls && tls_accept(&c) == -1) || upgrade(&c) == -1) {
		if (c.redis != NULL)
			redisFree(c.redis);
		io_free(&c.io);
		close(fd);
		return -1;
	}
	ws_parser_init(&c.parser, conf->max_message_size);
	if (c.channel[0] != '\0') {
		c.state = CS_OPEN;
		setproctitle("%s %s", c.user, peer);
	} else {
		c.state = CS_IDENTIFY;
		c.deadline = now_ms() + conf->identify_timeout;
		setproctitle("identify %s", peer);
	}
	log_debug("%s: upgraded%s%s", peer, c.user[0] ? " as " : "", c.user);

	client_loop(&c);

	sub_close(c.redis, c.channel);
	io_free(&c.io);
	close(fd);
	ws_parser_free(&c.parser);
	free(c.out.data);
	ms = now_ms() - c.started;
	log_info("close user=%s peer=%s duration=%lld.%03llds "
	    "in=%llu/%llu out=%llu/%llu code=%u by=%s reason=\"%s\"",
	    c.user[0] ? c.user : "-", peer, (long long)(ms / 1000),
	    (long long)(ms % 1000), (unsigned long long)c.msgs_in,
	    (unsigned long long)c.bytes_in, (unsigned long long)c.msgs_out,
	    (unsigned long long)c.bytes_out, c.close_code,
	    c.closed_by ? c.closed_by : "-",
	    c.close_reason ? c.close_reason : "");
	return 0;
}
