#!/bin/bash
# Who may send to a receiver: one set of rules for every way in (contmig(1),
# thaw, WHO MAY SEND).  thaw --stdio behind systemd socket activation, over
# TCP and AF_UNIX; send's refusal to go beyond loopback without a key; the
# handshake pool, which idle peers cannot get past to the migration slots;
# and peers that hang up right after sending everything.
. "$srcdir/tests/init.sh"
private_net_
# What the test's user runs too, where that user may run it.
for_users_ "$CONTMIG" "$builddir/tests/counter" "$srcdir/tests/rawpeer.py"
CONTMIG=$tmp/bin/contmig counter=$tmp/bin/counter
# The system's python: the test runs it as another user too.
py=/usr/bin/python3
[ -x "$py" ] || skip_ "no $py"
command -v systemd-socket-activate > /dev/null || skip_ "no systemd-socket-activate"
rawpeer="$py $tmp/bin/rawpeer.py"
# The receivers' records, this test's own.
export CONTMIG_STATE_DIR=$tmp/state
mkdir -m 700 "$CONTMIG_STATE_DIR" || framework_failure_ "mkdir $CONTMIG_STATE_DIR"
new_user_ user
uid=$(id -u "$user")
# Addresses on this namespace's loopback interface that are not loopback
# addresses: to contmig, peers and receivers elsewhere.
ip addr add 10.77.0.1/32 dev lo && ip addr add 10.77.0.2/32 dev lo &&
	ip addr add 10.77.0.3/32 dev lo && ip addr add 10.77.0.4/32 dev lo ||
	framework_failure_ "ip addr add"

# activate_ LOG ADDR ARGS...: 'thaw --stdio ARGS' behind systemd socket
# activation on ADDR, a process per connection, as inetd runs it (root's);
# their log in LOG.
activate_()
{
	local log=$1 addr=$2
	shift 2
	start_ systemd-socket-activate --inetd -a -l "$addr" "$CONTMIG" thaw --stdio "$@" 2> "$log"
	wait_for_ 5 grep -qs 'Listening on' "$log"
}

# user_counter_ FILE: a counter run by the test's user, writing to FILE; its
# PID in $pid.
user_counter_()
{
	start_ setpriv --reuid="$user" --regid="$user" --init-groups -- "$counter" > "$1"
	wait_for_ 5 file_has_lines_ "$1" 2
}

# carries_on_ PID FILE: PID runs untraced and keeps writing FILE.
carries_on_()
{
	local n
	running_untraced_ "$1"
	n=$(wc -l < "$2")
	wait_for_ 5 file_has_lines_ "$2" $((n + 2))
}

# no_copies_ WHAT: nothing was restored here.
no_copies_() { [ "$(stub_processes_)" -eq 0 ] || fail_ "$1: a copy runs: $(stub_pids_)"; }

"$CONTMIG" keygen key > /dev/null || framework_failure_ keygen
cp key ukey && chown "$user" ukey

# --- thaw --stdio behind socket activation, over TCP ------------------------
# Root's receiver, no key: another user's process is refused (it would have
# run as root), and it carries on where it was.
activate_ sa.log 127.0.0.1:7750
user_counter_ usrc
expect_status_ 70 as_ "$user" "$CONTMIG" send "$pid" 127.0.0.1:7750
one_error_line_ "another user's send"
grep -q "the sender runs as uid $uid; without a key" err || fail_ "another user's send: $(cat err)"
wait_for_ 5 grep -q "thaw: 127.0.0.1:[0-9]*: rejected: the sender runs as uid $uid" sa.log
carries_on_ "$pid" usrc
no_copies_ "another user's send to root's socket-activated receiver"
kill "$pid"
# Root's own process goes.
start_ "$counter" > rsrc
wait_for_ 5 file_has_lines_ rsrc 2
expect_status_ 0 "$CONTMIG" send "$pid" 127.0.0.1:7750
read -r new dest < out
kill -0 "$new" || fail_ "root's send: no copy runs"
# thaw --stdio logs as it exits, which may be just after send does.
wait_for_ 5 grep -q "PID $pid (counter from .*) -> PID $new: running" sa.log
kill "$new"
# With a key, the key is the proof: the user holding it sends.
activate_ sak.log 127.0.0.1:7751 --key "$tmp/key"
user_counter_ usrc2
expect_status_ 0 as_ "$user" "$CONTMIG" send --key ukey "$pid" 127.0.0.1:7751
read -r new dest < out
wait_for_ 5 grep -q "PID $pid (counter from .*) -> PID $new: running" sak.log
kill "$new"
# From another host (here an address that is not loopback) without a key:
# refused at once, in the receiver's hello.
activate_ sar.log 10.77.0.1:7752
$rawpeer connect 10.77.0.1:7752 --from 10.77.0.2 --hold 0 > peer.out ||
	framework_failure_ "rawpeer: $(cat peer.out)"
