/*
 * ws.h -- RFC 6455 for the server role.
 *
 * This library parses an HTTP upgrade request, computes the
 * Sec-WebSocket-Accept value, parses client frames incrementally (any
 * split of the input, down to one byte at a time), reassembles fragmented
 * messages under a size cap, validates UTF-8 as it arrives and enforces the
 * close-code rules.  It also writes server frame headers.
 *
 * It also implements permessage-deflate (RFC 7692, deflate.c): the
 * negotiation, inflating client messages inside the parser and
 * compressing one server message at a time.
 *
 * It knows nothing of sockets, processes, Redis or logging: every function
 * works on caller-supplied buffers and reports failure as a negative
 * enum ws_err, which ws_err_close_code() maps to a close status.
 */
#ifndef WS_WS_H
#define WS_WS_H

#include <stddef.h>
#include <stdint.h>

/* Opcodes (RFC 6455 section 5.2). */
#define WS_OP_CONT	0x0
#define WS_OP_TEXT	0x1
#define WS_OP_BINARY	0x2
#define WS_OP_CLOSE	0x8
#define WS_OP_PING	0x9
#define WS_OP_PONG	0xa

/* Close status codes used by the server (section 7.4.1). */
#define WS_CLOSE_NORMAL		1000
#define WS_CLOSE_GOING_AWAY	1001
#define WS_CLOSE_PROTOCOL	1002
#define WS_CLOSE_NO_STATUS	1005	/* never sent: "peer gave no code" */
#define WS_CLOSE_ABNORMAL	1006	/* never sent: "TCP closed without close" */
#define WS_CLOSE_INVALID_DATA	1007
#define WS_CLOSE_POLICY		1008
#define WS_CLOSE_TOO_BIG	1009
#define WS_CLOSE_INTERNAL	1011

#define WS_CONTROL_MAX		125	/* largest control frame payload */
#define WS_FRAME_HEADER_MAX	14	/* 2 + 8 length + 4 mask */
/* Or'ed into ws_frame_header()'s opcode: RSV1, "compressed" (RFC 7692). */
#define WS_RSV1			0x40
#define WS_ACCEPT_LEN		28	/* base64 of a SHA-1 digest */

enum ws_err {
	WS_OK = 0,
	WS_E_UNMASKED = -1,	/* client frame without mask */
	WS_E_RSV = -2,		/* RSV1-3 set, no extension negotiated */
	WS_E_OPCODE = -3,	/* reserved opcode */
	WS_E_CTRL_FRAGMENTED = -4,
	WS_E_CTRL_TOO_LONG = -5,
	WS_E_NO_MESSAGE = -6,	/* continuation without a started message */
	WS_E_IN_MESSAGE = -7,	/* new data frame inside a fragmented one */
	WS_E_CLOSE_LEN = -8,	/* close payload of length 1 */
	WS_E_CLOSE_CODE = -9,	/* close code not allowed on the wire */
	WS_E_LENGTH = -10,	/* 64-bit length with top bit, or not minimal */
	WS_E_UTF8 = -11,	/* invalid UTF-8 in text or close reason */
	WS_E_TOO_BIG = -12,	/* message over the configured cap */
	WS_E_NOMEM = -13,
	WS_E_CLOSED = -14,	/* data after the peer's close frame */
	WS_E_DEFLATE = -15,	/* compressed message that does not inflate */
};

int		 ws_err_close_code(int err);
const char	*ws_strerror(int err);

/*
 * Incremental UTF-8 validation that fails fast: an invalid sequence is
 * reported at the first byte that makes it impossible, even when the
 * sequence is split across calls.
 */
struct ws_utf8 {
	uint8_t		need;	/* continuation bytes still expected */
	uint8_t		lo, hi;	/* allowed range of the next byte */
};

void	ws_utf8_init(struct ws_utf8 *);
/* Returns 0 if buf continues valid UTF-8, WS_E_UTF8 otherwise. */
int	ws_utf8_feed(struct ws_utf8 *, const uint8_t *buf, size_t len);
/* True when no multi-byte sequence is left open. */
int	ws_utf8_complete(const struct ws_utf8 *);
/* Whole-buffer check: 1 when valid and complete. */
int	ws_utf8_valid(const uint8_t *buf, size_t len);

/* Close-code rules (section 7.4): 1 when a peer may send this code. */
int	ws_close_code_valid(unsigned int code);

