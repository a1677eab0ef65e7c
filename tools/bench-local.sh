#!/bin/bash
# tools/bench-local.sh BUILDDIR [OLD_BUILDDIR]: the local path, freeze to a
# file and thaw from it (make bench-local; BENCH_OLD=DIR for the other).
#
# For each of BENCH_SIZES (MiB of touched memory, default "256 1024") it runs
# BENCH_REPS (5) rounds, each of: the memcpy reference (tools/bench-ref: the
# same bytes into fresh pages), then per build a freeze of a fresh target
# (tools/bench-target) into BENCH_DIR (/dev/shm) and a thaw -d of that image,
# the copy checking every page.  The builds take turns within each round, so
# both see the same moods of this machine's memory.  Prints the median, min
# and max of each, and the median over memcpy's.
set -eu
top=$(cd "${1:-.}" && pwd)
old=${2:-}
[ -z "$old" ] || old=$(cd "$old" && pwd)
reps=${BENCH_REPS:-5}
sizes=${BENCH_SIZES:-256 1024}
target=$top/tools/bench-target
ref=$top/tools/bench-ref
bench=bench-local
. "$(dirname "$0")/bench-common.sh"
bench_workdir

now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc; }

# one NAME BUILDDIR MIB: freeze a fresh target with that build, then thaw it.
one()
{
	local name=$1 bin=$2/contmig mib=$3 tpid t0 t1 t2 new
	(
		for fd in /proc/$BASHPID/fd/*; do
			fd=${fd##*/}
			[ "$fd" -gt 2 ] && eval "exec $fd>&-"
		done
		exec "$target" "$mib" 100
	) > target.out 2>&1 &
	tpid=$!
	pids="$pids $tpid"
	until_line target.out '^ready'
	t0=$(now)
	"$bin" freeze -q -o img "$tpid"
	t1=$(now)
	: > copy.out
	"$bin" thaw -q -d --stdout copy.out img > copy.pid
	t2=$(now)
	read -r new < copy.pid
	pids="$pids $new"
	until_line copy.out "^$new gap "
	grep -q "^$new gap .* ok" copy.out ||
		{ echo "bench-local: the copy ($name) lost memory" >&2; exit 1; }
	kill -9 "$new"
	wait "$tpid" 2> /dev/null || true
	rm -f img
	echo "$(elapsed "$t0" "$t1")" >> "$name-freeze.times"
	echo "$(elapsed "$t1" "$t2")" >> "$name-thaw.times"
}

# stats FILE: median, min and max.
stats()
{
	sort -g "$1" | awk '{ v[NR] = $1 }
		END { printf "%.3f %.3f %.3f\n", v[int((NR + 1) / 2)], v[1], v[NR] }'
}

printf '%-6s %-14s %8s %15s %8s\n' MiB what 'median s' '(min-max)' xmemcpy
for mib in $sizes; do
	rm -f ./*.times
	for _ in $(seq "$reps"); do
		"$ref" memcpy "$mib" >> memcpy.times
		[ -z "$old" ] || one old "$old" "$mib"
		one new "$top" "$mib"
	done
	read -r base _ < <(stats memcpy.times)
	for what in memcpy ${old:+old-freeze} new-freeze ${old:+old-thaw} new-thaw; do
		read -r med lo hi < <(stats "$what.times")
		printf '%-6s %-14s %8s %15s %8.2f\n' "$mib" "$what" "$med" "($lo-$hi)" \
			"$(echo "$med / $base" | bc -l)"
	done
done
echo "bench-local: medians of $reps rounds${old:+; old is $old}"
