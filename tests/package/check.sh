#!/bin/sh
# tests/package/check.sh -- build the Debian package and use it on this
# machine the way an operator would.  Run by "make package-check", as
# root, on a machine where the package wspubsub is not installed.
#
#  1. "make deb", then lintian on the .changes (the .deb, its debug
#     symbols and the .buildinfo): no error and no warning.
#  2. Record the list of files on the system (snapshot(), below).
#  3. dpkg -i; the files, the conffiles and the system user are there;
#     "wspubsub -t" accepts the installed configuration; systemd-analyze
#     verify accepts the installed units.  Where systemd is not running,
#     wspubsub.socket is enabled.
#  4. Start the installed /usr/sbin/wspubsub as root with a copy of the
#     installed configuration that points at a private redis-server and
#     free loopback ports (and logs to a file here instead of syslog):
#     it drops to the user wspubsub itself.  One message is delivered
#     to a WebSocket client, and the master and its children run as
#     wspubsub (deliver.py).  Then SIGTERM, and every process is gone.
#     One more message through "wspubsub -i" started as wspubsub, as
#     wspubsub-inetd@.service starts it.
#  5. Edit the configuration and upgrade to the same package with a
#     higher version: the edit is kept.  dpkg -r: the configuration is
#     kept.  dpkg --purge: it is gone, and so are the user and group.
#  6. The list of files is the same as in 2: none left behind, none
#     removed.
#
# Every wait has a deadline.  On failure, or on ^C, the trap stops what
# this script started and purges the package.
set -eu

cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-/usr/bin/python3}
PKG=wspubsub
CONF=/etc/wspubsub/wspubsub.conf
UNITS="wspubsub.service wspubsub.socket wspubsub-inetd.socket
	wspubsub-inetd@.service"

say() {
	printf 'package-check: %s\n' "$*"
}

fail() {
	printf 'package-check: FAIL: %s\n' "$*" >&2
	exit 1
}

if [ "$(id -u)" -ne 0 ]; then
	echo "package-check: must run as root: it installs and purges the" \
	    "package $PKG on this machine" >&2
	exit 1
fi

# dpkg's state of the package: "" when dpkg does not know it.
pkg_state() {
	dpkg-query -W -f='${db:Status-Abbrev}' "$PKG" 2>/dev/null || true
}

case $(pkg_state) in
'' | un*) ;;
*) fail "the package $PKG is installed here ($(pkg_state)); this check" \
    "installs and purges it, so purge it first if it may go" ;;
esac

now() {
	date +%s
}

# wait_until SECONDS WHAT COMMAND...: run COMMAND until it succeeds, for
# at most SECONDS.
wait_until() {
	_end=$(($(now) + $1))
	_what=$2
	shift 2
	until "$@"; do
		[ "$(now)" -lt "$_end" ] || fail "timed out waiting for $_what"
		sleep 0.1
	done
}

started=$(now)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wspubsub-package-check.XXXXXX")
redis_pid=
ws_pid=
uid=
installed=0

# Stop the processes this script started (the master's children too),
# purge the package if this script installed it, delete the scratch
# directory.
cleanup() {
	rc=$?
	set +e
	if [ -n "$ws_pid" ]; then
		# The master stops its children; any that outlive it, still
		# running as wspubsub, are killed.
		_kids=$(children "$ws_pid")
		stop "$ws_pid" 20
		for p in $_kids; do
			[ -n "$uid" ] && [ "$(uid_of "$p")" = "$uid" ] &&
			    kill -KILL "$p"
		done
	fi
	[ -z "$redis_pid" ] || stop "$redis_pid" 10
	if [ "$rc" -ne 0 ]; then
		for f in "$tmp"/wspubsub.log "$tmp"/redis.log; do
			[ -s "$f" ] || continue
			echo "---- last lines of $(basename "$f"):"
			tail -n 30 "$f"
		done
	fi
	if [ "$installed" = 1 ]; then
		case $(pkg_state) in
		'' | un*) ;;
		*) say "purging $PKG (cleanup)"; dpkg --purge "$PKG" ;;
		esac
	fi
	rm -rf "$tmp"
	if [ "$rc" -ne 0 ]; then
		say "FAILED after $(($(now) - started))s"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# alive PID: the process exists and is not a zombie.
