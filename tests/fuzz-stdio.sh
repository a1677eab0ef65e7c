#!/bin/bash
# The wire fuzzer's kept corpus (tests/fuzz/wire), receiver's side, fed to a
# real 'contmig thaw --stdio' on a pipe, as ssh would: hostile bytes on its
# standard input give one line on stderr, no crash, and leave nothing
# behind.  (fuzz-wire.c's first byte picks the side and the key; the rest is
# what the peer sends.)
. "$srcdir/tests/init.sh"
export CONTMIG_STATE_DIR=$tmp/state
mkdir -m 700 "$CONTMIG_STATE_DIR" || framework_failure_ "mkdir $CONTMIG_STATE_DIR"
# fuzz-wire.c's key, as a key file.
printf 'contmig fuzzing key, 32 bytes!!\0' | od -An -tx1 -v | tr -d ' \n' > fuzzkey &&
	chmod 600 fuzzkey || framework_failure_ "writing fuzzkey"
grep -Eqx '[0-9a-f]{64}' fuzzkey || framework_failure_ "fuzzkey: $(cat fuzzkey)"

n=0
for input in "$srcdir"/tests/fuzz/wire/*; do
	mode=$(od -An -tu1 -N1 "$input" | tr -d ' ')
	[ -n "$mode" ] && [ $(((mode >> 1) % 3)) -eq 0 ] || continue
	key=
	[ $((mode & 1)) -eq 1 ] && key="--key fuzzkey"
	tail -c +2 "$input" | "$CONTMIG" thaw --stdio $key > /dev/null 2> err
	status=$?
	[ "$status" -lt 128 ] || fail_ "${input##*/}: thaw --stdio died of signal $((status - 128))"
	one_error_line_ "${input##*/}"
	# A whole session (hello, image, END, COMMIT) is a migration: its
	# process runs.  Anything else leaves no process.
	if grep -q ' -> PID [0-9]*: running' err; then
		[ "$status" -eq 0 ] || fail_ "${input##*/}: running, yet exit $status"
		kill -9 $(copies_) 2> /dev/null
	else
		[ "$status" -ne 0 ] || fail_ "${input##*/}: exit 0 but no process: $(cat err)"
	fi
	wait_for_ 5 eval '[ -z "$(copies_)" ]'
	[ "$(stub_processes_)" -eq 0 ] || fail_ "${input##*/}: left behind: $(stub_pids_)"
	n=$((n + 1))
done
[ "$n" -gt 10 ] || fail_ "only $n receiver inputs in the corpus"
exit 0
