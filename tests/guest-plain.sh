# The body of cross-kernel-plain-static.sh and cross-kernel-plain-dynamic.sh
# (make check-cross-kernel), which set $plain: an ordinary glibc program
# (tests/plain.c) with a SIGUSR1 handler and an interval timer, frozen here,
# carries on in another kernel (tests/guest.sh) by an image file in the
# guest's initramfs and over QEMU's user network to a keyed listener: there
# it goes on from the next step, its handler counts a kill -USR1 ("SIGUSR1
# 1"), its timer keeps ticking and its clocks work (plain says so on stderr
# and exits 1 when any of that fails), and it is still alive.  The dynamic
# one finds this machine's glibc there at the same paths.
. "$srcdir/tests/init.sh"
. "$srcdir/tests/guest.sh"
private_net_
guest_require_
port=7742
prog=$builddir/tests/$plain

"$CONTMIG" keygen key > /dev/null || framework_failure_ "keygen"
guest_put_ key /key
guest_add_ "$prog"

# glibc chooses its code by the CPU it starts on: here its string functions
# would use AVX-512 (whose state contmig sees, and the guest refuses by
# name, tests/cross-kernel-cpu.sh) and ld.so's lazy binding XSAVEC (which
# nothing shows: the copy's first new library call would die of SIGILL).
# QEMU's TCG has neither; started so, plain uses neither and can move there.
tunables=GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX512F,-AVX512VL,-AVX512BW,-AVX512DQ,-AVX512CD,-XSAVEC
start_ env "$tunables" "$prog" --handler --timer > before.file 2> err.file
wait_for_ 5 file_has_lines_ before.file 3
expect_status_ 0 "$CONTMIG" freeze -o plain.img "$pid"
guest_put_ plain.img /plain.img

cat > scenario <<'SCENARIO'
steps() { grep -c '^step ' "$1"; }
has_steps() { [ "$(steps "$1")" -ge "$2" ]; }
# exercise TAG PID OUT LOG: the copy takes steps, counts a SIGUSR1, takes
# more; LOG (its thaw's stderr, or the listener's) says how it ended if it did.
exercise()
{
	wait_up 60 has_steps "$3" 3 || say "$1: the copy took fewer than 3 steps"
	kill -USR1 "$2"
	wait_up 30 grep -q '^SIGUSR1 1$' "$3" || say "$1: no 'SIGUSR1 1' from the copy"
	n=$(steps "$3")
	wait_up 30 has_steps "$3" $((n + 3)) || say "$1: the copy stopped taking steps"
	if grep -qs '^State:[[:space:]]*[RS]' "/proc/$2/status"; then
		say "$1: alive"
	else
		sleep 1
		say "$1: the copy is gone: $(tail -n 2 "$4" | tr '\n' ' ')"
	fi
}
# By file, thaw in the foreground (in the background here): it says how
# the copy ends.  Both receivers run ahead (tests/guest.sh): plain checks
# that CLOCK_MONOTONIC never goes back, and across machines it does not
# travel yet (another issue, not tested here).
ahead "$CONTMIG" thaw --pid-file /tmp/file.pid --stdout /tmp/file.out --stderr /tmp/file.err \
	/plain.img 2> /tmp/file.thaw &
wait_up 60 eval 'test -s /tmp/file.pid || test -s /tmp/file.thaw'
if test -s /tmp/file.pid; then
	exercise file "$(cat /tmp/file.pid)" /tmp/file.out /tmp/file.thaw
	kill "$(cat /tmp/file.pid)"
else
	say "file: thaw failed: $(cat /tmp/file.thaw)"
fi
show file-out /tmp/file.out
show file-err /tmp/file.err
say "file done"

ahead "$CONTMIG" thaw --listen "0.0.0.0:$(cat /etc/contmig-port)" --key /key \
	--stdout /tmp/net.out --stderr /tmp/net.err 2> /tmp/net.log &
wait_up 30 grep -q 'listening on' /tmp/net.log
say "listening"
if wait_up 120 grep -q -- '-> PID [0-9]*: running' /tmp/net.log; then
	pid=$(sed -n 's/.*-> PID \([0-9]*\): running.*/\1/p' /tmp/net.log)
	exercise net "$pid" /tmp/net.out /tmp/net.log
else
	say "net: no copy runs"
fi
show net-out /tmp/net.out
show net-err /tmp/net.err
show netlog /tmp/net.log
SCENARIO

# moved_ WAY BEFORE AFTER ERR: the copy's output AFTER goes on from BEFORE's
# last step, one step at a time, counted the SIGUSR1, and the copy said
# nothing on stderr (ERR) and was alive at the end.
moved_()
{
	local last first
	guest_report_ "$1" | grep -vqx alive &&
		fail_ "$1: $(guest_report_ "$1" | grep -vx alive | tr '\n' ';') the copy's stderr:" \
			"$(head -c 400 "$4"); its output: $(tail -n 5 "$3" | tr '\n' ' ')"
	last=$(sed -n 's/^step //p' "$2" | tail -n 1)
	first=$(sed -n '1s/^step //p' "$3")
	[ -s "$4" ] && fail_ "$1: the copy complained: $(head -c 400 "$4")"
	[ -n "$first" ] || fail_ "$1: the copy took no step: $(head -c 200 "$3")"
	[ "$first" = $((last + 1)) ] || fail_ "$1: the copy resumed at step '$first' after step $last"
	sed -n 's/^step //p' "$3" | diff -q <(seq "$first" $((first + $(grep -c '^step ' "$3") - 1))) - \
		> /dev/null || fail_ "$1: the copy's steps are not consecutive: $(head -c 300 "$3")"
	grep -qx 'SIGUSR1 1' "$3" || fail_ "$1: no 'SIGUSR1 1' after kill -USR1: $(guest_why_)"
	guest_report_ "$1" | grep -qx alive || fail_ "$1: the copy was not alive at the end: $(guest_why_)"
}

start_ env "$tunables" "$prog" --handler --timer > before.net 2> err.net
guest_boot_ scenario "$port"
guest_wait_ 180 '^file done'
guest_report_ file-out > after.file
guest_report_ file-err > err.after.file
moved_ file before.file after.file err.after.file

guest_wait_ 60 '^listening'
expect_status_ 0 "$CONTMIG" send --key key "$pid" "127.0.0.1:$port"
read -r new dest < out
wait "$pid" 2> /dev/null
kill -0 "$pid" 2> /dev/null && fail_ "the source still runs here after the send"
guest_wait_ 180 '^scenario ended'
guest_report_ net-out > after.net
guest_report_ net-err > err.after.net
guest_report_ netlog | grep -q -- "-> PID $new: running" ||
	fail_ "the guest's listener did not start PID $new: $(guest_report_ netlog)"
moved_ net before.net after.net err.after.net
[ -s err.file ] || [ -s err.net ] && fail_ "a source complained here: $(cat err.file err.net)"
guest_end_ 30
exit 0