alive() {
	[ -r "/proc/$1/stat" ] || return 1
	_st=$(sed 's/.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$_st" ] && [ "$_st" != Z ]
}

# stop PID SECONDS: SIGTERM to a process this script started; SIGKILL if
# it is still there after SECONDS; then reap it, returning its status.
stop() {
	kill -TERM "$1" 2>/dev/null || :
	_end=$(($(now) + $2))
	while alive "$1" && [ "$(now)" -lt "$_end" ]; do
		sleep 0.1
	done
	! alive "$1" || kill -KILL "$1"
	wait "$1"
}

# uid_of PID: the real uid of a process; nothing if it is gone.
uid_of() {
	sed -n 's/^Uid:\t\([0-9]*\).*/\1/p' "/proc/$1/status" 2>/dev/null || :
}

# none_as_wspubsub: no process runs as the user wspubsub ($uid).
none_as_wspubsub() {
	! for _p in /proc/[0-9]*; do
		uid_of "${_p#/proc/}"
	done | grep -qx "$uid"
}

# children PID: the pids whose parent is PID.
children() {
	for _s in /proc/[0-9]*/stat; do
		# A process may end between the glob and the read.
		sed -n "s/^\([0-9]*\) (.*) . $1 .*/\1/p" "$_s" 2>/dev/null || :
	done
}

free_port() {
	"$PYTHON" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# healthy PORT: GET /healthz on the port answers 200 (wspubsub serves
# and reaches Redis).
healthy() {
	"$PYTHON" -c 'import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=2)
c.request("GET", "/healthz")
sys.exit(c.getresponse().status != 200)' "$1" 2>/dev/null
}

# The list of files on the system, one path a line, sorted.  Listed: the
# top level of /, and everything under the directories the Filesystem
# Hierarchy Standard gives the system, where a package, its maintainer
# scripts or its daemon could write.  Not listed:
#  - /home and /root: home directories; no package writes there, and
#    other jobs on a shared machine keep their caches there;
#  - /tmp and /var/tmp: scratch space; this script's own directory is
#    there, and other jobs' too;
#  - /run: the running processes' pidfiles and sockets, which other
#    daemons make and delete as they start and stop (an inetd started by
#    a test beside this one, say), and which go at the next boot;
#    leftovers named after wspubsub are looked for there by name instead;
#  - /var/lib/dpkg: dpkg's own records, whose files (status-old,
#    updates/, triggers/) come and go with any dpkg run; that dpkg forgot
#    the package is checked with dpkg-query and /var/lib/dpkg/info;
#  - /proc, /sys and /dev (the kernel's), /media and /mnt (mount points),
#    and whatever else the machine has beside the FHS tree (checkouts,
#    tools).
snapshot() {
	{
		find / -xdev -mindepth 1 -maxdepth 1
		for d in /etc /usr /var /opt /srv /boot \
		    /bin /sbin /lib /lib32 /lib64 /libx32; do
			if [ -d "$d" ] && [ ! -L "$d" ]; then
				find "$d" -xdev \( -path /var/tmp \
				    -o -path /var/lib/dpkg \) -prune -o -print
			fi
		done
	} | LC_ALL=C sort >"$1"
}

# ---- 1. build and lintian

t=$(now)
say "make deb"
make --no-print-directory deb >"$tmp/deb.log" 2>&1 || {
	tail -n 40 "$tmp/deb.log"
	fail "make deb failed"
}
deb=$(tail -n 1 "$tmp/deb.log")
case $deb in
*/${PKG}_*_*.deb) ;;
*) fail "the last line of make deb is not a .deb: $deb" ;;
esac
[ -f "$deb" ] || fail "make deb printed $deb, which does not exist"
changes=${deb%.deb}.changes
[ -f "$changes" ] || fail "no $changes beside $deb"
t_build=$(($(now) - t))
say "built $deb in ${t_build}s"

t=$(now)
say "lintian --fail-on error,warning $changes"
lintian --fail-on error,warning --display-info "$changes" ||
    fail "lintian found errors or warnings"
t_lintian=$(($(now) - t))

# ---- 2. the files before

t=$(now)
snapshot "$tmp/before"
getent passwd wspubsub >"$tmp/passwd.before" || true
getent group wspubsub >"$tmp/group.before" || true
t_snap=$(($(now) - t))
say "$(wc -l <"$tmp/before") files listed before, in ${t_snap}s"

# ---- 3. install

t=$(now)
say "dpkg -i $deb"
installed=1
dpkg -i "$deb"
[ "$(pkg_state)" = "ii " ] || fail "dpkg state after install: $(pkg_state)"
for f in /usr/sbin/wspubsub /usr/share/man/man8/wspubsub.8.gz \
    /usr/share/man/man5/wspubsub.conf.5.gz "$CONF" \
    /etc/logrotate.d/wspubsub /usr/share/wspubsub/wspubsub.lua \
    /usr/lib/sysusers.d/wspubsub.conf; do
	[ -f "$f" ] || fail "$f is not installed"
done
for u in $UNITS; do
	[ -f "/lib/systemd/system/$u" ] || fail "unit $u is not installed"
