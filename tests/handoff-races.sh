#!/bin/bash
# The handoff against what an outside reviewer tried (each case lost a
# process, or ran two copies, before its fix):
# - a connection the kernel aborts after COMMIT (ss -K; a load balancer
#   destroying sockets) is not the receiver saying it failed;
# - a receiver's worker that stalls after READY, while the sender asks how
#   it ended, cannot commit later beside the resumed source;
# - a SIGCONT to the source during the move, then send killed: the source
#   does not run on beside its copy;
# - contmig run killed before READY: its program does not believe it moved;
# - freeze -o - into a pipe or socket whose reader leaves: the process
#   carries on (and into /dev/null it is refused).
. "$srcdir/tests/init.sh"
private_net_

counter=$builddir/tests/counter
reached_() { grep -qs "test point $2 reached" "$1"; }

src_()
{
	start_ "$counter" > src.out
	wait_for_ 5 file_has_lines_ src.out 2
}

# only_copy_ WHAT: the source is gone and exactly one copy runs.
only_copy_()
{
	wait_settled_ "$1" "$pid"
	! alive_ "$pid" || fail_ "$1: the source runs on"
	[ "$(copies_ | wc -l)" -eq 1 ] || fail_ "$1: copies: $(copies_ | tr '\n' ' ')"
	kill -9 $(copies_)
	wait_for_ 5 eval '[ -z "$(copies_)" ]'
}

# only_source_ WHAT: the source runs on and no copy does.
only_source_()
{
	wait_settled_ "$1" "$pid"
	alive_ "$pid" || fail_ "$1: the source is gone"
	[ -z "$(copies_)" ] || fail_ "$1: a copy runs too: $(copies_ | tr '\n' ' ')"
	kill -9 "$pid"
}

# 1. The connection aborted by the kernel between COMMIT and DONE.
if ss -K dst 127.0.0.2 > /dev/null 2>&1; then
	rm -f go
	CONTMIG_TEST_HOOK=receive-committed CONTMIG_TEST_HOOK_UNTIL=$tmp/go listen_ l 7742
	src_
	CONTMIG_TEST_HOOK=send-committed CONTMIG_TEST_HOOK_UNTIL=$tmp/go \
		"$CONTMIG" send "$pid" 127.0.0.1:7742 > send.out 2> send.err &
	sender=$!
	wait_for_ 20 reached_ send.err send-committed
	wait_for_ 20 reached_ l receive-committed
	ss -K dst 127.0.0.1 dport = 7742 > /dev/null || framework_failure_ "ss -K"
	touch go
	wait "$sender" || fail_ "send through an aborted connection exited $?: $(cat send.err)"
	grep -q "after COMMIT (.*); asking the receiver how it ended" send.err || fail_ "$(cat send.err)"
	only_copy_ "a connection aborted after COMMIT"
	stop_ "$listener"
else
	echo "$me: no ss -K (socket destroy) here: case 1 skipped"
fi

# 2. The worker stalls after READY; the sender gives up on DONE and asks:
# its question decides "aborted", and the worker, going on, finds so.
rm -f go
CONTMIG_TEST_HOOK=receive-ready CONTMIG_TEST_HOOK_UNTIL=$tmp/go listen_ l 7742 --timeout 60
src_
"$CONTMIG" send --timeout 2 "$pid" 127.0.0.1:7742 > send.out 2> send.err
status=$?
[ "$status" -eq 69 ] || fail_ "send to a stalled worker exited $status: $(cat send.err)"
grep -q 'discarded its copy; PID [0-9]* carries on here' send.err || fail_ "$(cat send.err)"
! grep -q 'PID 0\b' send.err || fail_ "send names PID 0: $(cat send.err)"
touch go
wait_for_ 10 grep -q 'asked how it ended before COMMIT was acted on' l
only_source_ "a stalled worker"
stop_ "$listener"

