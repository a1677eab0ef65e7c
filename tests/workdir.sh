#!/bin/bash
# The working directory travels by path, and the umask with it: the copy of
# a process that worked in DIR works in DIR, by file and by send.  A receiver
# without DIR refuses the copy before it runs (the image is kept; a sender's
# source runs on).  A process under chroot, or whose directory was removed,
# is refused by name by check, freeze and send, and runs on untraced.
. "$srcdir/tests/init.sh"
private_net_
port=7795

# start_in_ DIR: a counter working in DIR with umask 027, its output in
# $tmp/before; its PID in $pid.
start_in_()
{
	start_ sh -c 'cd "$1" && umask 027 && exec "$2"' sh "$1" "$builddir/tests/counter" \
		> "$tmp/before"
	wait_for_ 5 file_has_lines_ "$tmp/before" 1
}

# works_in_ PID DIR: PID works in DIR with umask 027.
works_in_()
{
	[ "$(readlink "/proc/$1/cwd")" = "$2" ] ||
		fail_ "PID $1 works in $(readlink "/proc/$1/cwd"), not $2"
	grep -q '^Umask:[[:space:]]*0027$' "/proc/$1/status" ||
		fail_ "PID $1: $(grep Umask "/proc/$1/status")"
}

mkdir -p "$tmp/work dir"
cd "$tmp"

# --- by file ----------------------------------------------------------------
start_in_ "$tmp/work dir"
expect_status_ 0 "$CONTMIG" check "$pid"
grep -q "^  ok    workdir     works in $tmp/work dir " out || fail_ "$(cat out)"
expect_status_ 0 "$CONTMIG" freeze -o c.img "$pid"
expect_status_ 0 "$CONTMIG" inspect c.img
grep -qx "workdir:    $tmp/work dir (umask 027)" out || fail_ "$(cat out)"
new=$("$CONTMIG" thaw --detach --stdout after c.img) || fail_ "thaw exited $?"
started_pids="$started_pids $new"
works_in_ "$new" "$tmp/work dir"
wait_for_ 5 file_has_lines_ after 1
follows_ before after
kill "$new"

# The directory is gone where it is thawed: refused, the image kept.
mv "work dir" moved
expect_status_ 71 "$CONTMIG" thaw c.img
one_error_line_
grep -q "its working directory $tmp/work dir: No such file or directory" err || fail_ "$(cat err)"
[ -s c.img ] || fail_ "the image is gone"
mv moved "work dir"

# --- by send, to a receiver whose machine lacks the directory ---------------
# The receiver sees its own filesystem: an empty one over $tmp/hidden.
mkdir -p hidden/dir
listen_ l1 $port
unshare --mount --propagation private -- sh -c \
	'mount -t tmpfs none "$1" && exec "$2" thaw --listen "$3"' sh "$tmp/hidden" "$CONTMIG" \
	$((port + 1)) > l2.out 2> l2 &
started_pids="$started_pids $!"
wait_for_ 5 grep -qs 'thaw: listening on' l2
start_in_ "$tmp/hidden/dir"
expect_status_ 71 "$CONTMIG" send "$pid" 127.0.0.1:$((port + 1))
grep -q "its working directory $tmp/hidden/dir: No such file or directory" err ||
	fail_ "$(cat err)"
running_untraced_ "$pid"
# The same process to a receiver that has it.
expect_status_ 0 "$CONTMIG" send "$pid" 127.0.0.1:$port
read -r new dest < out
works_in_ "$new" "$tmp/hidden/dir"
kill "$new"

# --- what does not move ---------------------------------------------------
# Its directory removed under it.
mkdir doomed
start_in_ "$tmp/doomed"
rmdir doomed
expect_status_ 65 "$CONTMIG" check "$pid"
grep -q "^  FAIL  workdir     its working directory $tmp/doomed (deleted) was removed" out ||
	fail_ "$(cat out)"
expect_status_ 65 "$CONTMIG" freeze -o doomed.img "$pid"
one_error_line_
[ ! -e doomed.img ] || fail_ "a refused freeze wrote an image"
running_untraced_ "$pid"
kill "$pid"

# Under chroot (the counter is static: it needs nothing in its root).
mkdir -p jail
cp "$builddir/tests/counter" jail/counter
start_ chroot jail /counter > jailed
wait_for_ 5 file_has_lines_ jailed 1
expect_status_ 65 "$CONTMIG" check "$pid"
grep -q "^  FAIL  workdir     it runs under chroot (its root is $tmp/jail here)" out ||
	fail_ "$(cat out)"
expect_status_ 65 "$CONTMIG" send "$pid" 127.0.0.1:$port
one_error_line_
grep -q "under chroot" err || fail_ "$(cat err)"
running_untraced_ "$pid"
kill "$pid"
exit 0
