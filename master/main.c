/*
 * main.c -- the wspubsub master: read the configuration, bind, keep a
 * pool of spare children, hand each accepted client to one, reap them,
 * and act on signals (SIGHUP reloads, SIGTERM and SIGINT shut down,
 * SIGUSR2 leaves the busy children serving and exits, for an upgrade).
 * With -i it serves one client on standard input instead (inetd).
 *
 * Signals are blocked except inside ppoll(2), and their handlers only set
 * flags, so the loop never misses one and never runs code in a handler.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <bsd/libutil.h>
#include <bsd/unistd.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "../ws/ws.h"
#include "conf.h"
#include "listen.h"
#include "log.h"
#include "priv.h"
#include "proc.h"
#include "sandbox.h"
#include "scoreboard.h"
#include "systemd.h"
#include "tls.h"

#define WSPUBSUB_VERSION	"0.1.0"
#define ACCEPT_BATCH		64
#define ACCEPT_PAUSE_MS		1000	/* after EMFILE/ENFILE */
#define THROTTLE_MS		1000	/* after spares die unused */
#define REFUSED_MAX		64	/* 503s waiting for the peer */
#define REFUSED_LINGER_MS	1000
#define SPARE_IDLE_MS		10000	/* a surplus spare then exits */

static volatile sig_atomic_t got_sighup, got_sigterm, got_sigchld, got_sigusr2;

static struct conf	 conf;
static const char	*conf_path = "wspubsub.conf";
static int		 conf_dirfd = -1;	/* kept across chroot */
static struct stats	*scoreboard;
static struct pidfh	*pidfh;
static int64_t		 accept_paused_until, spawn_throttled_until;
static int64_t		 trim_due;	/* surplus spares, 0 = none */
static int		 full_logged;

/*
 * A refused client is answered at once, then kept until it has read the
 * answer (EOF) or a second has passed: closing a socket with unread input
 * sends a reset, and the reset can destroy the answer in flight.
 */
static struct refused {
	int	fd;
	int64_t	until;
} refused[REFUSED_MAX];
static int nrefused;

static void
on_signal(int sig)
{
	switch (sig) {
	case SIGHUP:
		got_sighup = 1;
		break;
	case SIGCHLD:
		got_sigchld = 1;
		break;
	case SIGUSR2:
		got_sigusr2 = 1;
		break;
	default:
		got_sigterm = 1;
	}
}

static int64_t
monotime_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
open_conf_dir(void)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(conf_path, '/');

	if (slash == NULL)
		return open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if ((size_t)(slash - conf_path) + 1 >= sizeof(dir))
		return -1;
	memcpy(dir, conf_path, (size_t)(slash - conf_path) + 1);
	dir[slash - conf_path + 1] = '\0';
	return open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static void __attribute__((noreturn))
usage(int help)
{
	fprintf(help ? stdout : stderr,
	    "usage: wspubsub [-DhitTv] [-f file]\n");
	exit(help ? 0 : 2);
}

static void
title_update(void)
{
	if (scoreboard != NULL)
		scoreboard->spare = proc_count(PROC_SPARE);
	setproctitle("master [%d/%d clients, %d spare]",
	    proc_count(PROC_BUSY), conf.max_connections,
	    proc_count(PROC_SPARE));
}

