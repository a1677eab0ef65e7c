#!/bin/bash
# Restrictions travel (contmig(1), Restrictions): a process's capability
# sets, no_new_privs, personality and resource limits are its copy's, moved
# by file, by pipe and by send to a root listener; a receiver that cannot
# give the copy no more than its source had refuses the move by name (the
# sender's source runs on); a receiver that is not root gives its copy
# nothing more than its source had; inspect shows them.
. "$srcdir/tests/init.sh"
private_net_
new_user_ alice
port=7790
counter=$builddir/tests/counter

mkdir bin && cp "$CONTMIG" "$counter" bin/ && chmod 755 bin bin/* || framework_failure_ "bin"
mkdir -p "$alice/state" && chown -R "$alice:$alice" "$alice" && chmod 700 "$alice" "$alice/state" ||
	framework_failure_ "$alice's directories"
as_user_() { as_ "$1" env CONTMIG_STATE_DIR="$tmp/$1/state" "${@:2}"; }

# A command run after these: no address randomisation, no core files, at
# most 100 (soft) and 200 (hard) open files and no new privileges.
restricted=(setarch -R prlimit --core=0 --nofile=100:200 setpriv --no-new-privs --)
# root_counter_ OUT: a root counter restricted so, with only the kill and
# net_bind_service capabilities in its bounding, permitted and effective
# sets, kill inheritable and ambient; its PID in $pid.
root_counter_()
{
	start_ "${restricted[@]}" setpriv --bounding-set -all,+kill,+net_bind_service \
		--inh-caps -all,+kill --ambient-caps -all,+kill -- bin/counter > "$1"
	wait_for_ 5 grep -q '^Name:[[:space:]]*counter' "/proc/$pid/status"
	wait_for_ 5 file_has_lines_ "$1" 1
}

# restrictions_ PID: what a copy must keep of its source's.
restrictions_()
{
	grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs):' "/proc/$1/status"
	cat "/proc/$1/personality"
	# The limits, not the units column.
	cut -c1-60 "/proc/$1/limits"
}
# same_restrictions_ WHAT WANT PID: PID's restrictions are WANT.
same_restrictions_()
{
	restrictions_ "$3" > have
	diff -u "$2" have >&2 || fail_ "$1: the copy's restrictions differ from its source's"
}
end_() { kill -9 "$@" 2> /dev/null; }

# --- by file ----------------------------------------------------------------
root_counter_ before
restrictions_ "$pid" > want
grep -q '^CapAmb:[[:space:]]*0*20$' want && grep -q '^NoNewPrivs:[[:space:]]*1$' want &&
	grep -qx 00040000 want || framework_failure_ "setpriv/setarch did not restrict: $(cat want)"
expect_status_ 0 "$CONTMIG" freeze -o r.img "$pid"
expect_status_ 0 "$CONTMIG" inspect r.img
grep -q '^restricted: capabilities effective 0x420 permitted 0x420 inheritable 0x20 bounding 0x420 ambient 0x20; no_new_privs 1; personality 0x40000; securebits unknown$' out ||
	fail_ "inspect: $(grep -A1 '^restricted:' out)"
grep -q '^limits: .* core 0/0 .* nofile 100/200 ' out || fail_ "inspect: $(grep '^limits:' out)"
expect_status_ 0 "$CONTMIG" inspect --json r.img
python3 - out <<'PY' || fail_ "inspect --json: $(cat out)"
import json, sys
r = json.load(open(sys.argv[1]))["restrictions"]
assert r["capabilities"]["ambient"] == "0x20" and r["no_new_privs"] is True, r
assert r["personality"] == "0x40000" and r["securebits"] is None, r
assert r["resource_limits"]["nofile"] == {"soft": 100, "hard": 200}, r
PY
expect_status_ 0 "$CONTMIG" thaw --detach --stdout after r.img
new=$(cat out)
[ ! -s err ] || fail_ "thaw said: $(cat err)"
same_restrictions_ "thaw IMAGE" want "$new"
wait_for_ 5 file_has_lines_ after 2
end_ "$new"

# --- forged and older images ---------------------------------------------------
patch=$builddir/tests/patch-image
# The note's fixed part as freeze wrote it: flags, 16 limits, the sets.
# (Little-endian: 0x420 is 2004000000000000.)
rec=0f00000010000000200400000000000020040000000000002000000000000000
rec=${rec}20040000000000002000000000000000
# An effective capability outside the permitted set: no process has that.
"$patch" r.img forged.img "$rec" "${rec/#0f0000001000000020/0f0000001000000021}" ||
	framework_failure_ "patch-image forged.img"
expect_status_ 67 "$CONTMIG" thaw --detach forged.img
grep -q "restrictions note: capabilities no process can have" err || fail_ "forged: $(cat err)"
# Unknown flags.
"$patch" r.img forged2.img "$rec" "${rec/#0f/4f}" || framework_failure_ "patch-image forged2.img"
expect_status_ 67 "$CONTMIG" inspect forged2.img
grep -q "restrictions note: unknown flags" err || fail_ "forged2: $(cat err)"
# An image without the note (as an older contmig wrote it: here the note
# turned into one of a type no reader knows) is restored with nothing to
# impose, and inspect says so.
"$patch" r.img old.img 0800000039010000""08004d43 0800000039010000""77004d43 ||
	framework_failure_ "patch-image old.img"
expect_status_ 0 "$CONTMIG" inspect old.img
grep -q '^restricted: unknown' out || fail_ "inspect old.img: $(grep '^restricted' out)"
expect_status_ 0 "$CONTMIG" thaw --detach old.img
[ ! -s err ] || fail_ "thaw old.img said: $(cat err)"
grep -q "^CapEff:[[:space:]]*$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/self/status)\$" \
	"/proc/$(cat out)/status" || fail_ "old.img: $(grep Cap "/proc/$(cat out)/status")"
end_ "$(cat out)"

# --- by pipe ----------------------------------------------------------------
root_counter_ before
restrictions_ "$pid" > want
"$CONTMIG" freeze -o - "$pid" | "$CONTMIG" thaw --detach --stdout after - > out ||
	fail_ "freeze -o - | thaw -"
same_restrictions_ "thaw -" want "$(cat out)"
end_ "$(cat out)"

# --- by send to a root listener -----------------------------------------------
listen_ l1 $port
root_counter_ before
restrictions_ "$pid" > want
expect_status_ 0 "$CONTMIG" send "$pid" 127.0.0.1:$port
read -r new dest < out
same_restrictions_ "send" want "$new"
end_ "$new"
stop_ "$listener"

# --- a receiver that cannot give the source's capabilities refuses ------------
# A root receiver without kill in its bounding set has no kill to give: the
# copy would have less, and silently so; refused, by name.
root_counter_ before
expect_status_ 0 "$CONTMIG" freeze --leave-running -o k.img "$pid"
expect_status_ 71 setpriv --bounding-set -kill -- "$CONTMIG" thaw --detach k.img
one_error_line_ "thaw without kill"
grep -q "restrictions: .*capabilities" err || fail_ "thaw without kill: $(cat err)"
[ "$(stub_processes_)" -eq 0 ] || fail_ "a refused thaw left a restorer"
# On the wire: a REFUSAL_RESTORE with the why, before READY: the source runs on.
setpriv --bounding-set -kill -- "$CONTMIG" thaw --listen $port > l2.out 2> l2 &
listener=$!
started_pids="$started_pids $listener"
wait_for_ 5 grep -qs 'thaw: listening on' l2
expect_status_ 71 "$CONTMIG" send "$pid" 127.0.0.1:$port
grep -q "restrictions: .*capabilities" err || fail_ "send to a listener without kill: $(cat err)"
running_untraced_ "$pid"
n=$(wc -l < before)
wait_for_ 5 file_has_lines_ before $((n + 2))
stop_ "$listener"
end_ "$pid"

# --- a receiver that is not root ----------------------------------------------
# alice's restricted counter, thawed by alice: the same restrictions, and
# no capability.
start_ setpriv --reuid="$alice" --regid="$alice" --init-groups -- "${restricted[@]}" bin/counter > a.out
wait_for_ 5 grep -q '^Name:[[:space:]]*counter' "/proc/$pid/status"
restrictions_ "$pid" > want
as_user_ "$alice" bin/contmig freeze -q -o "$alice/a.img" "$pid" || fail_ "$alice's freeze"
as_user_ "$alice" bin/contmig thaw --detach "$alice/a.img" > out 2> err ||
	fail_ "$alice's thaw: $(cat err)"
[ ! -s err ] || fail_ "$alice's thaw said: $(cat err)"
same_restrictions_ "$alice's thaw" want "$(cat out)"
end_ "$(cat out)"
# Under a lower hard limit than its source's, its copy has the lower one,
# and is told so; never more.
start_ setpriv --reuid="$alice" --regid="$alice" --init-groups -- "${restricted[@]}" bin/counter > a.out
wait_for_ 5 grep -q '^Name:[[:space:]]*counter' "/proc/$pid/status"
as_user_ "$alice" bin/contmig freeze -q -o "$alice/b.img" "$pid" || fail_ "$alice's freeze"
as_user_ "$alice" prlimit --nofile=50:60 bin/contmig thaw --detach "$alice/b.img" > out 2> err ||
	fail_ "$alice's thaw under a lower limit: $(cat err)"
one_error_line_ "$alice's thaw under a lower limit"
grep -q "nofile limit is 60/60, below its source's" err || fail_ "the warning: $(cat err)"
grep -q '^Max open files  *60  *60 ' "/proc/$(cat out)/limits" ||
	fail_ "the copy's open files: $(grep 'open files' "/proc/$(cat out)/limits")"
end_ "$(cat out)"

# --- a root receiver, a copy that does not run as root ------------------------
# alice's counter with a bounding set of kill only: root's copy of it runs as
# alice, kept in that bounding set (which alice could not drop to herself).
start_ setpriv --bounding-set -all,+kill --reuid="$alice" --regid="$alice" --init-groups -- \
	"${restricted[@]}" bin/counter > a.out
wait_for_ 5 grep -q '^Name:[[:space:]]*counter' "/proc/$pid/status"
restrictions_ "$pid" > want
grep -q '^CapBnd:[[:space:]]*0*20$' want || framework_failure_ "setpriv: $(cat want)"
expect_status_ 0 "$CONTMIG" freeze -o c.img "$pid"
expect_status_ 0 "$CONTMIG" thaw --detach c.img
same_restrictions_ "root's thaw of $alice's" want "$(cat out)"
end_ "$(cat out)"
# alice cannot cut a bounding set: her own thaw of it is refused, by name.
chown "$alice" c.img || framework_failure_ "chown c.img"
as_user_ "$alice" bin/contmig thaw --detach "$tmp/c.img" > out 2> err &&
	fail_ "$alice's thaw of a copy with a cut bounding set: $(cat out)"
one_error_line_ "$alice's thaw of a cut bounding set"
grep -q "holds bounding capabilities its source had not" err || fail_ "$alice's thaw: $(cat err)"
# alice's counter with the ambient capability kill: its copy, running as
# alice, has none (only a copy running as root gets any), said by name.
start_ setpriv --reuid="$alice" --regid="$alice" --init-groups --inh-caps -all,+kill \
	--ambient-caps -all,+kill -- bin/counter > a.out
wait_for_ 5 grep -q '^Name:[[:space:]]*counter' "/proc/$pid/status"
grep -q '^CapAmb:[[:space:]]*0*20$' "/proc/$pid/status" || framework_failure_ "setpriv --ambient-caps"
expect_status_ 0 "$CONTMIG" freeze -o d.img "$pid"
expect_status_ 0 "$CONTMIG" thaw --detach d.img
one_error_line_ "a copy without its source's ambient kill"
grep -q "without the capabilities its source had (kill)" err || fail_ "the warning: $(cat err)"
[ "$(grep -cE '^Cap(Inh|Prm|Eff|Amb):[[:space:]]*0+$' "/proc/$(cat out)/status")" -eq 4 ] ||
	fail_ "the copy has capabilities: $(grep Cap "/proc/$(cat out)/status")"
end_ "$(cat out)"

# What a copy could not be shown to keep is refused by name, before the
# process stops: capabilities of a user namespace of its own (real ones in
# the copy's), and a root process kept below its bounding set only by
# securebits (back to full root at its next execve in the copy).
for how in "unshare -U --map-root-user" "setpriv --securebits +noroot,+noroot_locked"; do
	start_ $how "$builddir/tests/counter" > ns.out
	wait_for_ 5 file_has_lines_ ns.out 2
	expect_status_ 65 "$CONTMIG" freeze -o ns.img "$pid"
	case $how in
	unshare*) want="holds capabilities in a user namespace of its own" ;;
	*) want="runs as root with fewer capabilities than its bounding set allows" ;;
	esac
	grep -q "$want" err || fail_ "$how: $(cat err)"
	running_untraced_ "$pid"
	[ ! -e ns.img ] || fail_ "$how: an image was written"
	kill -9 "$pid"
done
exit 0
