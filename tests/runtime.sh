#!/bin/bash
# The Continuum runtime (stub/) and the test targets built on it: the fixed
# stack, the canary, the LED exit codes, deterministic AVX arithmetic.
. "$srcdir/tests/init.sh"
counter=$builddir/tests/counter

# The counter counts.
"$counter" 5 > out || fail_ "counter 5 exited $?"
seq 5 | compare_ - out

# Its stack frame sits on the fixed stack, under crt0's canary.
start_ "$counter" > /dev/null
wait_for_ 5 grep -q '^Name:[[:space:]]*counter' "/proc/$pid/status"
grep -q '^500000000-500100000 rw-p ' "/proc/$pid/maps" || fail_ "no fixed stack: $(cat /proc/$pid/maps)"
canary=$(dd if="/proc/$pid/mem" bs=8 count=1 skip=$((0x5000FFFF0)) iflag=skip_bytes \
	status=none | od -An -tx8 | tr -d ' ')
[ "$canary" = 00000000cafebabe ] || fail_ "canary at 0x5000FFFF0 is $canary"
kill "$pid"

# It notices corruption: a wrong canary, or its two copies of the count
# disagreeing, end it with LED 3 instead of a wrong number.
poke_()	# poke_ PID ADDRESS: write 8 zero bytes at ADDRESS of PID
{
	printf '\0\0\0\0\0\0\0\0' | dd of="/proc/$1/mem" bs=1 seek=$(($2)) conv=notrunc status=none
}
count_addr=$(nm "$counter" | awk '$3 == "count" { print "0x" $1 }')
[ -n "$count_addr" ] || framework_failure_ "no symbol 'count' in $counter"
for addr in 0x5000FFFF0 "$count_addr"; do
	start_ "$counter" > counted
	wait_for_ 5 file_has_lines_ counted 3
	poke_ "$pid" "$addr" || framework_failure_ "cannot write /proc/$pid/mem"
	wait "$pid"
	status=$?
	[ "$status" -eq 3 ] || fail_ "corrupting $addr: counter exited $status, not 3 (LED 3)"
done

# setup_fixed_stack refuses to map over something already at 0x500000000:
# LED 4, never a silent overwrite.
cat > blocker.asm <<'ASM'
section .note.GNU-stack noalloc noexec nowrite progbits
section .blocker progbits alloc write
	dq 1
ASM
nasm -f elf64 -o blocker.o blocker.asm || framework_failure_ "nasm"
cc -nostdlib -static -no-pie -Wl,-Ttext=0x400000 -Wl,--build-id=none \
	-Wl,--section-start=.blocker=0x500000000 -o blocked blocker.o \
	"$builddir/tests/counter.o" "$builddir/stub/crt0.o" "$builddir/stub/libcontinuum.a" ||
	framework_failure_ "linking blocked"
./blocked 1 > /dev/null
status=$?
[ "$status" -eq 4 ] || fail_ "fixed stack taken: exited $status, not 4 (LED 4)"

# The AVX target is deterministic: two runs agree, and a run that sleeps
# through signals in the middle gets the same checksum too.
"$builddir/tests/avxsum" 30 > a || fail_ "avxsum exited $?"
grep -Eqx 'checksum [0-9a-f]{16}' a || fail_ "avxsum printed: $(cat a)"
start_ "$builddir/tests/avxsum" 300 > b
for i in 1 2 3; do sleep 0.1; kill -STOP "$pid"; sleep 0.05; kill -CONT "$pid"; done
wait "$pid" || fail_ "avxsum 300 exited $?"
"$builddir/tests/avxsum" 300 > c
compare_ b c
exit 0
