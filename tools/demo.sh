#!/bin/bash
# make demo: check a Continuum program, then move it while it runs, from this
# shell to receiver A and on to receiver B (two listeners on loopback), and
# watch it count on without missing a number.
set -eu
top=${1:-.}
contmig=$top/contmig
counter=$top/tests/counter
port_a=${DEMO_PORT_A:-17801} port_b=${DEMO_PORT_B:-17802}
pids=

finish()
{
	# The listeners first (they stop accepting), then what they run.
	kill $pids 2> /dev/null || true
	sleep 0.2
}
trap finish EXIT

# run_ LABEL CMD...: run CMD in the background with only fds 0-2 (make and
# terminals leak their own), its output labelled; its PID in $pid.
run_()
{
	local label=$1
	shift
	(
		for fd in /proc/$BASHPID/fd/*; do
			fd=${fd##*/}
			[ "$fd" -gt 2 ] && eval "exec $fd>&-"
		done
		exec "$@"
	) > >(sed -u "s/^/    $label | /") 2>&1 &
	pid=$!
	disown "$pid"		# no job notice when send ends the source
	pids="$pid $pids"
}

echo "== contmig check $counter"
"$contmig" check "$counter"
echo
echo "== two receivers on this machine: node A on port $port_a, node B on port $port_b"
run_ "node A" "$contmig" thaw --listen "$port_a"
run_ "node B" "$contmig" thaw --listen "$port_b"
sleep 0.3
echo
echo "== the counter starts here (a number every 100 ms)"
run_ "here  " "$counter"
sleep 0.45
echo
echo "== contmig send $pid 127.0.0.1:$port_a"
read -r pid_a _ < <("$contmig" send "$pid" "127.0.0.1:$port_a")
pids="$pid_a $pids"
echo "   it runs on node A as PID $pid_a, and has ended here"
sleep 0.45
echo
echo "== contmig send $pid_a 127.0.0.1:$port_b"
read -r pid_b _ < <("$contmig" send "$pid_a" "127.0.0.1:$port_b")
pids="$pid_b $pids"
echo "   it runs on node B as PID $pid_b"
sleep 0.45
echo
echo "== a send to nowhere leaves it where it is:"
"$contmig" send "$pid_b" "127.0.0.1:1" || echo "   (exit status $?; it still counts on node B)"
sleep 0.35
echo
echo "== done: stopping the counter and the receivers"
kill "$pid_b"
sleep 0.1
