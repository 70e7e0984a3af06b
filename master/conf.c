/*
 * conf.c -- read wspubsub.conf.
 *
 * Every field starts unset, each line sets one, then defaults fill the
 * rest (as servconf.c does).  A bad line does not stop the parse: every
 * error is reported with file and line, and the caller gets -1, so a
 * broken file is never half-applied (SIGHUP keeps the old one).  Files
 * the configuration names (TLS certificate and key, JWT keys, password
 * files) are loaded here too, so a bad one is caught the same way.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netdb.h>

#include <bsd/string.h>

#include "../child/history.h"
#include "../child/jwt.h"
#include "../child/redis.h"
#include "../child/user.h"
#include "conf.h"
#include "log.h"
#include "tls.h"

#define UNSET	(-1)

struct parse {
	const char	*path;
	int		 line;
	int		 errors;
	int		 tls_line;	/* where tls_key or the cert was set */
	int		 secret_line;	/* where a JWT secret was set */
};

enum ktype {
	K_STRING,	/* copied into a char array */
	K_PATH,		/* absolute path */
	K_INT,
	K_DURATION,	/* stored in ms */
	K_SECONDS,	/* stored in s */
	K_SIZE,
	K_LISTEN,
	K_ORIGIN,
	K_LEVEL,
	K_BOOL_CLOSE,	/* "close" or "keep" */
	K_PASSWORD,	/* inline secret */
	K_PASSWORD_FILE,
	K_JWT_SECRET,
	K_JWT_SECRET_FILE,
	K_JWT_KEY_FILE,
	K_LOG_TARGET,	/* stderr, syslog or an absolute path */
	K_FACILITY,
	K_YESNO,
	K_NET,		/* address or address/prefix */
	K_REDIS_NODE,	/* HOST:PORT, repeatable */
	K_REDIS_SENTINEL,
};

struct key {
	const char	*name;
	enum ktype	 type;
	size_t		 off;	/* into struct conf */
	size_t		 size;	/* of a string field */
	long long	 min, max;
};

#define F(field)	offsetof(struct conf, field), \
			sizeof(((struct conf *)0)->field)
#define N(field)	offsetof(struct conf, field), 0

