#!/bin/bash
# Mapped files by reference (contmig(1), Mapped files).  A dynamic program's
# binary, libc, ld.so and a data file it maps privately are named by path,
# size and checksum instead of stored, wherever the other side has them
# identical; its copy maps them again and gets the pages it changed
# (tests/mapped, and tests/plain-dynamic: heap, clocks, vDSO and all).
# - freeze: whole files by default; --reference-files makes a far smaller
#   image whose copy runs; thawed where a file differs or is gone, it is
#   refused by name, before anything runs, and kept.
# - send negotiates: to a receiver that has the files they stay out of the
#   stream; to one with another file at the path (its own mount namespace)
#   that file is sent and the copy runs from it; a file changed after the
#   receiver's answer refuses the copy and the source carries on; a file that
#   not everyone there may read is never referenced, not even by root's
#   receiver for another user; an older peer on either side gets every page.
. "$srcdir/tests/init.sh"
private_net_
port=7796
# A receiver references only files anyone may read, and the build tree may
# lie in a directory only root may enter (a clone in mktemp -d).
for_users_ "$builddir/tests/mapped"
mapped=$tmp/bin/mapped
py=/usr/bin/python3
[ -x "$py" ] || skip_ "no $py"

mkdir lib
head -c $((1 << 20)) /dev/urandom > lib/data || framework_failure_ "lib/data"
chmod 755 lib && chmod 644 lib/data

# start_mapped_ OUT [RUNNER...]: the program, mapping lib/data, writing to
# OUT; its PID in $pid.
start_mapped_()
{
	local out=$1
	shift
	start_ "$@" "$mapped" "$tmp/lib/data" > "$out"
	wait_for_ 5 file_has_lines_ "$out" 2
}

# runs_on_ PID OUT: PID is alive, and its count goes on in OUT with its own
# checks passing (the file's page is the file's, its change is kept).
runs_on_()
{
	local n
	n=$(wc -l < "$2")
	wait_for_ 5 file_has_lines_ "$2" $((n + 3))
	kill -0 "$1" 2> /dev/null || fail_ "PID $1 is gone"
}

# receiver_ LOG PORT SRC [ARGS]: 'thaw --listen PORT ARGS' in a mount
# namespace of its own, where SRC is bound over lib/data: another machine,
# with its own file at that path.  The copies write to LOG.copies.
receiver_()
{
	local log=$1 at=$2 src=$3
	shift 3
	unshare --mount --propagation private -- sh -c \
		'mount --bind "$1" "$2" && shift 2 && exec "$@"' sh "$src" "$tmp/lib/data" \
		"$CONTMIG" thaw --listen "$at" --stdout "$tmp/$log.copies" "$@" > "$log.out" \
		2> "$log" &
	started_pids="$started_pids $!"
	wait_for_ 5 grep -qs 'thaw: listening on' "$log"
}

# sent_ WHAT N: send's summary (in err) says N files went by reference (none:
# no such words); the copy's PID is in $new.
sent_()
{
	read -r new dest < out
	started_pids="$started_pids $new"
	if [ "$2" -eq 0 ]; then
		grep -q "sent PID [0-9]* (mapped) .* mapped in " err || fail_ "$1: $(cat err)"
	else
		grep -q "sent PID [0-9]* (mapped) .* mapped ($2 files by reference) in " err ||
			fail_ "$1: $(cat err)"
	fi
}

# stored_ FILE: the bytes send's summary says the image stored ("12.0 KiB").
stored_() { sed -n 's/.*: \([0-9.]* [KMG]iB\) stored of .*/\1/p' "$1"; }

