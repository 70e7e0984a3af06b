/*
 * fuzz_proxy.c -- libFuzzer target for child/proxy.c (the PROXY protocol
 * header, versions 1 and 2).
 *
 * The input is what a client sends on a proxy listener.  It goes through
 * the loop of proxy_read() in child/child.c against a simulated socket:
 * recv(MSG_PEEK) shows what has arrived (into buf + have, as there),
 * proxy_take() says how much to consume, proxy_parse() looks at what was
 * consumed.  The oracles:
 *   - proxy_take() never returns more than was peeked, never 0 when
 *     something was peeked, and never lets the consumed bytes pass the
 *     header: for v1 the first '\n' (and PROXY_V1_MAX), for v2 16 bytes
 *     until those are in, then 16 + the length they give;
 *   - on a result of 1 the consumed bytes are exactly the header: for v1
 *     they end at the first '\n', for v2 they are 16 + length; parsing
 *     them again gives 1 and the same peer, and every shorter prefix of
 *     them gives 0 (never -1 before the header is whole);
 *   - a peer, if not "", is "a.b.c.d:port" or "[v6]:port" with an address
 *     inet_pton() accepts, in its canonical inet_ntop() form, and a port
 *     of 0 to 65535 without leading zeros;
 *   - the same input arriving in random chunks (one byte at a time, small
 *     pieces, large pieces) gives the same result, consumed count and
 *     peer as when it is all there at once.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "../../child/proxy.h"

#define CHECK(x)	do { if (!(x)) abort(); } while (0)

#define PEER_SIZE	64	/* PEER_MAX in child/settings.h */

struct result {
	int	r;		/* 1 header, 0 wants more, -1 bad */
	size_t	used;		/* bytes consumed from the socket */
	char	peer[PEER_SIZE];
};

static uint64_t
next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* How far the header may go, given the input: consumed never passes it. */
static size_t
header_bound(const uint8_t *in, size_t len, size_t have)
{
	const uint8_t *nl;

	if (len == 0)
		return 0;
	if (in[0] == 'P') {
		if ((nl = memchr(in, '\n', len)) != NULL &&
		    (size_t)(nl - in) + 1 < PROXY_V1_MAX)
			return (size_t)(nl - in) + 1;
		return PROXY_V1_MAX;
	}
	if (have < 16 || len < 16)
		return 16;
	return 16 + ((size_t)in[14] << 8 | in[15]);
}

/*
 * proxy_read() against a socket through which the input arrives in
 * chunks; chunk sizes come from *seed (all at once when seed is NULL).
 */
static void
run(const uint8_t *in, size_t len, uint64_t *seed, unsigned int maxchunk,
    struct result *res)
{
	static uint8_t buf[PROXY_V2_MAX];
	size_t have = 0, arrived, n;
	ssize_t take;
	int r;

	arrived = seed == NULL ? len : 0;
	memset(res->peer, 0, sizeof(res->peer));
	for (;;) {
		n = arrived - have;
		if (n > sizeof(buf) - have)
			n = sizeof(buf) - have;
		if (n == 0) {
			if (arrived < len && have < sizeof(buf)) {
				arrived += 1 + next(seed) % maxchunk;
				if (arrived > len)
					arrived = len;
				continue;
			}
			/* Nothing more comes: "no PROXY header in time". */
			res->r = 0;
			res->used = have;
			return;
		}
		memcpy(buf + have, in + have, n);	/* recv(MSG_PEEK) */
		take = proxy_take(buf, have, buf + have, n);
		CHECK(take <= (ssize_t)n);
		CHECK(take != 0);
		if (take < 0) {
			res->r = -1;
			res->used = have;
			return;
		}
		have += (size_t)take;			/* recv() */
		CHECK(have <= header_bound(in, len, have));
		CHECK(memcmp(buf, in, have) == 0);
		r = proxy_parse(buf, have, res->peer, sizeof(res->peer));
		CHECK(r >= -1 && r <= 1);
		if (r != 0) {
			res->r = r;
			res->used = have;
			return;
		}
	}
}