/*
 * Frames.  ws_frame_header() writes an unmasked server frame header in the
 * minimal length form and returns its size (2, 4 or 10 bytes).
 * ws_mask() XORs buf with key, starting at byte offset `off' of the key
 * stream, so a payload can be unmasked in pieces.
 */
size_t	ws_frame_header(uint8_t out[WS_FRAME_HEADER_MAX], int opcode, int fin,
	    uint64_t len);
void	ws_mask(uint8_t *buf, size_t len, const uint8_t key[4], uint64_t off);

/*
 * What the parser hands back, one at a time.  For WS_EV_TEXT and
 * WS_EV_BINARY, data/len is the whole reassembled message; for control
 * frames it is the payload.  WS_EV_CLOSE has code set (1005 when the
 * payload was empty) and data/len is the reason.  The pointers stay valid
 * until the next ws_parse() call.
 */
enum ws_event_type {
	WS_EV_NONE = 0,
	WS_EV_TEXT,
	WS_EV_BINARY,
	WS_EV_PING,
	WS_EV_PONG,
	WS_EV_CLOSE,
};

struct ws_event {
	enum ws_event_type	 type;
	const uint8_t		*data;
	size_t			 len;
	unsigned int		 code;
};

struct ws_parser {
	/* frame layer */
	int		 state;
	uint8_t		 hdr[WS_FRAME_HEADER_MAX];
	size_t		 hdr_have, hdr_need;
	int		 fin, opcode;
	uint8_t		 key[4];
	uint64_t	 flen, fgot;	/* frame payload length, received */

	/* message layer */
	int		 msg_opcode;	/* 0 when no data message is open */
	uint8_t		*msg;
	size_t		 msg_len, msg_cap, msg_max;
	struct ws_utf8	 utf8;
	uint8_t		 ctl[WS_CONTROL_MAX];
	int		 closed;	/* a close frame was parsed */

	/* permessage-deflate, set by ws_parser_inflate() (deflate.c) */
	int		 inflate_bits;	/* client's window; 0 = not agreed */
	int		 inflate_reset;	/* client_no_context_takeover */
	int		 msg_deflated;	/* the open message had RSV1 */
	int		 inflate_ended;	/* its stream ended (BFINAL), no more */
	uint64_t	 msg_wire;	/* its compressed bytes so far */
	void		*inflate;	/* zlib's stream, made on first use */
};

/* max is the largest message accepted (section 10.4); 0 means no cap. */
void	ws_parser_init(struct ws_parser *, size_t max);
void	ws_parser_free(struct ws_parser *);

/*
 * Let the parser take compressed messages (RSV1 on a message's first
 * frame): bits is the client's LZ77 window (8-15), reset is 1 when the
 * client agreed to client_no_context_takeover.  The inflated size counts
 * against max.  The inflate state is made on the first compressed
 * message; with reset it is freed after each, otherwise kept until
 * ws_parser_free().
 */
void	ws_parser_inflate(struct ws_parser *, int bits, int reset);

/*
 * Consume up to len bytes.  *used is set to the bytes consumed.  Returns
 * 1 with *ev filled when an event is complete (call again with the rest
 * of the input), 0 when all input was consumed without completing one, or
 * a negative enum ws_err: the connection must then be failed with
 * ws_err_close_code(err).  The payload is unmasked in place in buf.
 */
int	ws_parse(struct ws_parser *, uint8_t *buf, size_t len, size_t *used,
	    struct ws_event *ev);

/*
 * Handshake.  ws_request_parse() parses a complete request head (up to
 * and including the blank line) into req, whose strings point into a
 * private copy.  It returns 0 or an HTTP status: 400 for a malformed
 * head.  ws_request_check() then applies the WebSocket rules and returns
 * 0 or the status to answer with (400, 405, 426).
 */
#define WS_HEAD_MAX	8192	/* larger heads get 431 */
#define WS_PROTOCOL_LINES 8	/* Sec-WebSocket-Protocol lines looked at */
#define WS_EXTENSION_LINES 8	/* Sec-WebSocket-Extensions lines looked at */

