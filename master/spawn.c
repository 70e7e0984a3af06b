/*
 * spawn.c -- pre-fork spares and hand each a client.
 *
 * A spare is forked before it is needed and waits on its end of a
 * SOCK_SEQPACKET socketpair.  The master accepts, sends the client socket
 * over the pair (SCM_RIGHTS) with the peer's address, and forgets its end:
 * from then on the child owns the client alone, so neither a master that
 * is killed nor one that restarts drops the connection.  An EOF on the
 * channel tells a spare that it is no longer wanted.
 *
 * With max_clients_per_child above 1, a child whose client has gone comes
 * back (spare_again): it sends the master end of a new channel over the
 * way back, and the master lists it as a spare again.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <bsd/string.h>
#include <bsd/unistd.h>

#include "../child/child.h"
#include "../child/signals.h"
#include "../child/stats.h"
#include "../child/subscriber.h"
#include "log.h"
#include "proc.h"
#include "sandbox.h"
#include "scoreboard.h"

#define CHAN_FD		3	/* where a child keeps its channel */
#define LOG_FD		4	/* its log file, if there is one */
#define BACK_FD		5	/* and the way back to the pool, if reused */

#define RETURNS_BATCH	64
/* A reused child whose peak memory grew by more than this exits. */
#define REUSE_RSS_GROWTH_KB	(8 * 1024)

/*
 * The way back to the spare pool (max_clients_per_child above 1): one
 * datagram socketpair whose master end is back[0]; every reusable child
 * holds back[1].  The master learns who wrote from the kernel
 * (SO_PASSCRED), never from what a child says.
 */
static int	back[2] = { -1, -1 };

static void
child_signals_reset(void)
{
	struct sigaction sa;
	sigset_t none;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/*
	 * A terminal's ^C or hangup reaches every process in the group; a
	 * spare leaves when the master closes its channel instead.
	 */
	sa.sa_handler = SIG_IGN;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/*
 * A woken child then waits for the running task's time slice instead of
 * preempting it: when one PUBLISH wakes thousands of children, Redis
 * writes to all of their sockets without being switched out at each one
 * (contrib/bench/README.md, "Fan-out").
 */
void
spawn_batch(const struct conf *conf)
{
	struct sched_param sp;

	memset(&sp, 0, sizeof(sp));
	if (conf->batch_scheduling &&
	    sched_setscheduler(0, SCHED_BATCH, &sp) == -1)
		log_debug("SCHED_BATCH: %s", strerror(errno));
}

/*
 * In a new child: its own log prefix and signals, and only stdio, chan
 * (at CHAN_FD), a log file (at LOG_FD) and the way back (at BACK_FD)
 * left open, each of them only if there is one (not -1).
 */
static void
child_begin(const char *name, int chan, int way_back)
{
	int keep[3], i;

	log_procinit(name);
	/*
	 * The syslog socket is about to be closed below; forget it, or a
	 * later syslog() would write into whatever descriptor takes its
	 * number (the client, or Redis).  Only a child that logs to syslog
	 * calls syslog(); the others leave libc's state alone (closelog()
	 * dirties a page of it).
	 */
	if (log_getfd() == -1)
		closelog();
	child_signals_reset();
	/*
	 * Keep each at its known place; nothing else is ours.  They are
	 * moved out of the way first, since one may sit where another goes.
	 */
	keep[0] = chan;
	keep[1] = log_getfd() > STDERR_FILENO ? log_getfd() : -1;
	keep[2] = way_back;
	for (i = 0; i < 3; i++)
		if (keep[i] != -1 &&
		    (keep[i] = fcntl(keep[i], F_DUPFD, BACK_FD + 1)) == -1)
			_exit(1);
	for (i = 0; i < 3; i++) {
		if (keep[i] == -1)
			close(CHAN_FD + i);
		else if (dup2(keep[i], CHAN_FD + i) == -1)
			_exit(1);
	}
	closefrom(BACK_FD + 1);
	if (keep[1] != -1)
		log_setfd(LOG_FD);
}

/* Send fd over sock with the bytes of buf: 0, or -1 with errno. */
static int
send_fd(int sock, int fd, const void *buf, size_t len)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cmsg;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg;
	struct cmsghdr *cm;

	memset(&msg, 0, sizeof(msg));
	memset(&cmsg, 0, sizeof(cmsg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cmsg.buf;
	msg.msg_controllen = sizeof(cmsg.buf);
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT) == -1 ? -1 : 0;
}

/*
 * Wait on chan for a client: its socket, with '0' + how and the peer's
 * address in msgbuf.  Exits when the master closes chan (retired).
 */
static int
spare_wait(int chan, char *msgbuf, size_t size)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cmsg;
	struct iovec iov = { .iov_base = msgbuf, .iov_len = size - 1 };
	struct msghdr msg;
	struct cmsghdr *cm;
	ssize_t n;
	int fd = -1;

	for (;;) {
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = cmsg.buf;
		msg.msg_controllen = sizeof(cmsg.buf);
		n = recvmsg(chan, &msg, MSG_CMSG_CLOEXEC);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(0);	/* retired, or the master is gone */
		break;
	}
	msgbuf[n] = '\0';
	if ((cm = CMSG_FIRSTHDR(&msg)) != NULL &&
	    cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
	    cm->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	if (fd == -1 || n < 2) {
		log_warnx("handoff without a descriptor");
		_exit(1);
	}
	return fd;
}

static long
peak_rss_kb(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : 0;
}

/*
 * May this child serve another client?  Not with settings older than the
 * master's (a reload since the fork: gen), not when asked to stop, and
 * not once its memory grew (a client's large messages).
 */
static int
fit_again(int gen, long rss0)
{
	long rss;

	if (child_stop)
		return 0;
	if (stats_generation() != gen) {
		log_debug("configuration reloaded since the fork; exiting");
		return 0;
	}
	if ((rss = peak_rss_kb()) > rss0 + REUSE_RSS_GROWTH_KB) {
		log_info("memory grew from %ld to %ld KiB; exiting", rss0,
		    rss);
		return 0;
	}
	return 1;
}

/*
 * Back to the pool: a new channel, whose master end is sent over the way
 * back.  Returns our end, or -1 (the master is gone or busy: exit).
 */
static int
spare_again(int way_back)
{
	int pair[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) == -1)
		return -1;
	if (send_fd(way_back, pair[0], "s", 1) == -1) {
		log_debug("back to the pool: %s; exiting", strerror(errno));
		close(pair[0]);
		close(pair[1]);
		return -1;
	}
	close(pair[0]);
	return pair[1];
}

