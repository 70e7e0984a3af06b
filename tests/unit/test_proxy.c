/*
 * test_proxy.c -- unit tests for child/proxy.c: HAProxy's PROXY protocol
 * header, version 1 (text) and 2 (binary), as proxy-protocol.txt has it.
 *
 * proxy_parse() is checked on whole headers, on every prefix of them (0:
 * more bytes needed) and on bad ones (-1); proxy_take() is driven the way
 * proxy_read() in child/child.c drives it (peek, take, consume), with the
 * header followed by the bytes of the request and split at every position,
 * to check it never hands out a byte past the header.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <cmocka.h>

#include "../../child/proxy.h"

#define UNUSED	__attribute__((unused))

static const uint8_t SIG[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

static const char AFTER[] = "GET /?user=a HTTP/1.1\r\nHost: x\r\n\r\n";

/* A v2 header: signature, ver_cmd, fam, then len bytes of body. */
static size_t
v2(uint8_t *out, int ver_cmd, int fam, const uint8_t *body, size_t len)
{
	memcpy(out, SIG, 12);
	out[12] = (uint8_t)ver_cmd;
	out[13] = (uint8_t)fam;
	out[14] = (uint8_t)(len >> 8);
	out[15] = (uint8_t)len;
	if (len > 0)
		memcpy(out + 16, body, len);
	return 16 + len;
}

/* TCP4 192.0.2.1:56324 -> 198.51.100.2:443. */
static const uint8_t V4BODY[12] = {
	192, 0, 2, 1, 198, 51, 100, 2, 0xdc, 0x04, 0x01, 0xbb
};
/* TCP6 [2001:db8::1]:51234 -> [2001:db8::2]:443. */
static const uint8_t V6BODY[36] = {
	0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
	0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2,
	0xc8, 0x22, 0x01, 0xbb
};

static int
parse(const uint8_t *buf, size_t len, char *peer)
{
	strcpy(peer, "untouched");
	return proxy_parse(buf, len, peer, 64);
}

/* Every proper prefix of a complete header wants more bytes. */
static void
check_prefixes(const uint8_t *h, size_t len)
{
	char peer[64];
	size_t i;

	for (i = 0; i < len; i++)
		if (parse(h, i, peer) != 0)
			fail_msg("prefix of %zu of %zu bytes (%.*s): not 0", i,
			    len, (int)len, (const char *)h);
}

/*
 * The loop of proxy_read(): peek at what the socket holds (the input, of
 * which only `avail` bytes have arrived), take, consume, parse.  Returns
 * the parse result; *used is how many bytes were consumed.
 */
static int
drive(const uint8_t *in, size_t inlen, size_t split, size_t *used,
    char *peer)
{
	uint8_t buf[PROXY_V2_MAX];
	size_t have = 0, avail, n;
	ssize_t take;
	int r;

	for (;;) {
		avail = have < split ? split : inlen;
		n = avail - have;
		if (n > sizeof(buf) - have)
			n = sizeof(buf) - have;
		if (n == 0) {
			*used = have;
			return 0;	/* would wait: nothing more comes */
		}
		memcpy(buf + have, in + have, n);
		take = proxy_take(buf, have, buf + have, n);
		if (take <= 0) {
			*used = have;
			return -1;
		}
		assert_true((size_t)take <= n);
		have += (size_t)take;
		r = proxy_parse(buf, have, peer, 64);
		if (r != 0) {
			*used = have;
			return r;
		}
	}
}

/* The header h, followed by AFTER, split at every position. */
static void
check_take(const uint8_t *h, size_t hlen, const char *want)
{
	uint8_t in[PROXY_V2_MAX + sizeof(AFTER)];
	char peer[64];
	size_t split, used;

	memcpy(in, h, hlen);
	memcpy(in + hlen, AFTER, sizeof(AFTER) - 1);
	for (split = 1; split <= hlen + sizeof(AFTER) - 1; split++) {
		int r = drive(in, hlen + sizeof(AFTER) - 1, split, &used, peer);

		if (r != 1 || used != hlen)
			fail_msg("split at %zu: r %d, used %zu, header %zu",
			    split, r, used, hlen);
		assert_string_equal(peer, want);
	}
}

