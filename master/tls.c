/*
 * tls.c -- build the SSL_CTX for "listen ... tls": TLS 1.2 and 1.3 only,
 * OpenSSL's default ciphers and groups, a certificate chain and its key.
 *
 * Children are separate processes, so a server-side session cache would
 * never be hit; session tickets work instead, because every child
 * inherits the same ticket keys from this one context.
 */
#include <stdio.h>

#include <openssl/err.h>

#include "tls.h"

static void
tls_error(char *err, size_t errlen, const char *what, const char *path)
{
	unsigned long e = ERR_peek_last_error();
	const char *reason = e ? ERR_reason_error_string(e) : NULL;

	snprintf(err, errlen, "%s %s: %s", what, path,
	    reason ? reason : "failed");
	ERR_clear_error();
}

SSL_CTX *
tls_ctx_load(const char *certificate, const char *key, char *err,
    size_t errlen)
{
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		tls_error(err, errlen, "SSL_CTX_new", "");
		return NULL;
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		tls_error(err, errlen, "protocol version", "");
		goto fail;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* Retries may come from a moved, longer buffer (child/loop.c). */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (SSL_CTX_use_certificate_chain_file(ctx, certificate) != 1) {
		tls_error(err, errlen, "certificate", certificate);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		tls_error(err, errlen, "key", key);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		tls_error(err, errlen, "key does not match certificate", key);
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}
