/*
 * signals.c -- a child's signals: SIGTERM and SIGINT ask it to stop,
 * SIGPIPE and SIGHUP are ignored.  The flag lives here, apart from the
 * code that polls, so the handshake and the loop both read it without
 * reaching into each other.
 */
#include <string.h>

#include "signals.h"

volatile sig_atomic_t child_stop;

static void
on_stop(int sig)
{
	(void)sig;
	child_stop = 1;
}

/*
 * SIGTERM and SIGINT ask for a close with 1001.  They stay blocked except
 * inside ppoll(2), so a signal that arrives between a check of child_stop
 * and the wait is not lost.
 */
void
signals_init(sigset_t *waitmask)
{
	struct sigaction sa;
	sigset_t block;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, waitmask);
	sigdelset(waitmask, SIGTERM);
	sigdelset(waitmask, SIGINT);
}

/*
 * ppoll() runs the handler of a signal that arrives while it sleeps, but
 * one that is pending when a descriptor is ready stays pending, blocked
 * again on return: a client that receives without pause would never see
 * SIGTERM.  Opening the mask for a moment takes what is pending.
 */
void
signals_let_in(const sigset_t *waitmask)
{
	sigset_t blocked;

	if (sigprocmask(SIG_SETMASK, waitmask, &blocked) == 0)
		(void)sigprocmask(SIG_SETMASK, &blocked, NULL);
}
