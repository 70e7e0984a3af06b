/*
 * scoreboard.h -- the master's side of the shared counters (child/stats.h).
 */
#ifndef MASTER_SCOREBOARD_H
#define MASTER_SCOREBOARD_H

#include "../child/stats.h"

/* Map nslots slots before the first fork; NULL on failure. */
struct stats	*scoreboard_create(int nslots);
/* A free slot for a new child, or -1 when all are taken. */
int		 scoreboard_claim(struct stats *);
void		 scoreboard_release(struct stats *, int slot);

#endif /* MASTER_SCOREBOARD_H */
