/*
 * settings.h -- what the master hands every child: the limits and struct
 * child_conf.  Types only, so that any file of child/ may use them
 * without depending on the code that serves a client.
 */
#ifndef CHILD_SETTINGS_H
#define CHILD_SETTINGS_H

#include <stddef.h>
#include <netinet/in.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>

struct stats;

#define USER_NAME_MAX		128
#define CHANNEL_PREFIX_MAX	128
#define REDIS_HOST_MAX		255
#define REDIS_SOCKET_MAX	107	/* sun_path less its NUL */
#define PEER_MAX		64	/* "[v6addr%scope]:port" */
#define SECRET_MAX		4096
#define ORIGIN_MAX		32
#define NAME_MAX_LEN		255	/* audience, issuer, origin, user */
#define REDIS_NODES_MAX		16	/* cluster seeds, sentinels */
#define UPSTREAM_KEY_MAX	512	/* upstream_stream, %h expanded */
#define HOSTNAME_MAX		255

struct redis_addr {
	char	host[REDIS_HOST_MAX + 1];
	int	port;
	/*
	 * host's numeric address when host is a name in the configuration
	 * and the sandbox is on: the master resolves it (conf_resolve()),
	 * since a sandboxed child cannot.  "" = dial host itself.
	 */
	char	ip[INET6_ADDRSTRLEN];
};

struct child_conf {
	char	redis_host[REDIS_HOST_MAX + 1];
	char	redis_host_ip[INET6_ADDRSTRLEN];	/* as redis_addr.ip */
	int	redis_port;
	char	redis_socket[REDIS_SOCKET_MAX + 1];	/* "" = use TCP */
	/*
	 * Redis Cluster: SSUBSCRIBE on the node that owns the channel's
	 * slot, found through the seeds.  Sentinel: SUBSCRIBE on the master
	 * the sentinels name.  Either replaces redis_host and redis_port.
	 */
	int	redis_cluster;
	struct redis_addr redis_nodes[REDIS_NODES_MAX];
	int	nredis_nodes;
	struct redis_addr redis_sentinels[REDIS_NODES_MAX];
	int	nredis_sentinels;
	char	redis_master_name[NAME_MAX_LEN + 1];
	char	channel_prefix[CHANNEL_PREFIX_MAX + 1];
	/*
	 * History (contrib/redis/wspubsub.lua): ids for the wspubsub.v1
	 * subprotocol, resuming with since, and replay after a Redis
	 * reconnect.  history_replay_max bounds one replay.
	 */
	int	history;
	int	history_replay_max;
	/*
	 * Upstream: each data message a client sends is appended to this
	 * Redis Stream ("" = off; %h already expanded), trimmed to about
	 * upstream_maxlen entries; with upstream_events, connects and
	 * disconnects too.  upstream_rate: messages per second per
	 * connection, and the burst (0 = no limit).
	 */
	char	upstream_stream[UPSTREAM_KEY_MAX + 1];
	int	upstream_maxlen;
	int	upstream_events;
	int	upstream_rate;
	char	hostname[HOSTNAME_MAX + 1];	/* the master's, for conn ids */
	size_t	max_message_size;
	/*
	 * permessage-deflate (RFC 7692, ws/deflate.c): offered by the
	 * client and on here, messages of compression_min_size bytes or more
	 * go out compressed at compression_level.
	 */
	int	compression;
	size_t	compression_min_size;
	int	compression_level;
	/* durations in milliseconds; 0 disables where noted */
	int	handshake_timeout;
	int	identify_timeout;
	int	ping_interval;		/* 0: no server pings */
	int	ping_timeout;
	int	redis_connect_timeout;
	int	redis_retry_timeout;	/* 0: no reconnecting */
	char	redis_username[NAME_MAX_LEN + 1];	/* "" = default user */
	char	redis_password[SECRET_MAX];		/* "" = no AUTH */

	SSL_CTX	*tls_ctx;		/* for listeners marked tls */

	/* JWT authentication: on when a secret or a public key is set. */
	unsigned char	 jwt_secret[SECRET_MAX];	/* HS256 */
	size_t		 jwt_secret_len;
	EVP_PKEY	*jwt_public_key;		/* RS256, ES256 */
	char		 jwt_audience[NAME_MAX_LEN + 1];	/* "" = any */
	char		 jwt_issuer[NAME_MAX_LEN + 1];	/* "" = any */
	int		 jwt_leeway;			/* seconds */
	int		 jwt_expired_close;	/* close at exp, or keep */

	/* Addresses that may GET /metrics; none listed = any. */
	struct metrics_net {
		int		family;
		unsigned char	addr[16];
		int		prefix;
	}	metrics_allow[ORIGIN_MAX];
	int	nmetrics_allow;

	struct stats	*stats;		/* shared scoreboard, or NULL */
	int		 sandbox;	/* children are sandboxed (sandbox.c) */

	/* Browser origins allowed; none listed = any origin. */
	char	allow_origin[ORIGIN_MAX][NAME_MAX_LEN + 1];
	int	nallow_origin;
};

#endif /* CHILD_SETTINGS_H */
