#!/bin/bash
# Thaw from an image file: the restorer reads the pages into place itself,
# from the image it was handed open (contmig(1), thaw).  The copy does not
# keep that file; the copy's user needs no right to the image's path; an
# image that starts further into its file (standard input already partly
# read) is streamed instead; a file cut while thaw reads it is refused with
# one line, and nothing is left running.
. "$srcdir/tests/init.sh"

start_ "$builddir/tests/bigmem" 64 > big.out
wait_for_ 20 grep -q '^ready 64$' big.out
expect_status_ 0 "$CONTMIG" freeze -o big.img "$pid"
size=$(stat -c %s big.img)

# no_huge_advice_ PID WHAT: where the kernel gives huge pages only on
# request, thaw asks for none (contmig(1), thaw): no mapping of the copy is
# marked for or against them (VmFlags hg, nh).
no_huge_advice_()
{
	grep -q '\[madvise\]' /sys/kernel/mm/transparent_hugepage/enabled 2> /dev/null || return 0
	! grep -q '^VmFlags:.* \(hg\|nh\)' "/proc/$1/smaps" ||
		fail_ "$2: a mapping of the copy has huge page advice (VmFlags hg or nh)"
}

# The copy holds fds 0-2 and nothing else: not the image it was read from.
expect_status_ 0 "$CONTMIG" thaw -d --stdout copy1.out big.img
read -r new < out
started_pids="$started_pids $new"
wait_for_ 20 grep -q '^ok 2$' copy1.out
fds=$(cd "/proc/$new/fd" && ls | sort -n | tr '\n' ' ')
[ "$fds" = "0 1 2 " ] || fail_ "the copy holds fds $fds: $(ls -l "/proc/$new/fd")"
no_huge_advice_ "$new" "from a file"
kill -9 "$new"

# Standard input that is the image file, from its first byte, and one that
# is read from further in (4 bytes of something else first): both thaw.
expect_status_ 0 "$CONTMIG" thaw -d --stdout copy2.out - < big.img
read -r new < out
started_pids="$started_pids $new"
wait_for_ 20 grep -q '^ok 2$' copy2.out
kill -9 "$new"
{ printf 'junk'; cat big.img; } > shifted.img
{ dd bs=4 count=1 of=/dev/null status=none; "$CONTMIG" thaw -d --stdout copy3.out -; } \
	< shifted.img > out 2> err || fail_ "thaw of an image 4 bytes into its file: $(cat err)"
read -r new < out
started_pids="$started_pids $new"
wait_for_ 20 grep -q '^ok 2$' copy3.out
no_huge_advice_ "$new" "streamed"
kill -9 "$new"

# The file shrinks while thaw reads it: refused (67) in one line, before the
# copy runs, and no half-built process stays.
: > shrink.img && cp big.img shrink.img
CONTMIG_TEST_HOOK=thaw-file-measured CONTMIG_TEST_HOOK_UNTIL=$tmp/go \
	"$CONTMIG" thaw shrink.img > out 2> err &
thaw=$!
started_pids="$started_pids $thaw"
wait_for_ 10 grep -q 'test point thaw-file-measured reached' err
truncate -s $((size / 2)) shrink.img
: > go
wait "$thaw"
status=$?
[ "$status" -eq 67 ] || fail_ "thaw of a file cut meanwhile exited $status: $(cat err)"
grep -v 'test point' err > err1
mv err1 err
one_error_line_ "a file cut meanwhile"
grep -q "thaw shrink.img: invalid image: the image file shrank to $((size / 2)) bytes while it was read" err ||
	fail_ "a file cut meanwhile: $(cat err)"
[ "$(stub_processes_)" -eq 0 ] || fail_ "a file cut meanwhile left a process"

# Root restores a user's process from an image only root may read: the
# restorer, already that user, reads the file it was handed, never its path.
[ "$(id -u)" -eq 0 ] || exit 0
new_user_ user
for_users_ "$builddir/tests/bigmem"
start_ setpriv --reuid="$user" --regid="$user" --init-groups -- "$tmp/bin/bigmem" 16 > user.out
wait_for_ 20 grep -q '^ready 16$' user.out
mkdir -m 700 private
expect_status_ 0 "$CONTMIG" freeze -o private/user.img "$pid"
expect_status_ 0 "$CONTMIG" thaw -d --stdout user2.out private/user.img
read -r new < out
started_pids="$started_pids $new"
wait_for_ 20 grep -q '^ok 2$' user2.out
[ "$(stat -c %U "/proc/$new")" = "$user" ] || fail_ "the copy runs as $(stat -c %U "/proc/$new")"
exit 0
