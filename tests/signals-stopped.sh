#!/bin/bash
# A stopped process is still stopped after the move: kill -STOP, freeze,
# thaw --detach: the copy is in a group stop (State T, untraced) and counts
# on once continued.  freeze --leave-running of a stopped process leaves it
# stopped.
. "$srcdir/tests/init.sh"

counter=$builddir/tests/counter

# stopped_ PID: PID is in a group stop, not traced.
stopped_()
{
	grep -q '^State:[[:space:]]*T (stopped)' "/proc/$1/status" &&
		grep -q '^TracerPid:[[:space:]]*0$' "/proc/$1/status"
}

start_ "$counter" > before
wait_for_ 5 file_has_lines_ before 2
kill -STOP "$pid"
wait_for_ 5 stopped_ "$pid"

# --leave-running: stopped it was, stopped it stays.
expect_status_ 0 "$CONTMIG" freeze --leave-running -o keep.img "$pid"
sleep 0.3
stopped_ "$pid" || fail_ "freeze --leave-running resumed a stopped process: " \
	"$(grep -E 'State|TracerPid' "/proc/$pid/status")"
"$CONTMIG" inspect keep.img > /dev/null || fail_ "inspect refuses the image"

# The default: it ends here, and its copy is stopped there.
expect_status_ 0 "$CONTMIG" freeze -o stopped.img "$pid"
"$CONTMIG" thaw --detach --stdout after stopped.img >> after || fail_ "thaw exited $?"
copy=$(head -n 1 after)
started_pids="$started_pids $copy"
wait_for_ 5 stopped_ "$copy"
sleep 0.3
[ "$(wc -l < after)" -eq 1 ] || fail_ "the stopped copy printed: $(tail -n +2 after)"
stopped_ "$copy" || fail_ "the copy did not stay stopped"
kill -CONT "$copy"
wait_for_ 5 file_has_lines_ after 3
running_untraced_ "$copy"
tail -n +2 after > resumed
follows_ before resumed
exit 0