static const struct key keys[] = {
	{ "listen", K_LISTEN, 0, 0, 0, 0 },
	{ "tls_certificate", K_PATH, F(tls_certificate), 0, 0 },
	{ "tls_key", K_PATH, F(tls_key), 0, 0 },
	{ "redis_host", K_STRING, F(child.redis_host), 0, 0 },
	{ "redis_port", K_INT, N(child.redis_port), 1, 65535 },
	{ "redis_socket", K_PATH, F(child.redis_socket), 0, 0 },
	{ "redis_cluster", K_YESNO, N(child.redis_cluster), 0, 0 },
	{ "redis_node", K_REDIS_NODE, 0, 0, 0, 0 },
	{ "redis_sentinel", K_REDIS_SENTINEL, 0, 0, 0, 0 },
	{ "redis_master_name", K_STRING, F(child.redis_master_name), 0, 0 },
	{ "redis_username", K_STRING, F(child.redis_username), 0, 0 },
	{ "redis_password", K_PASSWORD, 0, 0, 0, 0 },
	{ "redis_password_file", K_PASSWORD_FILE, 0, 0, 0, 0 },
	{ "redis_connect_timeout", K_DURATION,
	    N(child.redis_connect_timeout), 1, INT_MAX },
	{ "redis_retry_timeout", K_DURATION, N(child.redis_retry_timeout),
	    0, INT_MAX },
	{ "channel_prefix", K_STRING, F(child.channel_prefix), 0, 0 },
	{ "history", K_YESNO, N(child.history), 0, 0 },
	{ "history_replay_max", K_INT, N(child.history_replay_max), 1,
	    1000000 },
	{ "upstream_stream", K_STRING, F(child.upstream_stream), 0, 0 },
	{ "upstream_maxlen", K_INT, N(child.upstream_maxlen), 1,
	    1000000000 },
	{ "upstream_events", K_YESNO, N(child.upstream_events), 0, 0 },
	{ "upstream_rate", K_INT, N(child.upstream_rate), 0, 1000000 },
	{ "max_connections", K_INT, N(max_connections), 1, 1000000 },
	{ "max_connections_per_ip", K_INT, N(max_connections_per_ip),
	    0, 1000000 },
	{ "spare_children", K_INT, N(spare_children), 0, 1000 },
	{ "max_clients_per_child", K_INT, N(max_clients_per_child), 1,
	    1000000 },
	{ "batch_scheduling", K_YESNO, N(batch_scheduling), 0, 0 },
	{ "sandbox", K_YESNO, N(child.sandbox), 0, 0 },
	{ "max_message_size", K_SIZE, N(child.max_message_size), 1,
	    1LL << 30 },
	{ "compression", K_YESNO, N(child.compression), 0, 0 },
	{ "compression_min_size", K_SIZE, N(child.compression_min_size), 0,
	    1LL << 30 },
	{ "compression_level", K_INT, N(child.compression_level), 1, 9 },
	{ "handshake_timeout", K_DURATION, N(child.handshake_timeout),
	    1, INT_MAX },
	{ "identify_timeout", K_DURATION, N(child.identify_timeout),
	    1, INT_MAX },
	{ "ping_interval", K_DURATION, N(child.ping_interval), 0, INT_MAX },
	{ "ping_timeout", K_DURATION, N(child.ping_timeout), 1, INT_MAX },
	{ "shutdown_timeout", K_DURATION, N(shutdown_timeout), 1, INT_MAX },
	{ "log_level", K_LEVEL, N(log_level), 0, 0 },
	{ "user", K_STRING, F(user), 0, 0 },
	{ "group", K_STRING, F(group), 0, 0 },
	{ "chroot", K_PATH, F(chroot), 0, 0 },
	{ "allow_origin", K_ORIGIN, 0, 0, 0, 0 },
	{ "jwt_secret", K_JWT_SECRET, 0, 0, 0, 0 },
	{ "jwt_secret_file", K_JWT_SECRET_FILE, 0, 0, 0, 0 },
	{ "jwt_public_key_file", K_JWT_KEY_FILE, 0, 0, 0, 0 },
	{ "jwt_leeway", K_SECONDS, N(child.jwt_leeway), 0, 86400 },
	{ "jwt_audience", K_STRING, F(child.jwt_audience), 0, 0 },
	{ "jwt_issuer", K_STRING, F(child.jwt_issuer), 0, 0 },
	{ "jwt_expired", K_BOOL_CLOSE, N(child.jwt_expired_close), 0, 0 },
	{ "log_target", K_LOG_TARGET, F(log_target), 0, 0 },
	{ "syslog_facility", K_FACILITY, N(syslog_facility), 0, 0 },
	{ "pidfile", K_PATH, F(pidfile), 0, 0 },
	{ "daemonize", K_YESNO, N(daemonize), 0, 0 },
	{ "inetd_tls", K_YESNO, N(inetd_tls), 0, 0 },
	{ "metrics_allow", K_NET, 0, 0, 0, 0 },
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
	if (p->line > 0)
		log_error("%s:%d: %s", p->path, p->line, msg);
	else
		log_error("%s: %s", p->path, msg);
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

/* A number followed by a unit from units[] (multipliers in mult[]). */
static int
parse_scaled(const char *s, const char *const units[],
    const long long mult[], long long min, long long max, long long *out)
{
	char num[32];
	long long v;
	size_t n = strspn(s, "0123456789");
	int i;

	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, s, n);
	num[n] = '\0';
	for (i = 0; units[i] != NULL; i++)
		if (strcasecmp(s + n, units[i]) == 0)
			break;
	if (units[i] == NULL)
		return -1;
	if (parse_int(num, 0, max / mult[i], &v) == -1 || v * mult[i] < min)
		return -1;
	*out = v * mult[i];
	return 0;
}

/* A duration: "10", "10s", "500ms" or "2m"; result in milliseconds. */
static int
parse_duration(const char *s, long long min, long long max, long long *ms)
{
	static const char *const units[] = { "", "s", "ms", "m", NULL };
	static const long long mult[] = { 1000, 1000, 1, 60000 };

	return parse_scaled(s, units, mult, min, max, ms);
}

/* A size: bytes, or with a k or m suffix (powers of 1024). */
static int
parse_size(const char *s, long long min, long long max, long long *out)
{
	static const char *const units[] = { "", "k", "m", NULL };
	static const long long mult[] = { 1, 1024, 1024 * 1024 };

	return parse_scaled(s, units, mult, min, max, out);
}

/* "HOST:PORT" or "[V6]:PORT"; the host is copied without brackets. */
static int
parse_host_port(const char *s, char *host, size_t hostsize, int *port)
{
	const char *colon;
	long long v;
	size_t hlen;

	if (*s == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':')
			return -1;
		hlen = (size_t)(close - s - 1);
		if (hlen == 0 || hlen >= hostsize)
			return -1;
		memcpy(host, s + 1, hlen);
		colon = close + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL || colon == s)
			return -1;
		hlen = (size_t)(colon - s);
		if (hlen >= hostsize || memchr(s, ':', hlen) != NULL)
			return -1;
		memcpy(host, s, hlen);
	}
	host[hlen] = '\0';
	if (parse_int(colon + 1, 1, 65535, &v) == -1)
		return -1;
	*port = (int)v;
	return 0;
}

/* "HOST:PORT", "[V6]:PORT" or "*:PORT". */
static int
parse_listen(const char *s, struct conf_listen *l)
{
	int port;

	if (parse_host_port(s, l->host, sizeof(l->host), &port) == -1)
		return -1;
	if (strcmp(l->host, "*") == 0 && *s != '[')
		l->host[0] = '\0';
	snprintf(l->port, sizeof(l->port), "%d", port);
	return 0;
}