static void
refuse(int fd, int status, int tls)
{
	const char *body = status == 429 ? "too many connections from here" :
	    "server is full";

	if (scoreboard != NULL)
		__atomic_fetch_add(status == 429 ? &scoreboard->refused_per_ip :
		    &scoreboard->refused_full, 1, __ATOMIC_RELAXED);
	if (tls) {
		/* No TLS in the master: a plaintext answer would be noise. */
		close(fd);
		return;
	}
	char resp[256];
	int n;

	n = snprintf(resp, sizeof(resp), "HTTP/1.1 %d %s\r\n"
	    "Content-Type: text/plain\r\nContent-Length: %zu\r\n"
	    "Retry-After: 1\r\nConnection: close\r\n\r\n%s\n", status,
	    status == 429 ? "Too Many Requests" : "Service Unavailable",
	    strlen(body) + 1, body);
	/* A fresh socket's send buffer takes this whole. */
	if (n > 0 && (size_t)n < sizeof(resp))
		(void)send(fd, resp, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	shutdown(fd, SHUT_WR);
	if (nrefused == REFUSED_MAX) {
		close(fd);
		return;
	}
	refused[nrefused].fd = fd;
	refused[nrefused].until = monotime_ms() + REFUSED_LINGER_MS;
	nrefused++;
}

static void
refused_drain(const struct pollfd *pfd, int n, int64_t now)
{
	char buf[1024];
	int i;

	/* pfd[i] was built from refused[i]; newer entries were not polled. */
	for (i = 0; i < n; i++)
		if (pfd[i].revents && read(refused[i].fd, buf,
		    sizeof(buf)) <= 0)
			refused[i].until = 0;
	for (i = 0; i < nrefused; ) {
		if (now < refused[i].until) {
			i++;
			continue;
		}
		close(refused[i].fd);
		refused[i] = refused[--nrefused];
	}
}

static void
reap(int64_t now)
{
	int idle = reap_children(conf.child.stats);

	if (idle > 0 && !got_sigterm) {
		/* Spares should not die unused: something is wrong. */
		log_warnx("%d spare(s) died before serving; throttling "
		    "for %d ms", idle, THROTTLE_MS);
		spawn_throttled_until = now + THROTTLE_MS;
	}
}

/* Give the client on fd to a spare, forking one if none is ready. */
static void
dispatch(int fd, const char *peer, int how)
{
	int tls = how & CHILD_TLS;
	struct proc *p;
	int tries;

	/* Children that have just exited no longer count against the limit. */
	if (proc_count(PROC_BUSY) >= conf.max_connections)
		reap(monotime_ms());
	if (proc_count(PROC_BUSY) >= conf.max_connections) {
		if (!full_logged) {
			log_warnx("max_connections (%d) reached, refusing "
			    "clients", conf.max_connections);
			full_logged = 1;
		}
		refuse(fd, 503, tls);
		return;
	}
	if (full_logged) {
		log_info("accepting clients again");
		full_logged = 0;
	}
	/* Behind a PROXY listener every peer is the proxy: no such limit. */
	if (conf.max_connections_per_ip > 0 && !(how & CHILD_PROXY) &&
	    proc_count_host(peer) >= conf.max_connections_per_ip) {
		log_info("%s: max_connections_per_ip (%d) reached", peer,
		    conf.max_connections_per_ip);
		refuse(fd, 429, tls);
		return;
	}
	for (tries = 0; tries < 3; tries++) {
		if ((p = proc_spare()) == NULL &&
		    (p = spawn_spare(&conf)) == NULL)
			break;
		if (spawn_handoff(p, fd, peer, how) == 0) {
			close(fd);
			return;
		}
		/* That spare is gone; it will be reaped. */
		close(p->chan);
		p->chan = -1;
		p->state = PROC_RETIRING;
	}
	log_warnx("%s: no child to serve the client", peer);
	refuse(fd, 503, tls);
}

static void
accept_clients(int lfd)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char peer[PEER_MAX];
	int fd, i;

	for (i = 0; i < ACCEPT_BATCH; i++) {
		len = sizeof(ss);
		fd = accept4(lfd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE) {
				log_warn("accept: pausing for %d ms",
				    ACCEPT_PAUSE_MS);
				accept_paused_until = monotime_ms() +
				    ACCEPT_PAUSE_MS;
			} else if (errno != EAGAIN)
				log_warn("accept");
			return;
		}
		sockaddr_name(&ss, peer, sizeof(peer));
		dispatch(fd, peer, listen_how(lfd));
	}
}

static void
spares_refill(int64_t now)
{
	int have = proc_count(PROC_SPARE);

	if (now < spawn_throttled_until)
		return;
	while (have < conf.spare_children) {
		if (spawn_spare(&conf) == NULL) {
			spawn_throttled_until = now + THROTTLE_MS;
			return;
		}
		have++;
	}
}

/*
 * After chroot the configuration's path may not resolve any more: it is
 * opened through the directory descriptor kept from before.
 */