struct ws_request {
	char		 buf[WS_HEAD_MAX + 1];
	const char	*method;
	const char	*target;	/* as sent: path and query */
	const char	*path;		/* target up to '?' (copied) */
	const char	*query;		/* after '?', or NULL */
	int		 http_minor;	/* HTTP/1.x */
	const char	*host;
	const char	*upgrade;
	const char	*connection;
	/* List headers may repeat (RFC 9110 5.3): tokens seen in any line. */
	int		 upgrade_websocket;
	int		 connection_upgrade;
	const char	*key;
	const char	*version;
	const char	*origin;
	const char	*authorization;
	/* Sec-WebSocket-Protocol lines (a list header: it may repeat). */
	const char	*protocol[WS_PROTOCOL_LINES];
	int		 nprotocol;
	/* Sec-WebSocket-Extensions lines, in order (a list header too). */
	const char	*extension[WS_EXTENSION_LINES];
	int		 nextension;
	int		 duplicate;	/* a header that must be unique was repeated */
	char		 pathbuf[WS_HEAD_MAX + 1];
};

/* Offset just past "\r\n\r\n" (or "\n\n") in buf, or 0 if not there yet. */
size_t	ws_head_end(const char *buf, size_t len);
int	ws_request_parse(struct ws_request *, const char *head, size_t len);
int	ws_request_is_upgrade(const struct ws_request *);
int	ws_request_check(const struct ws_request *);
/* Sec-WebSocket-Accept for key; out gets WS_ACCEPT_LEN chars and a NUL. */
int	ws_accept_key(const char *key, char out[WS_ACCEPT_LEN + 1]);
/* 1 if the client offers subprotocol in Sec-WebSocket-Protocol. */
int	ws_request_offers(const struct ws_request *, const char *protocol);
/* 1 if s is a comma-separated token list containing token (any case). */
int	ws_token_list_has(const char *s, const char *token);

/*
 * Query strings: ws_query_get() finds name in a query string and
 * percent-decodes its value into out (NUL-terminated).  Returns the
 * decoded length, -1 when absent, -2 when malformed or longer than
 * outsize - 1.
 */
int	ws_query_get(const char *query, const char *name, char *out,
	    size_t outsize);

/*
 * permessage-deflate (RFC 7692), deflate.c.
 *
 * ws_pmd_negotiate() reads the offers in the Sec-WebSocket-Extensions
 * lines, in order, and accepts the first permessage-deflate offer it can
 * honour: every parameter known, none repeated, each value valid.  The
 * server always compresses without context takeover, with a window of at
 * most server_bits (9-15) and at most what the client allows; the client
 * keeps its context unless it offered client_no_context_takeover, and
 * its window is limited to client_bits when it offered
 * client_max_window_bits (which lets the server say so).  Returns 1 with
 * *pmd filled, 0 when no offer is acceptable (or none was made).
 */
struct ws_pmd {
	int	on;
	int	server_bits;	/* the window the server compresses with */
	int	server_bits_said; /* answer server_max_window_bits */
	int	client_bits;	/* the client's window: 8-15 */
	int	client_bits_said; /* answer client_max_window_bits */
	int	client_reset;	/* client_no_context_takeover */
};

#define WS_PMD_RESPONSE_MAX	160	/* the answer's longest form, and NUL */

int	ws_pmd_negotiate(const char *const *lines, int nlines, int server_bits,
	    int client_bits, struct ws_pmd *pmd);
/* The Sec-WebSocket-Extensions value that accepts pmd, NUL-terminated. */
void	ws_pmd_response(const struct ws_pmd *, char out[WS_PMD_RESPONSE_MAX]);

/*
 * Compress one message, given as parts taken in order as one (a header
 * and a payload), with no context kept: a raw deflate stream ended by a
 * sync flush less its 4 trailing bytes.  The state lives only during the
 * call, in a static arena (one per process); ws_deflate_release() gives
 * its pages, and the bytes they hold, back to the kernel, after which
 * compressing has left the process as it was.  Returns the compressed
 * size, or -1 when it would not fit in outcap (then the message is
 * better sent as it is) or zlib failed.
 */
struct ws_part {
	const void	*data;
	size_t		 len;
};

long	ws_deflate_message(int level, int bits, const struct ws_part *parts,
	    int nparts, uint8_t *out, size_t outcap);
void	ws_deflate_release(void);
/*
 * Compress a sample and inflate it through a parser: 0 when both give it
 * back.  Run once before forking, it also binds zlib's calls to libc, so
 * that no child writes zlib's pages to do that.
 */
int	ws_deflate_selftest(void);	/* selftest.c */

#endif /* WS_WS_H */