/* After the address: "tls", "proxy", both or neither, each at most once. */
static int
listen_options(const char *extra, struct conf_listen *l)
{
	char buf[CONF_LINE_MAX + 1], *s = buf, *w;

	l->tls = l->proxy = 0;
	if (extra == NULL)
		return 0;
	if (strlcpy(buf, extra, sizeof(buf)) >= sizeof(buf))
		return -1;
	while ((w = strsep(&s, " \t")) != NULL) {
		if (*w == '\0')
			continue;
		if (strcmp(w, "tls") == 0 && !l->tls)
			l->tls = 1;
		else if (strcmp(w, "proxy") == 0 && !l->proxy)
			l->proxy = 1;
		else
			return -1;
	}
	return 0;
}

/* One more redis_node or redis_sentinel. */
static void
add_redis_addr(struct parse *p, const char *name, const char *value,
    struct redis_addr *addrs, int *n, int *lines)
{
	if (*n == REDIS_NODES_MAX)
		perr(p, "%s: at most %d", name, REDIS_NODES_MAX);
	else if (parse_host_port(value, addrs[*n].host,
	    sizeof(addrs[*n].host), &addrs[*n].port) == -1 ||
	    strcmp(addrs[*n].host, "*") == 0)
		perr(p, "%s: \"%s\" is not HOST:PORT or [V6]:PORT", name,
		    value);
	else
		lines[(*n)++] = p->line;
}

/*
 * An origin as browsers send it: scheme://host[:port], where the host may
 * start with "*." to allow every subdomain.
 */
static int
origin_valid(const char *s)
{
	const char *host;

	if (strncmp(s, "http://", 7) == 0)
		host = s + 7;
	else if (strncmp(s, "https://", 8) == 0)
		host = s + 8;
	else
		return 0;
	if (strncmp(host, "*.", 2) == 0)
		host += 2;
	if (*host == '\0' || strchr(host, '/') != NULL ||
	    strchr(host, '*') != NULL)
		return 0;
	return 1;
}

/*
 * Read a secret from a file (trailing newlines dropped) and warn when
 * others may read it.  Returns the length, or -1 with the reason logged.
 */
static ssize_t
read_secret_file(struct parse *p, const char *key, const char *path,
    unsigned char *buf, size_t size)
{
	struct stat st;
	ssize_t n, total = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		perr(p, "%s %s: %s", key, path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == 0 && (st.st_mode & S_IROTH))
		log_warnx("%s:%d: %s %s is readable by others",
		    p->path, p->line, key, path);
	while ((size_t)total < size &&
	    (n = read(fd, buf + total, size - (size_t)total)) > 0)
		total += n;
	close(fd);
	if ((size_t)total == size) {
		explicit_bzero(buf, size);
		perr(p, "%s %s: longer than %d bytes", key, path, SECRET_MAX - 1);
		return -1;
	}
	while (total > 0 && (buf[total - 1] == '\n' || buf[total - 1] == '\r'))
		buf[--total] = '\0';
	if (total == 0) {
		perr(p, "%s %s: empty", key, path);
		return -1;
	}
	return total;
}

static void
conf_init(struct conf *c)
{
	memset(c, 0, sizeof(*c));
	c->max_connections = UNSET;
	c->max_connections_per_ip = UNSET;
	c->spare_children = UNSET;
	c->max_clients_per_child = UNSET;
	c->batch_scheduling = UNSET;
	c->child.sandbox = UNSET;
	c->shutdown_timeout = UNSET;
	c->log_level = UNSET;
	c->child.redis_port = UNSET;
	c->child.handshake_timeout = UNSET;
	c->child.identify_timeout = UNSET;
	c->child.ping_interval = UNSET;
	c->child.ping_timeout = UNSET;
	c->child.redis_connect_timeout = UNSET;
	c->child.redis_retry_timeout = UNSET;
	c->child.jwt_leeway = UNSET;
	c->child.jwt_expired_close = UNSET;
	c->syslog_facility = UNSET;
	c->daemonize = UNSET;
	c->inetd_tls = UNSET;
	c->child.redis_cluster = UNSET;
	c->child.history = UNSET;
	c->child.history_replay_max = UNSET;
	c->child.compression = UNSET;
	c->child.compression_min_size = (size_t)UNSET;
	c->child.compression_level = UNSET;
	c->child.upstream_maxlen = UNSET;
	c->child.upstream_events = UNSET;
	c->child.upstream_rate = UNSET;
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
	DEFAULT(c->max_clients_per_child, 1);
	DEFAULT(c->batch_scheduling, 1);
	DEFAULT(c->child.sandbox, 1);
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
	DEFAULT(c->child.jwt_leeway, 30);
	DEFAULT(c->child.jwt_expired_close, 1);
	DEFAULT(c->syslog_facility, log_facility_parse("daemon"));
	DEFAULT(c->daemonize, 0);
	DEFAULT(c->inetd_tls, 0);
	DEFAULT(c->child.redis_cluster, 0);
	DEFAULT(c->child.history, 1);
	DEFAULT(c->child.history_replay_max, 1000);
	DEFAULT(c->child.compression, 1);
	if (c->child.compression_min_size == (size_t)UNSET)
		c->child.compression_min_size = 256;
	DEFAULT(c->child.compression_level, 1);
	DEFAULT(c->child.upstream_maxlen, 100000);
	DEFAULT(c->child.upstream_events, 0);
	DEFAULT(c->child.upstream_rate, 20);
	if (c->log_target[0] == '\0')
		strlcpy(c->log_target, "stderr", sizeof(c->log_target));
}

