#!/bin/bash
# README's one-minute tour runs as written, line by line, from a build tree:
# the counter is checked, frozen, inspected, thawed detached and sent to a
# listener, and counts on in counter.out without a gap.
. "$srcdir/tests/init.sh"
private_net_	# the tour's listener takes port 7742

# The tour's lines: the "$ " lines of the block after "## A one-minute tour",
# without their comments and without `make demo`.
sed -n '/^## A one-minute tour/,/^## /p' "$srcdir/README.md" |
	sed -n '/^```$/,/^```$/p' | sed -n 's/^\$ //p' | grep -v '^make demo' |
	sed 's/[[:space:]]*# .*$//' > tour.lines
[ "$(wc -l < tour.lines)" -ge 7 ] || framework_failure_ "the tour has $(wc -l < tour.lines) lines"
grep -q 'thaw --detach' tour.lines && grep -q 'send \$P' tour.lines ||
	framework_failure_ "the tour changed: $(cat tour.lines)"

# A build tree as the tour expects it: ./contmig and tests/counter.
mkdir tree tree/tests
ln -s "$CONTMIG" tree/contmig
ln -s "$builddir/tests/counter" tree/tests/counter

# Each line as typed, one after another; a background command gets a moment
# to start, as a person typing would give it.
{
	echo 'set -e'
	while IFS= read -r line; do
		printf '%s\n' "$line"
		case $line in *'&') echo 'sleep 0.5' ;; esac
	done < tour.lines
} > tour.sh
cd tree || framework_failure_ "cd tree"
start_ timeout 30 bash ../tour.sh > ../tour.out 2> ../tour.err
tour=$pid
wait "$tour" || fail_ "the tour failed ($?): $(cat ../tour.err)"
cd "$tmp" || framework_failure_ "cd $tmp"

grep -q "keeps the Continuum contract" tour.out || fail_ "check: $(cat tour.out)"
grep -q " in main+" tour.out && grep -q " in _start+" tour.out ||
	fail_ "inspect --backtrace: $(cat tour.out)"
grep -Eq '^[0-9]+ 127\.0\.0\.1$' tour.out || fail_ "send printed no PID: $(cat tour.out)"
new=$(sed -n 's/^\([0-9]*\) 127\.0\.0\.1$/\1/p' tour.out)
started_pids="$started_pids $new"
running_untraced_ "$new"
lines=$(wc -l < tree/counter.out)
wait_for_ 5 file_has_lines_ tree/counter.out $((lines + 3))
cp tree/counter.out snap
n=$(wc -l < snap)
seq "$n" | diff -q - <(head -n "$n" snap) > /dev/null ||
	fail_ "counter.out is not 1, 2, 3, ...: $(head -c 300 snap)"
exit 0
