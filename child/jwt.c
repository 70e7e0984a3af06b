/*
 * jwt.c -- verifying JSON Web Tokens: base64url, the JOSE header, the
 * HS256/RS256/ES256 signature, then the claims (sub, exp, nbf, iat, aud,
 * iss).  Keys only ever come from the configuration, never from the token.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "jwt.h"
#include "user.h"

/* Decoded parts are at most 3/4 of the token, so they fit on the stack. */
#define PART_MAX	(JWT_MAX_LEN / 4 * 3 + 3)
#define KEY_FILE_MAX	(1024 * 1024)
#define RSA_MIN_BITS	2048

enum alg { ALG_HS256, ALG_RS256, ALG_ES256 };

static int
b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/*
 * Unpadded base64url, as JWS requires.  Leftover bits must be zero so
 * that each token has exactly one spelling.  Returns the decoded length
 * or -1; out must hold len / 4 * 3 + 2 bytes.
 */
static long
b64url_decode(const char *in, size_t len, unsigned char *out)
{
	unsigned long acc = 0;
	size_t i, n = 0;
	int bits = 0, v;

	if (len % 4 == 1)
		return -1;
	for (i = 0; i < len; i++) {
		if ((v = b64url_value((unsigned char)in[i])) < 0)
			return -1;
		acc = (acc << 6 | (unsigned long)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	if (bits > 0 && (acc & ((1UL << bits) - 1)) != 0)
		return -1;
	return (long)n;
}

/* Decode a part that must not be empty; -1 with *why set. */
static long
decode_part(const char *in, size_t len, unsigned char *out,
    const char **why)
{
	long n;

	if (len == 0) {
		*why = "empty token part";
		return -1;
	}
	if ((n = b64url_decode(in, len, out)) < 0)
		*why = "bad base64url";
	return n;
}

/* 1 when the JSON string v is exactly s. */
static int
json_string_is(const json_t *v, const char *s)
{
	size_t n = strlen(s);

	return json_is_string(v) && json_string_length(v) == n &&
	    memcmp(json_string_value(v), s, n) == 0;
}

/* Header: alg, typ, crit.  The alg must also suit the keys we hold. */
static int
check_header(const unsigned char *buf, size_t len,
    const struct jwt_keys *keys, enum alg *alg, const char **why)
{
	json_error_t err;
	json_t *root, *v;
	char group[64];
	size_t glen;
	int rc = -1;

	if ((root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES,
	    &err)) == NULL) {
		*why = "bad header JSON";
		return -1;
	}
	if (!json_is_object(root)) {
		*why = "header not an object";
		goto out;
	}
	/* Extensions we do not implement must not be skipped silently. */
	if (json_object_get(root, "crit") != NULL) {
		*why = "crit header not supported";
		goto out;
	}
	/* typ is optional; when given it must say this is a JWT. */
	if ((v = json_object_get(root, "typ")) != NULL &&
	    (!json_is_string(v) || json_string_length(v) != 3 ||
	    strcasecmp(json_string_value(v), "JWT") != 0)) {
		*why = "typ not JWT";
		goto out;
	}
	v = json_object_get(root, "alg");
	if (v == NULL) {
		*why = "alg missing";
		goto out;
	}
	*why = "alg not allowed";
	if (json_string_is(v, "HS256")) {
		if (keys->secret == NULL || keys->secret_len == 0 ||
		    keys->secret_len > INT_MAX)
			goto out;
		*alg = ALG_HS256;
	} else if (json_string_is(v, "RS256")) {
		if (keys->public_key == NULL ||
		    EVP_PKEY_get_base_id(keys->public_key) != EVP_PKEY_RSA)
			goto out;
		*alg = ALG_RS256;
	} else if (json_string_is(v, "ES256")) {
		if (keys->public_key == NULL ||
		    EVP_PKEY_get_base_id(keys->public_key) != EVP_PKEY_EC ||
		    EVP_PKEY_get_group_name(keys->public_key, group,
		    sizeof(group), &glen) != 1 ||
		    strcmp(group, SN_X9_62_prime256v1) != 0)
			goto out;
		*alg = ALG_ES256;
	} else
		goto out;	/* "none" among others */
	rc = 0;
out:
	json_decref(root);
	return rc;
}

/*
 * JWS carries ES256 signatures as R || S, 32 bytes each; OpenSSL wants a
 * DER ECDSA-Sig-Value.  Returns the DER length (at most 72).
 */
static size_t
es256_to_der(const unsigned char *raw, unsigned char *der)
{
	size_t n = 2, i, skip, ilen;
	int pad;

	for (i = 0; i < 2; i++) {
		const unsigned char *x = raw + 32 * i;

		/* Minimal INTEGER: no leading zeros, 0x00 before a high bit. */
		for (skip = 0; skip < 31 && x[skip] == 0; skip++)
			;
		pad = (x[skip] & 0x80) != 0;
		ilen = 32 - skip + (size_t)pad;
		der[n++] = 0x02;
		der[n++] = (unsigned char)ilen;
		if (pad)
			der[n++] = 0x00;
		memcpy(der + n, x + skip, 32 - skip);
		n += 32 - skip;
	}
	der[0] = 0x30;
	der[1] = (unsigned char)(n - 2);
	return n;
}

static int
check_signature(enum alg alg, const struct jwt_keys *keys,
    const char *input, size_t inlen, const unsigned char *sig, size_t siglen,
    const char **why)
{
	unsigned char mac[EVP_MAX_MD_SIZE], der[80];
	const unsigned char *s = sig;
	unsigned int maclen = 0;
	EVP_MD_CTX *md = NULL;
	EVP_PKEY_CTX *pctx;
	size_t slen = siglen;
	int rc = -1;

	*why = "bad signature";
	switch (alg) {
	case ALG_HS256:
		if (siglen != 32)
			return -1;
		if (HMAC(EVP_sha256(), keys->secret, (int)keys->secret_len,
		    (const unsigned char *)input, inlen, mac, &maclen) ==
		    NULL || maclen != 32) {
			*why = "HMAC failed";
			ERR_clear_error();
			return -1;
		}
		/* Constant time: the timing must not leak the right MAC. */
		rc = CRYPTO_memcmp(mac, sig, 32) == 0 ? 0 : -1;
		OPENSSL_cleanse(mac, sizeof(mac));
		return rc;
	case ALG_RS256:
		if (siglen != (size_t)EVP_PKEY_get_size(keys->public_key))
			return -1;
		break;
	case ALG_ES256:
		if (siglen != 64)
			return -1;
		slen = es256_to_der(sig, der);
		s = der;
		break;
	}
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit(md, &pctx, EVP_sha256(), NULL,
	    keys->public_key) != 1 ||
	    (alg == ALG_RS256 &&
	    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) <= 0)) {
		*why = "signature check failed";
		goto out;
	}
	if (EVP_DigestVerify(md, s, slen, (const unsigned char *)input,
	    inlen) == 1)
		rc = 0;
