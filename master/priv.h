/*
 * priv.h -- give up root once everything that needs it is done.
 */
#ifndef MASTER_PRIV_H
#define MASTER_PRIV_H

#include "conf.h"

/*
 * chroot (if set) and switch to user and group (if set).  Returns 0, or
 * -1 with the reason logged; the caller must not go on after -1.
 */
int	priv_drop(const struct conf *);

#endif /* MASTER_PRIV_H */
