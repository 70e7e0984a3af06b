/*
 * tls.h -- the server's TLS context, made by the master before it forks
 * so every child inherits certificate and key already loaded.
 */
#ifndef MASTER_TLS_H
#define MASTER_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

/* NULL on failure, with the reason in err. */
SSL_CTX	*tls_ctx_load(const char *certificate, const char *key, char *err,
	    size_t errlen);

#endif /* MASTER_TLS_H */
