#!/bin/bash
# A sleep or timed wait a move interrupts goes on for what remained of it:
# a nanosleep with rem sleeps its remainder in the copy; a wait whose time
# left only the old kernel knew (no rem, poll, FUTEX_WAIT) runs out on the
# old machine first when it ends within a second, and otherwise ends at the
# move; an absolute deadline keeps its time.  Moved many times a second, a
# program steps at its own pace; the program sees its registers, signals
# and timers as it would have.  (contmig(1), TIME.)
. "$srcdir/tests/init.sh"
private_net_
nap=$builddir/tests/nap
sleeper=$builddir/tests/sleeper

now_ms_() { date +%s%3N; }

# within_ WHAT VALUE LOW HIGH: LOW <= VALUE <= HIGH, or the test fails.
within_()
{
	[ "$2" -ge "$3" ] && [ "$2" -le "$4" ] ||
		fail_ "$1: $2 ms, expected $3 to $4"
}

# --- a contract program's 3 s nanosleep, frozen 2 s in: 1 s left ----------
start_ "$nap" > nap.before
sleep 2
expect_status_ 0 "$CONTMIG" freeze -q -o nap.img "$pid"
# inspect says what its copy does with the call it was in.
expect_status_ 0 "$CONTMIG" inspect nap.img
grep -Eq '^call: +nanosleep, cut short: its copy sleeps the [01]\.[0-9]{9} s left in rem$' out ||
	fail_ "inspect nap.img: $(grep -i call out)"
t0=$(now_ms_)
expect_status_ 0 "$CONTMIG" thaw nap.img
t1=$(now_ms_)
grep -qx woke out || fail_ "the copy of nap said: $(cat out)"
within_ "nap woke after its thaw" $((t1 - t0)) 600 1900

# The same through send: the copy wakes about 1 s after it was sent.
listen_ l1 7760
start_ "$nap" > /dev/null
sleep 2
t0=$(now_ms_)
expect_status_ 0 "$CONTMIG" send "$pid" 127.0.0.1:7760
wait_for_ 5 grep -qx woke l1.out
t1=$(now_ms_)
within_ "nap woke after its send" $((t1 - t0)) 600 1900

