#!/bin/bash
# The fuzz harnesses replay their kept corpora: real images and sessions, and
# every input that ever crashed one (fuzz/, make fuzz).  A crash or a
# sanitizer report fails the run.
. "$srcdir/tests/init.sh"

for h in image wire; do
	out=$("$builddir/tests/replay-$h" "$srcdir/tests/fuzz/$h") ||
		fail_ "replaying the $h corpus: exit $?"
	n=$(echo "$out" | sed -n 's/^replayed \([0-9]*\) inputs$/\1/p')
	[ "${n:-0}" -gt 0 ] || fail_ "the $h corpus is empty: $out"
done
exit 0
