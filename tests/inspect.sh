#!/bin/bash
# contmig inspect: the summary, JSON, --verify and backtraces named with the
# image's own symbols, for assembly and C targets, from a file and a pipe;
# damaged images; progress and summaries under a pseudo terminal.
. "$srcdir/tests/init.sh"
counter=$builddir/tests/counter

# The counter (assembly) frozen in its sleep, inside main.
start_ "$counter" > /dev/null
wait_for_ 5 grep -q '^35 ' "/proc/$pid/syscall"
cpid=$pid
expect_status_ 0 "$CONTMIG" freeze -o counter.img "$pid"
expect_status_ 0 "$CONTMIG" inspect --backtrace counter.img
cp out summary
grep -q "^process:    PID $cpid (counter), frozen 20..-..-.. ..:..:.. UTC on " summary ||
	fail_ "no process line: $(cat summary)"
grep -q '^canary:     ok (0xcafebabe at 0x5000ffff0)' summary || fail_ "canary: $(cat summary)"
grep -q '^  rip      0x0000000000400' summary || fail_ "no rip: $(cat summary)"
grep -q "0x500000000 *0x500100000 *rw- *4.0 KiB *1.0 MiB" summary ||
	fail_ "the fixed stack's mapping: $(cat summary)"
[ "$(grep -c 'checksum ok' summary)" -eq "$(readelf -lW counter.img | grep -c LOAD)" ] ||
	fail_ "not every segment is listed ok: $(cat summary)"
grep -q '^  #0  0x0000000000400[0-9a-f]* in main+[0-9]*$' summary || fail_ "frame 0: $(cat summary)"
grep -q '^  #1  0x0000000000400[0-9a-f]* in _start+[0-9]*  (frame pointer: no unwind' summary ||
	fail_ "frame 1 of the assembly target: $(cat summary)"
[ ! -s err ] || fail_ "inspect said on stderr: $(cat err)"

# The same from a pipe, the backtrace too.
cat counter.img | "$CONTMIG" inspect --backtrace - > piped || fail_ "inspect - exited $?"
diff <(sed 1d summary) <(sed 1d piped) > /dev/null || fail_ "a piped image reads otherwise"

# JSON: one valid document, with the same facts.
expect_status_ 0 "$CONTMIG" inspect --json --backtrace counter.img
python3 - out "$cpid" <<'PY' || fail_ "JSON: $(cat out)"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["process"]["pid"] == int(sys.argv[2]) and d["process"]["command"] == "counter"
assert d["image"]["format_version"] == 1 and d["sound"] is True
assert d["canary"]["status"] == "ok"
assert all(s["checksum"] == "ok" for s in d["segments"])
assert any(m["start"] == "0x500000000" for m in d["mappings"])
bt = d["backtrace"]
assert bt[0]["function"].startswith("main+") and bt[1]["function"].startswith("_start+")
assert bt[1]["method"] == "frame-pointer"
PY

# A C target: its frames come from its unwind tables.
start_ "$builddir/tests/bss" > bss.out
wait_for_ 5 grep -q '^ok' bss.out
expect_status_ 0 "$CONTMIG" freeze -o bss.img "$pid"
expect_status_ 0 "$CONTMIG" inspect --json --backtrace bss.img
python3 - out <<'PY' || fail_ "the C target's backtrace: $(cat out)"
import json, sys
bt = json.load(open(sys.argv[1]))["backtrace"]
names = [f["function"].split("+")[0] for f in bt]
assert names[:3] == ["pause_tick", "main", "_start"], names
assert bt[1]["method"] == "unwind-info" and bt[2]["method"] == "unwind-info", bt
PY

# --verify: one line; 0 for a sound image.
expect_status_ 0 "$CONTMIG" inspect --verify counter.img
grep -q '^counter.img: sound: [0-9]* segments, every checksum matches; canary ok$' out ||
	fail_ "--verify said: $(cat out)"

# A damaged segment: the summary names it, --verify fails with one line.
data_at=$(( $(readelf -lW counter.img | awk '$1 == "LOAD" { print $2; exit }') ))
cp counter.img bad.img
printf 'X' | dd of=bad.img bs=1 seek=$((data_at + 100)) conv=notrunc status=none
# Shown as far as it reads, and still a failure: 67, the problem on stderr.
expect_status_ 67 "$CONTMIG" inspect bad.img
grep -q 'checksum mismatch' out && grep -q '^problem:    checksum mismatch in segment 0' out ||
	fail_ "a damaged segment: $(cat out)"
one_error_line_
grep -q 'unsound: checksum mismatch in segment 0' err || fail_ "inspect of a damaged image: $(cat err)"
expect_status_ 67 "$CONTMIG" inspect --json bad.img
python3 -c 'import json, sys; d = json.load(open("out")); assert d["sound"] is False and d["problem"]' ||
	fail_ "--json of a damaged image: $(cat out)"
expect_status_ 67 "$CONTMIG" inspect --verify bad.img
one_error_line_
grep -q 'unsound: checksum mismatch in segment 0' err || fail_ "--verify: $(cat err)"
expect_status_ 67 "$CONTMIG" inspect --json --verify bad.img
python3 -c 'import json, sys; d = json.load(open("out")); assert d["sound"] is False and d["problem"]' ||
	fail_ "--json --verify of a damaged image: $(cat out)"
