#!/bin/bash
# thaw refuses a damaged image with one line and exit status 67, and starts
# nothing: no process, no half-built stub left behind.
. "$srcdir/tests/init.sh"

start_ "$builddir/tests/counter" > /dev/null
wait_for_ 5 grep -q '^Name:[[:space:]]*counter' "/proc/$pid/status"
expect_status_ 0 "$CONTMIG" freeze --leave-running -o good "$pid"
kill "$pid"
[ "$(stub_processes_)" -eq 0 ] || skip_ "another restored process is running here"

size=$(stat -c %s good)
notes_at=$(( $(readelf -lW good | awk '$1 == "NOTE" { print $2; exit }') ))
data_at=$(( $(readelf -lW good | awk '$1 == "LOAD" { print $2; exit }') ))
[ -n "$notes_at" ] && [ -n "$data_at" ] || framework_failure_ "cannot read the image layout"

flip_()	# flip_ OFFSET: a copy of good with the byte at OFFSET inverted, in bad
{
	cp good bad
	local byte
	byte=$(od -An -tu1 -j "$1" -N 1 good | tr -d ' ')
	printf "$(printf '\\%03o' $(( (byte ^ 0xff) & 0xff )))" |
		dd of=bad bs=1 seek="$1" conv=notrunc status=none
}

refused_()	# refused_ WHAT PATTERN: thaw bad fails with 67, naming PATTERN
{
	expect_status_ 67 "$CONTMIG" thaw bad
	one_error_line_
	grep -q "$2" err || fail_ "$1: $(cat err)"
	[ "$(stub_processes_)" -eq 0 ] || fail_ "$1: a process was left behind"
}

flip_ $((data_at + 100));  refused_ "segment byte" 'checksum mismatch in segment 0'
flip_ $((notes_at + 40));  refused_ "note byte" 'invalid image'
flip_ 0;                   refused_ "ELF magic" 'no ELF magic'
flip_ $((size - 3));       refused_ "segment sums" 'checksum mismatch'
head -c $((size / 2)) good > bad;       refused_ "truncated in the data" 'truncated'
head -c $((notes_at + 10)) good > bad;  refused_ "truncated in the notes" 'truncated'
: > bad;                                refused_ "empty" 'truncated'
head -c 100000 /dev/urandom > bad;      refused_ "random bytes" 'invalid image'

# The same through a pipe.
flip_ $((data_at + 100))
cat bad | "$CONTMIG" thaw - > /dev/null 2> err
status=$?
[ "$status" -eq 67 ] || fail_ "a corrupt image on stdin: exit $status"
[ "$(stub_processes_)" -eq 0 ] || fail_ "a corrupt piped image left a process"

# Cut at any point, through a pipe as a stream would be: 64 places spread
# over the image, and each side of every boundary between its parts.
for n in $(seq 0 $((size / 64)) $((size - 1))) 1 63 64 65 $((notes_at - 1)) $notes_at \
	$((notes_at + 1)) $((data_at - 1)) $data_at $((data_at + 1)) $((size - 1)); do
	head -c "$n" good | "$CONTMIG" thaw - > /dev/null 2> err
	status=$?
	[ "$status" -eq 67 ] || fail_ "the image cut after $n bytes: exit $status: $(cat err)"
	one_error_line_
	[ "$(stub_processes_)" -eq 0 ] || fail_ "the image cut after $n bytes left a process"
done

# Not there at all.
expect_status_ 66 "$CONTMIG" thaw ./missing
one_error_line_
expect_status_ 64 "$CONTMIG" thaw
exit 0
