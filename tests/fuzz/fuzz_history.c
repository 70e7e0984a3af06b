/*
 * fuzz_history.c -- libFuzzer target for child/history.c: the reply of
 * wspubsub_since, messages on the history channel, ids and channel names.
 *
 * The oracles:
 *   - a parsed reply lies inside the input, every payload inside it, and
 *     every growing prefix of it gives 0 (never -1) until it is whole;
 *   - an id that parses formats back to the same bytes;
 *   - a history channel name is in the same hash slot as its channel;
 *   - history_order() is 1 for the last id itself and 0 for the next.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../child/cluster.h"
#include "../../child/history.h"

#define CHECK(x)	do { if (!(x)) abort(); } while (0)

static void
check_reply(const char *buf, size_t size)
{
	struct history_reply r, p;
	size_t need, k, i;
	ssize_t n;

	n = history_reply_parse(buf, size, &r, &need);
	CHECK(n >= -1 && n <= (ssize_t)size);
	if (n <= 0) {
		CHECK(r.e == NULL && r.n == 0);
		if (n == 0)
			CHECK(need == 0 || need > size);
		return;
	}
	if (r.error != NULL)
		CHECK(r.n == 0 && r.error == buf + 1);
	for (i = 0; i < r.n; i++) {
		CHECK(r.e[i].id.set);
		CHECK(r.e[i].payload > buf &&
		    r.e[i].payload + r.e[i].len + 2 <= buf + n);
	}
	history_reply_free(&r);
	/* Growing prefixes: 0 until the whole reply is there. */
	for (k = 0; k < (size_t)n; k += 1 + k / 8) {
		CHECK(history_reply_parse(buf, k, &p, &need) == 0);
		CHECK(need == 0 || (need > k && need <= (size_t)n));
	}
}

static void
check_id(const char *buf, size_t size)
{
	struct history_id id, last, next;
	char out[HISTORY_ID_MAX + 1];
	int n;

	if (history_id_parse(buf, size, &id) == -1)
		return;
	CHECK(id.set && id.epoch != 0 && size <= HISTORY_ID_MAX);
	n = history_id_format(&id, out, sizeof(out));
	CHECK(n == (int)size && memcmp(out, buf, size) == 0);
	last = id;
	CHECK(history_order(&last, &id) == 1);
	next = id;
	next.n++;
	if (next.n != 0)
		CHECK(history_order(&last, &next) == 0);
}

static void
check_name(const char *buf, size_t size)
{
	char channel[256], name[HISTORY_NAME_MAX];

	if (size >= sizeof(channel) || memchr(buf, '\0', size) != NULL)
		return;
	memcpy(channel, buf, size);
	channel[size] = '\0';
	if (history_name(channel, name, sizeof(name)) == -1)
		return;
	CHECK(strlen(name) == size + strlen(HISTORY_SUFFIX) ||
	    strlen(name) == size + strlen(HISTORY_SUFFIX) + 2);
	CHECK(cluster_slot(name, strlen(name)) == cluster_slot(channel, size));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data, *payload;
	struct history_id id;
	size_t len;

	check_reply(buf, size);
	check_id(buf, size);
	check_name(buf, size);
	if (history_message(buf, size, &id, &payload, &len) == 0) {
		CHECK(id.set && payload > buf && payload[-1] == '\n');
		CHECK(payload + len == buf + size);
	}
	return 0;
}
