/*
 * test_jwt.c -- unit tests for child/jwt.c: tokens signed here with keys
 * made at run time (HS256, RS256 on RSA-2048, ES256 on P-256) and every
 * way a token must be refused, each checked by the reason given.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "../../child/jwt.h"

#define UNUSED	__attribute__((unused))
#define TOKMAX	(2 * JWT_MAX_LEN)
#define NOW	((time_t)1700000000)
/* snprintf into an array, failing the test on truncation. */
#define FMT(buf, ...)	do {						\
	if ((size_t)snprintf(buf, sizeof(buf), __VA_ARGS__) >= sizeof(buf)) \
		fail_msg("%s truncated", #buf);				\
} while (0)

enum how { HS, RS, ES, NOSIG };

static EVP_PKEY	*rsa, *ec;
static const char secret[] = "correct horse battery staple 0123456789";

static struct jwt_keys ks_hs, ks_rsa, ks_ec, ks_hs_rsa, ks_all_ec;

static const char *
b64url(const unsigned char *in, size_t len, char *out)
{
	static const char abc[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t i, n = 0;
	unsigned long v;

	for (i = 0; i + 2 < len; i += 3) {
		v = (unsigned long)in[i] << 16 | in[i + 1] << 8 | in[i + 2];
		out[n++] = abc[v >> 18 & 63];
		out[n++] = abc[v >> 12 & 63];
		out[n++] = abc[v >> 6 & 63];
		out[n++] = abc[v & 63];
	}
	if (len - i == 1) {
		v = (unsigned long)in[i] << 16;
		out[n++] = abc[v >> 18 & 63];
		out[n++] = abc[v >> 12 & 63];
	} else if (len - i == 2) {
		v = (unsigned long)in[i] << 16 | in[i + 1] << 8;
		out[n++] = abc[v >> 18 & 63];
		out[n++] = abc[v >> 12 & 63];
		out[n++] = abc[v >> 6 & 63];
	}
	out[n] = '\0';
	return out;
}

static size_t
b64url_str(const char *s, char *out)
{
	b64url((const unsigned char *)s, strlen(s), out);
	return strlen(out);
}

/* The raw signature of input; returns its length. */
static size_t
sign_raw(enum how how, const void *key, size_t keylen, const char *input,
    unsigned char *sig)
{
	unsigned char der[256];
	const unsigned char *dp = der;
	unsigned int maclen;
	size_t len = sizeof(der);
	EVP_MD_CTX *md;
	ECDSA_SIG *es;
	const BIGNUM *r, *s;

	switch (how) {
	case HS:
		assert_non_null(HMAC(EVP_sha256(), key, (int)keylen,
		    (const unsigned char *)input, strlen(input), sig,
		    &maclen));
		assert_int_equal(maclen, 32);
		return 32;
	case RS:
	case ES:
		assert_non_null(md = EVP_MD_CTX_new());
		assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(),
		    NULL, (EVP_PKEY *)key), 1);
		if (how == RS) {
			len = 512;
			assert_int_equal(EVP_DigestSign(md, sig, &len,
			    (const unsigned char *)input, strlen(input)), 1);
			EVP_MD_CTX_free(md);
			return len;
		}
		assert_int_equal(EVP_DigestSign(md, der, &len,
		    (const unsigned char *)input, strlen(input)), 1);
		EVP_MD_CTX_free(md);
		/* DER ECDSA-Sig-Value to JWS R || S. */
		assert_non_null(es = d2i_ECDSA_SIG(NULL, &dp, (long)len));
		ECDSA_SIG_get0(es, &r, &s);
		assert_int_equal(BN_bn2binpad(r, sig, 32), 32);
		assert_int_equal(BN_bn2binpad(s, sig + 32, 32), 32);
		ECDSA_SIG_free(es);
		return 64;
	case NOSIG:
		break;
	}
	return 0;
}

/* out holds "h.p"; append ".sig". */
static char *
sign_input(char *out, enum how how, const void *key, size_t keylen)
{
	unsigned char sig[512];
	size_t n, len = strlen(out);

	n = sign_raw(how, key, keylen, out, sig);
	out[len] = '.';
	b64url(sig, n, out + len + 1);
	return out;
}

/* A token from header and payload JSON, signed. */
static char *
mk(char *out, const char *hdr, const char *pl, enum how how, const void *key,
    size_t keylen)
{
	size_t n;

	n = b64url_str(hdr, out);
	out[n++] = '.';
	b64url_str(pl, out + n);
	return sign_input(out, how, key, keylen);
}

static char *
mk_hs(char *out, const char *hdr, const char *pl)
{
	return mk(out, hdr, pl, HS, secret, strlen(secret));
}

#define HDR_HS	"{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define HDR_RS	"{\"alg\":\"RS256\",\"typ\":\"JWT\"}"
#define HDR_ES	"{\"alg\":\"ES256\",\"typ\":\"JWT\"}"

/* A payload for alice, exp an hour after NOW, with extra claims. */
static const char *
pl(const char *extra)
{
	static char buf[TOKMAX];

	FMT(buf, "{\"sub\":\"alice\",\"exp\":%lld%s%s}",
	    (long long)NOW + 3600, *extra ? "," : "", extra);
	return buf;
}

/* "ok" or the reason the token was refused. */
static const char *
check_len(const char *tok, size_t len, const struct jwt_keys *keys,
    const struct jwt_policy *policy, time_t now, struct jwt_claims *claims)
{
	struct jwt_claims c;
	const char *why = NULL;
	int rc;

	rc = jwt_verify(tok, len, keys, policy, now, claims ? claims : &c,
	    &why);
	assert_non_null(why);
	if ((rc == 0) != (strcmp(why, "ok") == 0))
		fail_msg("rc %d with reason \"%s\"", rc, why);
	return why;
}

static const char *
check(const char *tok, const struct jwt_keys *keys,
    const struct jwt_policy *policy, time_t now)
{
	return check_len(tok, strlen(tok), keys, policy, now, NULL);
}

/* Cut signatures fail as either, by whether leftover bits are zero. */
static int
bad_sig_or_b64(const char *why)
{
	if (strcmp(why, "bad signature") == 0 ||
	    strcmp(why, "bad base64url") == 0)
		return 1;
	fail_msg("reason \"%s\"", why);
	return 0;
}

static const char *
check_hs(const char *tok)
{
	return check(tok, &ks_hs, NULL, NOW);
}

static char *
pem_of(EVP_PKEY *pk, size_t *lenp)
{
	BIO *bio;
	char *p, *s;
	long n;

	assert_non_null(bio = BIO_new(BIO_s_mem()));
	assert_int_equal(PEM_write_bio_PUBKEY(bio, pk), 1);
	n = BIO_get_mem_data(bio, &p);
	assert_true(n > 0);
	assert_non_null(s = malloc((size_t)n + 1));
	memcpy(s, p, (size_t)n);
	s[n] = '\0';
	BIO_free(bio);
	*lenp = (size_t)n;
	return s;
}

static int
setup(void **state UNUSED)
{
	if ((rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)) ==
	    NULL || (ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) ==
	    NULL)
		return -1;
	ks_hs.secret = (const unsigned char *)secret;
	ks_hs.secret_len = strlen(secret);
	ks_rsa.public_key = rsa;
	ks_ec.public_key = ec;
	ks_hs_rsa = ks_hs;
	ks_hs_rsa.public_key = rsa;
	ks_all_ec = ks_hs;
	ks_all_ec.public_key = ec;
	return 0;
}

static int
teardown(void **state UNUSED)
{
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ec);
	return 0;
}

