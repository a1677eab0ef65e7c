#!/bin/bash
# run --checkpoint DIR: the program is resumed from DIR when it holds a
# checkpoint of it; the checkpoint signal, sent to run or to the program (a
# scheduler sends it to both), writes it there and ends it, never kills it;
# --every writes deltas while it runs, every page right after a resume from
# a chain of them; a kill -9 of everything loses at most the interval; a
# checkpoint cut short, a directory in use, of another command or writable
# by others, are each refused or passed over with nothing lost.
. "$srcdir/tests/init.sh"
counter=$builddir/tests/counter
livewrite=$builddir/tests/livewrite
dropper=$builddir/tests/dropper

# run_ DIR OUT ARGS...: contmig run --checkpoint DIR ARGS in the background,
# stdout in OUT and stderr in OUT.err; its PID in $run.
run_()
{
	local dir=$1 out=$2
	shift 2
	start_ "$CONTMIG" run --checkpoint "$dir" "$@" > "$out" 2> "$out.err"
	run=$pid
}

# prog_of_ RUN: the program run RUN holds (its child that is not contmig's:
# a merge runs in another).
prog_of_()
{
	local p
	for p in $(pgrep -P "$1"); do
		[ "$(cat "/proc/$p/comm" 2> /dev/null)" = contmig ] || { echo "$p"; return; }
	done
}

# exits_ PID STATUS OUT: run PID ends with STATUS (OUT.err says why not).
exits_()
{
	local st
	wait "$1"
	st=$?
	[ "$st" -eq "$2" ] || fail_ "run exited $st, expected $2: $(cat "$3.err")"
}

# checkpoints_ DIR: the checkpoints in DIR, by name, on one line.
checkpoints_() { (cd "$1" && ls -- *.base *.delta 2> /dev/null | tr '\n' ' '); }

# checks_on_ FILE N: livewrite's FILE gets N more "ok" lines (every page
# right) and no FAIL.
checks_on_()
{
	local want
	want=$(($(grep -c '^ok' "$1") + $2))
	wait_for_ 15 eval '[ "$(grep -c "^ok" "'"$1"'")" -ge '"$want"' ] || grep -q FAIL "'"$1"'"'
	! grep -q FAIL "$1" || fail_ "$1: $(grep FAIL "$1")"
}

# --- the signal to run: checkpointed, ended, exit 75; resumed with no step lost
run_ ck a.out --every 1s "$counter"
wait_for_ 10 grep -q 'checkpoint 2 of PID [0-9]* (counter) in ck: a delta of' a.out.err
prog=$(prog_of_ "$run")
kill -TERM "$run"
exits_ "$run" 75 a.out
kill -0 "$prog" 2> /dev/null && fail_ "the program still runs after its checkpoint"
grep -q 'checkpoint 3 of PID' a.out.err || fail_ "no checkpoint on TERM: $(cat a.out.err)"
# A base, then deltas up to the last (merged into a base as they grow).
[[ "$(checkpoints_ ck)" =~ ^0000000[12].base\ (0000000[23].delta\ )*00000003.delta\ $ ]] ||
	fail_ "the chain in ck: $(checkpoints_ ck)"
[ "$(cat ck/command | tr '\0' ' ')" = "$counter " ] || fail_ "ck/command: $(cat ck/command)"
run_ ck b.out --every 1s "$counter"
wait_for_ 10 file_has_lines_ b.out 5
grep -q "^contmig: run: resumed counter from checkpoint 3 in ck (taken .* on .*; a base and [12] deltas\?) as PID [0-9]*$" b.out.err ||
	fail_ "the resume's line: $(cat b.out.err)"
follows_ a.out b.out

# --- the signal to the program too, SIGCONT first, as Slurm sends them ---
wait_for_ 10 grep -q 'checkpoint 4 of PID [0-9]* (counter) in ck: a base of' b.out.err
prog=$(prog_of_ "$run")
kill -CONT "$run" "$prog"
kill -TERM "$prog" "$run"
exits_ "$run" 75 b.out
run_ ck c.out --every 1s "$counter"
wait_for_ 10 file_has_lines_ c.out 5
follows_ b.out c.out
# Only the program: the same.
prog=$(prog_of_ "$run")
kill -TERM "$prog"
exits_ "$run" 75 c.out
run_ ck d.out --every 1s "$counter"
wait_for_ 10 file_has_lines_ d.out 5
follows_ c.out d.out

