/*
 * proxy.c -- read HAProxy's PROXY protocol header, versions 1 (a text
 * line) and 2 (binary), as the specification (proxy-protocol.txt) puts
 * it.  Pure functions: the child reads the bytes.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "proxy.h"

static const uint8_t v2sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

ssize_t
proxy_take(const uint8_t *buf, size_t have, const uint8_t *peek,
    size_t npeek)
{
	const uint8_t *nl;
	size_t total;
	int first;

	if (have > 0)
		first = buf[0];
	else if (npeek > 0)
		first = peek[0];
	else
		return 0;
	if (first == 'P') {
		/* Up to the line's end: everything before it is the header. */
		if ((nl = memchr(peek, '\n', npeek)) != NULL) {
			if (have + (size_t)(nl - peek) + 1 > PROXY_V1_MAX)
				return -1;
			return nl - peek + 1;
		}
		if (have + npeek >= PROXY_V1_MAX)
			return -1;
		return (ssize_t)npeek;
	}
	if (first != v2sig[0])
		return -1;
	if (have < 16)
		return (ssize_t)(npeek < 16 - have ? npeek : 16 - have);
	total = 16 + ((size_t)buf[14] << 8 | buf[15]);
	if (total > PROXY_V2_MAX)
		return -1;
	return (ssize_t)(npeek < total - have ? npeek : total - have);
}

/* A decimal port, 0 to 65535, without sign or leading zeros. */
static int
port_parse(const char *s, size_t len, unsigned int *port)
{
	unsigned int v = 0;
	size_t i;

	if (len == 0 || len > 5 || (len > 1 && s[0] == '0'))
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned int)(s[i] - '0');
	}
	if (v > 65535)
		return -1;
	*port = v;
	return 0;
}

static int
peer_name(int af, const void *addr, unsigned int port, char *peer,
    size_t peersize)
{
	char a[INET6_ADDRSTRLEN];
	int n;

	if (inet_ntop(af, addr, a, sizeof(a)) == NULL)
		return -1;
	n = snprintf(peer, peersize, af == AF_INET6 ? "[%s]:%u" : "%s:%u", a,
	    port);
	return n > 0 && (size_t)n < peersize ? 1 : -1;
}

/* "PROXY TCP4 SRC DST SPORT DPORT\r\n", or "PROXY UNKNOWN...\r\n". */
static int
parse_v1(const uint8_t *buf, size_t len, char *peer, size_t peersize)
{
	char line[PROXY_V1_MAX + 1], *f[6], *p;
	unsigned char addr[16], daddr[16];
	unsigned int sport, dport;
	const uint8_t *nl;
	int af, i;

	if (len < 6 ? memcmp(buf, "PROXY ", len) != 0 :
	    memcmp(buf, "PROXY ", 6) != 0)
		return -1;
	if ((nl = memchr(buf, '\n', len)) == NULL)
		return len >= PROXY_V1_MAX ? -1 : 0;
	if (nl == buf || nl[-1] != '\r' ||
	    (size_t)(nl - buf) + 1 > PROXY_V1_MAX)
		return -1;
	memcpy(line, buf, (size_t)(nl - buf) - 1);
	line[nl - buf - 1] = '\0';
	if (strlen(line) != (size_t)(nl - buf) - 1)
		return -1;	/* a NUL inside */
	if (strncmp(line, "PROXY UNKNOWN", 13) == 0 &&
	    (line[13] == '\0' || line[13] == ' ')) {
		peer[0] = '\0';
		return 1;
	}
	/* Six fields, one space apart. */
	for (i = 0, p = line; i < 6; i++) {
		f[i] = p;
		if ((p = strchr(p, ' ')) != NULL)
			*p++ = '\0';
		else if (i < 5)
			return -1;
	}
	if (p != NULL)
		return -1;
	if (strcmp(f[1], "TCP4") == 0)
		af = AF_INET;
	else if (strcmp(f[1], "TCP6") == 0)
		af = AF_INET6;
	else
		return -1;
	if (inet_pton(af, f[2], addr) != 1 || inet_pton(af, f[3], daddr) != 1 ||
	    port_parse(f[4], strlen(f[4]), &sport) == -1 ||
	    port_parse(f[5], strlen(f[5]), &dport) == -1)
		return -1;
	return peer_name(af, addr, sport, peer, peersize);
}

static int
parse_v2(const uint8_t *buf, size_t len, char *peer, size_t peersize)
{
	size_t total;
	unsigned int port;

	if (memcmp(buf, v2sig, len < 12 ? len : 12) != 0)
		return -1;
	if (len < 16)
		return 0;
	if ((buf[12] & 0xf0) != 0x20 || (buf[12] & 0x0f) > 1)
		return -1;	/* version 2; LOCAL or PROXY */
	total = 16 + ((size_t)buf[14] << 8 | buf[15]);
	if (total > PROXY_V2_MAX)
		return -1;
	if (len < total)
		return 0;
	if (len > total)
		return -1;
	peer[0] = '\0';
	if ((buf[12] & 0x0f) == 0)
		return 1;	/* LOCAL: the proxy's own connection */
	switch (buf[13]) {
	case 0x11:		/* TCP over IPv4: src, dst, sport, dport */
		if (total < 16 + 12)
			return -1;
		port = (unsigned int)buf[24] << 8 | buf[25];
		return peer_name(AF_INET, buf + 16, port, peer, peersize);
	case 0x21:		/* TCP over IPv6 */
		if (total < 16 + 36)
			return -1;
		port = (unsigned int)buf[48] << 8 | buf[49];
		return peer_name(AF_INET6, buf + 16, port, peer, peersize);
	default:
		/* Families 0-3 (UNSPEC, INET, INET6, UNIX), protocols 0-2. */
		if ((buf[13] >> 4) > 3 || (buf[13] & 0x0f) > 2)
			return -1;
		return 1;	/* UNSPEC, UDP, UNIX: no address to use */
	}
}

int
proxy_parse(const uint8_t *buf, size_t len, char *peer, size_t peersize)
{
	if (len == 0)
		return 0;
	if (buf[0] == 'P')
		return parse_v1(buf, len, peer, peersize);
	if (buf[0] == v2sig[0])
		return parse_v2(buf, len, peer, peersize);
	return -1;
}
