/*
 * subscriber.c -- the child's Redis side: connect with a deadline,
 * SUBSCRIBE before the client is told 101, then hand each published
 * message to the poll loop as it is read.
 *
 * The connection is blocking, but the loop reads from it only after
 * poll(2) reported it readable, so a read never waits.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "subscriber.h"

/*
 * Bytes read from Redis wait here and go to hiredis' parser a few KiB at a
 * time: hiredis 0.14 moves its unparsed rest each time it has used 1 KiB,
 * so feeding one large read at once would copy it over and over.
 */
#define READ_SIZE	(64 * 1024)
#define FEED_SIZE	(4 * 1024)

static char	rbuf[READ_SIZE];
static size_t	rbuf_off, rbuf_len;

static struct timeval
ms_to_tv(int ms)
{
	struct timeval tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return tv;
}

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
		snprintf(err, errlen, "AUTH: %s", c->errstr);
		return -1;
	}
	ok = r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0;
	if (!ok)
		snprintf(err, errlen, "AUTH: %.80s", r->type ==
		    REDIS_REPLY_ERROR ? r->str : "unexpected reply");
	freeReplyObject(r);
	return ok ? 0 : -1;
}

redisContext *
sub_connect(const struct child_conf *conf, char *err, size_t errlen)
{
	struct timeval tv = ms_to_tv(conf->redis_connect_timeout);
	redisContext *c;

	rbuf_off = rbuf_len = 0;	/* nothing of an old connection */
	if (conf->redis_socket[0] != '\0')
		c = redisConnectUnixWithTimeout(conf->redis_socket, tv);
	else
		c = redisConnectWithTimeout(conf->redis_host,
		    conf->redis_port, tv);
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
	if (conf->redis_password[0] != '\0' && auth(c, conf, err, errlen) == -1) {
		redisFree(c);
		return NULL;
	}
	return c;
}

int
sub_subscribe(redisContext *c, const char *channel)
{
	redisReply *r;
	int ok;

	if ((r = redisCommand(c, "SUBSCRIBE %s", channel)) == NULL)
		return -1;
	ok = r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
	    r->element[0]->type == REDIS_REPLY_STRING &&
	    strcmp(r->element[0]->str, "subscribe") == 0;
	freeReplyObject(r);
	return ok ? 0 : -1;
}

int
sub_ping(redisContext *c)
{
	redisReply *r;
	int ok;

	if ((r = redisCommand(c, "PING")) == NULL)
		return -1;
	ok = r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
	freeReplyObject(r);
	return ok ? 0 : -1;
}

static int
feed(redisContext *c)
{
	size_t n = rbuf_len - rbuf_off;

	if (n == 0)
		return 0;
	if (n > FEED_SIZE)
		n = FEED_SIZE;
	if (redisReaderFeed(c->reader, rbuf + rbuf_off, n) != REDIS_OK)
		return -1;
	rbuf_off += n;
	return 1;
}

/*
 * Read what is there in one large non-blocking read (hiredis' own reads
 * are 16 KiB); sub_next() hands it to the parser.
 */
int
sub_read(redisContext *c)
{
	ssize_t n;

	if (rbuf_off < rbuf_len)
		return 0;	/* still feeding the last read */
	n = recv(c->fd, rbuf, sizeof(rbuf), MSG_DONTWAIT);
	if (n > 0) {
		rbuf_off = 0;
		rbuf_len = (size_t)n;
		return 0;
	}
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return 0;
	c->err = n == 0 ? REDIS_ERR_EOF : REDIS_ERR_IO;
	snprintf(c->errstr, sizeof(c->errstr), "%s", n == 0 ?
	    "server closed the connection" : strerror(errno));
	return -1;
}

int
sub_next(redisContext *c, redisReply **reply, const char **payload,
    size_t *len)
{
	redisReply *r;
	void *v;

	for (;;) {
		if (redisReaderGetReply(c->reader, &v) != REDIS_OK)
			return -1;
		if ((r = v) == NULL) {
			switch (feed(c)) {
			case 0:
				return 0;	/* all read bytes parsed */
			case 1:
				continue;
			default:
				return -1;
			}
		}
		if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
		    r->element[0]->type == REDIS_REPLY_STRING &&
		    strcmp(r->element[0]->str, "message") == 0 &&
		    r->element[2]->type == REDIS_REPLY_STRING) {
			*reply = r;
			*payload = r->element[2]->str;
			*len = r->element[2]->len;
			return 1;
		}
		/* (un)subscribe confirmations and the like */
		freeReplyObject(r);
	}
}

void
sub_close(redisContext *c, const char *channel)
{
	if (c == NULL)
		return;
	if (channel != NULL && channel[0] != '\0' && !c->err &&
	    redisAppendCommand(c, "UNSUBSCRIBE %s", channel) == REDIS_OK) {
		int done = 0;
		while (!done && redisBufferWrite(c, &done) == REDIS_OK)
			;
	}
	redisFree(c);
}
