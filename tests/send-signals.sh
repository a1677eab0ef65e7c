#!/bin/bash
# Signals sent to a process while send moves it are not lost: those that
# arrive after its image was taken reach the copy (a SIGSTOP stops it there,
# a SIGTERM ends it there), not the source that is about to end.
. "$srcdir/tests/init.sh"
private_net_

bigmem=$builddir/tests/bigmem
listen_ l 7742

# send_with_signal_ SIG: send a bigmem, and while it stands armed (image
# sent, COMMIT not yet), signal the source.
send_with_signal_()
{
	rm -f go
	start_ "$bigmem" 8 > src.out
	wait_for_ 10 grep -q '^ready' src.out
	src=$pid
	CONTMIG_TEST_HOOK=send-armed CONTMIG_TEST_HOOK_UNTIL=$tmp/go \
		"$CONTMIG" send -q "$src" 127.0.0.1:7742 > send.out 2> send.err &
	sender=$!
	wait_for_ 20 grep -qs 'test point send-armed reached' send.err
	kill -"$1" "$src"
	touch go
	wait "$sender" || fail_ "send with a SIG$1 on the way exited $?: $(cat send.err)"
	! alive_ "$src" || fail_ "SIG$1: the source runs on after the move"
}

# A SIGSTOP on the way: the copy arrives stopped, and carries on with SIGCONT.
send_with_signal_ STOP
wait_for_ 5 eval '[ -n "$(copies_)" ]'
copy=$(copies_)
wait_for_ 5 grep -q '^State:[[:space:]]*T' "/proc/$copy/status"
grep -q '^TracerPid:[[:space:]]*0$' "/proc/$copy/status" || fail_ "the stopped copy is traced"
lines=$(wc -l < l.out)
sleep 0.5
[ "$(wc -l < l.out)" -eq "$lines" ] || fail_ "the copy runs, though a SIGSTOP came on its way"
kill -CONT "$copy"
wait_for_ 5 eval '[ "$(wc -l < l.out)" -gt '"$lines"' ]'
kill -9 "$copy"
wait_for_ 5 eval '[ -z "$(copies_)" ]'

# A process stopped before the send (kill -STOP) is stopped after it too:
# the receiver holds its copy and never wakes it.
start_ "$bigmem" 8 > src.out
wait_for_ 10 grep -q '^ready' src.out
kill -STOP "$pid"
wait_for_ 5 grep -q '^State:[[:space:]]*T' "/proc/$pid/status"
"$CONTMIG" send -q "$pid" 127.0.0.1:7742 > send.out 2> send.err ||
	fail_ "send of a stopped process exited $?: $(cat send.err)"
! alive_ "$pid" || fail_ "the stopped source is still here after its move"
wait_for_ 5 eval '[ -n "$(copies_)" ]'
copy=$(copies_)
sleep 0.3
grep -q '^State:[[:space:]]*T' "/proc/$copy/status" ||
	fail_ "the copy of a stopped process runs: $(grep State "/proc/$copy/status")"
grep -q '^TracerPid:[[:space:]]*0$' "/proc/$copy/status" || fail_ "the stopped copy is traced"
kill -CONT "$copy"
wait_for_ 5 eval 'grep -q "^State:[[:space:]]*[RS]" /proc/'"$copy"'/status'
kill -9 "$copy"
wait_for_ 5 eval '[ -z "$(copies_)" ]'

# A stopped process continued (SIGCONT) while send moves it runs there, but
# only once its move is decided: the receiver, stopped between letting the
# copy out of ptrace and deciding, holds it stopped.
rm -f go go2
CONTMIG_TEST_HOOK=receive-disarmed CONTMIG_TEST_HOOK_UNTIL=$tmp/go2 listen_ l2 7743
start_ "$bigmem" 8 > src.out
wait_for_ 10 grep -q '^ready' src.out
kill -STOP "$pid"
wait_for_ 5 grep -q '^State:[[:space:]]*T' "/proc/$pid/status"
CONTMIG_TEST_HOOK=send-imaged CONTMIG_TEST_HOOK_UNTIL=$tmp/go \
	"$CONTMIG" send -q "$pid" 127.0.0.1:7743 > send.out 2> send.err &
sender=$!
wait_for_ 20 grep -qs 'test point send-imaged reached' send.err
kill -CONT "$pid"
touch go
wait_for_ 20 grep -qs 'test point receive-disarmed reached' l2
copy=$(copies_)
grep -q '^State:[[:space:]]*[tT]' "/proc/$copy/status" ||
	fail_ "the copy runs before its move is decided: $(grep State "/proc/$copy/status")"
lines=$(wc -l < l2.out)
sleep 0.5
[ "$(wc -l < l2.out)" -eq "$lines" ] || fail_ "the copy runs before its move is decided"
touch go2
wait "$sender" || fail_ "send of a process continued on the way exited $?: $(cat send.err)"
wait_for_ 5 eval '[ -n "$(copies_)" ]'
copy=$(copies_)
wait_for_ 5 eval 'grep -q "^State:[[:space:]]*[RS]" /proc/'"$copy"'/status'
kill -9 "$copy"
wait_for_ 5 eval '[ -z "$(copies_)" ]'

# A SIGTERM on the way: the copy gets it, and ends there as the source would
# have here.
send_with_signal_ TERM
wait_for_ 5 eval '[ -z "$(copies_)" ]'
exit 0
