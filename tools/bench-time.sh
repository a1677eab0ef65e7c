#!/bin/bash
# tools/bench-time.sh [BUILDDIR]: how long a sleep a move interrupts takes.
#
# tests/sleeper sleeps BENCH_TIME_MS (1000) ms in one call and is frozen to
# a file half way through, then thawed at once (thaw --detach returns when
# the copy runs).  For each kind of sleep, in the same run, interleaved:
#   over   how much longer than asked it slept, by its own CLOCK_MONOTONIC
#          (which runs on during the move: the pause is in it)
#   move   from freeze's start to the copy running (an upper bound of the
#          pause, which begins when freeze stops the process)
#   error  over - move: what the sleep added beyond the move itself (not
#          for null, whose move waits for its sleep to run out first)
# clock (clock_nanosleep with rem) sleeps its remainder in the copy; null
# (usleep: no rem) has its wait run out before the move.  Medians of
# BENCH_REPS (7) runs, with the smallest and largest.
set -eu
top=$(cd "${1:-.}" && pwd)
reps=${BENCH_REPS:-7}
ms=${BENCH_TIME_MS:-1000}
contmig=$top/contmig
sleeper=$top/tests/sleeper
bench=bench-time
. "$(dirname "$0")/bench-common.sh"
bench_workdir

now_ms() { date +%s.%N | awk '{ printf "%.3f", $1 * 1000 }'; }

# run_one HOW: one sleep frozen half way, a line "over move error" in HOW.times.
run_one()
{
	local pid t0 t1 slept
	"$sleeper" once "$1" "$ms" > before 2>&1 &
	pid=$!
	disown "$pid"
	pids="$pids $pid"
	until_line before start
	sleep "$(awk -v ms="$ms" 'BEGIN { print ms / 2000 }')"
	t0=$(now_ms)
	"$contmig" freeze -q -o img "$pid"
	"$contmig" thaw --detach --stdout after img > /dev/null
	t1=$(now_ms)
	until_line after woke
	slept=$(awk '/woke/ { print $3 }' after)
	awk -v s="$slept" -v ms="$ms" -v t0="$t0" -v t1="$t1" \
		'BEGIN { printf "%.1f %.1f %.1f\n", s - ms, t1 - t0, s - ms - (t1 - t0) }' >> "$1.times"
	rm -f img after
}

# stats COLUMN FILE: median, min and max.
stats()
{
	cut -d' ' -f"$1" "$2" | sort -g | awk '{ v[NR] = $1 }
		END { printf "%.1f (%.1f to %.1f)", v[int((NR + 1) / 2)], v[1], v[NR] }'
}

for _ in $(seq "$reps"); do
	run_one clock
	run_one null
done
echo "a $ms ms sleep frozen half way and thawed at once; medians of $reps (min to max), ms:"
printf '%-8s %-24s %-24s %s\n' "sleep" "over" "move" "error"
for how in clock null; do
	error=-
	[ $how = null ] || error=$(stats 3 $how.times)
	printf '%-8s %-24s %-24s %s\n' "$how" "$(stats 1 $how.times)" "$(stats 2 $how.times)" "$error"
done