done
[ -x /usr/sbin/wspubsub ] || fail "/usr/sbin/wspubsub is not executable"
conffiles=$(dpkg-query -W -f='${Conffiles}' "$PKG")
for f in "$CONF" /etc/logrotate.d/wspubsub; do
	echo "$conffiles" | grep -q "^ $f " || fail "$f is not a conffile"
done
grep -qx 'user wspubsub' "$CONF" || fail "$CONF does not set user wspubsub"
grep -qx 'log_target syslog' "$CONF" || fail "$CONF does not log to syslog"

# The system user: no login, no home.
pw=$(getent passwd wspubsub) || fail "no user wspubsub after install"
uid=$(echo "$pw" | cut -d: -f3)
[ "$uid" -lt 1000 ] || fail "wspubsub is not a system user: $pw"
case $pw in
*:/nonexistent:/usr/sbin/nologin | *:/nonexistent:/sbin/nologin) ;;
*) fail "user wspubsub should have home /nonexistent and no shell: $pw" ;;
esac
[ ! -e /nonexistent ] || fail "/nonexistent exists"
getent group wspubsub >/dev/null || fail "no group wspubsub after install"
say "user: $pw"

/usr/sbin/wspubsub -t -f "$CONF" || fail "wspubsub -t rejects $CONF"
/usr/sbin/wspubsub -v

# systemd-analyze verify needs no running systemd.  It exits non-zero
# on a unit it cannot load, an ExecStart= that is not executable or a
# Documentation= man page that man cannot find, but only prints an
# unknown key or a value it cannot parse, and exits 0: any output at all
# fails the check.  (An After= unit that does not exist, redis-server
# where Redis lives elsewhere, makes it say nothing.)
# shellcheck disable=SC2086  # word splitting of the list is intended
verify=$(cd /lib/systemd/system && systemd-analyze verify $UNITS 2>&1) ||
    fail "systemd-analyze verify rejects the installed units: $verify"
[ -z "$verify" ] || fail "systemd-analyze verify complains: $verify"
say "systemd-analyze verify: the units are accepted"

# Enable a unit as an operator would, so that the purge must take the
# symlinks and deb-systemd-helper's records away too.  Only where
# systemd is not running: there the upgrade below would start it.
if [ ! -d /run/systemd/system ]; then
	systemctl enable wspubsub.socket
	[ -L /etc/systemd/system/sockets.target.wants/wspubsub.socket ] ||
	    fail "systemctl enable wspubsub.socket made no symlink"
fi
t_install=$(($(now) - t))

# ---- 4. run the installed server

t=$(now)
redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" \
    --appendonly no --dir "$tmp" --logfile "$tmp/redis.log" \
    >/dev/null 2>&1 &
redis_pid=$!
redis_up() {
	alive "$redis_pid" || fail "redis-server exited"
	[ "$(timeout 2 redis-cli -p "$redis_port" ping 2>/dev/null)" = PONG ]
}
wait_until 10 "redis-server on port $redis_port" redis_up

# The installed configuration as it is, but for the ports, and the log
# on standard error (a file here) rather than syslog, which a test
# machine may not read.
ws_port=$(free_port)
sed -e "s/^listen .*/listen 127.0.0.1:$ws_port/" \
    -e "s/^redis_port .*/redis_port $redis_port/" \
    -e "s/^log_target syslog$/log_target stderr/" \
    "$CONF" >"$tmp/wspubsub.conf"
for want in "listen 127.0.0.1:$ws_port" "redis_port $redis_port" \
    "log_target stderr"; do
	grep -qx "$want" "$tmp/wspubsub.conf" ||
	    fail "no \"$want\" in the copy of $CONF made for the test"
done

/usr/sbin/wspubsub -f "$tmp/wspubsub.conf" >"$tmp/wspubsub.log" 2>&1 &
ws_pid=$!
ws_up() {
	alive "$ws_pid" || fail "wspubsub exited"
	healthy "$ws_port"
}
wait_until 10 "wspubsub to answer /healthz on port $ws_port" ws_up
say "wspubsub (pid $ws_pid) listens on 127.0.0.1:$ws_port," \
    "redis-server on $redis_port"

PYTHONDONTWRITEBYTECODE=1 "$PYTHON" tests/package/deliver.py master \
    "$ws_port" "$redis_port" "$ws_pid" wspubsub ||
    fail "no message delivered through the installed server"

kill -TERM "$ws_pid"
ws_gone() {
	! alive "$ws_pid"
}
wait_until 20 "wspubsub to stop on SIGTERM" ws_gone
wait "$ws_pid" || fail "wspubsub exited with status $? on SIGTERM"
ws_pid=
wait_until 20 "every process of the user wspubsub to end" none_as_wspubsub
grep -q 'close user=package-check' "$tmp/wspubsub.log" ||
    fail "the log has no close line for the client"
