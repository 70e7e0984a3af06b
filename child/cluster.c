/*
 * cluster.c -- hash slots and the map of which node owns them.
 *
 * The map is a short list of slot ranges, as CLUSTER SLOTS gives them,
 * not a 16384-entry table: a spare loads it before its client comes, and
 * a few hundred bytes are cheaper to write in every child than 32 KiB.
 */
#include <stdio.h>
#include <string.h>

#include <bsd/string.h>

#include "cluster.h"

#define RANGES_MAX	512
#define NODES_MAX	CLUSTER_NODES_MAX

/* CRC16-CCITT (XModem), the polynomial Redis Cluster uses, bit by bit. */
static unsigned int
crc16(const char *buf, size_t len)
{
	unsigned int crc = 0;
	size_t i;
	int b;

	for (i = 0; i < len; i++) {
		crc ^= (unsigned int)(unsigned char)buf[i] << 8;
		for (b = 0; b < 8; b++)
			crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
		crc &= 0xffff;
	}
	return crc;
}

unsigned int
cluster_slot(const char *key, size_t len)
{
	const char *open, *close;

	/* Only the part between the first { and the next } counts, if any. */
	if ((open = memchr(key, '{', len)) != NULL &&
	    (close = memchr(open + 1, '}', len - (size_t)(open + 1 - key)))
	    != NULL && close > open + 1) {
		key = open + 1;
		len = (size_t)(close - key);
	}
	return crc16(key, len) & (CLUSTER_SLOTS - 1);
}

static struct range {
	unsigned short	lo, hi;
	unsigned short	node;
}		ranges[RANGES_MAX];
static int	nranges;
static struct redis_addr nodes[NODES_MAX];
static int	nnodes;

static int
node_index(const struct redis_addr *a)
{
	int i;

	for (i = 0; i < nnodes; i++)
		if (nodes[i].port == a->port &&
		    strcmp(nodes[i].host, a->host) == 0)
			return i;
	if (nnodes == NODES_MAX)
		return -1;
	nodes[nnodes] = *a;
	return nnodes++;
}

/*
 * With the list full, a map being loaded keeps what it has; a -MOVED
 * (evict set) forgets the last range instead, whose slots are asked anew.
 */
static void
add_range(unsigned int lo, unsigned int hi, const struct redis_addr *a,
    int evict)
{
	int n;

	if (nranges == RANGES_MAX && !evict)
		return;
	if ((n = node_index(a)) == -1)
		return;		/* learnt again from the next -MOVED */
	if (nranges == RANGES_MAX)
		nranges--;
	ranges[nranges].lo = (unsigned short)lo;
	ranges[nranges].hi = (unsigned short)hi;
	ranges[nranges].node = (unsigned short)n;
	nranges++;
}

/* The master of one CLUSTER SLOTS entry: [lo, hi, [host, port, id], ...] */
static int
entry_owner(const redisReply *e, const struct redis_addr *asked,
    struct redis_addr *a, unsigned int *lo, unsigned int *hi)
{
	const redisReply *m;

	if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
	    e->element[0]->type != REDIS_REPLY_INTEGER ||
	    e->element[1]->type != REDIS_REPLY_INTEGER)
		return -1;
	if (e->element[0]->integer < 0 ||
	    e->element[1]->integer >= CLUSTER_SLOTS ||
	    e->element[0]->integer > e->element[1]->integer)
		return -1;
	*lo = (unsigned int)e->element[0]->integer;
	*hi = (unsigned int)e->element[1]->integer;
	m = e->element[2];
	if (m->type != REDIS_REPLY_ARRAY || m->elements < 2 ||
	    m->element[0]->type != REDIS_REPLY_STRING ||
	    m->element[1]->type != REDIS_REPLY_INTEGER ||
	    m->element[1]->integer < 1 || m->element[1]->integer > 65535)
		return -1;
	/* "" or "?" means the address we asked on (cluster-preferred-endpoint) */
	if (m->element[0]->len == 0 || strcmp(m->element[0]->str, "?") == 0) {
		strlcpy(a->host, asked->host, sizeof(a->host));
		strlcpy(a->ip, asked->ip, sizeof(a->ip));
	} else if (strlcpy(a->host, m->element[0]->str, sizeof(a->host)) >=
	    sizeof(a->host))
		return -1;
	else
		a->ip[0] = '\0';
	a->port = (int)m->element[1]->integer;
	return 0;
}

