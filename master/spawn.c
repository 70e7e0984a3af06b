/*
 * spawn.c -- pre-fork spares and hand each a client.
 *
 * A spare is forked before it is needed and waits on its end of a
 * SOCK_SEQPACKET socketpair.  The master accepts, sends the client socket
 * over the pair (SCM_RIGHTS) with the peer's address, and forgets its end:
 * from then on the child owns the client alone, so neither a master that
 * is killed nor one that restarts drops the connection.  An EOF on the
 * channel tells a spare that it is no longer wanted.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/socket.h>

#include <bsd/string.h>
#include <bsd/unistd.h>

#include "../child/child.h"
#include "../child/subscriber.h"
#include "log.h"
#include "proc.h"
#include "scoreboard.h"

#define CHAN_FD	3	/* where a child keeps its channel */
#define LOG_FD	4	/* and its log file, if there is one */

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
 * In a new child: its own log prefix and signals, and only stdio, chan
 * (if not -1, at CHAN_FD) and a log file (at LOG_FD) left open.
 */
static void
child_begin(const char *name, int chan)
{
	int logfd;

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
	 * Keep stdio, the channel and a log file, each at a known place;
	 * nothing else is ours.  The log file is moved out of the way
	 * first, since it may sit where the channel goes.
	 */
	logfd = log_getfd();
	if (logfd > STDERR_FILENO &&
	    (logfd = fcntl(logfd, F_DUPFD, LOG_FD + 1)) == -1)
		_exit(1);
	if (chan != -1 && chan != CHAN_FD && dup2(chan, CHAN_FD) == -1)
		_exit(1);
	if (logfd > STDERR_FILENO) {
		if (dup2(logfd, LOG_FD) == -1)
			_exit(1);
		log_setfd(LOG_FD);
		closefrom(LOG_FD + 1);
	} else
		closefrom(CHAN_FD + 1);
	if (chan == -1)
		close(CHAN_FD);
}

/* Wait for a client on chan and serve it; never returns. */
static void __attribute__((noreturn))
spare_main(const struct conf *conf, int chan)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cmsg;
	char msgbuf[1 + PEER_MAX];	/* '0' + how (CHILD_TLS...), the peer */
	struct iovec iov = { .iov_base = msgbuf, .iov_len = sizeof(msgbuf) - 1 };
	struct msghdr msg;
	struct cmsghdr *cm;
	ssize_t n;
	int fd = -1;

	setproctitle("spare");
	child_prepare(&conf->child);
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
	close(chan);
	msgbuf[n] = '\0';
	if ((cm = CMSG_FIRSTHDR(&msg)) != NULL &&
	    cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
	    cm->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	if (fd == -1 || n < 2) {
		log_warnx("handoff without a descriptor");
		_exit(1);
	}
	/* A refused handshake is the client's failure, not the child's. */
	(void)child_serve(&conf->child, fd, msgbuf + 1,
	    (msgbuf[0] - '0') & (CHILD_TLS | CHILD_PROXY));
	_exit(0);
}

struct proc *
spawn_spare(const struct conf *conf)
{
	struct proc *p;
	int pair[2], slot;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) == -1) {
		log_warn("socketpair");
		return NULL;
	}
	slot = scoreboard_claim(conf->child.stats);
	switch ((pid = fork())) {
	case -1:
		log_warn("fork");
		scoreboard_release(conf->child.stats, slot);
		close(pair[0]);
		close(pair[1]);
		return NULL;
	case 0:
		child_begin("child", pair[1]);
		stats_attach(conf->child.stats, slot);
		spare_main(conf, CHAN_FD);
	}
	close(pair[1]);
	if ((p = proc_add(pid, pair[0])) == NULL) {
		log_warnx("out of memory for the child table");
		close(pair[0]);
		kill(pid, SIGKILL);
		return NULL;	/* the slot is released when it is reaped */
	}
	p->slot = slot;
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
		child_begin("history", -1);
		setproctitle("history loader");
		_exit(sub_install_library(&conf->child) == 0 ? 0 : 1);
	}
	return pid;
}

int
spawn_handoff(struct proc *p, int fd, const char *peer, int how)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cmsg;
	char msgbuf[1 + PEER_MAX];
	struct iovec iov = { .iov_base = msgbuf };
	struct msghdr msg;
	struct cmsghdr *cm;

	msgbuf[0] = (char)('0' + (how & (CHILD_TLS | CHILD_PROXY)));
	strlcpy(msgbuf + 1, peer, sizeof(msgbuf) - 1);
	iov.iov_len = 1 + strlen(msgbuf + 1);

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
	if (sendmsg(p->chan, &msg, MSG_NOSIGNAL | MSG_DONTWAIT) == -1) {
		log_warn("handoff to child %ld", (long)p->pid);
		return -1;
	}
	close(p->chan);
	p->chan = -1;
	p->state = PROC_BUSY;
	strlcpy(p->peer, peer, sizeof(p->peer));
	return 0;
}
