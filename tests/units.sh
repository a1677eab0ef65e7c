#!/bin/bash
# The systemd units for receivers (contmig(1), Receivers as systemd
# services), as this build made them, run as systemd would run them, without
# systemd: systemd-analyze verify finds nothing in them; the socket and its
# per-connection service, behind systemd-socket-activate, and the listening
# service, each take a real process sent with the key and refuse one sent
# without it (or with another), which carries on; neither listens beyond
# loopback until told to; and without the key neither starts.
. "$srcdir/tests/init.sh"
private_net_	# the units' own port, 7742
counter=$builddir/tests/counter
units=$builddir/systemd
socket_unit=$units/contmig-thaw.socket
conn_unit=$units/contmig-thaw@.service
listen_unit=$units/contmig-thaw.service
for u in "$socket_unit" "$conn_unit" "$listen_unit"; do
	[ -f "$u" ] || framework_failure_ "no $u: make builds it"
done
command -v systemd-socket-activate > /dev/null || skip_ "no systemd-socket-activate"
# The key the units name, /etc/contmig/key, is this directory's.
key=/etc/contmig/key
test_key=$tmp/etc/contmig/key
mkdir -p "$tmp/etc/contmig" || framework_failure_ "mkdir $tmp/etc/contmig"
"$CONTMIG" keygen "$test_key" > /dev/null || framework_failure_ "keygen $test_key"
"$CONTMIG" keygen other.key > /dev/null || framework_failure_ "keygen other.key"
# The receivers' records: the units leave root's default, /run/contmig,
# which is this machine's, not this test's.
export CONTMIG_STATE_DIR=$tmp/state
mkdir -m 700 "$CONTMIG_STATE_DIR" || framework_failure_ "mkdir $CONTMIG_STATE_DIR"
# An address on this namespace's loopback interface that is not a loopback
# address: to contmig and to the units, another machine's way in.
ip addr add 10.77.0.1/32 dev lo || framework_failure_ "ip addr add"

# setting_ FILE SECTION KEY: the value systemd takes for KEY in FILE's
# SECTION: the last one given (nothing when none is).  The units have no
# continued lines; the test would misread one.
setting_()
{
	grep -q '\\$' "$1" && framework_failure_ "$1 continues a line: the test reads one line a setting"
	sed -n "/^\[$2\]/,/^\[/s/^$3=//p" "$1" | tail -n 1
}