static void
test_valid(void **state UNUSED)
{
	char tok[TOKMAX];
	struct jwt_claims c;

	memset(&c, 'Z', sizeof(c));
	mk_hs(tok, HDR_HS, pl(""));
	assert_string_equal(check_len(tok, strlen(tok), &ks_hs, NULL, NOW,
	    &c), "ok");
	assert_string_equal(c.sub, "alice");
	assert_int_equal(c.exp, NOW + 3600);
	/* The other keys do not get in the way. */
	assert_string_equal(check(tok, &ks_hs_rsa, NULL, NOW), "ok");
	assert_string_equal(check(tok, &ks_all_ec, NULL, NOW), "ok");

	memset(&c, 'Z', sizeof(c));
	mk(tok, HDR_RS, pl(""), RS, rsa, 0);
	assert_string_equal(check_len(tok, strlen(tok), &ks_rsa, NULL, NOW,
	    &c), "ok");
	assert_string_equal(c.sub, "alice");
	assert_int_equal(c.exp, NOW + 3600);
	assert_string_equal(check(tok, &ks_hs_rsa, NULL, NOW), "ok");

	memset(&c, 'Z', sizeof(c));
	mk(tok, HDR_ES, pl(""), ES, ec, 0);
	assert_string_equal(check_len(tok, strlen(tok), &ks_ec, NULL, NOW,
	    &c), "ok");
	assert_string_equal(c.sub, "alice");
	assert_string_equal(check(tok, &ks_all_ec, NULL, NOW), "ok");

	/* Without typ, other header fields, other claims; NULL outputs. */
	mk_hs(tok, "{\"alg\":\"HS256\"}", pl(""));
	assert_string_equal(check_hs(tok), "ok");
	mk_hs(tok, "{\"kid\":\"k1\",\"alg\":\"HS256\",\"typ\":\"jwt\","
	    "\"jku\":\"https://evil/\",\"cty\":\"x\"}",
	    pl("\"name\":\"A\",\"roles\":[1,{}],\"jti\":\"x\"," "\"iat\":1"));
	assert_string_equal(check_hs(tok), "ok");
	mk_hs(tok, " {\"alg\" : \"HS256\", \"typ\": \"Jwt\"}\n",
	    "\n{\"exp\": 1700003600, \"sub\": \"Bob.X@example.com\"} ");
	assert_string_equal(check_len(tok, strlen(tok), &ks_hs, NULL, NOW,
	    &c), "ok");
	assert_string_equal(c.sub, "Bob.X@example.com");
	assert_int_equal(jwt_verify(tok, strlen(tok), &ks_hs, NULL, NOW,
	    NULL, NULL), 0);

	/* typ, when there, must say JWT. */
	mk_hs(tok, "{\"alg\":\"HS256\",\"typ\":\"JOSE\"}", pl(""));
	assert_string_equal(check_hs(tok), "typ not JWT");
	mk_hs(tok, "{\"alg\":\"HS256\",\"typ\":\"JWTX\"}", pl(""));
	assert_string_equal(check_hs(tok), "typ not JWT");
	mk_hs(tok, "{\"alg\":\"HS256\",\"typ\":\"JWS\"}", pl(""));
	assert_string_equal(check_hs(tok), "typ not JWT");
	mk_hs(tok, "{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}", pl(""));
	assert_string_equal(check_hs(tok), "typ not JWT");
	mk_hs(tok, "{\"alg\":\"HS256\",\"typ\":null}", pl(""));
	assert_string_equal(check_hs(tok), "typ not JWT");
	mk_hs(tok, "{\"alg\":\"HS256\",\"typ\":[\"JWT\"]}", pl(""));
	assert_string_equal(check_hs(tok), "typ not JWT");
	/* Extensions we do not know must not be skipped. */
	mk_hs(tok, "{\"alg\":\"HS256\",\"crit\":[\"exp\"],\"exp\":1}", pl(""));
	assert_string_equal(check_hs(tok), "crit header not supported");
	mk_hs(tok, "{\"alg\":\"HS256\",\"b64\":false,\"crit\":[\"b64\"]}",
	    pl(""));
	assert_string_equal(check_hs(tok), "crit header not supported");
}

/* ES256 R and S with leading zero bytes must survive the DER round trip. */
static void
test_es256_many(void **state UNUSED)
{
	char tok[TOKMAX], extra[64];
	unsigned char raw[64];
	size_t n, i, dot;
	int zero = 0, high = 0;

	/* Until R or S needs stripping: 00 then a byte below 0x80. */
	for (i = 0; i < 20000 && (zero < 1 || high < 2); i++) {
		FMT(extra, "\"n\":%zu", i);
		mk(tok, HDR_ES, pl(extra), ES, ec, 0);
		if (strcmp(check(tok, &ks_ec, NULL, NOW), "ok") != 0)
			fail_msg("signature %zu refused", i);
		dot = (size_t)(strrchr(tok, '.') - tok);
		/* Decode the signature back to see what was covered. */
		n = strlen(tok + dot + 1);
		assert_int_equal(n, 86);
		{
			BIO *b, *b64;
			char std[100];
			size_t k;

			for (k = 0; k < n; k++)
				std[k] = tok[dot + 1 + k] == '-' ? '+' :
				    tok[dot + 1 + k] == '_' ? '/' :
				    tok[dot + 1 + k];
			std[n] = '=';
			std[n + 1] = '=';
			std[n + 2] = '\n';
			b = BIO_new_mem_buf(std, (int)n + 3);
			b64 = BIO_new(BIO_f_base64());
			b = BIO_push(b64, b);
			assert_int_equal(BIO_read(b, raw, 64), 64);
			BIO_free_all(b);
		}
		if ((raw[0] == 0 && raw[1] < 0x80) ||
		    (raw[32] == 0 && raw[33] < 0x80))
			zero++;
		if ((raw[0] & 0x80) || (raw[32] & 0x80))
			high++;
	}
	assert_true(zero >= 1);
	assert_true(high >= 2);
}

