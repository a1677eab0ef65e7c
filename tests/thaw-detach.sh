#!/bin/bash
# thaw --detach is scriptable: P=$(contmig thaw --detach IMAGE) returns at
# once, the copy reading and writing /dev/null unless --stdin, --stdout,
# --stderr say otherwise; --pid-file holds its PID once it runs.
. "$srcdir/tests/init.sh"
counter=$builddir/tests/counter

# freeze_counter_ IMAGE OUT: a counter writing to OUT, frozen into IMAGE.
freeze_counter_()
{
	start_ "$counter" > "$2"
	wait_for_ 5 file_has_lines_ "$2" 2
	expect_status_ 0 "$CONTMIG" freeze -q -o "$1" "$pid"
}

# fd_is_ PID FD TARGET: fd FD of PID refers to TARGET.
fd_is_()
{
	[ "$(readlink "/proc/$1/fd/$2")" = "$3" ] ||
		fail_ "PID $1: fd $2 is $(readlink "/proc/$1/fd/$2"), not $3"
}

# Command substitution: the copy must not hold the pipe, or this never returns.
freeze_counter_ a.img a.out
P=$(timeout 5 "$CONTMIG" thaw --detach a.img) || fail_ "thaw --detach in \$(...) exited $?"
started_pids="$started_pids $P"
[ "$P" -gt 0 ] 2> /dev/null || fail_ "thaw --detach printed '$P'"
running_untraced_ "$P"
for fd in 0 1 2; do
	fd_is_ "$P" "$fd" /dev/null
done
kill "$P"

# --stdout: created or appended to; the count goes on in it.  --pid-file.
freeze_counter_ b.img b.out
P=$(timeout 5 "$CONTMIG" thaw --detach --stdout b.out --pid-file b.pid b.img) ||
	fail_ "thaw --detach --stdout exited $?"
started_pids="$started_pids $P"
[ "$(cat b.pid)" = "$P" ] || fail_ "the PID file holds '$(cat b.pid)', not $P"
fd_is_ "$P" 1 "$tmp/b.out"
fd_is_ "$P" 2 /dev/null
lines=$(wc -l < b.out)
wait_for_ 5 file_has_lines_ b.out $((lines + 2))
cp b.out snap		# the counter may be writing a line
n=$(wc -l < snap)
seq "$n" | diff -q - <(head -n "$n" snap) > /dev/null ||
	fail_ "the count in b.out does not go on: $(head -c 200 snap)"
kill "$P"

# --stdin and --stderr; a new --stdout file; in the foreground too.
freeze_counter_ c.img c.out
echo input > in
"$CONTMIG" thaw --stdin in --stdout new.out --stderr new.err --pid-file c.pid c.img &
thaw=$!
started_pids="$started_pids $thaw"
wait_for_ 5 test -s c.pid
P=$(cat c.pid)
fd_is_ "$P" 0 "$tmp/in"
fd_is_ "$P" 1 "$tmp/new.out"
fd_is_ "$P" 2 "$tmp/new.err"
wait_for_ 5 file_has_lines_ new.out 1
kill -TERM "$thaw"
wait "$thaw"
[ $? -eq 143 ] || fail_ "the foreground thaw did not end with its copy's SIGTERM"

# Cannot open them: said before anything is restored, and nothing runs.
expect_status_ 68 "$CONTMIG" thaw --detach --stdout no/such/dir/out c.img
one_error_line_
grep -q "no/such/dir/out: No such file or directory" err || fail_ "$(cat err)"
expect_status_ 68 "$CONTMIG" thaw --detach --pid-file no/such/dir/pid c.img
one_error_line_
[ "$(stub_processes_)" -eq 0 ] || fail_ "a refused thaw left a process behind"
[ ! -e c.img.* ] 2> /dev/null

# They go with an IMAGE or --listen, not where they mean nothing.
expect_status_ 64 "$CONTMIG" thaw --stdio --stdout x
expect_status_ 64 "$CONTMIG" thaw --listen 7742 --pid-file x
expect_status_ 64 "$CONTMIG" thaw --stdout '' c.img
exit 0
