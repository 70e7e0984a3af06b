/*
 * cluster.h -- where a channel lives in a Redis Cluster.
 *
 * Sharded pub/sub hashes a channel like a key: CRC16 of the name (or of
 * its {hash tag}) modulo 16384 picks the slot, and the master that owns
 * the slot serves SSUBSCRIBE and SPUBLISH for it.  A child learns the
 * owners from CLUSTER SLOTS and corrects them from -MOVED redirections.
 */
#ifndef CHILD_CLUSTER_H
#define CHILD_CLUSTER_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "settings.h"

#define CLUSTER_SLOTS	16384
#define CLUSTER_NODES_MAX 1024	/* Redis Cluster's own suggested limit */

/* The slot of a key or shard channel, hash tags honoured. */
unsigned int	cluster_slot(const char *key, size_t len);

/*
 * Replace the slot map with a CLUSTER SLOTS reply from the node at
 * asked (whose address stands in where the reply gives none).  0, or -1
 * with the map left empty when the reply is not one.
 */
int	cluster_map_load(const redisReply *, const struct redis_addr *asked);
/* The owner of slot, or NULL when the map does not know. */
const struct redis_addr *cluster_map_owner(unsigned int slot);
/* Record that slot now lives at a (a -MOVED redirection). */
void	cluster_map_set(unsigned int slot, const struct redis_addr *a);
/* The i-th node of the map (masters first), or NULL past the end. */
const struct redis_addr *cluster_map_node(int i);

/*
 * Parse the text of "-MOVED 3999 127.0.0.1:6381" or "-ASK ..." (without
 * the sign): 1 for MOVED, 2 for ASK, with slot and address (an empty
 * host: the node that answered); 0 for any other error.
 */
int	cluster_redirect(const char *text, size_t len, unsigned int *slot,
	    struct redis_addr *to);

#endif /* CHILD_CLUSTER_H */
