/*
 * log.h -- logging for master and children, after OpenBSD's log.c, to
 * standard error, syslog or a file.
 * The *_warn and fatal variants append strerror(errno); the x variants
 * do not.  Each line is written with one write(2) so lines from many
 * processes do not interleave.
 */
#ifndef MASTER_LOG_H
#define MASTER_LOG_H

#include <stdarg.h>

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARNING, LOG_LEVEL_INFO,
    LOG_LEVEL_DEBUG };

void	log_init(int level);
void	log_setlevel(int level);
void	log_setfd(int fd);		/* default: standard error */
int	log_getfd(void);		/* -1 when logging to syslog */
int	log_open(const char *target, int facility);
int	log_facility_parse(const char *);	/* -1 when unknown */
const char *log_facility_name(int);
int	log_getlevel(void);
void	log_procinit(const char *name);	/* "master", "child" ... */
int	log_level_parse(const char *);	/* -1 when unknown */
const char *log_level_name(int);

void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_error(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif /* MASTER_LOG_H */