/*
 * Serve the clients handed over chan, one at a time: one, or up to
 * max_clients_per_child when the way back is open.  Never returns.
 */
static void __attribute__((noreturn))
spare_main(const struct conf *conf, int chan, int way_back, int gen)
{
	char msgbuf[1 + PEER_MAX];	/* '0' + how (CHILD_TLS...), the peer */
	int fd, how, served = 0;
	long rss0;

	setproctitle("spare");
	child_prepare(&conf->child);
	rss0 = peak_rss_kb();
	if (sandbox_enter(conf) == -1)
		_exit(1);
	for (;;) {
		fd = spare_wait(chan, msgbuf, sizeof(msgbuf));
		close(chan);
		how = (msgbuf[0] - '0') & (CHILD_TLS | CHILD_PROXY);
		if (way_back != -1 && ++served < conf->max_clients_per_child)
			how |= CHILD_AGAIN;
		/* A refused handshake is the client's failure, not ours. */
		if (child_serve(&conf->child, fd, msgbuf + 1, how) != 1)
			_exit(0);
		/* A SIGTERM that came after the client's close ends us here. */
		child_signals_reset();
		if (!fit_again(gen, rss0))
			_exit(0);
		setproctitle("spare");
		stats_state(SLOT_SPARE, NULL, NULL);
		if ((chan = spare_again(way_back)) == -1)
			_exit(0);
	}
}

/* The way back, opened when the first reusable child is forked. */
static int
back_open(void)
{
	int on = 1;

	if (back[0] != -1)
		return 0;
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, back) == -1) {
		log_warn("socketpair");
		return -1;
	}
	if (setsockopt(back[0], SOL_SOCKET, SO_PASSCRED, &on,
	    sizeof(on)) == -1 || fcntl(back[0], F_SETFL, O_NONBLOCK) == -1) {
		log_warn("the way back to the spare pool");
		spawn_back_close();
		return -1;
	}
	return 0;
}

int
spawn_back_fd(void)
{
	return back[0];
}

void
spawn_back_close(void)
{
	if (back[0] != -1) {
		close(back[0]);
		close(back[1]);
	}
	back[0] = back[1] = -1;
}

