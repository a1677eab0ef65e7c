#!/bin/bash
# Seccomp travels: a process in a seccomp sandbox (one filter, or a chain of
# two) moved by file, by pipe or by send goes on in its copy with the same
# filters (/proc says so, and the program checks that its calls still fail);
# a filter the kernel refuses in the copy fails the restore, saying so, and a
# sender's source runs on; a filter with a listener is refused by name; a
# non-root check, freeze or send of a filtered process refuses it and leaves
# it running; inspect shows the filters; contmig run's own filter is not
# carried.
. "$srcdir/tests/init.sh"
private_net_
new_user_ alice
port=7790
prog=$builddir/tests/sandboxed
patch=$builddir/tests/patch-image

# seccomp_of_ PID: its Seccomp: and Seccomp_filters: lines, on one line.
seccomp_of_() { grep -E '^Seccomp(_filters)?:' "/proc/$1/status" | tr -s ' \t' '  ' | tr '\n' ' '; }
# sandboxed_ PID N: PID runs with N filters.
sandboxed_()
{
	[ "$(seccomp_of_ "$1")" = "Seccomp: 2 Seccomp_filters: $2 " ] ||
		fail_ "PID $1 is not in its sandbox of $2 filters: $(seccomp_of_ "$1")"
}
# start_sandboxed_ OUT [ARGS]: the program, its sandbox set up; PID in $pid.
start_sandboxed_()
{
	local out=$1
	shift
	start_ "$prog" "$@" > "$out"
	wait_for_ 5 grep -q '^ready' "$out"
}
# goes_on_ PID OUT: PID prints two more "ok" lines to OUT: its calls still
# fail (without its filters it exits 5 at its next check).
goes_on_()
{
	local n i=0
	n=$(wc -l < "$2")
	until file_has_lines_ "$2" $((n + 2)); do
		alive_ "$1" || fail_ "PID $1 ended (its sandbox gone?) after: $(tail -n 1 "$2")"
		i=$((i + 1))
		[ "$i" -le 100 ] || fail_ "PID $1 printed nothing more in 5 s"
		sleep 0.05
	done
	tail -n 1 "$2" | grep -q '^ok ' || fail_ "PID $1 printed: $(tail -n 1 "$2")"
}

# --- by file, one filter and a chain of two; inspect shows them ----------
for n in 1 2; do
	start_sandboxed_ before$n $n
	sandboxed_ "$pid" $n
	expect_status_ 0 "$CONTMIG" freeze -o img$n "$pid"
	expect_status_ 0 "$CONTMIG" inspect img$n
	grep -q "^seccomp: *filter mode, $n filters\? (oldest first); no_new_privs\$" out ||
		fail_ "inspect shows no seccomp line: $(grep -A2 seccomp out)"
	# (The second filter has 9: getpid answers EACCES while it is the newest.)
	grep -q '^  #0  *7 instructions$' out && { [ $n = 1 ] ||
		grep -q '^  #1  *9 instructions$' out; } ||
		fail_ "inspect shows other filters: $(grep -A2 seccomp out)"
	expect_status_ 0 "$CONTMIG" inspect --json img$n
	python3 - out $n <<'PY' || fail_ "inspect --json: $(cat out)"
import json, sys
s = json.load(open(sys.argv[1]))["seccomp"]
assert s["mode"] == "filter" and s["no_new_privs"], s
assert [f["instructions"] for f in s["filters"]] == [7, 9][:int(sys.argv[2])], s
PY
	expect_status_ 0 "$CONTMIG" thaw --detach --stdout after$n img$n
	new=$(cat out)
	sandboxed_ "$new" $n
	goes_on_ "$new" after$n
	kill "$new"
done

