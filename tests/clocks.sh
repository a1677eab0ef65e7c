#!/bin/bash
# Clocks across a move (contmig(1), TIME): a program in a time namespace
# (util-linux unshare --time), frozen and thawed, sent to a listener, sent
# live, finds its CLOCK_MONOTONIC and CLOCK_BOOTTIME where it left them plus
# the pause: its copy is in a time namespace with its offsets, and tests/plain
# --clocks says when a clock goes back.  An image from another boot (its boot
# id patched) gets offsets that continue its clocks; a receiver that may not
# make a time namespace runs the copy on its machine's clocks and says so; a
# root receiver of a user's image makes the namespace and still drops to the
# user, who cannot change its offsets; an older contmig's image (no note)
# thaws as before; impossible clocks in the note are refused.
. "$srcdir/tests/init.sh"
private_net_
[ -e /proc/self/ns/time ] || skip_ "this kernel has no time namespaces"
command -v unshare > /dev/null && unshare --time true 2> /dev/null ||
	skip_ "no unshare --time (util-linux)"
plain=$builddir/tests/plain-static
patch=$builddir/tests/patch-image
port=7790
ahead_mono=100000 ahead_boot=200000

# "${ahead[@]}" CMD...: CMD in a time namespace of its own, its clocks ahead.
ahead=(unshare --time --monotonic $ahead_mono --boottime $ahead_boot --)
# offsets_ PID: "MONO_S MONO_NS BOOT_S BOOT_NS" of PID's time namespace.
offsets_() { awk '{printf "%s%s %s", (NR > 1 ? " " : ""), $2, $3}' "/proc/$1/timens_offsets"; }
# own_namespace_ PID: PID is in a time namespace, not ours.
own_namespace_()
{
	[ "$(readlink "/proc/$1/ns/time")" != "$(readlink /proc/self/ns/time)" ] ||
		fail_ "PID $1 is in our time namespace (the machine's clocks)"
}
clocks_of_() { sed -n 's/^clocks //p' "$1"; }
has_clocks_() { [ "$(clocks_of_ "$1" | wc -l)" -ge "$2" ]; }
now_() { date +%s.%N; }

# continues_ TAG BEFORE AFTER ERR SPAN [MIN [MONO BOOT]]: the copy (its
# output AFTER, its stderr ERR) goes on taking steps, its clocks on from
# BEFORE's last, never back: by at least MIN seconds (the pause it was held)
# and at most SPAN (the real time from before the freeze until it had
# stepped again), plus MONO and BOOT seconds (a source's clocks ahead).
continues_()
{
	local last first jump
	wait_for_ 10 has_clocks_ "$3" 3
	[ -s "$4" ] && fail_ "$1: the copy complained: $(head -c 300 "$4")"
	last=$(clocks_of_ "$2" | tail -n 1)
	first=$(clocks_of_ "$3" | head -n 1)
	jump=$(awk -v a="$last" -v b="$first" -v m="${7:-0}" -v o="${8:-0}" 'BEGIN {
		split(a, x); split(b, y); printf "%.6f %.6f", y[1] - x[1] - m, y[2] - x[2] - o }')
	echo "$1: across the move CLOCK_MONOTONIC and CLOCK_BOOTTIME went on by $jump s" \
		"${7:+more than ${7} and ${8} s }(real time: ${6:-0} to $5 s)"
	awk -v j="$jump" -v span="$5" -v min="${6:-0}" 'BEGIN { split(j, d);
		exit !(d[1] >= min && d[2] >= min && d[1] <= span && d[2] <= span) }' ||
		fail_ "$1: the clocks went on by $jump s, not from ${6:-0} to $5 s: before $last," \
			"after $first"
}

# --- frozen and thawed by file, as root -----------------------------------
start_ "${ahead[@]}" "$plain" --clocks > a.before 2> a.err
wait_for_ 5 has_clocks_ a.before 3
t0=$(now_)
expect_status_ 0 "$CONTMIG" freeze -o a.img "$pid"
expect_status_ 0 "$CONTMIG" inspect a.img
grep -q "in a time namespace: +$ahead_mono.000000000 s and +$ahead_boot.000000000 s" out ||
	fail_ "inspect shows no time namespace: $(grep -A1 '^clocks' out)"
grep -q '(this machine.s, still up)' out || fail_ "inspect: not this boot: $(grep -A1 '^clocks' out)"
sleep 1
expect_status_ 0 "$CONTMIG" thaw --detach --progress --stdout a.after --stderr a.err2 a.img
new=$(cat out)
started_pids="$started_pids $new"
grep -q "thawed PID $pid .*; clocks continued (+$ahead_mono.0 s)" err ||
	fail_ "thaw's summary says nothing of the clocks: $(cat err)"
