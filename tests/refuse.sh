#!/bin/bash
# What thaw cannot run is refused up front, the same way by check, freeze and
# send: a program with a brk heap (brk is not carried yet), which is every
# ordinary program (C dynamic, -static, -static-pie; C++; Rust).  Each is
# refused with exit 65 and one line, before it stops, and runs on untraced.
# A contract program without crt0's canary breaks only the contract: it moves.
. "$srcdir/tests/init.sh"

# refused_ NAME PID RULE: check names RULE as broken, freeze and send refuse
# PID with exit 65 and one line, and PID goes on printing, untraced.  What
# check said is in NAME.check, what send said in err.
refused_()
{
	local name=$1 pid=$2 rule=$3 lines
	expect_status_ 65 "$CONTMIG" check "$pid"
	grep -q "^  FAIL  $rule " out || fail_ "$name: check does not fail rule $rule: $(cat out)"
	cp out "$name.check"
	expect_status_ 65 "$CONTMIG" freeze -o "$name.img" "$pid"
	one_error_line_ "$name: freeze"
	grep -q "^contmig: freeze PID $pid ([^)]*): " err || fail_ "$name: $(cat err)"
	[ ! -e "$name.img" ] || fail_ "$name: a refused freeze wrote an image"
	running_untraced_ "$pid"
	# Refused before it connects: nothing listens on port 1 (that would be 69).
	expect_status_ 65 "$CONTMIG" send "$pid" 127.0.0.1:1
	one_error_line_ "$name: send"
	grep -q "^contmig: send PID $pid ([^)]*): " err || fail_ "$name: $(cat err)"
	running_untraced_ "$pid"
	# ... and it still runs: its output grows.
	lines=$(wc -l < "$name.out")
	wait_for_ 5 eval '[ "$(wc -l < '"$name.out"')" -gt '"$lines"' ]'
	kill "$pid"
}

# start_ticking_ NAME CMD...: start CMD (it prints a line every 100 ms) with
# its output in NAME.out and wait for its first line; its PID is in $pid.
start_ticking_()
{
	local name=$1
	shift
	start_ "$@" > "$name.out"
	wait_for_ 5 file_has_lines_ "$name.out" 1
}

# A contract program whose own _start skipped the canary breaks the contract
# but moves: its image says it had no canary, so thaw does not look for one.
start_ticking_ nocanary "$builddir/tests/nocanary"
expect_status_ 0 "$CONTMIG" check "$pid"
grep -qx "PID $pid (nocanary): moves; breaks the Continuum contract" out || fail_ "$(cat out)"
grep -q "^  no    canary      the canary at 0x5000ffff0 is 0x0, not 0xcafebabe" out ||
	fail_ "$(cat out)"
expect_status_ 0 "$CONTMIG" freeze -o nocanary.img "$pid"
new=$("$CONTMIG" thaw --detach --stdout nocanary.out2 nocanary.img) || fail_ "thaw exited $?"
started_pids="$started_pids $new"
wait_for_ 5 file_has_lines_ nocanary.out2 2
kill "$new"

# A contract program with a brk heap: brk is not carried yet.
start_ticking_ brkheap "$builddir/tests/brkheap"
refused_ brkheap "$pid" heap
grep -q "^contmig: send PID $pid (brkheap): a brk heap at 0x[0-9a-f]*-0x[0-9a-f]*: brk is not carried" \
	err || fail_ "$(cat err)"

# Ordinary programs, built here from the same loop in C, C++ and Rust.
cat > tick.c <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(void)
{
	for (;;) {
		char *p = malloc(64);
		puts("tick");
		fflush(stdout);
		free(p);
		usleep(100000);
	}
}
C
cat > tick.cc <<'C'
#include <chrono>
#include <iostream>
#include <string>
#include <thread>
int main()
{
	for (;;) {
		std::string s(64, 't');
		std::cout << "tick" << std::endl;
		std::this_thread::sleep_for(std::chrono::milliseconds(100));
	}
}
C
cat > tick.rs <<'R'
use std::{thread, time::Duration};
fn main() {
    loop {
        let v = vec![0u8; 64];
        println!("tick {}", v.len());
        thread::sleep(Duration::from_millis(100));
    }
}
R
tried=0
# ordinary_ NAME BUILD...: build NAME with BUILD (skipped, saying why, when
# it cannot be built here), then check that it is refused.
ordinary_()
{
	local name=$1
	shift
	if ! "$@" > "$name.build" 2>&1; then
		echo "$me: not tried: $name: '$*' failed: $(head -n 3 "$name.build")" >&2
		return
	fi
	tried=$((tried + 1))
	start_ticking_ "$name" "./$name"
	refused_ "$name" "$pid" heap
	grep -q "brk is not carried" err || fail_ "$name: $(cat err)"
}
if command -v gcc > /dev/null; then
	ordinary_ c-dynamic gcc -O2 -o c-dynamic tick.c
	ordinary_ c-static gcc -O2 -static -o c-static tick.c
	ordinary_ c-static-pie gcc -O2 -static-pie -o c-static-pie tick.c
else
	echo "$me: not tried: C programs: no gcc" >&2
fi
if command -v g++ > /dev/null; then
	ordinary_ cxx g++ -O2 -o cxx tick.cc
else
	echo "$me: not tried: C++: no g++" >&2
fi
if command -v rustc > /dev/null; then
	ordinary_ rust rustc -O -o rust tick.rs
else
	echo "$me: not tried: Rust: no rustc" >&2
fi
[ "$tried" -gt 0 ] || skip_ "no ordinary program could be built here"
exit 0