struct proc *
spawn_spare(const struct conf *conf)
{
	struct proc *p;
	struct timespec ts;
	int pair[2], slot, gen, way_back;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) == -1) {
		log_warn("socketpair");
		return NULL;
	}
	gen = conf->child.stats != NULL ? conf->child.stats->generation : 0;
	way_back = conf->max_clients_per_child > 1 && back_open() == 0 ?
	    back[1] : -1;
	slot = scoreboard_claim(conf->child.stats);
	switch ((pid = fork())) {
	case -1:
		log_warn("fork");
		scoreboard_release(conf->child.stats, slot);
		close(pair[0]);
		close(pair[1]);
		return NULL;
	case 0:
		child_begin("child", pair[1], way_back);
		spawn_batch(conf);
		stats_attach(conf->child.stats, slot);
		spare_main(conf, CHAN_FD, way_back != -1 ? BACK_FD : -1, gen);
	}
	close(pair[1]);
	if ((p = proc_add(pid, pair[0])) == NULL) {
		log_warnx("out of memory for the child table");
		close(pair[0]);
		kill(pid, SIGKILL);
		return NULL;	/* the slot is released when it is reaped */
	}
	p->slot = slot;
	p->gen = gen;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	p->idle_since = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	log_debug("spare %ld forked", (long)pid);
	return p;
}

/*
 * A short-lived process that makes sure Redis has the history library,
 * at start and after SIGHUP, so that the master never waits on Redis.
 * It is not in the table of children: reaping it is all there is.
 */
pid_t
spawn_loader(const struct conf *conf)
{
	pid_t pid;

	if ((pid = fork()) == -1) {
		log_warn("fork");
		return -1;
	}
	if (pid == 0) {
		child_begin("history", -1, -1);
		setproctitle("history loader");
		_exit(sub_install_library(&conf->child) == 0 ? 0 : 1);
	}
	return pid;
}

int
spawn_handoff(struct proc *p, int fd, const char *peer, int how)
{
	char msgbuf[1 + PEER_MAX];

	msgbuf[0] = (char)('0' + (how & (CHILD_TLS | CHILD_PROXY)));
	strlcpy(msgbuf + 1, peer, sizeof(msgbuf) - 1);
	if (send_fd(p->chan, fd, msgbuf, 1 + strlen(msgbuf + 1)) == -1) {
		log_warn("handoff to child %ld", (long)p->pid);
		return -1;
	}
	close(p->chan);
	p->chan = -1;
	p->state = PROC_BUSY;
	strlcpy(p->peer, peer, sizeof(p->peer));
	return 0;
}

/*
 * Children back from a client, each with a new channel: spares again,
 * unless the sender is no busy child of ours, or was forked before the
 * last reload (its settings are old): closing the channel retires it.
 * Returns how many came back.
 */
int
spawn_returned(struct stats *sb, int64_t now)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int)) +
				    CMSG_SPACE(sizeof(struct ucred))];
	} cmsg;
	char byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg;
	struct cmsghdr *cm;
	struct ucred cred;
	struct proc *p;
	int i, fd, have_cred, n = 0;

	for (i = 0; back[0] != -1 && i < RETURNS_BATCH; i++) {
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = cmsg.buf;
		msg.msg_controllen = sizeof(cmsg.buf);
		if (recvmsg(back[0], &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) ==
		    -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				log_warn("the way back to the spare pool");
			break;
		}
		fd = -1;
		have_cred = 0;
		for (cm = CMSG_FIRSTHDR(&msg); cm != NULL;
		    cm = CMSG_NXTHDR(&msg, cm)) {
			if (cm->cmsg_level != SOL_SOCKET)
				continue;
			if (cm->cmsg_type == SCM_RIGHTS && fd == -1 &&
			    cm->cmsg_len == CMSG_LEN(sizeof(int)))
				memcpy(&fd, CMSG_DATA(cm), sizeof(int));
			else if (cm->cmsg_type == SCM_CREDENTIALS &&
			    cm->cmsg_len == CMSG_LEN(sizeof(cred))) {
				memcpy(&cred, CMSG_DATA(cm), sizeof(cred));
				have_cred = 1;
			}
		}
		p = have_cred ? proc_find(cred.pid) : NULL;
		if (fd == -1 || p == NULL || p->state != PROC_BUSY ||
		    sb == NULL || p->gen != sb->generation) {
			if (fd != -1)
				close(fd);
			continue;
		}
		p->chan = fd;
		p->state = PROC_SPARE;
		p->peer[0] = '\0';
		p->idle_since = now;
		p->served++;
		__atomic_fetch_add(&sb->reused, 1, __ATOMIC_RELAXED);
		n++;
	}
	return n;
}