/* "[v6]:port" or "a.b.c.d:port", canonical, port 0-65535. */
static void
check_peer(const char *peer)
{
	char addr[64], canon[INET6_ADDRSTRLEN];
	unsigned char bin[16];
	const char *colon, *p;
	size_t alen;
	unsigned long port;
	int af;

	CHECK(memchr(peer, '\0', PEER_SIZE) != NULL);
	if (peer[0] == '\0')
		return;
	if (peer[0] == '[') {
		af = AF_INET6;
		CHECK((colon = strstr(peer, "]:")) != NULL);
		alen = (size_t)(colon - peer - 1);
		memcpy(addr, peer + 1, alen);
		colon++;
	} else {
		af = AF_INET;
		CHECK((colon = strchr(peer, ':')) != NULL);
		alen = (size_t)(colon - peer);
		memcpy(addr, peer, alen);
	}
	addr[alen] = '\0';
	CHECK(inet_pton(af, addr, bin) == 1);
	CHECK(inet_ntop(af, bin, canon, sizeof(canon)) != NULL);
	CHECK(strcmp(canon, addr) == 0);
	p = colon + 1;
	CHECK(*p >= '0' && *p <= '9');
	CHECK(p[0] != '0' || p[1] == '\0');
	CHECK(strlen(p) <= 5);
	for (port = 0; *p != '\0'; p++) {
		CHECK(*p >= '0' && *p <= '9');
		port = port * 10 + (unsigned long)(*p - '0');
	}
	CHECK(port <= 65535);
}

static void
check_whole(const uint8_t *in, size_t len, const struct result *res)
{
	static uint8_t copy[PROXY_V2_MAX];
	char peer[PEER_SIZE];
	const uint8_t *nl;
	size_t i;

	if (res->r != 1)
		return;
	CHECK(res->used > 0 && res->used <= len);
	if (in[0] == 'P') {
		nl = memchr(in, '\n', len);
		CHECK(nl != NULL && (size_t)(nl - in) + 1 == res->used);
		CHECK(res->used <= PROXY_V1_MAX);
	} else {
		CHECK(in[0] == '\r' && res->used >= 16);
		CHECK(res->used == 16 + ((size_t)in[14] << 8 | in[15]));
		CHECK(res->used <= PROXY_V2_MAX);
	}
	check_peer(res->peer);
	/* Exactly those bytes, in a buffer of their size (ASan sees past). */
	memcpy(copy, in, res->used);
	{
		uint8_t *exact = malloc(res->used);

		CHECK(exact != NULL);
		memcpy(exact, in, res->used);
		CHECK(proxy_parse(exact, res->used, peer, sizeof(peer)) == 1);
		CHECK(strcmp(peer, res->peer) == 0);
		for (i = 0; i < res->used; i++)
			CHECK(proxy_parse(exact, i, peer, sizeof(peer)) == 0);
		free(exact);
	}
	/* A peer buffer too small for the address: refused, not cut. */
	if (res->peer[0] != '\0') {
		char small[8];

		CHECK(strlen(res->peer) < sizeof(small) ||
		    proxy_parse(copy, res->used, small, sizeof(small)) == -1);
	}
}

static void
same(const struct result *a, const struct result *b)
{
	CHECK(a->r == b->r);
	if (a->r == 1) {
		CHECK(a->used == b->used);
		CHECK(strcmp(a->peer, b->peer) == 0);
	}
	if (a->r == 0)
		CHECK(a->used == b->used);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct result whole, part;
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	size_t i;

	for (i = 0; i < size; i++)
		seed = (seed ^ data[i]) * 0x100000001b3ULL;
	if (seed == 0)
		seed = 1;

	run(data, size, NULL, 0, &whole);
	check_whole(data, size, &whole);

	run(data, size, &seed, 1, &part);	/* a byte at a time */
	same(&whole, &part);
	run(data, size, &seed, 7, &part);
	same(&whole, &part);
	run(data, size, &seed, 300, &part);
	same(&whole, &part);
	return 0;
}