static void
test_exp(void **state UNUSED)
{
	struct jwt_policy lee = { NULL, NULL, 30 }, neg = { NULL, NULL, -30 };
	struct jwt_claims c;
	char tok[TOKMAX];
	time_t exp = NOW + 3600;

	mk_hs(tok, HDR_HS, pl(""));
	assert_string_equal(check(tok, &ks_hs, NULL, exp - 1), "ok");
	assert_string_equal(check(tok, &ks_hs, NULL, exp), "token expired");
	assert_string_equal(check(tok, &ks_hs, NULL, exp + 1000000),
	    "token expired");
	/* Within leeway. */
	assert_string_equal(check(tok, &ks_hs, &lee, exp), "ok");
	assert_string_equal(check(tok, &ks_hs, &lee, exp + 29), "ok");
	assert_string_equal(check(tok, &ks_hs, &lee, exp + 30),
	    "token expired");
	/* A negative leeway counts as none. */
	assert_string_equal(check(tok, &ks_hs, &neg, exp - 1), "ok");
	assert_string_equal(check(tok, &ks_hs, &neg, exp), "token expired");

	/* Required, and a number. */
	mk_hs(tok, HDR_HS, "{\"sub\":\"alice\"}");
	assert_string_equal(check_hs(tok), "exp missing");
	mk_hs(tok, HDR_HS, "{\"sub\":\"alice\",\"exp\":\"1700003600\"}");
	assert_string_equal(check_hs(tok), "exp not a number");
	mk_hs(tok, HDR_HS, "{\"sub\":\"alice\",\"exp\":null}");
	assert_string_equal(check_hs(tok), "exp not a number");
	mk_hs(tok, HDR_HS, "{\"sub\":\"alice\",\"exp\":true}");
	assert_string_equal(check_hs(tok), "exp not a number");
	mk_hs(tok, HDR_HS, "{\"sub\":\"alice\",\"exp\":[1700003600]}");
	assert_string_equal(check_hs(tok), "exp not a number");

	/* A real number: rounded up. */
	mk_hs(tok, HDR_HS, "{\"sub\":\"alice\",\"exp\":1700000000.5}");
	assert_string_equal(check_len(tok, strlen(tok), &ks_hs, NULL, NOW,
	    &c), "ok");
	assert_int_equal(c.exp, NOW + 1);
	assert_string_equal(check(tok, &ks_hs, NULL, NOW + 1),
	    "token expired");
	mk_hs(tok, HDR_HS, "{\"sub\":\"alice\",\"exp\":1.7000036e9}");
	assert_string_equal(check_len(tok, strlen(tok), &ks_hs, NULL, NOW,
	    &c), "ok");
	assert_int_equal(c.exp, NOW + 3600);
	mk_hs(tok, HDR_HS, "{\"sub\":\"alice\",\"exp\":1699999999.9}");
	assert_string_equal(check_hs(tok), "token expired");
	/* Extremes neither overflow nor wrap. */
	mk_hs(tok, HDR_HS, "{\"sub\":\"alice\",\"exp\":1e300}");
	assert_string_equal(check_len(tok, strlen(tok), &ks_hs, &lee, NOW,
	    &c), "ok");
	assert_int_equal(c.exp, INT64_MAX);
	mk_hs(tok, HDR_HS, "{\"sub\":\"alice\",\"exp\":-1e300}");
	assert_string_equal(check(tok, &ks_hs, &lee, NOW), "token expired");
	mk_hs(tok, HDR_HS, "{\"sub\":\"alice\",\"exp\":9223372036854775807}");
	assert_string_equal(check(tok, &ks_hs, &lee, NOW), "ok");
	mk_hs(tok, HDR_HS, "{\"sub\":\"alice\",\"exp\":-9223372036854775808}");
	assert_string_equal(check(tok, &ks_hs, &lee, NOW), "token expired");
	mk_hs(tok, HDR_HS, "{\"sub\":\"alice\",\"exp\":0}");
	assert_string_equal(check(tok, &ks_hs, &lee, NOW), "token expired");
}

static void
test_nbf_iat(void **state UNUSED)
{
	struct jwt_policy lee = { NULL, NULL, 30 };
	char tok[TOKMAX], extra[64];

	FMT(extra, "\"nbf\":%lld", (long long)NOW + 1);
	mk_hs(tok, HDR_HS, pl(extra));
	assert_string_equal(check_hs(tok), "token not yet valid");
	assert_string_equal(check(tok, &ks_hs, NULL, NOW + 1), "ok");
	assert_string_equal(check(tok, &ks_hs, &lee, NOW), "ok");
	assert_string_equal(check(tok, &ks_hs, &lee, NOW - 29), "ok");
	assert_string_equal(check(tok, &ks_hs, &lee, NOW - 30),
	    "token not yet valid");
	FMT(extra, "\"nbf\":%lld", (long long)NOW);
	mk_hs(tok, HDR_HS, pl(extra));
	assert_string_equal(check_hs(tok), "ok");
	FMT(extra, "\"nbf\":%lld.5", (long long)NOW);
	mk_hs(tok, HDR_HS, pl(extra));
	assert_string_equal(check_hs(tok), "token not yet valid");
	assert_string_equal(check(tok, &ks_hs, NULL, NOW + 1), "ok");
	mk_hs(tok, HDR_HS, pl("\"nbf\":\"0\""));
	assert_string_equal(check_hs(tok), "nbf not a number");
	mk_hs(tok, HDR_HS, pl("\"nbf\":null"));
	assert_string_equal(check_hs(tok), "nbf not a number");
	mk_hs(tok, HDR_HS, pl("\"nbf\":9223372036854775807"));
	assert_string_equal(check(tok, &ks_hs, &lee, NOW),
	    "token not yet valid");

	FMT(extra, "\"iat\":%lld", (long long)NOW + 1);
	mk_hs(tok, HDR_HS, pl(extra));
	assert_string_equal(check_hs(tok), "token issued in the future");
	assert_string_equal(check(tok, &ks_hs, NULL, NOW + 1), "ok");
	assert_string_equal(check(tok, &ks_hs, &lee, NOW), "ok");
	FMT(extra, "\"iat\":%lld", (long long)NOW + 31);
	mk_hs(tok, HDR_HS, pl(extra));
	assert_string_equal(check(tok, &ks_hs, &lee, NOW),
	    "token issued in the future");
	assert_string_equal(check(tok, &ks_hs, &lee, NOW + 1), "ok");
	FMT(extra, "\"iat\":%lld.1", (long long)NOW);
	mk_hs(tok, HDR_HS, pl(extra));
	assert_string_equal(check_hs(tok), "token issued in the future");
	FMT(extra, "\"iat\":%lld", (long long)NOW);
	mk_hs(tok, HDR_HS, pl(extra));
	assert_string_equal(check_hs(tok), "ok");
	mk_hs(tok, HDR_HS, pl("\"iat\":0"));
	assert_string_equal(check_hs(tok), "ok");
	mk_hs(tok, HDR_HS, pl("\"iat\":\"now\""));
	assert_string_equal(check_hs(tok), "iat not a number");
	mk_hs(tok, HDR_HS, pl("\"iat\":{}"));
	assert_string_equal(check_hs(tok), "iat not a number");
}

/* Every single bit flipped anywhere in a token must make it fail. */
static void
flip_every_bit(const char *good, const struct jwt_keys *keys)
{
	char tok[TOKMAX];
	size_t len = strlen(good), i;
	int bit;

	assert_string_equal(check(good, keys, NULL, NOW), "ok");
	for (i = 0; i < len; i++)
		for (bit = 0; bit < 8; bit++) {
			memcpy(tok, good, len + 1);
			tok[i] ^= (char)(1 << bit);
			if (strcmp(check_len(tok, len, keys, NULL, NOW, NULL),
			    "ok") == 0)
				fail_msg("accepted with bit %d of byte %zu "
				    "flipped", bit, i);
		}
}

/* Flip a bit in each decoded part, keeping it well-formed. */
static void
flip_decoded(const char *alg, enum how how, const void *key,
    const struct jwt_keys *keys)
{
	char hdr[128], h2[128], p2[TOKMAX], tok[TOKMAX], t2[TOKMAX], *dot;
	unsigned char sig[512];
	size_t n;

	FMT(hdr, "{\"alg\":\"%s\",\"kid\":\"alice\"}",
	    alg);
	mk(tok, hdr, pl(""), how, key, strlen(secret));
	assert_string_equal(check(tok, keys, NULL, NOW), "ok");
	dot = strrchr(tok, '.');

	/* Header and payload: 'e' ^ 2 is 'g', inside a string. */
	FMT(h2, "%s", hdr);
	memcpy(strstr(h2, "alice"), "alicg", 5);
	n = b64url_str(h2, t2);
	t2[n++] = '.';
	b64url_str(pl(""), t2 + n);
	strcat(t2, dot);
	assert_string_equal(check(t2, keys, NULL, NOW), "bad signature");
	FMT(p2, "%s", pl(""));
	memcpy(strstr(p2, "alice"), "alicg", 5);
	n = b64url_str(hdr, t2);
	t2[n++] = '.';
	b64url_str(p2, t2 + n);
	strcat(t2, dot);
	assert_string_equal(check(t2, keys, NULL, NOW), "bad signature");

	/* The signature: one bit, one byte short, one byte long. */
	*dot = '\0';
	n = sign_raw(how, key, strlen(secret), tok, sig);
	*dot = '.';
	sig[n / 2] ^= 0x10;
	b64url(sig, n, dot + 1);
	assert_string_equal(check(tok, keys, NULL, NOW), "bad signature");
	sig[n / 2] ^= 0x10;
	b64url(sig, n - 1, dot + 1);
	assert_string_equal(check(tok, keys, NULL, NOW), "bad signature");
	sig[n] = 0;
	b64url(sig, n + 1, dot + 1);
	assert_string_equal(check(tok, keys, NULL, NOW), "bad signature");
	/* And back: the test itself is sound. */
	b64url(sig, n, dot + 1);
	assert_string_equal(check(tok, keys, NULL, NOW), "ok");
}

