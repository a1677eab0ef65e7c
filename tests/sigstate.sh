#!/bin/bash
# Signal actions, the alternate signal stack and interval timers travel
# (contmig(1), Signals and timers).  After a move by file, by pipe, by send
# with a key and by contmig run, the copy's handlers run (SIGUSR1; SIGUSR2 on
# its alternate stack; SIGTRAP and SIGSEGV, whose actions the restorer's own
# traps and last fault would reset), SIGPIPE and SIGHUP stay ignored and its
# interval timer keeps firing, also one that expired while the source was
# stopped, or that fired while the restorer worked; inspect shows them all,
# and notes no kernel could have written are refused.  The source is read,
# not changed: one left running, or whose move the receiver refuses (in
# read(2), in nanosleep(2), under run), keeps its handlers, its timer, an
# ignored SIGTRAP and the call it was blocked in; a contmig killed while it
# is asked leaves it so too; actions changed meanwhile are asked again; one
# in seccomp strict mode is asked only by root (for anyone else, refused
# before it stops).  Ordinary programs too: glibc's (tests/plain) SIGUSR1
# handler and ITIMER_REAL, by file, pipe and send; Rust's stack overflow
# handler, on its alternate stack.  A process with a POSIX timer is refused
# by name by check, freeze, send and run, and runs on untraced.
. "$srcdir/tests/init.sh"
private_net_
prog=$builddir/tests/handlers
port=7791

# start_handlers_ OUT [ARGS]: the program, its handlers set; PID in $pid.
start_handlers_()
{
	local out=$1
	shift
	start_ "$prog" "$@" > "$out"
	wait_for_ 5 grep -q '^ready' "$out"
}

# ticks_ OUT: how many "ticks" lines OUT has (one every 25 SIGALRM).
ticks_() { grep -c '^ticks' "$1"; }

# saw_ PID OUT LINE: OUT has LINE; the test fails at once if PID died.
saw_()
{
	grep -qx "$3" "$2" && return 0
	alive_ "$1" || fail_ "PID $1 died before saying '$3': $(tail -n 3 "$2" | tr '\n' ' ')"
	return 1
}

# send_signals_ PID: one of each signal it handles or ignores.
send_signals_()
{
	local sig
	for sig in USR1 USR2 TRAP SEGV PIPE HUP; do
		kill -"$sig" "$1" || fail_ "PID $1 is gone before SIG$sig"
	done
}

# handled_ PID OUT [N]: each handler of PID ran (the Nth time, 1 if not
# said), SIGUSR2's on the alternate stack; SIGPIPE and SIGHUP left it
# running; nothing went wrong; its timer goes on ticking from T ticks.
handled_()
{
	local p=$1 out=$2 n=${3:-1} t sig
	t=$(ticks_ "$out")
	for sig in 'SIGUSR1' 'SIGUSR2 on the alternate stack' 'SIGTRAP' 'SIGSEGV'; do
		wait_for_ 5 saw_ "$p" "$out" "$sig $n"
	done
	wait_for_ 5 eval '[ "$(ticks_ "$out")" -ge $((t + 2)) ]'
	alive_ "$p" || fail_ "PID $p ended (an ignored signal no longer is?): $(tail -n 3 "$out")"
	! grep -q 'off the alternate stack\|no SIGALRM\|nanosleep' "$out" ||
		fail_ "PID $p: $(grep 'off the alternate stack\|no SIGALRM\|nanosleep' "$out")"
}

# signals_reach_ PID OUT [N]: send_signals_, then handled_.
signals_reach_()
{
	send_signals_ "$1"
	handled_ "$@"
}

