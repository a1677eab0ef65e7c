#!/bin/bash
# Ordinary programs move: tests/plain-static and tests/plain-dynamic (glibc,
# -static and PIE) by file, by pipe and by a keyed send to a listener.  Each
# copy carries on at the next step, grows its brk heap in place ([heap] is
# one again), reads the clocks through its vDSO (plain exits 1 if any of it
# fails) and digs its stack deeper than the source ever did.  The vDSO is
# this kernel's at the old address, or a proxy into it (forced here by the
# test switch, to the new vDSO and to system calls); an image whose vDSO
# names a function this kernel lacks is refused at thaw, the image kept.
# The exe link names the program when the file here is the same one.
# C, C++ and Rust programs built here move too.
. "$srcdir/tests/init.sh"
private_net_
port=7752

# steps_ FILE: the numbers of FILE's "step N" (or "tick N") lines.
steps_() { sed -n 's/^\(step\|tick\) //p' "$1"; }

# follows_steps_ WHAT BEFORE AFTER: AFTER's first step is BEFORE's last plus
# one, and AFTER counts on from there without a gap.
follows_steps_()
{
	local last first snap=$tmp/steps.snapshot
	steps_ "$3" > "$snap"
	last=$(steps_ "$2" | tail -n 1)
	first=$(head -n 1 "$snap")
	[ -n "$last" ] && [ "$first" = $((last + 1)) ] ||
		fail_ "$1: resumed at step '$first' after step '$last'"
	seq "$first" "$(tail -n 1 "$snap")" | diff -q - "$snap" > /dev/null ||
		fail_ "$1: the steps after the move are not consecutive: $(head -c 200 "$snap")"
}

# has_steps_ FILE N: FILE has N steps at least.
has_steps_() { [ "$(steps_ "$1" | wc -l)" -ge "$2" ]; }

# runs_on_ WHAT PID OUT ERR: PID takes 3 more steps in OUT (within 5 s) and
# says nothing in ERR (plain says there what is wrong, and exits 1); ERR -:
# its stderr is a listener's log, where plain's lines must not be.
runs_on_()
{
	local what=$1 pid=$2 out=$3 err=$4 n=-1 i=0
	until [ "$n" -ge 0 ] && has_steps_ "$out" $((n + 3)); do
		[ "$n" -ge 0 ] || ! has_steps_ "$out" 1 || n=$(steps_ "$out" | wc -l)
		alive_ "$pid" || fail_ "$what: the copy died: $([ "$err" = - ] || cat "$err")"
		i=$((i + 1))
		[ "$i" -le 200 ] || fail_ "$what: the copy took no 3 steps in 10 s: $(tail -n 3 "$out")"
		sleep 0.05
	done
	if [ "$err" = - ]; then
		! grep -q '^plain:' "$out" || fail_ "$what: the copy said: $(grep '^plain:' "$out")"
	else
		[ ! -s "$err" ] || fail_ "$what: the copy said: $(cat "$err")"
	fi
	running_untraced_ "$pid"
}

# start_plain_ NAME PROG ARGS...: start tests/PROG, its steps in NAME.out,
# and wait for its third; its PID is in $pid.
start_plain_()
{
	local name=$1 prog=$2
	shift 2
	start_ "$builddir/tests/$prog" "$@" > "$name.out" 2> "$name.err"
	wait_for_ 5 has_steps_ "$name.out" 3
}

# map_of_ PID NAME: the first line of PID's maps naming NAME.
map_of_() { grep -m 1 -F " $2" "/proc/$1/maps"; }
# start_of_ / end_of_ LINE: the addresses of a maps line, in hex.
start_of_() { echo "${1%%-*}"; }
end_of_() { local r=${1%% *}; echo "${r#*-}"; }

# heap_grows_ WHAT PID IMAGE: the copy's [heap] is a heap again, and ends
# past where the image's did (its brk grew in place).
heap_grows_()
{
	local what=$1 pid=$2 brk line
	brk=$("$CONTMIG" inspect --json "$3" | python3 -c 'import json, sys; print(json.load(sys.stdin)["mm"]["brk"])') ||
		fail_ "$what: no brk in the image"
	line=$(map_of_ "$pid" '[heap]') || fail_ "$what: the copy has no [heap]: $(cat "/proc/$pid/maps")"
	(( 0x$(end_of_ "$line") > brk )) || fail_ "$what: the heap ends at $line, not past $brk"
}

