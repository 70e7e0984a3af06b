/*
 * testhook.h -- calls a test may ask a child to make, so that it can
 * watch the sandbox stop them.  Only in a build made with
 * -DWSPUBSUB_TEST_HOOKS (make wspubsub-hooks), never in ./wspubsub.
 */
#ifndef CHILD_TESTHOOK_H
#define CHILD_TESTHOOK_H

#include <stddef.h>

#ifdef WSPUBSUB_TEST_HOOKS
/*
 * If msg is "wspubsub-test-hook CALL", make that system call (execve,
 * openat or socket-packet) and return 1; otherwise return 0.
 */
int	test_hook(const void *msg, size_t len);
#endif

#endif /* CHILD_TESTHOOK_H */