/* "192.0.2.0/24", "2001:db8::/32" or a single address. */
static int
parse_net(const char *s, struct metrics_net *n)
{
	char addr[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t len = slash ? (size_t)(slash - s) : strlen(s);
	long long prefix;
	int max;

	if (len == 0 || len >= sizeof(addr))
		return -1;
	memcpy(addr, s, len);
	addr[len] = '\0';
	if (inet_pton(AF_INET, addr, n->addr) == 1) {
		n->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, addr, n->addr) == 1) {
		n->family = AF_INET6;
		max = 128;
	} else
		return -1;
	n->prefix = max;
	if (slash != NULL) {
		if (parse_int(slash + 1, 0, max, &prefix) == -1)
			return -1;
		n->prefix = (int)prefix;
	}
	return 0;
}

static const struct key *
key_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

/* One "key value [tls]" line (comments and blanks already removed). */
static void
conf_line(struct parse *p, struct conf *c, const char *name, char *value,
    const char *extra)
{
	struct child_conf *cc = &c->child;
	const struct key *k;
	const char *why;
	long long v;
	ssize_t n;
	char *field;

	if ((k = key_find(name)) == NULL) {
		perr(p, "unknown key \"%s\"", name);
		return;
	}
	if (*value == '\0') {
		perr(p, "%s: missing value", name);
		return;
	}
	if (extra != NULL && k->type != K_LISTEN) {
		perr(p, "%s: one value expected", name);
		return;
	}
	field = (char *)c + k->off;
	switch (k->type) {
	case K_PATH:
		if (*value != '/') {
			perr(p, "%s: must be an absolute path", name);
			break;
		}
		/* FALLTHROUGH */
	case K_STRING:
		if (k->off == offsetof(struct conf, child.redis_host))
			c->redis_host_line = p->line;
		if (strlcpy(field, value, k->size) >= k->size)
			perr(p, "%s: longer than %zu bytes", name, k->size - 1);
		else if (k->off == offsetof(struct conf, child.channel_prefix))
			for (; *value; value++)
				if (!isgraph((unsigned char)*value)) {
					perr(p, "%s: printable characters "
					    "only", name);
					break;
				}
		if (k->off == offsetof(struct conf, tls_certificate) ||
		    k->off == offsetof(struct conf, tls_key))
			p->tls_line = p->line;
		break;
	case K_INT:
		if (parse_int(value, k->min, k->max, &v) == -1)
			perr(p, "%s: \"%s\" is not a number from %lld to %lld",
			    name, value, k->min, k->max);
		else
			*(int *)field = (int)v;
		break;
	case K_DURATION:
		if (parse_duration(value, k->min, k->max, &v) == -1)
			perr(p, "%s: \"%s\" is not a duration (such as 10, "
			    "10s, 500ms, 2m)%s", name, value,
			    k->min > 0 ? " above zero" : "");
		else
			*(int *)field = (int)v;
		break;
	case K_SECONDS:
		if (parse_duration(value, 0, k->max * 1000, &v) == -1 ||
		    v % 1000 != 0)
			perr(p, "%s: \"%s\" is not a whole number of seconds "
			    "up to %lld", name, value, k->max);
		else
			*(int *)field = (int)(v / 1000);
		break;
	case K_SIZE:
		if (parse_size(value, k->min, k->max, &v) == -1)
			perr(p, "%s: \"%s\" is not a size (bytes, or with k "
			    "or m) up to 1024m", name, value);
		else
			*(size_t *)field = (size_t)v;
		break;
	case K_LISTEN:
		if (c->nlisten == CONF_LISTEN_MAX)
			perr(p, "listen: at most %d addresses", CONF_LISTEN_MAX);
		else if (parse_listen(value, &c->listen[c->nlisten]) == -1)
			perr(p, "listen: \"%s\" is not HOST:PORT or [V6]:PORT",
			    value);
		else if (listen_options(extra, &c->listen[c->nlisten]) == -1)
			perr(p, "listen %s: options are tls and proxy, each once",
			    value);
		else
			c->nlisten++;
		break;
	case K_ORIGIN:
		if (cc->nallow_origin == ORIGIN_MAX)
			perr(p, "allow_origin: at most %d", ORIGIN_MAX);
		else if (!origin_valid(value) ||
		    strlcpy(cc->allow_origin[cc->nallow_origin], value,
		    sizeof(cc->allow_origin[0])) >= sizeof(cc->allow_origin[0]))
			perr(p, "allow_origin: \"%s\" is not an origin such "
			    "as https://example.com or https://*.example.com",
			    value);
		else
			cc->nallow_origin++;
		break;
	case K_LEVEL:
		if ((c->log_level = log_level_parse(value)) == -1) {
			c->log_level = UNSET;
			perr(p, "log_level: \"%s\" is not error, warning, "
			    "info or debug", value);
		}
		break;
	case K_BOOL_CLOSE:
		if (strcmp(value, "close") == 0)
			*(int *)field = 1;
		else if (strcmp(value, "keep") == 0)
			*(int *)field = 0;
		else
			perr(p, "%s: \"%s\" is not close or keep", name, value);
		break;
	case K_PASSWORD:
		if (strlcpy(cc->redis_password, value,
		    sizeof(cc->redis_password)) >= sizeof(cc->redis_password))
			perr(p, "%s: longer than %d bytes", name,
			    SECRET_MAX - 1);
		c->redis_password_file[0] = '\0';
		break;
	case K_PASSWORD_FILE:
		if (*value != '/' || strlcpy(c->redis_password_file, value,
		    sizeof(c->redis_password_file)) >=
		    sizeof(c->redis_password_file)) {
			perr(p, "%s: must be an absolute path", name);
			break;
		}
		memset(cc->redis_password, 0, sizeof(cc->redis_password));
		(void)read_secret_file(p, name, value,
		    (unsigned char *)cc->redis_password,
		    sizeof(cc->redis_password));
		break;
	case K_JWT_SECRET:
		n = (ssize_t)strlen(value);
		if ((size_t)n >= sizeof(cc->jwt_secret))
			perr(p, "%s: longer than %d bytes", name,
			    SECRET_MAX - 1);
		else {
			memcpy(cc->jwt_secret, value, (size_t)n);
			cc->jwt_secret_len = (size_t)n;
			c->jwt_secret_file[0] = '\0';
			p->secret_line = p->line;
		}
		break;
	case K_JWT_SECRET_FILE:
		if (*value != '/' || strlcpy(c->jwt_secret_file, value,
		    sizeof(c->jwt_secret_file)) >= sizeof(c->jwt_secret_file)) {
			perr(p, "%s: must be an absolute path", name);
			break;
		}
		explicit_bzero(cc->jwt_secret, sizeof(cc->jwt_secret));
		n = read_secret_file(p, name, value, cc->jwt_secret,
		    sizeof(cc->jwt_secret));
		cc->jwt_secret_len = n > 0 ? (size_t)n : 0;
		p->secret_line = p->line;
		break;
	case K_LOG_TARGET:
		if (strcmp(value, "stderr") != 0 && strcmp(value, "syslog") != 0 &&
		    *value != '/')
			perr(p, "%s: \"%s\" is not stderr, syslog or an "
			    "absolute path", name, value);
		else if (strlcpy(field, value, k->size) >= k->size)
			perr(p, "%s: too long", name);
		break;
	case K_FACILITY:
		if ((*(int *)field = log_facility_parse(value)) == -1) {
			*(int *)field = UNSET;
			perr(p, "%s: \"%s\" is not daemon, user or local0 to "
			    "local7", name, value);
		}
		break;
	case K_YESNO:
		if (strcmp(value, "yes") == 0)
			*(int *)field = 1;
		else if (strcmp(value, "no") == 0)
			*(int *)field = 0;
		else
			perr(p, "%s: \"%s\" is not yes or no", name, value);
		break;
	case K_NET:
		if (cc->nmetrics_allow == ORIGIN_MAX)
			perr(p, "%s: at most %d", name, ORIGIN_MAX);
		else if (parse_net(value,
		    &cc->metrics_allow[cc->nmetrics_allow]) == -1)
			perr(p, "%s: \"%s\" is not an address or "
			    "address/prefix", name, value);
		else
			cc->nmetrics_allow++;
		break;
	case K_REDIS_NODE:
		add_redis_addr(p, name, value, cc->redis_nodes,
		    &cc->nredis_nodes, c->redis_node_line);
		break;
	case K_REDIS_SENTINEL:
		add_redis_addr(p, name, value, cc->redis_sentinels,
		    &cc->nredis_sentinels, c->redis_sentinel_line);
		break;
	case K_JWT_KEY_FILE:
		if (*value != '/' || strlcpy(c->jwt_public_key_file, value,
		    sizeof(c->jwt_public_key_file)) >=
		    sizeof(c->jwt_public_key_file)) {
			perr(p, "%s: must be an absolute path", name);
			break;
		}
		EVP_PKEY_free(cc->jwt_public_key);
		if ((cc->jwt_public_key = jwt_load_public_key(value,
		    &why)) == NULL)
			perr(p, "%s %s: %s", name, value, why);
		break;
	}
}

