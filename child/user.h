/*
 * user.h -- who a connection belongs to: username rules, the channel
 * name derived from it, and the identify message.
 */
#ifndef CHILD_USER_H
#define CHILD_USER_H

#include <stddef.h>

#include "settings.h"	/* USER_NAME_MAX, CHANNEL_PREFIX_MAX */

/* 1 when name is an acceptable username. */
int	user_name_valid(const char *name, size_t len);
/* channel = prefix + lowercased name; -1 when it does not fit. */
int	user_channel(const char *prefix, const char *name, char *out,
	    size_t outsize);
/* Parse {"user_name": "..."}; 0 with name copied, -1 otherwise. */
int	user_identify_parse(const char *json, size_t len, char *name,
	    size_t namesize);
/*
 * The "since" of an identify message: its length with the string copied,
 * -1 when there is none, -2 when it is not a string or does not fit.
 */
int	user_identify_since(const char *json, size_t len, char *out,
	    size_t outsize);

#endif /* CHILD_USER_H */
