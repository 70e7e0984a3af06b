#!/bin/sh
# tests/stress/run.sh -- the long abuse, leak and load runs
# (make stress).  Runs against $WSPUBSUB (default ./wspubsub) and ends
# with a summary of the figures each test reported.
#   tests/stress/run.sh [pytest args, e.g. -k load]
set -u
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-/usr/bin/python3}
WSPUBSUB=${WSPUBSUB:-./wspubsub}
export WSPUBSUB
mkdir -p build/stress
WSPUBSUB_REPORT=$(pwd)/build/stress/report.txt
export WSPUBSUB_REPORT
: > "$WSPUBSUB_REPORT"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
ulimit -c 0 2>/dev/null || true

start=$(date +%s)
# Each test is bounded on its own; this bounds the whole run as well.
timeout -k 10 1200 "$PYTHON" -m pytest -q -s -p no:cacheprovider \
    --durations=0 tests/stress "$@"
rc=$?
end=$(date +%s)

echo
echo "== stress summary ($WSPUBSUB, $((end - start)) s)"
cat "$WSPUBSUB_REPORT"
[ $rc -eq 0 ] && echo "stress: passed" || echo "stress: FAILED (exit $rc)"
exit $rc
