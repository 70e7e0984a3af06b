/*
 * sandbox.c -- what a child may still do once a client can reach it.
 *
 * A spare enters the sandbox before it waits for its first client, when
 * everything that needs a file, a name or a privilege is done: the master
 * has read the configuration, keys and certificates and resolved Redis'
 * host names, and the spare holds every descriptor it keeps.  Then:
 *
 *   - RLIMIT_NOFILE drops to SANDBOX_NOFILE;
 *   - PR_SET_NO_NEW_PRIVS: nothing it runs can gain privileges;
 *   - Landlock, where the kernel has it (5.13+), with no rule at all: no
 *     file or directory can be opened, created or removed; with newer
 *     kernels also no TCP bind, no abstract UNIX socket and no signal to a
 *     process outside the child's own domain;
 *   - seccomp-bpf: an allow-list of the system calls a child makes,
 *     arguments checked where it matters (socket families, no executable
 *     mappings, signals only to itself, SIGSYS's handler left alone).
 *
 * A call outside the list never runs.  The filter traps it
 * (SECCOMP_RET_TRAP): the handler writes the call's number into the
 * child's scoreboard slot and raises SIGSYS, whose action SA_RESETHAND
 * has made the default, so the child dies by SIGSYS and the master names
 * the call in its log.  The handler cannot be replaced (rt_sigaction on
 * SIGSYS is itself trapped), and a SIGSYS that is blocked or ignored when
 * the kernel sends it kills at once.  A call through another ABI (int
 * 0x80 on x86-64) is killed outright (SECCOMP_RET_KILL_PROCESS).
 *
 * The filter is compiled once, in the master (libseccomp takes some 50
 * us to build it); each child loads a copy into which it writes its own
 * pid, the one value that differs (it may signal only itself).
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <jansson.h>
#include <seccomp.h>

#include "../child/stats.h"
#include "log.h"
#include "sandbox.h"

/*
 * A child's descriptors: stdio, its channel, a log file, the way back,
 * the client, Redis, the upstream_stream writer's Redis connection, a
 * sentinel or a second cluster node while it dials, syslog's socket and
 * a new channel's two ends: 14 at most.
 */
#define SANDBOX_NOFILE	16

/* Stands for the child's pid in the compiled filter: no pid is this big. */
#define PID_MARK	0x5eccd00dU

/* Landlock, as of ABI 6; Debian 12's headers stop at ABI 2. */
struct landlock_attr {
	uint64_t	handled_access_fs;
	uint64_t	handled_access_net;
	uint64_t	scoped;
};
#define LL_CREATE_VERSION	(1U << 0)
#define LL_FS_ABI1		((1ULL << 13) - 1)	/* execute .. make_sym */
#define LL_FS_REFER		(1ULL << 13)		/* ABI 2 */
#define LL_FS_TRUNCATE		(1ULL << 14)		/* ABI 3 */
#define LL_FS_IOCTL_DEV		(1ULL << 15)		/* ABI 5 */
#define LL_NET_BIND_TCP		(1ULL << 0)		/* ABI 4 */
#define LL_SCOPE_ABSTRACT_UNIX	(1ULL << 0)		/* ABI 6 */
#define LL_SCOPE_SIGNAL		(1ULL << 1)		/* ABI 6 */

static struct sock_filter	*prog;		/* compiled by the master */
static size_t			 proglen;	/* instructions */
static int			 inetd_mode;	/* no master to tell */
static int			 landlock_abi = -1;	/* not asked yet */

/* Every call here is made by a child after it entered the sandbox. */
static const int allowed[] = {
	/* the client, Redis, syslog and the channel to the master */
	SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
	SCMP_SYS(recvfrom), SCMP_SYS(sendto), SCMP_SYS(recvmsg),
	SCMP_SYS(sendmsg), SCMP_SYS(poll), SCMP_SYS(ppoll),
	SCMP_SYS(close), SCMP_SYS(shutdown), SCMP_SYS(connect),
	SCMP_SYS(getsockopt), SCMP_SYS(setsockopt), SCMP_SYS(getsockname),
	SCMP_SYS(getpeername), SCMP_SYS(fcntl),
	/* memory */
	SCMP_SYS(brk), SCMP_SYS(munmap), SCMP_SYS(mremap), SCMP_SYS(madvise),
	/* signals and time */
	SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigreturn), SCMP_SYS(sigaltstack),
	SCMP_SYS(restart_syscall), SCMP_SYS(clock_gettime),
	SCMP_SYS(clock_nanosleep), SCMP_SYS(nanosleep),
	SCMP_SYS(gettimeofday), SCMP_SYS(time),
	/* the process itself */
	SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(getppid),
	SCMP_SYS(getrusage), SCMP_SYS(getrandom), SCMP_SYS(futex),
	SCMP_SYS(sched_yield), SCMP_SYS(exit), SCMP_SYS(exit_group),
};

