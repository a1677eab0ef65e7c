#!/bin/bash
# send and thaw --listen on one node's loopback: a process moves and carries
# on; keys, refusals, limits and hostile peers never lose it, never leave a
# copy behind, and never stop the listener.
. "$srcdir/tests/init.sh"
private_net_
counter=$builddir/tests/counter
port=7742

# restored_: how many restored processes (from thaws started here) run.
restored_() { stub_processes_; }

# silent_peer_: a peer that connects to the listener and says nothing; its
# PID is in $silent.
silent_peer_()
{
	# The last migration's worker may still be finishing: gone first, so
	# that the worker the caller then waits for is the silent peer's.
	wait_for_ 5 eval '! has_workers_ "$listener"'
	python3 -c 'import socket, time
s = socket.create_connection(("127.0.0.1", '"$port"')); time.sleep(30)' &
	silent=$!
	started_pids="$started_pids $silent"
}

# carries_on_ PID FILE: PID runs untraced and keeps writing FILE.
carries_on_()
{
	local n
	running_untraced_ "$1"
	n=$(wc -l < "$2")
	wait_for_ 5 file_has_lines_ "$2" $((n + 2))
}

# --- a plain migration over loopback --------------------------------------
listen_ l1 $port
start_ "$counter" > before
wait_for_ 5 file_has_lines_ before 3
expect_status_ 0 "$CONTMIG" send "$pid" 127.0.0.1
read -r new dest < out
[ "$dest" = 127.0.0.1 ] && [ "$new" -gt 0 ] || fail_ "send printed: $(cat out)"
wait "$pid" 2> /dev/null
kill -0 "$pid" 2> /dev/null && fail_ "the source still runs after send"
wait_for_ 5 file_has_lines_ l1.out 3
follows_ before l1.out
grep -q "PID $pid (counter from .*) -> PID $new: running" l1 ||
	fail_ "no log line for the migration: $(cat l1)"
# The restored process is the listener's child now, and it reaps it.
wait_for_ 5 grep -q "^PPid:[[:space:]]*$listener\$" "/proc/$new/status"
kill "$new"
wait_for_ 5 eval '! kill -0 '"$new"' 2> /dev/null'
# (Once it runs the counter: before its exec it is a shell, which is refused.)
start_ "$counter" > /dev/null
wait_for_ 5 grep -q '^Name:[[:space:]]*counter' "/proc/$pid/status"
expect_status_ 0 "$CONTMIG" send "$pid" 127.0.0.1
read -r new dest < out
# Stopped while a connection is in progress, the listener ends at once, and
# what it received before runs on (in a session of its own: a ^C meant for
# the listener does not reach it).
silent_peer_
wait_for_ 5 has_workers_ "$listener"
stop_ "$listener"
grep -q 'closing 1 connection still in the handshake' l1 || fail_ "the listener's last words: $(cat l1)"
kill -0 "$new" || fail_ "a received process died with its listener"
[ "$(ps -o sid= -p "$new")" -eq "$new" ] || fail_ "PID $new is not in a session of its own"
kill "$new" "$silent"

# --- keys -----------------------------------------------------------------
expect_status_ 0 "$CONTMIG" keygen key
[ "$(stat -c %a key)" = 600 ] || fail_ "keygen made a key of mode $(stat -c %a key)"
grep -Eqx '[0-9a-f]{64}' key || fail_ "keygen wrote: $(cat key)"
expect_status_ 68 "$CONTMIG" keygen key
one_error_line_
expect_status_ 0 "$CONTMIG" keygen other
printf 'short' > shortkey && chmod 600 shortkey
cp key loosekey && chmod 644 loosekey

start_ "$counter" > src
wait_for_ 5 file_has_lines_ src 1
expect_status_ 64 "$CONTMIG" send --key shortkey "$pid" 127.0.0.1
grep -q 'holds 5 bytes' err || fail_ "a short key: $(cat err)"
expect_status_ 64 "$CONTMIG" send --key loosekey "$pid" 127.0.0.1
grep -q 'others may read' err || fail_ "a key others can read: $(cat err)"
# Another user's key, mode 0600, is theirs to read or replace: root, who
# could read it, refuses it too, sender and receiver alike.  So is a key
# through a symbolic link: whoever may repoint it chooses the key.
new_user_ keyowner
cp key theirkey && chown "$keyowner" theirkey && chmod 600 theirkey
expect_status_ 64 "$CONTMIG" send --key theirkey "$pid" 127.0.0.1
one_error_line_ "another user's key"
grep -q "key theirkey belongs to uid $(id -u "$keyowner") ($keyowner), who could read or replace it" err ||
	fail_ "another user's key: $(cat err)"
expect_status_ 64 "$CONTMIG" thaw --listen $port --key theirkey
grep -q "key theirkey belongs to uid" err || fail_ "thaw with another user's key: $(cat err)"
ln -s key linkkey
expect_status_ 64 "$CONTMIG" send --key linkkey "$pid" 127.0.0.1
one_error_line_ "a key through a symbolic link"
grep -q 'key linkkey is a symbolic link' err || fail_ "a key through a symlink: $(cat err)"
carries_on_ "$pid" src