static int
reload_read(struct conf *next)
{
	const char *base = strrchr(conf_path, '/');
	FILE *f;
	int fd, rc;

	if (conf_dirfd == -1)
		return conf_load(next, conf_path);
	base = base ? base + 1 : conf_path;
	if ((fd = openat(conf_dirfd, base, O_RDONLY | O_CLOEXEC)) == -1 ||
	    (f = fdopen(fd, "r")) == NULL) {
		log_warn("%s", conf_path);
		if (fd != -1)
			close(fd);
		return -1;
	}
	rc = conf_read(next, f, conf_path);
	fclose(f);
	return rc;
}

/*
 * A socket from systemd named "tls" needs the TLS context even when no
 * "listen ... tls" line made conf_check() load it.
 */
static int
tls_for_activated(struct conf *c)
{
	char err[256];

	if (c->child.tls_ctx != NULL || !listen_any_tls())
		return 0;
	if (c->tls_certificate[0] == '\0' || c->tls_key[0] == '\0') {
		log_error("a socket named \"tls\" was passed but "
		    "tls_certificate and tls_key are not both set");
		return -1;
	}
	if ((c->child.tls_ctx = tls_ctx_load(c->tls_certificate, c->tls_key,
	    err, sizeof(err))) == NULL) {
		log_error("TLS: %s", err);
		return -1;
	}
	return 0;
}

static void
reload(void)
{
	static struct conf next, old;
	int failed;

	log_info("SIGHUP: reloading %s", conf_path);
	systemd_notify("RELOADING=1");
	if (reload_read(&next) == -1) {
		log_error("%s: not reloaded, keeping the running "
		    "configuration", conf_path);
		systemd_notify("READY=1");
		return;
	}
	if (tls_for_activated(&next) == -1 ||
	    conf_resolve(&next, conf_path) == -1 ||
	    sandbox_prepare(&next) == -1) {
		log_error("%s: not reloaded, keeping the running "
		    "configuration", conf_path);
		conf_free(&next);
		systemd_notify("READY=1");
		return;
	}
	if (strcmp(next.user, conf.user) != 0 ||
	    strcmp(next.group, conf.group) != 0 ||
	    strcmp(next.chroot, conf.chroot) != 0) {
		log_warnx("user, group and chroot changes take effect at the "
		    "next start");
		/* What runs is what -T and the next reload compare with. */
		memcpy(next.user, conf.user, sizeof(next.user));
		memcpy(next.group, conf.group, sizeof(next.group));
		memcpy(next.chroot, conf.chroot, sizeof(next.chroot));
	}
	old = conf;
	conf = next;
	conf_free(&old);
	conf.child.stats = scoreboard;
	log_setlevel(conf.log_level);
	if (log_open(conf.log_target, conf.syslog_facility) == -1)
		log_warn("log_target %s", conf.log_target);
	if ((failed = listen_update(&conf)) > 0)
		log_error("%d listen address(es) could not be bound", failed);
	/* Busy children forked before now will not come back as spares. */
	if (scoreboard != NULL)
		scoreboard->generation++;
	proc_retire_spares();
	spawn_throttled_until = 0;
	if (scoreboard != NULL)
		scoreboard->history_warned = 0;	/* say it again if need be */
	if (conf.child.history)
		(void)spawn_loader(&conf);
	log_info("configuration reloaded");
	systemd_notify("READY=1");
}

/* Point f at /dev/null; without one (a chroot) f is left closed: as good. */
static void
to_null(FILE *f, const char *mode)
{
	if (freopen("/dev/null", mode, f) == NULL)
		return;
}

/*
 * -i: serve the one client on standard input, as inetd and systemd's
 * Accept=yes run us, with no master.  Under inetd standard error is the
 * socket too, so logging moves to syslog unless a file is configured.
 */
