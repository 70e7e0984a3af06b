#!/bin/sh
# contrib/run.sh -- run ./wspubsub in the foreground with wspubsub.conf.
# "make run" calls it after installing what is missing and building.
#
# If no Redis answers at the configured address (redis_host/redis_port, or
# redis_socket), a private redis-server is started there -- loopback or a
# Unix socket only, no persistence, in a temporary directory -- and stopped
# again when wspubsub exits.  Ctrl-C stops both.
#
# Usage: sh contrib/run.sh [CONFIG]     (default: wspubsub.conf)
set -eu

cd "$(dirname "$0")/.."
conf=${1:-${WSPUBSUB_CONF:-wspubsub.conf}}
bin=./wspubsub

say() { echo "run.sh: $*" >&2; }
die() { say "$*"; exit 1; }

[ -x "$bin" ] || die "$bin is missing; build it with \"make\" first."
[ -r "$conf" ] || die "cannot read $conf."
for tool in redis-server redis-cli setsid; do
	command -v "$tool" >/dev/null 2>&1 ||
	    die "$tool not found; run \"make deps\" (as root) first."
done

# The effective settings, defaults included; this also checks the file and
# names the bad line if there is one.
settings=$("$bin" -T -f "$conf") || die "$conf has errors (see above)."
setting() { printf '%s\n' "$settings" | awk -v k="$1" '$1 == k { print $2; exit }'; }

redis_host=$(setting redis_host)
redis_port=$(setting redis_port)
redis_socket=$(setting redis_socket)
prefix=$(setting channel_prefix)
listen=$(setting listen)

if [ -n "$redis_socket" ]; then
	where="unix:$redis_socket"
	set -- -s "$redis_socket"
else
	where="$redis_host:$redis_port"
	set -- -h "$redis_host" -p "$redis_port"
fi
# "$@" now holds the redis-cli options that reach the configured Redis.

redis_answers() {
	[ "$(redis-cli "$@" ping 2>/dev/null)" = PONG ]
}

tmpdir=
redis_pid=
ws_pid=

# shellcheck disable=SC2317  # called from the traps
cleanup() {
	trap - EXIT INT TERM HUP
	if [ -n "$ws_pid" ] && kill -0 "$ws_pid" 2>/dev/null; then
		kill -TERM "$ws_pid" 2>/dev/null || true
		wait "$ws_pid" 2>/dev/null || true
	fi
	if [ -n "$redis_pid" ]; then
		say "stopping the private redis-server (pid $redis_pid)"
		kill -TERM "$redis_pid" 2>/dev/null || true
		wait "$redis_pid" 2>/dev/null || true
	fi
	[ -z "$tmpdir" ] || rm -rf "$tmpdir"
}

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

if redis_answers "$@"; then
	say "using the Redis that answers at $where"
else
	if [ -n "$redis_socket" ]; then
		sockdir=$(dirname "$redis_socket")
		if ! [ -d "$sockdir" ] || ! [ -w "$sockdir" ]; then
			die "no Redis answers at $where, and $sockdir is not a" \
			    "writable directory to start one in.  Start Redis" \
			    "there, or change redis_socket in $conf."
		fi
		listen_opts="--port 0 --unixsocket $redis_socket --unixsocketperm 700"
	else
		case $redis_host in
		127.*|::1|0:0:0:0:0:0:0:1) bind=$redis_host ;;
		localhost) bind="127.0.0.1 -::1" ;;
		*) die "no Redis answers at $where, and $redis_host is not a" \
			"loopback address, so no private redis-server is started" \
			"there.  Start Redis at $where, or point redis_host and" \
			"redis_port in $conf at one (e.g. redis_host 127.0.0.1)." ;;
		esac
		listen_opts="--port $redis_port"
	fi

	tmpdir=$(mktemp -d "${TMPDIR:-/tmp}/wspubsub-redis.XXXXXX")
	say "no Redis answers at $where; starting a private redis-server" \
	    "(no persistence, log in $tmpdir/redis.log)"
	# setsid: a Ctrl-C must not stop Redis before wspubsub has closed its
	# clients; cleanup stops it afterwards.
	# shellcheck disable=SC2086  # $listen_opts and $bind are lists
	if [ -n "$redis_socket" ]; then
		setsid redis-server $listen_opts \
		    --save '' --appendonly no --dir "$tmpdir" \
		    --logfile "$tmpdir/redis.log" </dev/null &
	else
		setsid redis-server $listen_opts --bind $bind \
		    --save '' --appendonly no --dir "$tmpdir" \
		    --logfile "$tmpdir/redis.log" </dev/null &
	fi
	redis_pid=$!
	tries=0
	until redis_answers "$@"; do
		tries=$((tries + 1))
		if ! kill -0 "$redis_pid" 2>/dev/null || [ "$tries" -ge 100 ]; then
			say "redis-server did not start; its log says:"
			tail -n 5 "$tmpdir/redis.log" >&2 2>/dev/null || true
			exit 1
		fi
		sleep 0.1
	done
fi

# How to try it, in one line.
case $listen in
\*:*) url="ws://127.0.0.1:${listen#\*:}/" ;;
*) url="ws://$listen/" ;;
esac
say "try it: serve the demo with" \
    "'/usr/bin/python3 -m http.server --bind 127.0.0.1 --directory contrib 8000'," \
    "open http://127.0.0.1:8000/demo/?url=$url&user=alice&autoconnect=1" \
    "then run: redis-cli $* FCALL wspubsub_publish 1 ${prefix}alice hello" \
    "(or PUBLISH ${prefix}alice hello)   (Ctrl-C stops)"

# wspubsub runs as a job of this shell so that the traps can stop Redis
# after it; signals that reach only this shell are passed on to it.
"$bin" -f "$conf" &
ws_pid=$!
trap 'kill -INT "$ws_pid" 2>/dev/null || true' INT
trap 'kill -TERM "$ws_pid" 2>/dev/null || true' TERM HUP
status=0
while :; do
	wait "$ws_pid" && status=0 || status=$?
	kill -0 "$ws_pid" 2>/dev/null || break	# else a trapped signal woke us
done
ws_pid=
exit "$status"
