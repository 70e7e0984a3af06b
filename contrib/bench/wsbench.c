/*
 * wsbench.c -- the wspubsub benchmark (issue 6; `make bench`).
 *
 * Starts a private redis-server and a private wspubsub on free loopback
 * ports, then measures every figure twice in the same run: through
 * wspubsub (a real RFC 6455 client: random key, Sec-WebSocket-Accept
 * checked, masked frames, incremental frame parser) and straight from
 * Redis with a plain hiredis SUBSCRIBE client (the floor).  Prints one
 * table; see contrib/bench/README.md for how to read it.
 *
 * One thread, one epoll set, non-blocking sockets everywhere; every loop
 * is bounded in count and in time and prints FAILED rather than hang.
 * Figures come from the wire and /proc, never from the server's counters.
 *
 *   wsbench [-s SERVER] [-r REDIS_SERVER] [-o FIGS] [-n THROUGHPUT_MSGS]
 *           [-t TSV_OUT] [-w "WRAPPER CMD"] [-k]
 *   wsbench -m FILE.tsv...      table of the medians of earlier runs
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>

#include <hiredis.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

/* ---- workload sizes (issue 6) ------------------------------------- */
#define LAT_N		2000	/* latency samples, 1 ms apart */
#define LAT_WARM	20	/* sent first, not counted */
#define TP_N		200000	/* throughput messages */
#define TP_SIZE		64	/* bytes each */
#define TP_BATCH	1000	/* PUBLISHes per pipelined write */
#define TP_WINDOW	20000	/* published but not yet received, at most */
#define CR_N		2000	/* connection-rate connections */
#define CR_INFLIGHT	50
#define MEM_N1		1000
#define MEM_N2		10000
#define CR_SEQ_N	200	/* then one at a time, for the latency */
#define OPEN_INFLIGHT	100	/* handshakes in flight while filling up */
#define MEM_SETTLE_MS	3500	/* Redis frees idle query buffers after 2 s */
#define SPARES		16	/* spare_children in the generated config */

#define MS		1000000LL	/* ns */
#define SEC		(1000 * MS)

enum { K_WS, K_RAW, K_PUB, K_TIMER };
enum { S_CONNECTING, S_HANDSHAKE, S_OPEN, S_CLOSED };
static const char *const side_name[2] = { "wspubsub", "raw Redis subscriber" };

struct conn {
	int		 kind, state, fd;
	uint32_t	 events;
	char		 user[48];
	redisContext	*rc;		/* K_RAW, K_PUB */
	char		 accept[32];	/* expected Sec-WebSocket-Accept */
	uint8_t		*obuf;		/* K_WS: unsent request / frames */
	size_t		 olen, ooff, ocap;
	uint8_t		*ibuf;		/* K_WS: partial head or frame */
	size_t		 ilen, icap;
	int64_t		 t_connect, t_open, t_msg;
	uint64_t	 nmsg;
};

/* ---- global state ---------------------------------------------------- */
static const char *server_bin = "./wspubsub", *redis_bin = "redis-server";
static const char *only = "12345", *tsv_path, *wrapper;
static int keep_tmp, tp_n = TP_N;
static char tmpdir[64];
static volatile pid_t redis_pid = -1, ws_pid = -1;
static pid_t master_pid = -1;	/* ws_pid, or below it with a wrapper */
static int redis_port, ws_port;
static int epfd = -1;
static struct conn pub;			/* the publisher */
static redisContext *adm;		/* blocking, for INFO */
static int any_failed;

/* The current phase: callbacks and counters. */
static void (*cb_open)(struct conn *);
static void (*cb_msg)(struct conn *, const uint8_t *, size_t);
static void (*cb_tick)(uint64_t);
static struct {
	int	 opened, failed, nerr;
	char	 err[256];
	int64_t	 pub_replies, pub_zero, pub_errors;
} ph;

/* ---- figures ------------------------------------------------------- */
enum tgt { T_NONE, T_RATIO_LE, T_RATIO_GE, T_WS_LE, T_WS_GE, T_ZERO };
struct figure {
	const char	*key, *label, *fmt;
	enum tgt	 tgt;
	double		 limit;
	const char	*target;
	int		 raw_na;	/* no raw counterpart */
	int		 no_ratio;
	double		 v[2];		/* NAN: not measured or failed */
	int		 failed[2];
};
enum {
	F_LAT_P50, F_LAT_P90, F_LAT_P99, F_LAT_MAX, F_LAT_LOST,
	F_TP_RATE, F_TP_LOST,
	F_CR_RATE, F_CR_MED, F_CR_P99, F_CR_SEQ, F_CR_SEQ99, F_CR_CPU,
	F_CR_FORK,
	F_M1_PSS, F_M1_REDIS, F_M1_AVAIL, F_M1_KERN, F_M1_KOBJ,
	F_M2_PSS, F_M2_REDIS, F_M2_AVAIL, F_M2_KERN, F_M2_KOBJ,
	F_FO1_MS, F_FO1_LOST, F_FO2_MS, F_FO2_LOST,
	F_COUNT
};
static struct figure fig[F_COUNT] = {
	[F_LAT_P50] = { "lat_p50", "1 latency p50 (us)", "%.0f",
	    T_RATIO_LE, 1.3, "<= 1.3x raw", 0, 0, {0}, {0} },
	[F_LAT_P90] = { "lat_p90", "1 latency p90 (us)", "%.0f",
	    T_NONE, 0, "", 0, 0, {0}, {0} },
	[F_LAT_P99] = { "lat_p99", "1 latency p99 (us)", "%.0f",
	    T_RATIO_LE, 1.5, "<= 1.5x raw", 0, 0, {0}, {0} },
	[F_LAT_MAX] = { "lat_max", "1 latency max (us)", "%.0f",
	    T_NONE, 0, "", 0, 0, {0}, {0} },
	[F_LAT_LOST] = { "lat_lost", "1 latency lost (of 2000)", "%.0f",
	    T_ZERO, 0, "0", 0, 1, {0}, {0} },
	[F_TP_RATE] = { "tp_rate", "2 throughput 64 B (msg/s)", "%.0f",
	    T_RATIO_GE, 0.70, ">= 0.70x raw", 0, 0, {0}, {0} },
	[F_TP_LOST] = { "tp_lost", "2 throughput lost (msgs)", "%.0f",
	    T_ZERO, 0, "0", 0, 1, {0}, {0} },
	[F_CR_RATE] = { "cr_rate", "3 handshakes/s (2000, 50 in flight)",
	    "%.0f", T_WS_GE, 10000, ">= 10000/s", 0, 0, {0}, {0} },
	[F_CR_MED] = { "cr_first_med", "3 connect->1st msg p50, loaded (us)",
	    "%.0f", T_NONE, 0, "(>= 50/rate)", 0, 0, {0}, {0} },
	[F_CR_P99] = { "cr_first_p99", "3 connect->1st msg p99, loaded (us)",
	    "%.0f", T_NONE, 0, "", 0, 0, {0}, {0} },
	[F_CR_SEQ] = { "cr_seq_med", "3 connect->1st msg p50, alone (us)",
	    "%.0f", T_WS_LE, 2000, "< 2000 us", 0, 0, {0}, {0} },
	[F_CR_SEQ99] = { "cr_seq_p99", "3 connect->1st msg p99, alone (us)",
	    "%.0f", T_NONE, 0, "", 0, 0, {0}, {0} },
	[F_CR_CPU] = { "cr_cpu", "3 server CPU/conn, all processes (us)",
	    "%.0f", T_NONE, 0, "", 1, 1, {0}, {0} },
	[F_CR_FORK] = { "cr_fork", "3 fork+exit+reap/s, one core (floor)",
	    "%.0f", T_NONE, 0, "(see README)", 1, 1, {0}, {0} },
	[F_M1_PSS] = { "m1_pss", "4 Pss/conn @1000, server (KiB)", "%.1f",
	    T_WS_LE, 128, "<= 128 KiB", 1, 1, {0}, {0} },
	[F_M1_REDIS] = { "m1_redis", "4 redis-server Pss/conn @1000 (KiB)",
	    "%.1f", T_NONE, 0, "", 0, 0, {0}, {0} },
	[F_M1_AVAIL] = { "m1_avail", "4 MemAvailable drop/conn @1000 (KiB)",
	    "%.1f", T_NONE, 0, "", 0, 0, {0}, {0} },
	[F_M1_KERN] = { "m1_kern", "4 drop - all Pss, /conn @1000 (KiB)",
	    "%.1f", T_NONE, 0, "(kernel)", 0, 0, {0}, {0} },
	[F_M1_KOBJ] = { "m1_kobj", "4 slab+stacks+ptables/conn @1000 (KiB)",
	    "%.1f", T_NONE, 0, "(kernel)", 0, 0, {0}, {0} },
	[F_M2_PSS] = { "m2_pss", "4 Pss/conn @10000, server (KiB)", "%.1f",
	    T_WS_LE, 128, "<= 128 KiB", 1, 1, {0}, {0} },
	[F_M2_REDIS] = { "m2_redis", "4 redis-server Pss/conn @10000 (KiB)",
	    "%.1f", T_NONE, 0, "", 0, 0, {0}, {0} },
	[F_M2_AVAIL] = { "m2_avail", "4 MemAvailable drop/conn @10000 (KiB)",
	    "%.1f", T_NONE, 0, "", 0, 0, {0}, {0} },
	[F_M2_KERN] = { "m2_kern", "4 drop - all Pss, /conn @10000 (KiB)",
	    "%.1f", T_NONE, 0, "(kernel)", 0, 0, {0}, {0} },
	[F_M2_KOBJ] = { "m2_kobj", "4 slab+stacks+ptables/conn @10000 (KiB)",
	    "%.1f", T_NONE, 0, "(kernel)", 0, 0, {0}, {0} },
	[F_FO1_MS] = { "fo1_ms", "5 fan-out 1000 users (ms)", "%.2f",
	    T_RATIO_LE, 1.5, "<= 1.5x raw", 0, 0, {0}, {0} },
	[F_FO1_LOST] = { "fo1_lost", "5 fan-out 1000 lost", "%.0f",
	    T_ZERO, 0, "0", 0, 1, {0}, {0} },
	[F_FO2_MS] = { "fo2_ms", "5 fan-out 10000 users (ms)", "%.2f",
	    T_NONE, 0, "", 0, 0, {0}, {0} },
	[F_FO2_LOST] = { "fo2_lost", "5 fan-out 10000 lost", "%.0f",
	    T_ZERO, 0, "0", 0, 1, {0}, {0} },
};

