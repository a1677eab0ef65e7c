#!/bin/bash
# A copy that dies right after a move is reported, never passed over: a
# foreground thaw says which signal killed it and exits 128+N; a listener
# logs how each copy it reaps ended.
. "$srcdir/tests/init.sh"
private_net_
movecrash=$builddir/tests/movecrash

# Foreground thaw: movecrash dies of SIGSEGV as soon as its PID has changed.
start_ "$movecrash" > before
wait_for_ 5 file_has_lines_ before 1
expect_status_ 0 "$CONTMIG" freeze -q -o crash.img "$pid"
expect_status_ 139 timeout 10 "$CONTMIG" thaw crash.img
one_error_line_ "thaw"
grep -Eqx 'contmig: thaw: PID [0-9]+ \(movecrash\) died of signal 11 \(SIGSEGV\)' err ||
	fail_ "thaw said: $(cat err)"

# A copy that exits normally is not reported by a foreground thaw.
start_ "$builddir/tests/counter" 3 > counted
wait_for_ 5 file_has_lines_ counted 1
expect_status_ 0 "$CONTMIG" freeze -q -o counter.img "$pid"
expect_status_ 0 timeout 10 "$CONTMIG" thaw counter.img
[ ! -s err ] || fail_ "thaw of a copy that exited 0 said: $(cat err)"

# The listener: a copy sent to it that crashes at once is logged as such,
# with the PID send printed; one that is killed later too.
listen_ l 7742
start_ "$movecrash" > before2
wait_for_ 5 file_has_lines_ before2 1
expect_status_ 0 timeout 20 "$CONTMIG" send -q "$pid" 127.0.0.1
read -r new _ < out
[ -n "$new" ] || fail_ "send printed no PID: $(cat out)"
wait_for_ 5 grep -q "thaw: PID $new (movecrash) died of signal 11 (SIGSEGV)" l
start_ "$builddir/tests/counter" > /dev/null
wait_for_ 5 grep -q '^Name:[[:space:]]*counter' "/proc/$pid/status"
expect_status_ 0 timeout 20 "$CONTMIG" send -q "$pid" 127.0.0.1
read -r new _ < out
kill -TERM "$new"
wait_for_ 5 grep -q "thaw: PID $new (counter) died of signal 15 (SIGTERM)" l
stop_ "$listener"
exit 0