# The program: plain, moved by file, pipe and send.
for prog in plain-static plain-dynamic; do
	# check says it moves, and that its heap does.
	start_plain_ "$prog" "$prog" --deeper
	expect_status_ 0 "$CONTMIG" check "$pid"
	grep -qx "PID $pid ($prog): moves; breaks the Continuum contract" out || fail_ "$(cat out)"
	grep -q "^  ok    heap        a brk heap at 0x[0-9a-f]*-0x[0-9a-f]*: it moves (brk is carried)" out ||
		fail_ "$prog: check: $(cat out)"
	stack_before=$(map_of_ "$pid" '[stack]')

	# By file.
	expect_status_ 0 "$CONTMIG" freeze -o "$prog.img" "$pid"
	expect_status_ 0 "$CONTMIG" inspect "$prog.img"
	grep -q "^program:    $builddir/tests/$prog (" out || fail_ "$prog: inspect: $(cat out)"
	grep -q "^vdso:       0x[0-9a-f]*-0x[0-9a-f]* (.*): .*clock_gettime" out ||
		fail_ "$prog: inspect: $(cat out)"
	grep -q "^rseq:       area 0x[0-9a-f]* (32 bytes), signature 0x53053053" out ||
		fail_ "$prog: inspect: $(cat out)"
	new=$("$CONTMIG" thaw --detach --stdout "$prog.file.out" --stderr "$prog.file.err" \
		"$prog.img") || fail_ "$prog: thaw exited $?"
	started_pids="$started_pids $new"
	runs_on_ "$prog by file" "$new" "$prog.file.out" "$prog.file.err"
	follows_steps_ "$prog by file" "$prog.out" "$prog.file.out"
	heap_grows_ "$prog by file" "$new" "$prog.img"
	# Its stack grew below where the source's ended.
	stack_after=$(map_of_ "$new" '[stack]') || fail_ "$prog: the copy has no [stack]"
	[ "$(end_of_ "$stack_after")" = "$(end_of_ "$stack_before")" ] &&
		(( 0x$(start_of_ "$stack_after") < 0x$(start_of_ "$stack_before") )) ||
		fail_ "$prog: the stack was $stack_before, is $stack_after"
	# This kernel's vDSO, where the source had it.
	vdso=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["vdso"]["start"])' \
		< <("$CONTMIG" inspect --json "$prog.img"))
	[ "0x$(start_of_ "$(map_of_ "$new" '[vdso]')")" = "$vdso" ] ||
		fail_ "$prog: the copy's vDSO is not at $vdso: $(grep -F '[v' "/proc/$new/maps")"
	# What it runs, and with which arguments: the same program, and check
	# judges its copy by it.
	[ "$(readlink "/proc/$new/exe")" = "$builddir/tests/$prog" ] ||
		fail_ "$prog: the copy's exe is $(readlink "/proc/$new/exe")"
	[ "$(tr '\0' ' ' < "/proc/$new/cmdline")" = "$builddir/tests/$prog --deeper " ] ||
		fail_ "$prog: the copy's command line is $(tr '\0' ' ' < "/proc/$new/cmdline")"
	expect_status_ 0 "$CONTMIG" check "$new"
	grep -qx "PID $new ($prog): moves; breaks the Continuum contract" out || fail_ "$(cat out)"
	# The kernel keeps for the copy what it kept for the source: its next
	# image says so (the heap only starts where it did: it grew).
	expect_status_ 0 "$CONTMIG" freeze --leave-running -o "$prog.again.img" "$new"
	for img in "$prog.img" "$prog.again.img"; do
		"$CONTMIG" inspect "$img" | sed -n 's/, heap \(0x[0-9a-f]*\)-0x[0-9a-f]*,/, heap \1,/
			/^program:\|^mm:\|^            arguments\|^vdso:\|^rseq:/p' > "$img.kernel"
	done
	grep -q '^rseq:       area' "$prog.img.kernel" || fail_ "$prog: $(cat "$prog.img.kernel")"
	compare_ "$prog.img.kernel" "$prog.again.img.kernel"

	# Moved again, through a pipe.
	new2=$("$CONTMIG" freeze -o - "$new" | "$CONTMIG" thaw --detach --stdout "$prog.pipe.out" \
		--stderr "$prog.pipe.err" -) || fail_ "$prog: freeze | thaw exited $?"
	started_pids="$started_pids $new2"
	runs_on_ "$prog by pipe" "$new2" "$prog.pipe.out" "$prog.pipe.err"
	follows_steps_ "$prog by pipe" "$prog.file.out" "$prog.pipe.out"
	alive_ "$new" && fail_ "$prog: the source of the pipe still runs"

	# And again, sent with a key to a listener (the copy writes to its
	# stdout and stderr).
	[ -e key ] || expect_status_ 0 "$CONTMIG" keygen key
	port=$((port + 1))
	listen_ "$prog.l" $port --key key
	expect_status_ 0 "$CONTMIG" send --key key "$new2" 127.0.0.1:$port
	read -r new3 dest < out
	runs_on_ "$prog by send" "$new3" "$prog.l.out" -
	grep -q '^plain:' "$prog.l" && fail_ "$prog by send: the copy said: $(cat "$prog.l")"
	follows_steps_ "$prog by send" "$prog.pipe.out" "$prog.l.out"
	kill "$new3"
	stop_ "$listener"