# A keyed sender to a listener without a key, and the other way round.
listen_ l1b $port
expect_status_ 70 "$CONTMIG" send --key key "$pid" 127.0.0.1
one_error_line_
carries_on_ "$pid" src
stop_ "$listener"
listen_ l2 $port --key key
expect_status_ 70 "$CONTMIG" send "$pid" 127.0.0.1
one_error_line_
grep -q 'needs a key' err || fail_ "no key: $(cat err)"
# The wrong key: refused, logged, the process untouched.
expect_status_ 70 "$CONTMIG" send --key other "$pid" 127.0.0.1
one_error_line_
grep -q 'authentication failed' err || fail_ "wrong key: $(cat err)"
wait_for_ 5 grep -q 'authentication failed: the sender' l2
carries_on_ "$pid" src
[ "$(restored_)" -eq 0 ] || fail_ "a refused sender left a process on the receiver"
# The right key: it moves.
expect_status_ 0 "$CONTMIG" send --key key "$pid" 127.0.0.1
read -r new dest < out
wait_for_ 5 file_has_lines_ l2.out 2
follows_ src l2.out
kill "$new"

# --- without a key, a listener and a sender trust only their own user -------
if command -v setpriv > /dev/null; then
	nobody="setpriv --reuid=65534 --regid=65534 --clear-groups"
	mkdir user && cp "$CONTMIG" "$counter" user/ && chown -R 65534:65534 user
	# A listener of another user: send will not hand it our process.
	# (nobody has no home to keep its state directory in: it is named.)
	(cd user && CONTMIG_STATE_DIR=$tmp/user/state exec $nobody ./contmig thaw --listen 7746 \
		2> ../l-nobody) &
	started_pids="$started_pids $!"
	wait_for_ 5 grep -qs 'thaw: listening on' l-nobody
	start_ "$counter" > src
	wait_for_ 5 file_has_lines_ src 1
	expect_status_ 70 "$CONTMIG" send "$pid" 127.0.0.1:7746
	one_error_line_
	grep -q 'runs as uid 65534; without a key' err || fail_ "to another's listener: $(cat err)"
	carries_on_ "$pid" src
	kill "$pid"
	# Another user's process sent to our keyless listener: refused, it
	# carries on there.
	keyed_listener=$listener
	listen_ l7 7747
	start_ $nobody ./user/counter > src
	wait_for_ 5 file_has_lines_ src 1
	wait_for_ 5 grep -q '^Name:[[:space:]]*counter' "/proc/$pid/status"
	(cd user && exec $nobody ./contmig send "$pid" 127.0.0.1:7747) > out 2> err
	status=$?
	[ "$status" -eq 70 ] || fail_ "another user's send: exit $status: $(cat err)"
	grep -q 'sender runs as uid 65534' err || fail_ "another user's send: $(cat err)"
	grep -q 'rejected: the sender runs as uid 65534' l7 || fail_ "the listener's log: $(cat l7)"
	carries_on_ "$pid" src
	kill "$pid"
	stop_ "$listener"
	listener=$keyed_listener
fi

# --- nobody listening -------------------------------------------------------
start_ "$counter" > src
wait_for_ 5 file_has_lines_ src 1
expect_status_ 69 "$CONTMIG" send "$pid" 127.0.0.1:7743
one_error_line_
grep -q 'Connection refused' err || fail_ "no listener: $(cat err)"
carries_on_ "$pid" src

# --- limits: an image too large, a listener too busy ------------------------
stop_ "$listener"
listen_ l3 $port --max-size 512K --max-clients 1 --timeout 3
counter_pid=$pid
start_ "$builddir/tests/bigmem" 1 > big
wait_for_ 5 grep -q '^ready' big
expect_status_ 71 "$CONTMIG" send "$pid" 127.0.0.1
one_error_line_
grep -q 'the image is 1.0 MiB; this receiver takes at most 512.0 KiB (--max-size)' err || fail_ "--max-size: $(cat err)"
carries_on_ "$pid" big
kill "$pid"
pid=$counter_pid
# A migration under way holds the only slot (a sender admitted, its hello
# in, then silent); a peer that connects and says nothing holds none.
silent_peer_
wait_for_ 5 has_workers_ "$listener"
python3 "$srcdir/tests/rawpeer.py" connect 127.0.0.1:$port --hello migrate > holder.out &
holder=$!
started_pids="$started_pids $holder"
wait_for_ 5 grep -q 'status 0' holder.out
expect_status_ 69 "$CONTMIG" send "$pid" 127.0.0.1
grep -q 'busy' err || fail_ "a busy listener: $(cat err)"
carries_on_ "$pid" src
kill "$holder"
# The silent peer goes when its handshake times out; garbage is refused at once.
wait_for_ 10 grep -q 'rejected: timed out' l3
# A peer that trickles its hello a byte at a time meets the same limit:
# the handshake has a deadline, not a timeout per byte.
python3 -c 'import socket, time
s = socket.create_connection(("127.0.0.1", '$port'))
for b in b"contmig\n" * 8:
    s.send(bytes([b])); time.sleep(0.5)' 2> /dev/null &
