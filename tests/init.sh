# tests/init.sh: sourced by every shell test (after `. "$srcdir/tests/init.sh"`).
#
# Each test runs in its own temporary directory, removed on exit together with
# every process the test started.  Exit codes follow automake's harness:
# 0 pass, 1 fail (fail_), 77 skip (skip_), 99 the test itself broke
# (framework_failure_).

set -u
me=${0##*/}
script_=$(readlink -f "$0")
: "${srcdir:?run the tests through make check}"
: "${builddir:?run the tests through make check}"
: "${CONTMIG:=$builddir/contmig}"

# fail_ may run in a subshell (`... | compare_ want -`), where its exit ends
# only that: it leaves a mark that fails the test when it ends.
fail_() { echo "$me: FAIL: $*" >&2; : > "$tmp/.failed"; exit 1; }
skip_() { echo "$me: SKIP: $*" >&2; exit 77; }
framework_failure_() { echo "$me: FRAMEWORK FAILURE: $*" >&2; exit 99; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/contmig-$me.XXXXXX") || framework_failure_ "mktemp -d"
chmod 755 "$tmp"
started_pids=

# Commands a test adds for cleanup_ to run first (eval'd), e.g. to remove
# the network namespaces it made.
extra_cleanup_=

cleanup_()
{
	local p status=$?
	[ -e "$tmp/.failed" ] && [ "$status" -eq 0 ] && status=1
	eval "$extra_cleanup_"
	for p in $started_pids; do
		kill -9 "$p" 2>/dev/null
	done
	# Restored processes outlive a killed thaw; they run in $tmp, as it did.
	for p in /proc/[0-9]*; do
		case $(readlink "$p/cwd" 2>/dev/null) in
		"$tmp" | "$tmp"/*)
			[ "${p#/proc/}" != $$ ] && kill -9 "${p#/proc/}" 2>/dev/null ;;
		esac
	done
	wait 2>/dev/null
	cd / && rm -rf "$tmp"
	exit "$status"
}
trap cleanup_ EXIT
trap 'exit 99' HUP INT TERM
cd "$tmp" || framework_failure_ "cd $tmp"

# start_ CMD [ARGS]: run CMD in the background with only fds 0-2 open (a test
# harness leaks its own), remember it for cleanup; its PID is in $pid.
start_()
{
	(
		for fd in /proc/$BASHPID/fd/*; do
			fd=${fd##*/}
			[ "$fd" -gt 2 ] && eval "exec $fd>&-"
		done
		exec "$@"
	) 0<&0 &	# an explicit stdin: bash gives background jobs /dev/null
	pid=$!
	started_pids="$started_pids $pid"
}

# wait_for_ SECONDS CMD [ARGS]: poll CMD every 50 ms until it succeeds;
# fail the test when SECONDS pass first.
wait_for_()
{
	local limit=$(( $1 * 20 )) i=0
	shift
	until "$@"; do
		i=$((i + 1))
		[ "$i" -le "$limit" ] || fail_ "timed out waiting for: $*"
		sleep 0.05
	done
}

# file_has_lines_ FILE N: FILE has at least N lines.
file_has_lines_() { [ "$(wc -l < "$1")" -ge "$2" ]; }

# compare_ EXPECTED ACTUAL: the two files are the same, else show the diff.
compare_() { diff -u "$1" "$2" >&2 || fail_ "$2 differs from $1"; }

# expect_status_ N CMD [ARGS]: run CMD; fail unless it exits with status N.
# Its stdout and stderr are in $tmp/out and $tmp/err afterwards.
expect_status_()
{
	local want=$1 got
	shift
	"$@" > "$tmp/out" 2> "$tmp/err"
	got=$?
	[ "$got" -eq "$want" ] ||
		fail_ "'$*' exited $got, expected $want; stderr: $(cat "$tmp/err")"
}

# one_error_line_ [WHAT]: $tmp/err is exactly one line starting "contmig: ".
one_error_line_()
{
	[ "$(wc -l < "$tmp/err")" -eq 1 ] && grep -q '^contmig: ' "$tmp/err" ||
		fail_ "${1:+$1: }expected one 'contmig: ...' line on stderr, got: $(cat "$tmp/err")"
}

