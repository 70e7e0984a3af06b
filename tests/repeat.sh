#!/bin/sh
# tests/repeat.sh -- hunt flaky tests (make test-repeat N=5).
#
# Clones HEAD (what is committed, not the work tree) into a scratch
# directory, then runs the whole "make test" there N times in a row and
# the ASan integration pass alone ASAN_RUNS times (default 2N).  With
# LOAD=1 (the default) a second "make test", in a clone of its own, runs
# beside the first run as load.  Every run's log is kept in build/repeat/;
# the summary names each failed test of each run.  Exits 1 if any failed.
#   tests/repeat.sh [N]
set -u

N=${1:-5}
ASAN_RUNS=${ASAN_RUNS:-$((2 * N))}
LOAD=${LOAD:-1}
PYTHON=${PYTHON:-/usr/bin/python3}
top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/build/repeat
work=$(mktemp -d "${TMPDIR:-/tmp}/wspubsub-repeat.XXXXXX") || exit 1
loadpid=

stop_load() {
	if [ -n "$loadpid" ]; then
		kill -TERM -- "-$loadpid" 2>/dev/null
		wait "$loadpid" 2>/dev/null
		loadpid=
	fi
}
trap 'stop_load; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

rm -rf "$out"
mkdir -p "$out"
git clone -q "$top" "$work/run" || exit 1
echo "repeat: $(git -C "$work/run" log --oneline -1)"
echo "repeat: $N x make test, $ASAN_RUNS x the ASan integration pass;" \
    "logs in $out"

failed=0
summary=$out/summary.txt
: > "$summary"

# run NAME COMMAND...: one run in the clone, its log and a summary line.
run() {
	name=$1
	shift
	log=$out/$name.log
	t0=$(date +%s)
	(cd "$work/run" && "$@") > "$log" 2>&1
	rc=$?
	took=$(($(date +%s) - t0))
	counts=$(grep -E '^[0-9]+ (passed|failed)|[0-9]+ passed' "$log" |
	    sed 's/^=* *//; s/ *=*$//' | tr '\n' ';' | sed 's/;$//')
	if [ $rc -eq 0 ]; then
		line="$name: passed in ${took}s ($counts)"
	else
		failed=$((failed + 1))
		line="$name: FAILED (exit $rc) in ${took}s ($counts)"
	fi
	echo "$line" | tee -a "$summary"
	grep -E '^(FAILED|ERROR) |fuzz [a-z]+: FAILED|^FAIL ' "$log" |
	    sed 's/^/    /' | tee -a "$summary"
}

i=1
while [ "$i" -le "$N" ]; do
	if [ "$i" -eq 1 ] && [ "$LOAD" = 1 ]; then
		git clone -q "$top" "$work/load" || exit 1
		# Its own process group, so that all of it can be stopped.
		setsid sh -c 'cd "$1" && exec make test' sh "$work/load" \
		    > "$out/load.log" 2>&1 &
		loadpid=$!
		run "test-$i-under-load" make test
		if kill -0 "$loadpid" 2>/dev/null; then
			echo "    (the load run was still going; stopped)" |
			    tee -a "$summary"
		else
			wait "$loadpid"
			echo "    (the load run itself exited $?;" \
			    "see load.log)" | tee -a "$summary"
		fi
		stop_load
		grep -E '^(FAILED|ERROR) ' "$out/load.log" |
		    sed 's/^/    load: /' | tee -a "$summary"
	else
		run "test-$i" make test
	fi
	i=$((i + 1))
done

(cd "$work/run" && make wspubsub-asan) > "$out/build-asan.log" 2>&1 || {
	echo "repeat: could not build wspubsub-asan (see build-asan.log)"
	exit 1
}
i=1
while [ "$i" -le "$ASAN_RUNS" ]; do
	run "asan-integration-$i" env WSPUBSUB=./wspubsub-asan \
	    "$PYTHON" -m pytest -q -p no:cacheprovider tests/integration
	i=$((i + 1))
done

echo
echo "== repeat summary"
cat "$summary"
if [ $failed -eq 0 ]; then
	echo "repeat: all $((N + ASAN_RUNS)) runs passed"
	exit 0
fi
echo "repeat: $failed of $((N + ASAN_RUNS)) runs FAILED"
exit 1
