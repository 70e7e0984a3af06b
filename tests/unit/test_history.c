/*
 * test_history.c -- unit tests for child/history.c: message ids, the
 * history channel's name and messages, where a message stands after the
 * last one, and the reply of wspubsub_since (the bytes below are what
 * Redis 7 sends for the library in contrib/redis/wspubsub.lua).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../child/history.h"
#include "../../child/user.h"

#define UNUSED	__attribute__((unused))
#define S(lit)	lit, sizeof(lit) - 1

static struct history_id
id(uint64_t epoch, uint64_t n)
{
	struct history_id i = { epoch, n, 1 };

	return i;
}

static void
test_id_parse(void **state UNUSED)
{
	struct history_id i;
	char out[HISTORY_ID_MAX + 1];

	assert_int_equal(history_id_parse(S("1796545306176-0"), &i), 0);
	assert_true(i.set && i.epoch == 1796545306176ULL && i.n == 0);
	assert_int_equal(history_id_format(&i, out, sizeof(out)), 15);
	assert_string_equal(out, "1796545306176-0");
	assert_int_equal(history_id_parse(S("1-18446744073709551"), &i), 0);
	assert_true(i.epoch == 1 && i.n == 18446744073709551ULL);
	/* Not ids a client may send. */
	assert_int_equal(history_id_parse(S("0-0"), &i), -1);
	assert_int_equal(history_id_parse(S("01-2"), &i), -1);
	assert_int_equal(history_id_parse(S("1-02"), &i), -1);
	assert_int_equal(history_id_parse(S("1-"), &i), -1);
	assert_int_equal(history_id_parse(S("-1"), &i), -1);
	assert_int_equal(history_id_parse(S("1--1"), &i), -1);
	assert_int_equal(history_id_parse(S("1-1-1"), &i), -1);
	assert_int_equal(history_id_parse(S("1-+1"), &i), -1);
	assert_int_equal(history_id_parse(S("1 -1"), &i), -1);
	assert_int_equal(history_id_parse(S(""), &i), -1);
	assert_int_equal(history_id_parse(S("12345678901234567890-1"), &i),
	    -1);
	assert_int_equal(history_id_parse("1-1\0", 4, &i), -1);
	assert_int_equal(history_id_format(&i, out, 3), -1);
}

static void
test_name(void **state UNUSED)
{
	char out[HISTORY_NAME_MAX];

	assert_int_equal(history_name("alice", out, sizeof(out)), 0);
	assert_string_equal(out, "{alice}#history");
	assert_int_equal(history_name("{app}:alice", out, sizeof(out)), 0);
	assert_string_equal(out, "{app}:alice#history");
	assert_int_equal(history_name("a{b", out, sizeof(out)), 0);
	assert_string_equal(out, "{a{b}#history");
	/* No name of ours hashes as these do. */
	assert_int_equal(history_name("a}b", out, sizeof(out)), -1);
	assert_int_equal(history_name("{}x}", out, sizeof(out)), -1);
	assert_int_equal(history_name("alice", out, 10), -1);
}