static int
inetd_main(void)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct stat st;
	char peer[PEER_MAX];
	int fd, err_is_socket;

	err_is_socket = fstat(STDERR_FILENO, &st) == 0 && S_ISSOCK(st.st_mode);
	if (strcmp(conf.log_target, "stderr") == 0 && err_is_socket)
		log_open("syslog", conf.syslog_facility);
	else if (log_open(conf.log_target, conf.syslog_facility) == -1)
		fatal("log_target %s", conf.log_target);
	log_procinit("inetd");
	if (getpeername(STDIN_FILENO, (struct sockaddr *)&ss, &len) == -1)
		fatal("-i: standard input is not a connected socket");
	sockaddr_name(&ss, peer, sizeof(peer));
	if (OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, NULL) != 1)
		fatalx("OpenSSL initialisation failed");
	if (priv_drop(&conf) == -1)
		fatalx("could not drop privileges; exiting");
	spawn_batch(&conf);
	/* Keep one descriptor for the client, so closing it ends TCP. */
	if ((fd = dup(STDIN_FILENO)) == -1)
		fatal("dup");
	if (err_is_socket)
		to_null(stderr, "w");
	to_null(stdin, "r");
	to_null(stdout, "w");
	if (sandbox_prepare(&conf) == -1 || sandbox_enter(&conf) == -1)
		fatalx("could not enter the sandbox; exiting");
	child_serve(&conf.child, fd, peer, conf.inetd_tls ? CHILD_TLS : 0);
	return 0;
}

/*
 * SIGUSR2, for a binary upgrade: stop accepting and leave, but let the
 * children that serve clients finish on their own.  A new master (the
 * new binary) then binds the same addresses.
 */
static void
upgrade_exit(void)
{
	log_info("SIGUSR2: leaving %d clients to their children and exiting",
	    proc_count(PROC_BUSY));
	systemd_notify("STOPPING=1");
	listen_close_all();
	spawn_back_close();
	proc_retire_spares();
	if (pidfh != NULL)
		pidfile_remove(pidfh);
	exit(0);
}

/* Stop accepting, tell every child, wait up to shutdown_timeout. */
static void
shutdown_all(const sigset_t *waitmask)
{
	int64_t end = monotime_ms() + conf.shutdown_timeout, left;
	struct timespec ts;
	int i;

	log_info("shutting down %d children", proc_total());
	systemd_notify("STOPPING=1");
	if (scoreboard != NULL)
		scoreboard->shutting_down = 1;
	listen_close_all();
	for (i = 0; i < nrefused; i++)
		close(refused[i].fd);
	nrefused = 0;
	spawn_back_close();		/* no child comes back */
	proc_retire_spares();		/* spares exit on EOF */
	proc_signal(SIGTERM, 1);	/* busy children close with 1001 */
	setproctitle("master [shutting down]");
	while (proc_total() > 0 && (left = end - monotime_ms()) > 0) {
		ts.tv_sec = left / 1000;
		ts.tv_nsec = (left % 1000) * 1000000;
		got_sigchld = 0;
		reap_children(conf.child.stats);
		if (proc_total() == 0)
			break;
		(void)ppoll(NULL, 0, &ts, waitmask);
	}
	reap_children(conf.child.stats);
	if (proc_total() > 0) {
		log_warnx("%d children still running after %d ms; killing",
		    proc_total(), conf.shutdown_timeout);
		proc_signal(SIGKILL, 0);
		while (proc_total() > 0) {
			pid_t pid = waitpid(-1, NULL, 0);
			if (pid == -1 && errno != EINTR)
				break;
			if (pid > 0 && proc_find(pid) != NULL)
				proc_remove(proc_find(pid));
		}
	}
	log_info("exiting");
}

/*
 * ppoll() runs the handler of a signal that arrives while it sleeps, but
 * one that is pending when descriptors are ready stays pending, blocked
 * again on return.  Under a steady stream of clients the listener is
 * always ready: SIGCHLD would wait and exited children pile up as
 * zombies that still count as clients, and SIGTERM would wait too.
 * Open the mask for a moment on every turn to take what is pending.
 */
static void
signals_let_in(const sigset_t *waitmask)
{
	sigset_t blocked;

	if (sigprocmask(SIG_SETMASK, waitmask, &blocked) == -1)
		fatal("sigprocmask");
	if (sigprocmask(SIG_SETMASK, &blocked, NULL) == -1)
		fatal("sigprocmask");
}

/*
 * Listening, titled and with the spares forked: only now say so, with the
 * pidfile, to systemd and in the log.  A pidfile promises a master that
 * is up, as sshd's and nginx's do.
 */
