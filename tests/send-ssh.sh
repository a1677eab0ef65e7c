#!/bin/bash
# send ssh://HOST: the image goes through ssh to 'contmig thaw --stdio' on the
# other side (a throwaway sshd on loopback; $CONTMIG_SSH gives ssh its
# options), and the counter carries on there.
. "$srcdir/tests/init.sh"
private_net_
. "$srcdir/tests/sshd.sh"
counter=$builddir/tests/counter

# The remote side runs where this test does, so that cleanup finds what it
# restored; the process writes to --output.
start_sshd_ 2222 "cd $tmp && exec $CONTMIG thaw --stdio --output $tmp/after 2>> $tmp/remote.log"
export CONTMIG_SSH="$SSH_CMD"

for dest in ssh://127.0.0.1 ssh://root@127.0.0.1; do
	: > remote.log
	: > after
	start_ "$counter" > before
	wait_for_ 5 file_has_lines_ before 2
	expect_status_ 0 "$CONTMIG" send "$pid" "$dest"
	read -r new where < out
	[ "$where" = "$dest" ] || fail_ "send printed: $(cat out)"
	wait "$pid" 2> /dev/null
	kill -0 "$pid" 2> /dev/null && fail_ "the source still runs"
	# Nothing holds the session open: ssh is gone, and the process runs on.
	pgrep -f "^$SSH_CMD" > /dev/null && fail_ "send left ssh running"
	wait_for_ 5 file_has_lines_ after 3
	follows_ before after
	n=$(wc -l < after)
	wait_for_ 5 file_has_lines_ after $((n + 3))
	grep -q "ssh 127.0.0.1: PID $pid (counter from .*) -> PID $new: running" remote.log ||
		fail_ "the remote log: $(cat remote.log)"
	kill "$new"
done

# ssh failing (nobody on that port) before anything is sent: the process
# carries on here.
start_ "$counter" > before
wait_for_ 5 file_has_lines_ before 1
CONTMIG_SSH="$SSH_CMD -p 2223" expect_status_ 69 "$CONTMIG" send "$pid" ssh://127.0.0.1
grep -q "'ssh -F .*' exited with status 255 before the handshake" err || fail_ "ssh refused: $(cat err)"
running_untraced_ "$pid"
exit 0
