/*
 * jwt.h -- verifying the JSON Web Tokens (JWS compact form) that backends
 * mint for their users: HS256, RS256 and ES256, with sub as the username.
 */
#ifndef CHILD_JWT_H
#define CHILD_JWT_H

#include <openssl/evp.h>

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "settings.h"	/* USER_NAME_MAX */

#define JWT_MAX_LEN	4096	/* longer tokens are rejected before any parsing */

struct jwt_keys {
	const unsigned char *secret;	/* HS256 secret; NULL: HS256 not accepted */
	size_t		 secret_len;	/* 0: HS256 not accepted either */
	EVP_PKEY	*public_key;	/* RSA -> RS256, EC P-256 -> ES256; NULL: neither accepted */
};

struct jwt_policy {
	const char	*audience;	/* NULL: aud not checked; else aud (string or array of strings) must contain it */
	const char	*issuer;	/* NULL: iss not checked; else must equal */
	int		 leeway;	/* seconds of clock skew allowed for exp, nbf, iat; < 0 counts as 0 */
};

struct jwt_claims {
	char		 sub[USER_NAME_MAX + 1];
	int64_t		 exp;		/* seconds since the epoch, rounded up;
					   may be as large as INT64_MAX */
};

/*
 * Verify token (len bytes, not NUL-terminated necessarily) at time now.
 * 0 with claims filled, or -1 with *why set to a short static reason that
 * is safe to log (never contains token bytes or secrets).  keys and policy
 * may be NULL (no key: nothing verifies; no policy: no aud/iss, no leeway);
 * claims and why may be NULL.
 */
int	jwt_verify(const char *token, size_t len, const struct jwt_keys *,
	    const struct jwt_policy *, time_t now, struct jwt_claims *,
	    const char **why);

/*
 * Load a PEM public key (SubjectPublicKeyInfo "PUBLIC KEY", PKCS#1 "RSA
 * PUBLIC KEY", or the key of an X.509 certificate PEM) for jwt_keys.  Only
 * RSA of at least 2048 bits and EC on P-256 are accepted; private keys
 * are refused (they do not belong on the push server).  NULL on error
 * with *why set; free the key with EVP_PKEY_free.
 */
EVP_PKEY *jwt_load_public_key(const char *path, const char **why);

#endif /* CHILD_JWT_H */