/*
 * The handler of a trapped call: note which in the scoreboard, and die
 * by SIGSYS (SA_RESETHAND made the action the default one).  Under
 * inetd there is no master, so the line is logged here: the trap fires
 * only on a call the sandbox forbids, which libc never makes while it
 * holds the locks logging needs.
 */
static void
on_trap(int sig, siginfo_t *si, void *uc)
{
	char name[64];

	(void)uc;
	stats_trapped(si->si_syscall);
	if (inetd_mode)
		log_error("killed by the sandbox: system call %s",
		    sandbox_call_name(si->si_syscall, name, sizeof(name)));
	raise(sig);
}

const char *
sandbox_call_name(int nr, char *buf, size_t len)
{
	char *s;

	if ((s = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr)) !=
	    NULL) {
		snprintf(buf, len, "%s", s);
		free(s);
	} else
		snprintf(buf, len, "%d", nr);
	return buf;
}

int
sandbox_landlock_abi(void)
{
	long abi;

	if (landlock_abi == -1) {
		abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
		    LL_CREATE_VERSION);
		landlock_abi = abi > 0 ? (int)abi : 0;
	}
	return landlock_abi;
}

/* What SCMP_A0() and its kin make, with every field set (clang asks). */
static struct scmp_arg_cmp
arg(unsigned int n, enum scmp_compare op, scmp_datum_t a, scmp_datum_t b)
{
	struct scmp_arg_cmp c;

	c.arg = n;
	c.op = op;
	c.datum_a = a;
	c.datum_b = b;
	return c;
}

/* Allow nr, with one argument check if n is 1.  libseccomp says -errno. */
static int
rule(scmp_filter_ctx ctx, int nr, unsigned int n, struct scmp_arg_cmp cmp)
{
	int rc;

	if ((rc = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, n,
	    &cmp)) < 0)
		log_error("sandbox: rule for system call %d: %s", nr,
		    strerror(-rc));
	return rc < 0 ? -1 : 0;
}

static int
allow(scmp_filter_ctx ctx, int nr)
{
	return rule(ctx, nr, 0, arg(0, SCMP_CMP_EQ, 0, 0));
}

#ifdef __SANITIZE_ADDRESS__
/*
 * Sanitizer builds only: AddressSanitizer, reporting an error, reads
 * /proc/self/maps and asks whether stderr is a terminal.  Those calls
 * fail here instead of killing the child, so that the report (without
 * module names) still reaches the log.  The release filter is the one
 * wspubsub-hooks and the plain build are tested with.
 */
static int
sanitizer_rules(scmp_filter_ctx ctx)
{
	static const int calls[] = {
		SCMP_SYS(open), SCMP_SYS(openat), SCMP_SYS(readlink),
		SCMP_SYS(readlinkat),
	};
	size_t i;
	int rc = 0;

	for (i = 0; i < sizeof(calls) / sizeof(calls[0]); i++)
		if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), calls[i],
		    0) < 0)
			rc = -1;
	if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOTTY), SCMP_SYS(ioctl),
	    0) < 0)
		rc = -1;
	return rc;
}
#endif

