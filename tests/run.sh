#!/bin/bash
# contmig run and sys_migrate: programs in C and assembly close their files,
# call sys_migrate to a listener, find themselves on the receiver with the
# call returning 0 and reopen their file there; with no listener, or files
# still open, the call returns an error and they go on here; unsupervised it
# returns -ENOSYS.  run exits with the program's status as a shell would.
. "$srcdir/tests/init.sh"
private_net_
selfmig=$builddir/tests/selfmig
selfmig_asm=$builddir/tests/selfmig-asm

listen_ l 7742

# run_ ARGS: contmig run ARGS with only fds 0-2; status in $status, output in
# out and err.
run_()
{
	( for fd in /proc/$BASHPID/fd/*; do
		fd=${fd##*/}
		[ "$fd" -gt 2 ] && eval "exec $fd>&-"
	  done
	  exec "$CONTMIG" run "$@" ) > out 2> err
	status=$?
}

# The C target moves: run says where, the call returned 0 on the receiver,
# which reopened the file there.
run_ "$selfmig" 127.0.0.1:7742 "$tmp/c.txt"
[ "$status" -eq 0 ] || fail_ "run of a moving program exited $status: $(cat err)"
grep -q 'run: PID [0-9]* moved to 127.0.0.1:7742, where it runs as PID [0-9]*$' err ||
	fail_ "run did not say where it went: $(cat err)"
[ ! -s out ] || fail_ "the program said here what it should say there: $(cat out)"
wait_for_ 5 grep -q '^tick 3$' l.out
grep -qx 'sys_migrate returned 0' l.out || fail_ "on the receiver: $(cat l.out)"
grep -q '^before [0-9]*$' c.txt && grep -qx 'after 0' c.txt || fail_ "the file: $(cat c.txt)"

# The assembly target: callee-saved registers survive the move (else LED 3
# on the receiver, and no "moved").
run_ "$selfmig_asm" 127.0.0.1:7742 "$tmp/asm.txt"
[ "$status" -eq 0 ] || fail_ "run of the assembly target exited $status: $(cat err)"
wait_for_ 5 grep -qx moved asm.txt
grep -qx moved l.out || fail_ "the assembly target on the receiver: $(cat l.out)"

# No listener: the call fails (-ECONNREFUSED) and the program goes on here.
run_ "$selfmig" 127.0.0.1:7799 "$tmp/stay.txt"
[ "$status" -eq 0 ] || fail_ "with no listener, run exited $status: $(cat err)"
grep -qx 'sys_migrate returned -111' out && grep -qx 'tick 3' out ||
	fail_ "with no listener: $(cat out)"
grep -qx 'after -111' stay.txt || fail_ "with no listener, the file: $(cat stay.txt)"
grep -q 'Connection refused' err || fail_ "run did not say why: $(cat err)"
run_ "$selfmig_asm" 127.0.0.1:7799 "$tmp/stay-asm.txt"
[ "$status" -eq 0 ] && grep -qx stayed out || fail_ "assembly, no listener: $status $(cat out)"

# A pipe still open: the program is not moved (-EBUSY) and goes on here.
( exec 7< <(sleep 30); exec "$CONTMIG" run "$selfmig" 127.0.0.1:7742 "$tmp/busy.txt" ) \
	> out 2> err
grep -qx 'sys_migrate returned -16' out || fail_ "with a pipe open: $(cat out) $(cat err)"
grep 'fd 7 -> pipe:\[[0-9]*\]: a pipe does not move' err |
	grep -q 'close what does not move before sys_migrate$' || fail_ "run did not name the pipe: $(cat err)"

# With a key.
"$CONTMIG" keygen key || framework_failure_ "keygen"
stop_ "$listener"
listen_ l2 7742 --key key
run_ --key key "$selfmig" 127.0.0.1:7742 "$tmp/key.txt"
[ "$status" -eq 0 ] || fail_ "run --key exited $status: $(cat err)"
wait_for_ 5 grep -qx 'after 0' key.txt
run_ "$selfmig" 127.0.0.1:7742 "$tmp/nokey.txt"
grep -qx 'sys_migrate returned -13' out || fail_ "without the key: $(cat out) $(cat err)"

# An ordinary program moves too (tests/ordinary.sh): python3, calling
# sys_migrate through ctypes, finds the call returned 0 over there.
run_ --key key python3 -c 'import ctypes
libc = ctypes.CDLL(None, use_errno=True)
print(libc.syscall(0x434d, b"127.0.0.1:7742"), ctypes.get_errno())'
[ "$status" -eq 0 ] || fail_ "run of python3 exited $status: $(cat err)"
[ ! -s out ] || fail_ "python3 said here what it should say there: $(cat out)"
wait_for_ 5 grep -qx '0 0' l2.out

# Unsupervised, the call returns -ENOSYS and nothing else happens.
"$selfmig" 127.0.0.1:7742 "$tmp/alone.txt" > out 2> err ||
	fail_ "the program alone exited $?"
grep -qx 'sys_migrate returned -38' out || fail_ "unsupervised: $(cat out)"

# run exits as a shell would; usage errors.
expect_status_ 7 "$CONTMIG" run sh -c 'exit 7'
expect_status_ 143 "$CONTMIG" run sh -c 'kill -TERM $$'
expect_status_ 127 "$CONTMIG" run ./no-such-program
one_error_line_
expect_status_ 64 "$CONTMIG" run
exit 0
