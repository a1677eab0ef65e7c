#!/bin/bash
# send --live: the pages go in rounds while the process runs, then only what
# it wrote since, with it stopped; every page arrives as it last wrote it,
# mappings made and removed during the rounds too.  An abort in any round
# (the sender killed, the receiver gone) leaves the source running, with no
# tracking left in it and no fd of ours; where writes cannot be tracked it
# is a plain send, said in one line.
. "$srcdir/tests/init.sh"
private_net_
livewrite=$builddir/tests/livewrite
livefiles=$builddir/tests/livefiles
port=7742

# live_source_ LOG: a livewrite of 64 MiB, 4 MiB rewritten all the time,
# changing its mappings; $pid, once it has checked itself twice.
live_source_()
{
	start_ "$livewrite" 64 4 --churn > "$1"
	wait_for_ 10 grep -q '^ok 2 ' "$1"
}

# checks_on_ FILE N: FILE gets N more "ok" lines (every page right each
# time) and no FAIL.
checks_on_()
{
	local want
	want=$(($(grep -c '^ok' "$1") + $2))
	wait_for_ 10 eval '[ "$(grep -c "^ok" "'"$1"'")" -ge '"$want"' ] || grep -q FAIL "'"$1"'"'
	! grep -q FAIL "$1" || fail_ "$1: $(grep FAIL "$1")"
}

# untracked_ PID: nothing of a live send left in PID: no userfaultfd among
# its fds, no mapping write-protected for one (VmFlags uw), not traced.
untracked_()
{
	running_untraced_ "$1"
	! ls -l "/proc/$1/fd" | grep -q userfaultfd || fail_ "PID $1 holds a userfaultfd"
	! grep -q '^VmFlags:.* uw' "/proc/$1/smaps" ||
		fail_ "PID $1 still has mappings tracked: $(grep -c '^VmFlags:.* uw' "/proc/$1/smaps")"
}

fds_() { ls "/proc/$1/fd" | wc -l; }

# --- a live move, mappings changing all the while --------------------------
listen_ l $port
plain_listener=$listener
live_source_ src
expect_status_ 0 "$CONTMIG" send --live --progress "$pid" 127.0.0.1:$port
read -r new dest < out
grep -q "live: [0-9]* rounds (.*), paused [0-9.]* ms; it runs there as PID $new" err ||
	fail_ "the live send's summary: $(cat err)"
rounds=$(sed -n 's/.*live: \([0-9]*\) rounds.*/\1/p' err)
[ "$rounds" -ge 3 ] || fail_ "a live send of a busy process ran $rounds rounds: $(cat err)"
wait_for_ 5 eval '! kill -0 '"$pid"' 2> /dev/null'
# The copy checks every page against what it last wrote, again and again.
checks_on_ l.out 3
untracked_ "$new"
kill -9 "$new"

# --- mappings of a file under the rounds ----------------------------------
# Anonymous memory and a file's mapping taking each other's place, a page of
# the file copied on write: a file only root may read (its pages stored) and
# one anyone may (the receiver's own, by reference).  (Stored, they once
# went wrong: the receiver, which knows no inode, took them for anonymous
# memory where the sender did not, and kept what the sender replaced.)
for mode in 600 644; do
	mkdir "files$mode" && chmod 755 "files$mode"
	for n in 1 2; do
		start_ "$livefiles" "$tmp/files$mode" $mode > "f$mode.$n"
		wait_for_ 10 grep -q '^ok 2' "f$mode.$n"
		moved=$(grep -c '^moved ok' l.out)
		expect_status_ 0 "$CONTMIG" send --live "$pid" 127.0.0.1:$port
		wait_for_ 10 eval '[ "$(grep -c "^moved ok" l.out)" -gt '"$moved"' ] || grep -q FAIL l.out'
		! grep -q FAIL l.out || fail_ "mode $mode, move $n: $(grep FAIL l.out)"
	done
done

# --- with a key -------------------------------------------------------------
"$CONTMIG" keygen key > /dev/null || framework_failure_ keygen
listen_ lk $((port + 1)) --key key
live_source_ srck
expect_status_ 0 "$CONTMIG" send --live --key key "$pid" 127.0.0.1:$((port + 1))
read -r new dest < out
checks_on_ lk.out 2
kill -9 "$new"

# --- where writes cannot be tracked: the plain way, said -------------------
live_source_ srcp
CONTMIG_TEST_DIRTY=none expect_status_ 0 "$CONTMIG" send --live "$pid" 127.0.0.1:$port
grep -q "no live send: CONTMIG_TEST_DIRTY=none says this kernel cannot track writes; it is sent the plain way" err ||
	fail_ "the fallback's note: $(cat err)"
