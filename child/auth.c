/*
 * auth.c -- who may connect: the browser Origin allow-list and the JWT
 * that names the user when authentication is on.
 *
 * Every failure is answered with the same bare status (403 or 401) so a
 * client learns nothing that helps it guess; the reason goes to the log.
 */
#include <string.h>
#include <strings.h>
#include <time.h>

#include <bsd/string.h>

#include "../master/log.h"
#include "auth.h"
#include "clock.h"
#include "jwt.h"

/* A token valid for longer than this is treated as valid this long. */
#define TOKEN_HORIZON	(10LL * 365 * 24 * 3600)

int
auth_enabled(const struct child_conf *conf)
{
	return conf->jwt_secret_len > 0 || conf->jwt_public_key != NULL;
}

/* pattern is "scheme://host[:port]", host possibly "*.domain". */
static int
origin_matches(const char *pattern, const char *origin)
{
	const char *sep = strstr(pattern, "://"), *host, *suffix;
	size_t slen, hlen, olen;

	if (strcasecmp(pattern, origin) == 0)
		return 1;
	if (sep == NULL || strncmp(sep + 3, "*.", 2) != 0)
		return 0;
	slen = (size_t)(sep + 3 - pattern);
	if (strncasecmp(pattern, origin, slen) != 0)
		return 0;
	host = origin + slen;
	suffix = sep + 4;	/* ".domain[:port]" */
	hlen = strlen(host);
	olen = strlen(suffix);
	/* At least one label before the suffix, and no path or userinfo. */
	return hlen > olen && strcasecmp(host + hlen - olen, suffix) == 0 &&
	    strpbrk(host, "/@") == NULL;
}

static int
origin_allowed(const struct child_conf *conf, const char *origin)
{
	int i;

	if (conf->nallow_origin == 0 || origin == NULL)
		return 1;	/* no list, or not a browser */
	for (i = 0; i < conf->nallow_origin; i++)
		if (origin_matches(conf->allow_origin[i], origin))
			return 1;
	return 0;
}

/* The token, copied out of the query: wiped once checked. */
static char	token[JWT_MAX_LEN + 1];

static int
check(const struct child_conf *conf, const struct ws_request *req,
    const char *peer, char *user, size_t usersize, int64_t *expires)
{
	struct jwt_keys keys;
	struct jwt_policy policy;
	struct jwt_claims claims;
	const char *why, *tok = NULL;
	time_t now;
	int n;

	if (!origin_allowed(conf, req->origin)) {
		log_info("%s: origin %s not allowed", peer, req->origin);
		return 403;
	}
	if (!auth_enabled(conf))
		return 0;

	n = ws_query_get(req->query, "token", token, sizeof(token));
	if (n >= 0)
		tok = token;
	else if (n == -2) {
		log_info("%s: auth: token parameter malformed or too long",
		    peer);
		return 401;
	} else if (req->authorization != NULL &&
	    strncasecmp(req->authorization, "Bearer ", 7) == 0) {
		tok = req->authorization + 7;
		tok += strspn(tok, " ");
		n = (int)strnlen(tok, JWT_MAX_LEN + 1);
	}
	if (tok == NULL) {
		log_info("%s: auth: no token", peer);
		return 401;
	}

	keys.secret = conf->jwt_secret_len ? conf->jwt_secret : NULL;
	keys.secret_len = conf->jwt_secret_len;
	keys.public_key = conf->jwt_public_key;
	policy.audience = conf->jwt_audience[0] ? conf->jwt_audience : NULL;
	policy.issuer = conf->jwt_issuer[0] ? conf->jwt_issuer : NULL;
	policy.leeway = conf->jwt_leeway;
	now = time(NULL);
	if (jwt_verify(tok, (size_t)n, &keys, &policy, now, &claims,
	    &why) == -1) {
		log_info("%s: auth: %s", peer, why);
		return 401;
	}
	if (user[0] != '\0' && strcmp(user, claims.sub) != 0) {
		log_info("%s: auth: user %s is not the token's %s", peer,
		    user, claims.sub);
		return 401;
	}
	strlcpy(user, claims.sub, usersize);
	if (conf->jwt_expired_close) {
		/* exp may be anything a signer chose: clamp before scaling. */
		int64_t left = claims.exp - (int64_t)now;

		if (left > TOKEN_HORIZON)
			left = TOKEN_HORIZON;
		*expires = now_ms() + (left + conf->jwt_leeway) * 1000;
	}
	log_debug("%s: auth: token for %s", peer, claims.sub);
	return 0;
}

int
auth_check(const struct child_conf *conf, const struct ws_request *req,
    const char *peer, char *user, size_t usersize, int64_t *expires)
{
	int r;

	r = check(conf, req, peer, user, usersize, expires);
	explicit_bzero(token, strnlen(token, sizeof(token)));
	return r;
}