# stub_pids_: the processes started by this test's thaws (they run in $tmp)
# that run contmig's restore stub, restored or half-built, one PID a line.
# A copy whose exe link was set to its program (a root copy) is known by
# what no exec'd process of the test has: no file mapped at all (a copy's
# memory is all anonymous), or, when it maps files by reference (its program,
# its libraries: contmig(1), Mapped files), a session of its own (a
# listener's or a detached thaw's copy) or a foreground thaw for a parent.
# contmig's own processes (listeners, workers, guardians) are no copies.
stub_pids_()
{
	local cwd dir maps stat ppid sid
	# One find, not readlinks for every process on the machine.
	for cwd in $(find /proc/[0-9]*/cwd -maxdepth 0 -lname "$tmp" 2>/dev/null); do
		dir=${cwd%/cwd}
		case $(readlink "$dir/exe" 2>/dev/null) in
		'') continue ;;		# gone, or a zombie
		*memfd:contmig-stub*) echo "${dir#/proc/}"; continue ;;
		*/contmig) continue ;;
		esac
		# Gone meanwhile, or going (its maps empty): not counted.
		maps=$(cat "$dir/maps" 2>/dev/null) && [ -n "$maps" ] || continue
		if ! grep -qE '^[^ ]+ [^ ]+ [^ ]+ [^ ]+ [1-9]' <<< "$maps"; then
			echo "${dir#/proc/}"
			continue
		fi
		stat=$(cat "$dir/stat" 2>/dev/null) || continue
		# After the command's name: state, ppid, process group, session.
		read -r _ ppid _ sid _ <<< "${stat##*) }"
		if [ "$sid" = "${dir#/proc/}" ] || thaw_pid_ "$ppid"; then
			echo "${dir#/proc/}"
		fi
	done
}

# thaw_pid_ PID: PID is a 'contmig thaw' (a foreground one: its copy's parent).
thaw_pid_()
{
	case $(readlink "/proc/$1/exe" 2>/dev/null) in
	*/contmig) [ "$(tr '\0' '\n' < "/proc/$1/cmdline" 2>/dev/null | sed -n 2p)" = thaw ] ;;
	*) false ;;
	esac
}

# stub_processes_: how many there are.  A failed thaw must leave none behind.
stub_processes_() { stub_pids_ | wc -l; }

# untraced_running_ PID: PID is alive, not stopped and not traced.
untraced_running_()
{
	grep -qs '^TracerPid:[[:space:]]*0$' "/proc/$1/status" &&
		grep -qs '^State:[[:space:]]*[RS]' "/proc/$1/status"
}

# running_untraced_ PID: the same, or the test fails saying which is not so.
running_untraced_()
{
	kill -0 "$1" 2>/dev/null || fail_ "PID $1 is gone"
	grep -q '^TracerPid:[[:space:]]*0$' "/proc/$1/status" || fail_ "PID $1 is still traced"
	grep -q '^State:[[:space:]]*[RS]' "/proc/$1/status" ||
		fail_ "PID $1 is not running: $(grep State "/proc/$1/status")"
}

# follows_ BEFORE AFTER: the counter lines in AFTER go on from the last line of
# BEFORE without a gap or a repeat.
follows_()
{
	local last first snap=$tmp/follows.snapshot
	cp "$2" "$snap"		# the counter may still be writing AFTER
	last=$(tail -n 1 "$1")
	first=$(head -n 1 "$snap")
	[ "$first" = $((last + 1)) ] || fail_ "resumed at '$first' after '$last'"
	seq "$first" "$(tail -n 1 "$snap")" | diff -q - "$snap" > /dev/null ||
		fail_ "the resumed count is not consecutive: $(head -c 200 "$snap")"
}

# thaw_bg_ IMAGE OUT: thaw IMAGE in the foreground mode, in the background,
# its output in OUT; its PID is in $thaw.
thaw_bg_()
{
	"$CONTMIG" thaw "$1" > "$2" &
	thaw=$!
	started_pids="$started_pids $thaw"
}

# new_user_ VAR: make a real unprivileged user for this test (useradd, with
# a home in $tmp) and put its name in VAR; it goes when the test ends, with
# every process it still runs.  Skips without root.
users_made_=0
new_user_()
{
	local name
	[ "$(id -u)" -eq 0 ] || skip_ "making users needs root"
	command -v useradd > /dev/null || skip_ "no useradd"
	users_made_=$((users_made_ + 1))
	name=cm$$u$users_made_
	useradd --no-create-home --home-dir "$tmp" --shell /bin/sh --user-group "$name" ||
		framework_failure_ "useradd $name"
	extra_cleanup_="$extra_cleanup_
	pkill -9 -u $name; userdel $name 2>/dev/null"
	eval "$1=\$name"
}

