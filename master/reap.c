/*
 * reap.c -- collect every exited child, say how it ended, free its slot.
 * A child that dies never takes the master with it.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "log.h"
#include "proc.h"
#include "sandbox.h"
#include "scoreboard.h"

/* The system call the sandbox caught in p, or -1. */
static int
trapped(const struct stats *sb, const struct proc *p)
{
	if (sb == NULL || p->slot < 0 || p->slot >= sb->nslots)
		return -1;
	return __atomic_load_n(&sb->slot[p->slot].trapped, __ATOMIC_RELAXED);
}

int
reap_children(struct stats *sb)
{
	struct proc *p;
	char name[64];
	int status, idle_deaths = 0;
	pid_t pid;

	for (;;) {
		pid = waitpid(-1, &status, WNOHANG);
		if (pid == -1 && errno == EINTR)
			continue;
		if (pid <= 0)
			break;		/* 0: none left exited; ECHILD */
		if ((p = proc_find(pid)) == NULL) {
			log_debug("reaped unknown child %ld", (long)pid);
			continue;
		}
		if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS &&
		    trapped(sb, p) != -1) {
			log_error("child %ld (%s, %s) killed by the sandbox: "
			    "system call %s", (long)pid,
			    sb->slot[p->slot].user[0] ?
			    sb->slot[p->slot].user : "no user yet",
			    p->peer[0] ? p->peer : "spare",
			    sandbox_call_name(trapped(sb, p), name,
			    sizeof(name)));
			__atomic_fetch_add(&sb->sandbox_kills, 1,
			    __ATOMIC_RELAXED);
		} else if (WIFSIGNALED(status) && (WTERMSIG(status) == SIGTERM ||
		    WTERMSIG(status) == SIGINT))
			log_info("child %ld (%s) terminated by signal %d (%s)",
			    (long)pid, p->peer[0] ? p->peer : "spare",
			    WTERMSIG(status), strsignal(WTERMSIG(status)));
		else if (WIFSIGNALED(status))
			log_warnx("child %ld (%s) killed by signal %d (%s)",
			    (long)pid, p->peer[0] ? p->peer : "spare",
			    WTERMSIG(status), strsignal(WTERMSIG(status)));
		else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
			log_warnx("child %ld (%s) exited with status %d",
			    (long)pid, p->peer[0] ? p->peer : "spare",
			    WEXITSTATUS(status));
		else
			log_debug("child %ld (%s) exited", (long)pid,
			    p->peer[0] ? p->peer : "spare");
		if (p->state == PROC_SPARE && p->served == 0)
			idle_deaths++;
		scoreboard_release(sb, p->slot);
		proc_remove(p);
	}
	return idle_deaths;
}
