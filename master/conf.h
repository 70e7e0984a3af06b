/*
 * conf.h -- the configuration file: "key value" lines, as sshd_config.
 */
#ifndef MASTER_CONF_H
#define MASTER_CONF_H

#include <stdio.h>

#include "../child/child.h"

#define CONF_LISTEN_MAX	16
#define CONF_LINE_MAX	1024

struct conf_listen {
	char	host[256];	/* numeric address or name; "" = any */
	char	port[8];
};

struct conf {
	struct conf_listen	listen[CONF_LISTEN_MAX];
	int			nlisten;
	int			max_connections;
	int			max_connections_per_ip;	/* 0: no limit */
	int			spare_children;
	int			shutdown_timeout;	/* ms */
	int			log_level;
	struct child_conf	child;	/* what each child is handed */
};

/*
 * Parse path into conf.  Every error is logged as "path:line: message";
 * returns 0, or -1 after the whole file was read if any line was bad.
 */
int	conf_load(struct conf *, const char *path);
/* The same from an open stream; path names it in messages. */
int	conf_read(struct conf *, FILE *, const char *path);
/* The effective configuration, in the file's own syntax (-T). */
void	conf_print(const struct conf *, FILE *);
/* "host:port" as written in the file, for messages. */
void	conf_listen_name(const struct conf_listen *, char *, size_t);

#endif /* MASTER_CONF_H */
