#!/bin/bash
# freeze refuses what cannot move, and a refused or failed freeze leaves the
# process running, untraced, and no file behind.
. "$srcdir/tests/init.sh"
counter=$builddir/tests/counter

# Two threads.
start_ "$builddir/tests/threads"
wait_for_ 5 grep -q '^Threads:[[:space:]]*2$' "/proc/$pid/status"
expect_status_ 65 "$CONTMIG" freeze -o img "$pid"
one_error_line_
grep -q '2 threads' err || fail_ "$(cat err)"
running_untraced_ "$pid"
kill "$pid"

# A pipe: named; --drop-fds goes ahead and the thawed process runs.
start_ bash -c 'exec 7< <(sleep 30); exec "$0"' "$counter" > before
wait_for_ 5 file_has_lines_ before 1
expect_status_ 65 "$CONTMIG" freeze -o img "$pid"
one_error_line_
grep -q "fd 7 -> pipe:\[[0-9]*\]: a pipe does not move; close what does not move first, or use --drop-fds" err ||
	fail_ "$(cat err)"
running_untraced_ "$pid"
[ ! -e img ] || fail_ "a refused freeze wrote an image"
expect_status_ 0 "$CONTMIG" freeze --drop-fds -o img "$pid"
thaw_bg_ img after
wait_for_ 5 file_has_lines_ after 2
follows_ before after
kill -TERM "$thaw"

# Already traced by someone else.
if command -v strace > /dev/null; then
	start_ "$counter" > /dev/null
	strace -o /dev/null -p "$pid" 2> /dev/null &
	tracer=$!
	started_pids="$started_pids $tracer"
	wait_for_ 5 grep -q "^TracerPid:[[:space:]]*$tracer\$" "/proc/$pid/status"
	expect_status_ 65 "$CONTMIG" freeze -o img2 "$pid"
	grep -q "already traced by PID $tracer" err || fail_ "$(cat err)"
	kill "$tracer" "$pid"
fi

# No such process; not a PID; bad options.
sh -c 'exit 0' & gone=$!
wait "$gone"
expect_status_ 66 "$CONTMIG" freeze -o img3 "$gone"
one_error_line_
expect_status_ 64 "$CONTMIG" freeze -o img3 notapid
expect_status_ 64 "$CONTMIG" freeze --leave-running --leave-stopped 1
expect_status_ 64 "$CONTMIG" freeze

# The image cannot be written: the process goes on untouched.
start_ "$counter" > /dev/null
wait_for_ 5 grep -q '^Name:[[:space:]]*counter' "/proc/$pid/status"
expect_status_ 68 "$CONTMIG" freeze -o "$tmp/no/such/dir/img" "$pid"
one_error_line_
running_untraced_ "$pid"
# ... nor streamed: a pipe whose reader has gone (true exits at once).
{ sleep 0.3; "$CONTMIG" freeze -o - "$pid" 2> err; } | true
status=${PIPESTATUS[0]}
[ "$status" -eq 68 ] || fail_ "freeze into a closed pipe exited $status: $(cat err)"
running_untraced_ "$pid"
kill "$pid"
exit 0