# Truncated in the data, and not an image at all.
head -c $((data_at + 5000)) counter.img > short.img
expect_status_ 67 "$CONTMIG" inspect --verify short.img
grep -q 'truncated in segment' err || fail_ "a truncated image: $(cat err)"
# Its summary tells the segments read whole (but unverified: the sums are
# gone), the one cut, and those never reached.
expect_status_ 67 "$CONTMIG" inspect short.img
grep -q 'checksum unverified' out && grep -q 'checksum truncated' out &&
	! grep -q 'checksum ok\|checksum mismatch' out || fail_ "a truncated image's segments: $(cat out)"
head -c 3000 /dev/urandom > random.img
expect_status_ 67 "$CONTMIG" inspect random.img
one_error_line_
expect_status_ 67 "$CONTMIG" inspect --json random.img
python3 -c 'import json; d = json.load(open("out")); assert d["sound"] is False and d["problem"]' ||
	fail_ "--json of a file that is no image: $(cat out)"
expect_status_ 66 "$CONTMIG" inspect --backtrace --binary /etc/hostname counter.img
expect_status_ 66 "$CONTMIG" inspect missing.img
expect_status_ 64 "$CONTMIG" inspect --binary "$counter" counter.img

# A process thawed before names its program again (a root thaw, the same
# file here), and its next image has the program's symbols.
"$CONTMIG" thaw --detach counter.img > new || fail_ "thaw exited $?"
read -r new < new
started_pids="$started_pids $new"
wait_for_ 5 grep -q '^35 ' "/proc/$new/syscall"
expect_status_ 0 "$CONTMIG" freeze -o again.img "$new"
expect_status_ 0 "$CONTMIG" inspect --backtrace again.img
grep -q '^  #0  0x[0-9a-f]* in main+' out || fail_ "a thawed process's image: $(cat out)"
# One whose program changed since runs from contmig's restorer: it has no
# symbol table to give; --binary names it.
cp "$counter" changed
start_ ./changed > /dev/null
wait_for_ 5 grep -q '^35 ' "/proc/$pid/syscall"
expect_status_ 0 "$CONTMIG" freeze -o changed.img "$pid"
echo >> changed
"$CONTMIG" thaw --detach changed.img > new || fail_ "thaw exited $?"
read -r new < new
started_pids="$started_pids $new"
wait_for_ 5 grep -q '^35 ' "/proc/$new/syscall"
expect_status_ 0 "$CONTMIG" freeze -o again.img "$new"
expect_status_ 0 "$CONTMIG" inspect --backtrace again.img
grep -q '^symbols:    0$' out && grep -q '^  #0  0x[0-9a-f]* in ??$' out ||
	fail_ "an image without symbols: $(cat out)"
expect_status_ 0 "$CONTMIG" inspect --backtrace --binary "$counter" again.img
grep -q '^  #0  0x[0-9a-f]* in main+' out || fail_ "--binary: $(cat out)"

# Strings from an image are shown as printable ASCII: a program named in
# UTF-8 keeps its bytes, as \xNN (as git quotes paths), and in JSON as
# \u00XX with the byte's value, so that the document is ASCII and valid.
cp "$counter" zähler
start_ ./zähler > z.out
wait_for_ 5 file_has_lines_ z.out 1
expect_status_ 0 "$CONTMIG" freeze -o z.img "$pid"
expect_status_ 0 "$CONTMIG" inspect z.img
grep -qF "process:    PID $pid (z\xc3\xa4hler), frozen" out &&
	grep -qF " $tmp/z\xc3\xa4hler" out || fail_ "a UTF-8 name: $(cat out)"
expect_status_ 0 "$CONTMIG" inspect --json z.img
grep -qF '"command": "z\u00c3\u00a4hler"' out && ! LC_ALL=C grep -q '[^ -~]' out ||
	fail_ "a UTF-8 name in JSON: $(cat out)"

# Progress and the summary: on a terminal (script gives one), not in a pipe
# unless asked, never with --quiet.
command -v script > /dev/null || skip_ "script(1) is missing: cannot test progress on a terminal"
# Progress shows once work takes 0.3 s; here at once, however fast this is.
export CONTMIG_PROGRESS_DELAY=0
start_ "$builddir/tests/bigmem" 512 > big.out
wait_for_ 30 grep -q '^ready' big.out
script -qec "'$CONTMIG' freeze --leave-running -o big.img $pid" /dev/null > tty.out ||
	fail_ "freeze on a terminal: $(cat tty.out)"
tr '\r' '\n' < tty.out > tty.lines
grep -q "^contmig: freeze PID $pid: [0-9.]* of 512.0 MiB ([0-9]*%), [0-9]* MiB/s" tty.lines ||
	fail_ "no progress on a terminal: $(cat -v tty.out)"
grep -q "contmig: froze PID $pid (bigmem): 512.0 MiB stored of 51[0-9.]* MiB mapped in" tty.lines ||
	fail_ "no summary on a terminal: $(cat -v tty.out)"
script -qec "'$CONTMIG' freeze --quiet --leave-running -o big.img $pid" /dev/null > tty.out
[ ! -s tty.out ] || fail_ "freeze --quiet said: $(cat -v tty.out)"
expect_status_ 0 "$CONTMIG" freeze --leave-running -o big.img "$pid"
[ ! -s err ] || fail_ "freeze into a pipe, unasked, said: $(cat err)"
expect_status_ 0 "$CONTMIG" thaw --progress --detach big.img
tr '\r' '\n' < err > err.lines
grep -q "^contmig: thaw: [0-9.]* of " err.lines && grep -q "contmig: thawed PID [0-9]* (bigmem) as PID" err.lines ||
	fail_ "thaw --progress said: $(cat -v err)"
read -r new < out
started_pids="$started_pids $new"
exit 0
