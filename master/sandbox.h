/*
 * sandbox.h -- what a child may still do once a client can reach it:
 * seccomp-bpf, Landlock and a small RLIMIT_NOFILE (sandbox.c).
 */
#ifndef MASTER_SANDBOX_H
#define MASTER_SANDBOX_H

#include <stddef.h>

#include "conf.h"

/*
 * In the master, at start and at each reload: compile the filter for
 * conf (which address families a child may open depends on it).
 * 0, or -1 with the reason logged; nothing to do with "sandbox no".
 */
int	sandbox_prepare(const struct conf *);

/*
 * In a child, before it can receive a client: enter the sandbox
 * sandbox_prepare() compiled.  0, or -1 with the reason logged (the
 * child must then exit: it never serves unconfined by accident).
 */
int	sandbox_enter(const struct conf *);

/* The name of system call nr on this machine, into buf. */
const char *sandbox_call_name(int nr, char *buf, size_t len);

/* Landlock's ABI version on this kernel, 0 if it has none. */
int	sandbox_landlock_abi(void);

#endif /* MASTER_SANDBOX_H */