# Run's own signal, come after the program's was acted on: 75 all the same.
kill -TERM "$run"
exits_ "$run" 75 d.out
CONTMIG_TEST_HOOK=run-checkpointed CONTMIG_TEST_HOOK_UNTIL=$tmp/go run_ ck h.out "$counter"
wait_for_ 10 file_has_lines_ h.out 3
kill -TERM "$(prog_of_ "$run")"
wait_for_ 10 grep -q 'test point run-checkpointed reached' h.out.err
kill -TERM "$run"
touch go
exits_ "$run" 75 h.out
follows_ d.out h.out

# --- run killed -9 with its last checkpoint written but not yet named -------
# (the signal's: the program is stopped for it).  The program is not lost:
# it runs on, untraced; the checkpoints before it serve, and the unnamed
# one is removed by the next run.
CONTMIG_TEST_HOOK=run-publishing run_ ck k.out "$counter"
wait_for_ 10 file_has_lines_ k.out 3
prog=$(prog_of_ "$run")
before=$(checkpoints_ ck)
kill -TERM "$run"
wait_for_ 10 grep -q 'test point run-publishing reached' k.out.err
kill -9 "$run"
wait "$run" 2> /dev/null
wait_for_ 5 eval 'untraced_running_ '"$prog"
n=$(wc -l < k.out)
wait_for_ 5 file_has_lines_ k.out $((n + 2))
[ "$(checkpoints_ ck)" = "$before" ] || fail_ "checkpoints after run died publishing: $(checkpoints_ ck), were $before"
ls -A ck | grep -q '^\.tmp-' || fail_ "no unnamed checkpoint left to find: $(ls -A ck)"
kill -9 "$prog"
run_ ck k2.out --every 1s "$counter"
wait_for_ 10 file_has_lines_ k2.out 3
grep -q 'resumed counter from checkpoint' k2.out.err || fail_ "no resume: $(cat k2.out.err)"
! ls -A ck | grep -q '^\.tmp-' || fail_ "the unnamed checkpoint stayed: $(ls -A ck)"
kill -TERM "$run"
exits_ "$run" 75 k2.out

# --- a dead machine: run and the program killed -9 at once -----------------
run_ ck d2.out --every 1s "$counter"
wait_for_ 10 eval '[ "$(grep -c checkpoint d2.out.err)" -ge 2 ]'
sleep 0.5
prog=$(prog_of_ "$run")
kill -9 "$run" "$prog"
wait "$run" 2> /dev/null
last=$(tail -n 1 d2.out)
run_ ck e.out --every 1s "$counter"
wait_for_ 10 file_has_lines_ e.out 5
first=$(head -n 1 e.out)
# It goes on from its last checkpoint: never past what it had printed, and
# no further back than the interval (1 s, ten lines, and a little).
[ "$first" -le $((last + 1)) ] && [ "$first" -ge $((last - 15)) ] ||
	fail_ "resumed at $first after $last, killed with a checkpoint every second"
seq "$first" "$(tail -n 1 e.out)" | diff -q - <(cat e.out) > /dev/null ||
	fail_ "the resumed count is not consecutive: $(head -c 200 e.out)"

# --- one run at a time -------------------------------------------------------
expect_status_ 68 "$CONTMIG" run --checkpoint ck "$counter"
one_error_line_ "a second run"
grep -q "ck is in use by another contmig run ($(hostname) $run)" err ||
	fail_ "a second run on ck: $(cat err)"
wait_for_ 10 grep -q 'a delta of' e.out.err
kill -TERM "$run"
exits_ "$run" 75 e.out

# --- another command: refused, the checkpoints kept -------------------------
before=$(checkpoints_ ck)
expect_status_ 64 "$CONTMIG" run --checkpoint ck "$counter" 5
grep -qF "ck holds checkpoints of another command than this one ($counter)" err ||
	fail_ "another command on ck: $(cat err)"