# 2b. The same stall later on: after the copy left ptrace, before the
# decision (the question decides "aborted", the worker then finds so), and
# after the decision "committed", before the copy was woken (the question
# wakes it).  No lock anywhere: nobody waits on a stalled worker.
for case in receive-disarmed:69 receive-committed:0; do
	point=${case%%:*}
	rm -f go
	CONTMIG_TEST_HOOK=$point CONTMIG_TEST_HOOK_UNTIL=$tmp/go listen_ l 7742 --timeout 60
	src_
	"$CONTMIG" send --timeout 2 "$pid" 127.0.0.1:7742 > send.out 2> send.err
	status=$?
	[ "$status" -eq "${case#*:}" ] ||
		fail_ "send to a worker stalled at $point exited $status: $(cat send.err)"
	touch go
	if [ "$status" -eq 0 ]; then
		only_copy_ "a worker stalled at $point"
	else
		wait_for_ 10 grep -q 'asked how it ended before COMMIT was acted on' l
		only_source_ "a worker stalled at $point"
	fi
	stop_ "$listener"
done

# 3. A SIGCONT to the source while it is armed takes its SIGSTOP away; send
# killed then, with no receiver to answer for a while (the listener stopped):
# the guardian stops the source again at once, and it stays stopped until
# the receiver answers; then exactly one of the two runs.
rm -f go
CONTMIG_TEST_HOOK=receive-ready CONTMIG_TEST_HOOK_UNTIL=$tmp/go listen_ l 7742
src_
CONTMIG_TEST_HOOK=send-committed "$CONTMIG" send "$pid" 127.0.0.1:7742 > send.out 2> send.err &
sender=$!
wait_for_ 20 reached_ send.err send-committed
kill -STOP "$listener"
kill -CONT "$pid"
kill -9 "$sender"
wait_for_ 5 grep -q '^State:[[:space:]]*T' "/proc/$pid/status"
lines=$(wc -l < src.out)
sleep 1
[ "$(wc -l < src.out)" -eq "$lines" ] || fail_ "the source counts on while its move settles"
kill -CONT "$listener"
touch go
exactly_one_ "a SIGCONT, then send killed" "$pid"
stop_ "$listener"

# 3b. A SIGCONT sent to the held copy itself, on the receiver, while its
# receiver stalls before deciding: it does not run, and once the sender's
# question decides "aborted", it never will.
rm -f go
CONTMIG_TEST_HOOK=receive-disarmed CONTMIG_TEST_HOOK_UNTIL=$tmp/go listen_ l 7742 --timeout 60
src_
"$CONTMIG" send --timeout 2 "$pid" 127.0.0.1:7742 > send.out 2> send.err &
sender=$!
wait_for_ 20 reached_ l receive-disarmed
copy=$(copies_)
lines=$(wc -l < l.out)
kill -CONT "$copy"
sleep 0.5
[ "$(wc -l < l.out)" -eq "$lines" ] || fail_ "a held copy ran, undecided, on a SIGCONT"
wait "$sender"
status=$?
[ "$status" -eq 69 ] || fail_ "send, its copy stalled undecided, exited $status: $(cat send.err)"
touch go
[ "$(wc -l < l.out)" -eq "$lines" ] || fail_ "a held copy ran, undecided, on a SIGCONT"
only_source_ "a SIGCONT to the held copy"
stop_ "$listener"

# 3c. A copy woken by whoever looked first (here the listener, as another
# connection ended) and stopped by its user is not woken again by its
# receiver going on.
rm -f go
mkdir -m 700 state3c
CONTMIG_STATE_DIR=$tmp/state3c CONTMIG_TEST_HOOK=receive-committed CONTMIG_TEST_HOOK_UNTIL=$tmp/go \
	listen_ l 7742