trickle=$!
started_pids="$started_pids $trickle"
wait_for_ 6 grep -q 'rejected: timed out: the handshake took too long' l3
head -c 5000 /dev/urandom | python3 -c 'import socket, sys
s = socket.create_connection(("127.0.0.1", '$port')); s.sendall(sys.stdin.buffer.read())
s.shutdown(socket.SHUT_WR); s.recv(100)' 2> /dev/null
wait_for_ 5 grep -q 'rejected: protocol error: the peer is not a contmig sender' l3
kill -0 "$listener" || fail_ "the listener died"
kill "$silent"
expect_status_ 0 "$CONTMIG" send "$pid" 127.0.0.1
read -r new dest < out
kill "$new"
stop_ "$listener"

# --- two migrations at the same time, while a silent peer sits there -------
listen_ l6 $port
silent_peer_
wait_for_ 5 has_workers_ "$listener"
start_ "$counter" > c1
p1=$pid
start_ "$counter" > c2
p2=$pid
wait_for_ 5 file_has_lines_ c1 1
wait_for_ 5 file_has_lines_ c2 1
"$CONTMIG" send --timeout 3 "$p1" 127.0.0.1 > o1 2> e1 &
s1=$!
"$CONTMIG" send --timeout 3 "$p2" 127.0.0.1 > o2 2> e2 &
s2=$!
wait "$s1" || fail_ "the first of two sends at once: $(cat e1)"
wait "$s2" || fail_ "the second of two sends at once: $(cat e2)"
read -r n1 dest < o1
read -r n2 dest < o2
kill -0 "$n1" && kill -0 "$n2" || fail_ "two sends at once: not both run on the receiver"
# (Each worker logs once its DONE is out: a moment after its sender exits.)
wait_for_ 5 eval '[ "$(grep -c ": running" l6)" -eq 2 ]'
[ "$(grep -c ': running' l6)" -eq 2 ] || fail_ "two sends at once: $(cat l6)"
kill "$n1" "$n2" "$silent"
stop_ "$listener"

# --- what crosses the wire: plaintext without a key, nothing with one --------
listen_ l4 $port --key key
python3 "$srcdir/tests/relay.py" --listen 127.0.0.1:7744 --to 127.0.0.1:$port \
	--capture wire > relay.out 2> relay.err &
started_pids="$started_pids $!"
wait_for_ 5 grep -q listening relay.out
start_ "$counter" > src
wait_for_ 5 file_has_lines_ src 1
expect_status_ 0 "$CONTMIG" send --key key "$pid" 127.0.0.1:7744
read -r new dest < out
kill "$new"
[ "$(stat -c %s wire)" -gt 4096 ] || fail_ "the relay saw only $(stat -c %s wire) bytes"
for s in CONTMIG CORE LINUX counter; do
	grep -q "$s" wire wire.down && fail_ "'$s' in clear on the wire with a key"
done
stop_ "$listener"
: > wire
listen_ l5 $port
start_ "$counter" > src
wait_for_ 5 file_has_lines_ src 1
expect_status_ 0 "$CONTMIG" send "$pid" 127.0.0.1:7744
read -r new dest < out
grep -q CONTMIG wire || fail_ "without a key the image should be in clear (the check above proves nothing)"
kill "$new"

# --- thaw --stdio through --via, and --once ----------------------------------
start_ "$counter" > src
wait_for_ 5 file_has_lines_ src 2
# The command's leftovers (here a sleep) go when send is done with it.
expect_status_ 0 "$CONTMIG" send --via "'$CONTMIG' thaw --stdio --output via.out 2> via.err; sleep 31.5" \
	"$pid" nodeb
read -r new dest < out
[ "$dest" = nodeb ] || fail_ "send --via printed: $(cat out)"
wait_for_ 5 file_has_lines_ via.out 3
follows_ src via.out
grep -q 'thaw: stdio: PID .* running' via.err || fail_ "thaw --stdio's log: $(cat via.err)"
# Killed, it may still show for a moment while the kernel ends it.
wait_for_ 5 eval "! pgrep -f 'sleep 31.5' > /dev/null"
kill "$new"
stop_ "$listener"

"$CONTMIG" thaw --listen $port --once > once.out 2> once.err &
once=$!
started_pids="$started_pids $once"
wait_for_ 5 grep -q 'listening on' once.err
start_ "$counter" > src
wait_for_ 5 file_has_lines_ src 1
expect_status_ 0 "$CONTMIG" send "$pid" 127.0.0.1
read -r new dest < out
wait "$once"
status=$?
[ "$status" -eq 0 ] || fail_ "thaw --listen --once exited $status"
kill "$new"

# --- usage ---------------------------------------------------------------------
expect_status_ 64 "$CONTMIG" send 1
expect_status_ 64 "$CONTMIG" send 1 'ssh://a;b'
expect_status_ 64 "$CONTMIG" thaw --listen 7742 img
expect_status_ 64 "$CONTMIG" thaw --once img
expect_status_ 64 "$CONTMIG" thaw --listen nonsense:port
[ "$(restored_)" -eq 0 ] || fail_ "restored processes left behind"
exit 0