static void
master_ready(void)
{
	int abi;

	if (pidfh != NULL && pidfile_write(pidfh) == -1)
		fatal("pidfile %s", conf.pidfile);
	if (conf.child.history)
		(void)spawn_loader(&conf);
	systemd_notify("READY=1");
	log_info("wspubsub %s started: redis %s, %d spare children, "
	    "max %d connections", WSPUBSUB_VERSION,
	    conf.child.redis_socket[0] ? conf.child.redis_socket :
	    conf.child.redis_host, conf.spare_children, conf.max_connections);
	if (conf.child.sandbox && (abi = sandbox_landlock_abi()) > 0)
		log_info("children are sandboxed: seccomp, Landlock ABI %d",
		    abi);
	else if (conf.child.sandbox)
		log_info("children are sandboxed: seccomp (no Landlock in "
		    "this kernel)");
}

/*
 * Children that came back from a client are spares: those beyond
 * spare_children leave once idle for SPARE_IDLE_MS.
 */
static void
spares_trim(int64_t now)
{
	trim_due = proc_trim_spares(conf.spare_children, now, SPARE_IDLE_MS);
}

static void
master_loop(const sigset_t *waitmask)
{
	struct pollfd pfd[1 + LISTEN_MAX + REFUSED_MAX];
	struct timespec ts, *tsp;
	int64_t now, wake;
	int nb, nl, nr, n, i, ready = 0;

	for (;;) {
		now = monotime_ms();
		if (got_sigterm)
			return;
		if (got_sigusr2) {
			upgrade_exit();
			return;
		}
		if (got_sigchld) {
			got_sigchld = 0;
			reap(now);
		}
		if (got_sighup) {
			got_sighup = 0;
			reload();
		}
		spares_refill(now);
		spares_trim(now);
		title_update();
		if (!ready) {
			master_ready();
			ready = 1;
		}

		/* The way back first: the children in it serve this round. */
		nb = 0;
		if ((pfd[0].fd = spawn_back_fd()) != -1) {
			pfd[0].events = POLLIN;
			pfd[0].revents = 0;
			nb = 1;
		}
		nl = 0;
		if (now >= accept_paused_until)
			nl = listen_pollfds(pfd + nb, LISTEN_MAX);
		nr = nrefused;
		for (i = 0; i < nr; i++) {
			pfd[nb + nl + i].fd = refused[i].fd;
			pfd[nb + nl + i].events = POLLIN;
			pfd[nb + nl + i].revents = 0;
		}
		wake = trim_due;
		if (now < accept_paused_until &&
		    (wake == 0 || accept_paused_until < wake))
			wake = accept_paused_until;
		if (now < spawn_throttled_until &&
		    (wake == 0 || spawn_throttled_until < wake))
			wake = spawn_throttled_until;
		for (i = 0; i < nrefused; i++)
			if (wake == 0 || refused[i].until < wake)
				wake = refused[i].until;
		tsp = NULL;
		if (wake != 0) {
			int64_t d = wake - now;
			if (d < 0)
				d = 0;
			ts.tv_sec = d / 1000;
			ts.tv_nsec = (d % 1000) * 1000000;
			tsp = &ts;
		}
		n = ppoll(pfd, (nfds_t)(nb + nl + nr), tsp, waitmask);
		if (n == -1) {
			if (errno != EINTR)
				fatal("ppoll");
			continue;
		}
		signals_let_in(waitmask);
		if (nb && pfd[0].revents & POLLIN)
			(void)spawn_returned(scoreboard, monotime_ms());
		for (i = nb; i < nb + nl; i++)
			if (pfd[i].revents & POLLIN)
				accept_clients(pfd[i].fd);
		refused_drain(pfd + nb + nl, nr, monotime_ms());
	}
}