/* -------------------------------------------------------------- v1 */

static const struct {
	const char	*h;
	const char	*peer;
} v1ok[] = {
	{ "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n", "192.0.2.1:56324" },
	{ "PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n",
	    "255.255.255.255:65535" },
	{ "PROXY TCP4 0.0.0.0 0.0.0.0 0 0\r\n", "0.0.0.0:0" },
	{ "PROXY TCP6 2001:db8::1 2001:db8::2 51234 443\r\n",
	    "[2001:db8::1]:51234" },
	{ "PROXY TCP6 2001:0db8:0000:0000:0000:0000:0000:0001 ::1 1 2\r\n",
	    "[2001:db8::1]:1" },
	{ "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
	    "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535" },
	{ "PROXY TCP6 ::ffff:192.0.2.1 ::1 80 80\r\n",
	    "[::ffff:192.0.2.1]:80" },
	{ "PROXY UNKNOWN\r\n", "" },
	{ "PROXY UNKNOWN 192.0.2.1 198.51.100.2 56324 443\r\n", "" },
	{ "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n", "" },
	/* The longest line the spec allows: 107 bytes with the CRLF. */
	{ "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n", "" },
};

static void
test_v1_valid(void **state UNUSED)
{
	char peer[64];
	size_t i, len;

	for (i = 0; i < sizeof(v1ok) / sizeof(v1ok[0]); i++) {
		len = strlen(v1ok[i].h);
		assert_true(len <= PROXY_V1_MAX);
		if (parse((const uint8_t *)v1ok[i].h, len, peer) != 1)
			fail_msg("refused: %s", v1ok[i].h);
		assert_string_equal(peer, v1ok[i].peer);
	}
	assert_int_equal(strlen(v1ok[sizeof(v1ok) / sizeof(v1ok[0]) - 1].h),
	    PROXY_V1_MAX);
}

static void
test_v1_prefixes(void **state UNUSED)
{
	size_t i;

	for (i = 0; i < sizeof(v1ok) / sizeof(v1ok[0]); i++)
		check_prefixes((const uint8_t *)v1ok[i].h, strlen(v1ok[i].h));
}