/*
 * A history stream and its channel share the user channel's hash slot;
 * a '}' that closes no hash tag in channel_prefix leaves no such name.
 */
static void
conf_check_history(struct parse *p, const struct child_conf *cc)
{
	char channel[CHANNEL_PREFIX_MAX + USER_NAME_MAX + 1];
	char name[sizeof(channel) + sizeof(HISTORY_SUFFIX) + 2];

	if (cc->history && (user_channel(cc->channel_prefix, "u", channel,
	    sizeof(channel)) == -1 || history_name(channel, name,
	    sizeof(name)) == -1))
		perr(p, "channel_prefix: with history yes, a '}' may only "
		    "close a hash tag");
}

/*
 * The host name, for the children's connection ids and %h in
 * upstream_stream, is read here, once: a child may not read files.
 * "%h" becomes the host name and "%%" a '%'; any other '%' is an error.
 */
static void
conf_check_upstream(struct parse *p, struct child_conf *cc)
{
	char out[sizeof(cc->upstream_stream)];
	const char *s;
	size_t n = 0, add;

	if (gethostname(cc->hostname, sizeof(cc->hostname)) == -1 ||
	    cc->hostname[0] == '\0')
		strlcpy(cc->hostname, "localhost", sizeof(cc->hostname));
	cc->hostname[sizeof(cc->hostname) - 1] = '\0';
	for (s = cc->upstream_stream; *s != '\0'; s++) {
		if (!isgraph((unsigned char)*s)) {
			perr(p, "upstream_stream: printable characters only");
			return;
		}
		if (*s == '%' && s[1] != 'h' && s[1] != '%') {
			perr(p, "upstream_stream: only %%h (the host name) and "
			    "%%%% may follow a %%");
			return;
		}
		if (*s == '%' && *++s == 'h') {
			add = strlen(cc->hostname);
			if (n + add >= sizeof(out))
				break;
			memcpy(out + n, cc->hostname, add);
			n += add;
		} else if (n + 1 < sizeof(out))
			out[n++] = *s;
		else
			break;
	}
	if (*s != '\0') {
		perr(p, "upstream_stream: longer than %zu bytes with %%h "
		    "expanded", sizeof(out) - 1);
		return;
	}
	out[n] = '\0';
	memcpy(cc->upstream_stream, out, n + 1);
}

