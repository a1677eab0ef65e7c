#!/bin/bash
# Signals never break a restore: while thaw restores a large image, a loop
# sends SIGSTOP, SIGCONT, SIGUSR1, SIGTERM, SIGTRAP, SIGUSR2 to the restorer
# (the process running contmig's stub).  The restore never fails, and what
# was meant for the program reaches it: the target blocks every signal and
# lists those pending once told to.
. "$srcdir/tests/init.sh"

sigwait=$builddir/tests/sigwait

start_ "$sigwait" 256 > src.out
wait_for_ 20 grep -qx ready src.out
expect_status_ 0 "$CONTMIG" freeze -o big.img "$pid"

# Three rounds in which signals reached the restorer; a restore that ended
# before the loop found it (a busy machine's /proc is slow to walk) is tried
# again, up to six times in all.
round=0 tries=0
while [ "$round" -lt 3 ]; do
	tries=$((tries + 1))
	[ "$tries" -le 6 ] || framework_failure_ "signals reached the restorer in $round of $tries restores"
	rm -f go copy.out
	"$CONTMIG" thaw --detach --stdout copy.out big.img >> copy.out 2> thaw.err &
	thaw=$!
	started_pids="$started_pids $thaw"
	# Until thaw prints the copy's PID, the restore is under way.
	sent=0 i=0
	while [ ! -s copy.out ] && [ "$i" -lt 4000 ]; do
		for p in $(stub_pids_); do
			for sig in STOP USR1 CONT TERM STOP TRAP USR2 CONT; do
				kill -"$sig" "$p" 2> /dev/null && sent=$((sent + 1))
			done
		done
		i=$((i + 1))
	done
	wait "$thaw" || fail_ "round $((round + 1)): thaw exited $?: $(cat thaw.err)"
	copy=$(head -n 1 copy.out)
	started_pids="$started_pids $copy"
	if [ "$sent" -lt 8 ]; then
		kill -9 "$copy"
		wait_for_ 10 eval '! kill -0 '"$copy"' 2> /dev/null'
		continue
	fi
	round=$((round + 1))
	# The last signal sent was SIGCONT, unless the restore ended between
	# a SIGSTOP and it: then the copy is stopped, as the program would be.
	kill -CONT "$copy"
	touch go
	wait_for_ 20 grep -qx done copy.out
	# Each signal sent is pending once; SIGSTOP never is.
	printf '%s\n' 5 10 12 15 18 > want
	sed -n 's/^signal \([0-9]*\) .*/\1/p' copy.out | compare_ want -
	echo "round $round: $sent signals sent to the restorer"
done
exit 0
