#!/bin/bash
# The handoff under faults: the connection cut at many points of the stream
# (through a relay that drops it after exactly N bytes), the receiver killed
# mid-stream.  Whatever happens, the process is never lost and never runs
# twice: it carries on at the source, or (after COMMIT) runs on the receiver
# alone; the listener survives; nothing is left behind.
. "$srcdir/tests/init.sh"
private_net_
counter=$builddir/tests/counter
relay=$srcdir/tests/relay.py
port=7742 relay_port=7750

listen_ l $port

# stays_here_ WHAT: send failed with 69, the counter runs on here untraced,
# and the receiver let go of its copy.
stays_here_()
{
	[ "$status" -eq 69 ] || fail_ "$1: send exited $status, not 69: $(cat err)"
	[ "$(wc -l < err)" -eq 1 ] || [ "$(grep -c . err)" -le 2 ] ||
		fail_ "$1: send said too much: $(cat err)"
	running_untraced_ "$pid"
	local n
	n=$(wc -l < src)
	wait_for_ 5 file_has_lines_ src $((n + 2))
	wait_for_ 10 eval '[ "$(stub_processes_)" -eq 0 ]'
	kill "$pid"
}

# send_ ARGS: run send, its status in $status, output in out and err.
send_() { "$CONTMIG" send --timeout 5 "$@" > out 2> err; status=$?; }

# A whole migration through the relay, to count the bytes each way.
relay_ $port --capture wire
src_
send_ "$pid" 127.0.0.1:$relay_port
[ "$status" -eq 0 ] || fail_ "through the relay: exit $status: $(cat err)"
read -r new dest < out
kill "$new"
wait_for_ 5 eval '[ "$(stub_processes_)" -eq 0 ]'
up=$(stat -c %s wire) down=$(stat -c %s wire.down)
# Down: the receiver's hello (64), HAVE (10: which of the one file offered,
# the counter's binary, it has), READY (9), DONE (9).  Up ends with END and
# COMMIT, 5 bytes each.
[ "$down" -eq 92 ] || fail_ "the receiver sent $down bytes, not 92"

# Cut before COMMIT went through, at the start, in the hello, in the image,
# in END, in COMMIT: the process carries on here.
for n in 0 30 64 200 $((up / 2)) $((up - 12)) $((up - 7)) $((up - 3)); do
	for reset in "" --reset; do
		relay_ $port --cut "$n" --direction up $reset
		src_
		send_ "$pid" 127.0.0.1:$relay_port
		stays_here_ "cut after $n bytes up $reset"
	done
done
# From the receiver: in its hello, right after it, right after HAVE.
for n in 10 64 74; do
	relay_ $port --cut "$n" --direction down
	src_
	send_ "$pid" 127.0.0.1:$relay_port
	stays_here_ "cut after $n bytes down"
done
# Right after READY: COMMIT may slip through the relay before it closes, and
# then the receiver rightly runs the process.  Either way, exactly one copy.
for i in 1 2 3; do
	relay_ $port --cut 83 --direction down
	src_
	send_ "$pid" 127.0.0.1:$relay_port
	if [ "$status" -eq 0 ]; then
		read -r new dest < out
		wait "$pid" 2> /dev/null
		kill -0 "$pid" 2> /dev/null && fail_ "cut after READY: send said 0, the source runs"
		kill -0 "$new" || fail_ "cut after READY: send said 0, PID $new does not run"
		kill "$new"
	else
		grep -q 'discarded its copy\|lost before COMMIT' err ||
			fail_ "a cut right after READY: $(cat err)"
		stays_here_ "cut after READY"
	fi
done

# Cut right after COMMIT, before DONE: the receiver runs it, and send learns
# so by asking on a new connection.
relay_ $port --cut "$up" --direction up
src_
send_ "$pid" 127.0.0.1:$relay_port
[ "$status" -eq 0 ] || fail_ "a cut after COMMIT: exit $status: $(cat err)"
grep -q 'no DONE after COMMIT' err || fail_ "a cut after COMMIT: $(cat err)"
read -r new dest < out
wait "$pid" 2> /dev/null
kill -0 "$pid" 2> /dev/null && fail_ "a cut after COMMIT: the source still runs"
kill -0 "$new" || fail_ "a cut after COMMIT: the receiver's copy does not run"
kill "$new"