static int
add_rules(scmp_filter_ctx ctx, const struct conf *conf)
{
	size_t i;
	int failed = 0;

	for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		failed |= allow(ctx, allowed[i]);
	/* Redis over TCP, either family (cluster and sentinel addresses
	 * are learned at run time); UNIX only for syslog or redis_socket. */
	failed |= rule(ctx, SCMP_SYS(socket), 1,
	    arg(0, SCMP_CMP_EQ, AF_INET, 0));
	failed |= rule(ctx, SCMP_SYS(socket), 1,
	    arg(0, SCMP_CMP_EQ, AF_INET6, 0));
	if (strcmp(conf->log_target, "syslog") == 0 ||
	    conf->child.redis_socket[0] != '\0')
		failed |= rule(ctx, SCMP_SYS(socket), 1,
		    arg(0, SCMP_CMP_EQ, AF_UNIX, 0));
	/* A reused child's new channel to the master (spawn.c). */
	if (conf->max_clients_per_child > 1)
		failed |= rule(ctx, SCMP_SYS(socketpair), 1,
		    arg(0, SCMP_CMP_EQ, AF_UNIX, 0));
	/* Memory, never executable: no code arrives after the sandbox. */
	failed |= rule(ctx, SCMP_SYS(mmap), 1,
	    arg(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	failed |= rule(ctx, SCMP_SYS(mprotect), 1,
	    arg(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	/* Signals: any handler but SIGSYS's; raise() and abort() only. */
	failed |= rule(ctx, SCMP_SYS(rt_sigaction), 1,
	    arg(0, SCMP_CMP_NE, SIGSYS, 0));
	failed |= rule(ctx, SCMP_SYS(tgkill), 1,
	    arg(0, SCMP_CMP_EQ, PID_MARK, 0));
#ifdef __SANITIZE_ADDRESS__
	failed |= sanitizer_rules(ctx);
#endif
	return failed ? -1 : 0;
}

/* Read the filter libseccomp wrote into fd. */
static int
load_program(int fd)
{
	struct sock_filter *p;
	off_t size;

	if ((size = lseek(fd, 0, SEEK_END)) <= 0 ||
	    size % sizeof(struct sock_filter) != 0 ||
	    size / sizeof(struct sock_filter) > BPF_MAXINSNS ||
	    (p = malloc(size)) == NULL)
		return -1;
	if (pread(fd, p, size, 0) != size) {
		free(p);
		return -1;
	}
	free(prog);
	prog = p;
	proglen = size / sizeof(struct sock_filter);
	return 0;
}

int
sandbox_prepare(const struct conf *conf)
{
	scmp_filter_ctx ctx;
	int fd = -1, rc = -1;

	if (!conf->child.sandbox)
		return 0;
	/*
	 * jansson seeds its hash function from /dev/urandom when it first
	 * parses an object: seed it now, before any child is sandboxed.
	 */
	json_object_seed(0);
	(void)sandbox_landlock_abi();	/* asked once, for every child */
	if ((ctx = seccomp_init(SCMP_ACT_TRAP)) == NULL) {
		log_error("sandbox: seccomp_init failed");
		return -1;
	}
	/*
	 * A binary tree of system call numbers rather than a list: loading
	 * the filter (the kernel works out, call by call, which ones it may
	 * allow without running it) costs each child about a third less.
	 */
	if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
	    SCMP_ACT_KILL_PROCESS) < 0 ||
	    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2) < 0 ||
	    add_rules(ctx, conf) == -1)
		goto done;
	if ((fd = memfd_create("seccomp", MFD_CLOEXEC)) == -1) {
		log_warn("sandbox: memfd_create");
		goto done;
	}
	if (seccomp_export_bpf(ctx, fd) < 0 || load_program(fd) == -1) {
		log_error("sandbox: could not compile the seccomp filter");
		goto done;
	}
	rc = 0;
 done:
	if (fd != -1)
		close(fd);
	seccomp_release(ctx);
	return rc;
}

/* No file system access at all, and what else this kernel can deny. */
static int
landlock_restrict(void)
{
	struct landlock_attr attr;
	int abi, fd;

	if ((abi = sandbox_landlock_abi()) == 0)
		return 0;		/* not built in, or turned off */
	memset(&attr, 0, sizeof(attr));
	attr.handled_access_fs = LL_FS_ABI1;
	if (abi >= 2)
		attr.handled_access_fs |= LL_FS_REFER;
	if (abi >= 3)
		attr.handled_access_fs |= LL_FS_TRUNCATE;
	if (abi >= 4)
		attr.handled_access_net = LL_NET_BIND_TCP;
	if (abi >= 5)
		attr.handled_access_fs |= LL_FS_IOCTL_DEV;
	if (abi >= 6)
		attr.scoped = LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL;
	if ((fd = syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr),
	    0)) == -1) {
		log_warn("sandbox: landlock_create_ruleset");
		return -1;
	}
	if (syscall(SYS_landlock_restrict_self, fd, 0) == -1) {
		log_warn("sandbox: landlock_restrict_self");
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int
sandbox_enter(const struct conf *conf)
{
	struct rlimit rl = { SANDBOX_NOFILE, SANDBOX_NOFILE };
	struct sock_fprog fprog;
	struct sigaction sa;
	struct sock_filter *p;
	size_t i, marks = 0;
	pid_t pid = getpid();

	if (!conf->child.sandbox)
		return 0;
	if (prog == NULL) {
		log_error("sandbox: no filter was compiled");
		return -1;
	}
	if ((p = malloc(proglen * sizeof(*p))) == NULL) {
		log_error("sandbox: out of memory");
		return -1;
	}
	memcpy(p, prog, proglen * sizeof(*p));
	for (i = 0; i < proglen; i++)
		if (BPF_CLASS(p[i].code) == BPF_JMP && p[i].k == PID_MARK) {
			p[i].k = (uint32_t)pid;
			marks++;
		}
	inetd_mode = conf->child.stats == NULL;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_trap;
	sa.sa_flags = SA_SIGINFO | SA_RESETHAND | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	fprog.len = (unsigned short)proglen;
	fprog.filter = p;
	if (marks == 0)
		log_error("sandbox: the filter has no place for the pid");
	else if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		log_warn("sandbox: RLIMIT_NOFILE");
	else if (sigaction(SIGSYS, &sa, NULL) == -1)
		log_warn("sandbox: SIGSYS");
	else if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
		log_warn("sandbox: PR_SET_NO_NEW_PRIVS");
	else if (landlock_restrict() == -1)
		;
	else if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0,
	    &fprog) == -1)
		log_warn("sandbox: seccomp");
	else {
		free(p);
		return 0;
	}
	free(p);
	return -1;
}
