#!/bin/bash
# run --checkpoint DIR and inspect DIR against another local user: a way to
# DIR that someone else could change (a directory of theirs on the path, a
# link of theirs, a directory others may write) is refused before anything
# is read, written or removed there; links root or the runner made serve.
# A FIFO where DIR's command or lock should be never makes run or inspect
# wait; the checkpoint signal reaching run as it writes never kills it.
. "$srcdir/tests/init.sh"
counter=$builddir/tests/counter
new_user_ mallory

# A root-only directory with files a run must not touch.
mkdir -m 755 victim && echo precious > victim/lock && echo kept > victim/.tmp-kept ||
	framework_failure_ "victim"
# untouched_: victim is as it was.
untouched_()
{
	[ "$(cat victim/lock)" = precious ] && [ -e victim/.tmp-kept ] &&
		[ "$(ls -A victim | tr '\n' ' ')" = ".tmp-kept lock " ] ||
		fail_ "$1: run wrote into another directory: $(ls -A victim) (lock: $(cat victim/lock))"
}
# refused_ WHAT DIR TEXT: run and inspect refuse DIR, saying TEXT; victim as it was.
refused_()
{
	expect_status_ 68 "$CONTMIG" run --checkpoint "$2" "$counter" 3
	one_error_line_ "$1"
	grep -qF -- "$3" err || fail_ "$1: $(cat err)"
	untouched_ "$1"
	expect_status_ 66 "$CONTMIG" inspect "$2"
	grep -qF -- "$3" err || fail_ "inspect, $1: $(cat err)"
}

# --- a link of the user's in a directory of hers: root's run is refused --
# (sudo contmig run --checkpoint ~/ck: her home is hers.)
mkdir home && chown "$mallory" home || framework_failure_ "home"
as_ "$mallory" ln -s "$tmp/victim" home/ck
refused_ "a link in a user's home" "$tmp/home/ck" \
	"$tmp/home is owned by uid $(id -u "$mallory"), who could put another directory in place of $tmp/home/ck"

# Nor is DIR made there.
expect_status_ 68 "$CONTMIG" run --checkpoint home/new "$counter" 3
grep -qF "home is owned by uid $(id -u "$mallory"), who could put another directory in place of home/new" err ||
	fail_ "a new directory in a user's home: $(cat err)"
[ ! -e home/new ] || fail_ "run made a directory in a user's home: $(ls -l home)"

# --- a directory of root's in hers: she may rename it and put another there
mkdir -m 700 home/rootck
refused_ "root's directory in a user's home" home/rootck \
	"home is owned by uid $(id -u "$mallory"), who could put another directory in place of home/rootck"
# ...and further down, a directory of hers on the way.
mkdir -m 755 -p root/yours && chown "$mallory" root/yours && mkdir -m 700 root/yours/ck
refused_ "a user's directory on the way" root/yours/ck "root/yours is owned by uid"

# --- a sticky directory anyone may write (/tmp): her link there, her directory
mkdir -m 1777 sticky
as_ "$mallory" ln -s "$tmp/victim" sticky/ck
refused_ "a user's link in a sticky directory" sticky/ck \
	"sticky/ck is owned by uid $(id -u "$mallory"), in sticky which others may write"
as_ "$mallory" mkdir -m 777 sticky/hers
as_ "$mallory" ln -s "$tmp/victim" sticky/hers/ck
refused_ "a user's directory in a sticky one" sticky/hers/ck "sticky/hers is owned by uid"

# --- a directory others may write, not sticky -------------------------------
mkdir -m 775 shared && ln -s "$tmp/victim" shared/ck
refused_ "a group-writable directory" shared/ck \
	"shared may be written by others (mode 0775), who could put another directory in place of shared/ck"

# --- links root made, in directories only root may write, serve ---------
mkdir -m 700 -p real/jobs && ln -s real/jobs jobs && ln -s "$tmp/real" abs
expect_status_ 0 "$CONTMIG" run --checkpoint jobs/ck "$counter" 3
[ -f real/jobs/ck/lock ] || fail_ "run through root's link: $(ls -R real)"
expect_status_ 0 "$CONTMIG" inspect abs/../jobs/ck
# And in a sticky directory, root's own link and directory.
ln -s "$tmp/real/jobs" sticky/mine
expect_status_ 0 "$CONTMIG" run --checkpoint sticky/mine/ck2 "$counter" 3
[ -f real/jobs/ck2/lock ] || fail_ "run through root's link in a sticky directory"
untouched_ "the links root made"

# --- a FIFO for DIR's command or lock: refused at once, no wait for a writer
mkdir -m 700 fifo && mkfifo -m 600 fifo/command || framework_failure_ "fifo"
expect_status_ 68 timeout 10 "$CONTMIG" run --checkpoint fifo "$counter" 3
grep -q "fifo/command: not a regular file" err || fail_ "a FIFO for command: $(cat err)"
expect_status_ 0 timeout 10 "$CONTMIG" inspect fifo
rm fifo/command fifo/lock && mkfifo -m 600 fifo/lock || framework_failure_ "fifo/lock"
expect_status_ 0 timeout 10 "$CONTMIG" inspect fifo
grep -q "^in use:" out && fail_ "inspect says a FIFO is a lock: $(cat out)"
expect_status_ 68 timeout 10 "$CONTMIG" run --checkpoint fifo "$counter" 3
grep -q "fifo/lock: not a regular file" err || fail_ "a FIFO for lock: $(cat err)"

# --- the signal to the program, then to run while it writes: still exit 75
# (a scheduler signals both; run must not die of the signal it acts on)
start_ "$CONTMIG" run --checkpoint big "$builddir/tests/bigmem" 256 > big.out 2> big.err
run=$pid
wait_for_ 20 grep -q ready big.out
kill -TERM "$(pgrep -P "$run")"
sleep 0.1
kill -TERM "$run"
wait "$run"
st=$?
[ "$st" -eq 75 ] || fail_ "run exited $st, expected 75, when signalled as it wrote: $(cat big.err)"
rm -rf big

# --- the user's own run, in her own directory, is hers as before ---------
mkdir -m 700 hers && chown "$mallory" hers && mkdir bin && cp "$counter" bin/ &&
	chmod 755 bin bin/* || framework_failure_ "hers"
(cd hers && as_ "$mallory" "$CONTMIG" run --checkpoint ck "$tmp/bin/counter" 3 > out 2> err) ||
	fail_ "the user's run in her own directory: $(cat hers/err)"
[ "$(stat -c %U hers/ck/lock)" = "$mallory" ] || fail_ "hers/ck: $(ls -l hers/ck)"
exit 0