# --- ordinary programs: each kind of wait, frozen in the middle ----------
# once_ HOW MS AT [alarm] [SIGNAL AFTER]: sleeper once HOW MS [alarm]
# frozen AT s in and thawed at once (SIGNAL sent to it AFTER s into the
# freeze); sets woke (ms from the thaw to its waking), slept (its own wait,
# by CLOCK_MONOTONIC, which includes the move's pause), result (ok or
# EINTR) and alarms (its SIGALRMs).
once_()
{
	local t0 how=$1 ms=$2 at=$3 alarm=
	shift 3
	if [ "${1-}" = alarm ]; then
		alarm=alarm
		shift
	fi
	start_ "$sleeper" once "$how" "$ms" $alarm > "once.$how"
	sleep "$at"
	[ $# -eq 0 ] || (sleep "$2"; kill -"$1" "$pid") &
	expect_status_ 0 "$CONTMIG" freeze -q -o "once.img" "$pid"
	t0=$(now_ms_)
	expect_status_ 0 "$CONTMIG" thaw once.img
	read -r word at slept result alarms < out
	[ "$word" = woke ] || fail_ "sleeper once $how $ms: $(cat out)"
	woke=$((at - t0))
}

# With rem, and select (Linux writes the time left into its timeout): the
# copy waits what remained (1.5 s, frozen 1 s in: 0.5 s).
for how in rem clock select; do
	once_ $how 1500 1
	within_ "sleeper $how woke after its thaw" $woke 250 1200
	within_ "sleeper $how slept" $slept 1500 2500
done
# Moved again within the same sleep: the copy sleeps in restart_syscall,
# which the second freeze names from what /proc shows; 5 s in all, 2 s gone
# by the second thaw.
start_ "$sleeper" once rem 5000 > chain.before
sleep 1
expect_status_ 0 "$CONTMIG" freeze -q -o chain1.img "$pid"
expect_status_ 0 "$CONTMIG" thaw --detach --stdout chain.out chain1.img
read -r copy < out
started_pids="$started_pids $copy"
sleep 1
expect_status_ 0 "$CONTMIG" freeze -q -o chain2.img "$copy"
t0=$(now_ms_)
expect_status_ 0 "$CONTMIG" thaw chain2.img
read -r word at slept result _ < out
[ "$word $result" = "woke ok" ] || fail_ "sleeper moved twice: $(cat out)"
within_ "sleeper moved twice woke after its second thaw" $((at - t0)) 2500 3700
# Without: the wait runs out before the move (0.8 s, frozen 0.3 s in), and
# the copy goes on at once, its whole wait waited.
for how in null poll futex; do
	once_ $how 800 0.3
	within_ "sleeper $how woke after its thaw" $woke 0 400
	within_ "sleeper $how slept" $slept 800 1800
done
# A longer one ends at the move: never more than it asked for in all.
once_ null 4000 0.5
within_ "sleeper null 4000 woke after its thaw" $woke 0 400
within_ "sleeper null 4000 slept" $slept 1000 3900
# An absolute deadline is its own: 1.5 s from its start, whatever the move.
once_ abs 1500 1
within_ "sleeper abs slept" $slept 1500 1700
# The request stays in its register: two sleeps at one request in rdi, the
# first frozen, sleep both in full.
once_ asm 1600 0.4
within_ "sleeper asm slept" $slept 1600 2600
[ "$result" = ok ] || fail_ "sleeper asm: $result"
# While a wait runs out before the move, a signal its handler takes cuts it
# short with EINTR, as it would have; one it ignores does not.
once_ poll 900 0.2 USR1 0.2
[ "$result" = EINTR ] || fail_ "sleeper poll, SIGUSR1 during its last 0.5 s: $result"
within_ "sleeper poll, SIGUSR1 0.4 s in: slept" $slept 350 800
once_ null 800 0.2 WINCH 0.3
[ "$result" = ok ] || fail_ "sleeper null, SIGWINCH during its last 0.6 s: $result"
within_ "sleeper null, SIGWINCH 0.5 s in: slept" $slept 800 1800
# Stopped (^Z) in a poll, with a SIGUSR1 pending: its wait ends at the move,
# and when it is continued, the handler runs first and the poll fails with
# EINTR, as it would have.
start_ "$sleeper" once poll 5000 > once.stopped
sleep 0.2
kill -STOP "$pid"
kill -USR1 "$pid"
expect_status_ 0 "$CONTMIG" freeze -q -o once.img "$pid"
expect_status_ 0 "$CONTMIG" thaw --detach --stdout stopped.out once.img
read -r copy < out
started_pids="$started_pids $copy"
kill -CONT "$copy"
wait_for_ 5 grep -q '^woke' stopped.out
read -r _ _ slept result _ < stopped.out
[ "$result" = EINTR ] || fail_ "sleeper poll stopped with SIGUSR1 pending: $result"
# A wait that does not run out in a second ends at the move; a SIGUSR1 that
# comes while the freeze holds the process (test point target-held) is
# taken by its handler first in the copy, and the poll fails with EINTR.
start_ "$sleeper" once poll 5000 > once.held
sleep 0.2
CONTMIG_TEST_HOOK=target-held CONTMIG_TEST_HOOK_UNTIL=$tmp/go \
	"$CONTMIG" freeze -q -o once.img "$pid" 2> held.err &
freeze=$!
wait_for_ 5 grep -q 'test point target-held reached' held.err
kill -USR1 "$pid"
touch go
wait "$freeze" || fail_ "freeze of sleeper held with a SIGUSR1: $(cat held.err)"
expect_status_ 0 "$CONTMIG" thaw once.img
read -r _ _ slept result _ < out
[ "$result" = EINTR ] || fail_ "sleeper poll, SIGUSR1 while held: $result"
# freeze killed -9 while a wait runs out under its ptrace (test point
# wait-running-out): the source goes on untraced and waits its whole wait.
start_ "$sleeper" once null 800 > killed.out
sleep 0.2
CONTMIG_TEST_HOOK=wait-running-out "$CONTMIG" freeze -q -o killed.img "$pid" 2> killed.err &
freeze=$!
wait_for_ 5 grep -q 'test point wait-running-out reached' killed.err
kill -9 "$freeze"
wait "$freeze" 2> /dev/null
running_untraced_ "$pid"
wait_for_ 5 grep -q '^woke' killed.out
read -r _ _ slept result _ < <(grep '^woke' killed.out)
[ "$result" = ok ] || fail_ "sleeper null, freeze killed during its run-out: $result"
within_ "sleeper null, freeze killed during its run-out: slept" $slept 800 1500
# With ITIMER_REAL armed the wait ends at the move instead, and the timer
# goes on as it was: its SIGALRM comes once.
once_ null 800 0.3 alarm
[ "$alarms" = 1 ] || fail_ "sleeper null with an alarm: $alarms SIGALRMs"

# --- moved many times a second between two listeners ----------------------
listen_ l2 7761
# steps_ HOW: sleeper steps HOW 100, moved back and forth between l1 and l2
# 24 times with 50 ms between moves; sets steps (how many it took), elapsed
# (ms from its first step to its end, 0.3 s after the last move) and ran (the ms it ran between
# moves, which are its only time to sleep: a move pauses it).
steps_()
{
	local new port=7760 t0 moves=0 ran_from
	: > l1.out
	: > l2.out
	start_ "$sleeper" steps "$1" 100 > steps.before
	wait_for_ 5 grep -q '^1 ' steps.before
	t0=$(now_ms_)
	ran=0
	ran_from=$t0
	while [ "$moves" -lt 24 ]; do
		[ $(($(now_ms_) - t0)) -lt 60000 ] || fail_ "24 moves took over a minute"
		sleep 0.05
		ran=$((ran + $(now_ms_) - ran_from))
		"$CONTMIG" send "$pid" 127.0.0.1:$port > send.out 2> send.err ||
			fail_ "move $moves of sleeper $1: $(cat send.err)"
		ran_from=$(now_ms_)
		read -r new _ < send.out
		pid=$new
		started_pids="$started_pids $pid"
		port=$((port == 7760 ? 7761 : 7760))
		moves=$((moves + 1))
	done
	sleep 0.3
	kill "$pid"
	elapsed=$(($(now_ms_) - t0))
	steps=$(cat steps.before l1.out l2.out | sort -n | tail -n 1 | cut -d' ' -f1)
	! grep -q EINTR steps.before l1.out l2.out || fail_ "sleeper $1 saw EINTR"
	echo "sleeper steps $1: $steps steps in $elapsed ms, $moves moves, ran $ran ms" >&2
}
# Each step sleeps its whole 100 ms: no more steps than the time allows, and
# with what remained carried, the time between moves adds up to steps.
# (Before, every move began the sleep again: a wait longer than the time
# between moves never ended, and the program all but stopped.)
for how in rem null; do
	steps_ $how
	[ "$steps" -le $((elapsed / 100 + 3)) ] ||
		fail_ "sleeper $how took $steps steps of 100 ms in $elapsed ms"
	[ "$steps" -ge $((ran / 100 / 2)) ] ||
		fail_ "sleeper $how took $steps steps of 100 ms, running $ran ms between moves"
done
# An absolute period keeps its time across moves: a step every 100 ms.
steps_ abs
[ "$steps" -ge $((elapsed / 100 - 3)) ] && [ "$steps" -le $((elapsed / 100 + 6)) ] ||
	fail_ "sleeper abs took $steps steps of 100 ms in $elapsed ms"

# --- run --checkpoint: checkpoints within one sleep, then resumed ----------
# Two periodic checkpoints interrupt one 5 s sleep (the second finds the
# kernel's restart_syscall in its place); after a kill -9 of everything, the
# resumed copy sleeps what remained at the last one.
start_ "$CONTMIG" run --checkpoint ck --every 1s "$sleeper" once rem 5000 > run.out 2> run.err
run=$pid
wait_for_ 10 grep -q 'checkpoint 3 of PID' run.err
prog=$(pgrep -P "$run" -x sleeper)	# (not its merging child)
kill -9 "$run" "$prog"
wait "$run" 2> /dev/null
t0=$(now_ms_)
expect_status_ 0 "$CONTMIG" run --checkpoint ck "$sleeper" once rem 5000
read -r word at slept _ < out
[ "$word" = woke ] || fail_ "the resumed sleeper said: $(cat out) $(cat err)"
within_ "the resumed sleeper woke after its resume" $((at - t0)) 1000 3200