static void
test_wrong_signature(void **state UNUSED)
{
	char tok[TOKMAX];

	mk_hs(tok, HDR_HS, pl(""));
	flip_every_bit(tok, &ks_hs);
	mk(tok, HDR_RS, pl(""), RS, rsa, 0);
	flip_every_bit(tok, &ks_rsa);
	mk(tok, HDR_ES, pl(""), ES, ec, 0);
	flip_every_bit(tok, &ks_ec);

	flip_decoded("HS256", HS, secret, &ks_hs);
	flip_decoded("RS256", RS, rsa, &ks_rsa);
	flip_decoded("ES256", ES, ec, &ks_ec);

	/* Another secret, another key of the same kind. */
	mk(tok, HDR_HS, pl(""), HS, "correct horse battery staple 012345678",
	    38);
	assert_string_equal(check_hs(tok), "bad signature");
	{
		EVP_PKEY *ec2, *rsa2;

		assert_non_null(ec2 = EVP_PKEY_Q_keygen(NULL, NULL, "EC",
		    "P-256"));
		mk(tok, HDR_ES, pl(""), ES, ec2, 0);
		assert_string_equal(check(tok, &ks_ec, NULL, NOW),
		    "bad signature");
		EVP_PKEY_free(ec2);
		assert_non_null(rsa2 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
		    (size_t)2048));
		mk(tok, HDR_RS, pl(""), RS, rsa2, 0);
		assert_string_equal(check(tok, &ks_rsa, NULL, NOW),
		    "bad signature");
		EVP_PKEY_free(rsa2);
	}

	/* An ES256 signature in DER, as OpenSSL makes it, is not JWS. */
	{
		unsigned char der[128];
		size_t len = sizeof(der), n;
		EVP_MD_CTX *md;

		n = b64url_str(HDR_ES, tok);
		tok[n++] = '.';
		b64url_str(pl(""), tok + n);
		assert_non_null(md = EVP_MD_CTX_new());
		assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha256(),
		    NULL, ec), 1);
		assert_int_equal(EVP_DigestSign(md, der, &len,
		    (unsigned char *)tok, strlen(tok)), 1);
		EVP_MD_CTX_free(md);
		n = strlen(tok);
		tok[n++] = '.';
		b64url(der, len, tok + n);
		assert_string_equal(check(tok, &ks_ec, NULL, NOW),
		    "bad signature");
	}
	/* R || S of zeros. */
	{
		unsigned char zero[64] = { 0 };
		size_t n;

		n = b64url_str(HDR_ES, tok);
		tok[n++] = '.';
		n += b64url_str(pl(""), tok + n);
		tok[n++] = '.';
		b64url(zero, 64, tok + n);
		assert_string_equal(check(tok, &ks_ec, NULL, NOW),
		    "bad signature");
	}
}

static void
test_alg_none(void **state UNUSED)
{
	static const char *const algs[] = {
		"\"none\"", "\"None\"", "\"NONE\"", "\"nOnE\"", "\"hs256\"",
		"\"HS384\"", "\"HS512\"", "\"RS384\"", "\"PS256\"",
		"\"ES384\"", "\"EdDSA\"", "\"HS256 \"", "\" HS256\"", "\"\"",
		"\"HS256\\u0000\"", "null", "256", "[\"HS256\"]",
		"{\"HS256\":1}", "true",
	};
	char hdr[128], tok[TOKMAX];
	size_t i, n;

	for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		FMT(hdr, "{\"alg\":%s,\"typ\":\"JWT\"}",
		    algs[i]);
		/* Unsigned: "h.p." */
		n = b64url_str(hdr, tok);
		tok[n++] = '.';
		n += b64url_str(pl(""), tok + n);
		tok[n++] = '.';
		tok[n] = '\0';
		if (strcmp(check(tok, &ks_all_ec, NULL, NOW), "alg not allowed")
		    != 0 && strcmp(check(tok, &ks_all_ec, NULL, NOW),
		    "bad header JSON") != 0)
			fail_msg("alg %s: %s", algs[i],
			    check(tok, &ks_all_ec, NULL, NOW));
		/* With an HMAC the right secret made. */
		mk_hs(tok, hdr, pl(""));
		if (strcmp(check(tok, &ks_all_ec, NULL, NOW), "alg not allowed")
		    != 0 && strcmp(check(tok, &ks_all_ec, NULL, NOW),
		    "bad header JSON") != 0)
			fail_msg("alg %s signed: %s", algs[i],
			    check(tok, &ks_all_ec, NULL, NOW));
		if (strcmp(check(tok, &ks_hs_rsa, NULL, NOW), "ok") == 0)
			fail_msg("alg %s accepted", algs[i]);
	}
	mk_hs(tok, "{\"alg\":\"none\"}", pl(""));
	assert_string_equal(check(tok, &ks_hs, NULL, NOW), "alg not allowed");
	mk_hs(tok, "{\"typ\":\"JWT\"}", pl(""));
	assert_string_equal(check(tok, &ks_hs, NULL, NOW), "alg missing");
	mk_hs(tok, "{}", pl(""));
	assert_string_equal(check(tok, &ks_hs, NULL, NOW), "alg missing");
}

static void
test_alg_confusion(void **state UNUSED)
{
	struct jwt_keys pem_secret = { NULL, 0, NULL };
	char tok[TOKMAX], *pem;
	size_t pemlen;

	/* HS256 with the RSA public key PEM as the HMAC key. */
	pem = pem_of(rsa, &pemlen);
	mk(tok, HDR_HS, pl(""), HS, pem, pemlen);
	/* The token is sound: it verifies where that PEM is the secret. */
	pem_secret.secret = (unsigned char *)pem;
	pem_secret.secret_len = pemlen;
	assert_string_equal(check(tok, &pem_secret, NULL, NOW), "ok");
	/* Only the public key: HS256 is not accepted at all. */
	assert_string_equal(check(tok, &ks_rsa, NULL, NOW), "alg not allowed");
	/* Secret and public key: checked against the secret alone. */
	assert_string_equal(check(tok, &ks_hs_rsa, NULL, NOW),
	    "bad signature");
	/* Without the trailing newline, or DER-less variants: the same. */
	mk(tok, HDR_HS, pl(""), HS, pem, pemlen - 1);
	assert_string_equal(check(tok, &ks_rsa, NULL, NOW), "alg not allowed");
	assert_string_equal(check(tok, &ks_hs_rsa, NULL, NOW),
	    "bad signature");
	free(pem);

	/* The same with the EC key. */
	pem = pem_of(ec, &pemlen);
	mk(tok, HDR_HS, pl(""), HS, pem, pemlen);
	assert_string_equal(check(tok, &ks_ec, NULL, NOW), "alg not allowed");
	assert_string_equal(check(tok, &ks_all_ec, NULL, NOW),
	    "bad signature");
	free(pem);

	/* An empty secret is no secret. */
	pem_secret.secret = (const unsigned char *)"";
	pem_secret.secret_len = 0;
	mk(tok, HDR_HS, pl(""), HS, "", 0);
	assert_string_equal(check(tok, &pem_secret, NULL, NOW),
	    "alg not allowed");
	/* No keys at all. */
	mk_hs(tok, HDR_HS, pl(""));
	assert_string_equal(check(tok, NULL, NULL, NOW), "alg not allowed");
}