# --- freeze: whole files unless asked -------------------------------------------
start_mapped_ before
src=$pid
expect_status_ 0 "$CONTMIG" freeze -r -o whole.img "$src"
expect_status_ 0 "$CONTMIG" freeze -r --reference-files -o ref.img "$src"
whole=$(stat -c %s whole.img) ref=$(stat -c %s ref.img)
# Without them: at least the data file and libc fewer bytes.
[ $((ref + (2 << 20))) -lt "$whole" ] || fail_ "by reference $ref bytes, whole $whole"
"$CONTMIG" inspect whole.img > out || fail_ "inspect whole.img: $?"
! grep -q '^files:' out || fail_ "a plain freeze references files: $(cat out)"
"$CONTMIG" inspect ref.img > out || fail_ "inspect ref.img: $?"
grep -q '^files:      4 referenced' out || fail_ "$(cat out)"
grep -qx "  $tmp/lib/data" out || fail_ "the data file is not listed: $(cat out)"
grep -q "^  /.*/libc\.so\.6$" out || fail_ "libc is not listed: $(cat out)"
grep -q "build ID [0-9a-f]\{40\}" out || fail_ "no build ID: $(cat out)"
grep -q " $tmp/lib/data (by reference)$" out || fail_ "$(cat out)"
kill "$src"

new=$("$CONTMIG" thaw --detach --stdout after ref.img) || fail_ "thaw exited $?"
started_pids="$started_pids $new"
runs_on_ "$new" after
kill "$new"

# The file differs here, then is gone: refused by name, nothing runs, the
# image is kept.
cp lib/data data.orig
printf x | dd of=lib/data bs=1 seek=10 conv=notrunc 2> /dev/null
expect_status_ 71 "$CONTMIG" thaw ref.img
one_error_line_
grep -q "the mapped file $tmp/lib/data here is not the one the image references (another checksum)" err ||
	fail_ "$(cat err)"
truncate -s 4096 lib/data
expect_status_ 71 "$CONTMIG" thaw ref.img
grep -q "the mapped file $tmp/lib/data has 4096 bytes here, not the 1048576 of the file the image references" err ||
	fail_ "$(cat err)"
rm lib/data
expect_status_ 71 "$CONTMIG" thaw ref.img
grep -q "the mapped file $tmp/lib/data: No such file or directory" err || fail_ "$(cat err)"
[ -s ref.img ] || fail_ "the refused image is gone"
[ "$(stub_processes_)" -eq 0 ] || fail_ "a refused thaw left a process: $(stub_pids_)"
cp data.orig lib/data

# --- send to a receiver that has every file -------------------------------------
listen_ l1 $port --stdout "$tmp/l1.copies"
start_mapped_ s1
expect_status_ 0 "$CONTMIG" send --progress "$pid" 127.0.0.1:$port
sent_ "send to a receiver with the files" 4
case $(stored_ err) in
*KiB) ;;
*) fail_ "the files went whole: $(cat err)" ;;
esac
wait_for_ 5 grep -q " -> PID $new: running (4 files by reference); [0-9.]* KiB in" l1
runs_on_ "$new" l1.copies
kill "$new"

# --- an ordinary glibc program (heap, clocks through the vDSO): the same ---------
# steps_in_ FILE: its "step N" lines.
steps_in_() { grep -c '^step ' "$1"; }
# steps_on_ FILE ERR: 3 more steps in FILE, and no complaint from plain in ERR.
steps_on_()
{
	local n
	n=$(steps_in_ "$1")
	wait_for_ 5 eval "[ \"\$(steps_in_ '$1')\" -ge $((n + 3)) ]"
	! grep -q '^plain:' "$2" || fail_ "plain says: $(grep '^plain:' "$2")"
}
start_ "$builddir/tests/plain-dynamic" --period 50 > pd.out 2> pd.err
wait_for_ 5 grep -q '^step 3$' pd.out
expect_status_ 0 "$CONTMIG" freeze -r --reference-files -o pd.img "$pid"
"$CONTMIG" inspect pd.img > out || fail_ "inspect pd.img: $?"
grep -q "/libc\.so\.6 (by reference)$" out || fail_ "plain's libc is not referenced: $(cat out)"
new=$("$CONTMIG" thaw --detach --stdout pd.after --stderr pd.aerr pd.img) || fail_ "thaw exited $?"
started_pids="$started_pids $new"
steps_on_ pd.after pd.aerr
kill "$new"
expect_status_ 0 "$CONTMIG" send --progress "$pid" 127.0.0.1:$port
grep -q "sent PID $pid (plain-dynamic) .* mapped ([0-9]* files by reference) in " err ||
	fail_ "plain by send: $(cat err)"
read -r new dest < out
started_pids="$started_pids $new"
steps_on_ l1.copies l1
kill "$new"