static void
test_message(void **state UNUSED)
{
	struct history_id i;
	const char *p;
	size_t n;

	assert_int_equal(history_message(S("5-7\nhello\nworld"), &i, &p, &n),
	    0);
	assert_true(i.epoch == 5 && i.n == 7);
	assert_int_equal(n, 11);
	assert_memory_equal(p, "hello\nworld", 11);
	assert_int_equal(history_message(S("5-7\n"), &i, &p, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(history_message(S("5-7"), &i, &p, &n), -1);
	assert_int_equal(history_message(S("x\n5-7\n"), &i, &p, &n), -1);
	assert_int_equal(history_message(S("\n"), &i, &p, &n), -1);
}

static void
test_order(void **state UNUSED)
{
	struct history_id last = id(100, 5), none = id(0, 0);
	struct history_id m6 = id(100, 6), m5 = id(100, 5), m2 = id(100, 2);
	struct history_id m8 = id(100, 8), new0 = id(200, 0), new3 = id(200, 3);

	assert_int_equal(history_order(&last, &m6), 0);
	assert_int_equal(history_order(&last, &m5), 1);
	assert_int_equal(history_order(&last, &m2), 1);
	assert_int_equal(history_order(&last, &m8), -1);
	/* A new history: in line only from its first message. */
	assert_int_equal(history_order(&last, &new0), 0);
	assert_int_equal(history_order(&last, &new3), -1);
	assert_int_equal(history_order(&none, &new0), 0);
	assert_int_equal(history_order(&none, &new3), -1);
}

static const char RECOVERED[] =
    "*6\r\n$9\r\nrecovered\r\n$15\r\n1796545306176-3\r\n"
    "$15\r\n1796545306176-2\r\n$2\r\nm2\r\n"
    "$15\r\n1796545306176-3\r\n$5\r\n\x00\xff\r\nx\r\n";

static void
test_reply(void **state UNUSED)
{
	struct history_reply r;
	size_t need, k;
	ssize_t n;

	n = history_reply_parse(S(RECOVERED), &r, &need);
	assert_int_equal(n, sizeof(RECOVERED) - 1);
	assert_int_equal(r.status, HISTORY_RECOVERED);
	assert_true(r.newest.set && r.newest.n == 3);
	assert_int_equal(r.n, 2);
	assert_true(r.e[0].id.n == 2 && r.e[0].len == 2);
	assert_memory_equal(r.e[0].payload, "m2", 2);
	assert_int_equal(r.e[1].len, 5);
	assert_memory_equal(r.e[1].payload, "\x00\xff\r\nx", 5);
	history_reply_free(&r);
	/* Every shorter prefix: more bytes needed, never an error. */
	for (k = 0; k < sizeof(RECOVERED) - 1; k++) {
		n = history_reply_parse(RECOVERED, k, &r, &need);
		assert_int_equal(n, 0);
		assert_true(need == 0 || need > k);
		assert_null(r.e);
	}

	n = history_reply_parse(S("*2\r\n$4\r\nnone\r\n$0\r\n\r\n"), &r,
	    &need);
	assert_true(n > 0 && r.status == HISTORY_NONE && r.n == 0);
	assert_true(r.newest.set && r.newest.epoch == 0);
	n = history_reply_parse(S("*2\r\n$3\r\ngap\r\n$3\r\n9-1\r\n"), &r,
	    &need);
	assert_true(n > 0 && r.status == HISTORY_GAP);
	n = history_reply_parse(S("-ERR Function not found\r\n"), &r, &need);
	assert_int_equal(n, 25);
	assert_int_equal(r.error_len, 22);
	assert_memory_equal(r.error, "ERR Function not found", 22);
}

static void
test_reply_bad(void **state UNUSED)
{
	static const char *bad[] = {
		"*1\r\n$4\r\nnone\r\n",				/* too short */
		"*3\r\n$4\r\nnone\r\n$0\r\n\r\n$0\r\n\r\n",	/* odd */
		"*2\r\n$4\r\nmaybe\r\n$0\r\n\r\n",		/* length */
		"*2\r\n$5\r\nmaybe\r\n$0\r\n\r\n",		/* status */
		"*2\r\n$4\r\nnone\r\n$1\r\nx\r\n",		/* newest */
		"*4\r\n$3\r\ngap\r\n$0\r\n\r\n$1\r\nx\r\n$0\r\n\r\n",
		"*2\r\n$4\r\nnone\r\n:1\r\n",			/* not bulk */
		"*2\r\n$4\r\nnone\r\n$-1\r\n",			/* null */
		"+OK\r\n",
		"*-1\r\n",
		"*99999999\r\n",
	};
	struct history_reply r;
	size_t need, i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(history_reply_parse(bad[i], strlen(bad[i]),
		    &r, &need), -1);
		assert_null(r.e);
	}
}

static void
test_identify_since(void **state UNUSED)
{
	char out[HISTORY_ID_MAX + 1];

	assert_int_equal(user_identify_since(S("{\"user_name\": \"a\", "
	    "\"since\": \"5-1\"}"), out, sizeof(out)), 3);
	assert_string_equal(out, "5-1");
	assert_int_equal(user_identify_since(S("{\"user_name\": \"a\"}"), out,
	    sizeof(out)), -1);
	assert_int_equal(user_identify_since(S("{\"since\": 5}"), out,
	    sizeof(out)), -2);
	assert_int_equal(user_identify_since(S("{\"since\": \"a\\u0000b\"}"),
	    out, sizeof(out)), -2);
	assert_int_equal(user_identify_since(S("{\"since\": \"123456\"}"),
	    out, 4), -2);
	assert_int_equal(user_identify_since(S("not json"), out,
	    sizeof(out)), -2);
}

static void
test_library(void **state UNUSED)
{
	assert_true(history_library_len > 100);
	assert_int_equal(strncmp(history_library, "#!lua name=wspubsub\n", 20),
	    0);
	assert_int_equal(strlen(history_library), history_library_len);
	assert_true(history_library_version >= 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_id_parse),
		cmocka_unit_test(test_name),
		cmocka_unit_test(test_message),
		cmocka_unit_test(test_order),
		cmocka_unit_test(test_reply),
		cmocka_unit_test(test_reply_bad),
		cmocka_unit_test(test_identify_since),
		cmocka_unit_test(test_library),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