out:
	EVP_MD_CTX_free(md);
	ERR_clear_error();
	return rc;
}

/* a + b without overflow: saturate instead. */
static int64_t
sat_add(int64_t a, int64_t b)
{
	int64_t r;

	if (__builtin_add_overflow(a, b, &r))
		return b > 0 ? INT64_MAX : INT64_MIN;
	return r;
}

/*
 * A NumericDate claim as whole seconds, rounded up: for integer t,
 * t >= x, t < x and x > t hold exactly when they do for ceil(x).
 * 1: absent; 0: *out set; -1: not a number.
 */
static int
numeric_date(const json_t *root, const char *key, int64_t *out)
{
	const json_t *v;
	double d;
	int64_t t;

	if ((v = json_object_get(root, key)) == NULL)
		return 1;
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 0;
	}
	if (!json_is_real(v))
		return -1;
	d = json_real_value(v);
	if (d >= 9223372036854775807.0)
		t = INT64_MAX;
	else if (d <= -9223372036854775807.0)
		t = INT64_MIN;
	else {
		t = (int64_t)d;
		if ((double)t < d)
			t++;
	}
	*out = t;
	return 0;
}

/* aud: a string, or an array of strings, one of which must be ours. */
static int
audience_ok(const json_t *aud, const char *want)
{
	const json_t *v;
	size_t i;
	int found = 0;

	if (json_is_string(aud))
		return json_string_is(aud, want);
	if (!json_is_array(aud))
		return 0;
	json_array_foreach(aud, i, v) {
		if (!json_is_string(v))
			return 0;
		if (json_string_is(v, want))
			found = 1;
	}
	return found;
}

