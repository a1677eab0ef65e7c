#!/bin/bash
# Pending signals travel: a target that blocks every signal is sent some
# (standard ones, and real-time ones queued with a value), is frozen and
# thawed, by file and by pipe, then takes them and lists them.  Each must be
# there, with its code and value, once.
. "$srcdir/tests/init.sh"

sigwait=$builddir/tests/sigwait
/bin/kill --help 2>&1 | grep -q -- '--queue' || skip_ "this kill cannot queue a value (-q)"

# send_some_ PID: SIGUSR1, SIGTERM, and SIGRTMIN+1 twice with values 42, 43.
send_some_()
{
	kill -USR1 "$1" && kill -TERM "$1" &&
		/bin/kill -s RTMIN+1 -q 42 "$1" && /bin/kill -s RTMIN+1 -q 43 "$1" ||
		framework_failure_ "sending signals to $1"
}

printf '%s\n' 'signal 10 code 0 value 0' 'signal 15 code 0 value 0' \
	'signal 35 code -1 value 42' 'signal 35 code -1 value 43' done > expected

# By file, with thaw --detach.
start_ "$sigwait" > src.out
wait_for_ 5 grep -qx ready src.out
send_some_ "$pid"
expect_status_ 0 "$CONTMIG" freeze -o sig.img "$pid"
"$CONTMIG" inspect sig.img > /dev/null || fail_ "inspect refuses the image"
readelf -n sig.img | grep -q 0x434d0006 || fail_ "no signals note in sig.img"
"$CONTMIG" thaw --detach --stdout copy.out sig.img >> copy.out || fail_ "thaw exited $?"
copy=$(head -n 1 copy.out)
started_pids="$started_pids $copy"
touch go
wait_for_ 5 grep -qx done copy.out
tail -n +2 copy.out | compare_ expected -
rm go

# By pipe, thaw in the foreground: it exits with the copy's status.
start_ "$sigwait" > src2.out
wait_for_ 5 grep -qx ready src2.out
send_some_ "$pid"
"$CONTMIG" freeze -o - "$pid" | "$CONTMIG" thaw - > copy2.out &
thaw=$!
started_pids="$started_pids $thaw"
wait_for_ 5 eval '! kill -0 '"$pid"' 2> /dev/null'
touch go
wait "$thaw" || fail_ "freeze | thaw exited $?"
compare_ expected copy2.out
rm go

# Signals sent while the process is stopped, for the freeze to find
# however long it takes: its copy, continued, has them pending.
start_ "$sigwait" > src3.out
wait_for_ 5 grep -qx ready src3.out
kill -STOP "$pid"
send_some_ "$pid"
expect_status_ 0 "$CONTMIG" freeze -o stopped.img "$pid"
"$CONTMIG" thaw --detach --stdout copy3.out stopped.img >> copy3.out || fail_ "thaw exited $?"
copy=$(head -n 1 copy3.out)
started_pids="$started_pids $copy"
wait_for_ 5 grep -q '^State:[[:space:]]*T' "/proc/$copy/status"
touch go
kill -CONT "$copy"
wait_for_ 5 grep -qx done copy3.out
# The SIGCONT (18) that continued it is pending too: it blocks every signal.
printf '%s\n' 'signal 10 code 0 value 0' 'signal 15 code 0 value 0' \
	'signal 18 code 0 value 0' 'signal 35 code -1 value 42' \
	'signal 35 code -1 value 43' done > expected3
tail -n +2 copy3.out | compare_ expected3 -
rm go

# Signals sent while freeze writes the image (it stands still after the
# data, before reading it back) are in the image all the same: the process
# ends here, its copy gets them.
start_ "$sigwait" > src4.out
wait_for_ 5 grep -qx ready src4.out
CONTMIG_TEST_HOOK=freeze-written CONTMIG_TEST_HOOK_UNTIL=$tmp/written \
	"$CONTMIG" freeze -o late.img "$pid" 2> freeze.err &
freezer=$!
wait_for_ 10 grep -qs 'test point freeze-written reached' freeze.err
send_some_ "$pid"
touch written
wait "$freezer" || fail_ "freeze with signals on the way exited $?: $(cat freeze.err)"
"$CONTMIG" thaw --detach --stdout copy4.out late.img >> copy4.out || fail_ "thaw exited $?"
started_pids="$started_pids $(head -n 1 copy4.out)"
touch go
wait_for_ 5 grep -qx done copy4.out
tail -n +2 copy4.out | compare_ expected -
exit 0
