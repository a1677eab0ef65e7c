#!/bin/bash
# A real SLURM cluster on this machine: munged, slurmctld and two slurmd
# nodes, each daemon in network and UTS namespaces of its own (a "machine"
# with its hostname and address on a bridge), all under $tmp.  A requeueable
# batch job runs the counter under 'contmig run --checkpoint' on node1.
# node1 is drained and the job requeued: it resumes on node2 with every
# number printed exactly once.  Then node2 dies (every process of it killed
# -9 at once): the job, requeued, resumes on node1 from its last periodic
# checkpoint, losing no number (some may repeat).  Then it is cancelled and
# nothing of it is left.
. "$srcdir/tests/init.sh"
[ "$(id -u)" -eq 0 ] || skip_ "a cluster of network namespaces needs root"
for c in munged slurmctld slurmd sbatch scontrol squeue sinfo scancel nsenter; do
	command -v "$c" > /dev/null ||
		skip_ "no $c here (./install-deps installs slurm-wlm and munge)"
done
private_net_
counter=$builddir/tests/counter
ckpt=$tmp/ckpt		# one directory both nodes see, standing for NFS
every=2			# seconds between periodic checkpoints

# Every client call is bounded: an unreachable slurmctld makes them retry.
sl_() { timeout 10 "$@"; }

## --- the machines ---------------------------------------------------------
# machine_ NAME ADDR: network and UTS namespaces held by a sleeping process
# (its PID in $holder_NAME), hostname NAME, ADDR/24 on a veth joined to the
# bridge here; $on_NAME CMD runs CMD there.  nsenter, not 'ip netns exec',
# enters them: that one also remounts /sys, and slurmd needs /sys/fs/cgroup.
ip link add cm-br type bridge && ip addr add 10.77.0.254/24 dev cm-br &&
	ip link set cm-br up || skip_ "cannot make a bridge here"
machine_()
{
	local name=$1 addr=$2 h i=0
	start_ unshare --net --uts sleep 300
	h=$pid
	until [ "$(readlink "/proc/$h/ns/net")" != "$(readlink /proc/$$/ns/net)" ] &&
		[ "$(readlink "/proc/$h/exe")" = "$(readlink -f "$(command -v sleep)")" ]; do
		i=$((i + 1))
		[ "$i" -le 100 ] || framework_failure_ "unshare for $name"
		sleep 0.05
	done
	ip link add "cm-$name" type veth peer name eth0 netns "/proc/$h/ns/net" &&
		ip link set "cm-$name" master cm-br up &&
		on_pid_ "$h" sh -ec "hostname $name; ip link set lo up
			ip addr add $addr/24 dev eth0; ip link set eth0 up" ||
		framework_failure_ "setting up machine $name"
	eval "holder_$name=$h on_$name='nsenter --target $h --net --uts --'"
}
on_pid_() { local h=$1; shift; nsenter --target "$h" --net --uts -- "$@"; }

# pids_on_ NAME: the processes of machine NAME but its holder.
pids_on_()
{
	local h ns
	eval "h=\$holder_$1"
	ns=$(readlink "/proc/$h/ns/net") || return 0
	# One stat for all processes ('[' in the name rules out find -lname).
	QUOTING_STYLE=literal stat -c %N /proc/[0-9]*/ns/net 2> /dev/null |
		awk -v ns="$ns" -v holder="$h" \
			'$3 == ns { split($1, f, "/"); if (f[3] != holder) print f[3] }'
}

# Whatever runs on the machines goes when the test ends (slurmstepd and the
# job's processes are started by slurmd, not by the test).
kill_machines_()
{
	local m pids
	for m in ctl node1 node2; do
		[ -n "$(eval "echo \${holder_$m:-}")" ] || continue
		pids=$(pids_on_ "$m")
		# wait: the daemons the test started go quietly.
		[ -n "$pids" ] && kill -9 $pids && wait $pids
	done 2> /dev/null
}
# On failure, what the job and SLURM said.
diagnose_()
{
	[ -e "$tmp/.failed" ] || return 0
	echo "--- job.err:"; cat job.err
	echo "--- slurmctld.log:"; grep -v 'debug' slurmctld.log | tail -n 20
} >&2 2> /dev/null
extra_cleanup_="diagnose_; kill_machines_"

