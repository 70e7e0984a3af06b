/*
 * fuzz_resp.c -- libFuzzer target for child/resp.c and child/cluster.c.
 *
 * The input is read as a stream of pushes from a subscribed connection:
 * resp_parse() takes one reply at a time until it wants more bytes or
 * refuses them.  The oracles:
 *   - a reply lies inside the input, its elements inside the reply, each
 *     bulk string between "$LEN\r\n" (LEN its length) and "\r\n";
 *   - the reply parsed from growing prefixes of the input gives 0 for
 *     every prefix shorter than the reply (never -1 before the whole
 *     reply is there, never less than *need), then the same reply;
 *     a refused reply stays refused when more bytes come;
 *   - an error line goes to cluster_redirect() as the subscriber does.
 * The whole input also goes to cluster_redirect(), to cluster_slot()
 * (checked against Redis' keyHashSlot()) and, through hiredis' reader,
 * to cluster_map_load(), cluster_map_set() and cluster_map_owner().
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "../../child/cluster.h"
#include "../../child/resp.h"

#define CHECK(x)	do { if (!(x)) abort(); } while (0)

/* Redis' crc16.c, table-free, and keyHashSlot() from its cluster.c. */
static unsigned int
ref_crc16(const unsigned char *p, size_t len)
{
	unsigned int crc = 0;
	size_t i;
	int b;

	for (i = 0; i < len; i++)
		for (b = 7; b >= 0; b--) {
			unsigned int bit = ((crc >> 15) ^ (p[i] >> b)) & 1;

			crc = ((crc << 1) & 0xffff) ^ (bit ? 0x1021 : 0);
		}
	return crc;
}

static unsigned int
ref_slot(const unsigned char *key, size_t len)
{
	size_t s, e;

	for (s = 0; s < len; s++)
		if (key[s] == '{')
			break;
	if (s == len)
		return ref_crc16(key, len) & 0x3fff;
	for (e = s + 1; e < len; e++)
		if (key[e] == '}')
			break;
	if (e == len || e == s + 1)
		return ref_crc16(key, len) & 0x3fff;
	return ref_crc16(key + s + 1, e - s - 1) & 0x3fff;
}

/* The decimal number that ends just before end, after a sign byte. */
static long long
number_before(const char *start, const char *end, char sign)
{
	const char *p = end;
	long long v = 0, m = 1;

	while (p > start && p[-1] >= '0' && p[-1] <= '9') {
		p--;
		v += (p[0] - '0') * m;
		m *= 10;
	}
	CHECK(p < end && p > start && p[-1] == sign);
	return v;
}

static void
check_reply(const char *b, size_t n, const struct resp_reply *r)
{
	const char *end = b + n, *prev = b;
	int i;

	CHECK(n >= 3 && b[n - 2] == '\r' && b[n - 1] == '\n');
	CHECK(r->type == b[0]);
	switch (r->type) {
	case '-':
	case '+':
		CHECK(r->line == b + 1 && r->line_len + 3 == n);
		CHECK(memchr(r->line, '\r', r->line_len) == NULL);
		return;
	case '*':
		break;
	default:
		abort();
	}
	CHECK(r->n >= 1 && r->n <= RESP_ELEMS_MAX);
	CHECK(number_before(b, memchr(b, '\r', n), '*') == r->n);
	for (i = 0; i < r->n; i++) {
		const struct resp_elem *e = &r->e[i];

		switch (e->type) {
		case '$':
			CHECK(e->str > prev && e->str >= b + 4);
			CHECK(e->len <= (size_t)(end - e->str) - 2);
			CHECK(e->str[-2] == '\r' && e->str[-1] == '\n');
			CHECK(e->str[e->len] == '\r' &&
			    e->str[e->len + 1] == '\n');
			CHECK(number_before(prev, e->str - 2, '$') ==
			    (long long)e->len);
			prev = e->str + e->len;
			if (memchr(e->str, '\0', e->len) == NULL &&
			    e->len < 256) {
				char s[256];

				memcpy(s, e->str, e->len);
				s[e->len] = '\0';
				CHECK(resp_is(e, s));
				if (e->len > 0) {
					s[e->len - 1] = '\0';
					CHECK(!resp_is(e, s));
				}
			}
			break;
		case 0:
			CHECK(e->str == NULL && e->len == 0);
			/* FALLTHROUGH */
		case ':':
			CHECK(!resp_is(e, ""));
			break;
		default:
			abort();
		}
	}
	CHECK(prev < end);
}