static const char *const v1bad[] = {
	"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\n",	/* no CR */
	"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\r\n",
	"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443 \r\n",	/* trailing SP */
	"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443 1\r\n",	/* extra field */
	"PROXY TCP4 192.0.2.1 198.51.100.2 56324\r\n",	/* too few */
	"PROXY TCP4 192.0.2.1 198.51.100.2\r\n",
	"PROXY TCP4\r\n",
	"PROXY\r\n",
	"PROXY \r\n",
	"PROXY  TCP4 192.0.2.1 198.51.100.2 56324 443\r\n",	/* double SP */
	"PROXY TCP4  192.0.2.1 198.51.100.2 56324 443\r\n",
	"PROXY TCP4 192.0.2.1  198.51.100.2 56324 443\r\n",
	"PROXY TCP4 192.0.2.1 198.51.100.2  56324 443\r\n",
	"PROXY TCP4 192.0.2.1 198.51.100.2 56324  443\r\n",
	"PROXY\tTCP4 192.0.2.1 198.51.100.2 56324 443\r\n",	/* tab */
	"PROXY TCP4\t192.0.2.1 198.51.100.2 56324 443\r\n",
	" PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n",
	"proxy TCP4 192.0.2.1 198.51.100.2 56324 443\r\n",
	"PROXY tcp4 192.0.2.1 198.51.100.2 56324 443\r\n",	/* family */
	"PROXY TCP 192.0.2.1 198.51.100.2 56324 443\r\n",
	"PROXY TCP5 192.0.2.1 198.51.100.2 56324 443\r\n",
	"PROXY UDP4 192.0.2.1 198.51.100.2 56324 443\r\n",
	"PROXY UNKNOWNX\r\n",
	"PROXY UNKNOWN4 192.0.2.1 198.51.100.2 56324 443\r\n",
	"PROXY TCP4 2001:db8::1 198.51.100.2 56324 443\r\n",	/* addresses */
	"PROXY TCP4 192.0.2.1 2001:db8::2 56324 443\r\n",
	"PROXY TCP6 192.0.2.1 2001:db8::2 56324 443\r\n",
	"PROXY TCP6 2001:db8::1 198.51.100.2 56324 443\r\n",
	"PROXY TCP4 192.0.2 198.51.100.2 56324 443\r\n",
	"PROXY TCP4 192.0.2.256 198.51.100.2 56324 443\r\n",
	"PROXY TCP4 192.0.2.1.5 198.51.100.2 56324 443\r\n",
	"PROXY TCP4 192.0.2.01 198.51.100.2 56324 443\r\n",
	"PROXY TCP4 0x7f.0.0.1 198.51.100.2 56324 443\r\n",
	"PROXY TCP4 localhost 198.51.100.2 56324 443\r\n",
	"PROXY TCP4 192.0.2.1 198.51.100.x 56324 443\r\n",
	"PROXY TCP6 2001:db8:::1 ::1 56324 443\r\n",
	"PROXY TCP6 [2001:db8::1] ::1 56324 443\r\n",
	"PROXY TCP6 fe80::1%eth0 ::1 56324 443\r\n",
	"PROXY TCP6 12345::1 ::1 56324 443\r\n",
	"PROXY TCP4 192.0.2.1 198.51.100.2 65536 443\r\n",	/* ports */
	"PROXY TCP4 192.0.2.1 198.51.100.2 56324 65536\r\n",
	"PROXY TCP4 192.0.2.1 198.51.100.2 99999 443\r\n",
	"PROXY TCP4 192.0.2.1 198.51.100.2 100000 443\r\n",
	"PROXY TCP4 192.0.2.1 198.51.100.2 4294967297 443\r\n",
	"PROXY TCP4 192.0.2.1 198.51.100.2 056324 443\r\n",
	"PROXY TCP4 192.0.2.1 198.51.100.2 00 443\r\n",
	"PROXY TCP4 192.0.2.1 198.51.100.2 01 443\r\n",
	"PROXY TCP4 192.0.2.1 198.51.100.2 56324 0443\r\n",
	"PROXY TCP4 192.0.2.1 198.51.100.2 +5632 443\r\n",
	"PROXY TCP4 192.0.2.1 198.51.100.2 -1 443\r\n",
	"PROXY TCP4 192.0.2.1 198.51.100.2 56324 -443\r\n",
	"PROXY TCP4 192.0.2.1 198.51.100.2 0x50 443\r\n",
	"PROXY TCP4 192.0.2.1 198.51.100.2 5a 443\r\n",
	"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443a\r\n",
	"PROXY TCP4 192.0.2.1 198.51.100.2  443\r\n",
	"PROXY TCP4 192.0.2.1 198.51.100.2 56324 \r\n",
	"GET / HTTP/1.1\r\n",
	"PROXX TCP4 192.0.2.1 198.51.100.2 56324 443\r\n",
	"P\r\n",
};

static void
test_v1_bad(void **state UNUSED)
{
	char peer[64];
	size_t i;

	for (i = 0; i < sizeof(v1bad) / sizeof(v1bad[0]); i++)
		if (parse((const uint8_t *)v1bad[i], strlen(v1bad[i]), peer)
		    != -1)
			fail_msg("accepted: \"%s\"", v1bad[i]);
}