/* ---- small helpers --------------------------------------------------- */
static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

static void cleanup(void);

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "wsbench: FAILED: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	keep_tmp = 1;
	cleanup();
	exit(2);
}

static void __attribute__((format(printf, 1, 2)))
note(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "wsbench: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

/* A phase could not complete: say so, mark the figures, go on. */
static void __attribute__((format(printf, 3, 4)))
phase_fail(int side, const int *figs, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "wsbench: FAILED (%s): ", side_name[side]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	for (; *figs >= 0; figs++)
		fig[*figs].failed[side] = 1;
	any_failed = 1;
}

static void *
xrealloc(void *p, size_t n)
{
	if ((p = realloc(p, n)) == NULL)
		die("out of memory");
	return p;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array. */
static int64_t
pct(const int64_t *v, size_t n, double q)
{
	size_t i;

	if (n == 0)
		return 0;
	i = (size_t)ceil(q * (double)n);
	if (i < 1)
		i = 1;
	return v[i - 1];
}

static int
free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd, port;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) == -1)
		die("free port: %s", strerror(errno));
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static void
loadavg(char *buf, size_t len)
{
	FILE *f = fopen("/proc/loadavg", "r");
	double a = 0, b = 0, c = 0;

	if (f == NULL || fscanf(f, "%lf %lf %lf", &a, &b, &c) != 3)
		a = b = c = NAN;
	if (f)
		fclose(f);
	snprintf(buf, len, "%.2f %.2f %.2f", a, b, c);
}

/* ---- processes: redis-server, wspubsub ------------------------------ */
static void
stop_proc(volatile pid_t *pid, int ms)
{
	int64_t end;

	if (*pid <= 0)
		return;
	kill(*pid, SIGTERM);
	end = now_ns() + ms * MS;
	while (now_ns() < end) {
		if (waitpid(*pid, NULL, WNOHANG) == *pid) {
			*pid = -1;
			return;
		}
		usleep(10000);
	}
	note("pid %ld did not stop in %d ms; SIGKILL", (long)*pid, ms);
	kill(*pid, SIGKILL);
	waitpid(*pid, NULL, 0);
	*pid = -1;
}

static void
cleanup(void)
{
	static const char *files[] = { "redis.log", "redis.start.log",
	    "wspubsub.conf", "wspubsub.log", NULL };
	char path[128];
	int i;

	stop_proc(&ws_pid, 10000);
	stop_proc(&redis_pid, 5000);
	if (tmpdir[0] == '\0')
		return;
	if (keep_tmp) {
		note("logs kept in %s", tmpdir);
		return;
	}
	for (i = 0; files[i]; i++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, files[i]);
		unlink(path);
	}
	rmdir(tmpdir);
	tmpdir[0] = '\0';
}

/* Async-signal-safe: the watchdog, ^C. */
static void
on_fatal(int sig)
{
	static const char msg[] = "\nwsbench: FAILED: overall time limit "
	    "exceeded (or interrupted); stopping the servers\n";

	(void)sig;
	(void)!write(2, msg, sizeof(msg) - 1);
	if (ws_pid > 0)
		kill(ws_pid, SIGTERM);
	if (redis_pid > 0)
		kill(redis_pid, SIGTERM);
	_exit(3);
}

static pid_t
spawn(char *const argv[], const char *logname)
{
	char path[128];
	pid_t pid;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, logname);
	if ((pid = fork()) == -1)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		/* Do not outlive the benchmark, whatever kills it. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if ((fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644)) ==
		    -1)
			_exit(126);
		dup2(fd, 1);
		dup2(fd, 2);
		if ((fd = open("/dev/null", O_RDONLY)) != -1)
			dup2(fd, 0);
		execvp(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	return pid;
}

static void
tail_log(const char *logname)
{
	char path[128], line[512];
	long pos;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, logname);
	if ((f = fopen(path, "r")) == NULL)
		return;
	fseek(f, 0, SEEK_END);
	pos = ftell(f);
	fseek(f, pos > 2000 ? pos - 2000 : 0, SEEK_SET);
	fprintf(stderr, "--- last lines of %s ---\n", path);
	while (fgets(line, sizeof(line), f))
		fputs(line, stderr);
	fclose(f);
}

static void
start_redis(void)
{
	char port[16], dir[80];
	char *argv[] = { (char *)redis_bin, "--port", port, "--bind",
	    "127.0.0.1", "--save", "", "--appendonly", "no", "--maxclients",
	    "20000", "--dir", dir, "--logfile", "redis.log",
	    "--daemonize", "no", NULL };
	struct timeval tv = { 1, 0 };
	redisReply *r;
	int64_t end;

	redis_port = free_port();
	snprintf(port, sizeof(port), "%d", redis_port);
	snprintf(dir, sizeof(dir), "%s", tmpdir);
	redis_pid = spawn(argv, "redis.start.log");
	end = now_ns() + 5 * SEC;
	while (now_ns() < end) {
		if (waitpid(redis_pid, NULL, WNOHANG) == redis_pid) {
			redis_pid = -1;
			tail_log("redis.start.log");
			die("redis-server exited at start");
		}
		adm = redisConnectWithTimeout("127.0.0.1", redis_port, tv);
		if (adm && !adm->err &&
		    (r = redisCommand(adm, "PING")) != NULL) {
			freeReplyObject(r);
			return;
		}
		if (adm)
			redisFree(adm);
		adm = NULL;
		usleep(20000);
	}
	die("redis-server on port %d did not answer in 5 s", redis_port);
}

/* Children of the master: count, spares, and (optionally) their Pss. */
static long pss_kib(pid_t pid);

static int
ws_tree(int *nspare, long *pss)
{
	char path[300], buf[512];
	struct dirent *de;
	DIR *d;
	int n = 0, fd;
	ssize_t len;
	char *p;

	if (nspare)
		*nspare = 0;
	if (pss)
		*pss = pss_kib(master_pid);
	if ((d = opendir("/proc")) == NULL)
		die("/proc: %s", strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		if ((fd = open(path, O_RDONLY)) == -1)
			continue;
		len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len <= 0)
			continue;
		buf[len] = '\0';
		if ((p = strrchr(buf, ')')) == NULL || p[1] == '\0')
			continue;
		/* ") S PPID ..." */
		if (p[2] == 'Z' || atol(p + 4) != (long)master_pid)
			continue;
		n++;
		if (nspare) {
			snprintf(path, sizeof(path), "/proc/%s/cmdline",
			    de->d_name);
			if ((fd = open(path, O_RDONLY)) != -1) {
				len = read(fd, buf, sizeof(buf) - 1);
				close(fd);
				if (len > 0) {
					buf[len] = '\0';
					if (strstr(buf, ": spare"))
						(*nspare)++;
				}
			}
		}
		if (pss)
			*pss += pss_kib((pid_t)atol(de->d_name));
	}
	closedir(d);
	return n;
}

/* Wait until the master has `busy` clients' children plus its spares. */
static int
ws_settle(int busy, int secs)
{
	int64_t end = now_ns() + (int64_t)secs * SEC;
	int n = 0, sp = 0;

	while (now_ns() < end) {
		if (waitpid(ws_pid, NULL, WNOHANG) == ws_pid) {
			ws_pid = -1;
			tail_log("wspubsub.log");
			die("wspubsub exited");
		}
		n = ws_tree(&sp, NULL);
		/* Under valgrind the titles are not in /proc: count only. */
		if (wrapper)
			sp = n - busy;
		if (sp >= SPARES && n == busy + sp)
			return 0;
		usleep(50000);
	}
	note("wspubsub did not settle in %d s: %d children, %d spare "
	    "(want %d busy + %d spare)", secs, n, sp, busy, SPARES);
	return -1;
}

