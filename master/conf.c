/*
 * conf.c -- read wspubsub.conf.
 *
 * Every field starts unset, each line sets one, then defaults fill the
 * rest (as servconf.c does).  A bad line does not stop the parse: every
 * error is reported with file and line, and the caller gets -1, so a
 * broken file is never half-applied (SIGHUP keeps the old one).
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bsd/string.h>

#include "conf.h"
#include "log.h"

#define UNSET	(-1)

struct parse {
	const char	*path;
	int		 line;
	int		 errors;
};

static void
perr(struct parse *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
perr(struct parse *p, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_error("%s:%d: %s", p->path, p->line, msg);
	p->errors++;
}

/* Whole decimal number in [min, max]. */
static int
parse_int(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* A duration: "10", "10s", "500ms" or "2m"; result in milliseconds. */
static int
parse_duration(const char *s, int *ms)
{
	char num[32], *unit;
	long long v, mult = 1000;
	size_t n = strspn(s, "0123456789");

	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, s, n);
	num[n] = '\0';
	unit = (char *)s + n;
	if (*unit == '\0' || strcmp(unit, "s") == 0)
		mult = 1000;
	else if (strcmp(unit, "ms") == 0)
		mult = 1;
	else if (strcmp(unit, "m") == 0)
		mult = 60000;
	else
		return -1;
	if (parse_int(num, 0, INT_MAX / mult, &v) == -1)
		return -1;
	*ms = (int)(v * mult);
	return 0;
}

/* A size: bytes, or with a k or m suffix (powers of 1024). */
static int
parse_size(const char *s, size_t *out)
{
	char num[32];
	long long v, mult = 1;
	size_t n = strspn(s, "0123456789");

	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, s, n);
	num[n] = '\0';
	if (s[n] == 'k' || s[n] == 'K')
		mult = 1024;
	else if (s[n] == 'm' || s[n] == 'M')
		mult = 1024 * 1024;
	else if (s[n] != '\0')
		return -1;
	if (s[n] != '\0' && s[n + 1] != '\0')
		return -1;
	if (parse_int(num, 1, (1LL << 30) / mult, &v) == -1)
		return -1;
	*out = (size_t)(v * mult);
	return 0;
}

/* "HOST:PORT", "[V6]:PORT" or "*:PORT". */
static int
parse_listen(const char *s, struct conf_listen *l)
{
	const char *colon;
	long long port;
	size_t hlen;

	if (*s == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':')
			return -1;
		hlen = (size_t)(close - s - 1);
		if (hlen == 0 || hlen >= sizeof(l->host))
			return -1;
		memcpy(l->host, s + 1, hlen);
		l->host[hlen] = '\0';
		colon = close + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL || colon == s)
			return -1;
		hlen = (size_t)(colon - s);
		if (hlen >= sizeof(l->host) || memchr(s, ':', hlen) != NULL)
			return -1;
		memcpy(l->host, s, hlen);
		l->host[hlen] = '\0';
		if (strcmp(l->host, "*") == 0)
			l->host[0] = '\0';
	}
	if (parse_int(colon + 1, 1, 65535, &port) == -1)
		return -1;
	snprintf(l->port, sizeof(l->port), "%lld", port);
	return 0;
}

static void
conf_init(struct conf *c)
{
	memset(c, 0, sizeof(*c));
	c->max_connections = UNSET;
	c->max_connections_per_ip = UNSET;
	c->spare_children = UNSET;
	c->shutdown_timeout = UNSET;
	c->log_level = UNSET;
	c->child.redis_port = UNSET;
	c->child.handshake_timeout = UNSET;
	c->child.identify_timeout = UNSET;
	c->child.ping_interval = UNSET;
	c->child.ping_timeout = UNSET;
	c->child.redis_connect_timeout = UNSET;
	c->child.redis_retry_timeout = UNSET;
}

#define DEFAULT(field, value)	do {		\
	if ((field) == UNSET)			\
		(field) = (value);		\
} while (0)

static void
conf_fill_defaults(struct conf *c)
{
	if (c->nlisten == 0) {
		strlcpy(c->listen[0].host, "127.0.0.1",
		    sizeof(c->listen[0].host));
		strlcpy(c->listen[0].port, "8765", sizeof(c->listen[0].port));
		c->nlisten = 1;
	}
	DEFAULT(c->max_connections, 1024);
	DEFAULT(c->max_connections_per_ip, 0);
	DEFAULT(c->spare_children, 4);
	DEFAULT(c->shutdown_timeout, 10000);
	DEFAULT(c->log_level, LOG_LEVEL_INFO);
	if (c->child.redis_host[0] == '\0')
		strlcpy(c->child.redis_host, "127.0.0.1",
		    sizeof(c->child.redis_host));
	DEFAULT(c->child.redis_port, 6379);
	if (c->child.max_message_size == 0)
		c->child.max_message_size = 65536;
	DEFAULT(c->child.handshake_timeout, 10000);
	DEFAULT(c->child.identify_timeout, 10000);
	DEFAULT(c->child.ping_interval, 30000);
	DEFAULT(c->child.ping_timeout, 10000);
	DEFAULT(c->child.redis_connect_timeout, 2000);
	DEFAULT(c->child.redis_retry_timeout, 5000);
}

