/*
 * history.h -- message ids and history, as the Redis Functions library
 * contrib/redis/wspubsub.lua keeps them.
 *
 * A message published with wspubsub_publish reaches the children on a
 * channel of its own, "{<channel>}#history" (or "<channel>#history" when
 * the channel has a hash tag), as "<id>\n<payload>"; its id is
 * "<epoch>-<n>": the time in milliseconds when the history began (or
 * another server took it over), with 6 digits that mark that server, and
 * the message's number in that epoch, from 0.  This file parses those, and the reply of wspubsub_since; it
 * knows nothing of sockets.
 */
#ifndef CHILD_HISTORY_H
#define CHILD_HISTORY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "settings.h"

#define HISTORY_ID_MAX		64	/* as the client sees it */
#define HISTORY_SUFFIX		"#history"
/* "{" channel "}" HISTORY_SUFFIX and a NUL */
#define HISTORY_NAME_MAX	(CHANNEL_PREFIX_MAX + USER_NAME_MAX + 12)

/*
 * An id.  set = 0: unknown (no history to go by).  epoch = 0: the point
 * before a history's first message (none existed when we looked).
 */
struct history_id {
	uint64_t	epoch;
	uint64_t	n;
	int		set;
};

/*
 * Parse an id as a client sends it: digits, a '-', digits, no leading
 * zeros, a non-zero epoch.  0, or -1 when it is not one.
 */
int	history_id_parse(const char *s, size_t len, struct history_id *);
/* "<epoch>-<n>" into out; its length, or -1 when out is too small. */
int	history_id_format(const struct history_id *, char *out, size_t);

/*
 * The name of channel's history stream and of the channel its messages
 * come on: in the same hash slot as channel.  -1 when there is no such
 * name (a '}' outside a hash tag) or it does not fit.
 */
int	history_name(const char *channel, char *out, size_t outsize);

/*
 * A message on the history channel, "<id>\n<payload>": 0 with the id and
 * the payload (pointing into p), or -1 when it is not one.
 */
int	history_message(const char *p, size_t len, struct history_id *,
	    const char **payload, size_t *plen);

/*
 * Where a message with id m stands after last (set), the newest already
 * delivered: 0 next in line, 1 already delivered, -1 something between
 * the two is missing.
 */
int	history_order(const struct history_id *last,
	    const struct history_id *m);

/* The reply of FCALL_RO wspubsub_since. */
enum history_status {
	HISTORY_NONE,		/* no resume was asked for */
	HISTORY_RECOVERED,	/* everything after the id is replayed */
	HISTORY_GAP,		/* something after the id is lost */
};

struct history_entry {
	struct history_id	 id;
	const char		*payload;	/* into the parsed buffer */
	size_t			 len;
};

struct history_reply {
	enum history_status	 status;
	struct history_id	 newest;	/* epoch 0: no history */
	struct history_entry	*e;		/* oldest first */
	size_t			 n;
	const char		*error;		/* an error reply's text */
	size_t			 error_len;
};

/*
 * Parse the reply at the start of buf: its length when it is complete
 * (an error reply too: then error is set and n is 0), 0 when more bytes
 * are needed (*need as in resp_parse), -1 when it is not a reply of
 * wspubsub_since.  The entries are allocated: history_reply_free().
 */
ssize_t	history_reply_parse(const char *buf, size_t len,
	    struct history_reply *, size_t *need);
void	history_reply_free(struct history_reply *);

/* The library's source, and its version (its "local VERSION = N"). */
extern const char	history_library[];
extern const size_t	history_library_len;
extern const int	history_library_version;

#endif /* CHILD_HISTORY_H */
