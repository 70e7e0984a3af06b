/*
 * test_conf.c -- unit tests for master/conf.c: every key, the defaults,
 * and errors reported on stderr as "PATH:LINE: message", all of them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../master/conf.h"
#include "../../master/log.h"

#define UNUSED	__attribute__((unused))

static char	 conf_path[64];	/* the file of the last load() */
static char	*errors;	/* what it wrote on stderr */

static void
write_file(char *path, size_t pathsize, const char *text, size_t len)
{
	int fd;

	snprintf(path, pathsize, "/tmp/wspubsub-conf-XXXXXX");
	if ((fd = mkstemp(path)) == -1)
		fail_msg("mkstemp: %s", path);
	if (write(fd, text, len) != (ssize_t)len)
		fail_msg("write %s", path);
	close(fd);
}

static char *
slurp(int fd)
{
	char *s = NULL;
	size_t len = 0;
	ssize_t n;

	if (lseek(fd, 0, SEEK_SET) == -1)
		fail_msg("lseek");
	do {
		s = realloc(s, len + 4096 + 1);
		assert_non_null(s);
		n = read(fd, s + len, 4096);
		assert_true(n >= 0);
		len += (size_t)n;
	} while (n > 0);
	s[len] = '\0';
	return s;
}

/*
 * conf_load() a file holding len bytes of text, with stderr captured in
 * `errors'.  The file stays, named conf_path, until the next load.
 */
static int
load_len(struct conf *c, const char *text, size_t len)
{
	char errpath[64];
	int errfd, saved, rc;

	if (conf_path[0] != '\0')
		unlink(conf_path);
	free(errors);
	errors = NULL;
	write_file(conf_path, sizeof(conf_path), text, len);

	snprintf(errpath, sizeof(errpath), "/tmp/wspubsub-err-XXXXXX");
	if ((errfd = mkstemp(errpath)) == -1)
		fail_msg("mkstemp");
	unlink(errpath);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	assert_true(saved != -1);
	dup2(errfd, STDERR_FILENO);
	rc = conf_load(c, conf_path);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	errors = slurp(errfd);
	close(errfd);
	return rc;
}

static int
load(struct conf *c, const char *text)
{
	return load_len(c, text, strlen(text));
}

/* Lines of stderr that name our file, i.e. errors reported. */
static int
count_errors(void)
{
	char pat[80];
	const char *s;
	int n = 0;

	snprintf(pat, sizeof(pat), "%s:", conf_path);
	for (s = errors; (s = strstr(s, pat)) != NULL; s += strlen(pat))
		n++;
	return n;
}

static int
has_error_at(int line)
{
	char pat[80];

	snprintf(pat, sizeof(pat), "%s:%d: ", conf_path, line);
	return strstr(errors, pat) != NULL;
}

static void
assert_clean(int rc)
{
	if (rc != 0 || count_errors() != 0)
		fail_msg("load returned %d, stderr:\n%s", rc, errors);
}

static void
assert_listen(const struct conf *c, int i, const char *host,
    const char *port)
{
	assert_true(i < c->nlisten);
	assert_string_equal(c->listen[i].host, host);
	assert_string_equal(c->listen[i].port, port);
}

static int
teardown(void **state UNUSED)
{
	if (conf_path[0] != '\0')
		unlink(conf_path);
	conf_path[0] = '\0';
	free(errors);
	errors = NULL;
	return 0;
}

static struct conf conf;

static void
check_defaults(const struct conf *c)
{
	assert_int_equal(c->nlisten, 1);
	assert_listen(c, 0, "127.0.0.1", "8765");
	assert_string_equal(c->child.redis_host, "127.0.0.1");
	assert_int_equal(c->child.redis_port, 6379);
	assert_string_equal(c->child.redis_socket, "");
	assert_string_equal(c->child.channel_prefix, "");
	assert_int_equal(c->child.max_message_size, 65536);
	assert_int_equal(c->child.handshake_timeout, 10000);
	assert_int_equal(c->child.identify_timeout, 10000);
	assert_int_equal(c->child.ping_interval, 30000);
	assert_true(c->child.ping_timeout > 0);
	assert_true(c->child.redis_connect_timeout > 0);
	assert_true(c->max_connections > 0);
	assert_true(c->spare_children >= 0);
	assert_true(c->shutdown_timeout > 0);
	assert_int_equal(c->log_level, LOG_LEVEL_INFO);
}

