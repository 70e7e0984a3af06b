/*
 * fuzz_identify.c -- libFuzzer target for the identify message (its
 * user_name and since) and the user name rules.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../child/user.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[USER_NAME_MAX + 1], chan[CHANNEL_PREFIX_MAX + USER_NAME_MAX + 1];
	char since[65];
	size_t n;
	int k;

	/* "since": a NUL-free string that fits, or nothing. */
	k = user_identify_since((const char *)data, size, since, sizeof(since));
	if (k < -2 || k >= (int)sizeof(since) || (k >= 0 &&
	    strlen(since) != (size_t)k))
		abort();
	if (user_identify_parse((const char *)data, size, name,
	    sizeof(name)) != 0)
		return 0;
	n = strlen(name);
	if (!user_name_valid(name, n))
		abort();
	if (user_channel("prefix:", name, chan, sizeof(chan)) != 0 ||
	    strlen(chan) != n + 7)
		abort();
	return 0;
}