static int
same_reply(const struct resp_reply *a, const struct resp_reply *b)
{
	int i;

	/* Only the fields that mean something for the type. */
	if (a->type != b->type)
		return 0;
	if (a->type != '*')
		return a->line == b->line && a->line_len == b->line_len;
	if (a->n != b->n)
		return 0;
	for (i = 0; i < a->n; i++) {
		if (a->e[i].type != b->e[i].type)
			return 0;
		if (a->e[i].type == ':' && a->e[i].num != b->e[i].num)
			return 0;
		if (a->e[i].type == '$' && (a->e[i].str != b->e[i].str ||
		    a->e[i].len != b->e[i].len))
			return 0;
	}
	return 1;
}

/*
 * Growing prefixes of b[0..len): 0 until the reply is whole (and at
 * least until *need), then n and the same reply ever after; or 0 until
 * some prefix is refused, and -1 ever after.
 */
static void
check_prefixes(const char *b, size_t len, ssize_t n,
    const struct resp_reply *whole)
{
	struct resp_reply r;
	size_t k, need, atleast = 0;
	ssize_t got;
	int refused = 0;

	for (k = 0; k <= len; k++) {
		got = resp_parse(b, k, &r, &need);
		if (refused) {
			CHECK(got == -1);
			continue;
		}
		if (got == 0) {
			CHECK(need == 0 || need > k);
			if (need > 0) {
				CHECK(need >= atleast);
				atleast = need;
			}
			if (n > 0)
				CHECK(k < (size_t)n && need <= (size_t)n);
			continue;
		}
		CHECK(k >= atleast);
		if (got == -1) {
			CHECK(n == -1);
			refused = 1;
			continue;
		}
		CHECK(got == n && k == (size_t)n);
		CHECK(same_reply(&r, whole));
		break;
	}
	if (n == -1)
		CHECK(refused);
	if (n == 0)
		CHECK(!refused);
	if (n > 0)
		CHECK(k == (size_t)n);
}

static void
check_redirect(const char *text, size_t len)
{
	struct redis_addr to;
	unsigned int slot;
	int kind;

	kind = cluster_redirect(text, len, &slot, &to);
	CHECK(kind >= 0 && kind <= 2);
	if (kind == 0)
		return;
	CHECK(len >= 4 && memcmp(text, kind == 1 ? "MOVED " : "ASK ",
	    kind == 1 ? 6 : 4) == 0);
	CHECK(slot < CLUSTER_SLOTS);
	CHECK(to.port >= 1 && to.port <= 65535);
	CHECK(memchr(to.host, '\0', sizeof(to.host)) != NULL);
	CHECK(strlen(to.host) < len);
}

/* No slot in two entries of an accepted CLUSTER SLOTS reply. */
static int
disjoint(const redisReply *reply)
{
	static unsigned char seen[CLUSTER_SLOTS];
	const redisReply *e;
	size_t i;
	long long s;
	int ok = 1;

	memset(seen, 0, sizeof(seen));
	for (i = 0; i < reply->elements && ok; i++) {
		e = reply->element[i];
		for (s = e->element[0]->integer;
		    s <= e->element[1]->integer && ok; s++)
			ok = !seen[s]++;
	}
	return ok;
}