# --- by file; inspect shows what travels ----------------------------------
start_handlers_ before
expect_status_ 0 "$CONTMIG" freeze -o h.img "$pid"
expect_status_ 0 "$CONTMIG" inspect h.img
grep -q '^handlers: *9 signals$' out || fail_ "inspect: $(grep -A10 '^handlers' out)"
grep -Eq '^  SIGUSR2  *0x[0-9a-f]+  flags 0x1c000000 \(restorer,onstack,restart\)  mask 0  restorer 0x[0-9a-f]+$' out &&
	grep -Eq '^  SIGPIPE  *ignored$' out && grep -Eq '^  SIGTRAP  *0x[0-9a-f]+  flags' out ||
	fail_ "inspect shows other actions: $(grep -A10 '^handlers' out)"
grep -Eq '^altstack: *0x[0-9a-f]+, 16.0 KiB$' out || fail_ "inspect: $(grep altstack out)"
# (Or expired: the freeze may take longer than a tick.)
grep -Eq '^timers: *real (0\.0[0-9]{5} s left|expired, its SIGALRM not yet taken), every 0\.020000 s$' out ||
	fail_ "inspect: $(grep timers out)"
expect_status_ 0 "$CONTMIG" inspect --json h.img
python3 - out <<'PY' || fail_ "inspect --json: $(cat out)"
import json, sys
j = json.load(open(sys.argv[1]))
acts = {a["name"]: a for a in j["signal_actions"]}
assert acts["SIGPIPE"]["ignored"] and not acts["SIGUSR1"]["ignored"], acts
assert acts["SIGUSR2"]["flags"] == "0x1c000000", acts["SIGUSR2"]
assert j["altstack"]["size"] == 16384 and not j["altstack"]["autodisarm"], j["altstack"]
real = j["timers"][0]
assert real["timer"] == "real" and real["interval"] == 0.02, real
assert not j["timers"][1]["armed"] and not j["timers"][2]["armed"], j["timers"]
PY
expect_status_ 0 "$CONTMIG" thaw --detach --stdout after h.img
new=$(cat out)
signals_reach_ "$new" after
kill -9 "$new"
# Notes no kernel could have written are refused, in one line, and nothing
# runs: an action for SIGSTOP (SIGUSR2's record, renumbered 19), a timer of
# a million microseconds.
usr2=$(python3 -c 'import json, struct, sys
a = [a for a in json.load(sys.stdin)["signal_actions"] if a["name"] == "SIGUSR2"][0]
print(struct.pack("<IIQQ", 12, 0, int(a["handler"], 16), int(a["flags"], 16)).hex())' \
	< <("$CONTMIG" inspect --json h.img))
"$builddir/tests/patch-image" h.img stop-action.img "$usr2" "13${usr2:2}" ||
	framework_failure_ "patch-image"
expect_status_ 67 "$CONTMIG" thaw --detach stop-action.img
one_error_line_ "an action for SIGSTOP"
grep -q 'signal action [0-9]*: signal 19, .*not an action a process can have' err ||
	fail_ "an action for SIGSTOP: $(cat err)"
"$builddir/tests/patch-image" h.img long-timer.img 0000000000000000204e000000000000 \
	000000000000000040420f0000000000 || framework_failure_ "patch-image"
expect_status_ 67 "$CONTMIG" thaw --detach long-timer.img
one_error_line_ "a timer of a million microseconds"
grep -q 'timers note: timer 0 has a time no timer has' err || fail_ "a long timer: $(cat err)"
[ "$(stub_processes_)" -eq 0 ] || fail_ "a refused thaw left a process behind"

# A process stopped long enough for its timer to expire: the kernel re-arms
# an ITIMER_REAL only once its SIGALRM is taken, so the timer reads as
# expired; its copy, continued, ticks on.
start_handlers_ before
kill -STOP "$pid"
sleep 0.2
expect_status_ 0 "$CONTMIG" freeze -o expired.img "$pid"
expect_status_ 0 "$CONTMIG" inspect expired.img
grep -q '^timers: *real expired, its SIGALRM not yet taken, every 0.020000 s$' out ||
	fail_ "inspect: $(grep timers out)"
expect_status_ 0 "$CONTMIG" thaw --detach --stdout expired.after expired.img
new=$(cat out)
kill -CONT "$new"
signals_reach_ "$new" expired.after
kill -9 "$new"

# Its timer fires while the restorer still works (held here 0.3 s, after
# the timers are set): the tick waits, pending, and the copy takes it.
start_handlers_ before
expect_status_ 0 "$CONTMIG" freeze -o held.img "$pid"
CONTMIG_TEST_HOOK=restore-timers-set CONTMIG_TEST_HOOK_UNTIL=$tmp/go-on3 \
	"$CONTMIG" thaw --detach --stdout held.after held.img > held.pid 2> held.err &
thaw=$!
wait_for_ 10 grep -qs 'test point restore-timers-set reached' held.err
sleep 0.3
new=$(copies_)
grep -Eq '^ShdPnd:.*[2367abef][0-9a-f]{3}$' "/proc/$new/status" ||
	grep -Eq '^SigPnd:.*[2367abef][0-9a-f]{3}$' "/proc/$new/status" ||
	fail_ "no SIGALRM pending in the restorer: $(grep Pnd "/proc/$new/status")"
touch go-on3
wait "$thaw" || fail_ "thaw exited $?: $(cat held.err)"
signals_reach_ "$new" held.after
kill -9 "$new"

# --- by pipe --------------------------------------------------------------
start_handlers_ before
"$CONTMIG" freeze -o - "$pid" | "$CONTMIG" thaw - > piped &
thaw=$!
started_pids="$started_pids $thaw"
wait_for_ 5 eval '[ -n "$(copies_)" ]'
signals_reach_ "$(copies_)" piped
kill -9 "$(copies_)"
wait "$thaw" 2> /dev/null

# --- by send, with a key --------------------------------------------------
"$CONTMIG" keygen key > /dev/null || framework_failure_ "keygen"
listen_ l1 $port --key key
start_handlers_ before
expect_status_ 0 "$CONTMIG" send --key key "$pid" 127.0.0.1:$port
read -r new dest < out
! alive_ "$pid" || fail_ "send: the source runs on after its move"
signals_reach_ "$new" l1.out
kill -9 "$new"
stop_ "$listener"

# --- by contmig run: from its stop at sys_migrate -------------------------
listen_ l2 $port --key key
start_ "$CONTMIG" run --key key -- "$prog" migrate 127.0.0.1:$port > run.out 2> run.err
wait_for_ 10 grep -qx 'sys_migrate returned 0' l2.out
wait_for_ 5 eval '[ "$(copies_ | wc -l)" -eq 1 ]'
signals_reach_ "$(copies_)" l2.out
kill -9 "$(copies_)"
stop_ "$listener"

# --- the source is only read ----------------------------------------------
# One that ignores SIGTRAP still does after freeze --leave-running (a
# single-step's trap would have reset it), and so does its copy.
start_ bash -c "trap '' TRAP; exec '$builddir/tests/counter'" > counting
wait_for_ 5 file_has_lines_ counting 2
grep -q '^SigIgn:.*[13579bdf]0$' "/proc/$pid/status" ||
	framework_failure_ "SIGTRAP is not ignored: $(grep SigIgn "/proc/$pid/status")"
expect_status_ 0 "$CONTMIG" freeze --leave-running -o ign.img "$pid"
grep -q '^SigIgn:.*[13579bdf]0$' "/proc/$pid/status" ||
	fail_ "the source no longer ignores SIGTRAP: $(grep SigIgn "/proc/$pid/status")"
kill -TRAP "$pid"
n=$(wc -l < counting)
wait_for_ 5 file_has_lines_ counting $((n + 2))
running_untraced_ "$pid"
kill -9 "$pid"
expect_status_ 0 "$CONTMIG" thaw --detach ign.img
new=$(cat out)
grep -q '^SigIgn:.*[13579bdf]0$' "/proc/$new/status" ||
	fail_ "the copy does not ignore SIGTRAP: $(grep SigIgn "/proc/$new/status")"
kill -9 "$new"

# in_read_ PID: PID is blocked in read(2) (it wakes every 20 ms for a tick).
in_read_() { [ "$(cut -d' ' -f1 "/proc/$1/syscall" 2>/dev/null)" = 0 ]; }

# reads_on_ PID OUT WHAT: PID, blocked in its read(2) as before, still
# reads what comes (the call restarted, not failed: once), and its handlers
# and timer work.
reads_on_()
{
	local p=$1 out=$2 what=$3
	running_untraced_ "$p"
	wait_for_ 5 in_read_ "$p"
	send_signals_ "$p"
	echo "$what" >&7
	wait_for_ 5 saw_ "$p" "$out" "read $what"
	echo "$what again" >&7
	handled_ "$p" "$out"
	wait_for_ 5 saw_ "$p" "$out" "read $what again"
	[ "$(grep -c "^read $what\$" "$out")" -eq 1 ] || fail_ "PID $p read '$what' twice"
}

# A source left running by freeze.  (Its standard input is a FIFO that fd 7
# here holds open for writing, and reading: no EOF.)
mkfifo input
exec 7<> input
start_handlers_ reading read <&7
wait_for_ 5 in_read_ "$pid"
expect_status_ 0 "$CONTMIG" freeze --leave-running -o running.img "$pid"
reads_on_ "$pid" reading 'after a freeze'
kill -9 "$pid"

# A contmig killed (kill -9) while the process is being asked: the helper
# that asks it goes on, and lets it go as it was.
start_handlers_ asked
CONTMIG_TEST_HOOK=sigstate-asking CONTMIG_TEST_HOOK_UNTIL=$tmp/go-on \
	"$CONTMIG" freeze -o asked.img "$pid" 2> asked.err &
victim=$!
wait_for_ 10 grep -qs 'test point sigstate-asking reached' asked.err
kill -9 "$victim"
wait "$victim" 2> /dev/null
touch go-on
wait_for_ 5 untraced_running_ "$pid"
signals_reach_ "$pid" asked
[ ! -e asked.img ] || fail_ "a freeze killed left an image"
kill -9 "$pid"

# Its actions changed between the helper's look and the freeze (its first
# SIGUSR1 has it ignore SIGWINCH): they are asked again, and the image has
# the new ones.
start_handlers_ changed
CONTMIG_TEST_HOOK=sigstate-apart CONTMIG_TEST_HOOK_UNTIL=$tmp/go-on2 \
	"$CONTMIG" freeze -o changed.img "$pid" 2> changed.err &
freezer=$!
wait_for_ 10 grep -qs 'test point sigstate-apart reached' changed.err
kill -USR1 "$pid"
wait_for_ 5 grep -qx 'SIGUSR1 1' changed
touch go-on2
wait "$freezer" || fail_ "freeze exited $?: $(cat changed.err)"
expect_status_ 0 "$CONTMIG" inspect changed.img
grep -q '^  SIGWINCH  *ignored$' out || fail_ "the image has the old actions: $(grep -A12 '^handlers' out)"

# A source whose move the receiver refuses (too large for it), once stopped
# and read.
listen_ l3 $port --max-size 16K
start_handlers_ refused read <&7
wait_for_ 5 in_read_ "$pid"
expect_status_ 71 "$CONTMIG" send "$pid" 127.0.0.1:$port
grep -q 'this receiver takes at most 16.0 KiB (--max-size)' err || fail_ "send: $(cat err)"
reads_on_ "$pid" refused 'after a refusal'
kill -9 "$pid"
# One in nanosleep(2), which the kernel restarts with what was left
# (restart_syscall): a restart code it returned would end it, saying so.
start_handlers_ sleeping
wait_for_ 5 eval '[ "$(cut -d" " -f1 /proc/'"$pid"'/syscall)" = 35 ]'
expect_status_ 71 "$CONTMIG" send "$pid" 127.0.0.1:$port
running_untraced_ "$pid"
signals_reach_ "$pid" sleeping
kill -9 "$pid"

# And under contmig run: sys_migrate fails (EREMOTEIO), and the program
# goes on from it with its handlers and timer.
start_ "$CONTMIG" run -- "$prog" migrate 127.0.0.1:$port > run2.out 2> run2.err
wait_for_ 10 grep -qx 'sys_migrate returned -121' run2.out
prog_pid=$(pgrep -P "$pid" -x handlers) || fail_ "run's program is gone: $(cat run2.err)"
signals_reach_ "$prog_pid" run2.out
exec 7>&-

# --- ordinary programs ----------------------------------------------------
# plain_handles_ PID OUT ERR N: plain's SIGUSR1 handler runs (its Nth), and
# it takes 3 more steps, its interval timer ticking between each (else it
# says so in ERR, "-": in OUT, and exits 1).
plain_handles_()
{
	local p=$1 out=$2 err=$3 n=$4 steps
	kill -USR1 "$p" || fail_ "PID $p is gone: $([ "$err" = - ] || cat "$err")"
	wait_for_ 5 saw_ "$p" "$out" "SIGUSR1 $n"
	steps=$(grep -c '^step' "$out")
	wait_for_ 5 eval '[ "$(grep -c "^step" "$out")" -ge $((steps + 3)) ] || ! alive_ '"$p"
	alive_ "$p" || fail_ "PID $p died: $(tail -n 2 "$out") $([ "$err" = - ] || cat "$err")"
	if [ "$err" = - ]; then
		! grep -q '^plain:' "$out" || fail_ "PID $p said: $(grep '^plain:' "$out")"
	else
		[ ! -s "$err" ] || fail_ "PID $p said: $(cat "$err")"
	fi
}

# glibc's handler and timer, by file, then by pipe, then by a keyed send.
for plain in plain-static plain-dynamic; do
	start_ "$builddir/tests/$plain" --handler --timer > "$plain.out" 2> "$plain.err"
	wait_for_ 5 grep -qx 'step 3' "$plain.out"
	expect_status_ 0 "$CONTMIG" freeze -o "$plain.img" "$pid"
	new=$("$CONTMIG" thaw --detach --stdout "$plain.file.out" --stderr "$plain.file.err" \
		"$plain.img") || fail_ "$plain: thaw exited $?"
	plain_handles_ "$new" "$plain.file.out" "$plain.file.err" 1
	new2=$("$CONTMIG" freeze -o - "$new" | "$CONTMIG" thaw --detach --stdout "$plain.pipe.out" \
		--stderr "$plain.pipe.err" -) || fail_ "$plain: freeze | thaw exited $?"
	plain_handles_ "$new2" "$plain.pipe.out" "$plain.pipe.err" 2
	listen_ "$plain.l" $((port + 1)) --key key
	expect_status_ 0 "$CONTMIG" send --key key "$new2" 127.0.0.1:$((port + 1))
	read -r new3 dest < out
	plain_handles_ "$new3" "$plain.l.out" - 3
	! grep -q '^plain:' "$plain.l" || fail_ "$plain by send: $(grep '^plain:' "$plain.l")"
	kill -9 "$new3"
	stop_ "$listener"
done

# Rust's handler for stack overflows runs on its alternate stack: a copy
# that overflows its stack says so, as its source would have.
if command -v rustc > /dev/null; then
	cat > deep.rs <<'RUST'
use std::io::Write;
fn recurse(n: u64) -> u64 {
    let buf = [n as u8; 4096];
    std::hint::black_box(&buf);
    recurse(n + 1) + buf[0] as u64
}
fn main() {
    for step in 1.. {
        println!("step {}", step);
        std::io::stdout().flush().unwrap();
        if std::path::Path::new("overflow").exists() {
            println!("{}", recurse(0));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
RUST
	rustc -O -o deep deep.rs 2> /dev/null || framework_failure_ "rustc deep.rs"
	start_ ./deep > deep.out
	wait_for_ 5 grep -qx 'step 2' deep.out
	expect_status_ 0 "$CONTMIG" freeze -o deep.img "$pid"
	expect_status_ 0 "$CONTMIG" inspect deep.img
	grep -q '^  SIGSEGV .*onstack' out && grep -q '^altstack: *0x' out ||
		fail_ "Rust: inspect: $(grep -A5 '^handlers' out)"
	new=$("$CONTMIG" thaw --detach --stdout deep.after --stderr deep.err deep.img) ||
		fail_ "Rust: thaw exited $?"
	wait_for_ 5 grep -qx 'step 4' deep.after
	touch overflow
	wait_for_ 5 grep -q "has overflowed its stack" deep.err
else
	echo "$me: not tried: Rust: no rustc" >&2
fi

# --- seccomp strict mode, for anyone but root ------------------------------
# Strict mode kills a process for any call but read, write, exit and
# sigreturn: only a freeze that may set it aside (CAP_SYS_ADMIN) asks it
# anything.  Anyone else's check and freeze refuse it before it stops, and
# it runs on.
new_user_ alice
for_users_ "$builddir/tests/sandboxed" "$CONTMIG"
start_ setpriv --reuid="$alice" --regid="$alice" --init-groups -- "$tmp/bin/sandboxed" strict \
	> strict.out
wait_for_ 5 grep -q '^ready' strict.out
expect_status_ 65 as_ "$alice" "$tmp/bin/contmig" check "$pid"
grep -q '^  FAIL  seccomp     seccomp strict mode: only a freeze with CAP_SYS_ADMIN (root), itself under no seccomp, can set it aside' out ||
	fail_ "check of a strict-mode process: $(cat out)"
expect_status_ 65 as_ "$alice" "$tmp/bin/contmig" freeze -o "$tmp/bin/strict.img" "$pid"
one_error_line_ "freeze of a strict-mode process"
grep -q 'seccomp strict mode: only a freeze with CAP_SYS_ADMIN' err || fail_ "freeze: $(cat err)"
running_untraced_ "$pid"
n=$(grep -c '^ok' strict.out)
wait_for_ 10 eval '[ "$(grep -c "^ok" strict.out)" -gt '"$n"' ]'
kill -9 "$pid"

# --- POSIX timers do not move: refused by name, before the process stops --
start_handlers_ posix.out posix
grep -q '^ID: ' "/proc/$pid/timers" || framework_failure_ "no POSIX timer: $(cat "/proc/$pid/timers")"
expect_status_ 65 "$CONTMIG" check "$pid"
grep -q '^  FAIL  timers      1 POSIX timer (timer_create): they do not move; delete them first$' out ||
	fail_ "check: $(cat out)"
expect_status_ 65 "$CONTMIG" freeze -o posix.img "$pid"
one_error_line_ freeze
grep -q '1 POSIX timer (timer_create): they do not move' err || fail_ "freeze: $(cat err)"
[ ! -e posix.img ] || fail_ "freeze left an image of a refused process"
expect_status_ 65 "$CONTMIG" send "$pid" 127.0.0.1:$port
one_error_line_ send
grep -q '1 POSIX timer (timer_create): they do not move' err || fail_ "send: $(cat err)"
running_untraced_ "$pid"
signals_reach_ "$pid" posix.out
kill -9 "$pid"
start_ "$CONTMIG" run -- "$prog" posix migrate 127.0.0.1:$port > run3.out 2> run3.err
wait_for_ 10 grep -qx 'sys_migrate returned -16' run3.out
grep -q 'run PID [0-9]* (handlers): 1 POSIX timer (timer_create): they do not move' run3.err ||
	fail_ "run: $(cat run3.err)"
exit 0