/* Plain Redis, a Redis Cluster or Sentinel: one of them, complete. */
static void
conf_check_redis(struct parse *p, const struct child_conf *cc)
{
	int sentinel = cc->nredis_sentinels > 0 ||
	    cc->redis_master_name[0] != '\0';

	if (cc->redis_cluster && cc->nredis_nodes == 0)
		perr(p, "redis_cluster is yes but no redis_node is given");
	if (!cc->redis_cluster && cc->nredis_nodes > 0)
		perr(p, "redis_node is given but redis_cluster is not yes");
	if (sentinel && (cc->nredis_sentinels == 0 ||
	    cc->redis_master_name[0] == '\0'))
		perr(p, "redis_sentinel and redis_master_name go together");
	if (sentinel && cc->redis_cluster)
		perr(p, "redis_cluster and redis_sentinel exclude each other");
	if ((sentinel || cc->redis_cluster) && cc->redis_socket[0] != '\0')
		perr(p, "redis_socket cannot be used with %s",
		    sentinel ? "redis_sentinel" : "redis_cluster");
}

/* Rules that span keys; p->line is 0 here ("the file as a whole"). */
static void
conf_check(struct parse *p, struct conf *c)
{
	struct stat st;
	int i, tls = 0;
	char err[256];

	tls = c->inetd_tls;
	for (i = 0; i < c->nlisten; i++)
		tls |= c->listen[i].tls;
	if (tls && (c->tls_certificate[0] == '\0' || c->tls_key[0] == '\0')) {
		perr(p, "TLS is used (listen ... tls or inetd_tls) but "
		    "tls_certificate and tls_key are not both set");
		return;
	}
	if (tls && (c->child.tls_ctx = tls_ctx_load(c->tls_certificate,
	    c->tls_key, err, sizeof(err))) == NULL) {
		p->line = p->tls_line;
		perr(p, "TLS: %s", err);
	}
	if (c->group[0] != '\0' && c->user[0] == '\0')
		perr(p, "group is set but user is not");
	if (c->chroot[0] != '\0' && c->user[0] == '\0')
		perr(p, "chroot is set but user is not (root can leave a "
		    "chroot)");
	if (c->child.redis_username[0] != '\0' &&
	    c->child.redis_password[0] == '\0')
		perr(p, "redis_username is set but no redis_password");
	conf_check_redis(p, &c->child);
	conf_check_history(p, &c->child);
	conf_check_upstream(p, &c->child);
	if (tls && stat(c->tls_key, &st) == 0 && (st.st_mode & S_IROTH))
		log_warnx("%s: tls_key %s is readable by others", p->path,
		    c->tls_key);
	if (c->child.jwt_secret_len > 0 && c->child.jwt_secret_len < 32) {
		p->line = p->secret_line;
		log_warnx("%s:%d: the JWT secret is shorter than 32 bytes",
		    p->path, p->line);
	}
}