/*
 * hiredis 0.14 allocates an array of the announced size before its
 * elements come: refuse inputs that announce more than a few thousand.
 */
static int
small_arrays(const uint8_t *p, size_t len)
{
	size_t i, j;
	unsigned long v;

	for (i = 0; i < len; i++) {
		if (p[i] != '*')
			continue;
		for (v = 0, j = i + 1; j < len && p[j] >= '0' && p[j] <= '9' &&
		    v <= 4096; j++)
			v = v * 10 + (p[j] - '0');
		if (v > 4096)
			return 0;
	}
	return 1;
}

static void
check_map(const redisReply *reply, const char *data, size_t size)
{
	static const struct redis_addr asked = { "10.9.8.7", 7000, "" };
	const struct redis_addr *a, *o;
	struct redis_addr moved;
	unsigned int slot, s, probe[6];
	size_t i;
	int n, j;

	if (cluster_map_load(reply, &asked) == -1) {
		if (reply->type == REDIS_REPLY_ARRAY)
			CHECK(cluster_map_node(0) == NULL);
		return;
	}
	CHECK(reply->type == REDIS_REPLY_ARRAY);
	for (n = 0; (a = cluster_map_node(n)) != NULL; n++) {
		CHECK(a->port >= 1 && a->port <= 65535);
		CHECK(memchr(a->host, '\0', sizeof(a->host)) != NULL);
	}
	CHECK(n <= 1024 && n <= (int)reply->elements);
	if (reply->elements == 0)
		CHECK(n == 0);
	/* Each owner is one of the nodes; the first entry's slots are its. */
	for (i = 0; i < 8; i++) {
		s = (unsigned int)(i * 2341);
		if ((o = cluster_map_owner(s)) == NULL)
			continue;
		for (j = 0; j < n && cluster_map_node(j) != o; j++)
			;
		CHECK(j < n);
	}
	if (reply->elements > 0) {
		const redisReply *e = reply->element[0];

		o = cluster_map_owner((unsigned int)e->element[0]->integer);
		CHECK(o == cluster_map_node(0));
		CHECK(o->port == e->element[2]->element[1]->integer);
	}
	CHECK(cluster_map_owner(CLUSTER_SLOTS) == NULL);

	/* A -MOVED changes the owner of its slot, and of no other. */
	slot = cluster_slot(data, size);
	snprintf(moved.host, sizeof(moved.host), "moved.example");
	moved.port = 6379;
	probe[0] = slot > 0 ? slot - 1 : 1;
	probe[1] = slot < CLUSTER_SLOTS - 1 ? slot + 1 : slot - 2;
	probe[2] = 0;
	probe[3] = CLUSTER_SLOTS - 1;
	probe[4] = slot ^ 0x100;
	probe[5] = slot ^ 0x2000;
	const struct redis_addr *before[6];
	for (j = 0; j < 6; j++)
		before[j] = probe[j] == slot ? NULL :
		    cluster_map_owner(probe[j]);
	a = cluster_map_owner(slot);
	cluster_map_set(slot, &moved);
	/* Overlapping ranges (Redis never sends them): the first wins. */
	if (!disjoint(reply))
		return;
	o = cluster_map_owner(slot);
	/* Always learnt, even with the map full. */
	CHECK(o != NULL && o->port == 6379 &&
	    strcmp(o->host, "moved.example") == 0);
	(void)a;
	/* Others keep their owner, or are forgotten to make room. */
	for (j = 0; j < 6; j++)
		if (probe[j] != slot)
			CHECK(cluster_map_owner(probe[j]) == before[j] ||
			    cluster_map_owner(probe[j]) == NULL);

	/* Moved again: now a range of its own. */
	moved.port = 6380;
	a = o;
	cluster_map_set(slot, &moved);
	o = cluster_map_owner(slot);
	CHECK(o == NULL || o == a || (o->port == 6380 &&
	    strcmp(o->host, "moved.example") == 0));
	for (j = 0; j < 6; j++)
		if (probe[j] != slot)
			CHECK(cluster_map_owner(probe[j]) == before[j]);
}