/* A NUL anywhere in the line. */
static void
test_v1_nul(void **state UNUSED)
{
	static const char *const lines[] = {
		"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n",
		"PROXY UNKNOWN\r\n",
		"PROXY UNKNOWN 1 2 3 4\r\n",
	};
	uint8_t b[PROXY_V1_MAX];
	char peer[64];
	size_t i, j, len;

	for (j = 0; j < sizeof(lines) / sizeof(lines[0]); j++) {
		len = strlen(lines[j]);
		for (i = 0; i < len - 1; i++) {
			memcpy(b, lines[j], len);
			b[i] = '\0';
			if (parse(b, len, peer) != -1)
				fail_msg("NUL at %zu accepted: %s", i,
				    lines[j]);
		}
	}
}

/* Lines past 107 bytes; no line end within 107 bytes. */
static void
test_v1_too_long(void **state UNUSED)
{
	uint8_t b[512];
	char peer[64];
	size_t len;

	/* 200 bytes of "PROXY UNKNOWN xxx..." with no line end. */
	memset(b, 'x', sizeof(b));
	memcpy(b, "PROXY UNKNOWN ", 14);
	assert_int_equal(parse(b, 106, peer), 0);
	assert_int_equal(parse(b, PROXY_V1_MAX, peer), -1);
	assert_int_equal(parse(b, 200, peer), -1);
	/* Whole lines of 109 and 200 bytes. */
	for (len = 109; len <= 200; len += 91) {
		memset(b, 'x', sizeof(b));
		memcpy(b, "PROXY UNKNOWN ", 14);
		b[len - 2] = '\r';
		b[len - 1] = '\n';
		if (parse(b, len, peer) != -1)
			fail_msg("a line of %zu bytes accepted", len);
	}
}

/*
 * The spec: "a receiver ... should declare the line invalid" past 107
 * bytes (PROXY_V1_MAX), and proxy_take() refuses 108; proxy_parse()
 * must agree.
 */
static void
test_v1_108_bytes(void **state UNUSED)
{
	uint8_t b[PROXY_V1_MAX + 1];
	char peer[64];

	memset(b, 'x', sizeof(b));
	memcpy(b, "PROXY UNKNOWN ", 14);
	b[PROXY_V1_MAX - 1] = '\r';
	b[PROXY_V1_MAX] = '\n';
	assert_int_equal(proxy_take(b, 0, b, sizeof(b)), -1);
	if (parse(b, sizeof(b), peer) != -1)
		fail_msg("proxy_parse accepts a v1 line of 108 bytes "
		    "(PROXY_V1_MAX is 107)");
}

/* ------------------------------------------------------------- v2 */

static void
test_v2_valid(void **state UNUSED)
{
	uint8_t h[PROXY_V2_MAX], body[2048];
	char peer[64];
	size_t len;
	int fam;

	len = v2(h, 0x21, 0x11, V4BODY, sizeof(V4BODY));
	assert_int_equal(parse(h, len, peer), 1);
	assert_string_equal(peer, "192.0.2.1:56324");
	check_prefixes(h, len);

	len = v2(h, 0x21, 0x21, V6BODY, sizeof(V6BODY));
	assert_int_equal(parse(h, len, peer), 1);
	assert_string_equal(peer, "[2001:db8::1]:51234");
	check_prefixes(h, len);

	/* LOCAL: with no address, or with one (ignored). */
	len = v2(h, 0x20, 0x00, NULL, 0);
	assert_int_equal(parse(h, len, peer), 1);
	assert_string_equal(peer, "");
	check_prefixes(h, len);
	len = v2(h, 0x20, 0x11, V4BODY, sizeof(V4BODY));
	assert_int_equal(parse(h, len, peer), 1);
	assert_string_equal(peer, "");
	/* LOCAL with a TCP4 family but no address block: still LOCAL. */
	len = v2(h, 0x20, 0x11, NULL, 0);
	assert_int_equal(parse(h, len, peer), 1);
	assert_string_equal(peer, "");

	/* PROXY UNSPEC, UDP, UNIX: kept as the socket's. */
	memset(body, 0, sizeof(body));
	len = v2(h, 0x21, 0x00, NULL, 0);
	assert_int_equal(parse(h, len, peer), 1);
	assert_string_equal(peer, "");
	check_prefixes(h, len);
	len = v2(h, 0x21, 0x00, V4BODY, sizeof(V4BODY));
	assert_int_equal(parse(h, len, peer), 1);
	assert_string_equal(peer, "");
	len = v2(h, 0x21, 0x12, V4BODY, sizeof(V4BODY));
	assert_int_equal(parse(h, len, peer), 1);
	assert_string_equal(peer, "");
	len = v2(h, 0x21, 0x22, V6BODY, sizeof(V6BODY));
	assert_int_equal(parse(h, len, peer), 1);
	assert_string_equal(peer, "");
	for (fam = 0x31; fam <= 0x32; fam++) {
		len = v2(h, 0x21, fam, body, 216);
		assert_int_equal(parse(h, len, peer), 1);
		assert_string_equal(peer, "");
	}

	/* The largest header accepted. */
	memset(body, 0, sizeof(body));
	memcpy(body, V4BODY, sizeof(V4BODY));
	len = v2(h, 0x21, 0x11, body, PROXY_V2_MAX - 16);
	assert_int_equal(len, PROXY_V2_MAX);
	assert_int_equal(parse(h, len, peer), 1);
	assert_string_equal(peer, "192.0.2.1:56324");
}