static void
test_defaults(void **state UNUSED)
{
	assert_clean(load(&conf, ""));
	check_defaults(&conf);
	assert_clean(load(&conf, "# only a comment\n\n   \n\t\n#listen 1.2.3.4:5"
	    "\n"));
	check_defaults(&conf);
	/* Without a final newline, and with CRLF lines. */
	assert_clean(load(&conf, "# x\r\n\r\n#y"));
	check_defaults(&conf);
}

static void
test_every_key(void **state UNUSED)
{
	static const char text[] =
	    "# a full configuration\n"
	    "listen 0.0.0.0:9000\n"
	    "redis_host redis.example.com\n"
	    "redis_port 6380\n"
	    "redis_socket /run/redis/redis.sock\n"
	    "channel_prefix ws:user:\n"
	    "max_connections 5000\n"
	    "spare_children 0\n"
	    "max_message_size 1m\n"
	    "handshake_timeout 5\n"
	    "identify_timeout 7s\n"
	    "ping_interval 1m\n"
	    "ping_timeout 2500ms\n"
	    "shutdown_timeout 3s\n"
	    "redis_connect_timeout 750ms\n"
	    "log_level debug\n";

	assert_clean(load(&conf, text));
	assert_int_equal(conf.nlisten, 1);
	assert_listen(&conf, 0, "0.0.0.0", "9000");
	assert_string_equal(conf.child.redis_host, "redis.example.com");
	assert_int_equal(conf.child.redis_port, 6380);
	assert_string_equal(conf.child.redis_socket, "/run/redis/redis.sock");
	assert_string_equal(conf.child.channel_prefix, "ws:user:");
	assert_int_equal(conf.max_connections, 5000);
	assert_int_equal(conf.spare_children, 0);
	assert_int_equal(conf.child.max_message_size, 1048576);
	assert_int_equal(conf.child.handshake_timeout, 5000);
	assert_int_equal(conf.child.identify_timeout, 7000);
	assert_int_equal(conf.child.ping_interval, 60000);
	assert_int_equal(conf.child.ping_timeout, 2500);
	assert_int_equal(conf.shutdown_timeout, 3000);
	assert_int_equal(conf.child.redis_connect_timeout, 750);
	assert_int_equal(conf.log_level, LOG_LEVEL_DEBUG);
}

/* Whitespace, comments after values, CRLF, a last line without "\n". */
static void
test_syntax(void **state UNUSED)
{
	static const char text[] =
	    "   redis_port\t\t6390   # trailing comment\n"
	    "\tchannel_prefix   pfx.   \r\n"
	    "log_level WARNING\r\n"
	    "max_connections 7#no space before the comment\n"
	    "spare_children 3";

	assert_clean(load(&conf, text));
	assert_int_equal(conf.child.redis_port, 6390);
	assert_string_equal(conf.child.channel_prefix, "pfx.");
	assert_int_equal(conf.log_level, LOG_LEVEL_WARNING);
	assert_int_equal(conf.max_connections, 7);
	assert_int_equal(conf.spare_children, 3);
}

static void
test_durations(void **state UNUSED)
{
	static const struct {
		const char	*value;
		int		 ms;
	} t[] = {
		{ "10", 10000 }, { "10s", 10000 }, { "500ms", 500 },
		{ "2m", 120000 }, { "1", 1000 }, { "1ms", 1 },
		{ "90s", 90000 }, { "0010", 10000 },
	};
	static const char *const keys[] = { "handshake_timeout",
	    "identify_timeout", "ping_interval", "ping_timeout",
	    "shutdown_timeout", "redis_connect_timeout" };
	char text[128];
	size_t i, k;
	int got;

	for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
			snprintf(text, sizeof(text), "%s %s\n", keys[k],
			    t[i].value);
			assert_clean(load(&conf, text));
			switch (k) {
			case 0: got = conf.child.handshake_timeout; break;
			case 1: got = conf.child.identify_timeout; break;
			case 2: got = conf.child.ping_interval; break;
			case 3: got = conf.child.ping_timeout; break;
			case 4: got = conf.shutdown_timeout; break;
			default: got = conf.child.redis_connect_timeout;
			}
			if (got != t[i].ms)
				fail_msg("%s %s: %d ms, want %d", keys[k],
				    t[i].value, got, t[i].ms);
		}
	}
	/* ping_interval 0 turns server pings off. */
	assert_clean(load(&conf, "ping_interval 0\n"));
	assert_int_equal(conf.child.ping_interval, 0);
}