static int
check_claims(const unsigned char *buf, size_t len,
    const struct jwt_policy *policy, time_t now, struct jwt_claims *claims,
    const char **why)
{
	json_error_t err;
	json_t *root, *v;
	int64_t exp, nbf, iat, t = (int64_t)now, leeway;
	size_t slen;
	int rc = -1, r;

	leeway = policy != NULL && policy->leeway > 0 ? policy->leeway : 0;
	if ((root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES,
	    &err)) == NULL) {
		*why = "bad payload JSON";
		return -1;
	}
	if (!json_is_object(root)) {
		*why = "payload not an object";
		goto out;
	}
	if ((v = json_object_get(root, "sub")) == NULL) {
		*why = "sub missing";
		goto out;
	}
	if (!json_is_string(v) || (slen = json_string_length(v)) >
	    USER_NAME_MAX || !user_name_valid(json_string_value(v), slen)) {
		*why = "sub not a valid user name";
		goto out;
	}
	memcpy(claims->sub, json_string_value(v), slen);
	claims->sub[slen] = '\0';

	if ((r = numeric_date(root, "exp", &exp)) != 0) {
		*why = r > 0 ? "exp missing" : "exp not a number";
		goto out;
	}
	if (t >= sat_add(exp, leeway)) {
		*why = "token expired";
		goto out;
	}
	if ((r = numeric_date(root, "nbf", &nbf)) < 0) {
		*why = "nbf not a number";
		goto out;
	}
	if (r == 0 && sat_add(t, leeway) < nbf) {
		*why = "token not yet valid";
		goto out;
	}
	if ((r = numeric_date(root, "iat", &iat)) < 0) {
		*why = "iat not a number";
		goto out;
	}
	if (r == 0 && iat > sat_add(t, leeway)) {
		*why = "token issued in the future";
		goto out;
	}
	if (policy != NULL && policy->audience != NULL &&
	    ((v = json_object_get(root, "aud")) == NULL ||
	    !audience_ok(v, policy->audience))) {
		*why = "aud mismatch";
		goto out;
	}
	if (policy != NULL && policy->issuer != NULL &&
	    ((v = json_object_get(root, "iss")) == NULL ||
	    !json_string_is(v, policy->issuer))) {
		*why = "iss mismatch";
		goto out;
	}
	claims->exp = exp;
	rc = 0;
out:
	json_decref(root);
	return rc;
}

int
jwt_verify(const char *token, size_t len, const struct jwt_keys *keys,
    const struct jwt_policy *policy, time_t now, struct jwt_claims *claims,
    const char **why)
{
	static const struct jwt_keys nokeys;
	unsigned char buf[PART_MAX];
	struct jwt_claims scratch;
	const char *dot1, *dot2, *p, *s;
	const char *dummy;
	size_t hlen, plen, slen;
	long n;
	enum alg alg = ALG_HS256;

	if (why == NULL)
		why = &dummy;
	if (keys == NULL)
		keys = &nokeys;
	if (len > JWT_MAX_LEN) {
		*why = "token too long";
		return -1;
	}
	if (token == NULL || (dot1 = memchr(token, '.', len)) == NULL ||
	    (dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token))) ==
	    NULL) {
		*why = "not three parts";
		return -1;
	}
	/* A third dot fails as a base64url character in the signature. */
	hlen = (size_t)(dot1 - token);
	p = dot1 + 1;
	plen = (size_t)(dot2 - p);
	s = dot2 + 1;
	slen = len - (size_t)(s - token);

	/* The header picks the algorithm, checked against the keys. */
	if ((n = decode_part(token, hlen, buf, why)) < 0 ||
	    check_header(buf, (size_t)n, keys, &alg, why) != 0)
		return -1;
	/* Only signed bytes reach the claims parser. */
	if (plen == 0) {
		*why = "empty token part";
		return -1;
	}
	if ((n = decode_part(s, slen, buf, why)) < 0 ||
	    check_signature(alg, keys, token, (size_t)(dot2 - token), buf,
	    (size_t)n, why) != 0)
		return -1;
	if ((n = decode_part(p, plen, buf, why)) < 0 ||
	    check_claims(buf, (size_t)n, policy, now,
	    claims != NULL ? claims : &scratch, why) != 0)
		return -1;
	*why = "ok";
	return 0;
}

