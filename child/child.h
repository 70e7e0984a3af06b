/*
 * child.h -- serving one client: the HTTP upgrade, the user's identity,
 * the Redis subscription and the poll loop that joins them.
 *
 * A child knows nothing of listening sockets or supervision: it is handed
 * a connected socket and the settings below, and returns when the
 * connection is over.
 */
#ifndef CHILD_CHILD_H
#define CHILD_CHILD_H

#include <stddef.h>

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

struct redis_addr {
	char	host[REDIS_HOST_MAX + 1];
	int	port;
};

struct child_conf {
	char	redis_host[REDIS_HOST_MAX + 1];
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
	size_t	max_message_size;
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

	/* Browser origins allowed; none listed = any origin. */
	char	allow_origin[ORIGIN_MAX][NAME_MAX_LEN + 1];
	int	nallow_origin;
};

/* How a listener's connections start. */
#define CHILD_TLS	0x1	/* a TLS handshake */
#define CHILD_PROXY	0x2	/* a PROXY protocol header, before all */

/*
 * Serve the client on fd (which child_serve closes) until the connection
 * ends; how holds CHILD_TLS and CHILD_PROXY.  peer is the printable peer
 * address for logs and the process title (the PROXY header's, once read).
 * Returns 0 after a normal close, -1 after an error.
 */
int	child_serve(const struct child_conf *, int fd, const char *peer,
	    int how);

/* In a spare, before a client comes: connect to Redis ahead of time. */
void	child_prepare(const struct child_conf *);

/* Username rules, shared with tests: 1 when name is acceptable. */
int	user_name_valid(const char *name, size_t len);
/* channel = prefix + lowercased name; -1 when it does not fit. */
int	user_channel(const char *prefix, const char *name, char *out,
	    size_t outsize);
/* Parse {"user_name": "..."}; 0 with name copied, -1 otherwise. */
int	user_identify_parse(const char *json, size_t len, char *name,
	    size_t namesize);

#endif /* CHILD_CHILD_H */