done

# The vDSO proxy, forced: at the old address the old vDSO's bytes, each
# function a jump into this kernel's vDSO, mapped elsewhere; or each its
# system call.
for mode in 1 syscall; do
	start_plain_ "proxy-$mode" plain-dynamic
	expect_status_ 0 "$CONTMIG" freeze -o "proxy-$mode.img" "$pid"
	vdso=$(python3 -c 'import json, sys; d = json.load(sys.stdin)["vdso"]; print(d["start"], d["size"])' \
		< <("$CONTMIG" inspect --json "proxy-$mode.img"))
	new=$(CONTMIG_TEST_VDSO_PROXY=$mode "$CONTMIG" thaw --detach --stdout "proxy-$mode.after" \
		--stderr "proxy-$mode.err" "proxy-$mode.img") || fail_ "proxy $mode: thaw exited $?"
	started_pids="$started_pids $new"
	runs_on_ "proxy $mode" "$new" "proxy-$mode.after" "proxy-$mode.err"
	follows_steps_ "proxy $mode" "proxy-$mode.out" "proxy-$mode.after"
	read -r at size <<< "$vdso"
	proxy=$(printf '%x-%x r-xp 00000000 00:00 0' "$at" $((at + size)))
	grep -q "^$proxy *\$" "/proc/$new/maps" ||
		fail_ "proxy $mode: no anonymous r-x $proxy: $(cat "/proc/$new/maps")"
	grep -q ' \[vdso\]$' "/proc/$new/maps" || fail_ "proxy $mode: no [vdso] in the copy"
	kill "$new"
