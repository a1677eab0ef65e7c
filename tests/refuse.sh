#!/bin/bash
# What breaks only the Continuum contract moves: a contract program without
# crt0's canary (thaw does not look for one its image says it lacked), and one
# with a brk heap (brk is carried).  What cannot move is refused up front
# (tests/check-pid.sh, tests/freeze-refuse.sh).
. "$srcdir/tests/init.sh"

# start_ticking_ NAME CMD...: start CMD (it prints a line every 100 ms) with
# its output in NAME.out and wait for its first line; its PID is in $pid.
start_ticking_()
{
	local name=$1
	shift
	start_ "$@" > "$name.out"
	wait_for_ 5 file_has_lines_ "$name.out" 1
}

# A contract program whose own _start skipped the canary breaks the contract
# but moves: its image says it had no canary, so thaw does not look for one.
start_ticking_ nocanary "$builddir/tests/nocanary"
expect_status_ 0 "$CONTMIG" check "$pid"
grep -qx "PID $pid (nocanary): moves; breaks the Continuum contract" out || fail_ "$(cat out)"
grep -q "^  no    canary      the canary at 0x5000ffff0 is 0x0, not 0xcafebabe" out ||
	fail_ "$(cat out)"
expect_status_ 0 "$CONTMIG" freeze -o nocanary.img "$pid"
new=$("$CONTMIG" thaw --detach --stdout nocanary.out2 nocanary.img) || fail_ "thaw exited $?"
started_pids="$started_pids $new"
wait_for_ 5 file_has_lines_ nocanary.out2 2
kill "$new"

# A contract program with a brk heap moves (brk is carried: tests/ordinary.sh
# has the ordinary programs): its copy ticks on, and its [heap] is a heap
# again where the source's was.
start_ticking_ brkheap "$builddir/tests/brkheap"
expect_status_ 0 "$CONTMIG" check "$pid"
grep -q "^  ok    heap        a brk heap at 0x[0-9a-f]*-0x[0-9a-f]*: it moves (brk is carried)" out ||
	fail_ "brkheap: $(cat out)"
heap=$(grep -F ' [heap]' "/proc/$pid/maps" | cut -d' ' -f1)
expect_status_ 0 "$CONTMIG" freeze -o brkheap.img "$pid"
new=$("$CONTMIG" thaw --detach --stdout brkheap.out2 brkheap.img) || fail_ "thaw exited $?"
started_pids="$started_pids $new"
wait_for_ 5 file_has_lines_ brkheap.out2 2
[ "$(grep -F ' [heap]' "/proc/$new/maps" | cut -d' ' -f1)" = "$heap" ] ||
	fail_ "brkheap: the copy's heap is not $heap: $(cat "/proc/$new/maps")"
kill "$new"
exit 0