/*
 * Under a wrapper that forks (perf record), the master is a descendant:
 * the first process down the tree whose name is the server's.
 */
static pid_t
find_master(pid_t top)
{
	const char *base = strrchr(server_bin, '/');
	char path[300], buf[512], name[16];
	struct dirent *de;
	pid_t pid = top, next;
	int depth, fd;
	ssize_t len;
	DIR *d;
	char *p;

	snprintf(name, sizeof(name), "%s", base ? base + 1 : server_bin);
	for (depth = 0; depth < 4; depth++) {
		snprintf(path, sizeof(path), "/proc/%ld/comm", (long)pid);
		if ((fd = open(path, O_RDONLY)) != -1) {
			len = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			if (len > 0 && strncmp(buf, name, strlen(name)) == 0)
				return pid;
		}
		next = -1;
		if ((d = opendir("/proc")) == NULL)
			break;
		while (next == -1 && (de = readdir(d)) != NULL) {
			if (!isdigit((unsigned char)de->d_name[0]))
				continue;
			snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
			if ((fd = open(path, O_RDONLY)) == -1)
				continue;
			len = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			if (len <= 0)
				continue;
			buf[len] = '\0';
			if ((p = strrchr(buf, ')')) != NULL && p[1] != '\0' &&
			    atol(p + 4) == (long)pid)
				next = (pid_t)atol(de->d_name);
		}
		closedir(d);
		if (next == -1)
			break;
		pid = next;
	}
	return top;
}

static void
start_wspubsub(void)
{
	char conf[128], port[16];
	char *argv[16];
	char *wcopy = NULL, *tok, *save;
	int argc = 0, fd;
	int64_t end;
	FILE *f;
	struct sockaddr_in sa = { .sin_family = AF_INET };

	ws_port = free_port();
	snprintf(conf, sizeof(conf), "%s/wspubsub.conf", tmpdir);
	if ((f = fopen(conf, "w")) == NULL)
		die("%s: %s", conf, strerror(errno));
	fprintf(f, "# generated by wsbench\n"
	    "listen 127.0.0.1:%d\n"
	    "redis_host 127.0.0.1\n"
	    "redis_port %d\n"
	    "spare_children %d\n"
	    "max_connections 20000\n"
	    "ping_interval 0\n"
	    "shutdown_timeout 2s\n"
	    "log_level warning\n", ws_port, redis_port, SPARES);
	fclose(f);

	if (wrapper) {
		wcopy = strdup(wrapper);
		for (tok = strtok_r(wcopy, " ", &save); tok && argc < 12;
		    tok = strtok_r(NULL, " ", &save))
			argv[argc++] = tok;
	}
	argv[argc++] = (char *)server_bin;
	argv[argc++] = "-f";
	argv[argc++] = conf;
	argv[argc] = NULL;
	ws_pid = spawn(argv, "wspubsub.log");

	snprintf(port, sizeof(port), "%d", ws_port);
	sa.sin_port = htons((uint16_t)ws_port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	end = now_ns() + (wrapper ? 60 : 10) * SEC;
	for (;;) {
		if (waitpid(ws_pid, NULL, WNOHANG) == ws_pid) {
			ws_pid = -1;
			tail_log("wspubsub.log");
			die("%s exited at start", server_bin);
		}
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd != -1 && connect(fd, (struct sockaddr *)&sa,
		    sizeof(sa)) == 0) {
			/* Not a client: close at once (a refused handshake). */
			close(fd);
			break;
		}
		if (fd != -1)
			close(fd);
		if (now_ns() > end)
			die("wspubsub did not listen on port %s", port);
		usleep(20000);
	}
	free(wcopy);
	master_pid = ws_pid;
	if (wrapper)
		master_pid = find_master(ws_pid);
	/* That probe took a spare; wait for the pool to be whole. */
	if (ws_settle(0, wrapper ? 60 : 10) == -1)
		die("wspubsub's spare pool did not fill up");
}

/* ---- /proc and INFO ---------------------------------------------------- */
static long
pss_kib(pid_t pid)
{
	char path[64], line[256];
	long v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/smaps_rollup", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "Pss:", 4) == 0) {
			v = atol(line + 4);
			break;
		}
	fclose(f);
	return v;
}

/* MemAvailable, and the kernel's own objects: KernelStack + PageTables +
 * SUnreclaim (task structs, sockets, file tables...). */
static void
meminfo(long *avail, long *kobj)
{
	char line[256];
	FILE *f;

	*avail = *kobj = 0;
	if ((f = fopen("/proc/meminfo", "r")) == NULL)
		die("/proc/meminfo: %s", strerror(errno));
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "MemAvailable:", 13) == 0)
			*avail = atol(line + 13);
		else if (strncmp(line, "KernelStack:", 12) == 0)
			*kobj += atol(line + 12);
		else if (strncmp(line, "PageTables:", 11) == 0)
			*kobj += atol(line + 11);
		else if (strncmp(line, "SUnreclaim:", 11) == 0)
			*kobj += atol(line + 11);
	fclose(f);
}

static int
cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return x < y ? -1 : x > y;
}

static __attribute__((unused)) double
redis_info(const char *section, const char *field)
{
	redisReply *r;
	double v = NAN;
	char *p;
	size_t fl = strlen(field);

	if ((r = redisCommand(adm, "INFO %s", section)) == NULL)
		die("INFO: %s", adm->errstr);
	if (r->type == REDIS_REPLY_STRING)
		for (p = r->str; p && *p; p = strchr(p, '\n'), p = p ? p + 1 :
		    NULL)
			if (strncmp(p, field, fl) == 0 && p[fl] == ':') {
				v = atof(p + fl + 1);
				break;
			}
	freeReplyObject(r);
	return v;
}

/* ---- the event loop ---------------------------------------------------- */
static void conn_fail(struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
conn_events(struct conn *c, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.ptr = c };

	if (c->events == ev)
		return;
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e) == -1)
		die("epoll_ctl: %s", strerror(errno));
	c->events = ev;
}

static void
conn_add(struct conn *c, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.ptr = c };

	if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &e) == -1)
		die("epoll_ctl add: %s", strerror(errno));
	c->events = ev;
}

/* Stop watching c; keep the struct until the phase frees it. */
static void
conn_drop(struct conn *c)
{
	if (c->state == S_CLOSED)
		return;
	c->state = S_CLOSED;
	if (c->fd >= 0)
		epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	if (c->rc) {
		redisFree(c->rc);	/* closes fd */
		c->rc = NULL;
	} else if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static void
conn_fail(struct conn *c, const char *fmt, ...)
{
	va_list ap;

	if (c->state == S_CLOSED)
		return;
	if (ph.nerr++ == 0) {
		int n = snprintf(ph.err, sizeof(ph.err), "%s: ", c->user);
		va_start(ap, fmt);
		vsnprintf(ph.err + n, sizeof(ph.err) - (size_t)n, fmt, ap);
		va_end(ap);
	}
	ph.failed++;
	conn_drop(c);
}

static void
conn_free(struct conn *c)
{
	if (c == NULL)
		return;
	conn_drop(c);
	free(c->obuf);
	free(c->ibuf);
	free(c);
}

static int
sock_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		return errno;
	return err;
}

/* -- WebSocket client -- */
static void
ws_flush(struct conn *c)
{
	ssize_t n;

	while (c->ooff < c->olen) {
		n = write(c->fd, c->obuf + c->ooff, c->olen - c->ooff);
		if (n == -1) {
			if (errno == EAGAIN) {
				conn_events(c, EPOLLIN | EPOLLOUT);
				return;
			}
			conn_fail(c, "write: %s", strerror(errno));
			return;
		}
		c->ooff += (size_t)n;
	}
	c->ooff = c->olen = 0;
	if (c->state != S_CONNECTING)
		conn_events(c, EPOLLIN);
}

static void
obuf_put(struct conn *c, const void *p, size_t n)
{
	if (c->olen + n > c->ocap) {
		c->ocap = (c->olen + n) * 2;
		c->obuf = xrealloc(c->obuf, c->ocap);
	}
	memcpy(c->obuf + c->olen, p, n);
	c->olen += n;
}

/* A client frame: always masked, with a fresh random key. */
static void
ws_send(struct conn *c, int op, const void *data, size_t len)
{
	uint8_t hdr[14], key[4];
	const uint8_t *d = data;
	size_t h = 0, i;

	if (c->state == S_CLOSED)
		return;
	if (RAND_bytes(key, 4) != 1)
		die("RAND_bytes failed");
	hdr[h++] = (uint8_t)(0x80 | op);
	if (len < 126)
		hdr[h++] = (uint8_t)(0x80 | len);
	else if (len < 65536) {
		hdr[h++] = 0x80 | 126;
		hdr[h++] = (uint8_t)(len >> 8);
		hdr[h++] = (uint8_t)len;
	} else {
		hdr[h++] = 0x80 | 127;
		for (i = 0; i < 8; i++)
			hdr[h++] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
	}
	memcpy(hdr + h, key, 4);
	h += 4;
	obuf_put(c, hdr, h);
	if (c->olen + len > c->ocap) {
		c->ocap = (c->olen + len) * 2;
		c->obuf = xrealloc(c->obuf, c->ocap);
	}
	for (i = 0; i < len; i++)
		c->obuf[c->olen + i] = d[i] ^ key[i & 3];
	c->olen += len;
	if (c->state != S_CONNECTING)
		ws_flush(c);
}