src_
"$CONTMIG" send "$pid" 127.0.0.1:7742 > send.out 2> send.err &
sender=$!
wait_for_ 20 reached_ l receive-committed
copy=$(copies_)
exec 3<> /dev/tcp/127.0.0.1/7742 && exec 3>&-	# a worker that ends at once
wait_for_ 10 eval 'ls state3c | grep -q "\.woken$"'
sleep 0.3	# the wake is claimed, then sent
kill -STOP "$copy"
touch go
wait "$sender" || fail_ "send exited $?: $(cat send.err)"
wait_for_ 5 grep -q '^State:[[:space:]]*T' "/proc/$copy/status"
sleep 0.5
grep -q '^State:[[:space:]]*T' "/proc/$copy/status" ||
	fail_ "a copy its user stopped was woken again: $(grep State "/proc/$copy/status")"
kill -9 "$copy"
wait_for_ 5 eval '[ -z "$(copies_)" ]'
stop_ "$listener"

# 3e. A receiver stalled after deciding "committed", still tracing its copy,
# while the listener (another connection ended) has already claimed and sent
# the copy's wake: the sender's question still frees the copy, by ending
# that receiver, so the copy whose source it ends runs.
rm -f go
mkdir -m 700 state3e
CONTMIG_STATE_DIR=$tmp/state3e CONTMIG_TEST_HOOK=receive-committed CONTMIG_TEST_HOOK_UNTIL=$tmp/go \
	listen_ l 7742
src_
"$CONTMIG" send --timeout 2 "$pid" 127.0.0.1:7742 > send.out 2> send.err &
sender=$!
wait_for_ 20 reached_ l receive-committed
exec 3<> /dev/tcp/127.0.0.1/7742 && exec 3>&-
wait_for_ 10 eval 'ls state3e | grep -q "\.woken$"'
wait "$sender" || fail_ "send to a receiver stalled after deciding exited $?: $(cat send.err)"
copy=$(copies_)
wait_for_ 5 eval 'grep -q "^TracerPid:[[:space:]]*0$" /proc/'"$copy"'/status &&
	grep -q "^State:[[:space:]]*[RS]" /proc/'"$copy"'/status'
only_copy_ "a stalled receiver, its copy's wake claimed by the listener"
stop_ "$listener"

# 3d. Records go after an hour, a migration's files together, once decided;
# one still pending whose receiver lives stays.
export CONTMIG_STATE_DIR=$tmp/state
mkdir -m 700 "$CONTMIG_STATE_DIR"
old=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa new=bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
stalled=cccccccccccccccccccccccccccccccc
me_start=$(awk '{ sub(/.*\) /, ""); print $20 }' /proc/$$/stat)
echo "pending 999999 1 999999 1" > "$CONTMIG_STATE_DIR/$old"
echo aborted > "$CONTMIG_STATE_DIR/$old.decision"
echo "pending 999999 1 999999 1" > "$CONTMIG_STATE_DIR/$new"
echo aborted > "$CONTMIG_STATE_DIR/$new.decision"
echo "pending 999999 1 $$ $me_start" > "$CONTMIG_STATE_DIR/$stalled"
orphan=dddddddddddddddddddddddddddddddd
echo aborted > "$CONTMIG_STATE_DIR/$orphan.decision"
touch -d '2 hours ago' "$CONTMIG_STATE_DIR/$old" "$CONTMIG_STATE_DIR/$old.decision" \
	"$CONTMIG_STATE_DIR/$stalled" "$CONTMIG_STATE_DIR/$orphan.decision"
listen_ l 7742
exec 3<> /dev/tcp/127.0.0.1/7742 && exec 3>&-
wait_for_ 10 eval '[ ! -e "$CONTMIG_STATE_DIR/$old" ]'
[ ! -e "$CONTMIG_STATE_DIR/$old.decision" ] || fail_ "an old record's decision stayed"
[ ! -e "$CONTMIG_STATE_DIR/$orphan.decision" ] || fail_ "an old decision without its record stayed"
[ -e "$CONTMIG_STATE_DIR/$new" ] && [ -e "$CONTMIG_STATE_DIR/$new.decision" ] ||
	fail_ "a new record went"
[ -e "$CONTMIG_STATE_DIR/$stalled" ] && [ ! -e "$CONTMIG_STATE_DIR/$stalled.decision" ] ||
	fail_ "an old record whose receiver lives went, or was decided"