# no_setting_ FILE SECTION KEY: KEY is set nowhere in FILE's SECTION.
no_setting_() { [ -z "$(sed -n "/^\[$2\]/,/^\[/{/^$3=/p}" "$1")" ]; }

# exec_start_ FILE: FILE's ExecStart= as words in ${cmd[@]}, as systemd
# splits it, with its program this build's contmig and the key this test's:
# nothing else of the unit's command changes.
exec_start_()
{
	local line
	[ "$(sed -n '/^\[Service\]/,/^\[/{/^ExecStart=./p}' "$1" | wc -l)" -eq 1 ] ||
		fail_ "$1 has not exactly one ExecStart="
	line=$(setting_ "$1" Service ExecStart)
	case $line in
	*[\"\'%\$\\]*) framework_failure_ "$1: ExecStart=$line: the test splits commands at spaces only" ;;
	esac
	read -ra cmd <<< "$line"
	# make substitutes the directory; what it gives must be absolute.
	case ${cmd[0]} in
	/*/contmig) cmd[0]=$CONTMIG ;;
	*) fail_ "$1 runs ${cmd[0]}, not an installed contmig" ;;
	esac
	# The key: /etc/contmig/key, the one the unit asserts, the docs name.
	local i n=0
	for i in "${!cmd[@]}"; do
		[ "${cmd[i]}" = --key ] || continue
		[ "${cmd[i + 1]:-}" = "$key" ] || fail_ "$1: thaw takes the key ${cmd[i + 1]:-(none)}, not $key"
		cmd[i + 1]=$test_key
		n=$((n + 1))
	done
	[ "$n" -eq 1 ] || fail_ "$1: ExecStart=$line gives thaw no key"
}

# asserts_key_ FILE: FILE refuses to start without the key.
asserts_key_()
{
	[ "$(setting_ "$1" Unit AssertPathExists)" = "$key" ] ||
		fail_ "$1: no AssertPathExists=$key: it would start without the key its thaw needs"
}

# carries_on_ PID FILE: PID runs untraced and keeps writing FILE.
carries_on_()
{
	local n
	running_untraced_ "$1"
	n=$(wc -l < "$2")
	wait_for_ 5 file_has_lines_ "$2" $((n + 2))
}

# source_ FILE: a counter writing to FILE; its PID in $src.
source_()
{
	start_ "$counter" > "$1"
	src=$pid
	wait_for_ 5 file_has_lines_ "$1" 2
}

# refused_ WHAT ARGS...: 'contmig send ARGS... $src 127.0.0.1' is refused
# (status 70), nothing is restored, and the source carries on.
refused_()
{
	local what=$1 file=$2
	shift 2
	expect_status_ 70 "$CONTMIG" send "$@" "$src" 127.0.0.1
	one_error_line_ "$what"
	carries_on_ "$src" "$file"
	[ "$(stub_processes_)" -eq 0 ] || fail_ "$what: a copy runs: $(stub_pids_)"
}

# moves_ WHAT LOG ARGS...: 'contmig send ARGS... $src 127.0.0.1' moves the
# source: it ends, its copy runs, reading and writing /dev/null, and the
# receiver's log in LOG says so.  Ends the copy.
moves_()
{
	local what=$1 log=$2 new dest fd
	shift 2
	expect_status_ 0 "$CONTMIG" send "$@" "$src" 127.0.0.1
	read -r new dest < out
	wait_for_ 5 eval '! alive_ "$src"'
	running_untraced_ "$new"
	for fd in 0 1 2; do
		[ "$(readlink "/proc/$new/fd/$fd")" = /dev/null ] ||
			fail_ "$what: the copy's fd $fd is $(readlink "/proc/$new/fd/$fd"), not /dev/null"
	done
	wait_for_ 5 grep -q "PID $src (counter from .*) -> PID $new: running" "$log"
	kill "$new"
}

# off_loopback_closed_: nothing listens on 10.77.0.1:7742.
off_loopback_closed_() { ! (exec 3<> /dev/tcp/10.77.0.1/7742) 2> /dev/null; }

# --- systemd-analyze verify ---------------------------------------------------
# It needs no systemd as PID 1, but does need to run here: a unit that is
# surely right must pass first.  The units are checked with their program
# this build's contmig (verify checks that it can be run); no man page
# check, as contmig's may not be installed.
verify_()
{
	timeout 60 systemd-analyze verify --man=no "$@" > verify.out 2>&1 &&
		! [ -s verify.out ]
}
mkdir v && printf '[Service]\nExecStart=/bin/true\n' > v/plain.service
if ! command -v systemd-analyze > /dev/null; then
	echo "$me: no systemd-analyze: the units are not verified" >&2
elif ! verify_ v/plain.service; then
	echo "$me: systemd-analyze verify fails here on a plain unit: the units are not verified: $(cat verify.out)" >&2
else
	for u in "$socket_unit" "$conn_unit" "$listen_unit"; do
		sed "s|^\(ExecStart=\)/[^ ]*/contmig |\1$CONTMIG |" "$u" > "v/${u##*/}" ||
			framework_failure_ "copying $u"
	done
	verify_ v/contmig-thaw.socket v/contmig-thaw@.service v/contmig-thaw.service ||
		fail_ "systemd-analyze verify: $(cat verify.out)"
fi
grep -n '@[a-z_]*@' "$socket_unit" "$conn_unit" "$listen_unit" > out &&
	fail_ "make left a placeholder: $(cat out)"

# --- contmig-thaw.socket and contmig-thaw@.service ------------------------------
# systemd-socket-activate stands for systemd: the socket's address, a
# process for each connection if Accept=yes (else the listening socket
# itself), the connection as the service's stdin and stdout.
asserts_key_ "$socket_unit"
exec_start_ "$conn_unit"
[ "$(setting_ "$conn_unit" Service StandardInput)" = socket ] ||
	fail_ "$conn_unit: StandardInput=$(setting_ "$conn_unit" Service StandardInput): thaw --stdio must read the connection"
case $(setting_ "$conn_unit" Service StandardOutput) in
'' | inherit | socket) ;;
*) fail_ "$conn_unit: StandardOutput=$(setting_ "$conn_unit" Service StandardOutput): thaw --stdio must answer on the connection" ;;
esac
# Unset, or inherit, stderr would be the connection too.
[ "$(setting_ "$conn_unit" Service StandardError)" = journal ] ||
	fail_ "$conn_unit: StandardError is not journal: thaw's log would go into the connection"
# The instance stops once thaw exits; all that is in its control group
# would go with it, the copy too, but for KillMode=process.
[ "$(setting_ "$conn_unit" Service KillMode)" = process ] ||
	fail_ "$conn_unit: KillMode is not process: each copy would be killed as soon as its thaw exits"
no_setting_ "$socket_unit" Socket Service ||
	fail_ "$socket_unit: Service= names another service than contmig-thaw@.service"
address=$(setting_ "$socket_unit" Socket ListenStream)
[ "$(sed -n '/^\[Socket\]/,/^\[/{/^ListenStream=./p}' "$socket_unit" | wc -l)" -eq 1 ] ||
	fail_ "$socket_unit: not one ListenStream="
case $(setting_ "$socket_unit" Socket Accept) in
yes | true | on | 1) accept=-a ;;
*) accept= ;;
esac
start_ systemd-socket-activate --inetd $accept -l "$address" "${cmd[@]}" 2> sa.log
activate=$pid
wait_for_ 5 grep -qs 'Listening on' sa.log
off_loopback_closed_ || fail_ "$socket_unit listens beyond loopback ($address)"
source_ s1
refused_ "a send with another key" s1 --key other.key
refused_ "a send without the key" s1
moves_ "a send with the key" sa.log --key "$test_key"
stop_ "$activate"

