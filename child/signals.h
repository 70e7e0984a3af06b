/*
 * signals.h -- how a child is asked to stop while it serves a client.
 */
#ifndef CHILD_SIGNALS_H
#define CHILD_SIGNALS_H

#include <signal.h>

/* Set by SIGTERM and SIGINT: close with 1001 and exit. */
extern volatile sig_atomic_t child_stop;

/*
 * Install the handlers and block SIGTERM and SIGINT; *waitmask is the
 * mask to wait in (ppoll(2)), which lets them through.
 */
void	signals_init(sigset_t *waitmask);
/* Take the signals that are pending but blocked (see signals.c). */
void	signals_let_in(const sigset_t *waitmask);

#endif /* CHILD_SIGNALS_H */