static void
test_key_type_mismatch(void **state UNUSED)
{
	struct jwt_keys p384 = { NULL, 0, NULL }, ed = { NULL, 0, NULL };
	char tok[TOKMAX];

	/* RS256 when the key is EC, ES256 when it is RSA. */
	mk(tok, HDR_RS, pl(""), RS, rsa, 0);
	assert_string_equal(check(tok, &ks_ec, NULL, NOW), "alg not allowed");
	assert_string_equal(check(tok, &ks_all_ec, NULL, NOW),
	    "alg not allowed");
	assert_string_equal(check(tok, &ks_hs, NULL, NOW), "alg not allowed");
	mk(tok, HDR_ES, pl(""), ES, ec, 0);
	assert_string_equal(check(tok, &ks_rsa, NULL, NOW), "alg not allowed");
	assert_string_equal(check(tok, &ks_hs_rsa, NULL, NOW),
	    "alg not allowed");
	assert_string_equal(check(tok, &ks_hs, NULL, NOW), "alg not allowed");
	/* A token claiming RS256 but signed with the EC key. */
	mk(tok, HDR_RS, pl(""), ES, ec, 0);
	assert_string_equal(check(tok, &ks_rsa, NULL, NOW), "bad signature");
	/* HS256 with only public keys. */
	mk_hs(tok, HDR_HS, pl(""));
	assert_string_equal(check(tok, &ks_rsa, NULL, NOW), "alg not allowed");
	assert_string_equal(check(tok, &ks_ec, NULL, NOW), "alg not allowed");

	/* ES256 needs P-256 exactly. */
	assert_non_null(p384.public_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC",
	    "P-384"));
	mk(tok, HDR_ES, pl(""), ES, ec, 0);
	assert_string_equal(check(tok, &p384, NULL, NOW), "alg not allowed");
	EVP_PKEY_free(p384.public_key);
	assert_non_null(ed.public_key = EVP_PKEY_Q_keygen(NULL, NULL,
	    "ED25519"));
	mk(tok, HDR_ES, pl(""), ES, ec, 0);
	assert_string_equal(check(tok, &ed, NULL, NOW), "alg not allowed");
	mk(tok, HDR_RS, pl(""), RS, rsa, 0);
	assert_string_equal(check(tok, &ed, NULL, NOW), "alg not allowed");
	EVP_PKEY_free(ed.public_key);
}

static void
test_sub(void **state UNUSED)
{
	static const char *const bad[] = {
		"\"\"", "\"a b\"", "\"a/b\"", "\" alice\"", "\"alice\\n\"",
		"\"caf\\u00e9\"", "\"caf\xc3\xa9\"", "\"a#b\"", "\"a+b\"",
		"\"a?b\"", "\"<script>\"", "\"a\\\"b\"", "\"a\\\\b\"",
		/* not a string */
		"5", "null", "true", "[\"alice\"]", "{\"name\":\"alice\"}",
		"1.5",
	};
	char tok[TOKMAX], payload[512], name[USER_NAME_MAX + 2];
	struct jwt_claims c;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(payload, sizeof(payload),
		    "{\"sub\":%s,\"exp\":1700003600}", bad[i]);
		mk_hs(tok, HDR_HS, payload);
		if (strcmp(check_hs(tok), "sub not a valid user name") != 0)
			fail_msg("sub %s: %s", bad[i], check_hs(tok));
	}
	mk_hs(tok, HDR_HS, "{\"exp\":1700003600}");
	assert_string_equal(check_hs(tok), "sub missing");
	mk_hs(tok, HDR_HS, "{\"Sub\":\"alice\",\"exp\":1700003600}");
	assert_string_equal(check_hs(tok), "sub missing");
	/* jansson refuses NUL inside strings. */
	mk_hs(tok, HDR_HS, "{\"sub\":\"a\\u0000b\",\"exp\":1700003600}");
	assert_string_equal(check_hs(tok), "bad payload JSON");
	/* An escape that is fine once decoded. */
	mk_hs(tok, HDR_HS, "{\"sub\":\"\\u0041lice\",\"exp\":1700003600}");
	assert_string_equal(check_len(tok, strlen(tok), &ks_hs, NULL, NOW,
	    &c), "ok");
	assert_string_equal(c.sub, "Alice");

	/* 128 bytes fit, 129 do not. */
	memset(name, 'u', sizeof(name));
	name[USER_NAME_MAX] = '\0';
	FMT(payload, "{\"sub\":\"%s\",\"exp\":%lld}",
	    name, (long long)NOW + 10);
	mk_hs(tok, HDR_HS, payload);
	memset(&c, 'Z', sizeof(c));
	assert_string_equal(check_len(tok, strlen(tok), &ks_hs, NULL, NOW,
	    &c), "ok");
	assert_string_equal(c.sub, name);
	name[USER_NAME_MAX] = 'u';
	name[USER_NAME_MAX + 1] = '\0';
	FMT(payload, "{\"sub\":\"%s\",\"exp\":%lld}",
	    name, (long long)NOW + 10);
	mk_hs(tok, HDR_HS, payload);
	assert_string_equal(check_hs(tok), "sub not a valid user name");
}

/* "h.p" with the header and payload given already encoded, then signed. */
static char *
mk_enc(char *out, const char *h, const char *p)
{
	if ((size_t)snprintf(out, TOKMAX, "%s.%s", h, p) >= TOKMAX)
		fail_msg("token too long for the test");
	return sign_input(out, HS, secret, strlen(secret));
}

