#!/bin/bash
# tools/bench.sh [BUILDDIR]: contmig's benchmark (make bench).
#
# For contract targets (tools/bench-target) with 0, 16, 64, 256 and 1024 MiB
# of touched memory and a sparse one (1 GiB mapped, 1% touched) it times
#   freeze  contmig freeze to a file on tmpfs
#   thaw    contmig thaw -d of that file
#   pipe    contmig freeze -o - | contmig thaw -d -
#   send    contmig send over loopback, and send-key with --key
#   criu-dump, criu-restore  CRIU's, when criu is on PATH
# next to what the machine does with the same bytes (tools/bench-ref):
#   memcpy  into fresh pages;  tcp  a plain loopback TCP copy;
#   peek    a PTRACE_PEEKDATA dump, a word at a time (timed on at most 16 MiB
#           and scaled linearly).
# Downtime is the target's own: the longest pause between two of its 1 ms
# ticks, from the moment it stopped to the moment its copy ran again (for
# thaw: the freeze, the thaw and the shell in between).
# Every figure is the median of BENCH_REPS runs (5), with the fastest and
# slowest next to it.  Prints a table and writes BENCH_CSV (BUILDDIR/bench.csv).
#   BENCH_SIZES  cases to run (default "0 16 64 256 1024 sparse")
#   BENCH_DIR    where images go (default /dev/shm, a tmpfs)
# As root it runs in a network namespace of its own (a quiet loopback).
set -eu
top=$(cd "${1:-.}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
reps=${BENCH_REPS:-5}
sizes=${BENCH_SIZES:-0 16 64 256 1024 sparse}
csv=${BENCH_CSV:-$top/bench.csv}
contmig=$top/contmig
target=$top/tools/bench-target
ref=$top/tools/bench-ref

if [ "$(id -u)" -eq 0 ] && [ -z "${BENCH_NETNS:-}" ]; then
	exec env BENCH_NETNS=1 unshare --net -- bash -c 'ip link set lo up && exec bash "$0" "$@"' \
		"$here/bench.sh" "$top"
fi
work=$(mktemp -d "${BENCH_DIR:-/dev/shm}/contmig-bench.XXXXXX")
# Records of its own: a listener settles every record in its state directory
# each time a child ends, so a shared one that many tests and benches
# have filled (thousands of files) would be timed too, and delay accepts.
mkdir -m 700 "$work/state"
export CONTMIG_STATE_DIR=$work/state
port=$((20000 + $$ % 20000))
pids=
finish()
{
	# shellcheck disable=SC2086
	kill -9 $pids $(cat copies 2> /dev/null) 2> /dev/null || true
	rm -rf "$work"
}
trap finish EXIT
cd "$work"
"$contmig" keygen key

# until_line FILE PATTERN: wait (10 s at most) for a line in FILE.
until_line()
{
	for _ in $(seq 200); do
		grep -q "$2" "$1" 2> /dev/null && return 0
		sleep 0.05
	done
	echo "bench: no '$2' in $1 after 10 s:" >&2
	cat "$1" >&2
	exit 1
}

# start_target MIB PERCENT: a target with no files open beyond 0-2 (freeze
# would refuse them); sets $tpid once it is ready.
start_target()
{
	(
		for fd in /proc/$BASHPID/fd/*; do
			fd=${fd##*/}
			[ "$fd" -gt 2 ] && eval "exec $fd>&-"
		done
		exec "$target" "$1" "$2"
	) > target.out 2>&1 &
	tpid=$!
	disown "$tpid"
	pids="$pids $tpid"
	until_line target.out '^ready'
}

now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc; }

# downtime FILE PID: the copy's gap line says how long it was away (printed
# in seconds); end the copy.
downtime()
{
	echo "$2" >> copies
	until_line "$1" "^$2 gap "
	kill -9 "$2"
	if grep -q "^$2 gap .* bad" "$1"; then
		echo "bench: the copy of the target (PID $2) lost memory" >&2
		exit 1
	fi
	grep "^$2 gap " "$1" | head -n 1 | awk '{ printf "%.4f\n", $3 / 1e6 }'
}