# --- contmig-thaw.service -------------------------------------------------------
# It gets /dev/null for stdin and the journal (here a file) for its output,
# as systemd gives a service by default.
asserts_key_ "$listen_unit"
exec_start_ "$listen_unit"
[ "$(setting_ "$listen_unit" Service KillMode)" = process ] ||
	fail_ "$listen_unit: KillMode is not process: stopping the receiver would kill every process it received"
for s in StandardInput StandardOutput StandardError; do
	no_setting_ "$listen_unit" Service $s || fail_ "$listen_unit: the test knows no $s="
done
start_ "${cmd[@]}" < /dev/null > journal 2>&1
listener=$pid
wait_for_ 5 grep -qs 'thaw: listening on' journal
off_loopback_closed_ || fail_ "$listen_unit listens beyond loopback: $(cat journal)"
source_ s2
refused_ "a send without the key" s2
refused_ "a send with another key" s2 --key other.key
moves_ "a send with the key" journal --key "$test_key"
stop_ "$listener"

# Without the key it does not start, saying why (systemd stops it sooner,
# by AssertPathExists=, checked above).
mv "$test_key" "$test_key.gone" || framework_failure_ "mv $test_key"
expect_status_ 66 timeout 10 "${cmd[@]}" < /dev/null
one_error_line_ "no key"
grep -q "key $test_key: No such file" err || fail_ "no key: $(cat err)"
exit 0