/* TLVs after the addresses: the length is larger than the block. */
static void
test_v2_tlvs(void **state UNUSED)
{
	uint8_t h[PROXY_V2_MAX], body[256];
	char peer[64];
	size_t len, n;

	/* PP2_TYPE_ALPN "h2", PP2_TYPE_AUTHORITY "example.com", a NOOP. */
	static const uint8_t tlv[] = {
		0x01, 0x00, 0x02, 'h', '2',
		0x02, 0x00, 0x0b, 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c',
		'o', 'm',
		0x04, 0x00, 0x03, 0, 0, 0,
	};

	memcpy(body, V4BODY, 12);
	memcpy(body + 12, tlv, sizeof(tlv));
	n = 12 + sizeof(tlv);
	len = v2(h, 0x21, 0x11, body, n);
	assert_int_equal(parse(h, len, peer), 1);
	assert_string_equal(peer, "192.0.2.1:56324");
	check_prefixes(h, len);
	check_take(h, len, "192.0.2.1:56324");

	memcpy(body, V6BODY, 36);
	memcpy(body + 36, tlv, sizeof(tlv));
	n = 36 + sizeof(tlv);
	len = v2(h, 0x21, 0x21, body, n);
	assert_int_equal(parse(h, len, peer), 1);
	assert_string_equal(peer, "[2001:db8::1]:51234");
	check_take(h, len, "[2001:db8::1]:51234");
}

static void
test_v2_bad(void **state UNUSED)
{
	uint8_t h[PROXY_V2_MAX + 64], body[64];
	char peer[64];
	size_t len, i;
	int vc;

	/* Every byte of the signature changed. */
	for (i = 0; i < 12; i++) {
		len = v2(h, 0x21, 0x11, V4BODY, sizeof(V4BODY));
		h[i] ^= 0x20;
		if (parse(h, len, peer) != -1)
			fail_msg("signature byte %zu changed: accepted", i);
		if (i > 0 && parse(h, i + 1, peer) != -1)
			fail_msg("signature byte %zu changed: not refused "
			    "at %zu bytes", i, i + 1);
	}
	/* Versions other than 2, commands other than LOCAL and PROXY. */
	for (vc = 0; vc < 256; vc++) {
		if (vc == 0x20 || vc == 0x21)
			continue;
		len = v2(h, vc, 0x11, V4BODY, sizeof(V4BODY));
		if (parse(h, len, peer) != -1)
			fail_msg("ver_cmd 0x%02x accepted", vc);
		if (parse(h, 16, peer) != -1)
			fail_msg("ver_cmd 0x%02x not refused at 16 bytes", vc);
	}
	/* Length beyond PROXY_V2_MAX: refused from the 16th byte on. */
	len = v2(h, 0x21, 0x11, V4BODY, sizeof(V4BODY));
	h[14] = (uint8_t)((PROXY_V2_MAX - 16 + 1) >> 8);
	h[15] = (uint8_t)(PROXY_V2_MAX - 16 + 1);
	assert_int_equal(parse(h, 16, peer), -1);
	h[14] = h[15] = 0xff;
	assert_int_equal(parse(h, 16, peer), -1);
	/* Address block too short for the family. */
	for (i = 0; i < 12; i++) {
		len = v2(h, 0x21, 0x11, V4BODY, i);
		if (parse(h, len, peer) != -1)
			fail_msg("TCP4 with %zu address bytes accepted", i);
	}
	memset(body, 0, sizeof(body));
	for (i = 0; i < 36; i++) {
		len = v2(h, 0x21, 0x21, V6BODY, i);
		if (parse(h, len, peer) != -1)
			fail_msg("TCP6 with %zu address bytes accepted", i);
	}
	/* More bytes than the header says. */
	len = v2(h, 0x21, 0x11, V4BODY, sizeof(V4BODY));
	h[len] = 'G';
	assert_int_equal(parse(h, len + 1, peer), -1);
}