# for_users_ FILE...: copies of FILEs in $tmp/bin, where every user may run
# them: the build tree may lie where only root may go (a clone in a mktemp
# directory).  The copy of FILE is $tmp/bin/$(basename FILE).
for_users_()
{
	mkdir -p "$tmp/bin" && cp "$@" "$tmp/bin/" && chmod 755 "$tmp/bin" "$tmp/bin"/* ||
		framework_failure_ "for_users_ $*"
}

# as_ USER CMD [ARGS]: run CMD as USER, with its groups only (no login).
as_() { local u=$1; shift; setpriv --reuid="$u" --regid="$u" --init-groups -- "$@"; }

# private_net_: run the rest of this test in a network namespace of its own,
# with only loopback up: its ports clash with no other test's, and whatever
# it leaves listening goes when it ends.  Skips without root.
private_net_()
{
	[ "$(id -u)" -eq 0 ] || skip_ "network namespaces need root"
	if [ -z "${CONTMIG_PRIVATE_NET:-}" ]; then
		CONTMIG_PRIVATE_NET=1 unshare --net -- "$BASH" "$script_" "$@"
		exit $?
	fi
	ip link set lo up || framework_failure_ "ip link set lo up"
}

# listen_ LOG ARGS...: start 'contmig thaw --listen ARGS' in the background,
# its stdout in LOG.out and stderr in LOG, and wait until it listens; its
# PID is in $listener.
listen_()
{
	local log=$1
	shift
	"$CONTMIG" thaw --listen "$@" > "$log.out" 2> "$log" &
	listener=$!
	started_pids="$started_pids $listener"
	wait_for_ 5 grep -qs 'thaw: listening on' "$log"
}

# stop_ PID: SIGTERM it and wait until it has exited.
stop_()
{
	kill "$1" 2> /dev/null
	wait_for_ 10 eval '! kill -0 '"$1"' 2> /dev/null'
	wait "$1" 2> /dev/null
	return 0
}

# has_workers_ PID: listener PID has a worker busy with a connection.
has_workers_() { pgrep -P "$1" -x contmig > /dev/null; }

# alive_ PID: the process exists, is not a zombie and is not dying.  One
# killed shows "R" while the kernel frees its memory, which can take a while
# here: SIGKILL pending or PF_EXITING (0x4 in stat's flags) means it never
# runs another instruction of its own.
alive_()
{
	local state pending flags
	state=$(sed -n 's/^State:[[:space:]]*//p' "/proc/$1/status" 2>/dev/null)
	[ -n "$state" ] && [ "${state%% *}" != Z ] || return 1
	for pending in $(sed -n 's/^\(Sig\|Shd\)Pnd:[[:space:]]*//p' "/proc/$1/status" 2>/dev/null); do
		(( (0x$pending >> 8) & 1 )) && return 1
	done
	flags=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f7)
	[ -n "$flags" ] && ! (( flags & 4 ))
}

# copies_: this test's restored copies, not yet reaped ones, one PID a line.
copies_()
{
	local p
	for p in $(stub_pids_); do
		alive_ "$p" && echo "$p"
	done
}

# settled_ [SRC]: the source is gone or runs untraced, and each copy runs
# untraced: nothing is half-way any more.
settled_()
{
	local c
	if [ -n "${1:-}" ] && alive_ "$1"; then
		untraced_running_ "$1" || return 1
	fi
	for c in $(copies_); do
		untraced_running_ "$c" || return 1
	done
}

# states_ PID...: State and TracerPid of each, for failure messages.
states_()
{
	local p
	for p in "$@"; do
		echo "PID $p: $(grep -h '^State\|^TracerPid' "/proc/$p/status" 2>/dev/null | tr '\n\t' '  ')"
	done
}

# wait_settled_ WHAT [SRC]: settled_ within 10 s, or fail saying who is not.
wait_settled_()
{
	local i=0
	# Twice, a moment apart: a stopped process woken by its tracer's death
	# shows "R" for an instant before it stops again.
	until settled_ "${2:-}" && sleep 0.05 && settled_ "${2:-}"; do
		i=$((i + 1))
		[ "$i" -le 200 ] ||
			fail_ "$1: not settled after 10 s: $(states_ ${2:-} $(copies_))"
		sleep 0.05
	done
}

# exactly_one_ WHAT SRC: once settled, exactly one of the source and its
# copies runs.  Ends the survivor.
exactly_one_()
{
	local what=$1 src=$2 n
	wait_settled_ "$what" "$src"
	n=$(copies_ | wc -l)
	alive_ "$src" && n=$((n + 1))
	[ "$n" -eq 1 ] || fail_ "$what: $n copies of the process run (source $src, copies $(copies_ | tr '\n' ' '))"
	kill -9 "$src" $(copies_) 2>/dev/null
	wait_for_ 5 eval '[ -z "$(copies_)" ]'
}

# relay_ TO ARGS: tests/relay.py on a new $relay_port (set it below the first
# one wanted) to the listener on port TO, until the next relay_; ARGS as
# relay.py takes them (--cut N, --direction up, --capture FILE...).
relay_()
{
	local to=$1
	shift
	[ -n "${relay_pid:-}" ] && stop_ "$relay_pid"
	relay_port=$((relay_port + 1))
	# Emptied here, not by the background job's redirection, which may come
	# after the wait below has read the last relay's words.
	: > relay.out
	python3 "$srcdir/tests/relay.py" --listen 127.0.0.1:$relay_port --to 127.0.0.1:$to "$@" \
		>> relay.out 2>> relay.err &
	relay_pid=$!
	started_pids="$started_pids $relay_pid"
	wait_for_ 5 grep -q "^listening $relay_port" relay.out
}

# src_: a fresh tests/counter in $pid, writing src.  Without address
# randomization its image has the same size every time (the kernel's stack
# holds argv and the environment across 1 to 3 pages, as randomization
# places it), so byte counts measured once hold.
src_()
{
	start_ setarch -R "$builddir/tests/counter" > src
	wait_for_ 5 file_has_lines_ src 2
}
