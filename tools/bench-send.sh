#!/bin/bash
# tools/bench-send.sh [BUILDDIR [MIB [REPS]]]: time `contmig send` of a process
# with MIB MiB of touched memory over loopback, without and with a key, next
# to a plain TCP copy of the same number of bytes; medians of REPS runs.
# As root it runs in a network namespace of its own (a quiet loopback).
set -eu
top=$(cd "${1:-.}" && pwd)
mib=${2:-256} reps=${3:-5}
contmig=$top/contmig
bigmem=$top/tests/bigmem
here=$(cd "$(dirname "$0")" && pwd)

if [ "$(id -u)" -eq 0 ] && [ -z "${BENCH_NETNS:-}" ]; then
	exec env BENCH_NETNS=1 unshare --net -- bash -c 'ip link set lo up && exec bash "$0" "$@"' \
		"$here/bench-send.sh" "$top" "$mib" "$reps"
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/contmig-bench.XXXXXX")
port=$((20000 + $$ % 20000))
pids=
finish() { kill $pids 2> /dev/null || true; sleep 0.2; rm -rf "$work"; }
trap finish EXIT
cd "$work"
"$contmig" keygen key

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# send_times ARGS: one line of seconds per run of send ARGS.
send_times()
{
	local listener big new t0 t1
	"$contmig" thaw --listen "$port" "$@" > /dev/null 2> listen.log &
	listener=$!
	pids="$pids $listener"
	until grep -qs 'thaw: listening' listen.log; do sleep 0.05; done
	for _ in $(seq "$reps"); do
		(
			for fd in /proc/$BASHPID/fd/*; do
				fd=${fd##*/}
				[ "$fd" -gt 2 ] && eval "exec $fd>&-"
			done
			exec "$bigmem" "$mib"
		) > big.out &
		big=$!
		disown "$big"		# no job notice when send ends it
		pids="$pids $big"
		until grep -q '^ready' big.out; do sleep 0.05; done
		t0=$(date +%s.%N)
		read -r new _ < <("$contmig" send "$@" "$big" "127.0.0.1:$port")
		t1=$(date +%s.%N)
		# The restored copy checks its memory every 200 ms: end it before
		# the next run competes with it for the CPUs.
		kill -9 "$new"
		echo "$t1 - $t0" | bc
	done
	kill "$listener"
	wait "$listener" 2> /dev/null || true
	port=$((port + 1))
}

tcp_copy_times()
{
	python3 - "$mib" "$reps" <<'PY'
import os, socket, sys, time
mib, reps = int(sys.argv[1]), int(sys.argv[2])
size = mib << 20
data = bytearray(os.urandom(1 << 20)) * mib     # touched, like the process's
for _ in range(reps):
    ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(1)
    pid = os.fork()
    if pid == 0:
        c, _ = ls.accept(); buf = memoryview(bytearray(8 << 20)); got = 0
        while got < size:
            n = c.recv_into(buf)
            if not n:
                break
            got += n
        c.sendall(b"k"); os._exit(0)
    s = socket.create_connection(ls.getsockname())
    t = time.perf_counter(); s.sendall(data); s.recv(1)
    print(f"{time.perf_counter() - t:.4f}", flush=True)
    os.waitpid(pid, 0); s.close(); ls.close()
PY
}

tcp=$(tcp_copy_times | median)
plain=$(send_times | median)
keyed=$(send_times --key key | median)
printf '%-28s %8s %10s %9s\n' "$mib MiB over loopback" seconds "MiB/s" "x TCP"
for row in "plain TCP copy:$tcp" "contmig send:$plain" "contmig send --key:$keyed"; do
	name=${row%:*} t=${row##*:}
	printf '%-28s %8.3f %10.0f %9.2f\n' "$name" "$t" "$(echo "$mib / $t" | bc -l)" \
		"$(echo "$t / $tcp" | bc -l)"
done
echo "(medians of $reps runs; $(nproc) CPUs; $(uname -r))"