[ "$(wc -l < err)" -eq 1 ] || fail_ "the fallback said more than one line: $(cat err)"
read -r new dest < out
n=$(grep -c '^ok' l.out)
wait_for_ 10 eval '[ "$(grep -c "^ok" l.out)" -ge $((n + 2)) ]'
! grep -q FAIL l.out || fail_ "$(grep FAIL l.out)"
kill -9 "$new"

# A process under seccomp gets no userfaultfd made inside it (its sandbox
# might forbid it): soft-dirty bits where the kernel has them, else the
# plain way, said.
start_ "$builddir/tests/sandboxed" > sandboxed.out
wait_for_ 5 grep -q '^ok 1' sandboxed.out
expect_status_ 0 "$CONTMIG" send --live --progress "$pid" 127.0.0.1:$port
read -r new dest < out
grep -q "it runs under seccomp" err || grep -q "live: [0-9]* rounds" err ||
	fail_ "a live send under seccomp: $(cat err)"
! grep -q "userfaultfd" "/proc/$new/status" 2> /dev/null
kill -9 "$new"

# --- kill -9 of send between rounds: the source runs on, untracked ---------
for round in 1 2 3; do
	live_source_ "k$round"
	fds=$(fds_ "$pid")
	CONTMIG_TEST_HOOK=send-round-$round "$CONTMIG" send --live "$pid" 127.0.0.1:$port \
		> send.out 2> send.err &
	sender=$!
	wait_for_ 20 grep -q "test point send-round-$round reached" send.err
	kill -9 "$sender"
	wait "$sender" 2> /dev/null
	wait_for_ 5 eval '[ "$(stub_processes_)" -eq 0 ]'
	checks_on_ "k$round" 2
	untracked_ "$pid"
	[ "$(fds_ "$pid")" -eq "$fds" ] || fail_ "round $round: PID $pid has $(fds_ "$pid") fds, not $fds"
	kill -9 "$pid"
done

# --- a program exec'd during the rounds is never read: send stops there ---
live_source_ ex
CONTMIG_TEST_HOOK=send-round-1 CONTMIG_TEST_HOOK_UNTIL=$tmp/go \
	"$CONTMIG" send --live "$pid" 127.0.0.1:$port > send.out 2> send.err &
sender=$!
wait_for_ 20 grep -q "test point send-round-1 reached" send.err
kill -USR2 "$pid"
wait_for_ 5 grep -q '^Name:[[:space:]]*sleep' "/proc/$pid/status"
touch go
wait "$sender"
status=$?
[ "$status" -eq 66 ] || fail_ "send of a process that exec'd exited $status: $(cat send.err)"
grep -q "PID $pid: it runs another program than when the send began (it exec'd); it carries on here" send.err ||
	fail_ "send of a process that exec'd: $(cat send.err)"
untracked_ "$pid"
wait_for_ 5 eval '[ "$(stub_processes_)" -eq 0 ]'
kill -9 "$pid"
rm -f go

# --- another user's live send of root's process: refused, nothing made in it
new_user_ mallory
for_users_ "$CONTMIG"
live_source_ other
fds=$(fds_ "$pid")
expect_status_ 66 as_ "$mallory" "$tmp/bin/contmig" send --live "$pid" 127.0.0.1:$port
checks_on_ other 2
untracked_ "$pid"
[ "$(fds_ "$pid")" -eq "$fds" ] || fail_ "$mallory's send left PID $pid with $(fds_ "$pid") fds, not $fds"
kill -9 "$pid"

# --- the receiver gone amid the rounds: send says so, the source runs on ---
stop_ "$plain_listener"
for round in 1 2; do
	CONTMIG_TEST_HOOK=receive-round-$round listen_ "r$round" $port
	live_source_ "g$round"
	"$CONTMIG" send --live "$pid" 127.0.0.1:$port > send.out 2> send.err &
	sender=$!
	wait_for_ 20 grep -q "test point receive-round-$round reached" "r$round"
	# The listener and its worker, as a dead machine would take them.
	pkill -9 -P "$listener"
	kill -9 "$listener"
	wait "$sender"
	status=$?
	[ "$status" -eq 69 ] || fail_ "send to a receiver gone in round $round exited $status: $(cat send.err)"
	grep -q "PID $pid carries on here" send.err || fail_ "round $round: $(cat send.err)"
	wait_for_ 5 eval '[ "$(stub_processes_)" -eq 0 ]'
	checks_on_ "g$round" 2
	untracked_ "$pid"
	kill -9 "$pid"
done
exit 0