static void
test_sizes(void **state UNUSED)
{
	static const struct {
		const char	*value;
		size_t		 bytes;
	} t[] = {
		{ "64k", 65536 }, { "64K", 65536 }, { "1m", 1048576 },
		{ "1M", 1048576 }, { "100", 100 }, { "1", 1 },
		{ "16m", 16777216 }, { "1024m", 1073741824 },
	};
	char text[128];
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(text, sizeof(text), "max_message_size %s\n",
		    t[i].value);
		assert_clean(load(&conf, text));
		if (conf.child.max_message_size != t[i].bytes)
			fail_msg("max_message_size %s: %zu", t[i].value,
			    conf.child.max_message_size);
	}
}

static void
test_listen(void **state UNUSED)
{
	char name[300];

	assert_clean(load(&conf,
	    "listen 127.0.0.1:8765\n"
	    "listen [::1]:8765\n"
	    "listen *:80\n"
	    "listen [::]:443\n"
	    "listen localhost:1\n"
	    "listen 192.0.2.7:65535\n"));
	assert_int_equal(conf.nlisten, 6);
	assert_listen(&conf, 0, "127.0.0.1", "8765");
	assert_listen(&conf, 1, "::1", "8765");
	assert_listen(&conf, 2, "", "80");
	assert_listen(&conf, 3, "::", "443");
	assert_listen(&conf, 4, "localhost", "1");
	assert_listen(&conf, 5, "192.0.2.7", "65535");

	conf_listen_name(&conf.listen[0], name, sizeof(name));
	assert_string_equal(name, "127.0.0.1:8765");
	conf_listen_name(&conf.listen[1], name, sizeof(name));
	assert_string_equal(name, "[::1]:8765");
	conf_listen_name(&conf.listen[2], name, sizeof(name));
	assert_string_equal(name, "*:80");

	/* Up to CONF_LISTEN_MAX lines. */
	char text[CONF_LISTEN_MAX * 32] = "";
	int i;
	for (i = 0; i < CONF_LISTEN_MAX; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text),
		    "listen 127.0.0.1:%d\n", 8000 + i);
	assert_clean(load(&conf, text));
	assert_int_equal(conf.nlisten, CONF_LISTEN_MAX);
	assert_listen(&conf, CONF_LISTEN_MAX - 1, "127.0.0.1", "8015");
	snprintf(text + strlen(text), sizeof(text) - strlen(text),
	    "listen 127.0.0.1:9999\n");
	assert_int_equal(load(&conf, text), -1);
	assert_true(has_error_at(CONF_LISTEN_MAX + 1));
	assert_int_equal(count_errors(), 1);
}

/* conf_print() writes what conf_load() reads back to the same. */
static void
test_print_roundtrip(void **state UNUSED)
{
	struct conf again;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	assert_clean(load(&conf,
	    "listen [::1]:8765\nlisten *:81\nchannel_prefix p:\n"
	    "redis_socket /tmp/r.sock\nping_timeout 1500ms\n"
	    "max_message_size 64k\nlog_level error\n"));
	f = open_memstream(&text, &len);
	assert_non_null(f);
	conf_print(&conf, f);
	fclose(f);
	assert_clean(load(&again, text));
	free(text);
	assert_int_equal(again.nlisten, 2);
	assert_listen(&again, 0, "::1", "8765");
	assert_listen(&again, 1, "", "81");
	assert_string_equal(again.child.channel_prefix, "p:");
	assert_string_equal(again.child.redis_socket, "/tmp/r.sock");
	assert_int_equal(again.child.ping_timeout, 1500);
	assert_int_equal(again.child.max_message_size, 65536);
	assert_int_equal(again.log_level, LOG_LEVEL_ERROR);
	assert_int_equal(again.max_connections, conf.max_connections);
	assert_int_equal(again.shutdown_timeout, conf.shutdown_timeout);
	assert_int_equal(again.child.ping_interval, conf.child.ping_interval);
}

