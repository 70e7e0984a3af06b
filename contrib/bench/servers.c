/*
 * servers.c -- start and stop the private redis-server and wspubsub, each
 * on a free loopback port, with their logs in a temporary directory.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <hiredis.h>

#include "servers.h"
#include "wsbench.h"

char tmpdir[64];
volatile pid_t redis_pid = -1;
static volatile pid_t ws_pid = -1;
pid_t master_pid = -1;	/* ws_pid, or below it with a wrapper */
int redis_port, ws_port;
redisContext *adm;		/* blocking, for INFO */
static const char *ws_extra = "";	/* more configuration lines */

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

void
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
void
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

void
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

/*
 * Wait until the master has `busy` clients' children plus its spares: at
 * least spare_children, or with `exact` no more.  With
 * max_clients_per_child > 1, children that served go back to the pool,
 * beyond spare_children, until they have been idle for 10 s.
 */
static int
settle(int busy, int exact, int secs)
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
		if (sp >= SPARES && n == busy + sp && (!exact || sp == SPARES))
			return 0;
		usleep(50000);
	}
	note("wspubsub did not settle in %d s: %d children, %d spare "
	    "(want %d busy + %d spare%s)", secs, n, sp, busy, SPARES,
	    exact ? "" : " or more");
	return -1;
}

int
ws_settle(int busy, int secs)
{
	return settle(busy, 0, secs);
}

int
ws_settle_pool(int secs)
{
	return settle(0, 1, secs);
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

void
start_wspubsub(void)
{
	char conf[128], port[16];
	char *argv[16];
	char *wcopy = NULL, *tok, *save;
	int argc = 0, fd, i;
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
	    "max_clients_per_child %d\n"
	    "max_connections 20000\n"
	    "ping_interval 0\n"
	    "shutdown_timeout 2s\n"
	    "log_level warning\n%s", ws_port, redis_port, SPARES,
	    clients_per_child, ws_extra);
	for (i = 0; i < nconf_extra; i++)
		fprintf(f, "%s\n", conf_extra[i]);
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

void
restart_wspubsub(const char *extra)
{
	stop_proc(&ws_pid, 10000);
	ws_extra = extra != NULL ? extra : "";
	start_wspubsub();
}