own_namespace_ "$new"
[ "$(offsets_ "$new")" = "$ahead_mono 0 $ahead_boot 0" ] ||
	fail_ "the copy's offsets are $(offsets_ "$new"), not its source's"
wait_for_ 10 has_clocks_ a.after 1
continues_ file a.before a.after a.err2 "$(awk -v a="$t0" -v b="$(now_)" 'BEGIN { print b - a + 0.2 }')" 1
kill "$new"

# --- sent to a listener, and sent live ------------------------------------
for how in plain live; do
	listen_ l1 "127.0.0.1:$port"
	start_ "${ahead[@]}" "$plain" --clocks > b.before 2> b.err
	wait_for_ 5 has_clocks_ b.before 3
	t0=$(now_)
	expect_status_ 0 "$CONTMIG" send $([ $how = live ] && echo --live) "$pid" "127.0.0.1:$port"
	read -r new dest < out
	started_pids="$started_pids $new"
	wait_for_ 5 grep -q -- "-> PID $new: running" l1
	grep -q -- "-> PID $new: running.*; clocks continued (+$ahead_mono.0 s)" l1 ||
		fail_ "$how send: the log line says nothing of the clocks: $(cat l1)"
	own_namespace_ "$new"
	[ "$(offsets_ "$new")" = "$ahead_mono 0 $ahead_boot 0" ] ||
		fail_ "$how send: the copy's offsets are $(offsets_ "$new"), not its source's"
	wait_for_ 10 has_clocks_ l1.out 1
	continues_ "$how send" b.before l1.out l1.err.none \
		"$(awk -v a="$t0" -v b="$(now_)" 'BEGIN { print b - a + 0.2 }')"
	grep -q 'plain:' l1 && fail_ "$how send: the copy complained: $(grep plain: l1)"
	kill "$new"
	stop_ "$listener"
	mv l1 "l1.$how" && mv l1.out "l1.$how.out"
done

# --- an image from another boot -------------------------------------------
# The same program, no namespace: its image as another machine would have
# written it, whose clocks were 1000 s (monotonic) and 2000 s (boottime)
# ahead of ours at the freeze: the copy's go on from there.
start_ "$plain" --clocks > c.before 2> c.err
wait_for_ 5 has_clocks_ c.before 3
t0=$(now_)
expect_status_ 0 "$CONTMIG" freeze -o c.img "$pid"
expect_status_ 0 "$CONTMIG" inspect --json c.img
# The note's bytes from monotonic to the boot id, and the same on another boot.
hexes=$(python3 - out <<'PY'
import json, sys, uuid
c = json.load(open(sys.argv[1]))["clocks"]
le = lambda v: (v & (2**64 - 1)).to_bytes(8, "little").hex()
boot = uuid.UUID(c["boot_id"]).bytes
mono, btime = c["monotonic_ns"], c["boottime_ns"]
head = le(mono) + le(btime) + le(0) + le(0)
print(head + boot.hex(), le(mono + 1000 * 10**9) + le(btime + 2000 * 10**9) + le(0) + le(0) +
      bytes(b ^ 0xff for b in boot).hex(), le(mono) + le(mono - 1) + le(0) + le(0) + boot.hex(),
      le(mono) + le(btime) + le(-mono - 1) + le(0) + boot.hex())
PY
) || framework_failure_ "reading the clocks note"
read -r note other backwards negative <<< "$hexes"
"$patch" c.img c2.img "$note" "$other" || framework_failure_ "patch-image c2.img"
expect_status_ 0 "$CONTMIG" thaw --detach --progress --stdout c.after --stderr c.err2 c2.img
new=$(cat out)
started_pids="$started_pids $new"
grep -q "clocks continued (+1000.0 s)" err || fail_ "another boot: thaw said: $(cat err)"
own_namespace_ "$new"
# How far the copy's offsets are from 1000 and 2000 s: what the two clocks
# of this machine drifted apart between the freeze and the thaw.
read -r ms mn bs bn <<< "$(offsets_ "$new")"
err_us=$(awk -v s="$ms" -v n="$mn" 'BEGIN { printf "%d", ((s - 1000) * 1e9 + n) / 1000 }')
echo "another boot: the copy's monotonic offset is 1000 s ${err_us#-} us off ($ms $mn; boottime $bs $bn)"
[ "${err_us#-}" -le 20000 ] || fail_ "another boot: the copy's offset is $ms s $mn ns, not 1000 s"
continues_ "another boot" c.before c.after c.err2 \
	"$(awk -v a="$t0" -v b="$(now_)" 'BEGIN { print b - a + 0.2 }')" 0 1000 2000
