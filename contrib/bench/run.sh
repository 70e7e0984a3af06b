#!/bin/sh
# run.sh [N] -- run the benchmark N times (default 3) against $SERVER
# (default ./wspubsub) for each max_clients_per_child in $SETTINGS
# (default "1 1000"), the settings taking turns (so that a change in the
# machine's load falls on both), print every table, then the table of the
# medians of each setting.  Each run's figures are kept as TSV in a
# directory under /tmp, one file per run, named after its setting.
here=$(dirname "$0")
n=${1:-3}
server=${SERVER:-./wspubsub}
settings=${SETTINGS:-1 1000}
out=$(mktemp -d /tmp/wsbench-runs.XXXXXX) || exit 2
status=0
i=1
while [ "$i" -le "$n" ]; do
	for c in $settings; do
		echo "== run $i of $n, max_clients_per_child $c"
		"$here/wsbench" -s "$server" -c "$c" -t "$out/c$c-run$i.tsv" ||
		    status=$?
	done
	i=$((i + 1))
done
for c in $settings; do
	ls "$out"/c"$c"-run*.tsv >/dev/null 2>&1 &&
	    "$here/wsbench" -m "$out"/c"$c"-run*.tsv
done
echo "(figures of each run: $out)"
exit "$status"