/* Each bad line, alone at line 3 of a file: -1 and "PATH:3: ...". */
static void
test_bad_values(void **state UNUSED)
{
	static const char *const bad[] = {
		"bogus 1",
		"Listen 127.0.0.1:80",
		"redis-port 6379",
		"listen",
		"redis_host",
		"log_level",
		"redis_port 1 2",
		"listen 127.0.0.1:80 127.0.0.1:81",
		"channel_prefix a b",
		"redis_host redis.example.com extra",
		"redis_host a\tb",
		"redis_socket /run/a.sock /run/b.sock",
		"listen 127.0.0.1",
		"listen 127.0.0.1:",
		"listen 127.0.0.1:0",
		"listen 127.0.0.1:65536",
		"listen 127.0.0.1:http",
		"listen 127.0.0.1:-1",
		"listen 127.0.0.1:80x",
		"listen :80",
		"listen ::1:8765",
		"listen [::1]8765",
		"listen [::1]",
		"listen []:80",
		"listen [::1:80",
		"redis_port 0",
		"redis_port 65536",
		"redis_port -1",
		"redis_port six",
		"redis_port 63 79",
		"redis_socket relative/redis.sock",
		"max_connections 0",
		"max_connections -5",
		"max_connections 10k",
		"max_connections 99999999999999999999999",
		"spare_children -1",
		"spare_children many",
		"max_message_size 0",
		"max_message_size 64x",
		"max_message_size 64kb",
		"max_message_size 1g",
		"max_message_size 2048m",
		"max_message_size -1",
		"max_message_size k",
		"handshake_timeout 0",
		"handshake_timeout -1",
		"handshake_timeout 10h",
		"handshake_timeout 1.5s",
		"handshake_timeout s",
		"handshake_timeout 99999999999",
		"identify_timeout 0s",
		"identify_timeout ten",
		"ping_interval 5x",
		"ping_timeout 0",
		"ping_timeout 10sec",
		"shutdown_timeout 0ms",
		"shutdown_timeout -3",
		"redis_connect_timeout 0",
		"log_level loud",
		"log_level 3",
	};
	char text[256];
	size_t i;
	int rc;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text),
		    "# line 1\nredis_port 6379\n%s\nlog_level info\n", bad[i]);
		rc = load(&conf, text);
		if (rc != -1)
			fail_msg("\"%s\" accepted", bad[i]);
		if (!has_error_at(3) || count_errors() != 1)
			fail_msg("\"%s\": want one error at %s:3, got:\n%s",
			    bad[i], conf_path, errors);
	}
}

/* Every bad line of a file is reported, each with its own number. */
static void
test_all_errors_reported(void **state UNUSED)
{
	static const char text[] =
	    "listen 127.0.0.1:8765\n"		/* 1 */
	    "bogus_key 1\n"			/* 2 bad */
	    "# comment\n"			/* 3 */
	    "redis_port 99999\n"		/* 4 bad */
	    "handshake_timeout 10h\n"		/* 5 bad */
	    "\n"				/* 6 */
	    "max_message_size 64k\n"		/* 7 */
	    "listen nowhere\n"			/* 8 bad */
	    "log_level info\n"			/* 9 */
	    "spare_children 1 2\n"		/* 10 bad */
	    "identify_timeout\n"		/* 11 bad */
	    "ping_interval 30s";		/* 12, no newline */
	static const int bad[] = { 2, 4, 5, 8, 10, 11 };
	static const int good[] = { 1, 3, 6, 7, 9, 12 };
	size_t i;

	assert_int_equal(load(&conf, text), -1);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (!has_error_at(bad[i]))
			fail_msg("no error for line %d:\n%s", bad[i], errors);
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (has_error_at(good[i]))
			fail_msg("error for good line %d:\n%s", good[i],
			    errors);
	assert_int_equal(count_errors(), 6);

	/* The same errors, whatever the order. */
	assert_int_equal(load(&conf, "x 1\ny 2\nz 3\n"), -1);
	assert_true(has_error_at(1));
	assert_true(has_error_at(2));
	assert_true(has_error_at(3));
	assert_int_equal(count_errors(), 3);
}

/* The message names the problem, not just the line. */
static void
test_error_messages(void **state UNUSED)
{
	assert_int_equal(load(&conf, "frobnicate 1\n"), -1);
	assert_non_null(strstr(errors, "frobnicate"));
	assert_int_equal(load(&conf, "redis_port 70000\n"), -1);
	assert_non_null(strstr(errors, "70000"));
	assert_int_equal(load(&conf, "listen\n"), -1);
	assert_non_null(strstr(errors, "listen"));
}