static void
test_base64url(void **state UNUSED)
{
	char tok[TOKMAX], h[256], h2[256], p[TOKMAX], pad[TOKMAX],
	    good[TOKMAX];
	size_t n;

	b64url_str(HDR_HS, h);
	/* A payload whose encoding needs "==" padding. */
	FMT(pad, "%s", pl(""));
	while (strlen(pad) % 3 != 1)
		memmove(pad + 1, pad, strlen(pad) + 1), pad[0] = ' ';
	b64url_str(pad, p);
	mk_enc(good, h, p);
	assert_string_equal(check_hs(good), "ok");

	/* Padding, in each part. */
	FMT(pad, "%s==", p);
	mk_enc(tok, h, pad);
	assert_string_equal(check_hs(tok), "bad base64url");
	FMT(h2, "%s=", h);
	mk_enc(tok, h2, p);
	assert_string_equal(check_hs(tok), "bad base64url");
	FMT(h2, "%s====", h);
	mk_enc(tok, h2, p);
	assert_string_equal(check_hs(tok), "bad base64url");
	/* The 32-byte HMAC is 43 characters: pad the signature. */
	FMT(tok, "%s=", good);
	assert_string_equal(check_hs(tok), "bad base64url");

	/* '+', '/', space and others, inside each part. */
	{
		static const char bad[] = "+/ =.!\"\\\t\n\r\x80\xff~*%$";
		char p2[TOKMAX];
		size_t i;

		for (i = 0; i < sizeof(bad) - 1; i++) {
			FMT(p2, "%s", p);
			p2[5] = bad[i];
			mk_enc(tok, h, p2);
			if (strcmp(check_hs(tok), "bad base64url") != 0)
				fail_msg("payload with %#x: %s",
				    (unsigned char)bad[i], check_hs(tok));
			FMT(p2, "%s", h);
			p2[5] = bad[i];
			mk_enc(tok, p2, p);
			if (strcmp(check_hs(tok), "bad base64url") != 0 &&
			    bad[i] != '.')
				fail_msg("header with %#x: %s",
				    (unsigned char)bad[i], check_hs(tok));
			FMT(tok, "%s", good);
			tok[strlen(tok) - 5] = bad[i];
			if (strcmp(check_hs(tok), "bad base64url") != 0)
				fail_msg("signature with %#x: %s",
				    (unsigned char)bad[i], check_hs(tok));
		}
		/* A NUL byte, with the length given. */
		FMT(tok, "%s", good);
		n = strlen(tok);
		tok[n - 5] = '\0';
		assert_string_equal(check_len(tok, n, &ks_hs, NULL, NOW, NULL),
		    "bad base64url");
		FMT(tok, "%s", good);
		tok[3] = '\0';
		assert_string_equal(check_len(tok, n, &ks_hs, NULL, NOW, NULL),
		    "bad base64url");
		/* Standard base64 spelling of the same bytes. */
		FMT(tok, "%s", good);
		for (i = strlen(h) + 1; tok[i] != '\0'; i++)
			if (tok[i] == '-')
				tok[i] = '+';
			else if (tok[i] == '_')
				tok[i] = '/';
		if (strcmp(tok, good) != 0)
			assert_string_equal(check_hs(tok), "bad base64url");
		/* A trailing newline or space. */
		FMT(tok, "%s\n", good);
		assert_string_equal(check_hs(tok), "bad base64url");
		FMT(tok, " %s", good);
		assert_string_equal(check_hs(tok), "bad base64url");
	}

	/* Truncated: a length of 4n+1 cannot be base64. */
	{
		char p2[TOKMAX];

		b64url_str(pl(""), p2);
		while (strlen(p2) % 4 != 1)
			p2[strlen(p2) - 1] = '\0';
		mk_enc(tok, h, p2);
		assert_string_equal(check_hs(tok), "bad base64url");
		/* Cut short elsewhere, the JSON breaks. */
		b64url_str(pl(""), p2);
		while (strlen(p2) % 4 == 1 || strlen(p2) % 4 == 0)
			p2[strlen(p2) - 1] = '\0';
		p2[strlen(p2) - 4] = '\0';
		mk_enc(tok, h, p2);
		assert_string_equal(check_hs(tok), "bad payload JSON");
	}
	/* The whole token cut short: 42 or 41 characters of signature. */
	FMT(tok, "%s", good);
	tok[strlen(tok) - 1] = '\0';
	assert_true(bad_sig_or_b64(check_hs(tok)));
	tok[strlen(tok) - 1] = '\0';
	assert_string_equal(check_hs(tok), "bad base64url");

	/* 4n+1 characters, even with zero leftover bits. */
	FMT(h2, "%sA", h);
	mk_enc(tok, h2, p);
	assert_string_equal(check_hs(tok), "bad base64url");
	FMT(pad, "%s", pl(""));
	while (strlen(pad) % 3 != 0)
		memmove(pad + 1, pad, strlen(pad) + 1), pad[0] = ' ';
	n = b64url_str(pad, p);
	assert_int_equal(n % 4, 0);
	mk_enc(tok, h, p);
	assert_string_equal(check_hs(tok), "ok");
	p[n] = 'A';
	p[n + 1] = '\0';
	mk_enc(tok, h, p);
	assert_string_equal(check_hs(tok), "bad base64url");
	p[n] = '\0';

	/* Leftover bits must be zero: "e30" is "{}", "e31" is not. */
	mk_enc(tok, "e30", p);
	assert_string_equal(check_hs(tok), "alg missing");
	mk_enc(tok, "e31", p);
	assert_string_equal(check_hs(tok), "bad base64url");
	mk_enc(tok, "ex", p);	/* "{" and a nonzero leftover */
	assert_string_equal(check_hs(tok), "bad base64url");
}

static void
test_structure(void **state UNUSED)
{
	char tok[TOKMAX], h[256], p[512], good[TOKMAX], *buf;
	size_t n;

	b64url_str(HDR_HS, h);
	b64url_str(pl(""), p);
	mk_enc(good, h, p);
	assert_string_equal(check_hs(good), "ok");

	assert_string_equal(check_hs(""), "not three parts");
	assert_string_equal(check_hs("abc"), "not three parts");
	assert_string_equal(check_hs("."), "not three parts");
	assert_string_equal(check_hs(".."), "empty token part");
	assert_string_equal(check_hs("..."), "empty token part");
	assert_int_equal(jwt_verify(NULL, 0, &ks_hs, NULL, NOW, NULL, NULL),
	    -1);
	/* Two dots missing, one dot missing. */
	FMT(tok, "%s%s", h, p);
	assert_string_equal(check_hs(tok), "not three parts");
	FMT(tok, "%s.%s", h, p);
	assert_string_equal(check_hs(tok), "not three parts");
	FMT(tok, "%s", good);
	memmove(strrchr(tok, '.'), strrchr(tok, '.') + 1,
	    strlen(strrchr(tok, '.')));
	assert_string_equal(check_hs(tok), "not three parts");
	/* Empty parts. */
	FMT(tok, ".%s", strchr(good, '.'));
	assert_string_equal(check_hs(tok + 1), "empty token part");
	FMT(tok, "%s.", h);
	strcat(tok, strrchr(good, '.'));
	assert_string_equal(check_hs(tok), "empty token part");
	FMT(tok, "%s.%s.", h, p);
	assert_string_equal(check_hs(tok), "empty token part");
	/* A fourth part (JWE has five). */
	FMT(tok, "%s.x", good);
	assert_string_equal(check_hs(tok), "bad base64url");
	FMT(tok, "%s.%s", good, strchr(good, '.') + 1);
	assert_string_equal(check_hs(tok), "bad base64url");

	/* Only len bytes are read. */
	FMT(tok, "%sGARBAGE", good);
	n = strlen(good);
	assert_string_equal(check_len(tok, n, &ks_hs, NULL, NOW, NULL), "ok");
	assert_true(bad_sig_or_b64(check_len(tok, n - 1, &ks_hs, NULL, NOW,
	    NULL)));
	assert_true(bad_sig_or_b64(check_hs(tok)));
	/* Exactly len bytes on the heap, so ASan sees any overread. */
	assert_non_null(buf = malloc(n));
	memcpy(buf, good, n);
	assert_string_equal(check_len(buf, n, &ks_hs, NULL, NOW, NULL), "ok");
	free(buf);
}