say "stopped; the log's last line: $(tail -n 1 "$tmp/wspubsub.log")"

# One connection served as wspubsub-inetd@.service serves it: "wspubsub
# -i" started as the user wspubsub, whose "user wspubsub" then holds
# already.  It reads the configuration as that user.
chmod 755 "$tmp"
PYTHONDONTWRITEBYTECODE=1 "$PYTHON" tests/package/deliver.py inetd \
    "$tmp/wspubsub.conf" "$redis_port" wspubsub ||
    fail "no message delivered through wspubsub -i"
wait_until 10 "the processes of wspubsub -i to end" none_as_wspubsub
stop "$redis_pid" 10 || :
redis_pid=
t_run=$(($(now) - t))

# ---- 5. upgrade over an edited configuration, remove, purge

# The upgrade: the same package with a higher version, repacked.
t=$(now)
dpkg-deb -R "$deb" "$tmp/next"
version=$(dpkg-deb -f "$deb" Version)
sed -i "s/^Version: .*/Version: $version+next/" "$tmp/next/DEBIAN/control"
dpkg-deb -b --root-owner-group "$tmp/next" "$tmp/next.deb" >/dev/null
edit="# edited by package-check $$"
echo "$edit" >>"$CONF"
say "dpkg -i $PKG $version+next (an upgrade, over an edited $CONF)"
dpkg -i "$tmp/next.deb"
[ "$(pkg_state)" = "ii " ] || fail "dpkg state after upgrade: $(pkg_state)"
[ "$(dpkg-query -W -f='${Version}' "$PKG")" = "$version+next" ] ||
    fail "the upgrade did not install $version+next"
tail -n 1 "$CONF" | grep -qx "$edit" ||
    fail "the upgrade lost the edit of $CONF"
ls /etc/wspubsub/*.dpkg-* 2>/dev/null && fail "dpkg left the files above"
/usr/sbin/wspubsub -t -f "$CONF" || fail "wspubsub -t rejects $CONF"
if [ ! -d /run/systemd/system ]; then
	systemctl is-enabled --quiet wspubsub.socket ||
	    fail "the upgrade disabled wspubsub.socket"
fi

say "dpkg -r $PKG"
dpkg -r "$PKG"
[ "$(pkg_state)" = "rc " ] || fail "dpkg state after remove: $(pkg_state)"
[ ! -e /usr/sbin/wspubsub ] || fail "remove left /usr/sbin/wspubsub"
tail -n 1 "$CONF" | grep -qx "$edit" || fail "remove did not keep $CONF"
getent passwd wspubsub >/dev/null || fail "remove deleted the user"

say "dpkg --purge $PKG"
dpkg --purge "$PKG"
case $(pkg_state) in
'' | un*) ;;
*) fail "dpkg state after purge: $(pkg_state)" ;;
esac
installed=0
[ ! -e "$CONF" ] || fail "purge left $CONF"
[ ! -e /etc/wspubsub ] || fail "purge left /etc/wspubsub"
ls /var/lib/dpkg/info/"$PKG".* 2>/dev/null &&
    fail "dpkg kept the files above after purge"
left=$(find /run -xdev -name '*wspubsub*')
[ -z "$left" ] || fail "left in /run: $left"
getent passwd wspubsub >"$tmp/passwd.after" || true
getent group wspubsub >"$tmp/group.after" || true
cmp -s "$tmp/passwd.before" "$tmp/passwd.after" ||
    fail "user wspubsub before: $(cat "$tmp/passwd.before")," \
    "after purge: $(cat "$tmp/passwd.after")"
cmp -s "$tmp/group.before" "$tmp/group.after" ||
    fail "group wspubsub before: $(cat "$tmp/group.before")," \
    "after purge: $(cat "$tmp/group.after")"
t_remove=$(($(now) - t))

# ---- 6. the files after

t=$(now)
snapshot "$tmp/after"
if ! cmp -s "$tmp/before" "$tmp/after"; then
	echo "left behind (+) or removed (-), against the list before install:"
	diff "$tmp/before" "$tmp/after" | sed -n 's/^> /+ /p; s/^< /- /p'
	fail "the files after purge differ from the files before install"
fi
t_snap=$((t_snap + $(now) - t))
say "after purge: the same $(wc -l <"$tmp/after") files as before"

say "passed in $(($(now) - started))s: build ${t_build}s," \
    "lintian ${t_lintian}s, file lists ${t_snap}s," \
    "install and checks ${t_install}s, run ${t_run}s," \
    "upgrade/remove/purge ${t_remove}s"
