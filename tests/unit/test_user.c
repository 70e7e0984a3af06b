/*
 * test_user.c -- unit tests for child/user.c: username rules, the channel
 * name and the identify message.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../child/user.h"

#define UNUSED	__attribute__((unused))

static int
valid(const char *s)
{
	return user_name_valid(s, strlen(s));
}

static void
test_name_valid(void **state UNUSED)
{
	static const char *const good[] = {
		"a", "Z", "0", "_", ".", "@", ":", "-",
		"alice", "Alice_01", "bob.smith@example.com", "user:42",
		"a-b_c.d@e:f", "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
		"abcdefghijklmnopqrstuvwxyz0123456789",
	};
	static const char *const bad[] = {
		"a b", " a", "a ", "a/b", "/", "a\\b", "a\tb", "a\nb", "a\rb",
		"a#b", "a%b", "a+b", "a?b", "a&b", "a=b", "a\"b", "a'b", "a,b",
		"a;b", "a*b", "a!b", "a~b", "a$b", "a(b)", "a[b]", "a{b}",
		"a<b>", "a|b", "a`b", "a^b",
		"\xc3\xa9", "caf\xc3\xa9", "\xe2\x82\xac", "a\x7f", "\x80",
		"\xff",
	};
	char name[USER_NAME_MAX + 2];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!valid(good[i]))
			fail_msg("\"%s\" rejected", good[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (valid(bad[i]))
			fail_msg("\"%s\" accepted", bad[i]);

	/* Lengths: 1 to 128 bytes. */
	memset(name, 'a', sizeof(name));
	assert_false(user_name_valid(name, 0));
	assert_false(user_name_valid("", 0));
	assert_true(user_name_valid(name, 1));
	assert_true(user_name_valid(name, USER_NAME_MAX - 1));
	assert_true(user_name_valid(name, USER_NAME_MAX));
	assert_int_equal(USER_NAME_MAX, 128);
	assert_false(user_name_valid(name, USER_NAME_MAX + 1));
	assert_false(user_name_valid(name, USER_NAME_MAX + 2));

	/* NUL counts as a byte, and is not allowed. */
	assert_false(user_name_valid("a\0b", 3));
	assert_false(user_name_valid("\0", 1));
	assert_false(user_name_valid("ab\0", 3));
	/* Only len bytes are looked at. */
	assert_true(user_name_valid("ab cd", 2));
	assert_false(user_name_valid("ab cd", 3));
}

/* Every single byte value against the character class. */
static void
test_name_every_byte(void **state UNUSED)
{
	char s[3];
	unsigned int c;
	int want;

	for (c = 0; c < 256; c++) {
		want = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		    c == '@' || c == ':' || c == '-';
		s[0] = (char)c;
		if (user_name_valid(s, 1) != want)
			fail_msg("byte %#x: valid != %d", c, want);
		s[0] = 'x';
		s[1] = (char)c;
		s[2] = 'y';
		if (user_name_valid(s, 3) != want)
			fail_msg("byte %#x inside a name: valid != %d", c,
			    want);
	}
}