/* resp_bulk() on the input, as resp_parse() does on "*1\r\n" + input. */
static void
check_bulk(const char *buf, size_t size)
{
	struct resp_reply r;
	struct resp_elem e;
	size_t need, need1;
	ssize_t n, n1;
	char *one;

	n = resp_bulk(buf, size, &e, &need);
	CHECK(n >= -1 && n <= (ssize_t)size);
	if (n == 0)
		CHECK(need == 0 || need > size);
	else
		CHECK(need == 0);
	if (n > 0) {
		CHECK(e.type == '$' || e.type == 0);
		if (e.type == '$')
			CHECK(e.str > buf && e.str + e.len + 2 == buf + n);
		else
			CHECK(n == 5 && memcmp(buf, "$-1\r\n", 5) == 0);
	}
	if ((one = malloc(size + 4)) == NULL)
		return;
	memcpy(one, "*1\r\n", 4);
	memcpy(one + 4, buf, size);
	n1 = resp_parse(one, size + 4, &r, &need1);
	if (size > 0 && buf[0] == ':')
		;	/* an integer: not a bulk */
	else if (n <= 0) {
		CHECK(n1 == n);
		CHECK(need1 == (need ? need + 4 : 0));
	} else {
		CHECK(n1 == n + 4 && r.n == 1 && r.e[0].type == e.type);
		if (e.type == '$')
			CHECK(r.e[0].str == one + (e.str - buf) + 4 &&
			    r.e[0].len == e.len);
	}
	free(one);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static redisReply *empty;
	const char *buf = (const char *)data;
	struct resp_reply r;
	redisReader *rd;
	void *reply;
	size_t off = 0, need;
	ssize_t n;

	/* The slot map is global: start each input from an empty one. */
	if (empty == NULL) {
		rd = redisReaderCreate();
		CHECK(rd != NULL);
		redisReaderFeed(rd, "*0\r\n", 4);
		CHECK(redisReaderGetReply(rd, (void **)&empty) == REDIS_OK);
		redisReaderFree(rd);
	}
	CHECK(cluster_map_load(empty, NULL) == 0);

	/* Replies one after another, as sub_next() takes them. */
	while (off < size) {
		need = 77;
		n = resp_parse(buf + off, size - off, &r, &need);
		CHECK(n >= -1 && n <= (ssize_t)(size - off));
		if (n == 0)
			CHECK(need == 0 || need > size - off);
		else
			CHECK(need == 0);
		check_prefixes(buf + off, size - off, n, &r);
		if (n <= 0)
			break;
		check_reply(buf + off, (size_t)n, &r);
		/* The same bytes with nothing after them: the same reply. */
		{
			struct resp_reply again;
			char *copy = malloc((size_t)n);

			CHECK(copy != NULL);
			memcpy(copy, buf + off, (size_t)n);
			CHECK(resp_parse(copy, (size_t)n, &again, &need) == n);
			CHECK(again.type == r.type && again.n == r.n);
			if (r.type != '*')
				CHECK(again.line_len == r.line_len);
			free(copy);
		}
		if (r.type == '-')
			check_redirect(r.line, r.line_len);
		off += (size_t)n;
	}

	check_bulk(buf, size);
	check_redirect(buf, size);
	CHECK(cluster_slot(buf, size) == ref_slot(data, size));

	/* The input as a CLUSTER SLOTS reply. */
	if (!small_arrays(data, size) || (rd = redisReaderCreate()) == NULL)
		return 0;
	if (redisReaderFeed(rd, buf, size) == REDIS_OK &&
	    redisReaderGetReply(rd, &reply) == REDIS_OK && reply != NULL) {
		check_map(reply, buf, size);
		freeReplyObject(reply);
	}
	redisReaderFree(rd);
	return 0;
}