kill "$new"

# Root of a user namespace (a rootless container) may make a time namespace
# but not come back to ours: it runs the copy on its clocks, and says why,
# rather than fail.
rm -f go
unshare --user -- sh -c 'while [ ! -e go ]; do sleep 0.05; done; exec "$@"' sh \
	"$CONTMIG" thaw --detach --progress --stdout /dev/null c2.img > out 2> err &
inner=$!
sleep 0.3
echo "0 0 65536" > "/proc/$inner/uid_map" && echo "0 0 65536" > "/proc/$inner/gid_map" ||
	framework_failure_ "mapping the user namespace"
touch go
wait "$inner" || fail_ "root of a user namespace: thaw failed: $(cat err)"
new=$(cat out)
started_pids="$started_pids $new"
grep -q "it runs on this machine's CLOCK_MONOTONIC" err ||
	fail_ "root of a user namespace: thaw said: $(cat err)"
kill "$new"

# --- impossible clocks are refused; an older contmig's image thaws --------
"$patch" c.img bad1.img "$note" "$backwards" || framework_failure_ "patch-image bad1.img"
"$patch" c.img bad2.img "$note" "$negative" || framework_failure_ "patch-image bad2.img"
for bad in bad1 bad2; do
	expect_status_ 67 "$CONTMIG" thaw --detach "$bad.img"
	one_error_line_ "$bad"
	grep -q 'invalid image: .*clocks note' err || fail_ "$bad: thaw said: $(cat err)"