# Strict mode travels too: the copy runs in it (/proc shows it).
start_sandboxed_ strict.before strict
expect_status_ 0 "$CONTMIG" freeze -o strict.img "$pid"
expect_status_ 0 "$CONTMIG" inspect strict.img
grep -q '^seccomp: *strict mode$' out || fail_ "inspect: $(grep seccomp out)"
expect_status_ 0 "$CONTMIG" thaw --detach --stdout strict.after strict.img
new=$(cat out)
[ "$(seccomp_of_ "$new")" = "Seccomp: 1 Seccomp_filters: 0 " ] ||
	fail_ "the copy is not in strict mode: $(seccomp_of_ "$new")"
goes_on_ "$new" strict.after
kill -9 "$new"

# --- by pipe --------------------------------------------------------------
start_sandboxed_ before 2
"$CONTMIG" freeze -o - "$pid" | "$CONTMIG" thaw - > after &
thaw=$!
started_pids="$started_pids $thaw"
wait_for_ 5 eval '[ -n "$(copies_)" ]'
new=$(copies_)
goes_on_ "$new" after
sandboxed_ "$new" 2
kill -TERM "$thaw"

# --- by send to a root listener -------------------------------------------
listen_ l1 $port
start_sandboxed_ before 2
expect_status_ 0 "$CONTMIG" send "$pid" 127.0.0.1:$port
read -r new dest < out
goes_on_ "$new" l1.out
sandboxed_ "$new" 2
kill "$new"

# A filter that answers seccomp() itself, judging where the program it is
# given lies, takes the second filter's install for its own: the copy would
# have one filter of two.  The receiver looks, and refuses; the source runs on.
start_ "$builddir/tests/seccomp-evade" > evade.out
wait_for_ 5 grep -q '^ready' evade.out
expect_status_ 71 "$CONTMIG" send "$pid" 127.0.0.1:$port
grep -q "the copy has seccomp mode 2 with 1 filter, not its source's mode 2 with 2" err ||
	fail_ "a filter that answers for the kernel: $(cat err)"
running_untraced_ "$pid"
wait_for_ 5 eval '[ "$(grep -c "^ok" evade.out)" -ge 2 ]'
! grep -q 'SANDBOX GONE' evade.out || fail_ "the source lost its sandbox: $(cat evade.out)"
kill "$pid"

# --- contmig run's own filter stays behind --------------------------------
# Under run the program has run's filter too, three in all; its copy has its
# own two.  A non-root run moves a program with run's filter alone, and
# refuses one with its own (sys_migrate fails with EBUSY, and it runs on).
listen_ l3 $((port + 2))
start_ "$CONTMIG" run -- "$prog" 2 migrate 127.0.0.1:$((port + 2)) > r.out
wait_for_ 5 grep -q '^sys_migrate returned 0$' l3.out
new=$(sed -n 's/.*-> PID \([0-9]*\): running.*/\1/p' l3)
goes_on_ "$new" l3.out
sandboxed_ "$new" 2
kill "$new"
# (A root receiver takes another user's sender by key.)
mkdir bin "$alice" && cp "$CONTMIG" "$prog" bin/ && chmod 755 bin bin/* &&
	"$CONTMIG" keygen key > /dev/null && cp key "$alice/key" &&
	chown -R "$alice:$alice" "$alice" || framework_failure_ "bin"
listen_ l4 $((port + 3)) --key key
start_ setpriv --reuid="$alice" --regid="$alice" --init-groups -- \
	env CONTMIG_STATE_DIR="$tmp/$alice" bin/contmig run --key "$alice/key" -- \
	bin/sandboxed 0 migrate 127.0.0.1:$((port + 3)) > r0.out
wait_for_ 5 grep -q '^sys_migrate returned 0$' l4.out
new=$(sed -n 's/.*-> PID \([0-9]*\): running.*/\1/p' l4)
[ "$(seccomp_of_ "$new")" = "Seccomp: 0 Seccomp_filters: 0 " ] ||
	fail_ "the copy of a non-root run has run's filter: $(seccomp_of_ "$new")"
