#!/bin/bash
# Any process the kernel allows moves: past each limit an image reader once
# had (4096 mappings, 65536 segments, 4 MiB of notes, 65536 symbols), by file
# and by pipe, and the copy carries on with its memory intact (the targets
# check every page).  70000 segments need ELF extended numbering (PN_XNUM,
# the count in section header 0), which readelf and gdb read.
. "$srcdir/tests/init.sh"
manymaps=$builddir/tests/manymaps

# moves_ WHAT ARGS...: start manymaps ARGS, freeze it into a file and thaw
# it, then again through a pipe; each copy must go on checking its pages.
# The image of the first trip is kept as WHAT.img.
moves_()
{
	local what=$1
	shift
	start_ "$manymaps" "$@" > "$what.src"
	wait_for_ 30 grep -q '^ok 1$' "$what.src"
	expect_status_ 0 "$CONTMIG" freeze -q -o "$what.img" "$pid"
	one_copy_ "$what by file" "$what.src" thaw_bg_ "$what.img" "$what.copy"

	start_ "$manymaps" "$@" > "$what.src"
	wait_for_ 30 grep -q '^ok 1$' "$what.src"
	"$CONTMIG" freeze -q -o - "$pid" | "$CONTMIG" thaw -q - > "$what.piped" &
	thaw=$!
	started_pids="$started_pids $thaw"
	one_copy_ "$what by pipe" "$what.src" true "$what.piped"
}

# one_copy_ WHAT SRC CMD... OUT: after CMD, the copy (output in OUT) checks
# its memory twice and the source is gone.
one_copy_()
{
	local what=$1 src=$2 src_pid=$pid out
	shift 2
	out=${*: -1}
	"$@"
	wait_for_ 60 grep -q '^moved ok' "$out"
	wait_for_ 5 eval "[ \$(grep -c '^moved ok' '$out') -ge 2 ]"
	kill -0 "$src_pid" 2> /dev/null && fail_ "$what: the source still runs"
	kill -TERM "$thaw"
	wait "$thaw" 2> /dev/null
}

# 5000 mappings: over the 4096 a reader once took.
moves_ maps maps 5000
[ "$("$CONTMIG" inspect maps.img | sed -n 's/^mappings: *//p')" -gt 5000 ] ||
	fail_ "maps.img has too few mappings"

# 70000 runs of present pages: over 65536 segments and over the 65535
# program headers that e_phnum can count.
moves_ runs runs 70000
readelf -lW runs.img > phdrs 2> readelf.err || fail_ "readelf -l: $(cat readelf.err)"
[ ! -s readelf.err ] || fail_ "readelf -l warned: $(head -3 readelf.err)"
n=$(grep -c '^ *LOAD ' phdrs)
[ "$n" -ge 70000 ] || fail_ "readelf -l sees $n PT_LOAD"
grep -q "^There are $((n + 2)) program headers, starting at offset 128$" phdrs ||
	fail_ "readelf -l: $(head -5 phdrs)"
readelf -hW runs.img | grep -q 'Number of program headers: *65535 (' ||
	fail_ "no PN_XNUM in the ELF header: $(readelf -hW runs.img)"
if command -v gdb > /dev/null; then
	timeout 60 gdb -nx -batch -ex 'info files' "$manymaps" runs.img > gdb.out 2>&1
	n=$(grep -c ' is load[0-9]*$' gdb.out)
	[ "$n" -ge 70000 ] || fail_ "gdb sees $n segments: $(head -20 gdb.out)"
fi

# 150000 symbols, some 9 MiB of notes, well over 4 MiB and 65536 symbols: a
# contract program made here, main at the end of its symbol table.
command -v nasm > /dev/null || skip_ "nasm is missing: cannot build the symbols target"
{
	cat <<'EOF'
%include "continuum.inc"
global main
section .data
msg:	db "tick", 10
ts:	dq 0, 100000000
section .text
EOF
	seq -f 'a_generated_function_with_a_long_name_%06g: ret' 150000
	cat <<'EOF'
main:
	push rbp
	mov rbp, rsp
.loop:
	mov eax, 1
	mov edi, 1
	lea rsi, [rel msg]
	mov edx, 5
	syscall
	mov eax, 35
	lea rdi, [rel ts]
	xor esi, esi
	syscall
	jmp .loop
EOF
} > syms.asm
nasm -f elf64 -I"$srcdir/stub/" -o syms.o syms.asm || framework_failure_ "nasm syms.asm"
${CC:-cc} -nostdlib -static -no-pie -Wl,-Ttext=0x400000 -Wl,--build-id=none -o syms syms.o \
	"$builddir/stub/crt0.o" "$builddir/stub/libcontinuum.a" -lgcc ||
	framework_failure_ "linking syms"
start_ ./syms > syms.src
wait_for_ 5 grep -q tick syms.src
wait_for_ 5 grep -q '^35 ' "/proc/$pid/syscall"
expect_status_ 0 "$CONTMIG" freeze -q -o syms.img "$pid"
notes=$(( $(readelf -lW syms.img | awk '$1 == "NOTE" { print $5; exit }') ))
[ "$notes" -gt $((4 << 20)) ] || fail_ "the notes are only $notes bytes"
expect_status_ 0 "$CONTMIG" inspect --backtrace syms.img
grep -q '^symbols:    15000[0-9]$' out || fail_ "symbols: $(grep symbols: out)"
grep -q '^  #0  0x[0-9a-f]* in main+[0-9]*$' out || fail_ "frame 0: $(grep -A2 backtrace: out)"
thaw_bg_ syms.img syms.copy
wait_for_ 10 grep -q tick syms.copy
exit 0