/* Lines up to CONF_LINE_MAX bytes; a longer one is an error, once. */
static void
test_long_lines(void **state UNUSED)
{
	char *text, *p;
	size_t n;

	text = malloc(4 * CONF_LINE_MAX + 256);
	assert_non_null(text);

	/* Line 2 is exactly CONF_LINE_MAX bytes: fine. */
	p = text;
	p += sprintf(p, "redis_port 6380\n");
	memset(p, '#', CONF_LINE_MAX);
	p += CONF_LINE_MAX;
	p += sprintf(p, "\nspare_children 2\n");
	assert_clean(load_len(&conf, text, (size_t)(p - text)));
	assert_int_equal(conf.child.redis_port, 6380);
	assert_int_equal(conf.spare_children, 2);

	/* One byte more; later lines keep their numbers and are read. */
	p = text;
	p += sprintf(p, "redis_port 6380\n");
	memset(p, '#', CONF_LINE_MAX + 1);
	p += CONF_LINE_MAX + 1;
	p += sprintf(p, "\nspare_children 2\nbogus 1\n");
	assert_int_equal(load_len(&conf, text, (size_t)(p - text)), -1);
	assert_true(has_error_at(2));
	assert_true(has_error_at(4));
	assert_int_equal(count_errors(), 2);
	assert_int_equal(conf.spare_children, 2);

	/* A line three times too long, a valid key at its start. */
	p = text;
	p += sprintf(p, "channel_prefix ");
	n = 3 * CONF_LINE_MAX;
	memset(p, 'x', n);
	p += n;
	p += sprintf(p, "\nlog_level nope\nredis_port 6381\n");
	assert_int_equal(load_len(&conf, text, (size_t)(p - text)), -1);
	assert_true(has_error_at(1));
	assert_true(has_error_at(2));
	assert_int_equal(count_errors(), 2);
	assert_int_equal(conf.child.redis_port, 6381);

	/* A long last line without a newline. */
	p = text;
	p += sprintf(p, "redis_port 6380\n");
	memset(p, 'x', 2 * CONF_LINE_MAX);
	p += 2 * CONF_LINE_MAX;
	assert_int_equal(load_len(&conf, text, (size_t)(p - text)), -1);
	assert_true(has_error_at(2));
	assert_int_equal(count_errors(), 1);

	free(text);
}

/* Values too long for their fields are errors, not truncations. */
static void
test_too_long_values(void **state UNUSED)
{
	char text[1024], v[600];

	memset(v, 'a', sizeof(v));
	v[CHANNEL_PREFIX_MAX] = '\0';
	snprintf(text, sizeof(text), "channel_prefix %s\n", v);
	assert_clean(load(&conf, text));
	assert_int_equal(strlen(conf.child.channel_prefix),
	    CHANNEL_PREFIX_MAX);
	v[CHANNEL_PREFIX_MAX] = 'a';
	v[CHANNEL_PREFIX_MAX + 1] = '\0';
	snprintf(text, sizeof(text), "\nchannel_prefix %s\n", v);
	assert_int_equal(load(&conf, text), -1);
	assert_true(has_error_at(2));

	v[0] = '/';
	v[REDIS_SOCKET_MAX] = '\0';
	snprintf(text, sizeof(text), "redis_socket %s\n", v);
	assert_clean(load(&conf, text));
	v[REDIS_SOCKET_MAX] = 'a';
	v[REDIS_SOCKET_MAX + 1] = '\0';
	snprintf(text, sizeof(text), "redis_socket %s\n", v);
	assert_int_equal(load(&conf, text), -1);
	assert_true(has_error_at(1));

	memset(v, 'h', sizeof(v));
	v[REDIS_HOST_MAX + 1] = '\0';
	snprintf(text, sizeof(text), "redis_host %s\n", v);
	assert_int_equal(load(&conf, text), -1);
	assert_true(has_error_at(1));

	v[300] = '\0';
	snprintf(text, sizeof(text), "listen %s:80\n", v);
	assert_int_equal(load(&conf, text), -1);
	assert_true(has_error_at(1));
}

static void
assert_addr(const struct redis_addr *a, const char *host, int port)
{
	assert_string_equal(a->host, host);
	assert_int_equal(a->port, port);
}

/* errors holds one whole-file message (no line number) with text. */
static void
assert_file_error(int rc, const char *text)
{
	if (rc != -1 || count_errors() != 1 || strstr(errors, text) == NULL)
		fail_msg("load returned %d, want one error with \"%s\":\n%s",
		    rc, text, errors);
}

