#!/bin/bash
# tools/bench-ordinary.sh [BUILDDIR]: an ordinary dynamic glibc program next
# to a Continuum program with the same memory (make bench-ordinary; root: it
# makes a network namespace): tests/bigmem MIB and tools/bigmem-plain MIB
# (malloc'd), BENCH_MIB (64) MiB each.  For each it measures
#   size    the image's bytes (freeze -o), and the bytes send put on the wire
#   freeze  contmig freeze to a file on tmpfs (the process ends)
#   thaw    contmig thaw --detach of that image (until the copy runs)
#   send    contmig send over loopback to a listener, the source ending (the
#           ordinary one's libraries go by reference: the listener has them)
# Runs alternate (contract plain, plain contract, ...) so that the machine's
# noise falls on both alike; each figure is the median of BENCH_REPS (9)
# runs with the fastest and slowest.
set -eu
top=$(cd "${1:-.}" && pwd)
reps=${BENCH_REPS:-9}
mib=${BENCH_MIB:-64}
contmig=$top/contmig
[ "$(id -u)" -eq 0 ] || { echo "bench-ordinary: needs root (a network namespace)" >&2; exit 77; }
if [ -z "${BENCH_NETNS:-}" ]; then
	exec env BENCH_NETNS=1 unshare --net -- bash -c 'ip link set lo up && exec bash "$0" "$@"' \
		"$0" "$top"
fi
for fd in /proc/$$/fd/*; do
	fd=${fd##*/}
	[ "$fd" -gt 2 ] && eval "exec $fd>&-"
done
work=$(mktemp -d /dev/shm/contmig-ordinary.XXXXXX)
port=$((20000 + $$ % 20000))
pids=
finish()
{
	# shellcheck disable=SC2086
	kill -9 $pids $(cat "$work/copies" 2> /dev/null) 2> /dev/null || true
	wait 2> /dev/null || true
	rm -rf "$work"
}
trap finish EXIT
cd "$work"

start_prog()
{
	case $1 in
	contract) "$top/tests/bigmem" "$mib" > out & ;;
	plain) "$top/tools/bigmem-plain" "$mib" > out & ;;
	esac
	pid=$!
	disown "$pid"
	pids="$pids $pid"
	until grep -q ready out 2> /dev/null; do sleep 0.05; done
}

ms() { echo $(( ($2 - $1) / 1000000 )).$(( ($2 - $1) / 100000 % 10 )); }

"$contmig" thaw --listen 127.0.0.1:$port --quiet > /dev/null 2> listener.log &
pids="$pids $!"
until grep -q listening listener.log; do sleep 0.05; done

for i in $(seq "$reps"); do
	order="contract plain"
	[ $((i % 2)) -eq 0 ] && order="plain contract"
	for kind in $order; do
		start_prog "$kind"
		t0=$(date +%s%N)
		"$contmig" freeze -q -o img "$pid"
		t1=$(date +%s%N)
		echo "$(ms "$t0" "$t1")" >> "$kind.freeze"
		stat -c %s img > "$kind.size"
		t0=$(date +%s%N)
		new=$("$contmig" thaw --detach img)
		t1=$(date +%s%N)
		echo "$new" >> copies
		echo "$(ms "$t0" "$t1")" >> "$kind.thaw"
		t0=$(date +%s%N)
		"$contmig" send -q "$new" 127.0.0.1:$port > sent 2> send.err
		t1=$(date +%s%N)
		echo "$(ms "$t0" "$t1")" >> "$kind.send"
		read -r moved _ < sent
		echo "$moved" >> copies
		kill -9 "$moved" 2> /dev/null || true
		rm -f img
	done
done

stats()
{
	sort -n "$1" | awk '{ v[NR] = $1 } END { printf "%s ms (%s-%s)", v[int((NR + 1) / 2)], v[1], v[NR] }'
}
printf '%s MiB touched, %s runs each, medians (min-max)\n' "$mib" "$reps"
printf '%-9s %12s %22s %22s %22s\n' program image freeze thaw send
for kind in contract plain; do
	printf '%-9s %12s %22s %22s %22s\n' "$kind" "$(cat "$kind.size")" "$(stats "$kind.freeze")" \
		"$(stats "$kind.thaw")" "$(stats "$kind.send")"
done
