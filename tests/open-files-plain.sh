#!/bin/bash
# An ordinary glibc program (tests/plain: dynamic and static) with a log
# open to append keeps it across a move: by file and by send, the log goes
# on at its end, every step once and in order (contmig(1), Open files).
# Skipped while contmig cannot move such a program at all: check then
# refuses it by a rule other than its files.
. "$srcdir/tests/init.sh"
private_net_
port=7742

# start_plain_ PROG LOG: PROG --log $tmp/LOG, its steps on $tmp/before; its
# PID in $pid once it has taken three.
start_plain_()
{
	start_ "$builddir/tests/$1" --log "$tmp/$2" > "$tmp/before" 2> "$tmp/before.err"
	wait_for_ 5 file_has_lines_ "$tmp/before" 3
}

# log_whole_ LOG: "step 1" to "step N", each once and in order.
log_whole_()
{
	local n
	n=$(sed -n '$s/^step //p' "$1")
	seq -f 'step %g' "$n" | cmp -s - "$1" ||
		fail_ "$1 is not step 1..$n: $(tr '\n' ' ' < "$1" | head -c 300)"
}

# goes_on_ COPY LOG OUT: the copy takes the next step after $tmp/before in
# OUT, and once ended $tmp/LOG holds every step once.
goes_on_()
{
	local copy=$1 log=$2 out=$3 last first

	wait_for_ 5 file_has_lines_ "$out" 3
	last=$(sed -n '$s/^step //p' "$tmp/before")
	first=$(sed -n '1s/^step //p' "$out")
	[ "$first" = $((last + 1)) ] || fail_ "$log: resumed at '$first' after '$last'"
	alive_ "$copy" || fail_ "the copy ($log) died: $(cat "$tmp"/*.err 2> /dev/null)"
	kill "$copy"
	wait_for_ 5 eval '! alive_ '"$copy"
	log_whole_ "$tmp/$log"
}

for prog in plain-dynamic plain-static; do
	start_plain_ "$prog" "$prog.log"
	"$CONTMIG" check "$pid" > check.out
	if grep '^  FAIL' check.out | grep -qv '^  FAIL  fds '; then
		skip_ "contmig cannot move $prog yet: $(grep '^  FAIL' check.out | head -n 1)"
	fi
	expect_status_ 0 "$CONTMIG" check "$pid"
	grep -q "^  ok    fds         reopened in the copy: fd 3 -> $tmp/$prog.log (appended to)\$" out ||
		fail_ "check: $(cat out)"

	# By file.
	expect_status_ 0 "$CONTMIG" freeze -o "$prog.img" "$pid"
	new=$("$CONTMIG" thaw --detach --stdout "$prog.after" --stderr "$prog.err" "$prog.img") ||
		fail_ "thaw of $prog exited $?"
	started_pids="$started_pids $new"
	goes_on_ "$new" "$prog.log" "$prog.after"

	# By send (a listener of its own: its output is the copy's).
	listen_ "$prog.l" $port
	start_plain_ "$prog" "$prog.sent.log"
	expect_status_ 0 "$CONTMIG" send "$pid" 127.0.0.1:$port
	read -r new dest < out
	goes_on_ "$new" "$prog.sent.log" "$prog.l.out"
	stop_ "$listener"
done
exit 0