static int
channel_prefix_valid(const char *s)
{
	for (; *s; s++)
		if (!isgraph((unsigned char)*s))
			return 0;
	return 1;
}

/* One "key value" line (comments and blanks already removed). */
static void
conf_line(struct parse *p, struct conf *c, char *key, char *value)
{
	struct child_conf *cc = &c->child;
	long long v;
	int *dur = NULL;

	if (*value == '\0') {
		perr(p, "%s: missing value", key);
		return;
	}
	if (strcmp(key, "listen") == 0) {
		if (c->nlisten == CONF_LISTEN_MAX)
			perr(p, "listen: at most %d addresses", CONF_LISTEN_MAX);
		else if (parse_listen(value, &c->listen[c->nlisten]) == -1)
			perr(p, "listen: \"%s\" is not HOST:PORT or [V6]:PORT",
			    value);
		else
			c->nlisten++;
	} else if (strcmp(key, "redis_host") == 0) {
		if (strlcpy(cc->redis_host, value, sizeof(cc->redis_host)) >=
		    sizeof(cc->redis_host))
			perr(p, "redis_host: too long");
	} else if (strcmp(key, "redis_port") == 0) {
		if (parse_int(value, 1, 65535, &v) == -1)
			perr(p, "redis_port: \"%s\" is not a port", value);
		else
			cc->redis_port = (int)v;
	} else if (strcmp(key, "redis_socket") == 0) {
		if (*value != '/')
			perr(p, "redis_socket: must be an absolute path");
		else if (strlcpy(cc->redis_socket, value,
		    sizeof(cc->redis_socket)) >= sizeof(cc->redis_socket))
			perr(p, "redis_socket: longer than %d bytes",
			    REDIS_SOCKET_MAX);
	} else if (strcmp(key, "channel_prefix") == 0) {
		if (!channel_prefix_valid(value))
			perr(p, "channel_prefix: printable characters only");
		else if (strlcpy(cc->channel_prefix, value,
		    sizeof(cc->channel_prefix)) >= sizeof(cc->channel_prefix))
			perr(p, "channel_prefix: longer than %d bytes",
			    CHANNEL_PREFIX_MAX);
	} else if (strcmp(key, "max_connections") == 0) {
		if (parse_int(value, 1, 1000000, &v) == -1)
			perr(p, "max_connections: \"%s\" is not a number "
			    "from 1 to 1000000", value);
		else
			c->max_connections = (int)v;
	} else if (strcmp(key, "max_connections_per_ip") == 0) {
		if (parse_int(value, 0, 1000000, &v) == -1)
			perr(p, "max_connections_per_ip: \"%s\" is not a "
			    "number from 0 (no limit) to 1000000", value);
		else
			c->max_connections_per_ip = (int)v;
	} else if (strcmp(key, "spare_children") == 0) {
		if (parse_int(value, 0, 1000, &v) == -1)
			perr(p, "spare_children: \"%s\" is not a number "
			    "from 0 to 1000", value);
		else
			c->spare_children = (int)v;
	} else if (strcmp(key, "max_message_size") == 0) {
		if (parse_size(value, &cc->max_message_size) == -1)
			perr(p, "max_message_size: \"%s\" is not a size "
			    "(bytes, or with k or m) up to 1024m", value);
	} else if (strcmp(key, "log_level") == 0) {
		if ((c->log_level = log_level_parse(value)) == -1) {
			c->log_level = UNSET;
			perr(p, "log_level: \"%s\" is not error, warning, "
			    "info or debug", value);
		}
	} else if (strcmp(key, "handshake_timeout") == 0)
		dur = &cc->handshake_timeout;
	else if (strcmp(key, "identify_timeout") == 0)
		dur = &cc->identify_timeout;
	else if (strcmp(key, "ping_interval") == 0)
		dur = &cc->ping_interval;
	else if (strcmp(key, "ping_timeout") == 0)
		dur = &cc->ping_timeout;
	else if (strcmp(key, "shutdown_timeout") == 0)
		dur = &c->shutdown_timeout;
	else if (strcmp(key, "redis_connect_timeout") == 0)
		dur = &cc->redis_connect_timeout;
	else if (strcmp(key, "redis_retry_timeout") == 0)
		dur = &cc->redis_retry_timeout;
	else
		perr(p, "unknown key \"%s\"", key);

	if (dur != NULL && parse_duration(value, dur) == -1)
		perr(p, "%s: \"%s\" is not a duration (such as 10, 10s, "
		    "500ms, 2m)", key, value);
	else if (dur != NULL && *dur == 0 && dur != &cc->ping_interval &&
	    dur != &cc->redis_retry_timeout)
		perr(p, "%s: must be more than zero", key);
}

