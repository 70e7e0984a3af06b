/*
 * conf.h -- the configuration file: "key value" lines, as sshd_config.
 */
#ifndef MASTER_CONF_H
#define MASTER_CONF_H

#include <limits.h>
#include <stdio.h>

#include "../child/child.h"

#define CONF_LISTEN_MAX	16
#define CONF_LINE_MAX	1024

struct conf_listen {
	char	host[256];	/* numeric address or name; "" = any */
	char	port[8];
	int	tls;		/* "listen ADDR tls" */
	int	proxy;		/* "listen ADDR proxy": PROXY protocol */
};

struct conf {
	struct conf_listen	listen[CONF_LISTEN_MAX];
	int			nlisten;
	int			max_connections;
	int			max_connections_per_ip;	/* 0: no limit */
	int			spare_children;
	int			max_clients_per_child;	/* 1: fork per client */
	int			batch_scheduling;	/* children: SCHED_BATCH */
	int			shutdown_timeout;	/* ms */
	int			log_level;
	char			user[NAME_MAX_LEN + 1];	/* drop to; "" = stay */
	char			group[NAME_MAX_LEN + 1];
	char			chroot[PATH_MAX];
	char			tls_certificate[PATH_MAX];
	char			tls_key[PATH_MAX];
	/* where secrets came from, for -T (never the secrets) */
	char			redis_password_file[PATH_MAX];
	char			jwt_secret_file[PATH_MAX];
	char			jwt_public_key_file[PATH_MAX];
	char			log_target[PATH_MAX];	/* stderr, syslog, file */
	int			syslog_facility;
	char			pidfile[PATH_MAX];
	int			daemonize;
	int			inetd_tls;	/* -i speaks TLS */
	/* where Redis' addresses were set, for conf_resolve()'s messages */
	int			redis_host_line;
	int			redis_node_line[REDIS_NODES_MAX];
	int			redis_sentinel_line[REDIS_NODES_MAX];
	struct child_conf	child;	/* what each child is handed */
};

/*
 * Parse path into conf.  Every error is logged as "path:line: message";
 * returns 0, or -1 after the whole file was read if any line was bad.
 */
int	conf_load(struct conf *, const char *path);
/* The same from an open stream; path names it in messages. */
int	conf_read(struct conf *, FILE *, const char *path);
/*
 * With sandbox yes, resolve the Redis host names of conf (read from
 * path) into their addresses, which children dial instead: 0, or -1
 * with each failure logged as "path:line: ...".
 */
int	conf_resolve(struct conf *, const char *path);
/* Free what conf_load loaded (TLS context, keys) and wipe secrets. */
void	conf_free(struct conf *);
/* The effective configuration, in the file's own syntax (-T). */
void	conf_print(const struct conf *, FILE *);
/* "host:port" as written in the file, for messages. */
void	conf_listen_name(const struct conf_listen *, char *, size_t);

#endif /* MASTER_CONF_H */