static struct conn *
ws_open(const char *user)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	unsigned char raw[16], sha[SHA_DIGEST_LENGTH];
	char key[32], cat[96], req[256];
	struct conn *c = calloc(1, sizeof(*c));
	int one = 1, n;

	if (c == NULL)
		die("out of memory");
	c->kind = K_WS;
	snprintf(c->user, sizeof(c->user), "%s", user);
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		die("RAND_bytes failed");
	EVP_EncodeBlock((unsigned char *)key, raw, sizeof(raw));
	snprintf(cat, sizeof(cat), "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11",
	    key);
	SHA1((unsigned char *)cat, strlen(cat), sha);
	EVP_EncodeBlock((unsigned char *)c->accept, sha, sizeof(sha));
	n = snprintf(req, sizeof(req), "GET /?user=%s HTTP/1.1\r\n"
	    "Host: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n", user, ws_port, key);
	obuf_put(c, req, (size_t)n);

	if ((c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1)
		die("socket: %s (raise the open-files limit?)",
		    strerror(errno));
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	sa.sin_port = htons((uint16_t)ws_port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->state = S_CONNECTING;
	c->t_connect = now_ns();
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 &&
	    errno != EINPROGRESS) {
		int e = errno;
		conn_add(c, EPOLLIN);
		conn_fail(c, "connect: %s", strerror(e));
		return c;
	}
	conn_add(c, EPOLLIN | EPOLLOUT);
	return c;
}

/* The 101: returns the bytes of the head used, 0 while incomplete. */
static size_t
ws_head(struct conn *c, const uint8_t *d, size_t len)
{
	const char *p = memmem(d, len, "\r\n\r\n", 4), *line, *eol, *end;
	static const char hname[] = "sec-websocket-accept:";
	int ok = 0;

	if (p == NULL) {
		if (len > 8192)
			conn_fail(c, "response head over 8 KiB");
		return 0;
	}
	end = p + 2;
	if (len < 13 || memcmp(d, "HTTP/1.1 101 ", 13) != 0) {
		eol = memchr(d, '\r', len);
		conn_fail(c, "handshake refused: %.*s",
		    (int)(eol ? eol - (const char *)d : 40), (const char *)d);
		return 0;
	}
	for (line = (const char *)d; line < end; line = eol + 2) {
		eol = memmem(line, (size_t)(end - line + 2), "\r\n", 2);
		if ((size_t)(eol - line) > sizeof(hname) - 1 &&
		    strncasecmp(line, hname, sizeof(hname) - 1) == 0) {
			const char *v = line + sizeof(hname) - 1;
			while (*v == ' ' || *v == '\t')
				v++;
			ok = (size_t)(eol - v) == strlen(c->accept) &&
			    memcmp(v, c->accept, (size_t)(eol - v)) == 0;
		}
	}
	if (!ok) {
		conn_fail(c, "missing or wrong Sec-WebSocket-Accept");
		return 0;
	}
	c->state = S_OPEN;
	c->t_open = now_ns();
	ph.opened++;
	if (cb_open)
		cb_open(c);
	return (size_t)(p + 4 - (const char *)d);
}

/* Complete server frames in d: returns the bytes used. */
static size_t
ws_frames(struct conn *c, const uint8_t *d, size_t len)
{
	size_t off = 0, h, i;
	uint64_t n;
	int op;

	while (c->state == S_OPEN && len - off >= 2) {
		const uint8_t *f = d + off;
		if (f[1] & 0x80) {
			conn_fail(c, "masked server frame");
			break;
		}
		if (f[0] & 0x70) {
			conn_fail(c, "RSV bits set");
			break;
		}
		op = f[0] & 0x0f;
		n = f[1] & 0x7f;
		h = 2;
		if (n == 126) {
			if (len - off < 4)
				break;
			n = (uint64_t)f[2] << 8 | f[3];
			h = 4;
		} else if (n == 127) {
			if (len - off < 10)
				break;
			for (n = 0, i = 0; i < 8; i++)
				n = n << 8 | f[2 + i];
			h = 10;
			if (n > (1u << 30)) {
				conn_fail(c, "frame too large");
				break;
			}
		}
		if (len - off < h + n)
			break;
		off += h + n;
		switch (op) {
		case 1: case 2:
			if (!(f[0] & 0x80)) {
				conn_fail(c, "fragmented message");
				return off;
			}
			c->nmsg++;
			if (cb_msg)
				cb_msg(c, f + h, (size_t)n);
			break;
		case 8:
			conn_fail(c, "server closed: code %d",
			    n >= 2 ? f[h] << 8 | f[h + 1] : 1005);
			return off;
		case 9:
			ws_send(c, 10, f + h, (size_t)n);
			break;
		case 10:
			break;
		default:
			conn_fail(c, "unexpected opcode %d", op);
			return off;
		}
	}
	return off;
}

static void
ws_read(struct conn *c)
{
	static uint8_t rbuf[65536];
	const uint8_t *d;
	size_t len, used = 0;
	ssize_t n;

	n = read(c->fd, rbuf, sizeof(rbuf));
	if (n == -1) {
		if (errno != EAGAIN)
			conn_fail(c, "read: %s", strerror(errno));
		return;
	}
	if (n == 0) {
		conn_fail(c, "EOF from server%s", c->state == S_HANDSHAKE ?
		    " during the handshake" : "");
		return;
	}
	if (c->ilen > 0) {
		if (c->ilen + (size_t)n > c->icap) {
			c->icap = (c->ilen + (size_t)n) * 2;
			c->ibuf = xrealloc(c->ibuf, c->icap);
		}
		memcpy(c->ibuf + c->ilen, rbuf, (size_t)n);
		c->ilen += (size_t)n;
		d = c->ibuf;
		len = c->ilen;
	} else {
		d = rbuf;
		len = (size_t)n;
	}
	if (c->state == S_HANDSHAKE)
		used = ws_head(c, d, len);
	if (c->state == S_OPEN)
		used += ws_frames(c, d + used, len - used);
	if (c->state == S_CLOSED)
		return;
	/* Keep the incomplete rest. */
	len -= used;
	if (len > c->icap) {
		c->icap = len * 2;
		c->ibuf = xrealloc(c->ibuf, c->icap);
	}
	memmove(c->ibuf, d + used, len);
	c->ilen = len;
	if (len == 0 && c->icap > 65536) {
		free(c->ibuf);
		c->ibuf = NULL;
		c->icap = 0;
	}
}

/* -- plain hiredis subscriber (and the publisher) -- */
static struct conn *
raw_open(const char *user)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		die("out of memory");
	c->kind = K_RAW;
	snprintf(c->user, sizeof(c->user), "%s", user);
	c->t_connect = now_ns();
	c->rc = redisConnectNonBlock("127.0.0.1", redis_port);
	if (c->rc == NULL || c->rc->err) {
		die("redisConnectNonBlock: %s (raise the open-files limit?)",
		    c->rc ? c->rc->errstr : "out of memory");
	}
	c->fd = c->rc->fd;
	c->state = S_CONNECTING;
	redisAppendCommand(c->rc, "SUBSCRIBE %s", user);
	conn_add(c, EPOLLIN | EPOLLOUT);
	return c;
}

static void
raw_reply(struct conn *c, redisReply *r)
{
	const char *kind;

	if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
	    r->element[0]->type == REDIS_REPLY_STRING) {
		kind = r->element[0]->str;
		if (strcmp(kind, "message") == 0 &&
		    r->element[2]->type == REDIS_REPLY_STRING) {
			c->nmsg++;
			if (cb_msg)
				cb_msg(c, (const uint8_t *)r->element[2]->str,
				    r->element[2]->len);
			return;
		}
		if (strcmp(kind, "subscribe") == 0 && c->state != S_OPEN) {
			c->state = S_OPEN;
			c->t_open = now_ns();
			ph.opened++;
			if (cb_open)
				cb_open(c);
			return;
		}
	}
	if (r->type == REDIS_REPLY_ERROR)
		conn_fail(c, "redis: %s", r->str);
}

static void
pub_reply(redisReply *r)
{
	ph.pub_replies++;
	if (r->type == REDIS_REPLY_INTEGER) {
		if (r->integer == 0)
			ph.pub_zero++;
	} else {
		if (ph.pub_errors++ == 0)
			note("PUBLISH answered: %s", r->type ==
			    REDIS_REPLY_ERROR ? r->str : "(not an integer)");
	}
}

