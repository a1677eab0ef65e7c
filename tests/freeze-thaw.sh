#!/bin/bash
# freeze and thaw: a process survives a trip through an image, by file and by
# pipe, with its stack pointers, canary, AVX state and blocking calls intact.
. "$srcdir/tests/init.sh"
counter=$builddir/tests/counter

# The counter frozen mid-run continues with exactly the next number.  Its
# frame holds a pointer into the stack and it checks the canary every tick:
# a wrong byte anywhere ends it with LED 3 instead.
start_ "$counter" > before
wait_for_ 5 file_has_lines_ before 3
# Caught inside nanosleep (system call 35), which must restart after the thaw.
wait_for_ 5 grep -q '^35 ' "/proc/$pid/syscall"
expect_status_ 0 "$CONTMIG" freeze -o img "$pid"
wait "$pid" 2> /dev/null
kill -0 "$pid" 2> /dev/null && fail_ "the frozen process still runs"
[ -z "$(ls img.* 2> /dev/null)" ] || fail_ "temporary files left: $(ls img.*)"
readelf -n img | grep -q NT_X86_XSTATE || fail_ "readelf sees no XSAVE note"
thaw_bg_ img after
wait_for_ 5 file_has_lines_ after 5
follows_ before after
# Foreground thaw forwards SIGTERM and exits with the program's status.
kill -TERM "$thaw"
wait "$thaw"
status=$?
[ "$status" -eq 143 ] || fail_ "thaw exited $status after SIGTERM, not 143"

# With standard output closed (the image's file may then be fd 1), and then
# over an existing image: each time the image is this process's, sound, and
# nothing else is left beside it.
rm -f img
for round in stdout-closed replace; do
	start_ "$counter" > /dev/null
	wait_for_ 5 grep -q '^35 ' "/proc/$pid/syscall"
	if [ "$round" = stdout-closed ]; then
		"$CONTMIG" freeze -q -o img "$pid" >&- || fail_ "$round: freeze exited $?"
	else
		"$CONTMIG" freeze -q -o img "$pid" || fail_ "$round: freeze exited $?"
	fi
	"$CONTMIG" inspect img 2>&1 | grep -q "^process: *PID $pid " ||
		fail_ "$round: img is not PID $pid's: $("$CONTMIG" inspect img 2>&1 | head -n 2)"
	"$CONTMIG" inspect --verify img > /dev/null || fail_ "$round: the image is unsound"
	[ "$(ls img* | tr '\n' ' ')" = "img " ] || fail_ "$round: beside the image: $(ls img*)"
done

# The same through a pipe: freeze -o - | thaw -.
start_ "$counter" > before
wait_for_ 5 file_has_lines_ before 2
"$CONTMIG" freeze -o - "$pid" | "$CONTMIG" thaw - > after &
thaw=$!
started_pids="$started_pids $thaw"
wait_for_ 5 file_has_lines_ after 3
follows_ before after
kill -TERM "$thaw"

# The AVX target frozen and thawed five times prints the checksum of an
# uninterrupted run: its ymm registers travel in the XSAVE note.
rounds=1000
"$builddir/tests/avxsum" "$rounds" > expected
start_ "$builddir/tests/avxsum" "$rounds" > first
for i in 1 2 3 4 5; do
	sleep 0.2
	expect_status_ 0 "$CONTMIG" freeze -o "avx$i" "$pid"
	"$CONTMIG" thaw --detach --stdout "avx$i.out" "avx$i" >> "avx$i.out" || fail_ "thaw $i exited $?"
	pid=$(head -n 1 "avx$i.out")
	started_pids="$started_pids $pid"
done
wait_for_ 20 eval '! kill -0 '"$pid"' 2> /dev/null'
[ ! -s first ] || fail_ "the first run finished before its freezes: $(cat first)"
tail -n 1 avx5.out | compare_ expected -

