#!/bin/bash
# make demo: build a Continuum target, check the program and its running process.
set -eu
top=${1:-.}
contmig=$top/contmig
counter=$top/tests/counter

echo "== contmig check $counter"
"$contmig" check "$counter"
echo
echo "== starting the counter (it prints a number every 100 ms)"
# Only stdin, stdout and stderr: a contract process holds no other files
# (make and terminals can leak their own into children).
(
	for fd in /proc/$BASHPID/fd/*; do
		fd=${fd##*/}
		[ "$fd" -gt 2 ] && eval "exec $fd>&-"
	done
	exec "$counter" 30
) &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
sleep 0.5
echo
echo "== contmig check $pid (the running process; it is not stopped)"
"$contmig" check "$pid"
wait $pid
trap - EXIT
echo
echo "== the counter ran to 30 undisturbed. contmig check /bin/true, for contrast:"
"$contmig" check /bin/true || echo "(exit status $?: breaks the contract)"
