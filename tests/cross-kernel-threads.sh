#!/bin/bash
# make check-cross-kernel: a multi-threaded program (tests/threads) stays
# refused with one clear line here, before anything is sent: neither an
# image file nor a send to the other kernel's keyed listener (tests/guest.sh)
# stops it, and that listener never hears from the sender.
. "$srcdir/tests/init.sh"
. "$srcdir/tests/guest.sh"
private_net_
guest_require_
port=7742

"$CONTMIG" keygen key > /dev/null || framework_failure_ "keygen"
guest_put_ key /key

cat > scenario <<'SCENARIO'
"$CONTMIG" thaw --listen "0.0.0.0:$(cat /etc/contmig-port)" --key /key 2> /tmp/net.log &
wait_up 30 grep -q 'listening on' /tmp/net.log
say "listening"
hear 60 > /dev/null	# the send here is over
show netlog /tmp/net.log
SCENARIO

start_ "$builddir/tests/threads"
wait_for_ 5 eval '[ "$(ls /proc/$pid/task | wc -l)" -eq 2 ]'

expect_status_ 65 "$CONTMIG" freeze -o threads.img "$pid"
one_error_line_ "freeze"
grep -q 'thread' err || fail_ "freeze does not say why: $(cat err)"
[ -e threads.img ] && fail_ "the refused freeze left an image"
running_untraced_ "$pid"

guest_boot_ scenario "$port"
guest_wait_ 60 '^listening'
expect_status_ 65 "$CONTMIG" send --key key "$pid" "127.0.0.1:$port"
one_error_line_ "send"
echo "$me: send exited 65: $(cat err)" >&2
grep -q '2 threads: only single-threaded processes move' err || fail_ "send does not say why: $(cat err)"
running_untraced_ "$pid"
guest_tell_ sent
guest_wait_ 60 '^scenario ended'
guest_report_ netlog > netlog
grep -q 'listening on' netlog || fail_ "the guest's listener log: $(cat netlog)"
grep -v 'listening on' netlog | grep -q . &&
	fail_ "the guest's listener heard from the refused send: $(cat netlog)"
guest_end_ 30
exit 0