/* The whole file, NUL-terminated, for the PEM readers. */
static char *
read_key_file(const char *path, size_t *lenp, const char **why)
{
	FILE *fp;
	char *data;
	size_t n;

	if ((fp = fopen(path, "r")) == NULL) {
		*why = "cannot open key file";
		return NULL;
	}
	if ((data = malloc(KEY_FILE_MAX + 1)) == NULL) {
		fclose(fp);
		*why = "out of memory";
		return NULL;
	}
	n = fread(data, 1, KEY_FILE_MAX + 1, fp);
	if (ferror(fp) || n > KEY_FILE_MAX) {
		*why = ferror(fp) ? "cannot read key file" :
		    "key file too large";
		fclose(fp);
		free(data);
		return NULL;
	}
	fclose(fp);
	data[n] = '\0';
	*lenp = n;
	return data;
}

EVP_PKEY *
jwt_load_public_key(const char *path, const char **why)
{
	OSSL_DECODER_CTX *dctx;
	const unsigned char *dp;
	EVP_PKEY *pkey = NULL;
	X509 *x509;
	BIO *bio;
	char *data, group[64];
	size_t len, dlen, glen;
	const char *dummy;

	if (why == NULL)
		why = &dummy;
	if ((data = read_key_file(path, &len, why)) == NULL)
		return NULL;
	/* Only the backend that mints tokens needs the private key. */
	if (strstr(data, "PRIVATE KEY-----") != NULL) {
		*why = "key file holds a private key";
		goto out;
	}
	if (strstr(data, "-----BEGIN CERTIFICATE-----") != NULL) {
		if ((bio = BIO_new_mem_buf(data, (int)len)) == NULL) {
			*why = "out of memory";
			goto out;
		}
		if ((x509 = PEM_read_bio_X509(bio, NULL, NULL, NULL)) !=
		    NULL) {
			pkey = X509_get_pubkey(x509);
			X509_free(x509);
		}
		BIO_free(bio);
	} else {
		dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, "PEM", NULL, NULL,
		    EVP_PKEY_PUBLIC_KEY, NULL, NULL);
		dp = (const unsigned char *)data;
		dlen = len;
		if (dctx != NULL)
			(void)OSSL_DECODER_from_data(dctx, &dp, &dlen);
		OSSL_DECODER_CTX_free(dctx);
	}
	if (pkey == NULL) {
		*why = "no PEM public key or certificate in key file";
		goto out;
	}
	switch (EVP_PKEY_get_base_id(pkey)) {
	case EVP_PKEY_RSA:
		if (EVP_PKEY_get_bits(pkey) < RSA_MIN_BITS) {
			*why = "RSA key shorter than 2048 bits";
			goto bad;
		}
		break;
	case EVP_PKEY_EC:
		if (EVP_PKEY_get_group_name(pkey, group, sizeof(group),
		    &glen) != 1 || strcmp(group, SN_X9_62_prime256v1) != 0) {
			*why = "EC key not on P-256";
			goto bad;
		}
		break;
	default:
		*why = "key neither RSA nor EC";
		goto bad;
	}
	goto out;
bad:
	EVP_PKEY_free(pkey);
	pkey = NULL;
out:
	OPENSSL_cleanse(data, len);
	free(data);
	ERR_clear_error();
	return pkey;
}