static void
test_json(void **state UNUSED)
{
	static const char *const badhdr[] = {
		"{", "{\"alg\":\"HS256\"", "{\"alg\":\"HS256\",}",
		"{alg:\"HS256\"}", "{'alg':'HS256'}", "{\"alg\":\"HS256\"} x",
		"{\"alg\":\"HS256\"}{}", "{\"alg\":\"HS256\",\"alg\":\"HS256\"}",
		"{\"alg\":\"none\",\"alg\":\"HS256\"}",
		"{\"alg\":\"HS256\",\"typ\":\"JWT\",\"typ\":\"JWT\"}",
		"{\"alg\":\"HS\xff\"}", "", " ",
		/* jansson takes only objects and arrays at the top */
		"\"HS256\"", "42", "null", "true",
	};
	static const char *const nothdr[] = {
		"[\"alg\",\"HS256\"]", "[{\"alg\":\"HS256\"}]", "[]",
	};
	static const char *const badpl[] = {
		"{", "{\"sub\":\"alice\",\"exp\":1700003600",
		"{\"sub\":\"alice\",\"exp\":1700003600,}",
		"{\"sub\":\"alice\",\"exp\":1700003600} x",
		"{\"sub\":\"alice\",\"exp\":1700003600}{}",
		"{\"sub\":\"alice\",\"exp\":NaN}",
		"{\"sub\":\"alice\",\"exp\":Infinity}",
		"{\"sub\":\"alice\",\"exp\":1e400}",
		"{\"sub\":\"alice\",\"exp\":99999999999999999999}",
		"{\"sub\":\"alice\",\"exp\":01700003600}",
		/* duplicate keys */
		"{\"sub\":\"alice\",\"sub\":\"bob\",\"exp\":1700003600}",
		"{\"sub\":\"alice\",\"sub\":\"alice\",\"exp\":1700003600}",
		"{\"sub\":\"alice\",\"exp\":1,\"exp\":1700003600}",
		"{\"sub\":\"alice\",\"exp\":1700003600,\"x\":{\"a\":1,\"a\":2}}",
		" ", "\"alice\"", "1700003600", "null",
	};
	static const char *const notpl[] = {
		"[\"alice\"]", "[{\"sub\":\"alice\",\"exp\":1700003600}]",
	};
	char tok[TOKMAX];
	size_t i;

	for (i = 0; i < sizeof(badhdr) / sizeof(badhdr[0]); i++) {
		mk_hs(tok, badhdr[i], pl(""));
		if (strcmp(check_hs(tok), *badhdr[i] ? "bad header JSON" :
		    "empty token part") != 0)
			fail_msg("header %s: %s", badhdr[i], check_hs(tok));
	}
	for (i = 0; i < sizeof(nothdr) / sizeof(nothdr[0]); i++) {
		mk_hs(tok, nothdr[i], pl(""));
		if (strcmp(check_hs(tok), "header not an object") != 0)
			fail_msg("header %s: %s", nothdr[i], check_hs(tok));
	}
	for (i = 0; i < sizeof(badpl) / sizeof(badpl[0]); i++) {
		mk_hs(tok, HDR_HS, badpl[i]);
		if (strcmp(check_hs(tok), "bad payload JSON") != 0)
			fail_msg("payload %s: %s", badpl[i], check_hs(tok));
	}
	for (i = 0; i < sizeof(notpl) / sizeof(notpl[0]); i++) {
		mk_hs(tok, HDR_HS, notpl[i]);
		if (strcmp(check_hs(tok), "payload not an object") != 0)
			fail_msg("payload %s: %s", notpl[i], check_hs(tok));
	}
	/* The same payloads, unsigned: refused before parsing. */
	mk(tok, HDR_HS, badpl[0], HS, "wrong", 5);
	assert_string_equal(check_hs(tok), "bad signature");
}

static void
test_length(void **state UNUSED)
{
	struct timespec t0, t1;
	char *big, h[256], extra[JWT_MAX_LEN];
	size_t n, hl, target;
	double ms;

	/* 100 KB: a valid shape, refused on its length alone. */
	n = 100 * 1024;
	assert_non_null(big = malloc(n + 1));
	hl = b64url_str(HDR_HS, h);
	memset(big, 'A', n);
	memcpy(big, h, hl);
	big[hl] = '.';
	big[n - 44] = '.';
	big[n] = '\0';
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_string_equal(check(big, &ks_hs_rsa, NULL, NOW),
	    "token too long");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	assert_true(ms < 50);
	free(big);

	/* JWT_MAX_LEN bytes exactly are fine; one more is not. */
	assert_non_null(big = malloc(JWT_MAX_LEN + 64));
	for (target = JWT_MAX_LEN; target <= JWT_MAX_LEN + 1; target++) {
		/* Grow a padding claim until the token is target bytes. */
		for (n = 0; n < sizeof(extra) - 16; n++) {
			memcpy(extra, "\"pad\":\"", 7);
			memset(extra + 7, 'x', n);
			memcpy(extra + 7 + n, "\"", 2);
			mk_hs(big, HDR_HS, pl(extra));
			if (strlen(big) >= target)
				break;
		}
		if (strlen(big) != target) {
			/* Base64 steps by 4/3: pad with spaces in JSON. */
			char sp[TOKMAX];
			size_t k;

			for (k = 0; k < 3 && strlen(big) != target; k++) {
				memcpy(extra, "\"pad\":\"", 7);
				memset(extra + 7, 'x', n - 1);
				memcpy(extra + 6 + n, "\"", 2);
				FMT(sp, "%*s%s", (int)k, "",
				    pl(extra));
				mk_hs(big, HDR_HS, sp);
			}
		}
		assert_int_equal(strlen(big), target);
		assert_string_equal(check_hs(big), target == JWT_MAX_LEN ?
		    "ok" : "token too long");
	}
	free(big);
}

static void
test_aud_iss(void **state UNUSED)
{
	struct jwt_policy aud = { "wspubsub", NULL, 0 };
	struct jwt_policy iss = { NULL, "https://auth.example.com/", 0 };
	struct jwt_policy both = { "wspubsub", "https://auth.example.com/", 0 };
	static const char *const audok[] = {
		"\"wspubsub\"", "[\"wspubsub\"]", "[\"x\",\"wspubsub\"]",
		"[\"wspubsub\",\"wspubsub\"]",
	};
	static const char *const audbad[] = {
		"\"other\"", "\"wspubsubX\"", "\"wspub\"", "\"WSPUBSUB\"",
		"\"\"", "[]", "[\"x\",\"y\"]", "5", "null", "{\"wspubsub\":1}",
		"[\"wspubsub\",5]", "[[\"wspubsub\"]]", "true",
	};
	char tok[TOKMAX], extra[256];
	size_t i;

	for (i = 0; i < sizeof(audok) / sizeof(audok[0]); i++) {
		FMT(extra, "\"aud\":%s", audok[i]);
		mk_hs(tok, HDR_HS, pl(extra));
		if (strcmp(check(tok, &ks_hs, &aud, NOW), "ok") != 0)
			fail_msg("aud %s refused", audok[i]);
	}
	for (i = 0; i < sizeof(audbad) / sizeof(audbad[0]); i++) {
		FMT(extra, "\"aud\":%s", audbad[i]);
		mk_hs(tok, HDR_HS, pl(extra));
		if (strcmp(check(tok, &ks_hs, &aud, NOW), "aud mismatch") != 0)
			fail_msg("aud %s accepted", audbad[i]);
		/* Not checked when no audience is configured. */
		assert_string_equal(check(tok, &ks_hs, &iss, NOW),
		    "iss mismatch");
		assert_string_equal(check(tok, &ks_hs, NULL, NOW), "ok");
	}
	mk_hs(tok, HDR_HS, pl(""));
	assert_string_equal(check(tok, &ks_hs, &aud, NOW), "aud mismatch");

	mk_hs(tok, HDR_HS, pl("\"iss\":\"https://auth.example.com/\""));
	assert_string_equal(check(tok, &ks_hs, &iss, NOW), "ok");
	assert_string_equal(check(tok, &ks_hs, &both, NOW), "aud mismatch");
	mk_hs(tok, HDR_HS, pl("\"iss\":\"https://auth.example.com/\","
	    "\"aud\":[\"wspubsub\"]"));
	assert_string_equal(check(tok, &ks_hs, &both, NOW), "ok");
	mk_hs(tok, HDR_HS, pl("\"iss\":\"https://auth.example.com\","
	    "\"aud\":[\"wspubsub\"]"));
	assert_string_equal(check(tok, &ks_hs, &both, NOW), "iss mismatch");
	assert_string_equal(check(tok, &ks_hs, &aud, NOW), "ok");
	mk_hs(tok, HDR_HS, pl("\"iss\":\"https://evil.example.com/\""));
	assert_string_equal(check(tok, &ks_hs, &iss, NOW), "iss mismatch");
	mk_hs(tok, HDR_HS, pl("\"iss\":[\"https://auth.example.com/\"]"));
	assert_string_equal(check(tok, &ks_hs, &iss, NOW), "iss mismatch");
	mk_hs(tok, HDR_HS, pl("\"iss\":null"));
	assert_string_equal(check(tok, &ks_hs, &iss, NOW), "iss mismatch");
	mk_hs(tok, HDR_HS, pl("\"iss\":\"https://auth.example.com/\\u0000\""));
	assert_string_not_equal(check(tok, &ks_hs, &iss, NOW), "ok");
}