stop_ "$listener"
unset CONTMIG_STATE_DIR

# 4. contmig run killed after the image went, before READY: its program
# carries on here, and its sys_migrate says the move failed.
CONTMIG_TEST_HOOK=receive-ready listen_ l 7742
CONTMIG_TEST_HOOK=send-imaged start_ "$CONTMIG" run "$builddir/tests/selfmig" \
	127.0.0.1:7742 "$tmp/self.txt" > self.out 2> self.err
runner=$pid
wait_for_ 20 reached_ self.err send-imaged
kill -9 "$runner"
wait_for_ 10 grep -qx 'after -103' self.txt
grep -qx 'sys_migrate returned -103' self.out || fail_ "run killed before READY: $(cat self.out)"
stop_ "$listener"

# 5. freeze -o - into a pipe whose reader leaves without the image.
src_
{ "$CONTMIG" freeze -o - "$pid" 2> freeze.err; echo $? > freeze.status; } | { sleep 1; exit 1; }
[ "$(cat freeze.status)" -eq 68 ] || fail_ "freeze into a reader that left: $(cat freeze.status): $(cat freeze.err)"
grep -q 'went away with [0-9]* bytes of it not taken; the process carries on' freeze.err ||
	fail_ "$(cat freeze.err)"
running_untraced_ "$pid"
# ... and freeze killed -9 once the whole image went down the pipe, while
# its reader builds the copy: the process does not run on beside the copy
# (it stays stopped, untraced).
start_ "$counter" > src.out
wait_for_ 5 file_has_lines_ src.out 2
src=$pid
{ CONTMIG_TEST_HOOK=freeze-streamed "$CONTMIG" freeze -o - "$src" 2> freeze.err; } |
	"$CONTMIG" thaw - > copy.out 2> thaw.err &
thaw=$!
started_pids="$started_pids $thaw"
wait_for_ 10 grep -qs 'test point freeze-streamed reached' freeze.err
kill -9 $(pgrep -f "^$CONTMIG freeze -o - $src\$")
wait_for_ 5 file_has_lines_ copy.out 2
wait_for_ 5 grep -q '^TracerPid:[[:space:]]*0$' "/proc/$src/status"
grep -q '^State:[[:space:]]*T' "/proc/$src/status" ||
	fail_ "freeze killed after the image went: the source runs beside its copy"
kill -9 "$src" "$thaw" $(copies_)
wait_for_ 5 eval '[ -z "$(copies_)" ]'
src_
# ... into a socket whose reader takes 4 KiB and leaves (socat EXEC:, inetd).
python3 - "$CONTMIG" "$pid" <<'PY' > sock.status 2> freeze.err
import socket, subprocess, sys
a, b = socket.socketpair()
p = subprocess.Popen([sys.argv[1], "freeze", "-o", "-", sys.argv[2]], stdout=a.fileno())
a.close()
b.recv(4096)
b.close()
print(p.wait())
PY
# A socket drops what its reader left unread: freeze either saw bytes not
# taken (68, the process carries on) or cannot tell (72, kept stopped).
case $(cat sock.status) in
68) running_untraced_ "$pid" ;;
72) grep -q '^State:[[:space:]]*T' "/proc/$pid/status" &&
	grep -q '^TracerPid:[[:space:]]*0$' "/proc/$pid/status" ||
	fail_ "freeze into a socket that cannot tell: the process is not kept stopped"
    kill -CONT "$pid" ;;
*) fail_ "freeze into a socket whose reader left: $(cat sock.status): $(cat freeze.err)" ;;
esac
# ... and into /dev/null: refused before the process stops.
"$CONTMIG" freeze -o - "$pid" > /dev/null 2> freeze.err
status=$?
[ "$status" -eq 64 ] || fail_ "freeze -o - > /dev/null exited $status: $(cat freeze.err)"
running_untraced_ "$pid"
kill -9 "$pid"
exit 0