int
cluster_map_load(const redisReply *r, const struct redis_addr *asked)
{
	struct redis_addr a;
	unsigned int lo, hi;
	size_t i;

	nranges = nnodes = 0;
	if (r->type != REDIS_REPLY_ARRAY)
		return -1;
	for (i = 0; i < r->elements; i++) {
		if (entry_owner(r->element[i], asked, &a, &lo, &hi) == -1) {
			nranges = nnodes = 0;
			return -1;
		}
		add_range(lo, hi, &a, 0);
	}
	return 0;
}

const struct redis_addr *
cluster_map_owner(unsigned int slot)
{
	int i;

	for (i = 0; i < nranges; i++)
		if (slot >= ranges[i].lo && slot <= ranges[i].hi)
			return &nodes[ranges[i].node];
	return NULL;
}

/*
 * After a -MOVED, cut slot out of the range that held it and give it a
 * range of its own; the next CLUSTER SLOTS puts things straight anyway.
 * With the list full, the whole old range is forgotten instead (its
 * slots are then asked of any node and learnt from -MOVED in turn).
 */
void
cluster_map_set(unsigned int slot, const struct redis_addr *a)
{
	struct range *r;
	int i, n;

	for (i = 0; i < nranges; i++) {
		r = &ranges[i];
		if (slot < r->lo || slot > r->hi)
			continue;
		if (r->lo == r->hi) {
			*r = ranges[--nranges];
			break;
		}
		if (slot == r->lo)
			r->lo++;
		else if (slot == r->hi)
			r->hi--;
		else {
			if (nranges == RANGES_MAX) {
				*r = ranges[--nranges];
				break;
			}
			n = nranges++;
			ranges[n] = *r;
			ranges[n].lo = (unsigned short)(slot + 1);
			r->hi = (unsigned short)(slot - 1);
		}
		break;
	}
	add_range(slot, slot, a, 1);
}

const struct redis_addr *
cluster_map_node(int i)
{
	return i >= 0 && i < nnodes ? &nodes[i] : NULL;
}

/* Digits only, no sign or blank, at most max: strtoul() takes too much. */
static int
decimal(const char *s, const char *end, unsigned long max, unsigned long *v)
{
	unsigned long n = 0;

	if (s == end || end - s > 5)
		return -1;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		n = n * 10 + (unsigned long)(*s - '0');
	}
	if (n > max)
		return -1;
	*v = n;
	return 0;
}

int
cluster_redirect(const char *text, size_t len, unsigned int *slot,
    struct redis_addr *to)
{
	char buf[REDIS_HOST_MAX + 32], *sp, *colon, *end;
	unsigned long v;
	int kind;

	if (len >= sizeof(buf) || memchr(text, '\0', len) != NULL)
		return 0;
	memcpy(buf, text, len);
	buf[len] = '\0';
	if (strncmp(buf, "MOVED ", 6) == 0)
		kind = 1;
	else if (strncmp(buf, "ASK ", 4) == 0)
		kind = 2;
	else
		return 0;
	sp = buf + (kind == 1 ? 6 : 4);
	if ((end = strchr(sp, ' ')) == NULL ||
	    decimal(sp, end, CLUSTER_SLOTS - 1, &v) == -1)
		return 0;
	*slot = (unsigned int)v;
	sp = end + 1;
	if ((colon = strrchr(sp, ':')) == NULL ||
	    decimal(colon + 1, colon + strlen(colon), 65535, &v) == -1 ||
	    v == 0 || strpbrk(sp, " \t") != NULL)
		return 0;
	*colon = '\0';
	/* An IPv6 address may come bare ("::1:7000") or in brackets. */
	if (*sp == '[') {
		if (colon == sp || colon[-1] != ']')
			return 0;
		sp++;
		colon[-1] = '\0';
	}
	if (strpbrk(sp, "[]") != NULL)
		return 0;
	/* An empty host means the node that answered (the caller knows it). */
	if (strlcpy(to->host, sp, sizeof(to->host)) >= sizeof(to->host))
		return 0;
	to->ip[0] = '\0';
	to->port = (int)v;
	return kind;
}
