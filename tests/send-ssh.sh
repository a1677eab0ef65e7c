#!/bin/bash
# send ssh://HOST: the image goes through ssh to 'contmig thaw --stdio' on the
# other side (a throwaway sshd on loopback; $CONTMIG_SSH gives ssh its
# options), and the counter carries on there.
. "$srcdir/tests/init.sh"
private_net_
counter=$builddir/tests/counter

# ssh:// never hands ssh an option: a user, or a host once parsed (brackets
# gone), that starts with '-' or holds anything but a name's characters is a
# usage error before anything is frozen, and ssh never runs.  A stand-in ssh
# notes each run.
printf '#!/bin/sh\necho "$*" >> %s/ssh.ran\n' "$tmp" > fake-ssh
chmod +x fake-ssh
start_ "$counter" > before
wait_for_ 5 file_has_lines_ before 1
for dest in 'ssh://[-oProxyCommand=touch${IFS}pwned]:22' 'ssh://[-v]:22' 'ssh://[-Jevil]' \
	'ssh://user@[-Elog]:22' 'ssh://-oX@host' 'ssh://@host' 'ssh://u:x@host' \
	'ssh://[-F.x]' 'ssh://host:-22' 'ssh://a;b' 'ssh://u@h@x' 'ssh://[h]x'; do
	CONTMIG_SSH=$tmp/fake-ssh expect_status_ 64 "$CONTMIG" send "$pid" "$dest"
	grep -q "^contmig: send: '.*' is not HOST\[:PORT\]" err || fail_ "$dest: $(cat err)"
done
[ ! -e ssh.ran ] || fail_ "ssh ran for a hostile destination: $(cat ssh.ran)"
[ ! -e pwned ] || fail_ "a ProxyCommand ran"
running_untraced_ "$pid"
# What may pass does, as separate words (the stand-in ends at once: 69).
for dest in 'ssh://[::1]:22' 'ssh://u.x-y_z@h-1.example' 'ssh://h:2222'; do
	CONTMIG_SSH=$tmp/fake-ssh expect_status_ 69 "$CONTMIG" send "$pid" "$dest"
done
printf '%s\n' '-p 22 ::1 contmig thaw --stdio' 'u.x-y_z@h-1.example contmig thaw --stdio' \
	'-p 2222 h contmig thaw --stdio' | compare_ - ssh.ran
running_untraced_ "$pid"
kill "$pid"

. "$srcdir/tests/sshd.sh"

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
