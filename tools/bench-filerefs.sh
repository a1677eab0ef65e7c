#!/bin/bash
# tools/bench-filerefs.sh [BUILDDIR]: mapped files by reference against whole
# files (make bench-filerefs; root: it makes a mount namespace), for dynamic
# glibc programs: tests/plain-dynamic (stdio, a brk heap growing 64 KiB a
# second, the clocks) and tests/mapped (no heap; a 64 KiB data file mapped
# besides its binary, libc and ld.so); BENCH_PROGS picks ("plain mapped").
# For each program and way it measures
#   size    the image's bytes (freeze -o), and the bytes send put on the wire
#   freeze  contmig freeze -r to a file on tmpfs
#   thaw    contmig thaw --detach of that image (until the copy runs)
#   send    contmig send over loopback, the source ending: "ref" to a receiver
#           that has the files; "whole" to one in a mount namespace of its
#           own where each of them is another file (one byte longer), so it
#           answers that it has none and every page travels
# Runs alternate (whole ref, ref whole, ...) so that the machine's noise falls
# on both alike; each figure is the median of BENCH_REPS (15) runs with the
# fastest and slowest.  Then what the checksums cost (tools/bench-fileref).
set -eu
top=$(cd "${1:-.}" && pwd)
reps=${BENCH_REPS:-15}
progs=${BENCH_PROGS:-plain mapped}
contmig=$top/contmig
[ "$(id -u)" -eq 0 ] || { echo "bench-filerefs: needs root (a mount namespace)" >&2; exit 77; }
if [ -z "${BENCH_NETNS:-}" ]; then
	exec env BENCH_NETNS=1 unshare --net -- bash -c 'ip link set lo up && exec bash "$0" "$@"' \
		"$0" "$top"
fi
# Only 0-2 open: a process with more does not move.
for fd in /proc/$$/fd/*; do
	fd=${fd##*/}
	[ "$fd" -gt 2 ] && eval "exec $fd>&-"
done
work=$(mktemp -d /dev/shm/contmig-filerefs.XXXXXX)
chmod 755 "$work"	# a receiver references only what anyone may read
port=$((20000 + $$ % 20000))
pids=
finish()
{
	# shellcheck disable=SC2086
	kill -9 $pids $(cat "$work/copies" "$work/inner.pid" 2> /dev/null) 2> /dev/null || true
	wait 2> /dev/null || true
	rm -rf "$work"
}
trap finish EXIT
cd "$work"
head -c 65536 /dev/urandom > data

# start_prog: a fresh program ($prog), its PID in $pid, once it runs.
start_prog()
{
	case $prog in
	plain) "$top/tests/plain-dynamic" --period 1000 > /dev/null & ;;
	mapped) "$top/tests/mapped" "$work/data" > /dev/null & ;;
	esac
	pid=$!
	disown "$pid"		# no word from bash when it is killed
	pids="$pids $pid"
	sleep 0.2
}

# The receivers: one here, one where the files are others.
"$contmig" thaw --listen $port --stdout /dev/null > /dev/null 2> l.ref &
pids="$pids $!"
files=
for prog in $progs; do
	start_prog
	files="$files $(awk '$6 ~ /^\// { print $6 }' "/proc/$pid/maps")"
done
mkdir other
n=0
binds=
for f in $(echo "$files" | tr ' ' '\n' | sort -u); do
	n=$((n + 1))
	cp "$f" "other/$n" && echo >> "other/$n"
	binds="$binds mount --bind $work/other/$n $f &&"
done
# The receiver starts with its own libraries mapped, then the binds go over
# the files (it never runs them again: its workers fork, the restorer is
# static).
unshare --mount --propagation private -- bash -c \
	"$contmig thaw --listen $((port + 1)) --stdout /dev/null > /dev/null 2> l.whole &
	 echo \$! > inner.pid; sleep 0.3; $binds wait" &
pids="$pids $!"
sleep 0.6

ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", b - a }'; }

# one WAY OP: time one run of OP the WAY way on $pid; a line in results.
one()
{
	local way=$1 op=$2 t0 t1 out bytes=-
	case $op in
	freeze)
		t0=$EPOCHREALTIME
		if [ "$way" = ref ]; then
			"$contmig" freeze -q -r --reference-files -o $way.img "$pid"
		else
			"$contmig" freeze -q -r -o $way.img "$pid"
		fi
		t1=$EPOCHREALTIME
		bytes=$(stat -c %s $way.img) ;;
	thaw)
		t0=$EPOCHREALTIME
		out=$("$contmig" thaw -q --detach $way.img)
		t1=$EPOCHREALTIME
		echo "$out" >> copies
		kill -9 "$out" ;;
	send)
		t0=$EPOCHREALTIME
		out=$("$contmig" send -q "$pid" 127.0.0.1:$((port + $([ "$way" = ref ] && echo 0 || echo 1))))
		t1=$EPOCHREALTIME
		echo "${out%% *}" >> copies
		kill -9 "${out%% *}"
		sleep 0.05
		bytes=$(grep ' -> PID [0-9]*: running' "l.$way" | tail -n 1 | sed -n 's/.*; \([0-9.]*\) \([KM]\)iB in .*/\1 \2/p' |
			awk '{ print int($1 * ($2 == "M" ? 1048576 : 1024)) }')
		start_prog ;;	# the source has gone
	esac
	echo "$prog $way $op $(ms "$t0" "$t1") $bytes" >> results
}

: > results
for prog in $progs; do
	start_prog
	for r in $(seq "$reps"); do
		for op in freeze thaw send; do
			if [ $((r % 2)) -eq 1 ]; then
				one whole $op; one ref $op
			else
				one ref $op; one whole $op
			fi
		done
	done
	printf '\n%-7s %-6s %-7s %10s %22s %10s\n' program way op "median s" "(min-max)" bytes
	for op in freeze thaw send; do
		for way in whole ref; do
			awk -v p=$prog -v w=$way -v o=$op '$1 == p && $2 == w && $3 == o { print $4, $5 }' \
				results | sort -n |
				awk -v p=$prog -v w=$way -v o=$op '{ t[NR] = $1; if ($2 ~ /^[0-9]+$/) b = $2 }
					END { printf "%-7s %-6s %-7s %10.4f  (%.4f-%.4f) %10s\n", p, w, o,
					      t[int((NR + 1) / 2)], t[1], t[NR], b == "" ? "-" : b }'
		done
	done
	echo
	echo "$prog: the checksums (tools/bench-fileref, $reps runs):"
	"$top/tools/bench-fileref" "$pid" "$reps"
done
