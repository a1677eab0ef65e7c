#!/bin/bash
# tools/bench-live.sh [BUILDDIR]: the live row of make bench.
#
# A program with BENCH_LIVE_MIB (1024) MiB touched that rewrites
# BENCH_LIVE_HOT (10) MiB of it all the time (tests/livewrite: it looks at
# its clock after every page and reports its longest pause) is moved over
# loopback with send --live and, in the same run, interleaved, with a plain
# send.  For each: the pause the program itself saw (ms), the pause send
# reports (live only), and the bytes on the wire (loopback's counters, TCP
# included) relative to the touched memory.  Every copy checks every page
# after the move: a wrong page fails the benchmark.  Medians of
# BENCH_REPS (5) runs, with the fastest and slowest.
set -eu
top=$(cd "${1:-.}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
reps=${BENCH_REPS:-5}
mib=${BENCH_LIVE_MIB:-1024}
hot=${BENCH_LIVE_HOT:-10}
contmig=$top/contmig
livewrite=$top/tests/livewrite

if [ "$(id -u)" -ne 0 ]; then
	echo "bench-live: skipped: needs root for a network namespace of its own (a quiet loopback)"
	exit 0
fi
if [ -z "${BENCH_NETNS:-}" ]; then
	exec env BENCH_NETNS=1 unshare --net -- bash -c 'ip link set lo up && exec bash "$0" "$@"' \
		"$here/bench-live.sh" "$top"
fi
bench=bench-live
. "$(dirname "$0")/bench-common.sh"
bench_workdir

"$contmig" thaw --listen 7742 > copies.out 2> listener.log &
disown $!
pids="$pids $!"
until_line listener.log 'listening on'

# Bytes loopback sent (this network namespace's: /proc/net/dev, not /sys).
tx() { awk '$1 == "lo:" { print $10 }' /proc/net/dev; }

# run_one MODE: start the program, move it (MODE live or plain), read the
# pause it saw from its copy's first check after the move; appends
# "PROGRAM_MS SEND_MS RATIO" to MODE.times.
run_one()
{
	local mode=$1 opt= src before after sent pause send_ms lines new
	[ "$mode" = live ] && opt=--live
	(
		for fd in /proc/$BASHPID/fd/*; do
			fd=${fd##*/}
			[ "$fd" -gt 2 ] && eval "exec $fd>&-"
		done
		exec "$livewrite" "$mib" "$hot"
	) > src.out 2>&1 &
	src=$!
	pids="$pids $src"
	until_line src.out '^ok 2 ' 120
	lines=$(wc -l < copies.out)
	before=$(tx)
	"$contmig" send $opt --progress "$src" 127.0.0.1 > send.out 2> send.err ||
		{ cat send.err >&2; exit 1; }
	after=$(tx)
	new=$(cut -d' ' -f1 send.out)
	pids="$pids $new"
	# The copy's first check after the move holds the pause.
	for _ in $(seq 600); do
		[ "$(wc -l < copies.out)" -gt "$lines" ] && break
		sleep 0.05
	done
	tail -n +$((lines + 1)) copies.out > copy.lines
	if grep -q FAIL copy.lines; then
		echo "bench-live: the copy found a wrong page: $(grep FAIL copy.lines)" >&2
		exit 1
	fi
	pause=$(awk '/^ok /{ print $4; exit }' copy.lines)
	[ -n "$pause" ] || { echo "bench-live: no check from the copy" >&2; exit 1; }
	send_ms=$(sed -n 's/.*paused \([0-9.]*\) ms.*/\1/p' send.err)
	sent=$((after - before))
	kill -9 "$new" 2> /dev/null || true
	wait "$src" 2> /dev/null || true
	echo "$pause ${send_ms:--} $(echo "scale=4; $sent / ($mib * 1048576)" | bc)" >> "$mode.times"
	[ "$mode" = live ] && sed -n 's/.*live: \([0-9]* rounds ([^)]*)\).*/\1/p' send.err >> rounds
	return 0
}

# stats COLUMN FILE: median, min and max.
stats()
{
	cut -d' ' -f"$1" "$2" | grep -v -- - | sort -g | awk '{ v[NR] = $1 }
		END { if (NR) printf "%.2f (%.2f-%.2f)", v[int((NR + 1) / 2)], v[1], v[NR]; else printf "-" }'
}

for _ in $(seq "$reps"); do
	run_one live
	run_one plain
done

echo "send --live of $mib MiB touched, $hot MiB rewritten all the time, over loopback;"
echo "medians of $reps (min-max), interleaved with a plain send of the same program:"
printf '%-12s %-28s %-28s %s\n' "" "pause seen by the program" "pause send reports" "bytes sent / touched"
printf '%-12s %-28s %-28s %s\n' "live (ms)" "$(stats 1 live.times)" "$(stats 2 live.times)" "$(stats 3 live.times)"
printf '%-12s %-28s %-28s %s\n' "plain (ms)" "$(stats 1 plain.times)" "-" "$(stats 3 plain.times)"
echo "rounds of the live sends:"
sed 's/^/  /' rounds
