#!/bin/bash
# Files contmig opens because it was told to (thaw --output, --stdin,
# --stdout, --stderr, --pid-file; freeze -o) are never reached through a
# link another user planted, and are never another user's: run as root, a
# receiver must not append to a root-only file, hand one to the process it
# restores, or write into a file someone made so as to read it.  Each is
# refused with one line before anything is frozen or restored, and the file
# is left as it was.  Images are made mode 0600 whatever the umask.
. "$srcdir/tests/init.sh"
counter=$builddir/tests/counter
new_user_ mallory

# A directory mallory may write in (her own: the kernel's protected_symlinks
# guards only sticky, world-writable ones), and a root-only file.
mkdir pub && chown "$mallory" pub
printf 'secret\n' > secret && chmod 600 secret
# unchanged_: the root-only file is as it was.
unchanged_() { [ "$(cat secret)" = secret ] || fail_ "$1 wrote into the root-only file: $(head -c 200 secret)"; }

start_ "$counter" > src.out
wait_for_ 5 file_has_lines_ src.out 2
src=$pid
expect_status_ 0 "$CONTMIG" freeze --leave-running -o counter.img "$src"

# --- thaw --stdio --output ------------------------------------------------
# A real migration: the receiver would append the process's output to the
# link's target.  It refuses before the handshake; the process carries on.
as_ "$mallory" ln -s "$tmp/secret" pub/out
expect_status_ 69 "$CONTMIG" send --via "$CONTMIG thaw --stdio --output $tmp/pub/out 2> recv.log" "$src" node
grep -q "^contmig: thaw: --output $tmp/pub/out: it is a symbolic link" recv.log ||
	fail_ "the receiver said: $(cat recv.log)"
running_untraced_ "$src"
unchanged_ "--output through a link"
[ "$(stub_processes_)" -eq 0 ] || fail_ "a refused --output restored a process"
# Through a dangling link: nothing is made where it points.
as_ "$mallory" ln -s "$tmp/made-by-root" pub/dangling
expect_status_ 68 "$CONTMIG" thaw --stdio --output pub/dangling < /dev/null
one_error_line_ "--output through a dangling link"
[ ! -e made-by-root ] || fail_ "--output made the file a dangling link names"
# A file mallory made first, to read what goes into it.
as_ "$mallory" sh -c ': > pub/hers && chmod 666 pub/hers'
expect_status_ 68 "$CONTMIG" thaw --stdio --output pub/hers < /dev/null
one_error_line_ "--output into another user's file"
grep -q "pub/hers: it belongs to uid $(id -u "$mallory") ($mallory), not to you (uid 0) or root" err ||
	fail_ "another user's file: $(cat err)"
[ ! -s pub/hers ] || fail_ "--output wrote into another user's file"

# --- thaw IMAGE --stdin/--stdout/--stderr ---------------------------------
for opt in --stdout --stderr; do
	expect_status_ 68 "$CONTMIG" thaw -d "$opt" pub/out counter.img
	one_error_line_ "$opt through a link"
	grep -q "thaw: $opt pub/out: it is a symbolic link" err || fail_ "$opt: $(cat err)"
	expect_status_ 68 "$CONTMIG" thaw -d "$opt" pub/hers counter.img
	grep -q "thaw: $opt pub/hers: it belongs to uid" err || fail_ "$opt: $(cat err)"
done
unchanged_ "--stdout or --stderr through a link"
[ ! -s pub/hers ] || fail_ "--stdout wrote into another user's file"
# Read as the process's input, the root-only file would be handed to a
# process that may run as someone else: not through a symbolic link, nor
# through a second name (protected_hardlinks is a sysctl, not a promise).
expect_status_ 68 "$CONTMIG" thaw -d --stdin pub/out counter.img
grep -q "thaw: --stdin pub/out: it is a symbolic link" err || fail_ "--stdin: $(cat err)"
ln secret pub/hardlink
expect_status_ 68 "$CONTMIG" thaw -d --stdin pub/hardlink counter.img
grep -q "thaw: --stdin pub/hardlink: it has 2 names (hard links)" err || fail_ "--stdin: $(cat err)"
rm pub/hardlink
[ "$(stub_processes_)" -eq 0 ] || fail_ "a refused file restored a process"
# The usual ones still do: /dev/null (root's), a file of our own, made or
# appended to.
expect_status_ 0 "$CONTMIG" thaw -d --stdin /dev/null --stdout mine.out counter.img
read -r new < out
wait_for_ 5 file_has_lines_ mine.out 1
kill "$new"

# --- thaw --pid-file ------------------------------------------------------
# Renamed into place: over a link, it would replace the link, not follow
# it; either way a name someone else chose is not ours to take.
expect_status_ 68 "$CONTMIG" thaw -d --pid-file pub/out counter.img
one_error_line_ "--pid-file over a link"
grep -q "thaw: --pid-file pub/out: it is a symbolic link" err || fail_ "--pid-file: $(cat err)"
[ -L pub/out ] || fail_ "--pid-file replaced the link"
expect_status_ 68 "$CONTMIG" thaw -d --pid-file pub/hers counter.img
grep -q "thaw: --pid-file pub/hers: it belongs to uid" err || fail_ "--pid-file: $(cat err)"
[ "$(stub_processes_)" -eq 0 ] || fail_ "a refused --pid-file restored a process"

# --- freeze -o ------------------------------------------------------------
# Refused before the process is touched: it runs on, untraced.
expect_status_ 68 "$CONTMIG" freeze -o pub/out "$src"
one_error_line_ "freeze -o over a link"
grep -q "freeze: -o pub/out: it is a symbolic link" err || fail_ "freeze -o: $(cat err)"
[ -L pub/out ] || fail_ "freeze replaced the link"
expect_status_ 68 "$CONTMIG" freeze -o pub/hers "$src"
grep -q "freeze: -o pub/hers: it belongs to uid" err || fail_ "freeze -o: $(cat err)"
# A device: as root, the rename would replace the device itself (this one
# is a private /dev/null).
mknod null c 1 3
expect_status_ 68 "$CONTMIG" freeze -o null "$src"
grep -q "freeze: -o null: it exists and is not a regular file" err || fail_ "freeze -o: $(cat err)"
[ -c null ] || fail_ "freeze replaced a device"
running_untraced_ "$src"
unchanged_ "freeze -o"

# Images hold the process's memory: mode 0600, whatever the umask, and
# over an older file of wider mode too.
: > wide.img && chmod 644 wide.img
(umask 0 && "$CONTMIG" freeze -q --leave-running -o new.img "$src" &&
	"$CONTMIG" freeze -q --leave-running -o wide.img "$src") || fail_ "freeze with umask 0"
[ "$(stat -c %a new.img)" = 600 ] && [ "$(stat -c %a wide.img)" = 600 ] ||
	fail_ "images of mode $(stat -c %a new.img) and $(stat -c %a wide.img)"
exit 0