/*
 * One Redis host name into ip (left "" for a numeric host): the first
 * IPv4 address, else the first IPv6 one, as hiredis would try them.
 */
static int
resolve_host(const char *path, int line, const char *key, const char *host,
    char *ip, size_t iplen)
{
	struct addrinfo hints, *res, *ai, *pick = NULL;
	unsigned char buf[sizeof(struct in6_addr)];
	int err;

	ip[0] = '\0';
	if (inet_pton(AF_INET, host, buf) == 1 ||
	    inet_pton(AF_INET6, host, buf) == 1)
		return 0;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((err = getaddrinfo(host, NULL, &hints, &res)) != 0) {
		log_error("%s:%d: %s %s: %s (with sandbox yes, the master "
		    "resolves Redis host names)", path, line, key, host,
		    gai_strerror(err));
		return -1;
	}
	for (ai = res; ai != NULL && pick == NULL; ai = ai->ai_next)
		if (ai->ai_family == AF_INET)
			pick = ai;
	for (ai = res; ai != NULL && pick == NULL; ai = ai->ai_next)
		if (ai->ai_family == AF_INET6)
			pick = ai;
	err = pick == NULL || getnameinfo(pick->ai_addr, pick->ai_addrlen, ip,
	    iplen, NULL, 0, NI_NUMERICHOST) != 0;
	freeaddrinfo(res);
	if (err) {
		log_error("%s:%d: %s %s: no IPv4 or IPv6 address", path, line,
		    key, host);
		return -1;
	}
	return 0;
}

int
conf_resolve(struct conf *c, const char *path)
{
	struct child_conf *cc = &c->child;
	int i, rc = 0;

	if (!cc->sandbox)
		return 0;
	if (!cc->redis_cluster && cc->nredis_sentinels == 0 &&
	    cc->redis_socket[0] == '\0')
		rc |= resolve_host(path, c->redis_host_line, "redis_host",
		    cc->redis_host, cc->redis_host_ip,
		    sizeof(cc->redis_host_ip));
	for (i = 0; i < cc->nredis_nodes; i++)
		rc |= resolve_host(path, c->redis_node_line[i], "redis_node",
		    cc->redis_nodes[i].host, cc->redis_nodes[i].ip,
		    sizeof(cc->redis_nodes[i].ip));
	for (i = 0; i < cc->nredis_sentinels; i++)
		rc |= resolve_host(path, c->redis_sentinel_line[i],
		    "redis_sentinel", cc->redis_sentinels[i].host,
		    cc->redis_sentinels[i].ip,
		    sizeof(cc->redis_sentinels[i].ip));
	return rc ? -1 : 0;
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
	char line[CONF_LINE_MAX + 2], *key, *value, *extra, *e;
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
		extra = NULL;
		if ((n = strcspn(value, " \t")) != strlen(value)) {
			value[n] = '\0';
			extra = value + n + 1;
			extra += strspn(extra, " \t");
		}
		conf_line(&p, c, key, value, extra);
		explicit_bzero(line, sizeof(line));	/* may hold a secret */
	}
	if (ferror(f)) {
		log_error("%s: read error", path);
		p.errors++;
	}
	conf_fill_defaults(c);
	if (p.errors == 0) {
		p.line = 0;
		conf_check(&p, c);
	}
	if (p.errors) {
		conf_free(c);
		return -1;
	}
	return 0;
}

