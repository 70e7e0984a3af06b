/*
 * priv.c -- drop privileges after binding and loading keys.
 *
 * The order matters: supplementary groups and the group go while we are
 * still root, then the user; afterwards we check that root cannot be
 * regained, as OpenSSH's permanently_set_uid() does.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "priv.h"

int
priv_drop(const struct conf *c)
{
	struct passwd *pw;
	struct group *gr;
	uid_t uid;
	gid_t gid;

	if (c->user[0] == '\0') {
		if (c->chroot[0] != '\0') {
			log_error("chroot needs user: a root process can "
			    "leave a chroot");
			return -1;
		}
		if (geteuid() == 0)
			log_warnx("running as root: set user (and group) in "
			    "the configuration");
		return 0;
	}
	errno = 0;
	if ((pw = getpwnam(c->user)) == NULL) {
		log_error("user %s: %s", c->user,
		    errno ? strerror(errno) : "no such user");
		return -1;
	}
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	if (c->group[0] != '\0') {
		errno = 0;
		if ((gr = getgrnam(c->group)) == NULL) {
			log_error("group %s: %s", c->group,
			    errno ? strerror(errno) : "no such group");
			return -1;
		}
		gid = gr->gr_gid;
	}
	if (uid == 0) {
		log_error("user %s is root; choose an unprivileged user",
		    c->user);
		return -1;
	}
	if (geteuid() != 0) {
		if (geteuid() == uid && c->chroot[0] == '\0')
			return 0;	/* already that user */
		log_error("must start as root to become %s%s", c->user,
		    c->chroot[0] ? " and chroot" : "");
		return -1;
	}
	if (setgroups(1, &gid) == -1) {
		log_warn("setgroups");
		return -1;
	}
	if (c->chroot[0] != '\0') {
		if (chroot(c->chroot) == -1 || chdir("/") == -1) {
			log_warn("chroot %s", c->chroot);
			return -1;
		}
	}
	if (setresgid(gid, gid, gid) == -1 || setresuid(uid, uid, uid) == -1) {
		log_warn("switching to %s", c->user);
		return -1;
	}
	if (setuid(0) != -1 || seteuid(0) != -1 || getuid() == 0 ||
	    geteuid() == 0) {
		log_error("root could be regained after dropping privileges");
		return -1;
	}
	log_info("running as %s (uid %ld, gid %ld)%s%s", c->user, (long)uid,
	    (long)gid, c->chroot[0] ? " in " : "", c->chroot);
	return 0;
}
