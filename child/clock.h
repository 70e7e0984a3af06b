/*
 * clock.h -- the monotonic clock every deadline of a child is measured
 * on.
 */
#ifndef CHILD_CLOCK_H
#define CHILD_CLOCK_H

#include <stdint.h>

/* Milliseconds on CLOCK_MONOTONIC: for intervals, not the date. */
int64_t	now_ms(void);

#endif /* CHILD_CLOCK_H */