int
main(int argc, char *argv[], char *envp[])
{
	struct sigaction sa;
	sigset_t block, waitmask;
	EVP_MD *sha256;
	char accept[WS_ACCEPT_LEN + 1];
	int ch, test = 0, dump = 0, inetd = 0, detach = 0, activated;

	setproctitle_init(argc, argv, envp);
	log_init(LOG_LEVEL_INFO);
	while ((ch = getopt(argc, argv, "Df:hitTv")) != -1) {
		switch (ch) {
		case 'D':
			detach = 1;
			break;
		case 'i':
			inetd = 1;
			break;
		case 'f':
			conf_path = optarg;
			break;
		case 't':
			test = 1;
			break;
		case 'T':
			dump = 1;
			break;
		case 'v':
			printf("wspubsub %s\n", WSPUBSUB_VERSION);
			return 0;
		case 'h':
			usage(1);
		default:
			usage(0);
		}
	}
	if (optind != argc)
		usage(0);
	/*
	 * Under inetd standard error is the client's socket: nothing, not
	 * even a warning about the configuration, may be written there.
	 */
	if (inetd) {
		struct stat st;

		if (fstat(STDERR_FILENO, &st) == 0 && S_ISSOCK(st.st_mode))
			log_open("syslog", LOG_DAEMON);
	}

	if (conf_load(&conf, conf_path) == -1 ||
	    conf_resolve(&conf, conf_path) == -1) {
		if (test || dump)
			fprintf(stderr, "%s: configuration has errors\n",
			    conf_path);
		return 1;
	}
	if (dump) {
		conf_print(&conf, stdout);
		return 0;
	}
	if (test) {
		fprintf(stderr, "%s: configuration OK\n", conf_path);
		return 0;
	}
	log_setlevel(conf.log_level);
	if (inetd)
		return inetd_main();

	/*
	 * Load OpenSSL's configuration and providers once, here, instead of
	 * in every child: fetching SHA-256 (JWT and TLS use it) does it and
	 * leaves the method cached for the children.  The RFC 6455 sample
	 * accept key checks our own SHA-1 and base64.
	 */
	if (OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, NULL) != 1 ||
	    (sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL)
		fatalx("OpenSSL initialisation failed");
	EVP_MD_free(sha256);
	if (ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", accept) == -1 ||
	    strcmp(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") != 0)
		fatalx("Sec-WebSocket-Accept self-test failed");

	/* Nothing inherited beyond stdio (and systemd's sockets) is ours. */
	activated = systemd_adopt_listeners();
	closefrom(STDERR_FILENO + 1 + activated);
	if (tls_for_activated(&conf) == -1)
		fatalx("%s: configuration has errors", conf_path);
	if (sandbox_prepare(&conf) == -1)
		fatalx("could not prepare the sandbox; exiting");
	if (log_open(conf.log_target, conf.syslog_facility) == -1)
		fatal("log_target %s", conf.log_target);
	if (conf.pidfile[0] != '\0') {
		pid_t other;

		if ((pidfh = pidfile_open(conf.pidfile, 0644, &other)) == NULL) {
			if (errno == EEXIST)
				fatalx("already running as pid %ld (%s)",
				    (long)other, conf.pidfile);
			fatal("pidfile %s", conf.pidfile);
		}
	}
	if (detach || conf.daemonize) {
		if (conf_path[0] != '/' && (conf_path = realpath(conf_path,
		    NULL)) == NULL)
			fatal("realpath");
		if (strcmp(conf.log_target, "stderr") == 0) {
			log_open("syslog", conf.syslog_facility);
			log_info("detached: logging to syslog");
		}
		if (daemon(0, 0) == -1)
			fatal("daemon");
	}

	/* One slot per child the master may ever have at once. */
	if ((scoreboard = scoreboard_create(conf.max_connections +
	    conf.spare_children + 64)) == NULL)
		fatalx("could not create the scoreboard");
	conf.child.stats = scoreboard;

	sigemptyset(&block);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGCHLD);
	sigaddset(&block, SIGUSR2);
	if (sigprocmask(SIG_BLOCK, &block, &waitmask) == -1)
		fatal("sigprocmask");
	sigdelset(&waitmask, SIGHUP);
	sigdelset(&waitmask, SIGTERM);
	sigdelset(&waitmask, SIGINT);
	sigdelset(&waitmask, SIGCHLD);
	sigdelset(&waitmask, SIGUSR2);
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_signal;
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	if (listen_update(&conf) > 0)
		fatalx("could not listen on every address; exiting");
	if (conf.chroot[0] != '\0' && (conf_dirfd = open_conf_dir()) == -1)
		fatal("%s: directory", conf_path);
	if (priv_drop(&conf) == -1)
		fatalx("could not drop privileges; exiting");
	master_loop(&waitmask);
	shutdown_all(&waitmask);
	if (pidfh != NULL)
		pidfile_remove(pidfh);
	return 0;
}
