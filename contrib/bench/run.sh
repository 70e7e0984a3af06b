#!/bin/sh
# run.sh [N] -- run the benchmark N times (default 3) against $SERVER
# (default ./wspubsub), print every table, then the table of the medians.
# Each run's figures are kept as TSV in a directory under /tmp.
here=$(dirname "$0")
n=${1:-3}
server=${SERVER:-./wspubsub}
out=$(mktemp -d /tmp/wsbench-runs.XXXXXX) || exit 2
status=0
i=1
while [ "$i" -le "$n" ]; do
	echo "== run $i of $n"
	"$here/wsbench" -s "$server" -t "$out/run$i.tsv" || status=$?
	i=$((i + 1))
done
"$here/wsbench" -m "$out"/run*.tsv
echo "(figures of each run: $out)"
exit "$status"
