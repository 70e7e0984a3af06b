/*
 * scoreboard.c -- create the shared counters and hand out slots.  A slot
 * is claimed before fork(2), so the child knows its index from the start,
 * and released when the child is reaped.
 */
#include <sys/mman.h>

#include "log.h"
#include "scoreboard.h"

#define SLOT_CLAIMED	(-1)	/* pid of a slot whose child is forking */

/*
 * No slot below this one is free, so a claim does not walk over the slots
 * of thousands of busy children; the busy slots stay at the bottom.
 */
static int lowest_free;

struct stats *
scoreboard_create(int nslots)
{
	struct stats *s;
	size_t size = sizeof(*s) + (size_t)nslots * sizeof(s->slot[0]);

	s = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
	    -1, 0);
	if (s == MAP_FAILED) {
		log_warn("scoreboard of %d slots", nslots);
		return NULL;
	}
	s->nslots = nslots;	/* mmap gave zeroes: every slot is free */
	return s;
}

int
scoreboard_claim(struct stats *s)
{
	int i;

	if (s == NULL)
		return -1;
	for (i = lowest_free; i < s->nslots; i++)
		if (s->slot[i].pid == 0) {
			s->slot[i].pid = SLOT_CLAIMED;
			s->slot[i].state = SLOT_SPARE;
			s->slot[i].trapped = -1;
			lowest_free = i + 1;
			return i;
		}
	lowest_free = s->nslots;
	return -1;
}

void
scoreboard_release(struct stats *s, int slot)
{
	if (s == NULL || slot < 0 || slot >= s->nslots)
		return;
	/* A child killed mid-connection never folded in its counters. */
	__atomic_store_n(&s->slot[slot].state, SLOT_FREE, __ATOMIC_RELAXED);
	__atomic_store_n(&s->slot[slot].pid, 0, __ATOMIC_RELEASE);
	if (slot < lowest_free)
		lowest_free = slot;
}