void
conf_free(struct conf *c)
{
	if (c->child.tls_ctx != NULL)
		SSL_CTX_free(c->child.tls_ctx);
	EVP_PKEY_free(c->child.jwt_public_key);
	c->child.tls_ctx = NULL;
	c->child.jwt_public_key = NULL;
	explicit_bzero(c->child.jwt_secret, sizeof(c->child.jwt_secret));
	explicit_bzero(c->child.redis_password,
	    sizeof(c->child.redis_password));
	c->child.jwt_secret_len = 0;
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

static void
print_string(FILE *f, const char *key, const char *value)
{
	if (value[0] != '\0')
		fprintf(f, "%s %s\n", key, value);
}

static void
print_redis_addr(FILE *f, const char *key, const struct redis_addr *a)
{
	char name[REDIS_HOST_MAX + 8];

	redis_addr_name(a, name, sizeof(name));
	fprintf(f, "%s %s\n", key, name);
}

/* Secrets given inline are not shown: only that they are set. */
void
conf_print(const struct conf *c, FILE *f)
{
	const struct child_conf *cc = &c->child;
	char name[300];
	int i;

	for (i = 0; i < c->nlisten; i++) {
		conf_listen_name(&c->listen[i], name, sizeof(name));
		fprintf(f, "listen %s%s%s\n", name, c->listen[i].tls ? " tls" : "",
		    c->listen[i].proxy ? " proxy" : "");
	}
	print_string(f, "tls_certificate", c->tls_certificate);
	print_string(f, "tls_key", c->tls_key);
	fprintf(f, "redis_host %s\n", cc->redis_host);
	fprintf(f, "redis_port %d\n", cc->redis_port);
	print_string(f, "redis_socket", cc->redis_socket);
	fprintf(f, "redis_cluster %s\n", cc->redis_cluster ? "yes" : "no");
	for (i = 0; i < cc->nredis_nodes; i++)
		print_redis_addr(f, "redis_node", &cc->redis_nodes[i]);
	for (i = 0; i < cc->nredis_sentinels; i++)
		print_redis_addr(f, "redis_sentinel", &cc->redis_sentinels[i]);
	print_string(f, "redis_master_name", cc->redis_master_name);
	print_string(f, "redis_username", cc->redis_username);
	if (c->redis_password_file[0] != '\0')
		fprintf(f, "redis_password_file %s\n", c->redis_password_file);
	else if (cc->redis_password[0] != '\0')
		fprintf(f, "# redis_password is set (not shown)\n");
	print_duration(f, "redis_connect_timeout", cc->redis_connect_timeout);
	print_duration(f, "redis_retry_timeout", cc->redis_retry_timeout);
	print_string(f, "channel_prefix", cc->channel_prefix);
	fprintf(f, "history %s\n", cc->history ? "yes" : "no");
	fprintf(f, "history_replay_max %d\n", cc->history_replay_max);
	if (cc->upstream_stream[0] != '\0') {
		/* Expanded: a '%' of the host name's is written "%%". */
		fputs("upstream_stream ", f);
		for (i = 0; cc->upstream_stream[i] != '\0'; i++) {
			if (cc->upstream_stream[i] == '%')
				fputc('%', f);
			fputc(cc->upstream_stream[i], f);
		}
		fputc('\n', f);
	}
	fprintf(f, "upstream_maxlen %d\n", cc->upstream_maxlen);
	fprintf(f, "upstream_events %s\n", cc->upstream_events ? "yes" : "no");
	fprintf(f, "upstream_rate %d\n", cc->upstream_rate);
	fprintf(f, "max_connections %d\n", c->max_connections);
	fprintf(f, "max_connections_per_ip %d\n", c->max_connections_per_ip);
	fprintf(f, "spare_children %d\n", c->spare_children);
	fprintf(f, "max_clients_per_child %d\n", c->max_clients_per_child);
	fprintf(f, "batch_scheduling %s\n", c->batch_scheduling ? "yes" : "no");
	fprintf(f, "sandbox %s\n", cc->sandbox ? "yes" : "no");
	fprintf(f, "max_message_size %zu\n", cc->max_message_size);
	fprintf(f, "compression %s\n", cc->compression ? "yes" : "no");
	fprintf(f, "compression_min_size %zu\n", cc->compression_min_size);
	fprintf(f, "compression_level %d\n", cc->compression_level);
	print_duration(f, "handshake_timeout", cc->handshake_timeout);
	print_duration(f, "identify_timeout", cc->identify_timeout);
	print_duration(f, "ping_interval", cc->ping_interval);
	print_duration(f, "ping_timeout", cc->ping_timeout);
	print_duration(f, "shutdown_timeout", c->shutdown_timeout);
	fprintf(f, "log_level %s\n", log_level_name(c->log_level));
	print_string(f, "user", c->user);
	print_string(f, "group", c->group);
	print_string(f, "chroot", c->chroot);
	for (i = 0; i < cc->nallow_origin; i++)
		fprintf(f, "allow_origin %s\n", cc->allow_origin[i]);
	if (c->jwt_secret_file[0] != '\0')
		fprintf(f, "jwt_secret_file %s\n", c->jwt_secret_file);
	else if (cc->jwt_secret_len > 0)
		fprintf(f, "# jwt_secret is set (not shown)\n");
	print_string(f, "jwt_public_key_file", c->jwt_public_key_file);
	fprintf(f, "jwt_leeway %ds\n", cc->jwt_leeway);
	print_string(f, "jwt_audience", cc->jwt_audience);
	print_string(f, "jwt_issuer", cc->jwt_issuer);
	fprintf(f, "jwt_expired %s\n", cc->jwt_expired_close ? "close" : "keep");
	fprintf(f, "log_target %s\n", c->log_target);
	fprintf(f, "syslog_facility %s\n", log_facility_name(c->syslog_facility));
	print_string(f, "pidfile", c->pidfile);
	fprintf(f, "daemonize %s\n", c->daemonize ? "yes" : "no");
	fprintf(f, "inetd_tls %s\n", c->inetd_tls ? "yes" : "no");
	for (i = 0; i < cc->nmetrics_allow; i++) {
		char a[INET6_ADDRSTRLEN];
		const struct metrics_net *n = &cc->metrics_allow[i];

		inet_ntop(n->family, n->addr, a, sizeof(a));
		fprintf(f, "metrics_allow %s/%d\n", a, n->prefix);
	}
}