done
# A process frozen inside its vDSO cannot go on in a proxy (the old code
# reads the old kernel's data): refused (its registers say so here, patched
# as another freeze could have found them: rcx to rip, in NT_PRSTATUS).
regs=$(python3 -c 'import json, struct, sys
d = json.load(sys.stdin); r = d["registers"]
names = ["rcx", "rdx", "rsi", "rdi", "orig_rax", "rip"]
was = [int(r[n], 16) for n in names]
now = was[:-1] + [int(d["vdso"]["start"], 16) + 0x10]
print(struct.pack("<6Q", *was).hex(), struct.pack("<6Q", *now).hex())' < <("$CONTMIG" inspect --json proxy-1.img))
"$builddir/tests/patch-image" proxy-1.img in-vdso.img $regs || framework_failure_ "patch-image"
expect_status_ 71 env CONTMIG_TEST_VDSO_PROXY=1 "$CONTMIG" thaw --detach in-vdso.img
one_error_line_ "frozen in the vDSO"
grep -q "cannot restore: the process was frozen inside its vDSO (at 0x[0-9a-f]*), which this kernel's cannot go on with" err ||
	fail_ "frozen in the vDSO: $(cat err)"
[ "$(stub_processes_)" -eq 0 ] || fail_ "a refused thaw left a process behind"

# Nor can one whose signal handler cut into its vDSO's code, frozen while
# the handler runs: the handler returns into that code.  A proxy refuses it
# (the image stays); the same kernel's vDSO at the old address takes it.
start_ "$builddir/tests/vdsoloop" > handled.out 2> handled.err
wait_for_ 5 grep -q '^tick' handled.out
for i in $(seq 200); do
	grep -q '^in vdso$' handled.out && break
	kill -USR1 "$pid"
	sleep 0.02
done
grep -q '^in vdso$' handled.out || framework_failure_ "vdsoloop: no SIGUSR1 cut into its vDSO"
expect_status_ 0 "$CONTMIG" freeze -o handled.img "$pid"
expect_status_ 71 env CONTMIG_TEST_VDSO_PROXY=1 "$CONTMIG" thaw --detach handled.img
grep -q "its vDSO" err || fail_ "a handler's frame in the vDSO: $(cat err)"
[ "$(stub_processes_)" -eq 0 ] || fail_ "a refused thaw left a process behind"
new=$("$CONTMIG" thaw --detach --stdout handled.after --stderr handled.err2 handled.img) ||
	fail_ "handled: thaw exited $?"
started_pids="$started_pids $new"
# Once back in pause(2) (34), SIGUSR2 ends its wait.
wait_for_ 5 eval '[ "$(cut -d" " -f1 /proc/'"$new"'/syscall)" = 34 ]'
kill -USR2 "$new"
wait_for_ 5 grep -q '^back$' handled.after
kill "$new"
# And so does a SIGUSR2 that reached the copy before it was let go (sent
# while its restorer is held at a test point): the kernel returns EINTR to
# the handler's pause(2), as it would have there; a restart done by hand
# would take the signal for nothing, and pause for ever.
CONTMIG_TEST_HOOK=restore-timers-set CONTMIG_TEST_HOOK_UNTIL=$tmp/go-on-usr2 \
	"$CONTMIG" thaw --detach --stdout handled.early handled.img > /dev/null 2> early.err &
thaw=$!
started_pids="$started_pids $thaw"
wait_for_ 10 grep -qs 'test point restore-timers-set reached' early.err
new=$(stub_pids_)
[ -n "$new" ] || fail_ "no restorer while thaw is held"
kill -USR2 $new
touch go-on-usr2
wait "$thaw" || fail_ "thaw exited $?: $(cat early.err)"
started_pids="$started_pids $new"
wait_for_ 5 grep -q '^back$' handled.early
kill $new

# With system calls, the clock really is read by one.
if command -v strace > /dev/null; then
	start_plain_ proxy-strace plain-dynamic
	expect_status_ 0 "$CONTMIG" freeze -o proxy-strace.img "$pid"
	new=$(CONTMIG_TEST_VDSO_PROXY=syscall "$CONTMIG" thaw --detach proxy-strace.img) ||
		fail_ "proxy syscall: thaw exited $?"
	started_pids="$started_pids $new"
	timeout -s INT 1 strace -p "$new" -e trace=clock_gettime -o strace.out 2> /dev/null
	grep -q '^clock_gettime(CLOCK_MONOTONIC' strace.out ||
		fail_ "proxy syscall: no clock_gettime system call: $(head -c 300 strace.out)"
	kill "$new"
fi

# A vDSO with a function this kernel's lacks and no system call does: thaw
# refuses it before anything starts, in one line naming it; the image stays.
start_plain_ unserved plain-dynamic
expect_status_ 0 "$CONTMIG" freeze -o unserved.img "$pid"
from=$(printf '__vdso_getcpu\0' | od -An -tx1 | tr -d ' \n')
to=$(printf '__vdso_getcpX\0' | od -An -tx1 | tr -d ' \n')
"$builddir/tests/patch-image" unserved.img patched.img "$from" "$to" ||
	framework_failure_ "patch-image"
expect_status_ 71 "$CONTMIG" thaw --detach patched.img
one_error_line_ "an unserved vDSO"
grep -q "^contmig: thaw patched.img: cannot restore: the process's vDSO (from another kernel) exports __vdso_getcpX, which this kernel's vDSO lacks" err ||
	fail_ "an unserved vDSO: $(cat err)"
[ "$(stub_processes_)" -eq 0 ] || fail_ "a refused thaw left a process behind"
# The image is kept, and sound.
expect_status_ 0 "$CONTMIG" inspect --verify patched.img

# A program file that changed since: the copy runs all the same, and its
# exe link names the restorer, not a program it is not; check judges it
# by its memory then.
cp "$builddir/tests/plain-static" changing
start_ ./changing > changing.out 2> changing.err
wait_for_ 5 has_steps_ changing.out 2
expect_status_ 0 "$CONTMIG" freeze -o changing.img "$pid"
echo >> changing
new=$("$CONTMIG" thaw --detach --stdout changing.after --stderr changing.err2 changing.img) ||
	fail_ "changing: thaw exited $?"
started_pids="$started_pids $new"
runs_on_ "changing" "$new" changing.after changing.err2
case $(readlink "/proc/$new/exe") in
*memfd:contmig-stub*) ;;
*) fail_ "changing: the copy's exe names $(readlink "/proc/$new/exe")" ;;
esac
expect_status_ 0 "$CONTMIG" check "$new"
grep -q "^  ok    heap        a brk heap at" out || fail_ "changing: check: $(cat out)"
kill "$new"

