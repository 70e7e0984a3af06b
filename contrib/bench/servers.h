/*
 * servers.h -- the private redis-server and wspubsub the benchmark runs
 * (servers.c), and what it reads of them and of the machine in /proc
 * (probe.c).
 */
#ifndef WSBENCH_SERVERS_H
#define WSBENCH_SERVERS_H

#include <stddef.h>
#include <sys/types.h>

#include <hiredis.h>

/* servers.c */
extern char		 tmpdir[64];	/* configuration and logs */
extern volatile pid_t	 redis_pid;
extern pid_t		 master_pid;	/* the server, or below its wrapper */
extern int		 redis_port, ws_port;
extern redisContext	*adm;		/* blocking, for INFO */

void	start_redis(void);
void	start_wspubsub(void);
/* Stop wspubsub and start it again with these lines added (or none). */
void	restart_wspubsub(const char *extra);
/*
 * Wait until the master has `busy` clients' children plus its spares
 * (spare_children or more: reused children go back to the pool).
 */
int	ws_settle(int busy, int secs);
/* No clients, and only spare_children spares (the reused ones gone). */
int	ws_settle_pool(int secs);
void	cleanup(void);
void	on_fatal(int);		/* async-signal-safe: the watchdog, ^C */

/* probe.c */
void	loadavg(char *, size_t);
long	pss_kib(pid_t);
/* Children of the master: count, spares, and (optionally) their Pss. */
int	ws_tree(int *nspare, long *pss);
void	meminfo(long *avail, long *kobj);
/*
 * The CPU time (ms) and minor faults of the master and of all its
 * children, those reaped and those alive; see probe.c.
 */
struct cpu_snap {
	double	master_ms;	/* the master's own utime + stime */
	double	reaped_ms;	/* its reaped children's: cutime + cstime */
	double	live_ms;	/* its live children's (zombies included) */
	double	faults;		/* minor faults of all of them */
	int	nlive;
};
int	cpu_tree(pid_t master, struct cpu_snap *);
double	redis_info(const char *section, const char *field);

#endif /* WSBENCH_SERVERS_H */