machine_ ctl 10.77.0.1
machine_ node1 10.77.0.11
machine_ node2 10.77.0.12

## --- munge and slurm ------------------------------------------------------
mkdir -m 755 munge && dd if=/dev/urandom of=munge/key bs=1024 count=1 2>/dev/null &&
	chmod 400 munge/key || framework_failure_ "making a munge key"
start_ $on_ctl munged --foreground --key-file="$tmp/munge/key" \
	--socket="$tmp/munge/socket" --pid-file="$tmp/munge/pid" \
	--seed-file="$tmp/munge/seed" 2> munge/log
i=0
until [ -S munge/socket ]; do
	i=$((i + 1))
	[ "$i" -le 100 ] || skip_ "munged does not start here: $(tail -n 1 munge/log)"
	sleep 0.05
done

mkdir state spool-node1 spool-node2 || framework_failure_ "mkdir"
# Both nodes are this machine: what slurmd finds here, CPUs, sockets...
hardware=$(timeout 10 slurmd -C 2> /dev/null | sed -n 's/^NodeName=[^ ]* //p')
[ -n "$hardware" ] || hardware="CPUs=$(nproc)"
cat > slurm.conf <<EOF || framework_failure_ "writing slurm.conf"
ClusterName=contmig
SlurmctldHost=ctl(10.77.0.1)
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$tmp/munge/socket
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool-%n
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd-%n.pid
SlurmctldLogFile=$tmp/slurmctld.log
SlurmdLogFile=$tmp/slurmd-%n.log
SlurmctldDebug=debug
SlurmdDebug=debug
MailProg=/bin/true
MpiDefault=none
# A job's processes are slurmstepd's descendants (no cgroups of its own;
# slurmd still needs /sys/fs/cgroup to start).
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# A whole node a job.
SelectType=select/linear
SchedulerType=sched/builtin
ReturnToService=2
# SIGTERM, then SIGKILL this many seconds later: time enough to checkpoint.
KillWait=15
# How long slurmctld waits for a silent node; the test tells it at once.
SlurmdTimeout=300
NodeName=node1 NodeAddr=10.77.0.11 NodeHostname=node1 $hardware
NodeName=node2 NodeAddr=10.77.0.12 NodeHostname=node2 $hardware
PartitionName=test Nodes=node1,node2 Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$tmp/slurm.conf

start_ $on_ctl slurmctld -D -f "$tmp/slurm.conf" > slurmctld.out 2>&1
for n in node1 node2; do
	eval "on=\$on_$n"
	start_ $on slurmd -D -N $n -f "$tmp/slurm.conf" > slurmd-$n.out 2>&1
	eval "slurmd_$n=$pid"
done

# node_state_ NODE: its state as sinfo says it (idle, alloc, drain, down...).
node_state_() { sl_ sinfo -h -n "$1" -o %t 2> /dev/null; }
node_is_() { [ "$(node_state_ "$1")" = "$2" ]; }
i=0
until node_is_ node1 idle && node_is_ node2 idle; do
	i=$((i + 1))
	[ "$i" -le 100 ] || skip_ "SLURM does not start here: node1 '$(node_state_ node1)', \
node2 '$(node_state_ node2)': $(cat slurmctld.out slurmctld.log slurmd-node?.log \
		slurmd-node?.out 2> /dev/null | grep 'error\|fatal' | tail -n 1)"
	sleep 0.2
done

## --- the job ----------------------------------------------------------------
# update_ WHAT...: scontrol update WHAT, or fail.
update_() { sl_ scontrol update "$@" > /dev/null || fail_ "scontrol update $* failed"; }
job_state_() { sl_ squeue -h -j "$job" -o '%T %N' 2> /dev/null; }
lines_() { wc -l < job.out; }
resumes_() { grep -c '^contmig: run: resum' job.err; }
# exits_75_ NODE: how many times the job's batch step (run, exec'd by the
# batch script) exited 75 there, as its slurmd says (a requeued job's record
# forgets it).
exits_75_() { grep -c "\[$job\.batch\] task 0 ([0-9]*) exited with exit code 75\.$" "slurmd-$1.log"; }