/*
 * proxy-protocol.txt 2.2, the 14th byte: address families other than
 * 0x0-0x3 and protocols other than 0x0-0x2 "are unspecified and must not
 * be emitted in version 2 of this protocol and must be rejected as invalid
 * by receivers".
 */
static void
test_v2_bad_family(void **state UNUSED)
{
	static const int fams[] = {
		0x13, 0x23, 0x33, 0x41, 0x51, 0x0f, 0xf1, 0xff, 0x03,
	};
	uint8_t h[PROXY_V2_MAX], body[216];
	char peer[64];
	size_t len, i;

	memset(body, 0, sizeof(body));
	memcpy(body, V6BODY, sizeof(V6BODY));
	for (i = 0; i < sizeof(fams) / sizeof(fams[0]); i++) {
		len = v2(h, 0x21, fams[i], body, sizeof(body));
		if (parse(h, len, peer) != -1)
			fail_msg("PROXY with family/protocol byte 0x%02x "
			    "accepted (peer \"%s\")", fams[i], peer);
	}
}

/* ------------------------------------------------------- proxy_take */

static void
test_take_v1(void **state UNUSED)
{
	size_t i;

	for (i = 0; i < sizeof(v1ok) / sizeof(v1ok[0]); i++)
		check_take((const uint8_t *)v1ok[i].h, strlen(v1ok[i].h),
		    v1ok[i].peer);
}

static void
test_take_v2(void **state UNUSED)
{
	uint8_t h[PROXY_V2_MAX];
	size_t len;

	len = v2(h, 0x21, 0x11, V4BODY, sizeof(V4BODY));
	check_take(h, len, "192.0.2.1:56324");
	len = v2(h, 0x21, 0x21, V6BODY, sizeof(V6BODY));
	check_take(h, len, "[2001:db8::1]:51234");
	len = v2(h, 0x20, 0x00, NULL, 0);
	check_take(h, len, "");
	len = v2(h, 0x21, 0x00, NULL, 0);
	check_take(h, len, "");
}

