#!/bin/bash
# Hostile images through inspect and thaw: bit flips, truncations, huge sizes
# and counts, overlapping and kernel-space segments, notes with bogus lengths
# (tests/mutate-image), most with a head sum that matches, so they reach the
# checks behind it.  Never a crash, a hang or a stray process; a refusal is
# one "contmig:" line.  HOSTILE_IMAGES=N for more than the 300 CI runs.
# First, hostile names: terminal escapes in an image's command name,
# hostname, mapping names and symbols, and in a peer's refusal, never reach
# a terminal, a log or JSON raw.
. "$srcdir/tests/init.sh"

[ "$(id -u)" -eq 0 ] || skip_ "a PID namespace (for the thaws) needs root"
if [ -z "${CONTMIG_PRIVATE_PIDS:-}" ]; then
	# A thawed variant runs the program with whatever registers it was given:
	# its system calls can reach only this namespace's processes.
	CONTMIG_PRIVATE_PIDS=1 unshare --pid --fork --mount-proc -- "$BASH" "$script_" "$@"
	exit $?
fi
count=${HOSTILE_IMAGES:-300}

# The seed carries an open file too, so that mutations reach the files note.
echo seed > seed.txt
start_ bash -c 'exec 7< "$0"; exec "$1"' "$tmp/seed.txt" "$builddir/tests/counter" > src.out
wait_for_ 5 file_has_lines_ src.out 2
"$CONTMIG" freeze -q -o seed.img "$pid" || fail_ "freezing the seed image"

# no_raw_bytes_ FILE...: each holds printable ASCII, tabs and newlines only:
# no control byte (ESC starts a terminal's escape sequences), no DEL, and
# nothing from 0x80 up (C1 controls, raw or in UTF-8, act on some terminals).
no_raw_bytes_()
{
	local f
	for f; do
		[ "$(LC_ALL=C tr -d '\t\n -~' < "$f" | wc -c)" -eq 0 ] ||
			fail_ "$f holds raw bytes that could act on a terminal: $(od -c "$f" | head -20)"
	done
}

# A real process: its program's file name (its command name and a mapping's
# name) and a symbol hold escapes, and it is frozen on a host whose name
# does (a UTS namespace of its own).
evil=$'map\e]0;pwn\a\x9b\x7f\\x'
cp "$builddir/tests/counter" "$evil" || framework_failure_ "cp counter"
objcopy --redefine-sym main=$'\e[2Jmain\x9b' "$evil" || framework_failure_ "objcopy"
start_ "./$evil" > names.out
wait_for_ 5 file_has_lines_ names.out 2
unshare --uts sh -c 'printf "\033[2J\033]0;pwn\007\233h\\\\x" > /proc/sys/kernel/hostname &&
	exec "$0" freeze -q -o names.img "$1"' "$CONTMIG" "$pid" ||
	fail_ "freezing a process with hostile names"
# Its command name and hostname fill their fields, with no NUL to end them.
comm16=$'\e[1;31mRED\x9b\x7fXXXX'
host64=$'\e]0;owned\a'$(printf 'H%.0s' $(seq 54))
"$builddir/tests/mutate-image" names.img full.img --names "$comm16" "$host64" ||
	framework_failure_ "mutate-image --names"

for img in names.img full.img; do
	"$CONTMIG" inspect --backtrace "$img" > "$img.txt" 2> "$img.err" ||
		fail_ "inspect $img: $(cat "$img.err")"
	"$CONTMIG" inspect --json --backtrace "$img" > "$img.json" 2> "$img.jerr" ||
		fail_ "inspect --json $img: $(cat "$img.jerr")"
	timeout 10 "$CONTMIG" thaw --progress -d "$img" > "$img.thaw" 2> "$img.terr" ||
		fail_ "thaw $img: $(cat "$img.terr")"
	read -r new < "$img.thaw"
	kill -9 "$new"
	no_raw_bytes_ "$img".*
	python3 -m json.tool "$img.json" > /dev/null || fail_ "inspect --json $img: not JSON"
	grep -q "^contmig: thawed PID [0-9]* (.*) as PID $new" "$img.terr" ||
		fail_ "no summary from thaw $img: $(cat "$img.terr")"
done
# A file's name is whoever named it's choice too: inspect and check escape it.
cp names.img "$evil.img" || framework_failure_ "cp names.img"
"$CONTMIG" inspect "$evil.img" > fname.txt 2> fname.err || fail_ "inspect $evil.img: $(cat fname.err)"
"$CONTMIG" inspect --verify "$evil.img" > fname.verify 2> fname.verr ||
	fail_ "inspect --verify: $(cat fname.verr)"
"$CONTMIG" check "$evil" > fname.check 2> fname.cerr
no_raw_bytes_ fname.*
grep -qF 'map\x1b]0;pwn\x07\x9b\x7f\\x.img: sound' fname.verify ||
	fail_ "inspect --verify of a hostile file name: $(cat fname.verify)"
