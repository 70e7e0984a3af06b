/*
 * systemd.c -- socket activation and sd_notify(3), without libsystemd:
 * both are a few environment variables and one datagram.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <bsd/string.h>

#include "listen.h"
#include "log.h"
#include "systemd.h"

#define SD_LISTEN_FDS_START	3

int
systemd_adopt_listeners(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	const char *names = getenv("LISTEN_FDNAMES");
	char name[64];
	long n, i;
	size_t len;
	int fd, flags;

	if (pid == NULL || fds == NULL || strtol(pid, NULL, 10) != getpid())
		return 0;
	if ((n = strtol(fds, NULL, 10)) <= 0 || n > LISTEN_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		fd = SD_LISTEN_FDS_START + (int)i;
		name[0] = '\0';
		if (names != NULL) {
			len = strcspn(names, ":");
			if (len < sizeof(name)) {
				memcpy(name, names, len);
				name[len] = '\0';
			}
			names += len + (names[len] == ':');
		}
		if ((flags = fcntl(fd, F_GETFL)) == -1 ||
		    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1 ||
		    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1) {
			log_warn("socket activation: descriptor %d", fd);
			continue;
		}
		/* FileDescriptorName= tls, proxy or tls-proxy */
		listen_adopt(fd, strcmp(name, "tls") == 0 ||
		    strcmp(name, "tls-proxy") == 0, strcmp(name, "proxy") == 0 ||
		    strcmp(name, "tls-proxy") == 0);
	}
	/* Not for our children, nor for anything we might exec. */
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return (int)n;
}

void
systemd_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	socklen_t len;
	int fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@'))
		return;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path))
		return;
	len = offsetof(struct sockaddr_un, sun_path) + strlen(path);
	if (sun.sun_path[0] == '@')
		sun.sun_path[0] = '\0';		/* abstract namespace */
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL,
	    (struct sockaddr *)&sun, len) == -1)
		log_debug("sd_notify %s: %s", state, strerror(errno));
	close(fd);
}
