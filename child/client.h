/*
 * client.h -- the state of the one connection a child serves, shared by
 * child.c (accept to upgrade, and the end) and loop.c (the rest).  The
 * files below them are handed what they need, never a struct client.
 */
#ifndef CHILD_CLIENT_H
#define CHILD_CLIENT_H

#include <signal.h>
#include <stdint.h>

#include "../ws/ws.h"
#include "http.h"
#include "io.h"
#include "reconnect.h"
#include "settings.h"
#include "upstream.h"

#define CLIENT_READ_SIZE	16384
#define CLOSE_LINGER_MS		2000	/* wait for the peer after close */
/* Messages with a header: ids, resume status (README, "Client protocol"). */
#define SUBPROTOCOL		"wspubsub.v1"
/*
 * permessage-deflate: the window the server compresses with (1 KiB; a
 * 2 KiB JSON message comes out 1% larger than with 32 KiB), and the most
 * the client may use when it lets us say (client_max_window_bits): the
 * inflate state it makes us keep is then 7 KiB and this window, not
 * 32 KiB.  See ws/deflate.c.
 */
#define DEFLATE_SERVER_BITS	10
#define DEFLATE_CLIENT_BITS	10
/*
 * The compressor's pages (14 KiB) are given back this long after the
 * last compressed message: a stream of messages does not fault them in
 * again for each, an idle connection holds none.
 */
#define DEFLATE_HOLD_MS		100

/* The output buffer's first size; a spare allocates it (child_prepare()). */
#define OUT_INITIAL	4096

struct outbuf {
	uint8_t		*data;
	size_t		 off, len, cap;	/* unsent bytes are [off, len) */
};

enum client_state {
	CS_IDENTIFY,	/* upgraded, waiting for {"user_name": ...} */
	CS_OPEN,	/* subscribed, delivering */
	CS_CLOSING,	/* close frame queued; draining until EOF */
	CS_DONE,
};

struct client {
	const struct child_conf	*conf;
	int			 fd;
	struct io		 io;		/* fd, plain or TLS */
	struct http		 http;		/* io, for the handshake */
	const char		*peer;
	enum client_state	 state;
	char			 user[USER_NAME_MAX + 1];
	char			 channel[CHANNEL_PREFIX_MAX + USER_NAME_MAX + 1];
	struct subscription	 redis;
	struct ws_parser	 parser;
	struct outbuf		 out;
	uint8_t			 in[CLIENT_READ_SIZE];
	size_t			 in_off, in_len; /* [off, len) not parsed yet */
	sigset_t		 waitmask;	/* signal mask while polling */
	int			 v1;		/* subprotocol wspubsub.v1 */
	struct ws_pmd		 pmd;		/* permessage-deflate agreed */
	int			 resume_pending; /* since given, not answered */
	int			 again;		/* may serve another client */
	int			 clean;		/* both sides closed cleanly */

	int64_t			 started;	/* monotonic ms */
	int64_t			 deadline;	/* identify or linger, 0 = none */
	int64_t			 ping_due;
	int64_t			 ping_sent;	/* 0 = no ping outstanding */
	int64_t			 token_deadline; /* JWT exp; 0 = none */
	int			 wr_shut;	/* shutdown(SHUT_WR) done */
	int64_t			 backlog_last;	/* output last held back */
	int64_t			 deflate_hold;	/* release then; 0 = none held */

	uint64_t		 msgs_in, bytes_in, msgs_out, bytes_out;
	unsigned int		 close_code;
	const char		*closed_by;
	const char		*close_reason;

	/*
	 * upstream_stream: the writer, this connection's id, the limit.  Last,
	 * and not written unless upstream_stream is set: pages a client that
	 * never sends leaves untouched.
	 */
	int			 up_live;	/* the connect event is queued */
	int64_t			 up_tokens;	/* thousandths of a message */
	int64_t			 up_filled;	/* when tokens were added */
	char			 conn[UPSTREAM_CONN_MAX];
	struct upstream		 up;
};

/* loop.c: serve the upgraded connection until it is over. */
int	client_loop(struct client *);

#endif /* CHILD_CLIENT_H */
