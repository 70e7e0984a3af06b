/*
 * sentinel.h -- where Redis Sentinel says the master is.
 */
#ifndef CHILD_SENTINEL_H
#define CHILD_SENTINEL_H

#include <stddef.h>

#include "settings.h"

/*
 * Ask each configured sentinel in turn for redis_master_name: 0 with *a
 * set from the first that names it, or -1 with a reason in err.
 */
int	sentinel_master(const struct child_conf *, struct redis_addr *a,
	    char *err, size_t);

#endif /* CHILD_SENTINEL_H */