static void
redis_read(struct conn *c)
{
	void *v;

	if (redisBufferRead(c->rc) != REDIS_OK) {
		if (c->kind == K_PUB)
			die("publisher: %s", c->rc->errstr);
		conn_fail(c, "redis read: %s", c->rc->errstr);
		return;
	}
	for (;;) {
		if (redisReaderGetReply(c->rc->reader, &v) != REDIS_OK) {
			if (c->kind == K_PUB)
				die("publisher: protocol error");
			conn_fail(c, "redis protocol error");
			return;
		}
		if (v == NULL)
			return;
		if (c->kind == K_PUB)
			pub_reply(v);
		else
			raw_reply(c, v);
		freeReplyObject(v);
		if (c->state == S_CLOSED)
			return;
	}
}

static void
redis_write(struct conn *c)
{
	int done = 0;

	if (redisBufferWrite(c->rc, &done) != REDIS_OK) {
		if (c->kind == K_PUB)
			die("publisher: %s", c->rc->errstr);
		conn_fail(c, "redis write: %s", c->rc->errstr);
		return;
	}
	conn_events(c, done ? EPOLLIN : EPOLLIN | EPOLLOUT);
}

/* -- publishing -- */
static void
pub_start(void)
{
	pub.kind = K_PUB;
	snprintf(pub.user, sizeof(pub.user), "(publisher)");
	pub.rc = redisConnectNonBlock("127.0.0.1", redis_port);
	if (pub.rc == NULL || pub.rc->err)
		die("publisher: cannot connect");
	pub.fd = pub.rc->fd;
	pub.state = S_OPEN;
	conn_add(&pub, EPOLLIN);
}

static void
pub_append(const char *chan, const void *p, size_t n)
{
	if (redisAppendCommand(pub.rc, "PUBLISH %s %b", chan, p, n) !=
	    REDIS_OK)
		die("redisAppendCommand failed");
}

static void
pub_flush(void)
{
	redis_write(&pub);
}

/* One epoll_wait and its events. */
static void
poll_once(int timeout_ms)
{
	struct epoll_event ev[1024];
	struct conn *c;
	uint64_t ticks;
	int n, i, err;

	n = epoll_wait(epfd, ev, 1024, timeout_ms);
	if (n == -1 && errno != EINTR)
		die("epoll_wait: %s", strerror(errno));
	for (i = 0; i < n; i++) {
		c = ev[i].data.ptr;
		if (c->state == S_CLOSED)
			continue;
		if (c->kind == K_TIMER) {
			if (read(c->fd, &ticks, sizeof(ticks)) == sizeof(ticks) &&
			    cb_tick)
				cb_tick(ticks);
			continue;
		}
		if (c->state == S_CONNECTING &&
		    ev[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
			if ((err = sock_error(c->fd)) != 0) {
				conn_fail(c, "connect: %s", strerror(err));
				continue;
			}
			c->state = S_HANDSHAKE;
		}
		if (ev[i].events & EPOLLOUT) {
			if (c->kind == K_WS)
				ws_flush(c);
			else
				redis_write(c);
		}
		if (c->state != S_CLOSED &&
		    ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
			if (c->kind == K_WS)
				ws_read(c);
			else
				redis_read(c);
		}
	}
}

static struct conn *
side_open(int side, const char *user)
{
	return side == 0 ? ws_open(user) : raw_open(user);
}

static void
phase_reset(void)
{
	memset(&ph, 0, sizeof(ph));
	cb_open = NULL;
	cb_msg = NULL;
	cb_tick = NULL;
}

/*
 * Close every connection: WebSocket ones with a masked close frame
 * first (best effort; the child sees the close or the EOF).
 */
static void
close_all(struct conn **cs, int n)
{
	static const uint8_t bye[2] = { 0x03, 0xe8 };	/* 1000 */
	int i;

	for (i = 0; i < n; i++) {
		if (cs[i] == NULL)
			continue;
		if (cs[i]->kind == K_WS && cs[i]->state == S_OPEN) {
			cs[i]->olen = cs[i]->ooff = 0;
			ws_send(cs[i], 8, bye, 2);
		}
		conn_free(cs[i]);
		cs[i] = NULL;
	}
}

/* Open users PREFIX-from .. PREFIX-(to-1), `inflight` at a time. */
static int
open_many(int side, const char *prefix, struct conn **cs, int from, int to,
    int inflight, int secs)
{
	int64_t end = now_ns() + (int64_t)secs * SEC;
	int next = from, base_open = ph.opened, base_fail = ph.failed;
	char user[48];

	while (ph.opened - base_open + ph.failed - base_fail < to - from) {
		while (next < to && next - from - (ph.opened - base_open) -
		    (ph.failed - base_fail) < inflight) {
			snprintf(user, sizeof(user), "%s-%d", prefix, next);
			cs[next++] = side_open(side, user);
		}
		if (now_ns() > end) {
			note("opening %d connections: %d open, %d failed after "
			    "%d s", to - from, ph.opened - base_open,
			    ph.failed - base_fail, secs);
			return -1;
		}
		poll_once(10);
	}
	if (ph.failed > base_fail) {
		note("opening connections: %d failed; first: %s",
		    ph.failed - base_fail, ph.err);
		return -1;
	}
	return 0;
}

/* Poll until *done or the deadline; 0 if done. */
static int
wait_until(const int *done, int64_t deadline)
{
	while (!*done) {
		if (now_ns() > deadline)
			return -1;
		poll_once(5);
	}
	return 0;
}

/* ---- 1. latency ---------------------------------------------------- */
static struct {
	struct conn	*c;
	int64_t		*lat;
	int		 sent, got, nlat, done, pong;
} L;

static void
lat_msg(struct conn *c, const uint8_t *p, size_t n)
{
	int64_t now = now_ns(), t;
	char buf[64];
	int seq;

	(void)c;
	if (n == 4 && memcmp(p, "pong", 4) == 0) {
		L.pong = 1;
		return;
	}
	if (n >= sizeof(buf))
		return;
	memcpy(buf, p, n);
	buf[n] = '\0';
	if (sscanf(buf, "%d %" SCNd64, &seq, &t) != 2)
		return;
	if (seq >= LAT_WARM && L.nlat < LAT_N)
		L.lat[L.nlat++] = now - t;
	L.got++;
	if (L.got == LAT_N + LAT_WARM)
		L.done = 1;
}

static void
lat_tick(uint64_t ticks)
{
	char buf[64];
	int n;

	(void)ticks;	/* one message per tick, even after a late wake-up */
	if (L.sent >= LAT_N + LAT_WARM)
		return;
	n = snprintf(buf, sizeof(buf), "%d %" PRId64, L.sent, now_ns());
	pub_append(L.c->user, buf, (size_t)n);
	pub_flush();
	L.sent++;
}

static void
fig_latency(int side)
{
	static const int figs[] = { F_LAT_P50, F_LAT_P90, F_LAT_P99,
	    F_LAT_MAX, F_LAT_LOST, -1 };
	struct itimerspec its = { { 0, 1000000 }, { 0, 1000000 } };
	struct conn timer = { .kind = K_TIMER, .state = S_OPEN };
	int64_t end;
	int open_done = 0, n;

	phase_reset();
	memset(&L, 0, sizeof(L));
	L.lat = xrealloc(NULL, sizeof(int64_t) * (LAT_N + LAT_WARM));
	L.c = side_open(side, side ? "lat-raw" : "lat-ws");
	end = now_ns() + 5 * SEC;
	while (!open_done && ph.failed == 0 && now_ns() < end) {
		poll_once(5);
		open_done = L.c->state == S_OPEN;
	}
	if (!open_done) {
		phase_fail(side, figs, "latency: connection not open: %s",
		    ph.nerr ? ph.err : "timed out after 5 s");
		goto out;
	}
	cb_msg = lat_msg;
	if (side == 0) {
		/* Masking sanity check: the server answers "ping" with "pong". */
		ws_send(L.c, 1, "ping", 4);
		if (wait_until(&L.pong, now_ns() + 2 * SEC) == -1)
			note("no \"pong\" to a masked \"ping\" in 2 s");
	}
	if ((timer.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK |
	    TFD_CLOEXEC)) == -1)
		die("timerfd_create: %s", strerror(errno));
	conn_add(&timer, EPOLLIN);
	cb_tick = lat_tick;
	timerfd_settime(timer.fd, 0, &its, NULL);
	/* 2,020 ticks of 1 ms, then up to 2 s for the last ones. */
	end = now_ns() + (LAT_N + LAT_WARM) * MS * 3 + 2 * SEC;
	while (!L.done && now_ns() < end && L.c->state == S_OPEN)
		poll_once(5);
	cb_tick = NULL;
	epoll_ctl(epfd, EPOLL_CTL_DEL, timer.fd, NULL);
	close(timer.fd);
	if (L.c->state != S_OPEN)
		phase_fail(side, figs, "latency: %s", ph.err);
	else if (!L.done)
		note("latency (%s): %d of %d received before the timeout",
		    side_name[side], L.got, LAT_N + LAT_WARM);
	n = L.nlat;
	if (n > 0) {
		qsort(L.lat, (size_t)n, sizeof(int64_t), cmp_i64);
		fig[F_LAT_P50].v[side] = pct(L.lat, (size_t)n, 0.50) / 1e3;
		fig[F_LAT_P90].v[side] = pct(L.lat, (size_t)n, 0.90) / 1e3;
		fig[F_LAT_P99].v[side] = pct(L.lat, (size_t)n, 0.99) / 1e3;
		fig[F_LAT_MAX].v[side] = L.lat[n - 1] / 1e3;
	}
	fig[F_LAT_LOST].v[side] = LAT_N + LAT_WARM - L.got;
out:
	close_all(&L.c, 1);
	free(L.lat);
}

