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
relay=$srcdir/tests/relay.py
port=7842 relay_port=7850
grep -qw aes /proc/cpuinfo && grep -qw pclmulqdq /proc/cpuinfo ||
	skip_ "this CPU has no AES-NI: contmig never offers AES-256-GCM here"
"$CONTMIG" keygen key > /dev/null || framework_failure_ "keygen"

# relay_ PORT ARGS: a relay on a new $relay_port to the listener on PORT.
relay_()
{
	local to=$1
	shift
	[ -n "${relay_pid:-}" ] && stop_ "$relay_pid"
	relay_port=$((relay_port + 1))
	: > relay.out
	rm -f wire wire.down
	python3 "$relay" --listen 127.0.0.1:$relay_port --to 127.0.0.1:$to "$@" \
		>> relay.out 2>> relay.err &
	relay_pid=$!
	started_pids="$started_pids $relay_pid"
	wait_for_ 5 grep -q "^listening $relay_port" relay.out
}

# src_: a fresh counter in $pid, writing src; with the same image size every
# time (no address randomization; see send-faults.sh).
src_()
{
	start_ setarch -R "$counter" > src
	wait_for_ 5 file_has_lines_ src 2
}

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
relay_ $aes_port --capture wire
src_
send_ "$pid" 127.0.0.1:$relay_port
migrated_ "both with AES-NI"
sealed_with_ "both with AES-NI" aes
full=$(stat -c %s wire)

# The sender cannot: the secretstream, and the migration goes through.
relay_ $aes_port --capture wire
src_
CONTMIG_TEST_NO_AESGCM=1 send_ "$pid" 127.0.0.1:$relay_port
migrated_ "a sender without AES-NI"
sealed_with_ "a sender without AES-NI" xchacha

# The receiver cannot: likewise.
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