/* Redis Cluster: redis_cluster yes and its seed nodes. */
static void
test_redis_cluster(void **state UNUSED)
{
	char text[2048];
	size_t off;
	int i;

	assert_clean(load(&conf, ""));
	assert_int_equal(conf.child.redis_cluster, 0);
	assert_int_equal(conf.child.nredis_nodes, 0);
	assert_int_equal(conf.child.nredis_sentinels, 0);
	assert_string_equal(conf.child.redis_master_name, "");

	assert_clean(load(&conf,
	    "redis_cluster yes\n"
	    "redis_node 10.0.0.1:7000\n"
	    "redis_node [::1]:7001\n"
	    "redis_node redis-3.example.com:7002   # a name\n"
	    "redis_node [2001:db8::7]:65535\n"
	    "redis_node localhost:1\n"));
	assert_int_equal(conf.child.redis_cluster, 1);
	assert_int_equal(conf.child.nredis_nodes, 5);
	assert_addr(&conf.child.redis_nodes[0], "10.0.0.1", 7000);
	assert_addr(&conf.child.redis_nodes[1], "::1", 7001);
	assert_addr(&conf.child.redis_nodes[2], "redis-3.example.com", 7002);
	assert_addr(&conf.child.redis_nodes[3], "2001:db8::7", 65535);
	assert_addr(&conf.child.redis_nodes[4], "localhost", 1);
	assert_int_equal(conf.child.nredis_sentinels, 0);

	/* The order of the lines does not matter; "no" is a value too. */
	assert_clean(load(&conf, "redis_node 10.0.0.1:7000\n"
	    "redis_cluster no\nredis_cluster yes\n"));
	assert_int_equal(conf.child.redis_cluster, 1);
	assert_int_equal(conf.child.nredis_nodes, 1);

	/* Up to REDIS_NODES_MAX nodes; one more names its line. */
	off = (size_t)snprintf(text, sizeof(text), "redis_cluster yes\n");
	for (i = 0; i < REDIS_NODES_MAX; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off,
		    "redis_node 10.0.0.%d:%d\n", i + 1, 7000 + i);
	assert_clean(load(&conf, text));
	assert_int_equal(conf.child.nredis_nodes, REDIS_NODES_MAX);
	assert_addr(&conf.child.redis_nodes[REDIS_NODES_MAX - 1], "10.0.0.16",
	    7015);
	snprintf(text + off, sizeof(text) - off, "redis_node 10.0.0.99:7099\n");
	assert_int_equal(load(&conf, text), -1);
	assert_true(has_error_at(REDIS_NODES_MAX + 2));
	assert_int_equal(count_errors(), 1);
	assert_non_null(strstr(errors, "redis_node"));
	assert_non_null(strstr(errors, "16"));

	/* Nodes without redis_cluster yes, and the other way round. */
	assert_file_error(load(&conf, "redis_node 10.0.0.1:7000\n"),
	    "redis_cluster");
	assert_file_error(load(&conf, "redis_cluster no\n"
	    "redis_node 10.0.0.1:7000\n"), "redis_cluster");
	assert_file_error(load(&conf, "redis_cluster yes\n"), "redis_node");

	/* Not with a Unix socket. */
	assert_file_error(load(&conf, "redis_cluster yes\n"
	    "redis_node 10.0.0.1:7000\nredis_socket /run/redis.sock\n"),
	    "redis_socket");
	/* A plain Redis on a socket is fine. */
	assert_clean(load(&conf, "redis_cluster no\n"
	    "redis_socket /run/redis.sock\n"));
}

/* Sentinel: redis_sentinel and redis_master_name, together. */
static void
test_redis_sentinel(void **state UNUSED)
{
	char text[2048];
	size_t off;
	int i;

	assert_clean(load(&conf,
	    "redis_sentinel 10.0.0.1:26379\n"
	    "redis_sentinel [::1]:26380\n"
	    "redis_sentinel sentinel-3:26381\n"
	    "redis_master_name mymaster\n"));
	assert_int_equal(conf.child.nredis_sentinels, 3);
	assert_addr(&conf.child.redis_sentinels[0], "10.0.0.1", 26379);
	assert_addr(&conf.child.redis_sentinels[1], "::1", 26380);
	assert_addr(&conf.child.redis_sentinels[2], "sentinel-3", 26381);
	assert_string_equal(conf.child.redis_master_name, "mymaster");
	assert_int_equal(conf.child.redis_cluster, 0);
	assert_int_equal(conf.child.nredis_nodes, 0);

	assert_file_error(load(&conf, "redis_sentinel 10.0.0.1:26379\n"),
	    "redis_master_name");
	assert_file_error(load(&conf, "redis_master_name mymaster\n"),
	    "redis_sentinel");

	/* Sentinel and Cluster exclude each other. */
	assert_int_equal(load(&conf, "redis_sentinel 10.0.0.1:26379\n"
	    "redis_master_name mymaster\nredis_cluster yes\n"
	    "redis_node 10.0.0.1:7000\n"), -1);
	assert_int_equal(count_errors(), 1);
	assert_non_null(strstr(errors, "exclude"));
	/* redis_cluster no is not a Cluster. */
	assert_clean(load(&conf, "redis_sentinel 10.0.0.1:26379\n"
	    "redis_master_name mymaster\nredis_cluster no\n"));

	/* Not with a Unix socket. */
	assert_file_error(load(&conf, "redis_sentinel 10.0.0.1:26379\n"
	    "redis_master_name mymaster\nredis_socket /run/redis.sock\n"),
	    "redis_socket");

	/* Up to REDIS_NODES_MAX sentinels. */
	off = (size_t)snprintf(text, sizeof(text),
	    "redis_master_name m\n");
	for (i = 0; i < REDIS_NODES_MAX; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off,
		    "redis_sentinel 10.0.0.%d:26379\n", i + 1);
	assert_clean(load(&conf, text));
	assert_int_equal(conf.child.nredis_sentinels, REDIS_NODES_MAX);
	snprintf(text + off, sizeof(text) - off, "redis_sentinel s:1\n");
	assert_int_equal(load(&conf, text), -1);
	assert_true(has_error_at(REDIS_NODES_MAX + 2));
	assert_int_equal(count_errors(), 1);
	assert_non_null(strstr(errors, "redis_sentinel"));

	/* A master name of NAME_MAX_LEN bytes, and one more. */
	memset(text, 0, sizeof(text));
	off = (size_t)snprintf(text, sizeof(text),
	    "redis_sentinel a:1\nredis_master_name ");
	memset(text + off, 'm', NAME_MAX_LEN);
	text[off + NAME_MAX_LEN] = '\n';
	assert_clean(load(&conf, text));
	assert_int_equal(strlen(conf.child.redis_master_name), NAME_MAX_LEN);
	text[off + NAME_MAX_LEN] = 'm';
	text[off + NAME_MAX_LEN + 1] = '\n';
	assert_int_equal(load(&conf, text), -1);
	assert_true(has_error_at(2));
}

