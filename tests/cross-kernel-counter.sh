#!/bin/bash
# make check-cross-kernel: a contract program (tests/counter) frozen here
# carries on in another kernel (Debian's 6.1 under QEMU, tests/guest.sh),
# by an image file carried in its initramfs, and sent over QEMU's user
# network to a keyed listener there: each copy goes on from the next number,
# the listener's copy with its clocks continued (contmig(1), TIME).
. "$srcdir/tests/init.sh"
. "$srcdir/tests/guest.sh"
private_net_
guest_require_
port=7742

"$CONTMIG" keygen key > /dev/null || framework_failure_ "keygen"
guest_put_ key /key
guest_add_ "$builddir/tests/counter"

# By file: frozen here before the guest boots, the image in its initramfs.
start_ "$builddir/tests/counter" > before.file
wait_for_ 5 file_has_lines_ before.file 3
expect_status_ 0 "$CONTMIG" freeze -o counter.img "$pid"
guest_put_ counter.img /counter.img

cat > scenario <<'SCENARIO'
if pid=$("$CONTMIG" thaw --detach --stdout /tmp/file.out /counter.img 2> /tmp/file.err); then
	wait_up 60 eval '[ "$(wc -l < /tmp/file.out)" -ge 5 ]' || say "file: the copy printed too little"
	kill "$pid"
else
	say "file: thaw failed: $(cat /tmp/file.err)"
fi
show file-out /tmp/file.out
say "file done"

"$CONTMIG" thaw --listen "0.0.0.0:$(cat /etc/contmig-port)" --key /key > /tmp/net.out 2> /tmp/net.log &
wait_up 30 grep -q 'listening on' /tmp/net.log
say "listening"
if wait_up 120 grep -q -- '-> PID [0-9]*: running' /tmp/net.log; then
	wait_up 60 eval '[ "$(wc -l < /tmp/net.out)" -ge 5 ]' || say "net: the copy printed too little"
else
	say "net: no copy runs"
fi
show net-out /tmp/net.out
show netlog /tmp/net.log
SCENARIO

start_ "$builddir/tests/counter" > before.net
guest_boot_ scenario "$port"
guest_wait_ 120 '^file done'
guest_report_ file | grep -q . && fail_ "by file: $(guest_report_ file)"
guest_report_ file-out > after.file
[ -s after.file ] || fail_ "no output from the copy thawed from a file: $(guest_why_)"
follows_ before.file after.file

guest_wait_ 60 '^listening'
expect_status_ 0 "$CONTMIG" send --key key "$pid" "127.0.0.1:$port"
read -r new dest < out
[ "$dest" = "127.0.0.1:$port" ] || fail_ "send printed: $(cat out)"
wait "$pid" 2> /dev/null
kill -0 "$pid" 2> /dev/null && fail_ "the source still runs here after the send"
guest_wait_ 180 '^scenario ended'
guest_report_ net | grep -q . && fail_ "over the network: $(guest_report_ net)"
guest_report_ net-out > after.net
guest_report_ netlog | grep -q -- "-> PID $new: running.*; clocks continued (+" ||
	fail_ "the guest's listener did not start PID $new, its clocks continued: $(guest_report_ netlog)"
[ -s after.net ] || fail_ "no output from the copy sent over the network: $(guest_why_)"
follows_ before.net after.net
guest_end_ 30
exit 0