static void
write_file(char *path, const void *data, size_t len)
{
	int fd;

	snprintf(path, 64, "/tmp/wspubsub-jwt-XXXXXX");
	if ((fd = mkstemp(path)) == -1)
		fail_msg("mkstemp");
	if (write(fd, data, len) != (ssize_t)len)
		fail_msg("write");
	close(fd);
}

/* Write pk as PEM through fn (0: SPKI, 1: PKCS#1, 2: private, 3: cert). */
static void
write_pem(char *path, EVP_PKEY *pk, int form)
{
	OSSL_ENCODER_CTX *ectx;
	X509_NAME *name;
	X509 *x;
	BIO *bio;
	char *p;
	long n;

	assert_non_null(bio = BIO_new(BIO_s_mem()));
	switch (form) {
	case 0:
		assert_int_equal(PEM_write_bio_PUBKEY(bio, pk), 1);
		break;
	case 1:
		assert_non_null(ectx = OSSL_ENCODER_CTX_new_for_pkey(pk,
		    EVP_PKEY_PUBLIC_KEY, "PEM", "type-specific", NULL));
		assert_int_equal(OSSL_ENCODER_to_bio(ectx, bio), 1);
		OSSL_ENCODER_CTX_free(ectx);
		break;
	case 2:
		assert_int_equal(PEM_write_bio_PrivateKey(bio, pk, NULL, NULL,
		    0, NULL, NULL), 1);
		break;
	case 3:
		assert_non_null(x = X509_new());
		assert_int_equal(X509_set_version(x, 2), 1);
		ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
		X509_gmtime_adj(X509_getm_notBefore(x), 0);
		X509_gmtime_adj(X509_getm_notAfter(x), 3600);
		assert_int_equal(X509_set_pubkey(x, pk), 1);
		name = X509_get_subject_name(x);
		X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
		    (const unsigned char *)"auth.example.com", -1, -1, 0);
		X509_set_issuer_name(x, name);
		assert_true(X509_sign(x, pk, EVP_sha256()) > 0);
		assert_int_equal(PEM_write_bio_X509(bio, x), 1);
		X509_free(x);
		break;
	}
	n = BIO_get_mem_data(bio, &p);
	write_file(path, p, (size_t)n);
	BIO_free(bio);
}

/* Load the key written in form, and check tokens verify with it. */
static void
load_ok(EVP_PKEY *pk, int form)
{
	struct jwt_keys k = { NULL, 0, NULL };
	char path[64], tok[TOKMAX];
	const char *why = NULL;
	int isrsa = EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA;

	write_pem(path, pk, form);
	k.public_key = jwt_load_public_key(path, &why);
	if (k.public_key == NULL)
		fail_msg("form %d: %s", form, why);
	assert_int_equal(EVP_PKEY_eq(k.public_key, pk), 1);
	mk(tok, isrsa ? HDR_RS : HDR_ES, pl(""), isrsa ? RS : ES, pk, 0);
	assert_string_equal(check(tok, &k, NULL, NOW), "ok");
	EVP_PKEY_free(k.public_key);
	unlink(path);
}

static void
load_bad(EVP_PKEY *pk, int form, const char *want)
{
	char path[64];
	const char *why = NULL;

	write_pem(path, pk, form);
	assert_null(jwt_load_public_key(path, &why));
	assert_non_null(why);
	assert_string_equal(why, want);
	unlink(path);
}

static void
test_load_public_key(void **state UNUSED)
{
	EVP_PKEY *k;
	char path[64], junk[] = "-----BEGIN PUBLIC KEY-----\nnot base64\n"
	    "-----END PUBLIC KEY-----\n", *pem, both[8192];
	const char *why = NULL;
	size_t len;

	load_ok(rsa, 0);
	load_ok(rsa, 1);
	load_ok(rsa, 3);
	load_ok(ec, 0);
	load_ok(ec, 3);

	load_bad(rsa, 2, "key file holds a private key");
	load_bad(ec, 2, "key file holds a private key");
	assert_non_null(k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024));
	load_bad(k, 0, "RSA key shorter than 2048 bits");
	load_bad(k, 3, "RSA key shorter than 2048 bits");
	EVP_PKEY_free(k);
	assert_non_null(k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384"));
	load_bad(k, 0, "EC key not on P-256");
	EVP_PKEY_free(k);
	assert_non_null(k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1"));
	load_bad(k, 0, "EC key not on P-256");
	EVP_PKEY_free(k);
	assert_non_null(k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"));
	load_bad(k, 0, "key neither RSA nor EC");
	EVP_PKEY_free(k);

	assert_null(jwt_load_public_key("/nonexistent/key.pem", &why));
	assert_string_equal(why, "cannot open key file");
	write_file(path, junk, strlen(junk));
	assert_null(jwt_load_public_key(path, &why));
	assert_string_equal(why, "no PEM public key or certificate in key file");
	unlink(path);
	write_file(path, "", 0);
	why = NULL;
	assert_null(jwt_load_public_key(path, &why));
	assert_string_equal(why, "no PEM public key or certificate in key file");
	unlink(path);
	/* A public key with a private key after it: refused too. */
	pem = pem_of(ec, &len);
	FMT(both, "%s-----BEGIN PRIVATE KEY-----\n", pem);
	free(pem);
	write_file(path, both, strlen(both));
	assert_null(jwt_load_public_key(path, &why));
	assert_string_equal(why, "key file holds a private key");
	unlink(path);
	/* why may be NULL. */
	assert_null(jwt_load_public_key("/nonexistent/key.pem", NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_es256_many),
		cmocka_unit_test(test_exp),
		cmocka_unit_test(test_nbf_iat),
		cmocka_unit_test(test_wrong_signature),
		cmocka_unit_test(test_alg_none),
		cmocka_unit_test(test_alg_confusion),
		cmocka_unit_test(test_key_type_mismatch),
		cmocka_unit_test(test_sub),
		cmocka_unit_test(test_base64url),
		cmocka_unit_test(test_structure),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_length),
		cmocka_unit_test(test_aud_iss),
		cmocka_unit_test(test_load_public_key),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