# stats: median, min and max of the numbers on stdin.
stats()
{
	sort -g | awk '{ v[NR] = $1 }
		END { if (NR) printf "%.4f %.4f %.4f\n", v[int((NR + 1) / 2)], v[1], v[NR] }'
}

# One run of each operation; each adds "SECONDS DOWNTIME" (or "SECONDS -")
# to OPERATION.times.
# A detached copy writes to /dev/null unless told (--stdout); a contmig
# from before that option shares thaw's stdout.
detached_out()
{
	if "$contmig" thaw --help | grep -q -- --stdout; then
		echo "--stdout $1"
	fi
}

run_freeze_thaw()
{
	local t0 t1 t2 new down
	start_target "$@"
	t0=$(now)
	"$contmig" freeze -q -o img "$tpid"
	t1=$(now)
	stored=$(stat -c %s img)
	: > thaw.out
	"$contmig" thaw -q -d $(detached_out thaw.out) img >> thaw.out
	t2=$(now)
	new=$(grep -m 1 -x '[0-9]*' thaw.out)
	down=$(downtime thaw.out "$new")
	echo "$(elapsed "$t0" "$t1") -" >> freeze.times
	echo "$(elapsed "$t1" "$t2") $down" >> thaw.times
	rm -f img
}

run_pipe()
{
	local t0 t1 new down
	start_target "$@"
	: > pipe.out
	t0=$(now)
	"$contmig" freeze -q -o - "$tpid" | "$contmig" thaw -q -d $(detached_out pipe.out) - >> pipe.out
	t1=$(now)
	new=$(grep -m 1 -x '[0-9]*' pipe.out)
	down=$(downtime pipe.out "$new")
	echo "$(elapsed "$t0" "$t1") $down" >> pipe.times
}

# run_send OPERATION LISTENER_PORT MIB PERCENT [SEND OPTIONS]
run_send()
{
	local op=$1 p=$2 mib=$3 pct=$4 t0 t1 new down
	shift 4
	start_target "$mib" "$pct"
	t0=$(now)
	read -r new _ < <("$contmig" send -q "$@" "$tpid" "127.0.0.1:$p")
	t1=$(now)
	down=$(downtime "$op.log" "$new")
	echo "$(elapsed "$t0" "$t1") $down" >> "$op.times"
}

start_listener()
{
	local log=$1
	shift
	"$contmig" thaw --listen "$port" "$@" > "$log" 2> "$log.err" &
	pids="$pids $!"
	until_line "$log.err" 'thaw: listening'
}

# CRIU's dump and restore of the same target, when criu is on PATH (as
# root): a dump into BENCH_DIR with the process ending, and a detached
# restore.  The copy keeps its PID, so the target cannot tell its downtime.
criu=$(command -v criu || true)
if [ -n "$criu" ] && [ "$(id -u)" -ne 0 ]; then
	echo "bench: criu needs root: no CRIU rows"
	criu=
elif [ -z "$criu" ]; then
	echo "bench: no criu on PATH: no CRIU rows"
elif ! "$criu" check > criu-check.log 2>&1; then
	echo "bench: 'criu check' fails here ($(grep -m 1 Error criu-check.log)): no CRIU rows"
	criu=
fi
run_criu()
{
	local t0 t1 t2
	start_target "$@"
	rm -rf criu-img && mkdir criu-img
	t0=$(now)
	"$criu" dump -v0 -t "$tpid" -D criu-img --shell-job > criu.log 2>&1 ||
		{ echo "bench: criu dump failed: $(tail -n 3 criu.log)" >&2; exit 1; }
	t1=$(now)
	"$criu" restore -v0 -d -D criu-img --shell-job >> criu.log 2>&1 ||
		{ echo "bench: criu restore failed: $(tail -n 3 criu.log)" >&2; exit 1; }
	t2=$(now)
	kill -9 "$tpid"
	echo "$(elapsed "$t0" "$t1") -" >> criu-dump.times
	echo "$(elapsed "$t1" "$t2") -" >> criu-restore.times
	rm -rf criu-img
}

plain_port=$port
start_listener send.log
port=$((port + 1))
key_port=$port
start_listener send-key.log --key key

