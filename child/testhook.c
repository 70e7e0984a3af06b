/*
 * testhook.c -- system calls a child makes when a test asks, to show the
 * sandbox at work (testhook.h).  Built only into wspubsub-hooks.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "../master/log.h"
#include "testhook.h"

#ifdef WSPUBSUB_TEST_HOOKS

#define HOOK	"wspubsub-test-hook "

int
test_hook(const void *msg, size_t len)
{
	static char *const argv[] = { "/bin/true", NULL };
	static char *const envp[] = { NULL };
	const char *s = msg;
	size_t n = sizeof(HOOK) - 1;
	int fd;

	if (len <= n || memcmp(s, HOOK, n) != 0)
		return 0;
	s += n;
	len -= n;
	log_info("test hook: %.*s", (int)len, s);
	if (len == 6 && memcmp(s, "execve", 6) == 0)
		execve(argv[0], argv, envp);
	else if (len == 6 && memcmp(s, "openat", 6) == 0) {
		if ((fd = openat(AT_FDCWD, "/etc/passwd", O_RDONLY)) != -1)
			close(fd);
	} else if (len == 13 && memcmp(s, "socket-packet", 13) == 0) {
		if ((fd = socket(AF_PACKET, SOCK_RAW, 0)) != -1)
			close(fd);
	}
	log_info("test hook: %.*s returned", (int)len, s);
	return 1;
}

#endif /* WSPUBSUB_TEST_HOOKS */
