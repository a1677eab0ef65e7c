#!/bin/bash
# Hostile images through inspect and thaw: bit flips, truncations, huge sizes
# and counts, overlapping and kernel-space segments, notes with bogus lengths
# (tests/mutate-image), most with a head sum that matches, so they reach the
# checks behind it.  Never a crash, a hang or a stray process; a refusal is
# one "contmig:" line.  HOSTILE_IMAGES=N for more than the 300 CI runs.
. "$srcdir/tests/init.sh"

[ "$(id -u)" -eq 0 ] || skip_ "a PID namespace (for the thaws) needs root"
if [ -z "${CONTMIG_PRIVATE_PIDS:-}" ]; then
	# A thawed variant runs the program with whatever registers it was given:
	# its system calls can reach only this namespace's processes.
	CONTMIG_PRIVATE_PIDS=1 unshare --pid --fork --mount-proc -- "$BASH" "$script_" "$@"
	exit $?
fi
count=${HOSTILE_IMAGES:-300}

start_ "$builddir/tests/counter" > src.out
wait_for_ 5 file_has_lines_ src.out 2
"$CONTMIG" freeze -q -o seed.img "$pid" || fail_ "freezing the seed image"

# refused_ WHAT STATUS: a clean refusal, or a success.
refused_()
{
	local what=$1 status=$2
	[ "$status" -lt 124 ] || fail_ "$what: exit $status (crash or hang): $(head -c 300 err)"
	[ "$status" -eq 0 ] && return 0
	one_error_line_ "$what: exit $status"
}

kinds=
for seed in $(seq "$count"); do
	kind=$("$builddir/tests/mutate-image" seed.img m.img "$seed") ||
		framework_failure_ "mutate-image seed $seed"
	kinds="$kinds$kind"
	timeout 10 "$CONTMIG" inspect --verify m.img > /dev/null 2> err
	refused_ "inspect of variant $seed (kind $kind)" $?
	# The backtrace unwinds over the variant's own stack and symbols.
	timeout 10 "$CONTMIG" inspect --json --backtrace m.img > /dev/null 2> err
	refused_ "inspect --json --backtrace of variant $seed (kind $kind)" $?
	timeout 10 "$CONTMIG" thaw -q -d m.img > out 2> err
	status=$?
	refused_ "thaw of variant $seed (kind $kind)" "$status"
	if [ "$status" -eq 0 ]; then
		read -r new < out
		kill -9 "$new" 2> /dev/null
	fi
	n=$(stub_processes_)
	[ "$n" -eq 0 ] || [ "$status" -eq 0 ] ||
		fail_ "thaw of variant $seed (kind $kind) left $n half-built processes"
done
# Every kind of damage was tried.
for k in 0 1 2 3 4 5 6; do
	case $kinds in *$k*) ;; *) fail_ "no variant of kind $k in $count" ;; esac
done
exit 0
