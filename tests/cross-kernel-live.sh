#!/bin/bash
# make check-cross-kernel: send --live where the kernel has no asynchronous
# userfaultfd write-protection but soft-dirty bits (Debian's 6.1 under QEMU,
# tests/guest.sh): in the guest, a program changing its mappings while it
# rewrites part of its memory moves live to a listener there, and its copy
# finds every page as it last wrote it.
. "$srcdir/tests/init.sh"
. "$srcdir/tests/guest.sh"
private_net_
guest_require_
guest_add_ "$builddir/tests/livewrite"
# With a key: the guest has no way to tell a loopback peer's user.
"$CONTMIG" keygen key > /dev/null || framework_failure_ "keygen"
guest_put_ key /key

cat > scenario <<'SCENARIO'
"$CONTMIG" thaw --listen 7742 --key /key > /tmp/copy.out 2> /tmp/listen.log &
wait_up 30 grep -q 'listening on' /tmp/listen.log || say "error: no listener"
"$builddir/tests/livewrite" 16 2 --churn > /tmp/src.out 2>&1 &
src=$!
wait_up 60 grep -q '^ok 2 ' /tmp/src.out || say "error: the program did not start"
if "$CONTMIG" send --live --progress --key /key "$src" 127.0.0.1 > /tmp/send.out 2> /tmp/send.err; then
	wait_up 60 eval '[ "$(grep -c "^ok" /tmp/copy.out)" -ge 3 ] || grep -q FAIL /tmp/copy.out'
	grep -q FAIL /tmp/copy.out && say "error: the copy found a wrong page"
	[ "$(grep -c '^ok' /tmp/copy.out)" -ge 3 ] || say "error: the copy checked itself too few times"
else
	say "error: send --live failed"
fi
show send /tmp/send.err
show copy /tmp/copy.out
show listen /tmp/listen.log
say "live done"
SCENARIO

guest_boot_ scenario
guest_wait_ 200 '^live done'
guest_report_ error | grep -q . && fail_ "$(guest_report_ error); send: $(guest_report_ send)"
guest_report_ send | grep -q 'live: [0-9]* rounds' ||
	fail_ "no live rounds in the guest: $(guest_report_ send)"
guest_report_ send | grep -q 'no live send' && fail_ "a plain send in the guest: $(guest_report_ send)"
guest_end_ 60
exit 0
