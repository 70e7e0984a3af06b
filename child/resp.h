/*
 * resp.h -- the few RESP2 replies a subscribed connection receives.
 *
 * Once a connection has subscribed, Redis sends only pushes (message,
 * smessage, [s]subscribe, [s]unsubscribe: arrays of up to three bulk
 * strings or integers) and, for a command it refuses, an error line.
 * This parser reads those in place, without copying or allocating, so
 * the payload of a message can go to the client straight from the read
 * buffer.  It knows nothing of sockets.
 */
#ifndef CHILD_RESP_H
#define CHILD_RESP_H

#include <stddef.h>
#include <sys/types.h>

#define RESP_LINE_MAX	4096		/* error and status lines */
#define RESP_BULK_MAX	(512LL << 20)	/* Redis' proto-max-bulk-len */
#define RESP_ELEMS_MAX	3

struct resp_elem {
	char		 type;	/* '$' bulk, ':' integer, 0 = null bulk */
	const char	*str;	/* bulk: into the parsed buffer */
	size_t		 len;
	long long	 num;	/* integer */
};

struct resp_reply {
	char		 type;	/* '*' array, '-' error, '+' status */
	const char	*line;	/* '-' and '+': the text after the sign */
	size_t		 line_len;
	int		 n;	/* '*': element count */
	struct resp_elem e[RESP_ELEMS_MAX];
};

/*
 * Parse one reply at the start of buf.  Returns its length when it is
 * complete, 0 when more bytes are needed (then *need is where the bulk
 * being read ends, a lower bound of the reply's length, once its header
 * has told it, else 0), -1 when the bytes are not a reply this parser
 * accepts.
 */
ssize_t	resp_parse(const char *buf, size_t len, struct resp_reply *,
	    size_t *need);

/*
 * One bulk string at the start of buf ("$5\r\nhello\r\n"), with the same
 * results as resp_parse.
 */
ssize_t	resp_bulk(const char *buf, size_t len, struct resp_elem *,
	    size_t *need);

/*
 * The header of an array ("*3\r\n") at the start of buf: its length with
 * *count set (-1 for a null array), 0 when incomplete, -1 when it is not
 * one.  For replies longer than resp_parse takes, read element by element.
 */
ssize_t	resp_array_header(const char *buf, size_t len, long long *count);

/* 1 when e is a bulk string equal to s. */
int	resp_is(const struct resp_elem *e, const char *s);

#endif /* CHILD_RESP_H */
