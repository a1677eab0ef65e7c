# The body of cross-kernel-plain-static.sh and cross-kernel-plain-dynamic.sh
# (make check-cross-kernel), which set $plain: an ordinary glibc program
# (tests/plain.c) with a SIGUSR1 handler and an interval timer, frozen here,
# carries on in another kernel (tests/guest.sh) by an image file in the
# guest's initramfs and over QEMU's user network to a keyed listener: there
# it goes on from the next step, its handler counts a kill -USR1 ("SIGUSR1
# 1"), its timer keeps ticking and its clocks work (plain says so on stderr
# and exits 1 when any of that fails), and it is still alive.  Its
# CLOCK_MONOTONIC and CLOCK_BOOTTIME go on there from this machine's, whose
# uptime is far longer than the guest's: never back (plain --clocks says
# so), and by the pause, as the two machines' CLOCK_REALTIME measure it.
# The dynamic one finds this machine's glibc there at the same paths.
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
start_ env "$tunables" "$prog" --handler --timer --clocks > before.file 2> err.file
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
# the copy ends, and how its clocks went (--progress).
"$CONTMIG" thaw --progress --pid-file /tmp/file.pid --stdout /tmp/file.out \
	--stderr /tmp/file.err /plain.img 2> /tmp/file.thaw &
thaw=$!
# Its PID file, or its end (a failure): its summary line may come first.
wait_up 60 eval 'test -s /tmp/file.pid || ! kill -0 '"$thaw"' 2> /dev/null'
if test -s /tmp/file.pid; then
	exercise file "$(cat /tmp/file.pid)" /tmp/file.out /tmp/file.thaw
	kill "$(cat /tmp/file.pid)"
else
	say "file: thaw failed: $(cat /tmp/file.thaw)"
fi
show file-out /tmp/file.out
show file-err /tmp/file.err
show file-thaw /tmp/file.thaw
say "file done"

"$CONTMIG" thaw --listen "0.0.0.0:$(cat /etc/contmig-port)" --key /key \
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
# nothing on stderr (ERR) and was alive at the end; its clocks went on (see
# clocks_went_on_).
moved_()
{
	local last first
	guest_report_ "$1" | grep -vqx alive &&
		fail_ "$1: $(guest_report_ "$1" | grep -vx alive | tr '\n' ';') the copy's stderr:" \
			"$(head -c 400 "$4"); its output: $(tail -n 5 "$3" | tr '\n' ' ')"
	last=$(sed -n 's/^step //p' "$2" | tail -n 1)
	first=$(sed -n 's/^step //p' "$3" | head -n 1)
	[ -s "$4" ] && fail_ "$1: the copy complained: $(head -c 400 "$4")"
	[ -n "$first" ] || fail_ "$1: the copy took no step: $(head -c 200 "$3")"
	[ "$first" = $((last + 1)) ] || fail_ "$1: the copy resumed at step '$first' after step $last"
	sed -n 's/^step //p' "$3" | diff -q <(seq "$first" $((first + $(grep -c '^step ' "$3") - 1))) - \
		> /dev/null || fail_ "$1: the copy's steps are not consecutive: $(head -c 300 "$3")"
	grep -qx 'SIGUSR1 1' "$3" || fail_ "$1: no 'SIGUSR1 1' after kill -USR1: $(guest_why_)"
	guest_report_ "$1" | grep -qx alive || fail_ "$1: the copy was not alive at the end: $(guest_why_)"
	clocks_went_on_ "$1" "$2" "$3"
}

# clocks_went_on_ WAY BEFORE AFTER: from BEFORE's last "clocks MONO BOOT REAL"
# to AFTER's first, CLOCK_MONOTONIC and CLOCK_BOOTTIME went on as far as
# CLOCK_REALTIME did (here, then there: the pause and a step) within 2 s:
# the guest's wall clock is set from QEMU's RTC, to the second, at boot.
clocks_went_on_()
{
	local last first d
	last=$(sed -n 's/^clocks //p' "$2" | tail -n 1)
	first=$(sed -n 's/^clocks //p' "$3" | head -n 1)
	[ -n "$last" ] && [ -n "$first" ] || fail_ "$1: no clocks lines: '$last' '$first'"
	d=$(awk -v a="$last" -v b="$first" 'BEGIN { split(a, x); split(b, y);
		printf "%.6f %.6f %.6f", y[1] - x[1], y[2] - x[2], y[3] - x[3] }')
	echo "$1: across the move CLOCK_MONOTONIC, CLOCK_BOOTTIME and CLOCK_REALTIME went on by $d s (from $last to $first)"
	awk -v d="$d" 'BEGIN { split(d, x); e1 = x[1] - x[3]; e2 = x[2] - x[3];
		exit !(x[1] >= 0 && x[2] >= 0 && e1 < 2 && e1 > -2 && e2 < 2 && e2 > -2) }' ||
		fail_ "$1: across the move the clocks went on by $d s (monotonic, boottime," \
			"realtime): not as far as the real time"
}

start_ env "$tunables" "$prog" --handler --timer --clocks > before.net 2> err.net
guest_boot_ scenario "$port"
guest_wait_ 180 '^file done'
guest_report_ file-out > after.file
guest_report_ file-err > err.after.file
moved_ file before.file after.file err.after.file
guest_report_ file-thaw | grep -q 'clocks continued (+' ||
	fail_ "file: the guest's thaw says nothing of the clocks: $(guest_report_ file-thaw)"

guest_wait_ 60 '^listening'
expect_status_ 0 "$CONTMIG" send --key key "$pid" "127.0.0.1:$port"
read -r new dest < out
wait "$pid" 2> /dev/null
kill -0 "$pid" 2> /dev/null && fail_ "the source still runs here after the send"
guest_wait_ 180 '^scenario ended'
guest_report_ net-out > after.net
guest_report_ net-err > err.after.net
guest_report_ netlog | grep -q -- "-> PID $new: running.*; clocks continued (+" ||
	fail_ "the guest's listener did not start PID $new, its clocks continued: $(guest_report_ netlog)"
moved_ net before.net after.net err.after.net
[ -s err.file ] || [ -s err.net ] && fail_ "a source complained here: $(cat err.file err.net)"
guest_end_ 30
exit 0