# Escaped as \xNN (a backslash as \\); in JSON, \u00XX with the byte's value.
grep -qF 'process:    PID '"$pid"' (map\x1b]0;pwn\x07\x9b\x7f\\\\), frozen ' names.img.txt &&
	grep -qF ' on \x1b[2J\x1b]0;pwn\x07\x9bh\\x' names.img.txt &&
	grep -qF "  $tmp/map\\x1b]0;pwn\\x07\\x9b\\x7f\\\\x" names.img.txt &&
	grep -qF ' in \x1b[2Jmain\x9b+' names.img.txt ||
	fail_ "the names as inspect shows them: $(cat names.img.txt)"
grep -qF '(\x1b[1;31mRED\x9b\x7fXXXX) as PID' full.img.terr ||
	fail_ "thaw's summary: $(cat full.img.terr)"
python3 - names.img.json full.img.json "$tmp/$evil" "$comm16" "$host64" <<'PY' ||
import json, os, sys
def raw(s):
	return s.encode("latin-1")	# each \u00XX is a byte
a, b = (json.load(open(f)) for f in sys.argv[1:3])
mapped, comm, host = (os.fsencode(x) for x in sys.argv[3:6])
assert raw(a["process"]["command"]) == b"map\x1b]0;pwn\x07\x9b\x7f\\\\", a["process"]
assert raw(a["process"]["host"]) == b"\x1b[2J\x1b]0;pwn\x07\x9bh\\x", a["process"]
assert any(raw(m["name"]) == mapped for m in a["mappings"]), a["mappings"]
assert raw(a["backtrace"][0]["function"]).startswith(b"\x1b[2Jmain\x9b+"), a["backtrace"]
# Read within their fields: 16 and 64 bytes, not on into what follows.
assert raw(b["process"]["command"]) == comm, b["process"]
assert raw(b["process"]["host"]) == host, b["process"]
PY
	fail_ "the names in JSON: $(head -c 600 names.img.json; head -c 300 full.img.json)"

# The name the copy runs with, in the line a foreground thaw says when it
# dies; and in a receiver's log line, with the hostname it came from.
"$CONTMIG" thaw -q full.img > /dev/null 2> died.err &
thaw=$!
started_pids="$started_pids $thaw"
wait_for_ 5 eval '[ -n "$(stub_pids_)" ] && grep -q "^State:[[:space:]]*S" /proc/$(stub_pids_)/status'
kill -SEGV $(stub_pids_)
wait "$thaw"
grep -qF '(\x1b[1;31mRED\x9b\x7fXXX) died of signal 11' died.err || fail_ "thaw said: $(cat died.err)"
"$CONTMIG" thaw -q -d full.img > out || fail_ "thaw -d full.img"
read -r copy < out
unshare --uts sh -c 'printf "\033]0;pwn\007\233" > /proc/sys/kernel/hostname &&
	exec "$0" send -q --via "$0 thaw --stdio 2> recv.log" "$1" node' "$CONTMIG" "$copy" \
	> /dev/null 2> send.err || fail_ "send --via thaw --stdio: $(cat send.err)"
no_raw_bytes_ died.err recv.log send.err
grep -qF '(\x1b[1;31mRED\x9b\x7fXXX from \x1b]0;pwn\x07\x9b) -> PID' recv.log ||
	fail_ "the receiver's log: $(cat recv.log)"
kill -9 $(stub_pids_)
wait_for_ 5 eval '[ "$(stub_processes_)" -eq 0 ]'

# A receiver that refuses with words of its own: they are escaped, whole.
cat > refuser.py <<'PY'
import struct, sys
sys.stdin.buffer.read(64)	# the sender's hello
hello = b"contmig\n" + struct.pack("<HBBB3x", 1, 3, 0, 67) + bytes(48)
why = b"\x07\x43bad \x1b]0;pwn\x07\x9b image\ncontmig: forged line"
sys.stdout.buffer.write(hello + struct.pack("<I", len(why)) + why)
sys.stdout.flush()
PY
start_ "$builddir/tests/counter" > plain.out
wait_for_ 5 file_has_lines_ plain.out 1
expect_status_ 67 "$CONTMIG" send --via "python3 refuser.py" "$pid" node
one_error_line_ "a refusal with a newline in it"
no_raw_bytes_ err
grep -qF 'the receiver refused: bad \x1b]0;pwn\x07\x9b image\x0acontmig: forged line' err ||
	fail_ "the refusal: $(cat err)"
running_untraced_ "$pid"

# refused_ WHAT STATUS: a clean refusal, or a success.
refused_()
{
	local what=$1 status=$2
	[ "$status" -lt 124 ] || fail_ "$what: exit $status (crash or hang): $(head -c 300 err)"
	[ "$status" -eq 0 ] && return 0
	one_error_line_ "$what: exit $status"
}

# A files note of 600000 records, pairs of a file and its dup (each dup's
# file found by fd among those before it): read and judged in well under a
# second, not by a search through every earlier file per dup (minutes, for a
# 43 MB image any sender can write).
"$builddir/tests/files-note" seed.img dups.img 600000 ||
	framework_failure_ "files-note"
timeout 20 "$CONTMIG" inspect dups.img > /dev/null 2> err
status=$?
[ "$status" -ne 124 ] || fail_ "inspect of 600000 files with dups took over 20 s"
[ "$status" -eq 0 ] || fail_ "inspect of 600000 sound files: exit $status: $(cat err)"
rm -f dups.img

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
