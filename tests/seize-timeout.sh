#!/bin/bash
# Seizing is bounded in time: a process in uninterruptible sleep (a parent
# waiting in vfork for a child that sleeps) never stops for ptrace.
# freeze --timeout 1 says so, naming its state, within about a second, and
# the process is left running and untraced.
. "$srcdir/tests/init.sh"

start_ "$builddir/tests/vforkd" > out
wait_for_ 5 grep -qx ready out
wait_for_ 5 grep -q '^State:[[:space:]]*D' "/proc/$pid/status"

start=$(date +%s%N)
expect_status_ 66 "$CONTMIG" freeze --timeout 1 -o never.img "$pid"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
one_error_line_ "freeze --timeout 1"
grep -q "PID $pid did not stop within 1 s (state D (disk sleep)" "$tmp/err" ||
	fail_ "unclear error: $(cat "$tmp/err")"
[ "$ms" -lt 2500 ] || fail_ "freeze --timeout 1 took $ms ms"
[ ! -e never.img ] || fail_ "an image was left behind"
grep -q '^TracerPid:[[:space:]]*0$' "/proc/$pid/status" || fail_ "PID $pid is still traced"
grep -q '^State:[[:space:]]*D' "/proc/$pid/status" ||
	fail_ "PID $pid changed state: $(grep State "/proc/$pid/status")"

# A bad --timeout is a usage error.
expect_status_ 64 "$CONTMIG" freeze --timeout 0 "$pid"
exit 0
