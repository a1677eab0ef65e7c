#!/bin/bash
# Files open at the move are opened again in the copy (contmig(1), Open
# files).  A log kept open to append goes on at its end, a file read
# part-way goes on from its offset, a directory and /dev/null work as
# before: by file, by pipe and by send.  A file changed since the freeze,
# or one the copy's user may not open, refuses the copy before it runs (the
# image is kept; a sender's source runs on).  Pipes, sockets and the other
# kernel objects, and shared mappings, are refused by name before the
# process stops; --drop-fds leaves those fds behind.
. "$srcdir/tests/init.sh"
private_net_
port=7742
openfiles=$builddir/tests/openfiles
counter=$builddir/tests/counter

# The input: 9999 records of 5 bytes, "0001\n" to "9999\n".
seq -f '%04g' 1 9999 > input
mkdir dir && printf probe > dir/probe

# start_files_ LOG [INPUT [PREFIX...]]: openfiles appending to LOG and
# reading INPUT (default input), run through PREFIX (a shell that opens more
# fds first); its steps on $tmp/before, its complaints in $tmp/before.err.
# Once it reads INPUT (step 3 opens it), its PID is in $pid.
start_files_()
{
	local log=$tmp/$1 in=$tmp/${2:-input}

	shift $(($# < 2 ? $# : 2))
	start_ "$@" "$openfiles" "$log" "$in" "$tmp/dir" > "$tmp/before" 2> "$tmp/before.err"
	wait_for_ 5 file_has_lines_ "$tmp/before" 5
}

# log_whole_ LOG: LOG holds 1, 2, ..., N, each once and in order: no step
# lost, none written twice, none written over.
log_whole_()
{
	local n
	n=$(tail -n 1 "$1")
	seq "$n" | cmp -s - "$1" || fail_ "$1 is not 1..$n: $(tr '\n' ' ' < "$1" | head -c 300)"
}

# goes_on_ COPY LOG OUT: the copy runs on where its source stopped: OUT
# goes on from $tmp/before, and once it is ended LOG holds every step once.
# (The copy itself checks that it reads on from its offset, the directory
# and /dev/null, and exits 5 if not.)
goes_on_()
{
	local copy=$1 log=$2 out=$3

	wait_for_ 5 file_has_lines_ "$out" 3
	follows_ "$tmp/before" "$out"
	alive_ "$copy" || fail_ "the copy $copy died: $(cat "$tmp"/*.err 2> /dev/null)"
	kill "$copy"
	wait_for_ 5 eval '! alive_ '"$copy"
	log_whole_ "$log"
}

# --- check lists what moves ----------------------------------------------
start_files_ log1
expect_status_ 0 "$CONTMIG" check "$pid"
grep -qx "  ok    fds         reopened in the copy: fd 3 -> $tmp/log1 (appended to), fd 4 -> $tmp/dir (a directory), fd 5 -> /dev/null (the receiver's own), fd 6 -> $tmp/input" out ||
	fail_ "check: $(cat out)"

# --- by file ----------------------------------------------------------------
expect_status_ 0 "$CONTMIG" freeze -o files.img "$pid"
expect_status_ 0 "$CONTMIG" inspect files.img
grep -qx "  fd 3: file, w, append, close-on-exec, at [0-9]* of [0-9]* bytes: $tmp/log1" out &&
	grep -qx "  fd 6: file, r, at [0-9]* of 49995 bytes, hashed: $tmp/input" out ||
	fail_ "inspect: $(cat out)"
new=$("$CONTMIG" thaw --detach --stdout after1 --stderr after1.err files.img) ||
	fail_ "thaw exited $?"
started_pids="$started_pids $new"
# Its open flags and FD_CLOEXEC as they were (fdinfo: O_CLOEXEC for it).
flags=$(sed -n 's/^flags:[[:space:]]*//p' "/proc/$new/fdinfo/3")
(( (0$flags & 02000) && (0$flags & 02000000) && (0$flags & 3) == 1 )) ||
	fail_ "the log's flags in the copy: $flags"
flags=$(sed -n 's/^flags:[[:space:]]*//p' "/proc/$new/fdinfo/4")
(( !(0$flags & 02000000) )) || fail_ "the directory's flags in the copy: $flags"
goes_on_ "$new" log1 after1

# --- by pipe ----------------------------------------------------------------
start_files_ log2
"$CONTMIG" freeze -o - "$pid" 2> freeze2.err | "$CONTMIG" thaw - > after2 2> thaw2.err &
started_pids="$started_pids $!"
wait_for_ 10 eval '[ -n "$(copies_)" ] || ! kill -0 '"$!"
[ -n "$(copies_)" ] || fail_ "freeze | thaw: $(cat freeze2.err thaw2.err)"
goes_on_ "$(copies_)" log2 after2

# --- by send, with a key ----------------------------------------------------
"$CONTMIG" keygen key || framework_failure_ "keygen"
listen_ l3 $port --key key
start_files_ log3
expect_status_ 0 "$CONTMIG" send --key key "$pid" 127.0.0.1:$port
read -r new dest < out
goes_on_ "$new" log3 l3.out

# --- a file changed since the freeze ---------------------------------------
cp input input4
start_files_ log4 input4
expect_status_ 0 "$CONTMIG" freeze -o changed.img "$pid"
mtime=$(stat -c %.9Y input4)
# Longer: its size.
echo 10000 >> input4
expect_status_ 71 "$CONTMIG" thaw changed.img
one_error_line_
grep -q "fd 6 -> $tmp/input4: changed since the freeze (50001 bytes now, 49995 then); --reopen-changed (thaw, run) opens it anyway$" err ||
	fail_ "$(cat err)"
[ -s changed.img ] && [ "$(stub_processes_)" -eq 0 ] || fail_ "the image is gone, or a copy left"
# As long as it was, but written since: its time.
truncate -s 49995 input4
expect_status_ 71 "$CONTMIG" thaw changed.img
grep -q "fd 6 -> $tmp/input4: changed since the freeze (modified at [0-9.]* now, $mtime then)" err ||
	fail_ "$(cat err)"
# The same size and time, but another byte: its content.
printf 9 | dd of=input4 bs=1 seek=0 conv=notrunc status=none
touch -d "@$mtime" input4
expect_status_ 71 "$CONTMIG" thaw changed.img
one_error_line_
grep -q "fd 6 -> $tmp/input4: changed since the freeze (the same size and time, other content)" err ||
	fail_ "$(cat err)"
# Asked to, thaw opens it anyway (the first record, read long ago, differs).
new=$("$CONTMIG" thaw --reopen-changed --detach --stdout after4 --stderr after4.err changed.img) ||
	fail_ "thaw --reopen-changed exited $?"
started_pids="$started_pids $new"
goes_on_ "$new" log4 after4
# Gone: refused too, and --reopen-changed does not help.
mv input4 input4.gone
expect_status_ 71 "$CONTMIG" thaw --reopen-changed changed.img
one_error_line_
grep -q "fd 6 -> $tmp/input4: root cannot open it here: No such file or directory" err ||
	fail_ "$(cat err)"

# --- a send whose receiver sees another file: the source runs on -----------
# The receiver's view of the filesystem: another file over input5.
cp input input5
seq -f '%04g' 2 10000 > other
unshare --mount --propagation private -- sh -c \
	'mount --bind "$1" "$2" && exec "$3" thaw --listen "$4"' sh "$tmp/other" "$tmp/input5" \
	"$CONTMIG" $((port + 1)) > l5.out 2> l5 &
started_pids="$started_pids $!"
wait_for_ 5 grep -qs 'thaw: listening on' l5
start_files_ log5 input5
expect_status_ 71 "$CONTMIG" send "$pid" 127.0.0.1:$((port + 1))
one_error_line_
grep -q "the receiver refused the process: cannot restore: fd 6 -> $tmp/input5: changed since the freeze (49996 bytes now, 49995 then); .*; PID $pid carries on here" err ||
	fail_ "$(cat err)"
running_untraced_ "$pid"
n=$(wc -l < log5)
wait_for_ 5 file_has_lines_ log5 $((n + 2))
[ "$(stub_processes_)" -eq 0 ] || fail_ "the receiver left a copy"
# By pipe, to a thaw that sees that other file: it refuses before it takes
# the image's memory, so the freeze knows, and the source carries on.
"$CONTMIG" freeze -o - "$pid" 2> freeze5.err |
	unshare --mount --propagation private -- sh -c \
	'mount --bind "$1" "$2" && exec "$3" thaw -' sh "$tmp/other" "$tmp/input5" "$CONTMIG" \
	2> thaw5.err
status=${PIPESTATUS[0]}
[ "$status" -eq 68 ] || fail_ "freeze into a refusing thaw exited $status: $(cat freeze5.err)"
grep -q "fd 6 -> $tmp/input5: changed since the freeze" thaw5.err || fail_ "thaw: $(cat thaw5.err)"
running_untraced_ "$pid"
# A receiver told --reopen-changed takes a file whose time alone differs
# (copied without its time), and the copy reads on in it.
cp input input5.copied
touch -d '2001-01-01' input5.copied
unshare --mount --propagation private -- sh -c \
	'mount --bind "$1" "$2" && exec "$3" thaw --listen "$4" --reopen-changed' sh \
	"$tmp/input5.copied" "$tmp/input5" "$CONTMIG" $((port + 3)) > l5b.out 2> l5b &
started_pids="$started_pids $!"
wait_for_ 5 grep -qs 'thaw: listening on' l5b
expect_status_ 0 "$CONTMIG" send "$pid" 127.0.0.1:$((port + 3))
read -r new dest < out
goes_on_ "$new" log5 l5b.out

# --- a file the copy's user may not open -----------------------------------
# Root's process reads a file only root may read; thawed as another user,
# the copy may not open it, and root's thaw does not open it for it.
new_user_ user
cp input secret && chmod 600 secret
: > log6 && chmod 666 log6
start_files_ log6 secret
expect_status_ 0 "$CONTMIG" freeze -o secret.img "$pid"
expect_status_ 71 "$CONTMIG" thaw --as "$user" secret.img
one_error_line_
grep -q "fd 6 -> $tmp/secret: $user cannot open it here: Permission denied" err ||
	fail_ "$(cat err)"
[ "$(stub_processes_)" -eq 0 ] || fail_ "a refused thaw left a copy"

# --- what does not move: named, refused, or dropped -----------------------
# A pipe and a socket.
listen_ l7 $((port + 2))
start_files_ log7 input bash -c 'exec 7< <(sleep 30) 8<> /dev/udp/127.0.0.1/9; exec "$@"' sh
expect_status_ 65 "$CONTMIG" check "$pid"
grep -q "^  FAIL  fds         fd 7 -> pipe:\\[[0-9]*\\]: a pipe does not move; fd 8 -> socket:\\[[0-9]*\\]: a socket does not move (reopened in the copy: fd 3 -> $tmp/log7 (appended to), " out ||
	fail_ "check: $(cat out)"
expect_status_ 65 "$CONTMIG" freeze -o pipe.img "$pid"
one_error_line_
grep -q "fd 7 -> pipe:\\[[0-9]*\\]: a pipe does not move; fd 8 -> socket:\\[[0-9]*\\]: a socket does not move (.*); close what does not move first, or use --drop-fds" err ||
	fail_ "freeze: $(cat err)"
[ ! -e pipe.img ] || fail_ "a refused freeze wrote an image"
running_untraced_ "$pid"
expect_status_ 65 "$CONTMIG" send "$pid" 127.0.0.1:$((port + 2))
grep -q "fd 7 -> pipe:.*fd 8 -> socket:" err || fail_ "send: $(cat err)"
running_untraced_ "$pid"
# --drop-fds: the copy has its files, and not the pipe or the socket.
expect_status_ 0 "$CONTMIG" freeze --drop-fds -o drop.img "$pid"
new=$("$CONTMIG" thaw --detach --stdout after7 --stderr after7.err drop.img) || fail_ "thaw exited $?"
started_pids="$started_pids $new"
[ "$(ls "/proc/$new/fd" | sort -n | tr '\n' ' ')" = "0 1 2 3 4 5 6 " ] ||
	fail_ "the copy's fds: $(ls -l "/proc/$new/fd")"
goes_on_ "$new" log7 after7

# Kernel objects of every kind, a deleted file, a file of /proc: each named
# (python's own brk heap and shared mappings are refused too, which check
# also says).
: > deleted
python3 -c 'import os, time
kept = [os.eventfd(0), os.memfd_create("m"), open("/proc/self/status"), open("deleted")]
os.unlink("deleted"); print("ready", flush=True); time.sleep(30)' > py.out &
py=$!
started_pids="$started_pids $py"
wait_for_ 5 grep -q ready py.out
expect_status_ 65 "$CONTMIG" check "$py"
for what in "anon_inode:\\[eventfd\\]: an eventfd does not move" \
	    "/memfd:m (deleted): a memfd does not move" \
	    "/proc/$py/status: a file of /proc does not move" \
	    "$tmp/deleted (deleted): a deleted file does not move"; do
	grep -q "^  FAIL  fds   .*fd [0-9]* -> $what" out || fail_ "not named: $what: $(cat out)"
done
kill "$py"

# A shared mapping of a file that could be made writable: refused by name,
# the process running on.
start_ "$openfiles" "$tmp/log8" "$tmp/input" "$tmp/dir" 0 mapw > before 2> before.err
wait_for_ 5 file_has_lines_ before 3
expect_status_ 65 "$CONTMIG" check "$pid"
grep -q "^  FAIL  shared      0x[0-9a-f]*-0x[0-9a-f]* $tmp/input: a shared file mapping does not move (its copy would be private memory" out ||
	fail_ "check: $(cat out)"
expect_status_ 65 "$CONTMIG" freeze -o shared.img "$pid"
one_error_line_
grep -q "$tmp/input: a shared file mapping does not move" err || fail_ "freeze: $(cat err)"
[ ! -e shared.img ] || fail_ "a refused freeze wrote an image"
running_untraced_ "$pid"
kill "$pid"
# One that can never be written (the file opened read-only) moves, as a
# private copy of what it held.
start_ "$openfiles" "$tmp/log9" "$tmp/input" "$tmp/dir" 0 map > before 2> before.err
wait_for_ 5 file_has_lines_ before 5
expect_status_ 0 "$CONTMIG" check "$pid"
grep -q "^  ok    shared      read-only shared mappings of files, carried as private copies: 0x[0-9a-f]*-0x[0-9a-f]* $tmp/input\$" out ||
	fail_ "check: $(cat out)"
expect_status_ 0 "$CONTMIG" freeze -o mapped.img "$pid"
new=$("$CONTMIG" thaw --detach --stdout after9 --stderr after9.err mapped.img) || fail_ "thaw exited $?"
started_pids="$started_pids $new"
goes_on_ "$new" log9 after9

# --- one open file under two fds, and a terminal ----------------------------
# fd 7 and its dup fd 8 share one offset in the copy too; fd 9 is the
# controlling terminal the process had under script(1).
command -v script > /dev/null || framework_failure_ "no script(1) (util-linux) for a terminal"
start_ script -qfec "exec 7>> '$tmp/dup' 8>&7 9> /dev/tty; exec '$counter'" /dev/null > tty.out
wait_for_ 5 eval 'pgrep -P '"$pid"' -x counter > /dev/null'
src=$(pgrep -P "$pid" -x counter)
expect_status_ 0 "$CONTMIG" check "$src"
grep -q "fd 7 -> $tmp/dup (appended to), fd 8 -> $tmp/dup (appended to), fd 9 -> /dev/tty (a terminal: the receiving side's)" out ||
	fail_ "check: $(cat out)"
expect_status_ 0 "$CONTMIG" freeze -o tty.img "$src"
expect_status_ 0 "$CONTMIG" inspect tty.img
grep -qx "  fd 8: the open file of fd 7: $tmp/dup" out || fail_ "inspect: $(cat out)"
# Detached, the copy has no terminal: /dev/null, and thaw says so.
new=$("$CONTMIG" thaw --detach tty.img 2> thaw.err) || fail_ "thaw exited $?"
started_pids="$started_pids $new"
grep -qx "contmig: thaw tty.img: the copy has less than its source: fd 9 was a terminal; it is /dev/null, as the copy has no terminal here" thaw.err ||
	fail_ "$(cat thaw.err)"
[ "$(readlink "/proc/$new/fd/9")" = /dev/null ] || fail_ "fd 9: $(readlink "/proc/$new/fd/9")"
python3 -c 'import ctypes, sys
pid = int(sys.argv[1])
sys.exit(ctypes.CDLL(None).syscall(312, pid, pid, 0, 7, 8))' "$new" ||
	fail_ "fds 7 and 8 of the copy are two open files (kcmp)"
kill "$new"
# Under a terminal, the copy's fd 9 is that terminal.
start_ script -qfec "exec '$CONTMIG' thaw '$tmp/tty.img'" /dev/null > tty2.out
wait_for_ 10 eval '[ -n "$(copies_)" ] || ! kill -0 '"$pid"
new=$(copies_)
[ -n "$new" ] || fail_ "thaw under a terminal: $(cat tty2.out)"
[ "$(readlink "/proc/$new/fd/9")" = "$(readlink "/proc/$new/fd/1")" ] ||
	fail_ "fd 9: $(readlink "/proc/$new/fd/9"), fd 1: $(readlink "/proc/$new/fd/1")"
case $(readlink "/proc/$new/fd/9") in
/dev/pts/*) ;;
*) fail_ "fd 9 of the copy under a terminal: $(readlink "/proc/$new/fd/9")" ;;
esac
kill "$new"
exit 0