# runs_again_on_ NODE: a requeued job waits 120 s (its begin time) unless
# told to start now, which it must be once it is pending again (before, while
# its last run is still completing, the requeue resets the begin time).
runs_again_on_()
{
	local i=0 state
	until state=$(job_state_); [ "$state" = "RUNNING $1" ]; do
		i=$((i + 1))
		[ "$i" -le 200 ] || fail_ "the job did not run again on $1: '$state'"
		case $state in
		PENDING*) sl_ scontrol update jobid="$job" starttime=now 2> /dev/null ;;
		esac
		sleep 0.2
	done
}

# consecutive_ FILE: FILE's lines go 1, 2, 3... to its last.
consecutive_()
{
	seq "$(tail -n 1 "$1")" | cmp -s - "$1" ||
		fail_ "$2: $(tr '\n' ' ' < "$1" | head -c 2000)"
}

# The job is tools/contmig-job.sbatch, the batch script contmig(1) shows.
update_ nodename=node2 state=drain reason=not-yet
job=$(CONTMIG=$CONTMIG CONTMIG_CHECKPOINT=$ckpt CONTMIG_EVERY=${every}s \
	sl_ sbatch --parsable --output="$tmp/job.out" --error="$tmp/job.err" \
	--chdir="$tmp" "$srcdir/tools/contmig-job.sbatch" "$counter") ||
	fail_ "sbatch: $job"
job=${job%%;*}
wait_for_ 20 eval '[ "$(job_state_)" = "RUNNING node1" ]'
wait_for_ 10 eval '[ -s job.out ] && file_has_lines_ job.out 30'

# node1 is drained, the job requeued: SIGCONT and SIGTERM to all its
# processes.  It carries on on node2 from where it was, every number once.
update_ nodename=node2 state=resume
update_ nodename=node1 state=drain reason=moving
sl_ scontrol requeue "$job" || fail_ "scontrol requeue $job failed"
moved_at=$(lines_)
runs_again_on_ node2
wait_for_ 10 eval '[ "$(resumes_)" -eq 1 ]'
[ "$(exits_75_ node1)" -eq 1 ] ||
	fail_ "requeue: run did not exit 75 on node1: $(grep "$job.batch.*exit" slurmd-node1.log)"
wait_for_ 10 file_has_lines_ job.out $((moved_at + 60))
cp job.out moved
consecutive_ moved "across the requeue from node1 to node2, numbers were lost or repeated"

# node2 dies: its slurmd, slurmstepd, the batch step (run) and the program,
# all killed at once.  Marked down, it gives the job back to the queue.
dead=$(pids_on_ node2)
kill -9 $dead
wait $dead 2> /dev/null
wait_for_ 5 eval '[ -z "$(pids_on_ node2)" ]'
cp job.out died
consecutive_ died "before node2 died, numbers were lost or repeated"
update_ nodename=node2 state=down reason=died
update_ nodename=node1 state=resume
runs_again_on_ node1
wait_for_ 10 eval '[ "$(resumes_)" -eq 2 ]'
wait_for_ 10 file_has_lines_ job.out $(($(wc -l < died) + 30))

# It goes on from its last periodic checkpoint (on node2): about an
# interval's worth of numbers again at most (half as many more, for a loaded
# machine), none skipped.  Without periodic checkpoints it would go back
# further than that, to the requeue's (the test let it run longer on node2).
cp job.out after
tail -n +$(($(wc -l < died) + 1)) after > resumed
last=$(tail -n 1 died)
first=$(head -n 1 resumed)
[ "$first" -le $((last + 1)) ] && [ "$first" -gt $((last - every * 15 - 10)) ] ||
	fail_ "after node2 died, the job resumed at $first; the last number printed was $last"
seq "$first" "$(tail -n 1 resumed)" | cmp -s - resumed ||
	fail_ "after node2 died, the count is not consecutive: $(tr '\n' ' ' < resumed | head -c 2000)"

# Cancelled, nothing of it is left: only node1's slurmd runs there.
sl_ scancel "$job" || fail_ "scancel $job failed"
wait_for_ 20 eval '[ -z "$(job_state_)" ]'
# A cancelled job's record stays a while (MinJobAge), with its exit code.
code=$(sl_ scontrol show job "$job" | grep -o ' ExitCode=[^ ]*')
[ "$code" = " ExitCode=75:0" ] ||
	fail_ "scancel: run did not exit 75 on node1 (status:signal):$code"
wait_for_ 5 eval '[ "$(pids_on_ node1)" = "$slurmd_node1" ]'