grep -qx 'status 70' peer.out || fail_ "a keyless peer from elsewhere: $(cat peer.out)"
wait_for_ 5 grep -q 'thaw: 10.77.0.2:[0-9]*: rejected: 10.77.0.2:[0-9]* is not on this machine.s loopback' sar.log
no_copies_ "a keyless peer from elsewhere"

# --- ... and over AF_UNIX ---------------------------------------------------
# Anyone who may connect to the socket is at the other end: SO_PEERCRED
# tells who, and only our user or root may send without a key.
activate_ sau.log "$tmp/thaw.sock"
chmod 666 thaw.sock
as_ "$user" $rawpeer connect "unix:$tmp/thaw.sock" --hold 0 > peer.out ||
	framework_failure_ "rawpeer: $(cat peer.out)"
grep -qx 'status 70' peer.out || fail_ "another user on the unix socket: $(cat peer.out)"
wait_for_ 5 grep -q "rejected: the sender runs as uid $uid" sau.log
$rawpeer connect "unix:$tmp/thaw.sock" --hold 0 > peer.out
grep -qx 'status 0' peer.out || fail_ "root on the unix socket: $(cat peer.out)"
no_copies_ "the unix socket"

# Without Accept=yes thaw --stdio gets the listening socket itself: it says
# what is wrong instead of failing on the first read.
start_ systemd-socket-activate --inetd -l 127.0.0.1:7753 "$CONTMIG" thaw --stdio 2> sal.log
wait_for_ 5 grep -qs 'Listening on' sal.log
$rawpeer connect 127.0.0.1:7753 --hold 0 > peer.out
wait_for_ 5 grep -q "rejected: standard input is a listening socket, not a connection" sal.log

# --- send without a key goes nowhere beyond loopback --------------------------
# An impostor listening beyond loopback (a genuine receiver never does
# without a key) gets nothing at all, and the process is never touched.
$rawpeer serve 10.77.0.2:7760 --log imp.log > imp.out &
started_pids="$started_pids $!"
wait_for_ 5 grep -q listening imp.out
start_ "$counter" > isrc
wait_for_ 5 file_has_lines_ isrc 2
expect_status_ 64 "$CONTMIG" send --timeout 3 "$pid" 10.77.0.2:7760
one_error_line_ "send beyond loopback"
grep -q "send: refusing to send PID $pid to 10.77.0.2 without --key: a genuine receiver never listens beyond loopback" err ||
	fail_ "send beyond loopback: $(cat err)"
grep -qx 'connections 0 bytes 0' imp.log || fail_ "the impostor got: $(cat imp.log)"
carries_on_ "$pid" isrc
# run's programs too: sys_migrate to such a place fails, and it carries on.
expect_status_ 0 "$CONTMIG" run "$builddir/tests/selfmig" 10.77.0.2:7760 "$tmp/self.txt"
grep -q 'run: refusing to send PID [0-9]* to 10.77.0.2 without --key' err || fail_ "run: $(cat err)"
grep -q '^after -' self.txt || fail_ "run's program believes it moved: $(cat self.txt)"
grep -qx 'connections 0 bytes 0' imp.log || fail_ "the impostor got: $(cat imp.log)"
kill "$pid"

# --- idle peers hold no migration slot ----------------------------------------
# Six peers from two addresses sit in their handshakes (three say nothing,
# three send a keyed hello and never prove the key) on a keyed listener that
# takes two migrations at a time: a keyed send still goes.
listen_ lp 10.77.0.1:7770 --key key --max-clients 2
$rawpeer connect 10.77.0.1:7770 --from 10.77.0.2 --count 3 --hello none > idle2.out &
started_pids="$started_pids $!"
$rawpeer connect 10.77.0.1:7770 --from 10.77.0.3 --count 3 --keyed > idle3.out &
started_pids="$started_pids $!"
wait_for_ 5 grep -q 'held 3' idle2.out
wait_for_ 5 grep -q 'held 3' idle3.out
[ "$(grep -c 'status 0' idle3.out)" -eq 3 ] || fail_ "the keyed idle peers: $(cat idle3.out)"
wait_for_ 5 eval '[ "$(pgrep -c -P "$listener" -x contmig)" -ge 6 ]'
start_ "$counter" > psrc
wait_for_ 5 file_has_lines_ psrc 2
expect_status_ 0 "$CONTMIG" send --key key "$pid" 10.77.0.1:7770
read -r new dest < out
kill "$new"
# It went while they were all still there: each is rejected only after it.
wait_for_ 10 eval '[ "$(grep -c "rejected: timed out" lp)" -eq 6 ]'
ran=$(grep -n ': running' lp | cut -d: -f1)
first=$(grep -n 'rejected: timed out' lp | head -n 1 | cut -d: -f1)
[ "$ran" -lt "$first" ] || fail_ "the send went only after the idle peers had gone: $(cat lp)"
stop_ "$listener"