# ... and when the receiver cannot be asked: the outcome is unknown (72),
# the source is left stopped and untraced, and only the receiver's copy runs.
relay_ $port --cut "$up" --direction up --max-conns 1
src_
# send asks for 2 x --timeout + 10 s before it gives up; a SIGHUP meanwhile
# (a lost terminal) must not end it, or the source would die with it.
: > err		# not the last case's words: the redirection below comes later
"$CONTMIG" send --timeout 1 "$pid" 127.0.0.1:$relay_port > out 2> err &
sender=$!
wait_for_ 10 eval 'grep -q "no DONE after COMMIT" err || ! kill -0 $sender 2> /dev/null'
grep -q 'no DONE after COMMIT' err || fail_ "a cut after COMMIT, nobody to ask: $(cat err)"
kill -HUP "$sender"
wait "$sender"
status=$?
[ "$status" -eq 72 ] || fail_ "unknown outcome: exit $status: $(cat err)"
grep -q 'outcome unknown' err || fail_ "unknown outcome: $(cat err)"
read -r new dest < out
[ -z "${new:-}" ] || fail_ "unknown outcome, yet send printed a PID: $new"
wait_for_ 5 grep -q '^State:[[:space:]]*T (stopped)' "/proc/$pid/status"
grep -q '^TracerPid:[[:space:]]*0$' "/proc/$pid/status" || fail_ "the source is still traced"
new=$(sed -n 's/.*its copy is PID \([0-9]*\).*/\1/p' err)
# Its guardian asks on, holding neither send's stdin nor its stdout (so
# that P=$(contmig send ...) returns with send).
guardian=$(sed -n 's/.*contmig (PID \([0-9]*\)) asks on.*/\1/p' err)
[ "$(readlink "/proc/$guardian/fd/1")" = /dev/null ] && [ "$(readlink "/proc/$guardian/fd/0")" = /dev/null ] ||
	fail_ "the guardian ($guardian) holds send's stdin or stdout: $(ls -l /proc/$guardian/fd 2>&1)"
# It names the decision to look at by hand, and that says committed.
id=$(sed -n 's/.*holds \([0-9a-f]*\)\.decision.*/\1/p' err)
grep -q '^committed ' "${CONTMIG_STATE_DIR:-/run/contmig}/$id.decision" ||
	fail_ "the decision file named ($id) does not say committed: $(cat err)"
kill -0 "$new" || fail_ "unknown outcome: the receiver's copy (PID $new) does not run"
# send's guardian asks on in the background: once the receiver can be
# reached again, it settles the source as the receiver decided (committed:
# the source ends here, the copy runs on there).
stop_ "$relay_pid"
python3 "$relay" --listen 127.0.0.1:$relay_port --to 127.0.0.1:$port >> relay.out 2>> relay.err &
relay_pid=$!
started_pids="$started_pids $relay_pid"
wait_for_ 30 eval '! alive_ '"$pid"
grep -q 'the receiver says COMMIT arrived' err || fail_ "the guardian said: $(cat err)"
kill -0 "$new" || fail_ "the guardian settled the source, and the copy (PID $new) is gone"
kill -9 "$new"

# The receiver killed mid-stream: its half-built copy dies with it, the
# process carries on here, and the listener serves the next migration.
stop_ "$relay_pid"
relay_pid=
for victim in worker listener; do
	start_ "$builddir/tests/bigmem" 256 > src
	wait_for_ 30 grep -q '^ready' src
	send_ "$pid" 127.0.0.1:$port &
	sender=$!
	wait_for_ 10 has_workers_ "$listener"
	worker=$(pgrep -P "$listener" -x contmig)
	wait_for_ 10 eval '[ "$(sed -n "s/^rchar: //p" /proc/'"$worker"'/io)" -gt 33554432 ]'
	if [ "$victim" = worker ]; then
		kill -9 "$worker"
	else
		kill -9 "$listener" "$worker"
	fi
	wait "$sender"
	status=$(cat status 2> /dev/null || echo 69)
	grep -q 'carries on here' err || fail_ "$victim killed: $(cat err)"
	running_untraced_ "$pid"
	n=$(grep -c '^ok' src)
	wait_for_ 10 eval '[ "$(grep -c "^ok" src)" -gt '"$n"' ]'
	wait_for_ 10 eval '[ "$(stub_processes_)" -eq 0 ]'
	kill "$pid"
	[ "$victim" = listener ] && listen_ l2 $port
	src_
	send_ "$pid" 127.0.0.1:$port
	[ "$status" -eq 0 ] || fail_ "after the $victim was killed: exit $status: $(cat err)"
	read -r new dest < out
	kill "$new"
done
exit 0
