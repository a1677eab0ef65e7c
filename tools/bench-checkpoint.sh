#!/bin/bash
# tools/bench-checkpoint.sh [BUILDDIR]: the checkpoint row of make bench.
#
# A program with BENCH_CKPT_MIB (1024) MiB touched that rewrites
# BENCH_CKPT_HOT (10) MiB of it all the time (tests/livewrite) runs under
# run --checkpoint --every 1s into a directory in BENCH_DIR (default
# /dev/shm; give a disk's directory to count the disk).  From run's own
# summary lines: the size of a checkpoint and how long the program was
# stopped for it, for the first (a base: all its memory) and for the
# periodic deltas after it; and how long the background merge of the chain
# into a base took.  Then the program is checkpointed on SIGTERM and
# resumed, and must find every page right.  Medians of BENCH_REPS (5) runs,
# with the smallest and largest.
set -eu
top=$(cd "${1:-.}" && pwd)
reps=${BENCH_REPS:-5}
mib=${BENCH_CKPT_MIB:-1024}
hot=${BENCH_CKPT_HOT:-10}
contmig=$top/contmig
livewrite=$top/tests/livewrite
bench=bench-checkpoint
# The program must hold nothing a checkpoint refuses: none of the fds make
# or a terminal leak to us.
for fd in /proc/$$/fd/*; do
	fd=${fd##*/}
	[ "$fd" -gt 2 ] && eval "exec $fd>&-"
done 2> /dev/null
. "$(dirname "$0")/bench-common.sh"
bench_workdir

# sizes FILE PATTERN: "MIB MS" of each summary line matching PATTERN.
sizes()
{
	sed -n "s/.*$2.* of \([0-9.]*\) \([KMG]\)iB, stopped \([0-9]*\) ms/\1 \2 \3/p" "$1" |
		awk '{ f = $2 == "G" ? 1024 : $2 == "K" ? 1 / 1024 : 1; print $1 * f, $3 }'
}

run_one()
{
	local i=$1
	rm -rf ck
	"$contmig" run --checkpoint ck --every 1s "$livewrite" "$mib" "$hot" > lw.out 2> lw.err &
	local run=$!
	pids="$pids $run"
	until_line lw.err 'merged checkpoints' 90
	until_line lw.err "a delta of" 10
	kill -TERM "$run"
	wait "$run" || [ $? -eq 75 ] || { echo "$bench: run failed: $(cat lw.err)" >&2; exit 1; }
	sizes lw.err 'a base' >> base.times
	sizes lw.err 'a delta' >> delta.times
	sed -n 's/.*merged checkpoints .* into a base, in \([0-9]*\) ms/\1/p' lw.err >> merge.times
	# Resumed, it checks every page against what it last wrote.
	"$contmig" run --checkpoint ck "$livewrite" "$mib" "$hot" > lw2.out 2> lw2.err &
	run=$!
	pids="$pids $run"
	until_line lw2.out '^ok' 60
	sleep 1.2
	if grep -q FAIL lw2.out; then
		echo "$bench: a wrong page after the resume: $(grep FAIL lw2.out)" >&2
		exit 1
	fi
	kill -TERM "$run"
	wait "$run" || true
	cp lw.err "run$i.err"
}

# stats COLUMN FILE: median, min and max.
stats()
{
	cut -d' ' -f"$1" "$2" | sort -g | awk '{ v[NR] = $1 }
		END { if (NR) printf "%.1f (%.1f-%.1f)", v[int((NR + 1) / 2)], v[1], v[NR]; else printf "-" }'
}

for i in $(seq "$reps"); do
	run_one "$i"
done

echo "run --checkpoint --every 1s of $mib MiB touched, $hot MiB rewritten all the time,"
echo "into ${BENCH_DIR:-/dev/shm}; medians of $reps runs (min-max):"
printf '%-30s %-24s %s\n' "" "size (MiB)" "program stopped (ms)"
printf '%-30s %-24s %s\n' "base (the first, whole)" "$(stats 1 base.times)" "$(stats 2 base.times)"
printf '%-30s %-24s %s\n' "periodic delta" "$(stats 1 delta.times)" "$(stats 2 delta.times)"
printf '%-30s %-24s %s\n' "merge in the background" "-" "$(stats 1 merge.times) (running)"