# Ordinary programs built here from one ticking loop: C (dynamic, -static,
# -static-pie), C++ (-static, iostream and an exception each tick) and Rust.
cat > tick.c <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
int main(void)
{
	for (long n = 1;; n++) {
		struct timespec ts;
		char *p = malloc(4096 * n);
		if (!p || clock_gettime(CLOCK_MONOTONIC, &ts))
			return 1;
		printf("tick %ld\n", n);
		fflush(stdout);
		free(p);
		usleep(100000);
	}
}
C
cat > tick.cc <<'C'
#include <chrono>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>
static long next(long n)
{
	if (n > 0)
		throw std::runtime_error(std::to_string(n + 1));
	return n;
}
int main()
{
	for (long n = 0;;) {
		try {
			next(n);
		} catch (const std::exception &e) {
			n = std::stol(e.what());
		}
		if (n == 0)
			n = 1;
		std::cout << "tick " << n << std::endl;
		std::this_thread::sleep_for(std::chrono::milliseconds(100));
	}
}
C
cat > tick.rs <<'R'
use std::{thread, time::{Duration, Instant}};
fn main() {
    let mut last = Instant::now();
    let mut heap: Vec<Box<[u64; 64]>> = Vec::new();
    for n in 1u64.. {
        let now = Instant::now();
        assert!(now >= last, "the monotonic clock went back");
        last = now;
        heap.push(Box::new([n; 64]));
        println!("tick {}", n);
        thread::sleep(Duration::from_millis(100));
    }
}
R
tried=0
# moves_ NAME BUILD...: build NAME with BUILD (skipped, saying why, when it
# cannot be built here), then move it by file: it ticks on from where it was.
moves_()
{
	local name=$1
	shift
	if ! "$@" > "$name.build" 2>&1; then
		echo "$me: not tried: $name: '$*' failed: $(head -n 3 "$name.build")" >&2
		return
	fi
	tried=$((tried + 1))
	start_ "./$name" > "$name.out" 2> "$name.err"
	wait_for_ 5 has_steps_ "$name.out" 3
	expect_status_ 0 "$CONTMIG" check "$pid"
	expect_status_ 0 "$CONTMIG" freeze -o "$name.img" "$pid"
	new=$("$CONTMIG" thaw --detach --stdout "$name.after" --stderr "$name.err2" "$name.img") ||
		fail_ "$name: thaw exited $?"
	started_pids="$started_pids $new"
	runs_on_ "$name" "$new" "$name.after" "$name.err2"
	follows_steps_ "$name" "$name.out" "$name.after"
	kill "$new"
}
if command -v gcc > /dev/null; then
	moves_ c-dynamic gcc -O2 -o c-dynamic tick.c
	moves_ c-static gcc -O2 -static -o c-static tick.c
	moves_ c-static-pie gcc -O2 -static-pie -o c-static-pie tick.c
else
	echo "$me: not tried: C programs: no gcc" >&2
fi
if command -v g++ > /dev/null; then
	moves_ cxx g++ -O2 -static -o cxx tick.cc
else
	echo "$me: not tried: C++: no g++" >&2
fi
if command -v rustc > /dev/null; then
	moves_ rust rustc -O -o rust tick.rs
else
	echo "$me: not tried: Rust: no rustc" >&2
fi
[ "$tried" -gt 0 ] || echo "$me: no C, C++ or Rust program could be built here" >&2
exit 0
