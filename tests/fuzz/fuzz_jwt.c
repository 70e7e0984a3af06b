/*
 * fuzz_jwt.c -- libFuzzer target for the JWT verifier.
 *
 * Input: 8 bytes of time (big-endian seconds), 1 byte of flags, then the
 * token.  Flag 0x01 takes the token as "header.payload" and appends a
 * valid HS256 signature, so that the claims checks behind the signature
 * are reached too; 0x02 sets an audience and an issuer; bits 2-7 are the
 * leeway.  Keys: a fixed HS256 secret and a fixed P-256 public key.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "../../child/jwt.h"
#include "../../child/user.h"

#define SECRET	"fuzz-secret-0123456789abcdef"

/* The public half of the key that signed the ES256 seeds. */
static const char ec_pub[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAECA8tQ5JOerQlwQr/nGrR74Vg/IIw\n"
    "3hsu/0FAy+cwDD8XBWpQqQy5zfPSS+Yco/v7wmwtegu8PAv8tG7KndOY0g==\n"
    "-----END PUBLIC KEY-----\n";

static struct jwt_keys keys;

static void
init(void)
{
	BIO *bio;

	if ((bio = BIO_new_mem_buf(ec_pub, -1)) == NULL ||
	    (keys.public_key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL)) ==
	    NULL)
		abort();
	BIO_free(bio);
	keys.secret = (const unsigned char *)SECRET;
	keys.secret_len = strlen(SECRET);
}

/* "h.p" + "." + base64url(HMAC-SHA256(secret, "h.p")), exactly sized. */
static char *
resign(const uint8_t *in, size_t len, size_t *outlen)
{
	static const char abc[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char mac[32];
	unsigned int maclen;
	unsigned long v;
	char *out;
	size_t i, n;

	if (HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), in, len, mac,
	    &maclen) == NULL || maclen != 32)
		abort();
	if ((out = malloc(len + 1 + 43)) == NULL)
		abort();
	memcpy(out, in, len);
	n = len;
	out[n++] = '.';
	for (i = 0; i + 2 < 32; i += 3) {
		v = (unsigned long)mac[i] << 16 | mac[i + 1] << 8 | mac[i + 2];
		out[n++] = abc[v >> 18 & 63];
		out[n++] = abc[v >> 12 & 63];
		out[n++] = abc[v >> 6 & 63];
		out[n++] = abc[v & 63];
	}
	v = (unsigned long)mac[30] << 16 | mac[31] << 8;
	out[n++] = abc[v >> 18 & 63];
	out[n++] = abc[v >> 12 & 63];
	out[n++] = abc[v >> 6 & 63];
	*outlen = n;
	return out;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jwt_policy policy = { NULL, NULL, 0 };
	struct jwt_claims claims;
	const char *why = NULL;
	char *tok;
	size_t len, i, n;
	int64_t now = 0, limit;
	int flags;

	if (keys.secret == NULL)
		init();
	if (size < 9)
		return 0;
	for (i = 0; i < 8; i++)
		now = (int64_t)((uint64_t)now << 8 | data[i]);
	flags = data[8];
	data += 9;
	size -= 9;
	if (flags & 0x02) {
		policy.audience = "wspubsub";
		policy.issuer = "https://auth.example.com/";
	}
	policy.leeway = flags >> 2;

	/* A copy of exactly len bytes, so ASan sees any overread. */
	if (flags & 0x01)
		tok = resign(data, size, &len);
	else {
		len = size;
		if ((tok = malloc(len ? len : 1)) == NULL)
			abort();
		memcpy(tok, data, len);
	}
	memset(&claims, 0xa5, sizeof(claims));
	if (jwt_verify(tok, len, &keys, &policy, (time_t)now, &claims,
	    &why) == 0) {
		/* What was accepted must hold what the rules promise. */
		n = strnlen(claims.sub, sizeof(claims.sub));
		if (n == sizeof(claims.sub) || !user_name_valid(claims.sub, n))
			abort();
		limit = claims.exp > INT64_MAX - policy.leeway ? INT64_MAX :
		    claims.exp + policy.leeway;
		if (now >= limit || len > JWT_MAX_LEN)
			abort();
		if (why == NULL || strcmp(why, "ok") != 0)
			abort();
	} else if (why == NULL || strcmp(why, "ok") == 0)
		abort();
	free(tok);
	return 0;
}
