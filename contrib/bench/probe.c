/*
 * probe.c -- what the benchmark reads of the servers and of the machine:
 * Pss from /proc/PID/smaps_rollup, the master's children and their
 * titles, CPU time and page faults from /proc/PID/stat, /proc/meminfo,
 * the load average, and Redis' INFO.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis.h>

#include "servers.h"
#include "wsbench.h"

void
loadavg(char *buf, size_t len)
{
	FILE *f = fopen("/proc/loadavg", "r");
	double a = 0, b = 0, c = 0;

	if (f == NULL || fscanf(f, "%lf %lf %lf", &a, &b, &c) != 3)
		a = b = c = NAN;
	if (f)
		fclose(f);
	snprintf(buf, len, "%.2f %.2f %.2f", a, b, c);
}

long
pss_kib(pid_t pid)
{
	char path[64], line[256];
	long v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/smaps_rollup", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "Pss:", 4) == 0) {
			v = atol(line + 4);
			break;
		}
	fclose(f);
	return v;
}

/* MemAvailable, and the kernel's own objects: KernelStack + PageTables +
 * SUnreclaim (task structs, sockets, file tables...). */
void
meminfo(long *avail, long *kobj)
{
	char line[256];
	FILE *f;

	*avail = *kobj = 0;
	if ((f = fopen("/proc/meminfo", "r")) == NULL)
		die("/proc/meminfo: %s", strerror(errno));
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "MemAvailable:", 13) == 0)
			*avail = atol(line + 13);
		else if (strncmp(line, "KernelStack:", 12) == 0)
			*kobj += atol(line + 12);
		else if (strncmp(line, "PageTables:", 11) == 0)
			*kobj += atol(line + 11);
		else if (strncmp(line, "SUnreclaim:", 11) == 0)
			*kobj += atol(line + 11);
	fclose(f);
}

/* Children of the master: count, spares, and (optionally) their Pss. */
int
ws_tree(int *nspare, long *pss)
{
	char path[300], buf[512];
	struct dirent *de;
	DIR *d;
	int n = 0, fd;
	ssize_t len;
	char *p;

	if (nspare)
		*nspare = 0;
	if (pss)
		*pss = pss_kib(master_pid);
	if ((d = opendir("/proc")) == NULL)
		die("/proc: %s", strerror(errno));
	while ((de = readdir(d)) != NULL) {
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
		if ((p = strrchr(buf, ')')) == NULL || p[1] == '\0')
			continue;
		/* ") S PPID ..." */
		if (p[2] == 'Z' || atol(p + 4) != (long)master_pid)
			continue;
		n++;
		if (nspare) {
			snprintf(path, sizeof(path), "/proc/%s/cmdline",
			    de->d_name);
			if ((fd = open(path, O_RDONLY)) != -1) {
				len = read(fd, buf, sizeof(buf) - 1);
				close(fd);
				if (len > 0) {
					buf[len] = '\0';
					if (strstr(buf, ": spare"))
						(*nspare)++;
				}
			}
		}
		if (pss)
			*pss += pss_kib((pid_t)atol(de->d_name));
	}
	closedir(d);
	return n;
}

/* What /proc/PID/stat says of one process. */
struct pstat {
	long			 ppid;
	char			 state;
	unsigned long long	 minflt, cminflt, utime, stime;
	long long		 cutime, cstime;	/* clock ticks */
};

static int
pstat_read(const char *pid, struct pstat *ps)
{
	char path[300], buf[1024], *p;
	ssize_t len;
	int fd;

	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	if ((fd = open(path, O_RDONLY)) == -1)
		return -1;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return -1;
	buf[len] = '\0';
	/* Fields 3-17, after the ")" that ends the command name. */
	if ((p = strrchr(buf, ')')) == NULL || sscanf(p + 2,
	    "%c %ld %*d %*d %*d %*d %*u %llu %llu %*u %*u %llu %llu %lld %lld",
	    &ps->state, &ps->ppid, &ps->minflt, &ps->cminflt, &ps->utime,
	    &ps->stime, &ps->cutime, &ps->cstime) != 8)
		return -1;
	return 0;
}

