#!/bin/bash
# Each instant of the handoff (contmig(1), THE HANDOFF), with the sender or
# the receiver killed -9 exactly there (CONTMIG_TEST_HOOK stops it at a named
# point): once things settle, exactly one copy runs, and the right one.
# Nothing is lost: not when the sender dies after arming the source, not
# when the receiver dies between its decision and starting its copy.
. "$srcdir/tests/init.sh"
private_net_

bigmem=$builddir/tests/bigmem

src_()
{
	start_ "$bigmem" 8 > src.out
	wait_for_ 10 grep -q '^ready' src.out
}

# reached_ LOG POINT: the process logging to LOG stopped at POINT.
reached_() { grep -qs "test point $2 reached" "$1"; }

# survivor_ WHAT SRC WHO: once settled, WHO (source or copy) is the one
# that runs, and it runs on (the copy's memory checks go on: "ok N").
survivor_()
{
	local what=$1 src=$2 who=$3 copy
	wait_settled_ "$what" "$src"
	case $who in
	source)
		alive_ "$src" || fail_ "$what: the source is gone, yet its copy was not to run"
		[ -z "$(copies_)" ] || fail_ "$what: a copy runs beside the source" ;;
	copy)
		! alive_ "$src" || fail_ "$what: the source runs on, yet its copy runs"
		copy=$(copies_)
		[ "$(echo "$copy" | wc -w)" -eq 1 ] || fail_ "$what: copies: '$copy'" ;;
	esac
	exactly_one_ "$what" "$src"
}

# The sender killed at each of its points; the guardian settles the source.
listen_ l 7742
for case in send-armed:source send-committed:copy send-done:copy; do
	point=${case%%:*}
	src_
	CONTMIG_TEST_HOOK=$point "$CONTMIG" send -q "$pid" 127.0.0.1:7742 > send.out 2> send.err &
	sender=$!
	wait_for_ 20 reached_ send.err "$point"
	kill -9 "$sender"
	wait "$sender" 2> /dev/null
	survivor_ "send killed at $point" "$pid" "${case#*:}"
	# The guardian said what it did, on send's stderr.
	case ${case#*:} in
	source) want='the sender died, and the receiver says COMMIT never arrived: PID [0-9]* carries on here' ;;
	copy) want='the sender died, and the receiver says COMMIT arrived: the copy runs there as PID [0-9]* and PID [0-9]* has ended here' ;;
	esac
	wait_for_ 5 grep -q "$want" send.err
done

# contmig run killed after arming the program it supervises: the guardian
# lets it carry on here, and its sys_migrate says the move failed (it must
# not believe the image's "returned 0").
CONTMIG_TEST_HOOK=send-armed start_ "$CONTMIG" run "$builddir/tests/selfmig" 127.0.0.1:7742 \
	"$tmp/self.txt" > self.out 2> self.err
runner=$pid
wait_for_ 20 reached_ self.err send-armed
kill -9 "$runner"
wait_for_ 10 grep -qx 'after -103' self.txt
grep -qx 'sys_migrate returned -103' self.out || fail_ "run killed: the program says: $(cat self.out)"
[ -z "$(copies_)" ] || fail_ "run killed before COMMIT: a copy runs there too"
stop_ "$listener"

# The receiver's worker killed at each of its points; the listener, or the
# sender's query, settles the copy from the record.
for case in receive-ready:source receive-disarmed:source receive-committed:copy \
	    receive-running:copy; do
	point=${case%%:*}
	CONTMIG_TEST_HOOK=$point listen_ l 7742
	src_
	"$CONTMIG" send -q "$pid" 127.0.0.1:7742 > send.out 2> send.err &
	sender=$!
	wait_for_ 20 reached_ l "$point"
	kill -9 $(pgrep -P "$listener" -x contmig)
	wait "$sender" 2> /dev/null
	survivor_ "worker killed at $point" "$pid" "${case#*:}"
	stop_ "$listener"
done

# With no listener at all (thaw --stdio behind --via, as behind ssh or
# inetd), the sender's query settles a copy whose receiver died between
# deciding and starting it.
src_
"$CONTMIG" send -q --via "CONTMIG_TEST_HOOK=receive-committed exec $CONTMIG thaw --stdio" \
	"$pid" beta > send.out 2> send.err &
sender=$!
wait_for_ 20 reached_ send.err receive-committed
kill -9 $(pgrep -f "^$CONTMIG thaw --stdio")
wait "$sender"
status=$?
[ "$status" -eq 0 ] || fail_ "send through a receiver killed after COMMIT exited $status: $(cat send.err)"
survivor_ "thaw --stdio killed after deciding" "$pid" copy
exit 0
