/*
 * resp.c -- parse the pushes of a subscribed Redis connection in place.
 */
#include <string.h>

#include "resp.h"

/*
 * The line at *p, up to CRLF: 1 with *p moved past it, 0 when the CRLF
 * has not arrived yet, -1 when the line is too long or has a bare CR.
 */
static int
line(const char **p, const char *end, const char **s, size_t *len)
{
	size_t avail = (size_t)(end - *p);
	const char *cr;

	cr = memchr(*p, '\r', avail < RESP_LINE_MAX ? avail : RESP_LINE_MAX);
	if (cr == NULL)
		return avail >= RESP_LINE_MAX ? -1 : 0;
	if (cr + 1 == end)
		return 0;
	if (cr[1] != '\n')
		return -1;
	*s = *p;
	*len = (size_t)(cr - *p);
	*p = cr + 2;
	return 1;
}

/* A decimal integer, optionally negative, of at most 18 digits. */
static int
number(const char *s, size_t len, long long *out)
{
	long long v = 0;
	size_t i = 0;
	int neg = 0;

	if (len > 0 && s[0] == '-') {
		neg = 1;
		i = 1;
	}
	if (i == len || len - i > 18)
		return -1;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = neg ? -v : v;
	return 0;
}

/* A type byte, then a number, then CRLF. */
static int
header(const char **p, const char *end, char type, long long *v)
{
	const char *s;
	size_t len;
	int r;

	if ((r = line(p, end, &s, &len)) != 1)
		return r;
	if (len < 2 || s[0] != type || number(s + 1, len - 1, v) == -1)
		return -1;
	return 1;
}

ssize_t
resp_parse(const char *buf, size_t len, struct resp_reply *r, size_t *need)
{
	const char *p = buf, *end = buf + len, *s;
	struct resp_elem *e;
	long long v;
	size_t slen;
	int i, rc;

	*need = 0;
	if (len == 0)
		return 0;
	memset(r, 0, sizeof(*r));
	r->type = buf[0];
	switch (buf[0]) {
	case '-':
	case '+':
		if ((rc = line(&p, end, &s, &slen)) != 1)
			return rc;
		r->line = s + 1;
		r->line_len = slen - 1;
		return p - buf;
	case '*':
		break;
	default:
		return -1;
	}
	if ((rc = header(&p, end, '*', &v)) != 1)
		return rc;
	if (v < 1 || v > RESP_ELEMS_MAX)
		return -1;
	r->n = (int)v;
	for (i = 0; i < r->n; i++) {
		e = &r->e[i];
		if (p == end)
			return 0;
		if (*p == ':') {
			if ((rc = header(&p, end, ':', &e->num)) != 1)
				return rc;
			e->type = ':';
			continue;
		}
		if ((rc = header(&p, end, '$', &v)) != 1)
			return rc;
		if (v == -1)
			continue;	/* null bulk: type stays 0 */
		if (v < 0 || v > RESP_BULK_MAX)
			return -1;
		if ((size_t)(end - p) < (size_t)v + 2) {
			*need = (size_t)(p - buf) + (size_t)v + 2;
			return 0;
		}
		if (p[v] != '\r' || p[v + 1] != '\n')
			return -1;
		e->type = '$';
		e->str = p;
		e->len = (size_t)v;
		p += v + 2;
	}
	return p - buf;
}

int
resp_is(const struct resp_elem *e, const char *s)
{
	size_t n = strlen(s);

	return e->type == '$' && e->len == n && memcmp(e->str, s, n) == 0;
}