/* Each bad redis_node or redis_sentinel line, alone at line 3. */
static void
test_redis_bad_addrs(void **state UNUSED)
{
	static const char *const bad[] = {
		"127.0.0.1", "127.0.0.1:", ":7000", ":", "::1:7000", "::1",
		"[::1]", "[::1]7000", "[::1]:", "[]:7000", "[::1:7000",
		"::1]:7000", "127.0.0.1:0", "127.0.0.1:65536",
		"127.0.0.1:-1", "127.0.0.1:x", "127.0.0.1:7000x",
		"127.0.0.1:70000", "*:7000", "[*]:7000",
		"127.0.0.1:7000 127.0.0.1:7001",
		"a:b:7000", "",
	};
	static const char *const keys[] = { "redis_node", "redis_sentinel" };
	static const char *const yesno[] = { "maybe", "1", "yes no", "" };
	char text[512], host[300];
	size_t i, k;
	int rc;

	for (k = 0; k < 2; k++) {
		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			snprintf(text, sizeof(text), "# line 1\n"
			    "redis_cluster yes\n%s %s\nlog_level info\n",
			    keys[k], bad[i]);
			rc = load(&conf, text);
			if (rc != -1)
				fail_msg("%s \"%s\" accepted", keys[k], bad[i]);
			if (!has_error_at(3) || count_errors() != 1)
				fail_msg("%s \"%s\": want one error at %s:3, "
				    "got:\n%s", keys[k], bad[i], conf_path,
				    errors);
			if (strstr(errors, keys[k]) == NULL)
				fail_msg("%s \"%s\": the key is not named:\n%s",
				    keys[k], bad[i], errors);
		}
	}
	for (i = 0; i < sizeof(yesno) / sizeof(yesno[0]); i++) {
		snprintf(text, sizeof(text), "\n\nredis_cluster %s\n",
		    yesno[i]);
		if (load(&conf, text) != -1 || !has_error_at(3) ||
		    count_errors() != 1)
			fail_msg("redis_cluster \"%s\": %s", yesno[i], errors);
	}

	/* A host of REDIS_HOST_MAX bytes, and one more. */
	memset(host, 'h', sizeof(host));
	host[REDIS_HOST_MAX] = '\0';
	snprintf(text, sizeof(text), "redis_cluster yes\nredis_node %s:7000\n",
	    host);
	assert_clean(load(&conf, text));
	assert_int_equal(strlen(conf.child.redis_nodes[0].host),
	    REDIS_HOST_MAX);
	host[REDIS_HOST_MAX] = 'h';
	host[REDIS_HOST_MAX + 1] = '\0';
	snprintf(text, sizeof(text), "redis_cluster yes\nredis_node %s:7000\n",
	    host);
	assert_int_equal(load(&conf, text), -1);
	assert_true(has_error_at(2));
	snprintf(text, sizeof(text), "redis_cluster yes\nredis_node [%s]:7000\n",
	    host);
	assert_int_equal(load(&conf, text), -1);
	assert_true(has_error_at(2));
}

