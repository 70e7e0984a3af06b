/*
 * conn.h -- the generator's connections: the event loop and the phase's
 * state (loop.c), the RFC 6455 client (ws.c), and the raw hiredis
 * subscriber and the publisher (redis.c).
 */
#ifndef WSBENCH_CONN_H
#define WSBENCH_CONN_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis.h>

enum { K_WS, K_RAW, K_PUB, K_TIMER };
/* S_CLOSING: K_WS, our close frame sent, waiting for the server's. */
enum { S_CONNECTING, S_HANDSHAKE, S_OPEN, S_CLOSING, S_CLOSED };

struct conn {
	int		 kind, state, fd;
	uint32_t	 events;
	char		 user[48];
	redisContext	*rc;		/* K_RAW, K_PUB */
	char		 accept[32];	/* expected Sec-WebSocket-Accept */
	uint8_t		*obuf;		/* K_WS: unsent request / frames */
	size_t		 olen, ooff, ocap;
	uint8_t		*ibuf;		/* K_WS: partial head or frame */
	size_t		 ilen, icap;
	int64_t		 t_connect, t_open, t_msg;
	uint64_t	 nmsg;
	int		 v1;		/* K_WS: subprotocol wspubsub.v1 */
	int		 bye;		/* close once this read is handled */
	int		 got_close;	/* S_CLOSING: the server's close came */
	char		 id[72];	/* v1: the current message's id: */
	char		 event[32];	/* and event: header, or "" */
	int		 pmd;		/* permessage-deflate agreed */
	void		*inf;		/* its inflater, made on first use */
	uint8_t		*zbuf;		/* the message inflated */
	size_t		 zcap;
	uint64_t	 wire;		/* data frames' bytes, headers too */
};

/* loop.c: the current phase: callbacks and counters. */
struct phase {
	int	 opened, failed, nerr;
	int	 failed_early;	/* of failed: before any message */
	int	 closed;	/* closed by us, cleanly (conn_bye) */
	char	 err[256];
	int64_t	 pub_replies, pub_zero, pub_errors;
};
extern int		 epfd;
extern struct phase	 ph;
extern void		(*cb_open)(struct conn *);
extern void		(*cb_msg)(struct conn *, const uint8_t *, size_t);
extern void		(*cb_tick)(uint64_t);

void	conn_events(struct conn *, uint32_t);
void	conn_add(struct conn *, uint32_t);
void	conn_fail(struct conn *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	poll_once(int timeout_ms);
struct conn *side_open(int side, const char *user);
void	phase_reset(void);
void	close_all(struct conn **, int);
/*
 * Close c as a client should (set c->bye to do it from cb_msg): raw, at
 * once; WebSocket, a masked close 1000 first, then the socket once the
 * server has answered with its close frame and closed its side (EOF).
 * Either way ph.closed counts it when done; a failure counts in failed.
 */
void	conn_bye(struct conn *);
void	conn_closed(struct conn *);	/* ws.c: the close handshake is done */
int	open_many(int side, const char *prefix, struct conn **, int from,
	    int to, int inflight, int secs);
int	wait_until(const int *done, int64_t deadline);

/* ws.c */
/* Figure 8: new WebSocket connections offer permessage-deflate. */
extern int	ws_offer_deflate;
struct conn *ws_open(const char *user);
/*
 * A wspubsub.v1 client (since: NULL or an id to resume after): cb_msg
 * gets the payload, the message's header is in c->id and c->event.
 */
struct conn *ws_open_v1(const char *user, const char *since);
void	ws_flush(struct conn *);
void	ws_send(struct conn *, int op, const void *, size_t);
void	ws_read(struct conn *);

/* redis.c */
extern struct conn	 pub;		/* the publisher */

struct conn *raw_open(const char *user);
struct conn *raw_open_history(const char *user);
void	redis_read(struct conn *);
void	redis_write(struct conn *);
void	pub_start(void);
void	pub_append(const char *chan, const void *, size_t);
/* FCALL wspubsub_publish 1 chan payload: the same, kept in history. */
void	pub_append_fcall(const char *chan, const void *, size_t);
void	pub_flush(void);

#endif /* WSBENCH_CONN_H */
