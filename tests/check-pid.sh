#!/bin/bash
# contmig check PID: a running contract process passes, and so does its copy
# after a thaw (judged by its program, or, when that changed, by its memory:
# it runs from contmig's restore stub);
# threads, open files, a tracer and a missing canary are named; checking
# never disturbs the process.
. "$srcdir/tests/init.sh"

# A contract process, checked over and over while it runs, keeps the contract
# and keeps counting undisturbed: all of 1..20 in order, then exit status 0.
start_ "$builddir/tests/counter" 20 > counter.out
wait_for_ 5 file_has_lines_ counter.out 1
expect_status_ 0 "$CONTMIG" check "$pid"
grep -qx "PID $pid (counter): moves; keeps the Continuum contract" out || fail_ "$(cat out)"
for rule in elf type static text stack-free stack canary heap shared threads fds tracer; do
	grep -q "^  ok    $rule " out || fail_ "rule $rule missing or failed: $(cat out)"
done
for i in $(seq 10); do
	"$CONTMIG" check "$pid" > /dev/null || fail_ "check $i of a running counter failed"
	grep -q '^TracerPid:[[:space:]]*0$' "/proc/$pid/status" || fail_ "check left a tracer"
done
wait "$pid" || fail_ "the counter exited $? while being checked"
seq 20 | compare_ - counter.out

# Its copy after a thaw names its program again (/proc/PID/exe, set by a root
# thaw when the file here is the same one): check says of it what it said
# of its source.
start_ "$builddir/tests/counter" > before
wait_for_ 5 file_has_lines_ before 1
expect_status_ 0 "$CONTMIG" check "$pid"
sed "s/^PID $pid /PID X /" out > source.out
expect_status_ 0 "$CONTMIG" freeze -o counter.img "$pid"
new=$("$CONTMIG" thaw --detach --stdout after counter.img) || fail_ "thaw --detach exited $?"
started_pids="$started_pids $new"
wait_for_ 5 file_has_lines_ after 1
[ "$(readlink "/proc/$new/exe")" = "$builddir/tests/counter" ] ||
	fail_ "the copy's exe is $(readlink "/proc/$new/exe")"
expect_status_ 0 "$CONTMIG" check "$new"
sed "s/^PID $new /PID X /" out > copy.out
compare_ source.out copy.out
kill "$new"

# A copy whose program changed since runs from contmig's restore stub: the
# rules about the binary cannot look at it, the ones about its memory can
# (tests/golden).
cp "$builddir/tests/counter" counter
start_ ./counter > before
wait_for_ 5 file_has_lines_ before 1
expect_status_ 0 "$CONTMIG" freeze -o counter.img "$pid"
echo >> counter
new=$("$CONTMIG" thaw --detach --stdout after counter.img) || fail_ "thaw --detach exited $?"
started_pids="$started_pids $new"
wait_for_ 5 file_has_lines_ after 1
expect_status_ 0 "$CONTMIG" check "$new"
# (Which signals it catches or ignores is its parent's choice: left out.)
sed -e "s/^PID $new /PID NEW /" -e "s|works in $tmp |works in TMP |" \
	-e 's/ catches .*; ignores .*: these/ catches ...; ignores ...: these/' out > restored.out
compare_ "$srcdir/tests/golden/check-restored.txt" restored.out
kill "$new"

# No canary where crt0 pushes it: named as a contract rule it breaks
# (tests/refuse.sh has the rest).
start_ "$builddir/tests/nocanary" > /dev/null
wait_for_ 5 grep -q '^Name:[[:space:]]*nocanary' "/proc/$pid/status"
expect_status_ 0 "$CONTMIG" check "$pid"
grep -q '^  no    canary      the canary at 0x5000ffff0 is 0x0, not 0xcafebabe' out ||
	fail_ "$(cat out)"
kill "$pid"

# An extra open file moves, and is named; a pipe does not, and is named
# with what it is (tests/open-files.sh has the rest).
echo data > extra
start_ bash -c 'exec 7<extra 8< <(sleep 30); exec "$0" > /dev/null' "$builddir/tests/counter"
wait_for_ 5 grep -q '^Name:[[:space:]]*counter' "/proc/$pid/status"
expect_status_ 65 "$CONTMIG" check "$pid"
grep -q "^  FAIL  fds         fd 8 -> pipe:\[[0-9]*\]: a pipe does not move (reopened in the copy: fd 7 -> $tmp/extra)\$" out ||
	fail_ "fds 7 and 8 not named: $(cat out)"
grep -q '^  ok    threads ' out || fail_ "$(cat out)"
kill "$pid"

# Two threads: refused.
start_ "$builddir/tests/threads"
wait_for_ 5 grep -q '^Threads:[[:space:]]*2$' "/proc/$pid/status"
expect_status_ 65 "$CONTMIG" check "$pid"
grep -q '^  FAIL  threads     2 threads' out || fail_ "threads not named: $(cat out)"
kill "$pid"

# A process that is not a contract target at all: no fixed stack, named as
# information.
start_ sleep 30
wait_for_ 5 grep -q '^Name:[[:space:]]*sleep' "/proc/$pid/status"
"$CONTMIG" check "$pid" > out
grep -q '^  no    stack  .*nothing mapped at 0x500000000' out || fail_ "$(cat out)"
kill "$pid"

# Already traced by someone else: the tracer is named.
if command -v strace > /dev/null; then
	start_ "$builddir/tests/counter"
	strace -o /dev/null -p "$pid" 2> /dev/null &
	tracer=$!
	started_pids="$started_pids $tracer"
	wait_for_ 5 grep -q "^TracerPid:[[:space:]]*$tracer\$" "/proc/$pid/status"
	expect_status_ 65 "$CONTMIG" check "$pid"
	grep -q "^  FAIL  tracer      already traced by PID $tracer (strace)" out || fail_ "$(cat out)"
	kill "$tracer" "$pid"
fi

# Could not check: no such process (the PID of a process that has ended).
sh -c 'exit 0' & gone=$!
wait "$gone"
expect_status_ 66 "$CONTMIG" check "$gone"
one_error_line_
grep -qx "contmig: check PID $gone: no such process" err || fail_ "$(cat err)"

# Could not check: another user's process.
if [ "$(id -u)" -eq 0 ] && command -v setpriv > /dev/null; then
	start_ "$builddir/tests/counter" > /dev/null
	wait_for_ 5 grep -q '^Name:[[:space:]]*counter' "/proc/$pid/status"
	cp "$CONTMIG" contmig	# the build tree may be closed to other users
	expect_status_ 66 setpriv --reuid=65534 --regid=65534 --clear-groups ./contmig check "$pid"
	one_error_line_
	grep -q "Permission denied (another user's process" err || fail_ "$(cat err)"
	kill "$pid"
fi
exit 0