# The pool has room for 4 from one peer and 32 in all: a newcomer over
# either cuts the oldest (of its peer, or of all), so a flood cuts only
# itself short.  Beyond loopback a peer is an address.
listen_ lc 10.77.0.1:7771 --key key --max-clients 50
# workers_ N: the listener has N workers.
workers_() { [ "$(pgrep -c -P "$listener" -x contmig)" -eq "$1" ]; }
$rawpeer connect 10.77.0.1:7771 --from 10.77.0.4 --count 6 --keyed --hold 8 > cap.out &
started_pids="$started_pids $!"
wait_for_ 5 grep -q 'held 6' cap.out
wait_for_ 5 workers_ 4
[ "$(grep -c '10.77.0.4:[0-9]*: its peer has 4 connections in their handshake (at most 4): the oldest (worker PID [0-9]*) is cut' lc)" -eq 2 ] ||
	fail_ "six idle peers from one address: $(cat lc)"
for i in 10 11 12 13 14 15 16 17; do
	ip addr add 10.77.0.$i/32 dev lo || framework_failure_ "ip addr add 10.77.0.$i"
	$rawpeer connect 10.77.0.1:7771 --from 10.77.0.$i --count 4 --keyed --hold 8 > "cap$i.out" &
	started_pids="$started_pids $!"
	wait_for_ 5 grep -q 'held 4' "cap$i.out"
done
wait_for_ 5 workers_ 32
[ "$(grep -c 'connections are in their handshake (at most 32): the oldest (worker PID [0-9]*) is cut' lc)" -eq 4 ] ||
	fail_ "past 32 in the pool: $(cat lc)"
stop_ "$listener"

# On loopback a peer is a user, whatever 127.x.y.z it comes from: another
# user's flood from eight addresses never holds more than 4 places, and
# root's keyed send goes while it lasts.
listen_ lf 127.0.0.1:7772 --key key --max-clients 2
for i in 2 3 4 5 6 7 8 9; do
	as_ "$user" $rawpeer connect 127.0.0.1:7772 --from 127.0.1.$i --count 4 --keyed \
		--hold 8 > "flood$i.out" &
	started_pids="$started_pids $!"
	wait_for_ 5 grep -q 'held 4' "flood$i.out"
done
wait_for_ 5 workers_ 4
start_ "$counter" > fsrc
wait_for_ 5 file_has_lines_ fsrc 2
expect_status_ 0 "$CONTMIG" send --key key "$pid" 127.0.0.1:7772
read -r new dest < out
kill "$new"
[ "$(grep -c "its peer has 4 connections in their handshake" lf)" -eq 28 ] ||
	fail_ "the flood's cuts: $(cat lf)"
stop_ "$listener"

# --- a peer that hangs up right after sending everything ----------------------
# Its socket is gone by the time the listener looks (here: the listener was
# slow to accept); the kernel's remnant of it lists uid 0, and that must not
# pass for root.  Another user's image is never parsed, let alone restored.
user_counter_ usrc3
"$CONTMIG" freeze -o img "$pid" 2> freeze.err || framework_failure_ "freeze: $(cat freeze.err)"
chmod 644 img
listen_ lt 127.0.0.1:7780
kill -STOP "$listener"
as_ "$user" $rawpeer connect 127.0.0.1:7780 --image img --close ||
	framework_failure_ "rawpeer as $user"
sleep 0.5
kill -CONT "$listener"
wait_for_ 5 grep -q 'rejected:' lt
grep -q "rejected: the sender's end of the connection is closed or closing" lt ||
	fail_ "a peer gone before it was looked at: $(cat lt)"
grep -q 'PID [0-9]* (counter' lt && fail_ "the image of a peer it could not tell was parsed: $(cat lt)"
no_copies_ "a peer gone before it was looked at"
stop_ "$listener"
# Root's own image, sent once the receiver has said hello, then the sender
# hangs up without waiting for READY: the receiver looks again before READY
# and refuses the copy rather than hold it for nobody.
listen_ lt2 127.0.0.1:7781
$rawpeer connect 127.0.0.1:7781 --wait-hello --image img --close > peer.out
grep -qx 'status 0' peer.out || fail_ "root's hello: $(cat peer.out)"
wait_for_ 5 grep -q 'thaw: 127' lt2
grep -q "the sender's end of the connection is closed or closing" lt2 ||
	fail_ "a sender gone before READY: $(cat lt2)"
grep -q 'discarded' lt2 && fail_ "a copy was held for a sender gone before READY: $(cat lt2)"
no_copies_ "a sender gone before READY"
stop_ "$listener"

# An IPv6 socket that connects to a v4-mapped address is listed as IPv6 by
# the kernel: root's sender is still known for root.
listen_ lv 127.0.0.1:7790
start_ "$counter" > vsrc
wait_for_ 5 file_has_lines_ vsrc 2
expect_status_ 0 "$CONTMIG" send "$pid" '[::ffff:127.0.0.1]:7790'
read -r new dest < out
kill "$new"
stop_ "$listener"
exit 0
