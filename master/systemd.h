/*
 * systemd.h -- the two things a daemon needs from systemd, done by hand:
 * sockets passed by socket activation, and readiness notification.
 */
#ifndef MASTER_SYSTEMD_H
#define MASTER_SYSTEMD_H

/*
 * Listening sockets passed with LISTEN_PID/LISTEN_FDS (sd_listen_fds(3)),
 * adopted as listeners; a socket whose LISTEN_FDNAMES entry is "tls"
 * speaks TLS.  Returns how many, 0 when not socket-activated.
 */
int	systemd_adopt_listeners(void);
/* Send state ("READY=1", "RELOADING=1", "STOPPING=1") to NOTIFY_SOCKET. */
void	systemd_notify(const char *state);

#endif /* MASTER_SYSTEMD_H */
