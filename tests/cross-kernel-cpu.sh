#!/bin/bash
# make check-cross-kernel: a process whose CPU state uses a feature the other
# kernel's machine lacks is refused there by name.  QEMU's TCG (-cpu max)
# offers no AVX-512; tests/avx512count keeps k1, zmm0's upper half and zmm16
# live.  Frozen here, its image's thaw in the guest (tests/guest.sh) refuses
# naming the three components and starts nothing; sent there, the receiver
# refuses it the same way before anything runs, and it carries on here
# untouched.  So is an ordinary program (tests/plain-static) whose glibc
# chose its AVX-512 string functions here.
. "$srcdir/tests/init.sh"
. "$srcdir/tests/guest.sh"
private_net_
guest_require_
port=7742
prog=$builddir/tests/avx512count
grep -qw avx512f /proc/cpuinfo || skip_ "no AVX-512 here: nothing the guest could lack"

"$CONTMIG" keygen key > /dev/null || framework_failure_ "keygen"
guest_put_ key /key
guest_add_ "$prog"

start_ "$prog" > before.file
wait_for_ 5 file_has_lines_ before.file 3
expect_status_ 0 "$CONTMIG" freeze -o avx.img "$pid"
guest_put_ avx.img /avx.img

# An ordinary program started as usual: glibc here chose its AVX-512 string
# functions (tests/guest-plain.sh turns them off to move plain there).
start_ "$builddir/tests/plain-static" > plain.before
wait_for_ 5 file_has_lines_ plain.before 2
expect_status_ 0 "$CONTMIG" freeze -o plain.img "$pid"
glibc_avx512=$("$CONTMIG" inspect plain.img | sed -n 's/^ *in use: //p' | grep -o 'avx512[-a-z0-9]*')
if [ -n "$glibc_avx512" ]; then
	guest_add_ "$builddir/tests/plain-static"
	guest_put_ plain.img /plain.img
else
	echo "$me: glibc here used no AVX-512 before the freeze: no ordinary program to refuse" >&2
fi

cat > scenario <<'SCENARIO'
# running PATTERN...: how many processes run a program whose path (their
# exe link) matches one of the shell PATTERNs.
running()
{
	n=0
	for e in /proc/[0-9]*/exe; do
		x=$(readlink "$e" 2> /dev/null)
		for p in "$@"; do
			case $x in $p) n=$((n + 1)); break ;; esac
		done
	done
	echo "$n"
}
# Copies: contmig's restorers (half-built copies), or avx512count itself.
copies() { running '*memfd:contmig-stub*' '*/avx512count'; }
say "busybox-processes: $(running '*/busybox')"
"$CONTMIG" thaw --detach /avx.img > /tmp/file.out 2> /tmp/file.err
say "file-status: $?"
show file-err /tmp/file.err
say "file-copies: $(copies)"
if [ -e /plain.img ]; then
	"$CONTMIG" thaw --detach /plain.img > /tmp/plain.out 2> /tmp/plain.err
	say "plain-status: $?"
	show plain-err /tmp/plain.err
	say "plain-copies: $(running '*memfd:contmig-stub*' '*/plain-static')"
fi

"$CONTMIG" thaw --listen "0.0.0.0:$(cat /etc/contmig-port)" --key /key 2> /tmp/net.log &
wait_up 30 grep -q 'listening on' /tmp/net.log
say "listening"
wait_up 120 grep -q 'avx512' /tmp/net.log || say "net: the listener logged no refusal"
sleep 1
say "net-copies: $(copies)"
show netlog /tmp/net.log
SCENARIO

start_ "$prog" > before.net
guest_boot_ scenario "$port"
flags=$(guest_report_ flags)
[ -n "$flags" ] || fail_ "the guest did not say its CPU flags: $(guest_why_)"
echo "$me: the guest's CPU flags: $flags" >&2
case " $flags " in
*" avx512f "*) skip_ "the guest's CPU has AVX-512 too: nothing it lacks" ;;
esac

# By file: one line naming what the guest lacks; nothing restored.
guest_wait_ 120 '^file-copies'
# The guest counts processes by their program: it sees busybox's own.
[ "$(guest_report_ busybox-processes)" -ge 1 ] ||
	fail_ "the guest does not see its own processes: $(guest_why_)"
guest_report_ file-err > err
status=$(guest_report_ file-status)
[ "$status" != 0 ] || fail_ "the guest thawed an image that uses AVX-512: $(guest_why_)"
echo "$me: thaw in the guest exited $status: $(cat err)" >&2
one_error_line_ "thaw in the guest (exit $status)"
for f in avx512-opmask avx512-zmm-hi256 avx512-hi16-zmm; do
	grep -q "lacks.*$f" err || fail_ "thaw in the guest does not name $f: $(cat err)"
done
[ "$(guest_report_ file-copies)" = 0 ] || fail_ "the refused thaw left a process in the guest"
if [ -n "$glibc_avx512" ]; then
	guest_wait_ 60 '^plain-copies'
	guest_report_ plain-err > err
	status=$(guest_report_ plain-status)
	[ "$status" != 0 ] || fail_ "the guest thawed plain, whose glibc used AVX-512: $(guest_why_)"
	echo "$me: thaw of plain in the guest exited $status: $(cat err)" >&2
	one_error_line_ "thaw of plain in the guest (exit $status)"
	for f in $glibc_avx512; do
		grep -q "lacks.*$f" err || fail_ "thaw of plain in the guest does not name $f: $(cat err)"
	done
	[ "$(guest_report_ plain-copies)" = 0 ] || fail_ "the refused thaw of plain left a process"
fi

# Over the network: refused there, named here, and the source runs on.
guest_wait_ 60 '^listening'
"$CONTMIG" send --key key "$pid" "127.0.0.1:$port" > out 2> err
status=$?
[ "$status" -ne 0 ] || fail_ "send moved a process that uses AVX-512 to the guest: $(cat out)"
echo "$me: send exited $status: $(cat err)" >&2
one_error_line_ "send (exit $status)"
grep -q 'avx512-opmask' err || fail_ "send does not say what the guest lacks: $(cat err)"
running_untraced_ "$pid"
n=$(wc -l < before.net)
wait_for_ 5 file_has_lines_ before.net $((n + 3))
seq 1 "$(tail -n 1 before.net)" | cmp -s - before.net ||
	fail_ "the source's count broke after the refused send: $(tail -n 5 before.net)"
guest_wait_ 180 '^scenario ended'
guest_report_ netlog | grep -q 'avx512-opmask' ||
	fail_ "the guest's listener logged no refusal: $(guest_report_ netlog)"
[ "$(guest_report_ net-copies)" = 0 ] || fail_ "the refused send left a process in the guest"
guest_end_ 30
exit 0