int
conf_load(struct conf *c, const char *path)
{
	FILE *f;
	int rc;

	if ((f = fopen(path, "re")) == NULL) {
		conf_init(c);
		log_error("%s: %s", path, strerror(errno));
		return -1;
	}
	rc = conf_read(c, f, path);
	fclose(f);
	return rc;
}

int
conf_read(struct conf *c, FILE *f, const char *path)
{
	struct parse p = { .path = path };
	char line[CONF_LINE_MAX + 2], *key, *value, *e;
	size_t n;

	conf_init(c);
	while (fgets(line, sizeof(line), f) != NULL) {
		p.line++;
		n = strlen(line);
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		else if (!feof(f)) {
			perr(&p, "line longer than %d bytes", CONF_LINE_MAX);
			while (fgets(line, sizeof(line), f) != NULL &&
			    strchr(line, '\n') == NULL)
				;
			continue;
		}
		if ((e = strchr(line, '#')) != NULL)
			*e = '\0';
		key = line + strspn(line, " \t\r");
		if (*key == '\0')
			continue;
		value = key + strcspn(key, " \t\r");
		if (*value != '\0')
			*value++ = '\0';
		value += strspn(value, " \t");
		e = value + strlen(value);
		while (e > value && isspace((unsigned char)e[-1]))
			*--e = '\0';
		if (strcspn(value, " \t") != strlen(value)) {
			perr(&p, "%s: one value expected", key);
			continue;
		}
		conf_line(&p, c, key, value);
	}
	if (ferror(f)) {
		log_error("%s: read error", path);
		p.errors++;
	}
	conf_fill_defaults(c);
	if (c->child.ping_interval > 0 &&
	    c->child.ping_timeout > c->child.ping_interval * 10) {
		/* Not an error: a long timeout simply outlives pings. */
		log_debug("%s: ping_timeout much longer than ping_interval",
		    path);
	}
	return p.errors ? -1 : 0;
}

void
conf_listen_name(const struct conf_listen *l, char *buf, size_t len)
{
	if (strchr(l->host, ':') != NULL)
		snprintf(buf, len, "[%s]:%s", l->host, l->port);
	else
		snprintf(buf, len, "%s:%s", l->host[0] ? l->host : "*",
		    l->port);
}

static void
print_duration(FILE *f, const char *key, int ms)
{
	if (ms % 1000 == 0)
		fprintf(f, "%s %ds\n", key, ms / 1000);
	else
		fprintf(f, "%s %dms\n", key, ms);
}

void
conf_print(const struct conf *c, FILE *f)
{
	const struct child_conf *cc = &c->child;
	char name[300];
	int i;

	for (i = 0; i < c->nlisten; i++) {
		conf_listen_name(&c->listen[i], name, sizeof(name));
		fprintf(f, "listen %s\n", name);
	}
	fprintf(f, "redis_host %s\n", cc->redis_host);
	fprintf(f, "redis_port %d\n", cc->redis_port);
	if (cc->redis_socket[0] != '\0')
		fprintf(f, "redis_socket %s\n", cc->redis_socket);
	if (cc->channel_prefix[0] != '\0')
		fprintf(f, "channel_prefix %s\n", cc->channel_prefix);
	print_duration(f, "redis_connect_timeout", cc->redis_connect_timeout);
	print_duration(f, "redis_retry_timeout", cc->redis_retry_timeout);
	fprintf(f, "max_connections %d\n", c->max_connections);
	fprintf(f, "max_connections_per_ip %d\n", c->max_connections_per_ip);
	fprintf(f, "spare_children %d\n", c->spare_children);
	fprintf(f, "max_message_size %zu\n", cc->max_message_size);
	print_duration(f, "handshake_timeout", cc->handshake_timeout);
	print_duration(f, "identify_timeout", cc->identify_timeout);
	print_duration(f, "ping_interval", cc->ping_interval);
	print_duration(f, "ping_timeout", cc->ping_timeout);
	print_duration(f, "shutdown_timeout", c->shutdown_timeout);
	fprintf(f, "log_level %s\n", log_level_name(c->log_level));
}