/* Direct calls: what proxy_take returns for given buffers. */
static void
test_take_direct(void **state UNUSED)
{
	static const char line[] =
	    "PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET / HTTP/1.1\r\n";
	uint8_t h[PROXY_V2_MAX + 64];
	size_t len, hl = strlen("PROXY TCP4 192.0.2.1 198.51.100.2 56324 "
	    "443\r\n");

	/* Nothing there yet. */
	assert_int_equal(proxy_take(NULL, 0, (const uint8_t *)"", 0), 0);
	/* v1: up to the first '\n' only. */
	assert_int_equal(proxy_take((const uint8_t *)line, 0,
	    (const uint8_t *)line, sizeof(line) - 1), (ssize_t)hl);
	/* v1, some bytes already had. */
	assert_int_equal(proxy_take((const uint8_t *)line, 10,
	    (const uint8_t *)line + 10, sizeof(line) - 11),
	    (ssize_t)(hl - 10));
	/* v1 with no line end yet: all of it. */
	assert_int_equal(proxy_take((const uint8_t *)line, 0,
	    (const uint8_t *)line, 20), 20);

	/* v2: 16 first, then the rest of the header. */
	len = v2(h, 0x21, 0x11, V4BODY, sizeof(V4BODY));
	memcpy(h + len, AFTER, sizeof(AFTER) - 1);
	assert_int_equal(proxy_take(h, 0, h, len + sizeof(AFTER) - 1), 16);
	assert_int_equal(proxy_take(h, 5, h + 5, len + sizeof(AFTER) - 6), 11);
	assert_int_equal(proxy_take(h, 0, h, 3), 3);
	assert_int_equal(proxy_take(h, 16, h + 16, len + sizeof(AFTER) - 17),
	    (ssize_t)(len - 16));
	assert_int_equal(proxy_take(h, 16, h + 16, 4), 4);
	assert_int_equal(proxy_take(h, 20, h + 20, 100), (ssize_t)(len - 20));
	/* v2 claiming more than PROXY_V2_MAX. */
	h[14] = h[15] = 0xff;
	assert_int_equal(proxy_take(h, 16, h + 16, 100), -1);
}

/* Not a PROXY header: first byte neither 'P' nor '\r'. */
static void
test_take_not_proxy(void **state UNUSED)
{
	static const char *const starts[] = {
		"GET / HTTP/1.1\r\n", "\x16\x03\x01\x02\x00\x01", "\n", " P",
		"p", "\0", "\x0a\x0d",
	};
	uint8_t b[PROXY_V1_MAX + 64];
	size_t i;
	int c;

	for (i = 0; i < sizeof(starts) / sizeof(starts[0]); i++)
		assert_int_equal(proxy_take((const uint8_t *)starts[i], 0,
		    (const uint8_t *)starts[i],
		    strlen(starts[i]) ? strlen(starts[i]) : 1), -1);
	for (c = 0; c < 256; c++) {
		if (c == 'P' || c == '\r')
			continue;
		b[0] = (uint8_t)c;
		if (proxy_take(b, 0, b, 1) != -1)
			fail_msg("first byte 0x%02x taken", c);
	}
	/* 'P' then 107 bytes without a line end: refused. */
	memset(b, 'x', sizeof(b));
	b[0] = 'P';
	assert_int_equal(proxy_take(b, 0, b, PROXY_V1_MAX), -1);
	assert_int_equal(proxy_take(b, 0, b, PROXY_V1_MAX - 1),
	    PROXY_V1_MAX - 1);
	assert_int_equal(proxy_take(b, 100, b + 100, 7), -1);
	/* A line end only at byte 108. */
	b[PROXY_V1_MAX] = '\n';
	assert_int_equal(proxy_take(b, 0, b, PROXY_V1_MAX + 1), -1);
	/* The drive loop refuses an HTTP request and a TLS hello at once. */
	{
		char peer[64];
		size_t used;

		assert_int_equal(drive((const uint8_t *)AFTER,
		    sizeof(AFTER) - 1, sizeof(AFTER) - 1, &used, peer), -1);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v1_valid),
		cmocka_unit_test(test_v1_prefixes),
		cmocka_unit_test(test_v1_bad),
		cmocka_unit_test(test_v1_nul),
		cmocka_unit_test(test_v1_too_long),
		cmocka_unit_test(test_v1_108_bytes),
		cmocka_unit_test(test_v2_valid),
		cmocka_unit_test(test_v2_tlvs),
		cmocka_unit_test(test_v2_bad),
		cmocka_unit_test(test_v2_bad_family),
		cmocka_unit_test(test_take_v1),
		cmocka_unit_test(test_take_v2),
		cmocka_unit_test(test_take_direct),
		cmocka_unit_test(test_take_not_proxy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