# --- to one with another file at the path: sent whole, and the copy runs ----------
head -c $((1 << 20)) /dev/urandom > other
chmod 644 other
receiver_ l2 $((port + 1)) "$tmp/other"
start_mapped_ s2
expect_status_ 0 "$CONTMIG" send --progress "$pid" 127.0.0.1:$((port + 1))
sent_ "send to a receiver with another file" 3
case $(stored_ err) in
*MiB) ;;
*) fail_ "the data file was not sent: $(cat err)" ;;
esac
runs_on_ "$new" l2.copies
kill "$new"

# --- a file changed between the answer and the restore ----------------------------
cp lib/data same
receiver_ l3 $((port + 2)) "$tmp/same"
start_mapped_ s3
CONTMIG_TEST_HOOK=send-answered CONTMIG_TEST_HOOK_UNTIL=$tmp/go \
	"$CONTMIG" send "$pid" 127.0.0.1:$((port + 2)) > out 2> err &
sender=$!
started_pids="$started_pids $sender"
wait_for_ 5 grep -q 'test point send-answered reached' err
printf y | dd of=same bs=1 seek=10 conv=notrunc 2> /dev/null
touch go
wait "$sender"
status=$?
[ "$status" -eq 71 ] || fail_ "send exited $status: $(cat err)"
grep -q "cannot restore: the mapped file $tmp/lib/data here is not the one the image references (another checksum); PID $pid carries on here" err ||
	fail_ "$(cat err)"
running_untraced_ "$pid"
runs_on_ "$pid" s3
[ "$(stub_processes_)" -eq 0 ] || fail_ "a refused copy was left: $(stub_pids_)"
kill "$pid"

# --- a file not everyone there may read -------------------------------------------
# Root's receiver, keyed, for another user: an identical lib/data that only
# root may read there is not referenced (the sender could not read it), one
# that anyone may read is.
new_user_ user
for_users_ "$CONTMIG"
"$CONTMIG" keygen key > /dev/null || framework_failure_ keygen
cp key ukey && chown "$user" ukey || framework_failure_ ukey
cp lib/data secret && chmod 600 secret
receiver_ l4 $((port + 3)) "$tmp/secret" --key key
start_mapped_ s4 setpriv --reuid="$user" --regid="$user" --init-groups --
expect_status_ 0 as_ "$user" "$CONTMIG" send --progress --key ukey "$pid" 127.0.0.1:$((port + 3))
sent_ "another user's send, a file only root may read there" 3
runs_on_ "$new" l4.copies
kill "$new"
chmod 644 secret
start_mapped_ s5 setpriv --reuid="$user" --regid="$user" --init-groups --
expect_status_ 0 as_ "$user" "$CONTMIG" send --progress --key ukey "$pid" 127.0.0.1:$((port + 3))
sent_ "another user's send, a file anyone may read there" 4
runs_on_ "$new" l4.copies
kill "$new"

# --- older peers ------------------------------------------------------------------
# A receiver that knows nothing of references (features 0 in its hello) gets
# the whole image straight after the hello, as before.
$py "$srcdir/tests/rawpeer.py" serve 127.0.0.1:$((port + 4)) --log old.log > old.out &
started_pids="$started_pids $!"
wait_for_ 5 grep -q listening old.out
start_mapped_ s6
expect_status_ 69 "$CONTMIG" send --timeout 2 "$pid" 127.0.0.1:$((port + 4))
read -r _ _ _ bytes < old.log
[ "$bytes" -gt $((ref + (2 << 20))) ] || fail_ "an older receiver got $bytes bytes; the image by reference has $ref, whole $whole"
running_untraced_ "$pid"
kill "$pid"
# A sender that knows nothing of them sends its image straight after the
# hello: the receiver restores it (and, with no COMMIT coming, discards it).
$py "$srcdir/tests/rawpeer.py" connect 127.0.0.1:$port --image whole.img --hold 1 > peer.out
grep -qx 'status 0' peer.out || fail_ "an older sender: $(cat peer.out)"
wait_for_ 10 grep -q "PID $src (mapped from .*) -> PID [0-9]*: discarded, no COMMIT" l1
exit 0