/* ---- 2. throughput ------------------------------------------------- */
static struct {
	int	 got, expect, disorder, badsize, done, n;
	int64_t	 t_last;
} T;

static void
tp_msg(struct conn *c, const uint8_t *p, size_t n)
{
	int seq = 0, i;

	(void)c;
	if (n != TP_SIZE)
		T.badsize++;
	for (i = 0; i < 10 && i < (int)n; i++)
		seq = seq * 10 + (p[i] - '0');
	if (seq != T.expect)
		T.disorder++;
	T.expect = seq + 1;
	if (++T.got == T.n)
		T.done = 1;
	T.t_last = now_ns();
}

static void
fig_throughput(int side)
{
	static const int figs[] = { F_TP_RATE, F_TP_LOST, -1 };
	char head[128], *batch;
	size_t hlen, clen, blen;
	struct conn *c;
	int64_t t0 = 0, end, last_progress;
	int sent = 0, i, last_got = 0, ok = 0;

	phase_reset();
	memset(&T, 0, sizeof(T));
	T.n = tp_n;
	c = side_open(side, side ? "tp-raw" : "tp-ws");
	end = now_ns() + 5 * SEC;
	while (c->state != S_OPEN && ph.failed == 0 && now_ns() < end)
		poll_once(5);
	if (c->state != S_OPEN) {
		phase_fail(side, figs, "throughput: connection not open: %s",
		    ph.nerr ? ph.err : "timed out after 5 s");
		goto out;
	}
	cb_msg = tp_msg;
	/* Preformatted PUBLISHes; the 10-digit sequence number is patched. */
	hlen = (size_t)snprintf(head, sizeof(head),
	    "*3\r\n$7\r\nPUBLISH\r\n$%zu\r\n%s\r\n$%d\r\n", strlen(c->user),
	    c->user, TP_SIZE);
	clen = hlen + TP_SIZE + 2;
	batch = xrealloc(NULL, clen * TP_BATCH);
	for (i = 0; i < TP_BATCH; i++) {
		char *m = batch + (size_t)i * clen;
		memcpy(m, head, hlen);
		memset(m + hlen, 'x', TP_SIZE);
		memcpy(m + hlen + TP_SIZE, "\r\n", 2);
	}
	end = now_ns() + 60 * SEC;
	last_progress = now_ns();
	while (!T.done) {
		while (sent < T.n && sent - T.got <= TP_WINDOW - TP_BATCH) {
			int k = T.n - sent < TP_BATCH ? T.n - sent : TP_BATCH;
			for (i = 0; i < k; i++) {
				char num[16];
				snprintf(num, sizeof(num), "%010d", sent + i);
				memcpy(batch + (size_t)i * clen + hlen, num, 10);
			}
			blen = clen * (size_t)k;
			if (redisAppendFormattedCommand(pub.rc, batch, blen) !=
			    REDIS_OK)
				die("redisAppendFormattedCommand failed");
			if (t0 == 0)
				t0 = now_ns();
			pub_flush();
			sent += k;
		}
		poll_once(5);
		if (c->state != S_OPEN) {
			phase_fail(side, figs, "throughput: %s", ph.err);
			break;
		}
		if (T.got != last_got) {
			last_got = T.got;
			last_progress = now_ns();
		} else if (now_ns() - last_progress > 5 * SEC) {
			note("throughput (%s): nothing received for 5 s; "
			    "%d of %d received", side_name[side], T.got, T.n);
			break;
		}
		if (now_ns() > end) {
			note("throughput (%s): timed out after 60 s; %d of %d "
			    "received", side_name[side], T.got, T.n);
			break;
		}
	}
	ok = T.got > 0 && T.t_last > t0;
	if (ok)
		fig[F_TP_RATE].v[side] = T.got / ((T.t_last - t0) / 1e9);
	fig[F_TP_LOST].v[side] = T.n - T.got;
	if (T.disorder || T.badsize)
		note("throughput (%s): %d out of order, %d of the wrong size",
		    side_name[side], T.disorder, T.badsize);
	free(batch);
out:
	close_all(&c, 1);
}

/* ---- 3. connection rate -------------------------------------------- */

/*
 * CPU time (ms) of the master itself and of the children it has reaped,
 * and the minor page faults of both, from /proc/PID/stat (minflt cminflt
 * utime stime cutime cstime).  Time on a shared machine moves with the
 * load; CPU and faults per connection move much less.
 */
