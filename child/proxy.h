/*
 * proxy.h -- the PROXY protocol (HAProxy's, versions 1 and 2), which a
 * load balancer sends first on a connection to say whose it really is.
 *
 * Only on listeners marked "proxy": there every connection must start
 * with the header, since anyone who may send it may claim any address.
 */
#ifndef CHILD_PROXY_H
#define CHILD_PROXY_H

#include <stddef.h>
#include <stdint.h>

#define PROXY_V1_MAX	107	/* "PROXY TCP6 ... 65535 65535\r\n" */
#define PROXY_V2_MAX	(16 + 2048)	/* header and TLVs we accept */

/*
 * How many of the next bytes (whose start is in buf[0..have) and, when
 * have is 0, peek[0..npeek)) surely belong to the header.  The caller
 * consumes only those, so nothing of the TLS or HTTP bytes that follow
 * is read.  -1: not a PROXY header.
 */
ssize_t	proxy_take(const uint8_t *buf, size_t have, const uint8_t *peek,
	    size_t npeek);

/*
 * Parse the header in buf[0..len).  1 when complete: peer is "addr:port"
 * ("[v6]:port"), or "" for a LOCAL or UNKNOWN header (the proxy's own
 * connection, such as a health check: keep the socket's address).  0
 * when more bytes are needed, -1 when the header is bad.
 */
int	proxy_parse(const uint8_t *buf, size_t len, char *peer,
	    size_t peersize);

#endif /* CHILD_PROXY_H */