done
# The note's type (0x434d0013) as no contmig knows it: read as before it.
note_head() { python3 -c 'import sys
print(b"".join(v.to_bytes(4, "little") for v in (8, 64, int(sys.argv[1], 0))).hex())' "$1"; }
"$patch" a.img old.img "$(note_head 0x434d0013)" "$(note_head 0x434d00fe)" ||
	framework_failure_ "patch-image old.img"
expect_status_ 0 "$CONTMIG" inspect old.img
grep -q '^clocks' out && fail_ "old.img still has a clocks note"
expect_status_ 0 "$CONTMIG" thaw --detach --progress --stdout /dev/null old.img
new=$(cat out)
started_pids="$started_pids $new"
grep -q clocks err && fail_ "an older image: thaw said: $(cat err)"
[ "$(readlink "/proc/$new/ns/time")" = "$(readlink /proc/self/ns/time)" ] ||
	fail_ "an older image's copy is in a time namespace"
kill "$new"

# --- run --checkpoint after another boot ------------------------------------
# Its checkpoints, as if this machine had booted again since (boot id
# patched): resumed in a time namespace run made for it, the program is
# checkpointed again, which its time namespace does not stop.
start_ "$CONTMIG" run --checkpoint ck --every 1s "$builddir/tests/counter" > r1.out 2> r1.err
run=$pid
wait_for_ 10 grep -q 'checkpoint 2 of PID' r1.err
kill -TERM "$run"
wait "$run"
[ $? -eq 75 ] || fail_ "run: $(cat r1.err)"
boot=$(tr -d '-' < /proc/sys/kernel/random/boot_id)
reboot=$(python3 -c 'import sys; print(bytes(b ^ 0xff for b in bytes.fromhex(sys.argv[1])).hex())' "$boot")
for f in ck/*.base ck/*.delta; do
	[ -e "$f" ] || continue
	"$patch" "$f" "$f.new" "$boot" "$reboot" && mv "$f.new" "$f" ||
		framework_failure_ "patch-image $f"
done
start_ "$CONTMIG" run --checkpoint ck --every 1s "$builddir/tests/counter" > r2.out 2> r2.err
run=$pid
wait_for_ 10 grep -q 'a delta of' r2.err
prog=$(pgrep -P "$run" -x counter)	# (not its merging child)
own_namespace_ "$prog"
kill -TERM "$run"
wait "$run"
[ $? -eq 75 ] || fail_ "run resumed after another boot: $(cat r2.err)"

new_user_ user
for_users_ "$CONTMIG" "$plain"
mkdir -m 700 u && chown "$user:$user" u || framework_failure_ "u"
as_user_() { as_ "$user" env CONTMIG_STATE_DIR="$tmp/u" "$@"; }
start_ "${ahead[@]}" setpriv --reuid="$user" --regid="$user" --init-groups bin/plain-static > d.before
wait_for_ 5 file_has_lines_ d.before 3
wait_for_ 5 grep -q '^Name:[[:space:]]*plain-static' "/proc/$pid/status"
expect_status_ 0 as_user_ bin/contmig freeze -o u/d.img "$pid"
# Its own receiver may make no time namespace: the machine's clocks, said so.
expect_status_ 0 as_user_ bin/contmig thaw --detach --progress --stdout /dev/null \
	--stderr /dev/null u/d.img
new=$(cat out)
started_pids="$started_pids $new"
grep -q "the copy has less than its source: it runs on this machine's CLOCK_MONOTONIC and" \
	err && grep -q "making it a time namespace takes root" err ||
	fail_ "an unprivileged receiver says nothing of the clocks: $(cat err)"
grep -q 'clocks continued' err && fail_ "an unprivileged receiver: $(cat err)"
kill "$new"
# Root's receiver makes the namespace, then drops to the user, who cannot
# change its offsets.
expect_status_ 0 "$CONTMIG" thaw --detach --progress --stdout d.after u/d.img
new=$(cat out)
started_pids="$started_pids $new"
grep -q "clocks continued (+$ahead_mono.0 s)" err || fail_ "root receiver: $(cat err)"
own_namespace_ "$new"
[ "$(offsets_ "$new")" = "$ahead_mono 0 $ahead_boot 0" ] ||
	fail_ "root receiver: the copy's offsets are $(offsets_ "$new")"
grep -q "^Uid:[[:space:]]*$(id -u "$user")[[:space:]]" "/proc/$new/status" ||
	fail_ "root receiver: the copy does not run as $user: $(grep Uid "/proc/$new/status")"
as_ "$user" sh -c "echo '1 5 0' > /proc/$new/timens_offsets" 2> /dev/null &&
	fail_ "the user changed the copy's time namespace offsets"
[ "$(offsets_ "$new")" = "$ahead_mono 0 $ahead_boot 0" ] || fail_ "the offsets changed"
wait_for_ 5 file_has_lines_ d.after 2
kill "$new"
# The user's note forged to put its copy's clocks behind this machine's:
# root's receiver makes it no namespace (whoever wrote the image would
# choose the time its set-user-ID programs see), and says why.
expect_status_ 0 "$CONTMIG" inspect --json u/d.img
hexes=$(python3 - out <<'PY'
import json, sys, uuid
c = json.load(open(sys.argv[1]))["clocks"]
le = lambda v: (v & (2**64 - 1)).to_bytes(8, "little").hex()
boot = uuid.UUID(c["boot_id"]).bytes.hex()
mono, btime, ns = c["monotonic_ns"], c["boottime_ns"], c["namespace"]
print(le(mono) + le(btime) + le(ns["monotonic_ns"]) + le(ns["boottime_ns"]) + boot,
      le(mono) + le(btime) + le(-(mono // 2)) + le(0) + boot)
PY
) || framework_failure_ "reading the user's clocks note"
read -r note behind <<< "$hexes"
"$patch" u/d.img behind.img "$note" "$behind" || framework_failure_ "patch-image behind.img"
expect_status_ 0 "$CONTMIG" thaw --detach --progress --stdout /dev/null behind.img
new=$(cat out)
started_pids="$started_pids $new"
grep -q "they would be behind this machine's, and it runs as another user" err ||
	fail_ "root receiver of a note behind: $(cat err)"
[ "$(readlink "/proc/$new/ns/time")" = "$(readlink /proc/self/ns/time)" ] ||
	fail_ "root receiver of a note behind: the copy is in a time namespace ($(offsets_ "$new"))"
kill "$new"
# Root's own process, behind in a namespace of its own, thawed by root --as
# the user: the copy lacks root's capabilities and its clocks, and the one
# line that says so is whole (counted, the capabilities leave it room).
start_ unshare --time --monotonic -1000 --boottime -1000 -- bin/plain-static > e.before
wait_for_ 5 file_has_lines_ e.before 3
wait_for_ 5 grep -q '^Name:[[:space:]]*plain-static' "/proc/$pid/status"
expect_status_ 0 "$CONTMIG" freeze -o e.img "$pid"
expect_status_ 0 "$CONTMIG" thaw --detach --as "$user" --stdout /dev/null e.img
new=$(cat out)
started_pids="$started_pids $new"
grep -q "capabilities its source had" err &&
	grep -q "CLOCK_BOOTTIME, not its source's: they would be behind this machine's, and it runs as another user (the image would choose the time its set-user-ID programs see)$" err ||
	fail_ "root's image thawed --as $user: $(cat err)"
kill "$new"
exit 0