[ "$(checkpoints_ ck)" = "$before" ] || fail_ "ck changed: $(checkpoints_ ck), was $before"

# --- the newest checkpoint cut short: the one before it serves --------------
# (A leftover of a run killed mid-write, too: its temporary file is ignored
# and removed.)
newest=$(ls ck/*.delta | tail -n 1)
truncate -s 100 "$newest"
echo half > ck/.tmp-00099999
run_ ck f.out --every 1s "$counter"
wait_for_ 10 file_has_lines_ f.out 5
grep -q "invalid image" f.out.err || fail_ "the cut checkpoint was not named: $(cat f.out.err)"
grep -q "resumed counter from checkpoint" f.out.err || fail_ "no resume: $(cat f.out.err)"
[ ! -e ck/.tmp-00099999 ] || fail_ "a leftover temporary file stayed"
# (The one before may be of the same tick: the TERM came right after it.)
[ "$(head -n 1 f.out)" -le "$(($(tail -n 1 e.out) + 1))" ] ||
	fail_ "resumed at $(head -n 1 f.out) from a checkpoint older than $(tail -n 1 e.out)"
kill -TERM "$run"
exits_ "$run" 75 f.out

# --- a checkpoint in the middle of the chain gone: said, never silent -------
# (Deltas of a tenth of the base: no merge of the chain yet.)
run_ gap gap.out --every 1s "$livewrite" 32 1
wait_for_ 15 grep -q 'checkpoint 3 of PID [0-9]* (livewrite) in gap: a delta' gap.out.err
kill -TERM "$run"
exits_ "$run" 75 gap.out
[ "$(checkpoints_ gap)" = "00000001.base 00000002.delta 00000003.delta 00000004.delta " ] ||
	fail_ "the chain in gap: $(checkpoints_ gap)"
rm gap/00000003.delta
run_ gap gap2.out --every 1s "$livewrite" 32 1
wait_for_ 10 grep -q 'resumed livewrite from checkpoint 2 in gap' gap2.out.err
grep -q 'checkpoint 4 in gap cannot be resumed: checkpoint 3 before it is missing; passed over' \
	gap2.out.err || fail_ "checkpoint 4 passed over silently: $(cat gap2.out.err)"
kill -TERM "$run"
exits_ "$run" 75 gap2.out

# --- a delta of another run's process in the chain (a directory shared by ---
# two runs, an NFS lock lost): refused, never built into a copy of neither.
# Each run in a PID namespace of its own where we may (containers): both
# programs are PID 2 there, told apart by where their stacks are.
ns=
unshare -pf --mount-proc true 2> /dev/null && ns="unshare -pf --mount-proc"
for d in mixa mixb; do
	start_ $ns "$CONTMIG" run --checkpoint $d --every 1s "$livewrite" 32 1 > $d.out 2> $d.out.err
	wait_for_ 15 grep -q "checkpoint 3 of PID [0-9]* (livewrite) in $d: a delta" $d.out.err
	kill -TERM "$( [ -n "$ns" ] && pgrep -P "$pid" || echo "$pid")"
	exits_ "$pid" 75 $d.out
	[ -e $d/00000004.delta ] || fail_ "the chain in $d: $(checkpoints_ $d)"
done
[ -z "$ns" ] || grep -q 'checkpoint 3 of PID 2 ' mixb.out.err || fail_ "not PID 2: $(cat mixb.out.err)"
cp mixb/00000004.delta mixa/00000004.delta
run_ mixa mixa2.out --every 1s "$livewrite" 32 1
wait_for_ 10 grep -q 'resumed livewrite from' mixa2.out.err
grep -q 'resumed livewrite from checkpoint 3 in mixa' mixa2.out.err &&
	grep -q 'mixa/00000004.delta: invalid image: not of the process of the checkpoint it follows' \
		mixa2.out.err || fail_ "another process's delta in the chain: $(cat mixa2.out.err)"
checks_on_ mixa2.out 2
kill -TERM "$run"
exits_ "$run" 75 mixa2.out

# --- a log the program appends to: it grew since the base, and the resume
# takes it as the last checkpoint saw it, going on at its end --------------
# (dropper: a base of 16 MiB that its small deltas never outgrow.)
run_ pl pl.out --every 1s "$dropper" 0 "$tmp/pl.log"
wait_for_ 10 grep -q 'checkpoint 3 of PID [0-9]* (dropper) in pl: a delta of' pl.out.err
kill -TERM "$run"
exits_ "$run" 75 pl.out
run_ pl pl2.out --every 1s "$dropper" 0 "$tmp/pl.log"
wait_for_ 10 file_has_lines_ pl2.out 3
grep -q 'resumed dropper from checkpoint [0-9]* in pl (taken .*; a base and [1-9]' pl2.out.err ||
	fail_ "no resume with a log: $(cat pl2.out.err)"
kill -TERM "$run"
exits_ "$run" 75 pl2.out
seq 1 "$(wc -l < pl.log)" | diff -q - pl.log > /dev/null ||
	fail_ "the log has a gap or a repeat: $(head -c 300 pl.log)"

# --- a descriptor no checkpoint takes: said as it starts; --drop-fds ------
run_ fd fd.out bash -c "exec 9< <(sleep 60); exec '$counter'"
wait_for_ 10 grep -q "run: PID [0-9]* (bash) runs, but no checkpoint of it can be taken until that changes" fd.out.err
grep -q "fd 9 -> pipe:.*a pipe does not move.*or use --drop-fds" fd.out.err ||
	fail_ "the pipe was not named: $(cat fd.out.err)"
prog=$(prog_of_ "$run")
kill -TERM "$run"
wait_for_ 10 grep -q "carries on without its checkpoint" fd.out.err
kill -0 "$run" && kill -0 "$prog" || fail_ "run or its program ended without a checkpoint"
kill -9 "$run" "$prog"
wait "$run" 2> /dev/null
run_ fd2 fd2.out --drop-fds bash -c "exec 9< <(sleep 60); exec '$counter'"
wait_for_ 10 file_has_lines_ fd2.out 3
kill -TERM "$run"
exits_ "$run" 75 fd2.out
run_ fd2 fd3.out --drop-fds bash -c "exec 9< <(sleep 60); exec '$counter'"
wait_for_ 10 file_has_lines_ fd3.out 3
follows_ fd2.out fd3.out
[ ! -e "/proc/$(prog_of_ "$run")/fd/9" ] || fail_ "the resumed copy holds fd 9"
kill -TERM "$run"
exits_ "$run" 75 fd3.out

# --- the program ends by itself: its status, its checkpoints gone -----------
run_ done g.out --every 1s "$counter" 25
exits_ "$run" 0 g.out
[ "$(wc -l < g.out)" -eq 25 ] || fail_ "counter 25 printed $(wc -l < g.out) lines"
grep -q 'checkpoint 1 ' g.out.err || fail_ "no checkpoint while it ran: $(cat g.out.err)"
[ -z "$(checkpoints_ done)" ] || fail_ "a finished program's checkpoints stayed: $(checkpoints_ done)"
# The directory serves another command next.
expect_status_ 0 "$CONTMIG" run --checkpoint done "$counter" 3
# Nor does a merge it ended mid-write leave its temporary file, a base's size.
# (Eight deltas make a merge: a program of about 11 s, with a base of MiBs
# that its small deltas do not outgrow.)
CONTMIG_TEST_HOOK=compact-writing run_ done2 g2.out --every 1s "$dropper" 1000
exits_ "$run" 0 g2.out
grep -q 'test point compact-writing reached' g2.out.err || fail_ "no merge: $(cat g2.out.err)"
[ "$(ls -A done2 | tr '\n' ' ')" = "lock " ] ||
	fail_ "a finished program left in its directory: $(ls -A done2 | tr '\n' ' ')"

# --- every page right after a chain of deltas (an ordinary program) ---------
run_ lw lw.out --every 1s "$livewrite" 64 4 --churn
wait_for_ 15 grep -q 'checkpoint 3 of PID [0-9]* (livewrite) in lw: a delta of' lw.out.err
base=$(sed -n 's/.*checkpoint 1 .*a base of \([0-9.]*\) MiB.*/\1/p' lw.out.err)
delta=$(sed -n 's/.*checkpoint 3 .*a delta of \([0-9.]*\) MiB.*/\1/p' lw.out.err)
[ -n "$base" ] && [ -n "$delta" ] && awk "BEGIN { exit !($delta < $base / 2) }" ||
	fail_ "the deltas of a program rewriting 4 of its 64 MiB are not small: $(cat lw.out.err)"
# The chain is merged into a base in the background, with deltas after it.
wait_for_ 20 grep -q 'merged checkpoints 1 to [0-9]* of PID [0-9]* (livewrite) in lw into a base' lw.out.err
merged=$(sed -n 's/.*merged checkpoints 1 to \([0-9]*\) .*/\1/p' lw.out.err)
wait_for_ 10 grep -q "checkpoint $((merged + 2)) of PID" lw.out.err
"$CONTMIG" inspect lw > lw.inspect || fail_ "inspect lw: $(cat lw.inspect)"
grep -q "^  $(printf %08u "$merged")  base " lw.inspect || fail_ "no merged base: $(cat lw.inspect)"
! grep -q "^  00000001 " lw.inspect || fail_ "the merged chain was not pruned: $(cat lw.inspect)"
grep -q "^in use:      $(hostname) $run$" lw.inspect || fail_ "inspect lw: $(cat lw.inspect)"
kill -TERM "$run"
exits_ "$run" 75 lw.out
run_ lw lw2.out --every 1s "$livewrite" 64 4 --churn
checks_on_ lw2.out 3
grep -q "resumed livewrite from checkpoint [0-9]* in lw (taken .*; a base and [1-9][0-9]* deltas" lw2.out.err ||
	fail_ "livewrite was not resumed from a chain: $(cat lw2.out.err)"
kill -TERM "$run"
exits_ "$run" 75 lw2.out
"$CONTMIG" inspect lw > lw.inspect || fail_ "inspect lw: $(cat lw.inspect)"
grep -q "^in use:      no$" lw.inspect && grep -q "^resumes:     from checkpoint" lw.inspect ||
	fail_ "inspect lw: $(cat lw.inspect)"

# --- pages emptied and never looked at since: empty after a merged chain ---
run_ dr dr.out --every 1s "$dropper"
wait_for_ 20 grep -q 'merged checkpoints 1 to [0-9]* of PID [0-9]* (dropper) in dr into a base' dr.out.err
merged=$(sed -n 's/.*merged checkpoints 1 to \([0-9]*\) .*/\1/p' dr.out.err)
wait_for_ 10 grep -q "checkpoint $((merged + 1)) of PID" dr.out.err
kill -TERM "$run"
exits_ "$run" 75 dr.out
run_ dr dr2.out --every 1s "$dropper"
wait_for_ 10 file_has_lines_ dr2.out 3
grep -q "resumed dropper from checkpoint $((merged + 2)) in dr (taken .*; a base and 2 deltas" dr2.out.err ||
	fail_ "dropper was not resumed from its merged base: $(cat dr2.out.err)"
kill -USR1 "$(prog_of_ "$run")"
wait_for_ 10 grep -q '^ok\|^FAIL' dr2.out
grep -q '^ok [1-9]' dr2.out || fail_ "pages emptied before the checkpoints: $(grep -v '^[0-9]' dr2.out)"
kill -TERM "$run"
exits_ "$run" 75 dr2.out

# --- a program shut in a namespace of its own is not let out by a checkpoint
if [ "$(id -u)" -eq 0 ]; then
	run_ ns ns.out unshare -n "$counter"
	wait_for_ 10 file_has_lines_ ns.out 3
	prog=$(prog_of_ "$run")
	kill -TERM "$run"
	wait_for_ 10 grep -q "it runs in a net namespace of its own, which its copy would not" ns.out.err
	n=$(wc -l < ns.out)
	wait_for_ 5 file_has_lines_ ns.out $((n + 3))	# it carries on, where it was
	[ -z "$(checkpoints_ ns)" ] || fail_ "checkpoints of a program in its own namespace: $(checkpoints_ ns)"
	kill -9 "$run" "$prog"
	wait "$run" 2> /dev/null
fi

# --- the program exec'd since its writes were first tracked: the signal ----
# still checkpoints it (a base of the new program) and ends it.
run_ ex ex.out --every 2s "$livewrite" 8 1
wait_for_ 10 grep -q 'checkpoint 1 of PID [0-9]* (livewrite) in ex: a base of' ex.out.err
prog=$(prog_of_ "$run")
kill -USR2 "$prog"		# livewrite exec's sleep 60
wait_for_ 5 grep -qx sleep "/proc/$prog/comm"
kill -TERM "$run"
exits_ "$run" 75 ex.out
grep -q "checkpoint 2 of PID $prog (sleep) in ex: a base of" ex.out.err ||
	fail_ "no checkpoint of the program exec'd: $(cat ex.out.err)"
run_ ex ex2.out --every 2s "$livewrite" 8 1
wait_for_ 10 grep -q 'resumed sleep from checkpoint 2 in ex' ex2.out.err
kill -TERM "$run"
exits_ "$run" 75 ex2.out

# --- the signal reaches the program while it is resumed: a checkpoint ------
# (A scheduler signals every process of the job, the copy being built too.)
# Neither the program's SIGTERM handler, which would end it with 0 and so
# remove its checkpoints, nor its SIGCONT handler (run's wake) ever runs.
cat > term.py <<'EOF'
import signal, sys, time
def bye(*_):
    print("SIGTERM handler", flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, bye)
signal.signal(signal.SIGCONT, lambda *_: print("SIGCONT handler", flush=True))
i = 0
while True:
    print(i, flush=True)
    i += 1
    time.sleep(0.1)
EOF
run_ py py1.out python3 term.py
wait_for_ 10 file_has_lines_ py1.out 3
kill -TERM "$run"
exits_ "$run" 75 py1.out
CONTMIG_TEST_HOOK=run-let-go CONTMIG_TEST_HOOK_UNTIL=$tmp/go3 run_ py py2.out python3 term.py
wait_for_ 10 grep -q 'test point run-let-go reached' py2.out.err
kill -TERM "$(prog_of_ "$run")"
touch go3
exits_ "$run" 75 py2.out
grep -q 'checkpoint 2 of PID' py2.out.err || fail_ "no checkpoint: $(cat py2.out.err)"
run_ py py3.out python3 term.py
wait_for_ 10 file_has_lines_ py3.out 3
kill -TERM "$run"
exits_ "$run" 75 py3.out
! grep handler py1.out py2.out py3.out || fail_ "a handler of the program ran"
cat py1.out py2.out > py12.out
follows_ py12.out py3.out

# --- a directory others may write: refused before anything ------------------
mkdir -m 777 open
expect_status_ 68 "$CONTMIG" run --checkpoint open "$counter"
grep -q "open may be written by others (mode 0777)" err || fail_ "an open DIR: $(cat err)"
[ -z "$(ls open)" ] || fail_ "run wrote into an open DIR: $(ls open)"
if [ "$(id -u)" -eq 0 ]; then
	new_user_ mallory
	mkdir -m 700 theirs && chown "$mallory" theirs
	expect_status_ 68 "$CONTMIG" run --checkpoint theirs "$counter"
	grep -q "theirs is owned by uid $(id -u "$mallory"), not by you" err ||
		fail_ "another user's DIR: $(cat err)"
fi

# --- usage -------------------------------------------------------------------
expect_status_ 64 "$CONTMIG" run --checkpoint ck --every 0 "$counter"
expect_status_ 64 "$CONTMIG" run --checkpoint ck --every 5x "$counter"
expect_status_ 64 "$CONTMIG" run --checkpoint ck --on KILL "$counter"
expect_status_ 64 "$CONTMIG" run --checkpoint ck --on NOPE "$counter"
expect_status_ 64 "$CONTMIG" run --checkpoint on32 --on 32 true	# the C library's
expect_status_ 64 "$CONTMIG" run --every 1s "$counter"
expect_status_ 64 "$CONTMIG" run --checkpoint ck --timeout 5 "$counter"
exit 0
