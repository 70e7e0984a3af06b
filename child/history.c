/*
 * history.c -- message ids, the history channel's name and messages, and
 * the reply of wspubsub_since (see history.h and the library itself,
 * contrib/redis/wspubsub.lua).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "history.h"
#include "resp.h"
#include "wspubsub_lua.h"	/* made from contrib/redis/wspubsub.lua */

/* Most entries a reply may hold: the library's own MAX_SIZE. */
#define REPLY_ENTRIES_MAX	1000000

/* Digits without a leading zero, at most 19 of them: 0, or -1. */
static int
number(const char *s, size_t len, uint64_t *v)
{
	size_t i;

	if (len == 0 || len > 19 || (len > 1 && s[0] == '0'))
		return -1;
	*v = 0;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*v = *v * 10 + (uint64_t)(s[i] - '0');
	}
	return 0;
}

/* "<epoch>-<n>", epoch 0 allowed (the point before any history). */
static int
id_parse(const char *s, size_t len, struct history_id *id)
{
	const char *dash = memchr(s, '-', len);

	if (dash == NULL ||
	    number(s, (size_t)(dash - s), &id->epoch) == -1 ||
	    number(dash + 1, len - (size_t)(dash - s) - 1, &id->n) == -1)
		return -1;
	id->set = 1;
	return 0;
}

int
history_id_parse(const char *s, size_t len, struct history_id *id)
{
	struct history_id v;

	if (len > HISTORY_ID_MAX || id_parse(s, len, &v) == -1 ||
	    v.epoch == 0)
		return -1;
	*id = v;
	return 0;
}

int
history_id_format(const struct history_id *id, char *out, size_t size)
{
	int n;

	n = snprintf(out, size, "%llu-%llu", (unsigned long long)id->epoch,
	    (unsigned long long)id->n);
	return n < 0 || (size_t)n >= size ? -1 : n;
}

int
history_name(const char *channel, char *out, size_t size)
{
	const char *open = strchr(channel, '{'), *close;
	int n;

	/* Redis hashes the text inside the first {...} if it is not empty. */
	if (open != NULL && (close = strchr(open + 1, '}')) != NULL &&
	    close > open + 1)
		n = snprintf(out, size, "%s%s", channel, HISTORY_SUFFIX);
	else if (strchr(channel, '}') != NULL || channel[0] == '\0')
		return -1;	/* "{}" would not be a hash tag */
	else
		n = snprintf(out, size, "{%s}%s", channel, HISTORY_SUFFIX);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

int
history_message(const char *p, size_t len, struct history_id *id,
    const char **payload, size_t *plen)
{
	const char *nl = memchr(p, '\n', len < HISTORY_ID_MAX + 1 ? len :
	    HISTORY_ID_MAX + 1);

	if (nl == NULL || id_parse(p, (size_t)(nl - p), id) == -1)
		return -1;
	*payload = nl + 1;
	*plen = len - (size_t)(nl - p) - 1;
	return 0;
}

int
history_order(const struct history_id *last, const struct history_id *m)
{
	if (last->epoch == m->epoch && last->epoch != 0) {
		if (m->n <= last->n)
			return 1;
		return m->n == last->n + 1 ? 0 : -1;
	}
	/*
	 * Another epoch than last's (or none was known): in order only if
	 * m is its first message.  Its history began after last's expired,
	 * or goes on from it on a server that took over; either way this
	 * connection has seen what came between (a resume asks the library,
	 * which knows where an epoch goes on from).
	 */
	return m->n == 0 ? 0 : -1;
}

void
history_reply_free(struct history_reply *r)
{
	free(r->e);
	r->e = NULL;
	r->n = 0;
}

static int
status_of(const struct resp_elem *e, enum history_status *st)
{
	if (resp_is(e, "recovered"))
		*st = HISTORY_RECOVERED;
	else if (resp_is(e, "gap"))
		*st = HISTORY_GAP;
	else if (resp_is(e, "none"))
		*st = HISTORY_NONE;
	else
		return -1;
	return 0;
}

ssize_t
history_reply_parse(const char *buf, size_t len, struct history_reply *r,
    size_t *need)
{
	struct resp_reply err;
	struct resp_elem e;
	long long count, i;
	size_t off;
	ssize_t n;

	memset(r, 0, sizeof(*r));
	*need = 0;
	if (len > 0 && buf[0] == '-') {
		if ((n = resp_parse(buf, len, &err, need)) > 0) {
			r->error = err.line;
			r->error_len = err.line_len;
		}
		return n;
	}
	if ((n = resp_array_header(buf, len, &count)) <= 0)
		return n;
	if (count < 2 || count % 2 != 0 || count > 2 + 2LL * REPLY_ENTRIES_MAX)
		return -1;
	off = (size_t)n;
	if (count > 2 && (r->e = calloc((size_t)(count - 2) / 2,
	    sizeof(*r->e))) == NULL)
		return -1;
	for (i = 0; i < count; i++) {
		if ((n = resp_bulk(buf + off, len - off, &e, need)) <= 0) {
			if (n == 0 && *need != 0)
				*need += off;
			history_reply_free(r);
			return n;
		}
		off += (size_t)n;
		if (e.type != '$')
			goto bad;
		if (i == 0) {
			if (status_of(&e, &r->status) == -1)
				goto bad;
		} else if (i == 1) {
			if (e.len == 0)
				r->newest.set = 1;	/* epoch 0: none */
			else if (id_parse(e.str, e.len, &r->newest) == -1)
				goto bad;
		} else if (i % 2 == 0) {
			if (id_parse(e.str, e.len, &r->e[r->n].id) == -1)
				goto bad;
		} else {
			r->e[r->n].payload = e.str;
			r->e[r->n].len = e.len;
			r->n++;
		}
	}
	return (ssize_t)off;
bad:
	history_reply_free(r);
	return -1;
}

const char	history_library[] = WSPUBSUB_LUA;
const size_t	history_library_len = sizeof(history_library) - 1;
const int	history_library_version = WSPUBSUB_LUA_VERSION;