kill "$new"
start_ setpriv --reuid="$alice" --regid="$alice" --init-groups -- \
	env CONTMIG_STATE_DIR="$tmp/$alice" bin/contmig run --key "$alice/key" -- \
	bin/sandboxed 1 migrate 127.0.0.1:$((port + 3)) > r1.out 2> r1.err
wait_for_ 5 grep -q '^sys_migrate returned -16$' r1.out
grep -q "2 seccomp filters: only a freeze with CAP_SYS_ADMIN" r1.err || fail_ "run: $(cat r1.err)"
goes_on_ "$pid" r1.out

# --- the copy cannot have its filters: the restore fails, saying why -------
# The kernel refuses an instruction no BPF has: thaw exits 71, leaves nothing.
"$patch" img1 bad.img 00000000070000002000000004000000 \
	0000000007000000ffff000004000000 || framework_failure_ "patch-image"
expect_status_ 71 "$CONTMIG" thaw --detach bad.img
one_error_line_ "a filter the kernel refuses"
grep -q 'installing seccomp filter 1 of 1 (7 instructions): Invalid argument' err ||
	fail_ "the refusal: $(cat err)"
[ "$(stub_processes_)" -eq 0 ] || fail_ "a failed restore left $(stub_processes_) behind"
# Root's process without no_new_privs, received as alice, who may not
# install filters: the receiver refuses it before READY, and it runs on.
listen_ l2 $((port + 1)) --as "$alice"
start_sandboxed_ before 1 privileged
sandboxed_ "$pid" 1
expect_status_ 71 "$CONTMIG" send "$pid" 127.0.0.1:$((port + 1))
grep -q 'installing seccomp filter 1 of 1 (7 instructions): Permission denied' err ||
	fail_ "the sender's refusal: $(cat err)"
running_untraced_ "$pid"
goes_on_ "$pid" before
kill "$pid"

# A filter that answers to a listener (SECCOMP_RET_USER_NOTIF) is refused
# by name: a copy cannot have the listener.
"$patch" img1 notif.img 060000000000ff7f 060000000000c07f || framework_failure_ "patch-image"
expect_status_ 67 "$CONTMIG" thaw --detach notif.img
one_error_line_ "a filter with a listener"
grep -q 'seccomp filter 0 returns SECCOMP_RET_USER_NOTIF' err || fail_ "the refusal: $(cat err)"

# A live one is refused at the freeze, by name, and runs on.
start_sandboxed_ notify.out notify
expect_status_ 65 "$CONTMIG" freeze -o notify.img "$pid"
one_error_line_ "freezing a filter with a listener"
grep -q 'no image can carry it: seccomp filter 0 returns SECCOMP_RET_USER_NOTIF' err ||
	fail_ "the refusal: $(cat err)"
running_untraced_ "$pid"
goes_on_ "$pid" notify.out
kill "$pid"

# --- without CAP_SYS_ADMIN the filters cannot be read: refused, it runs on -
start_ setpriv --reuid="$alice" --regid="$alice" --init-groups -- bin/sandboxed 2 > a.out
wait_for_ 5 grep -q '^ready' a.out
sandboxed_ "$pid" 2
expect_status_ 65 as_ "$alice" bin/contmig check "$pid"
grep -q '^  FAIL  seccomp .*2 seccomp filters: only a freeze with CAP_SYS_ADMIN' out ||
	fail_ "check: $(cat out)"
for cmd in "freeze -o $tmp/$alice/img" "send" "send --via true"; do
	case $cmd in send*) args="$pid 127.0.0.1:$port" ;; *) args=$pid ;; esac
	expect_status_ 65 as_ "$alice" env CONTMIG_STATE_DIR="$tmp/$alice" bin/contmig $cmd $args
	one_error_line_ "$cmd"
	grep -q "2 seccomp filters: only a freeze with CAP_SYS_ADMIN (root), itself under no seccomp, can read them" err ||
		fail_ "$cmd: $(cat err)"
	running_untraced_ "$pid"
done
[ ! -e "$alice/img" ] || fail_ "a refused freeze wrote an image"
goes_on_ "$pid" a.out