static void
test_channel(void **state UNUSED)
{
	char out[USER_NAME_MAX + CHANNEL_PREFIX_MAX + 1];
	char small[8];

	assert_int_equal(user_channel("", "Alice", out, sizeof(out)), 0);
	assert_string_equal(out, "alice");
	assert_int_equal(user_channel("", "alice", out, sizeof(out)), 0);
	assert_string_equal(out, "alice");
	assert_int_equal(user_channel("ws:", "Bob.X@Example.COM", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "ws:bob.x@example.com");
	/* The prefix is used as it is; only the name is lowercased. */
	assert_int_equal(user_channel("WS:User:", "ABC-_09", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "WS:User:abc-_09");

	/* "pre:" + "ABC" + NUL is 8 bytes: fits exactly. */
	memset(small, 'Z', sizeof(small));
	assert_int_equal(user_channel("pre:", "ABC", small, 8), 0);
	assert_string_equal(small, "pre:abc");
	assert_int_equal(user_channel("pre:", "ABCD", small, 8), -1);
	assert_int_equal(user_channel("", "abcdefgh", small, 8), -1);
	assert_int_equal(user_channel("", "abcdefg", small, 8), 0);
	assert_string_equal(small, "abcdefg");

	/* The largest prefix and name. */
	char prefix[CHANNEL_PREFIX_MAX + 1], name[USER_NAME_MAX + 1];
	memset(prefix, 'P', CHANNEL_PREFIX_MAX);
	prefix[CHANNEL_PREFIX_MAX] = '\0';
	memset(name, 'N', USER_NAME_MAX);
	name[USER_NAME_MAX] = '\0';
	assert_int_equal(user_channel(prefix, name, out, sizeof(out)), 0);
	assert_int_equal(strlen(out), CHANNEL_PREFIX_MAX + USER_NAME_MAX);
	assert_memory_equal(out, prefix, CHANNEL_PREFIX_MAX);
	assert_int_equal(out[CHANNEL_PREFIX_MAX], 'n');
}

static int
ident(const char *json, char *name, size_t namesize)
{
	return user_identify_parse(json, strlen(json), name, namesize);
}

static void
test_identify(void **state UNUSED)
{
	static const struct {
		const char	*json, *name;
	} good[] = {
		{ "{\"user_name\": \"alice\"}", "alice" },
		{ "{\"user_name\":\"Bob\"}", "Bob" },
		{ " \n{ \"user_name\" : \"a.b@c:d-e_f\" }\n ", "a.b@c:d-e_f" },
		{ "{\"x\": 1, \"user_name\": \"carol\", \"y\": [true]}",
		    "carol" },
		{ "{\"user_name\": \"\\u0041lice\"}", "Alice" },
	};
	static const char *const bad[] = {
		/* missing key */
		"{}",
		"{\"username\": \"alice\"}",
		"{\"User_Name\": \"alice\"}",
		"{\"user\": \"alice\"}",
		/* not a string */
		"{\"user_name\": 5}",
		"{\"user_name\": null}",
		"{\"user_name\": true}",
		"{\"user_name\": [\"alice\"]}",
		"{\"user_name\": {\"name\": \"alice\"}}",
		/* invalid name */
		"{\"user_name\": \"\"}",
		"{\"user_name\": \"a b\"}",
		"{\"user_name\": \"a/b\"}",
		"{\"user_name\": \"caf\\u00e9\"}",
		"{\"user_name\": \"caf\xc3\xa9\"}",
		"{\"user_name\": \"a\\u0000b\"}",
		"{\"user_name\": \"a\\nb\"}",
		/* not an object */
		"\"alice\"",
		"[\"alice\"]",
		"[{\"user_name\": \"alice\"}]",
		"42",
		"null",
		/* malformed */
		"",
		"{",
		"{\"user_name\": \"alice\"",
		"{\"user_name\": \"alice}",
		"{'user_name': 'alice'}",
		"{user_name: \"alice\"}",
		"{\"user_name\": \"alice\",}",
		"{\"user_name\": \"alice\"} x",
		"{\"user_name\": \"alice\"}{}",
		"ping",
		/* duplicate keys */
		"{\"user_name\": \"alice\", \"user_name\": \"bob\"}",
		"{\"user_name\": \"alice\", \"user_name\": \"alice\"}",
	};
	char name[USER_NAME_MAX + 1];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		memset(name, 'Z', sizeof(name));
		if (ident(good[i].json, name, sizeof(name)) != 0)
			fail_msg("%s rejected", good[i].json);
		assert_string_equal(name, good[i].name);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (ident(bad[i], name, sizeof(name)) != -1)
			fail_msg("%s accepted", bad[i]);
}

static void
test_identify_lengths(void **state UNUSED)
{
	char json[300], name[USER_NAME_MAX + 1], want[200];
	char small[6];

	/* A 128-byte name is accepted, 129 bytes are not. */
	memset(want, 'u', sizeof(want));
	want[USER_NAME_MAX] = '\0';
	snprintf(json, sizeof(json), "{\"user_name\": \"%s\"}", want);
	assert_int_equal(ident(json, name, sizeof(name)), 0);
	assert_string_equal(name, want);
	want[USER_NAME_MAX] = 'u';
	want[USER_NAME_MAX + 1] = '\0';
	snprintf(json, sizeof(json), "{\"user_name\": \"%s\"}", want);
	assert_int_equal(ident(json, name, sizeof(name)), -1);

	/* The name and its NUL must fit in namesize. */
	assert_int_equal(ident("{\"user_name\": \"alice\"}", small, 6), 0);
	assert_string_equal(small, "alice");
	assert_int_equal(ident("{\"user_name\": \"alicia\"}", small, 6), -1);

	/* Only len bytes are parsed: the input need not end in NUL. */
	static const char buf[] = "{\"user_name\": \"dave\"}GARBAGE";
	assert_int_equal(user_identify_parse(buf, strlen(buf) - 7, name,
	    sizeof(name)), 0);
	assert_string_equal(name, "dave");
	assert_int_equal(user_identify_parse(buf, strlen(buf), name,
	    sizeof(name)), -1);
	assert_int_equal(user_identify_parse(buf, 10, name, sizeof(name)),
	    -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_valid),
		cmocka_unit_test(test_name_every_byte),
		cmocka_unit_test(test_channel),
		cmocka_unit_test(test_identify),
		cmocka_unit_test(test_identify_lengths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
