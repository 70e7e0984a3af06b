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

/*
 * A type byte, a decimal number (optionally negative, at most 18 digits,
 * written as Redis writes it: no leading zero, no "-0") and CRLF, read in
 * one pass: this runs four times per message.
 */
static int
header(const char **pp, const char *end, char type, long long *v)
{
	const char *p = *pp;
	long long n = 0;
	int neg = 0, digits = 0;

	if (p == end)
		return 0;
	if (*p++ != type)
		return -1;
	if (p < end && *p == '-') {
		neg = 1;
		p++;
	}
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		if (++digits > 18 || (digits == 2 && n == 0))
			return -1;	/* too long, or a leading zero */
		n = n * 10 + (*p - '0');
	}
	if (p == end)
		return 0;
	if (digits == 0 || (neg && n == 0) || *p != '\r')
		return -1;	/* no digits, "-0", or not CRLF */
	if (p + 1 == end)
		return 0;
	if (p[1] != '\n')
		return -1;
	*v = neg ? -n : n;
	*pp = p + 2;
	return 1;
}

ssize_t
resp_bulk(const char *buf, size_t len, struct resp_elem *e, size_t *need)
{
	const char *p = buf, *end = buf + len;
	long long v;
	int rc;

	*need = 0;
	if ((rc = header(&p, end, '$', &v)) != 1)
		return rc;
	if (v == -1) {
		e->type = 0;	/* null bulk */
		e->str = NULL;
		e->len = 0;
		return p - buf;
	}
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
	return p + v + 2 - buf;
}

ssize_t
resp_parse(const char *buf, size_t len, struct resp_reply *r, size_t *need)
{
	const char *p = buf, *end = buf + len, *s;
	struct resp_elem *e;
	long long v;
	size_t slen;
	ssize_t n;
	int i, rc;

	*need = 0;
	if (len == 0)
		return 0;
	r->type = buf[0];
	r->n = 0;
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
		n = resp_bulk(p, (size_t)(end - p), e, need);
		if (n <= 0) {
			if (*need != 0)
				*need += (size_t)(p - buf);
			return n;
		}
		p += n;
	}
	return p - buf;
}

int
resp_is(const struct resp_elem *e, const char *s)
{
	size_t n = strlen(s);

	return e->type == '$' && e->len == n && memcmp(e->str, s, n) == 0;
}

ssize_t
resp_array_header(const char *buf, size_t len, long long *count)
{
	const char *p = buf;
	int rc;

	if ((rc = header(&p, buf + len, '*', count)) != 1)
		return rc;
	return p - buf;
}