echo "case,mapped_mib,touched_mib,operation,reps,median_s,min_s,max_s,mib_per_s,downtime_s,x_memcpy,x_tcp,stored_mib" > "$csv"
printf '%-7s %8s %-9s %9s %17s %9s %9s %8s %7s\n' case touched operation 'median s' \
	'(min-max)' 'MiB/s' 'downtime' 'xmemcpy' 'xtcp'

# row CASE MAPPED TOUCHED OPERATION FILE-OF-"SECONDS DOWNTIME"-LINES [SCALE]
row()
{
	local name=$1 mapped=$2 mib=$3 op=$4 file=$5 scale=${6:-1}
	local med lo hi down rate xm xt
	read -r med lo hi < <(awk -v s="$scale" '{ print $1 * s }' "$file" | stats)
	down=$(awk '$2 != "-" { print $2 }' "$file" | stats | awk '{ print $1 }')
	[ -n "$down" ] || down=-
	rate=$(awk -v m="$mib" -v t="$med" 'BEGIN { print ((m > 0 && t > 0) ? sprintf("%.0f", m / t) : "-") }')
	xm=$(awk -v t="$med" -v r="${memcpy_s:-0}" 'BEGIN { print (r > 0 ? sprintf("%.2f", t / r) : "-") }')
	xt=$(awk -v t="$med" -v r="${tcp_s:-0}" 'BEGIN { print (r > 0 ? sprintf("%.2f", t / r) : "-") }')
	printf '%-7s %8s %-9s %9s %17s %9s %9s %8s %7s\n' "$name" "$mib" "$op" "$med" "($lo-$hi)" \
		"$rate" "$down" "$xm" "$xt"
	echo "$name,$mapped,$mib,$op,$reps,$med,$lo,$hi,$rate,$down,$xm,$xt,${stored_mib:-}" >> "$csv"
}

for size in $sizes; do
	case $size in
	# 1% of the pages: every 100th of 262144, as bench-target touches them.
	sparse) mapped=1024 pct=1 touched=$(echo "scale=2; (262144 + 99) / 100 * 4 / 1024" | bc) ;;
	*) mapped=$size pct=100 touched=$size ;;
	esac
	# The references move the touched bytes (rounded up to a MiB).
	refmib=$(awk -v t="$touched" 'BEGIN { m = int(t); if (m < t) m++; print m }')
	memcpy_s= tcp_s= stored_mib=
	rm -f memcpy.times tcp.times peek.times freeze.times thaw.times pipe.times send.times \
		send-key.times criu-dump.times criu-restore.times
	# The references run in turn with the operations, one of each per
	# round: this machine's memory costs more or less from one minute to
	# the next (a balloon hands freed memory back to the host), and each
	# round sees the same.
	for _ in $(seq "$reps"); do
		if [ "$refmib" -gt 0 ]; then
			"$ref" memcpy "$refmib" | sed 's/$/ -/' >> memcpy.times
			"$ref" tcp "$refmib" | sed 's/$/ -/' >> tcp.times
		fi
		run_freeze_thaw "$mapped" "$pct"
		run_pipe "$mapped" "$pct"
		run_send send "$plain_port" "$mapped" "$pct"
		run_send send-key "$key_port" "$mapped" "$pct" --key key
		[ -z "$criu" ] || run_criu "$mapped" "$pct"
	done
	if [ "$refmib" -gt 0 ]; then
		peekmib=$((refmib < 16 ? refmib : 16))
		"$ref" peek "$peekmib" | sed 's/$/ -/' > peek.times
		memcpy_s=$(awk '{ print $1 }' memcpy.times | stats | awk '{ print $1 }')
		tcp_s=$(awk '{ print $1 }' tcp.times | stats | awk '{ print $1 }')
		row "$size" "$mapped" "$touched" memcpy memcpy.times
		row "$size" "$mapped" "$touched" tcp tcp.times
		row "$size" "$mapped" "$touched" peek peek.times \
			"$(echo "$refmib / $peekmib" | bc -l)"
	fi
	stored_mib=$(echo "scale=2; $stored / 1048576" | bc)
	row "$size" "$mapped" "$touched" freeze freeze.times
	stored_mib=
	for op in thaw pipe send send-key ${criu:+criu-dump criu-restore}; do
		row "$size" "$mapped" "$touched" "$op" "$op.times"
	done
done
echo "bench: medians of $reps runs; CSV in $csv"
