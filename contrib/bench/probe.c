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

/*
 * CPU time (ms) of the master itself and of the children it has reaped,
 * and the minor page faults of both, from /proc/PID/stat (minflt cminflt
 * utime stime cutime cstime).  Time on a shared machine moves with the
 * load; CPU and faults per connection move much less.
 */
int
cpu_ms(pid_t pid, double *self, double *kids, double *faults)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st, mf, cmf;
	long long cut, cst;
	double hz = (double)sysconf(_SC_CLK_TCK);
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if (pid <= 0 || (f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* Fields 10-17, after the ")" that ends the command name. */
	if ((p = strrchr(buf, ')')) == NULL || sscanf(p + 2,
	    "%*c %*d %*d %*d %*d %*d %*u %llu %llu %*u %*u %llu %llu %lld %lld",
	    &mf, &cmf, &ut, &st, &cut, &cst) != 6)
		return -1;
	*self = (ut + st) * 1000.0 / hz;
	*kids = (cut + cst) * 1000.0 / hz;
	*faults = (double)(mf + cmf);
	return 0;
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
