/*
 * redis.c -- the floor, a plain hiredis client that sends SUBSCRIBE to
 * Redis and reads the messages itself; and the publisher, one
 * non-blocking hiredis connection whose PUBLISHes (or FCALLs of
 * wspubsub_publish) are pipelined.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <hiredis.h>

#include "conn.h"
#include "servers.h"
#include "wsbench.h"

struct conn pub;			/* the publisher */

static struct conn *
raw_connect(const char *user, int history)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		die("out of memory");
	c->kind = K_RAW;
	snprintf(c->user, sizeof(c->user), "%s", user);
	c->t_connect = now_ns();
	c->rc = redisConnectNonBlock("127.0.0.1", redis_port);
	if (c->rc == NULL || c->rc->err) {
		die("redisConnectNonBlock: %s (raise the open-files limit?)",
		    c->rc ? c->rc->errstr : "out of memory");
	}
	c->fd = c->rc->fd;
	c->state = S_CONNECTING;
	if (history)
		redisAppendCommand(c->rc, "SUBSCRIBE %s {%s}#history", user,
		    user);
	else
		redisAppendCommand(c->rc, "SUBSCRIBE %s", user);
	conn_add(c, EPOLLIN | EPOLLOUT);
	return c;
}

struct conn *
raw_open(const char *user)
{
	return raw_connect(user, 0);
}

/* Also on the user's history channel (wspubsub.lua), where the function's
 * messages come as "<id>\n<payload>". */
struct conn *
raw_open_history(const char *user)
{
	return raw_connect(user, 1);
}

static void
raw_reply(struct conn *c, redisReply *r)
{
	const char *kind;

	if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
	    r->element[0]->type == REDIS_REPLY_STRING) {
		kind = r->element[0]->str;
		if (strcmp(kind, "message") == 0 &&
		    r->element[2]->type == REDIS_REPLY_STRING) {
			c->nmsg++;
			if (cb_msg)
				cb_msg(c, (const uint8_t *)r->element[2]->str,
				    r->element[2]->len);
			return;
		}
		if (strcmp(kind, "subscribe") == 0 && c->state != S_OPEN) {
			c->state = S_OPEN;
			c->t_open = now_ns();
			ph.opened++;
			if (cb_open)
				cb_open(c);
			return;
		}
	}
	if (r->type == REDIS_REPLY_ERROR)
		conn_fail(c, "redis: %s", r->str);
}

static void
pub_reply(redisReply *r)
{
	ph.pub_replies++;
	if (r->type == REDIS_REPLY_INTEGER) {
		if (r->integer == 0)
			ph.pub_zero++;
	} else if (r->type != REDIS_REPLY_STRING) {	/* FCALL: the id */
		if (ph.pub_errors++ == 0)
			note("publisher answered: %s", r->type ==
			    REDIS_REPLY_ERROR ? r->str : "(not a number or id)");
	}
}

void
redis_read(struct conn *c)
{
	void *v;

	if (redisBufferRead(c->rc) != REDIS_OK) {
		if (c->kind == K_PUB)
			die("publisher: %s", c->rc->errstr);
		conn_fail(c, "redis read: %s", c->rc->errstr);
		return;
	}
	for (;;) {
		if (redisReaderGetReply(c->rc->reader, &v) != REDIS_OK) {
			if (c->kind == K_PUB)
				die("publisher: protocol error");
			conn_fail(c, "redis protocol error");
			return;
		}
		if (v == NULL)
			return;
		if (c->kind == K_PUB)
			pub_reply(v);
		else
			raw_reply(c, v);
		freeReplyObject(v);
		if (c->state == S_CLOSED)
			return;
	}
}

void
redis_write(struct conn *c)
{
	int done = 0;

	if (redisBufferWrite(c->rc, &done) != REDIS_OK) {
		if (c->kind == K_PUB)
			die("publisher: %s", c->rc->errstr);
		conn_fail(c, "redis write: %s", c->rc->errstr);
		return;
	}
	conn_events(c, done ? EPOLLIN : EPOLLIN | EPOLLOUT);
}

/* -- publishing -- */
void
pub_start(void)
{
	pub.kind = K_PUB;
	snprintf(pub.user, sizeof(pub.user), "(publisher)");
	pub.rc = redisConnectNonBlock("127.0.0.1", redis_port);
	if (pub.rc == NULL || pub.rc->err)
		die("publisher: cannot connect");
	pub.fd = pub.rc->fd;
	pub.state = S_OPEN;
	conn_add(&pub, EPOLLIN);
}

void
pub_append(const char *chan, const void *p, size_t n)
{
	if (redisAppendCommand(pub.rc, "PUBLISH %s %b", chan, p, n) !=
	    REDIS_OK)
		die("redisAppendCommand failed");
}

void
pub_append_fcall(const char *chan, const void *p, size_t n)
{
	if (redisAppendCommand(pub.rc, "FCALL wspubsub_publish 1 %s %b", chan,
	    p, n) != REDIS_OK)
		die("redisAppendCommand failed");
}

void
pub_flush(void)
{
	redis_write(&pub);
}
