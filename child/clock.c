/*
 * clock.c -- the monotonic clock in milliseconds, shared by the loop,
 * the handshake and the Redis side, so none of them borrows it from
 * another.
 */
#include <time.h>

#include "clock.h"

int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