# 64 MiB of touched memory, many 8 MiB copies: the target checks every word
# after the thaw and would exit with LED 3 on a single wrong one.
start_ "$builddir/tests/bigmem" 64 > big.out
wait_for_ 20 grep -q '^ready 64$' big.out
expect_status_ 0 "$CONTMIG" freeze -o big.img "$pid"
thaw_bg_ big.img big2.out
wait_for_ 20 grep -q '^ok 2$' big2.out
kill -TERM "$thaw"
rm -f big.img

# Initialized data and a .bss right after it: two adjacent mappings with the
# same protection, each stored as its own segment, both intact after a thaw;
# and two pages of data behind PROT_NONE, which the process cannot read.
start_ "$builddir/tests/bss" > bss.out
wait_for_ 5 grep -q '^ready' bss.out
expect_status_ 0 "$CONTMIG" freeze -o bss.img "$pid"
"$CONTMIG" inspect bss.img | grep -q ' ---  *8.0 KiB  *8.0 KiB' ||
	fail_ "no stored PROT_NONE mapping in bss.img: $("$CONTMIG" inspect bss.img)"
thaw_bg_ bss.img bss2.out
wait_for_ 5 grep -q '^ok 2$' bss2.out
kill -TERM "$thaw"

# Frozen while blocked in read() on a pipe: it resumes reading the stdin of
# the thaw side.
mkfifo fifo
exec 5<> fifo		# a writer first, so that opening it to read does not block
start_ "$builddir/tests/echo" < fifo > echoed
echo one >&5
wait_for_ 5 grep -qx one echoed
wait_for_ 5 grep -q '^State:[[:space:]]*S' "/proc/$pid/status"
expect_status_ 0 "$CONTMIG" freeze -o echo.img "$pid"
exec 5>&-
printf 'two\nthree\n' | "$CONTMIG" thaw echo.img > echoed2
status=$?
[ "$status" -eq 0 ] || fail_ "the thawed echo exited $status"
printf 'two\nthree\n' | compare_ - echoed2

# --leave-running: the process carries on untraced after the snapshot.
start_ "$counter" > running
wait_for_ 5 file_has_lines_ running 1
expect_status_ 0 "$CONTMIG" freeze --leave-running -o run.img "$pid"
running_untraced_ "$pid"
n=$(wc -l < running)
wait_for_ 5 file_has_lines_ running $((n + 2))
kill "$pid"

# --leave-stopped: stopped, untraced, and able to go on when continued.
start_ "$counter" > stopped
wait_for_ 5 file_has_lines_ stopped 1
expect_status_ 0 "$CONTMIG" freeze --leave-stopped -o stop.img "$pid"
wait_for_ 5 grep -q '^State:[[:space:]]*T (stopped)' "/proc/$pid/status"
grep -q '^TracerPid:[[:space:]]*0$' "/proc/$pid/status" || fail_ "still traced"
n=$(wc -l < stopped)
sleep 0.3
[ "$(wc -l < stopped)" -eq "$n" ] || fail_ "a --leave-stopped process kept counting"
kill -CONT "$pid"
wait_for_ 5 file_has_lines_ stopped $((n + 2))
kill "$pid"

# An unprivileged user freezes and thaws their own process.
if [ "$(id -u)" -eq 0 ] && command -v setpriv > /dev/null; then
	nobody="setpriv --reuid=65534 --regid=65534 --clear-groups"
	mkdir user && cp "$CONTMIG" "$counter" user/ && chown -R 65534:65534 user
	cd user
	start_ $nobody ./counter > before
	wait_for_ 5 file_has_lines_ before 2
	wait_for_ 5 grep -q '^Name:[[:space:]]*counter' "/proc/$pid/status"
	$nobody ./contmig freeze -o img "$pid" || fail_ "unprivileged freeze exited $?"
	# $! must be the very process that becomes thaw (setpriv execs it).
	$nobody ./contmig thaw img > after &
	thaw=$!
	started_pids="$started_pids $thaw"
	wait_for_ 5 file_has_lines_ after 2
	follows_ before after
	kill -TERM "$thaw"
	wait "$thaw"
	status=$?
	[ "$status" -eq 143 ] || fail_ "unprivileged thaw exited $status after SIGTERM, not 143"
	cd ..
fi
exit 0