static int
cpu_ms(pid_t pid, double *self, double *kids, double *faults)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st, mf, cmf;
	long long cut, cst;
	double hz = (double)sysconf(_SC_CLK_TCK);
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if (pid <= 0 || (f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* Fields 10-17, after the ")" that ends the command name. */
	if ((p = strrchr(buf, ')')) == NULL || sscanf(p + 2,
	    "%*c %*d %*d %*d %*d %*d %*u %llu %llu %*u %*u %llu %llu %lld %lld",
	    &mf, &cmf, &ut, &st, &cut, &cst) != 6)
		return -1;
	*self = (ut + st) * 1000.0 / hz;
	*kids = (cut + cst) * 1000.0 / hz;
	*faults = (double)(mf + cmf);
	return 0;
}
static struct {
	int	 done;
	int64_t	 t_last_open;
} R;

static void
cr_open(struct conn *c)
{
	R.t_last_open = c->t_open;
	pub_append(c->user, "hello", 5);
	pub_flush();
}

static void
cr_msg(struct conn *c, const uint8_t *p, size_t n)
{
	(void)p;
	(void)n;
	if (c->t_msg == 0) {
		c->t_msg = now_ns();
		R.done++;
	}
}

/* One connection at a time: connect, 101, PUBLISH, message. */
static void
cr_alone(int side)
{
	static const int figs[] = { F_CR_SEQ, F_CR_SEQ99, -1 };
	struct conn *cs[CR_SEQ_N] = { NULL };
	int64_t v[CR_SEQ_N], end;
	char user[48];
	int i, n = 0;

	phase_reset();
	memset(&R, 0, sizeof(R));
	cb_open = cr_open;
	cb_msg = cr_msg;
	for (i = 0; i < CR_SEQ_N; i++) {
		snprintf(user, sizeof(user), "seq-%s-%d", side ? "raw" : "ws",
		    i);
		cs[i] = side_open(side, user);
		end = now_ns() + 5 * SEC;
		while (R.done + ph.failed <= i && now_ns() < end)
			poll_once(5);
		if (cs[i]->t_msg == 0) {
			phase_fail(side, figs, "connect->first message, one "
			    "at a time: connection %d: %s", i, ph.nerr ?
			    ph.err : "no message in 5 s");
			break;
		}
		v[n++] = cs[i]->t_msg - cs[i]->t_connect;
	}
	if (n > 0) {
		qsort(v, (size_t)n, sizeof(int64_t), cmp_i64);
		fig[F_CR_SEQ].v[side] = pct(v, (size_t)n, 0.5) / 1e3;
		fig[F_CR_SEQ99].v[side] = pct(v, (size_t)n, 0.99) / 1e3;
	}
	close_all(cs, CR_SEQ_N);
	if (side == 0)
		ws_settle(0, 20);
}

static void
fig_connrate(int side)
{
	static const int figs[] = { F_CR_RATE, F_CR_MED, F_CR_P99, -1 };
	struct conn **cs = calloc(CR_N, sizeof(*cs));
	int64_t t0, end, *first = xrealloc(NULL, sizeof(int64_t) * CR_N);
	double cpu0[3] = { -1, 0, 0 }, cpu1[3];
	int next = 0, i, nf = 0;
	char user[48];

	phase_reset();
	memset(&R, 0, sizeof(R));
	cb_open = cr_open;
	cb_msg = cr_msg;
	if (side == 0 &&
	    cpu_ms(master_pid, &cpu0[0], &cpu0[1], &cpu0[2]) == -1)
		cpu0[0] = -1;
	t0 = now_ns();
	end = t0 + 30 * SEC;
	while (R.done + ph.failed < CR_N) {
		/* In flight: started, not yet failed nor given its message. */
		while (next < CR_N && next - R.done - ph.failed < CR_INFLIGHT) {
			snprintf(user, sizeof(user), "cr-%s-%d",
			    side ? "raw" : "ws", next);
			cs[next++] = side_open(side, user);
		}
		if (now_ns() > end) {
			phase_fail(side, figs, "connection rate: timed out "
			    "after 30 s: %d handshakes, %d messages, %d failed",
			    ph.opened, R.done, ph.failed);
			break;
		}
		poll_once(5);
	}
	if (ph.failed)
		phase_fail(side, figs, "connection rate: %d of %d failed; "
		    "first: %s", ph.failed, CR_N, ph.err);
	if (ph.opened > 0 && R.t_last_open > t0)
		fig[F_CR_RATE].v[side] = ph.opened /
		    ((R.t_last_open - t0) / 1e9);
	for (i = 0; i < next; i++)
		if (cs[i] && cs[i]->t_msg)
			first[nf++] = cs[i]->t_msg - cs[i]->t_connect;
	if (nf > 0) {
		qsort(first, (size_t)nf, sizeof(int64_t), cmp_i64);
		fig[F_CR_MED].v[side] = pct(first, (size_t)nf, 0.5) / 1e3;
		fig[F_CR_P99].v[side] = pct(first, (size_t)nf, 0.99) / 1e3;
	}
	close_all(cs, next);
	free(cs);
	free(first);
	if (side == 0 && ws_settle(0, 20) == 0 && cpu0[0] >= 0 &&
	    ph.opened > 0 &&
	    cpu_ms(master_pid, &cpu1[0], &cpu1[1], &cpu1[2]) == 0) {
		fig[F_CR_CPU].v[0] = (cpu1[0] - cpu0[0] + cpu1[1] - cpu0[1]) *
		    1e3 / ph.opened;
		note("3. connection rate (wspubsub): server CPU %.0f us per "
		    "connection (master %.0f, children %.0f, exit included), "
		    "%.1f page faults", (cpu1[0] - cpu0[0] + cpu1[1] -
		    cpu0[1]) * 1e3 / ph.opened, (cpu1[0] - cpu0[0]) * 1e3 /
		    ph.opened, (cpu1[1] - cpu0[1]) * 1e3 / ph.opened,
		    (cpu1[2] - cpu0[2]) / ph.opened);
	}
}

/*
 * The floor under any server that forks per connection: this process
 * (which maps OpenSSL, hiredis and libc, as wspubsub does) forks a child
 * that exits at once, and reaps it, CR_N times in a row.  No server that
 * pays one fork and one exit per client can accept faster on one core.
 */
static void
fork_floor(void)
{
	int64_t t0 = now_ns();
	pid_t pid;
	int i, st;

	for (i = 0; i < CR_N; i++) {
		if ((pid = fork()) == -1) {
			note("fork floor: fork: %s", strerror(errno));
			return;
		}
		if (pid == 0)
			_exit(0);
		if (waitpid(pid, &st, 0) == -1) {
			note("fork floor: waitpid: %s", strerror(errno));
			return;
		}
	}
	fig[F_CR_FORK].v[0] = CR_N / ((now_ns() - t0) / 1e9);
}

/* ---- 4 + 5. memory, then fan-out on the same connections ------------ */
static struct {
	int	 got, dup, done, n;
	int64_t	 t_last;
} FO;

static void
fo_msg(struct conn *c, const uint8_t *p, size_t n)
{
	(void)p;
	(void)n;
	if (c->nmsg == 1) {
		FO.t_last = now_ns();
		if (++FO.got == FO.n)
			FO.done = 1;
	} else
		FO.dup++;
}

static void
fanout(int side, struct conn **cs, int n, int f_ms, int f_lost)
{
	int64_t t0, end, last_progress;
	int i, last_got = 0;

	memset(&FO, 0, sizeof(FO));
	FO.n = n;
	for (i = 0; i < n; i++) {
		cs[i]->nmsg = 0;
		pub_append(cs[i]->user, "fan-out", 7);
	}
	cb_msg = fo_msg;
	t0 = now_ns();		/* the first PUBLISH leaves now */
	pub_flush();
	end = t0 + 30 * SEC;
	last_progress = t0;
	while (!FO.done) {
		poll_once(5);
		if (FO.got != last_got) {
			last_got = FO.got;
			last_progress = now_ns();
		} else if (now_ns() - last_progress > 5 * SEC) {
			note("fan-out %d (%s): nothing received for 5 s; %d "
			    "of %d", n, side_name[side], FO.got, n);
			break;
		}
		if (now_ns() > end) {
			note("fan-out %d (%s): timed out after 30 s; %d of %d",
			    n, side_name[side], FO.got, n);
			break;
		}
	}
	cb_msg = NULL;
	if (FO.got > 0)
		fig[f_ms].v[side] = (FO.t_last - t0) / 1e6;
	if (!FO.done)
		fig[f_ms].failed[side] = 1;
	fig[f_lost].v[side] = n - FO.got;
	if (FO.dup)
		note("fan-out %d (%s): %d duplicates", n, side_name[side],
		    FO.dup);
}

struct memsnap {
	long	avail, kobj, pss_ws, pss_redis, pss_self;
};

/* After MEM_SETTLE_MS of quiet; MemAvailable and the kernel objects are
 * the medians of 5 readings 100 ms apart (other work on the machine). */
static void
mem_snap(int side, struct memsnap *m)
{
	long av[5], ko[5];
	redisReply *r;
	int i;

	usleep(MEM_SETTLE_MS * 1000);
	/* jemalloc returns freed pages lazily; have Redis do it now. */
	if ((r = redisCommand(adm, "MEMORY PURGE")) != NULL)
		freeReplyObject(r);
	usleep(100000);
	for (i = 0; i < 5; i++) {
		if (i)
			usleep(100000);
		meminfo(&av[i], &ko[i]);
	}
	qsort(av, 5, sizeof(long), cmp_long);
	qsort(ko, 5, sizeof(long), cmp_long);
	m->avail = av[2];
	m->kobj = ko[2];
	m->pss_ws = 0;
	if (side == 0)
		ws_tree(NULL, &m->pss_ws);
	m->pss_redis = pss_kib(redis_pid);
	m->pss_self = pss_kib(getpid());
}

static void
mem_figures(int side, const struct memsnap *a, const struct memsnap *b,
    int n, int f0)
{
	double dpss = (double)(b->pss_ws - a->pss_ws);
	double dredis = (double)(b->pss_redis - a->pss_redis);
	double dall = dpss + dredis + (double)(b->pss_self - a->pss_self);
	double drop = (double)(a->avail - b->avail);

	/* f0: the PSS, REDIS, AVAIL, KERN, KOBJ figures in that order */
	if (side == 0)
		fig[f0].v[0] = dpss / n;
	fig[f0 + 1].v[side] = dredis / n;
	fig[f0 + 2].v[side] = drop / n;
	fig[f0 + 3].v[side] = (drop - dall) / n;
	fig[f0 + 4].v[side] = (double)(b->kobj - a->kobj) / n;
}

static void
fig_memory_fanout(int side, int do_mem, int do_fan)
{
	static const int f1[] = { F_M1_PSS, F_M1_REDIS, F_M1_AVAIL, F_M1_KERN,
	    F_M1_KOBJ, F_FO1_MS, F_FO1_LOST, F_M2_PSS, F_M2_REDIS, F_M2_AVAIL,
	    F_M2_KERN, F_M2_KOBJ, F_FO2_MS, F_FO2_LOST, -1 };
	static const int f2[] = { F_M2_PSS, F_M2_REDIS, F_M2_AVAIL,
	    F_M2_KERN, F_M2_KOBJ, F_FO2_MS, F_FO2_LOST, -1 };
	struct conn **cs = calloc(MEM_N2, sizeof(*cs));
	const char *prefix = side ? "fo-raw" : "fo-ws";
	struct memsnap before, after;

	phase_reset();
	if (side == 0)
		ws_settle(0, 30);
	if (do_mem)
		mem_snap(side, &before);

	if (open_many(side, prefix, cs, 0, MEM_N1, OPEN_INFLIGHT, 60) == -1) {
		phase_fail(side, f1, "memory/fan-out: could not open %d "
		    "connections: %s", MEM_N1, ph.err);
		goto out;
	}
	if (side == 0)
		ws_settle(MEM_N1, 20);
	if (do_mem) {
		mem_snap(side, &after);
		mem_figures(side, &before, &after, MEM_N1, F_M1_PSS);
	}
	if (do_fan)
		fanout(side, cs, MEM_N1, F_FO1_MS, F_FO1_LOST);

	if (open_many(side, prefix, cs, MEM_N1, MEM_N2, OPEN_INFLIGHT, 90) ==
	    -1) {
		phase_fail(side, f2, "memory/fan-out: could not open %d "
		    "connections: %s", MEM_N2, ph.err);
		goto out;
	}
	if (side == 0)
		ws_settle(MEM_N2, 30);
	if (do_mem) {
		mem_snap(side, &after);
		mem_figures(side, &before, &after, MEM_N2, F_M2_PSS);
	}
	if (do_fan)
		fanout(side, cs, MEM_N2, F_FO2_MS, F_FO2_LOST);
out:
	close_all(cs, MEM_N2);
	free(cs);
	if (side == 0)
		ws_settle(0, 30);
}

/* ---- the table --------------------------------------------------------- */
static void
fmtv(char *buf, size_t len, const struct figure *f, int side)
{
	if (side == 1 && f->raw_na)
		snprintf(buf, len, "n/a");
	else if (isnan(f->v[side]))
		snprintf(buf, len, f->failed[side] ? "FAIL" : "-");
	else {
		snprintf(buf, len, f->fmt, f->v[side]);
		if (f->failed[side])
			strncat(buf, "!", len - strlen(buf) - 1);
	}
}

static const char *
verdict(const struct figure *f, double ratio)
{
	double w = f->v[0];

	if (f->tgt == T_NONE)
		return "";
	if (isnan(w) || f->failed[0])
		return "FAIL";
	switch (f->tgt) {
	case T_RATIO_LE:
		return isnan(ratio) ? "?" : ratio <= f->limit ? "ok" : "MISS";
	case T_RATIO_GE:
		return isnan(ratio) ? "?" : ratio >= f->limit ? "ok" : "MISS";
	case T_WS_LE:
		return w <= f->limit ? "ok" : "MISS";
	case T_WS_GE:
		return w >= f->limit ? "ok" : "MISS";
	case T_ZERO:
		return w == 0 ? "ok" : "MISS";
	default:
		return "";
	}
}

static void
print_table(const char *title)
{
	char a[32], b[32], r[32];
	double ratio;
	int i, misses = 0;
	const char *v;

	printf("\n%s\n", title);
	printf("%-38s %12s %12s %8s  %-13s %s\n", "figure", "wspubsub",
	    "raw Redis", "ratio", "target", "");
	printf("%-38s %12s %12s %8s  %-13s %s\n", "", "", "subscriber",
	    "ws/raw", "(issue 6)", "");
	for (i = 0; i < F_COUNT; i++) {
		const struct figure *f = &fig[i];
		if (!strchr(only, f->label[0]))
			continue;
		fmtv(a, sizeof(a), f, 0);
		fmtv(b, sizeof(b), f, 1);
		ratio = NAN;
		if (!f->no_ratio && !f->raw_na && !isnan(f->v[0]) &&
		    !isnan(f->v[1]) && f->v[1] != 0)
			ratio = f->v[0] / f->v[1];
		if (isnan(ratio))
			snprintf(r, sizeof(r), "-");
		else
			snprintf(r, sizeof(r), "%.2fx", ratio);
		v = verdict(f, ratio);
		if (strcmp(v, "MISS") == 0 || strcmp(v, "FAIL") == 0)
			misses++;
		printf("%-38s %12s %12s %8s  %-13s %s\n", f->label, a, b, r,
		    f->target, v);
	}
	printf("targets missed: %d   (FAIL: not measured; a trailing ! marks a "
	    "figure from an incomplete run)\n", misses);
}

static void
write_tsv(const char *path)
{
	FILE *f = fopen(path, "w");
	int i;

	if (f == NULL) {
		note("%s: %s", path, strerror(errno));
		return;
	}
	for (i = 0; i < F_COUNT; i++)
		fprintf(f, "%s\t%.6g\t%.6g\t%d\t%d\n", fig[i].key, fig[i].v[0],
		    fig[i].v[1], fig[i].failed[0], fig[i].failed[1]);
	fclose(f);
}

static int
cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* -m: the table of medians of earlier runs' TSV files. */
static int
medians(int nfiles, char **files)
{
	double vals[F_COUNT][2][64];
	int cnt[F_COUNT][2] = { { 0 } }, i, j, s, fa, fb;
	char key[64], line[256];
	double a, b;
	FILE *f;

	if (nfiles > 64)
		nfiles = 64;
	for (i = 0; i < F_COUNT; i++)
		fig[i].v[0] = fig[i].v[1] = NAN;
	for (j = 0; j < nfiles; j++) {
		if ((f = fopen(files[j], "r")) == NULL) {
			note("%s: %s", files[j], strerror(errno));
			return 2;
		}
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "%63s %lf %lf %d %d", key, &a, &b, &fa,
			    &fb) == 5)
				for (i = 0; i < F_COUNT; i++) {
					if (strcmp(key, fig[i].key) != 0)
						continue;
					if (!isnan(a))
						vals[i][0][cnt[i][0]++] = a;
					if (!isnan(b))
						vals[i][1][cnt[i][1]++] = b;
					fig[i].failed[0] |= fa;
					fig[i].failed[1] |= fb;
				}
		fclose(f);
	}
	for (i = 0; i < F_COUNT; i++)
		for (s = 0; s < 2; s++) {
			int n = cnt[i][s];
			if (n == 0)
				continue;
			qsort(vals[i][s], (size_t)n, sizeof(double), cmp_d);
			fig[i].v[s] = n % 2 ? vals[i][s][n / 2] :
			    (vals[i][s][n / 2 - 1] + vals[i][s][n / 2]) / 2;
		}
	snprintf(line, sizeof(line), "medians of %d runs (ratio = median "
	    "wspubsub / median raw)", nfiles);
	print_table(line);
	return 0;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: wsbench [-k] [-s server] [-r redis-server] [-o figures]\n"
	    "               [-n throughput-msgs] [-t out.tsv] [-w wrapper]\n"
	    "       wsbench -m run1.tsv run2.tsv ...\n"
	    "  -o  figures to run, a subset of 12345 (default all)\n"
	    "  -w  command line put before the server's (e.g. valgrind ...)\n"
	    "  -k  keep the temporary directory with the logs\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct rlimit rl;
	struct sigaction sa;
	char la0[64], la1[64], title[512];
	int ch, side, i, medmode = 0;
	int64_t t_start;
	unsigned limit_s = 280;

	while ((ch = getopt(argc, argv, "kmn:o:r:s:t:w:T:")) != -1)
		switch (ch) {
		case 'k': keep_tmp = 1; break;
		case 'm': medmode = 1; break;
		case 'n': tp_n = atoi(optarg); break;
		case 'o': only = optarg; break;
		case 'r': redis_bin = optarg; break;
		case 's': server_bin = optarg; break;
		case 't': tsv_path = optarg; break;
		case 'w': wrapper = optarg; break;
		case 'T': limit_s = (unsigned)atoi(optarg); break;
		default: usage();
		}
	if (medmode)
		return optind < argc ? medians(argc - optind, argv + optind) :
		    (usage(), 2);
	if (optind != argc || tp_n <= 0)
		usage();
	if (access(server_bin, X_OK) != 0)
		die("%s: %s (run make first)", server_bin, strerror(errno));
	for (i = 0; i < F_COUNT; i++)
		fig[i].v[0] = fig[i].v[1] = NAN;

	setvbuf(stdout, NULL, _IOLBF, 0);
	/* Every connection is a descriptor here, in the master and Redis. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < MEM_N2 + 1000 && strpbrk(only, "45"))
		note("open-files limit %lu is too low for %d connections",
		    (unsigned long)rl.rlim_cur, MEM_N2);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fatal;
	sigaction(SIGALRM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	alarm(limit_s);		/* the watchdog: make bench stays bounded */

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/wsbench.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		die("mkdtemp: %s", strerror(errno));
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		die("epoll_create1: %s", strerror(errno));

	loadavg(la0, sizeof(la0));
	t_start = now_ns();
	start_redis();
	start_wspubsub();
	pub_start();
	note("redis-server on %d, %s on %d (%d spare children), open files "
	    "%lu, load average %s", redis_port, server_bin, ws_port, SPARES,
	    (unsigned long)rl.rlim_cur, la0);

	if (strchr(only, '3'))
		fork_floor();	/* first, while this process is small */
	/* Each figure: wspubsub first, then the raw subscriber. */
	for (side = 0; side < 2; side++)
		if (strchr(only, '1')) {
			note("1. latency (%s)", side_name[side]);
			fig_latency(side);
		}
	for (side = 0; side < 2; side++)
		if (strchr(only, '2')) {
			note("2. throughput (%s)", side_name[side]);
			fig_throughput(side);
		}
	for (side = 0; side < 2; side++)
		if (strchr(only, '3')) {
			note("3. connection rate (%s)", side_name[side]);
			cr_alone(side);
			fig_connrate(side);
		}
	/*
	 * Raw first here: a "before" snapshot taken just after wspubsub's
	 * 10,000 processes exit would see the kernel still freeing them.
	 */
	for (side = 1; side >= 0; side--)
		if (strchr(only, '4') || strchr(only, '5')) {
			note("4./5. memory and fan-out (%s)", side_name[side]);
			fig_memory_fanout(side, strchr(only, '4') != NULL,
			    strchr(only, '5') != NULL);
		}

	loadavg(la1, sizeof(la1));
	snprintf(title, sizeof(title), "wspubsub benchmark: %ld CPUs, %.0f s; "
	    "load average %s at start, %s at end",
	    sysconf(_SC_NPROCESSORS_ONLN), (now_ns() - t_start) / 1e9, la0,
	    la1);
	print_table(title);
	if (tsv_path)
		write_tsv(tsv_path);
	if (any_failed)
		keep_tmp = 1;
	redisFree(pub.rc);
	redisFree(adm);
	cleanup();
	return any_failed ? 1 : 0;
}