/* conf_print() of the Cluster and Sentinel keys reads back the same. */
static void
test_redis_print_roundtrip(void **state UNUSED)
{
	static const char *const texts[] = {
		"redis_cluster yes\nredis_node 10.0.0.1:7000\n"
		"redis_node [::1]:7001\nredis_node [fe80::1%eth0]:7002\n"
		"redis_node redis-3.example.com:7003\n",
		"redis_sentinel [::1]:26379\nredis_sentinel 10.0.0.2:26380\n"
		"redis_master_name mymaster\n",
		"redis_socket /run/redis.sock\n",
	};
	struct conf again;
	char *text;
	size_t len, t;
	int i;
	FILE *f;

	for (t = 0; t < sizeof(texts) / sizeof(texts[0]); t++) {
		assert_clean(load(&conf, texts[t]));
		text = NULL;
		len = 0;
		f = open_memstream(&text, &len);
		assert_non_null(f);
		conf_print(&conf, f);
		fclose(f);
		assert_clean(load(&again, text));
		assert_int_equal(again.child.redis_cluster,
		    conf.child.redis_cluster);
		assert_int_equal(again.child.nredis_nodes,
		    conf.child.nredis_nodes);
		for (i = 0; i < conf.child.nredis_nodes; i++)
			assert_addr(&again.child.redis_nodes[i],
			    conf.child.redis_nodes[i].host,
			    conf.child.redis_nodes[i].port);
		assert_int_equal(again.child.nredis_sentinels,
		    conf.child.nredis_sentinels);
		for (i = 0; i < conf.child.nredis_sentinels; i++)
			assert_addr(&again.child.redis_sentinels[i],
			    conf.child.redis_sentinels[i].host,
			    conf.child.redis_sentinels[i].port);
		assert_string_equal(again.child.redis_master_name,
		    conf.child.redis_master_name);
		assert_string_equal(again.child.redis_socket,
		    conf.child.redis_socket);
		if (t == 0) {
			assert_non_null(strstr(text, "redis_cluster yes\n"));
			assert_non_null(strstr(text,
			    "redis_node [::1]:7001\n"));
			assert_non_null(strstr(text,
			    "redis_node 10.0.0.1:7000\n"));
			assert_int_equal(again.child.nredis_nodes, 4);
		}
		if (t == 1)
			assert_non_null(strstr(text,
			    "redis_sentinel [::1]:26379\n"));
		free(text);
	}
}

static void
test_missing_file(void **state UNUSED)
{
	static const char path[] = "/nonexistent/wspubsub.conf";
	int errfd, saved, rc;
	char errpath[64], *out;

	snprintf(errpath, sizeof(errpath), "/tmp/wspubsub-err-XXXXXX");
	assert_true((errfd = mkstemp(errpath)) != -1);
	unlink(errpath);
	saved = dup(STDERR_FILENO);
	dup2(errfd, STDERR_FILENO);
	rc = conf_load(&conf, path);
	dup2(saved, STDERR_FILENO);
	close(saved);
	out = slurp(errfd);
	close(errfd);
	assert_int_equal(rc, -1);
	assert_non_null(strstr(out, path));
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_defaults, teardown),
		cmocka_unit_test_teardown(test_every_key, teardown),
		cmocka_unit_test_teardown(test_syntax, teardown),
		cmocka_unit_test_teardown(test_durations, teardown),
		cmocka_unit_test_teardown(test_sizes, teardown),
		cmocka_unit_test_teardown(test_listen, teardown),
		cmocka_unit_test_teardown(test_print_roundtrip, teardown),
		cmocka_unit_test_teardown(test_bad_values, teardown),
		cmocka_unit_test_teardown(test_all_errors_reported, teardown),
		cmocka_unit_test_teardown(test_error_messages, teardown),
		cmocka_unit_test_teardown(test_long_lines, teardown),
		cmocka_unit_test_teardown(test_too_long_values, teardown),
		cmocka_unit_test_teardown(test_redis_cluster, teardown),
		cmocka_unit_test_teardown(test_redis_sentinel, teardown),
		cmocka_unit_test_teardown(test_redis_bad_addrs, teardown),
		cmocka_unit_test_teardown(test_redis_print_roundtrip, teardown),
		cmocka_unit_test_teardown(test_missing_file, teardown),
	};

	log_init(LOG_LEVEL_INFO);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
