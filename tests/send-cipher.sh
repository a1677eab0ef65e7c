#!/bin/bash
# send --key seals with AES-256-GCM when both sides' CPUs run it, and with
# XChaCha20-Poly1305's secretstream when either cannot (a CPU without AES-NI,
# made by CONTMIG_TEST_NO_AESGCM): a mixed pair still migrates.  Seen on the
# wire through a relay: under AES-256-GCM each side's AUTH frame (type, 24
# bytes of text, a 16-byte tag: 41) comes right after its hello; under the
# secretstream after a 24-byte header (and its tag is 17 bytes: 42).  A keyed
# stream cut after the whole image, before END, is not taken: the process
# carries on here.
. "$srcdir/tests/init.sh"
private_net_
counter=$builddir/tests/counter
port=7842 relay_port=7850
grep -qw aes /proc/cpuinfo && grep -qw pclmulqdq /proc/cpuinfo ||
	skip_ "this CPU has no AES-NI: contmig never offers AES-256-GCM here"
"$CONTMIG" keygen key > /dev/null || framework_failure_ "keygen"

send_() { "$CONTMIG" send --timeout 5 --key key "$@" > out 2> err; status=$?; }

# u32_at_ FILE OFFSET: the little-endian u32 there.
u32_at_() { od -An -tu4 -j "$2" -N 4 "$1" | tr -d ' '; }

# migrated_ WHAT: send succeeded; end the copy.
migrated_()
{
	local new dest
	[ "$status" -eq 0 ] || fail_ "$1: send exited $status: $(cat err)"
	read -r new dest < out
	kill "$new" 2> /dev/null
	wait_for_ 5 eval '[ "$(stub_processes_)" -eq 0 ]'
}

# sealed_with_ WHAT aes|xchacha: each side's AUTH where that cipher puts it.
sealed_with_()
{
	local at=64 len=41 dir
	[ "$2" = xchacha ] && at=$((64 + 24)) len=42
	for dir in wire wire.down; do
		[ "$(u32_at_ $dir $at)" = "$len" ] ||
			fail_ "$1: $dir: no AUTH of $len bytes at $at: $(od -An -tx1 -N 96 $dir)"
	done
}

CONTMIG_TEST_NO_AESGCM=0 listen_ l $port --key key
aes_port=$port
CONTMIG_TEST_NO_AESGCM=1 listen_ l-no-aes $((port + 1)) --key key
no_aes_port=$((port + 1))

# Both can: AES-256-GCM.
rm -f wire wire.down
relay_ $aes_port --capture wire
src_
send_ "$pid" 127.0.0.1:$relay_port
migrated_ "both with AES-NI"
sealed_with_ "both with AES-NI" aes
full=$(stat -c %s wire)

# The sender cannot: the secretstream, and the migration goes through.
rm -f wire wire.down
relay_ $aes_port --capture wire
src_
CONTMIG_TEST_NO_AESGCM=1 send_ "$pid" 127.0.0.1:$relay_port
migrated_ "a sender without AES-NI"
sealed_with_ "a sender without AES-NI" xchacha

# The receiver cannot: likewise.
rm -f wire wire.down
relay_ $no_aes_port --capture wire
src_
send_ "$pid" 127.0.0.1:$relay_port
migrated_ "a receiver without AES-NI"
sealed_with_ "a receiver without AES-NI" xchacha

# Under AES-256-GCM, cut right after the last DATA frame: the sender's END
# and COMMIT (21 bytes each: length, type, tag) never arrive.  The receiver
# holds every byte of the image, yet takes nothing; the process stays here.
relay_ $aes_port --cut $((full - 42)) --direction up
src_
send_ "$pid" 127.0.0.1:$relay_port
[ "$status" -eq 69 ] || fail_ "cut before END: send exited $status, not 69: $(cat err)"
running_untraced_ "$pid"
n=$(wc -l < src)
wait_for_ 5 file_has_lines_ src $((n + 2))
wait_for_ 10 eval '[ "$(stub_processes_)" -eq 0 ]'
grep -q 'closed the connection' l || fail_ "cut before END: the listener says: $(tail -n 3 l)"
kill "$pid"
exit 0
