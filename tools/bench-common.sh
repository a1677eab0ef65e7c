# tools/bench-common.sh: what the benchmarks share.  Sourced by a benchmark
# named $bench (for its messages), after it has parsed its arguments.

# bench_workdir: a work directory in BENCH_DIR (default /dev/shm, a tmpfs),
# removed on exit with every PID the benchmark puts in $pids; cd there.
bench_workdir()
{
	work=$(mktemp -d "${BENCH_DIR:-/dev/shm}/contmig-$bench.XXXXXX")
	pids=
	trap 'kill -9 $pids 2> /dev/null || true; rm -rf "$work"' EXIT
	cd "$work" || exit 1
}

# until_line FILE PATTERN [SECONDS]: wait (default 20 s) for a line in FILE,
# or say what FILE holds and fail.
until_line()
{
	for _ in $(seq $((${3:-20} * 20))); do
		grep -q "$2" "$1" 2> /dev/null && return 0
		sleep 0.05
	done
	echo "$bench: no '$2' in $1 after ${3:-20} s:" >&2
	cat "$1" >&2
	exit 1
}
