/*
 * log.c -- one line per event, prefixed with the process's role, filtered
 * by level, written to standard error, syslog or a file.
 *
 * A line goes out in one write(2) (O_APPEND for a file), so lines from
 * many processes never interleave.  A file is reopened on SIGHUP, after
 * logrotate has moved it; children that were already running keep
 * writing to the moved file until their client leaves.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"

static int		 log_level = LOG_LEVEL_INFO;
static const char	*log_proc = "master";
static int		 log_fd = STDERR_FILENO;	/* -1: syslog */
static int		 log_facility = LOG_DAEMON;

static const char *const level_names[] = {
	"error", "warning", "info", "debug"
};

static const int level_priority[] = {
	LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG
};

static const struct {
	const char	*name;
	int		 facility;
} facilities[] = {
	{ "daemon", LOG_DAEMON }, { "user", LOG_USER },
	{ "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 },
	{ "local2", LOG_LOCAL2 }, { "local3", LOG_LOCAL3 },
	{ "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
	{ "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
};

void
log_init(int level)
{
	log_level = level;
}

void
log_setfd(int fd)
{
	log_fd = fd;
}

int
log_getfd(void)
{
	return log_fd;
}

int
log_facility_parse(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
		if (strcasecmp(s, facilities[i].name) == 0)
			return facilities[i].facility;
	return -1;
}

const char *
log_facility_name(int facility)
{
	size_t i;

	for (i = 0; i < sizeof(facilities) / sizeof(facilities[0]); i++)
		if (facilities[i].facility == facility)
			return facilities[i].name;
	return "daemon";
}

/*
 * target is "stderr", "syslog" or an absolute file path.  On failure the
 * current target stays and -1 is returned (errno set).
 */
int
log_open(const char *target, int facility)
{
	int fd;

	if (strcmp(target, "stderr") == 0) {
		if (log_fd > STDERR_FILENO)
			close(log_fd);
		log_fd = STDERR_FILENO;
		return 0;
	}
	if (strcmp(target, "syslog") == 0) {
		if (log_fd > STDERR_FILENO)
			close(log_fd);
		log_fd = -1;
		log_facility = facility;
		openlog("wspubsub", LOG_PID, facility);
		return 0;
	}
	if ((fd = open(target, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0640)) == -1)
		return -1;
	if (log_fd > STDERR_FILENO)
		close(log_fd);
	log_fd = fd;
	return 0;
}

void
log_setlevel(int level)
{
	log_level = level;
}

int
log_getlevel(void)
{
	return log_level;
}

void
log_procinit(const char *name)
{
	log_proc = name;
}

int
log_level_parse(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcasecmp(s, level_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *
log_level_name(int level)
{
	if (level < 0 || level > LOG_LEVEL_DEBUG)
		return "unknown";
	return level_names[level];
}

static void
vlog(int level, int with_errno, const char *fmt, va_list ap)
{
	char line[1024];
	int saved = errno, n = 0, m;

	if (level > log_level)
		return;
	if (log_fd != -1) {
		n = snprintf(line, sizeof(line), "wspubsub[%ld] %s: ",
		    (long)getpid(), log_proc);
		if (n < 0 || (size_t)n >= sizeof(line))
			n = 0;
	} else {
		n = snprintf(line, sizeof(line), "%s: ", log_proc);
		if (n < 0 || (size_t)n >= sizeof(line))
			n = 0;
	}
	m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (m < 0)
		m = 0;
	n = (size_t)(n + m) >= sizeof(line) - 1 ? (int)sizeof(line) - 2 : n + m;
	if (with_errno) {
		m = snprintf(line + n, sizeof(line) - n, ": %s",
		    strerror(saved));
		if (m > 0)
			n = (size_t)(n + m) >= sizeof(line) - 1 ?
			    (int)sizeof(line) - 2 : n + m;
	}
	if (log_fd == -1) {
		line[n] = '\0';
		syslog(level_priority[level], "%s", line);
	} else {
		line[n++] = '\n';
		if (write(log_fd, line, n) == -1) {
			/* Nowhere left to complain to. */
		}
	}
	errno = saved;
}

#define LOGFN(name, level, err)				\
void							\
name(const char *fmt, ...)				\
{							\
	va_list ap;					\
	va_start(ap, fmt);				\
	vlog(level, err, fmt, ap);			\
	va_end(ap);					\
}

LOGFN(log_warn, LOG_LEVEL_WARNING, 1)
LOGFN(log_warnx, LOG_LEVEL_WARNING, 0)
LOGFN(log_error, LOG_LEVEL_ERROR, 0)
LOGFN(log_info, LOG_LEVEL_INFO, 0)
LOGFN(log_debug, LOG_LEVEL_DEBUG, 0)

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LEVEL_ERROR, 1, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LEVEL_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