/*
 * A live process's CPU time in ns, from /proc/PID/schedstat (its
 * sum_exec_runtime, which utime + stime are scaled to add up to, and
 * what its parent's cutime + cstime gain when it is reaped), or from
 * its clock ticks.  Ticks are 10 ms: truncating every live child's
 * would lose up to that much per child.
 */
static double
live_ms(const char *pid, const struct pstat *ps, double hz)
{
	char path[300];
	unsigned long long ns;
	double ms = (ps->utime + ps->stime) * 1000.0 / hz;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%s/schedstat", pid);
	if ((f = fopen(path, "r")) != NULL) {
		if (fscanf(f, "%llu", &ns) == 1)
			ms = ns / 1e6;
		fclose(f);
	}
	/* Its own reaped children's, which its parent gains with it. */
	return ms + (ps->cutime + ps->cstime) * 1000.0 / hz;
}

/*
 * The CPU time (ms) and minor page faults of the master and of every
 * child it has had: itself; the children it has reaped (its cutime,
 * cstime, cminflt); the children still alive, spares and zombies
 * included (their own utime + stime, minflt, and those of theirs that
 * they have reaped).  A child's time and faults move from "live" to
 * "reaped" when the master reaps it, so the sum counts every child once,
 * whether it exits or not, provided no child is reaped while the
 * children are read: the master's reaped totals are read before and
 * after the children, and the whole is read again if they changed.
 * (A reaped child has at least one fault, so the faults change.)
 */
int
cpu_tree(pid_t master, struct cpu_snap *cs)
{
	char mpid[24];
	struct pstat a, b, ps;
	struct dirent *de;
	double hz = (double)sysconf(_SC_CLK_TCK);
	int try;
	DIR *d;

	snprintf(mpid, sizeof(mpid), "%ld", (long)master);
	for (try = 0; master > 0 && try < 20; try++) {
		if (try)
			usleep(2000);
		memset(cs, 0, sizeof(*cs));
		if (pstat_read(mpid, &a) == -1 ||
		    (d = opendir("/proc")) == NULL)
			return -1;
		while ((de = readdir(d)) != NULL) {
			if (!isdigit((unsigned char)de->d_name[0]) ||
			    pstat_read(de->d_name, &ps) == -1 ||
			    ps.ppid != (long)master)
				continue;
			cs->live_ms += live_ms(de->d_name, &ps, hz);
			cs->faults += (double)(ps.minflt + ps.cminflt);
			cs->nlive++;
		}
		closedir(d);
		if (pstat_read(mpid, &b) == -1)
			return -1;
		if (a.cutime != b.cutime || a.cstime != b.cstime ||
		    a.cminflt != b.cminflt)
			continue;	/* one was reaped meanwhile */
		cs->master_ms = (b.utime + b.stime) * 1000.0 / hz;
		cs->reaped_ms = (b.cutime + b.cstime) * 1000.0 / hz;
		cs->faults += (double)(b.minflt + b.cminflt);
		return 0;
	}
	return -1;
}

/* A numeric field of Redis' INFO, or NAN. */
double
redis_info(const char *section, const char *field)
{
	redisReply *r;
	double v = NAN;
	char *p;
	size_t fl = strlen(field);

	if ((r = redisCommand(adm, "INFO %s", section)) == NULL)
		die("INFO: %s", adm->errstr);
	if (r->type == REDIS_REPLY_STRING)
		for (p = r->str; p && *p; p = strchr(p, '\n'), p = p ? p + 1 :
		    NULL)
			if (strncmp(p, field, fl) == 0 && p[fl] == ':') {
				v = atof(p + fl + 1);
				break;
			}
	freeReplyObject(r);
	return v;
}
