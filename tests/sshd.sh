# tests/sshd.sh: a throwaway OpenSSH server on loopback, for one test.
#
# Source it after tests/init.sh.  `start_sshd_ PORT FORCED_COMMAND` runs
# /usr/sbin/sshd on 127.0.0.1:PORT with its keys, configuration, log and PID
# file in $tmp/sshd, and sets SSH_CMD; then
#	$SSH_CMD 127.0.0.1 anything < in > out
# logs in as root with a throwaway key and, whatever the command asked for,
# runs FORCED_COMMAND (through root's shell, -c) with the client's stdin and
# stdout as pipes, no tty; the command asked for is in $SSH_ORIGINAL_COMMAND.
# ssh exits with FORCED_COMMAND's status, and the server's log is in
# $tmp/sshd/log.
#
# FORCED_COMMAND does not inherit the test's environment or directory: it
# starts in root's home with sshd's default PATH, so give it absolute paths
# ("$CONTMIG thaw -", not "contmig thaw -").
#
# Nothing outside $tmp is written (not /etc/ssh, not ~/.ssh) except sshd's
# privilege separation directory /run/sshd, made when missing.  When the test
# exits, the server and every process under it (sessions, forced commands
# still running) are killed, then init.sh's cleanup_ runs as before.

sshd_pid=
SSH_CMD=

# sshd_alive_ PID: PID exists and is not a zombie.
sshd_alive_()
{
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	[ "${s%% *}" != Z ]
}

# sshd_tree_ PID: PID and all its descendants, one a line, sorted.
sshd_tree_()
{
	ps -e -o pid= -o ppid= | awk -v top="$1" '
		{ parent[$1] = $2 }
		END {
			tree[top] = 1
			do {
				more = 0
				for (p in parent)
					if (!(p in tree) && (parent[p] in tree)) {
						tree[p] = 1
						more = 1
					}
			} while (more)
			for (p in tree)
				print p
		}' | sort -n
}

# sshd_stop_: kill the server and everything under it.  Its sessions run in
# sessions of their own and their commands in root's home, out of reach of
# cleanup_; and once the server is gone they have no parent to find them by.
# So stop the whole tree until it no longer grows, then kill it.
sshd_stop_()
{
	local pids='' prev i
	[ -n "$sshd_pid" ] && sshd_alive_ "$sshd_pid" || return 0
	for i in 1 2 3 4 5 6 7 8 9 10; do
		prev=$pids
		pids=$(sshd_tree_ "$sshd_pid")
		kill -STOP $pids 2>/dev/null
		[ "$pids" = "$prev" ] && break
	done
	kill -KILL $pids 2>/dev/null
}

# start_sshd_ PORT FORCED_COMMAND: see above.  Skips the test without root or
# OpenSSH; one server per test.
start_sshd_()
{
	local port=$1 forced=$2 dir=$tmp/sshd prog pid i up=

	[ "$(id -u)" -eq 0 ] || skip_ "running sshd needs root"
	[ -x /usr/sbin/sshd ] || skip_ "/usr/sbin/sshd is missing (install openssh-server)"
	for prog in ssh ssh-keygen; do
		command -v "$prog" > /dev/null ||
			skip_ "$prog is missing (install openssh-client)"
	done
	# Without PAM, sshd refuses any login to an account whose password
	# starts with "!", key or not.
	case $(getent shadow root | cut -d: -f2) in
	'!'*) skip_ "root's password is locked ('!' in /etc/shadow): sshd without PAM refuses root" ;;
	esac

	case $port in
	'' | *[!0-9]*) framework_failure_ "start_sshd_: bad port '$port'" ;;
	esac
	[ "$port" -ge 1 ] && [ "$port" -le 65535 ] ||
		framework_failure_ "start_sshd_: bad port '$port'"
	case $forced in
	'' | *"
"*) framework_failure_ "start_sshd_: the forced command must be one non-empty line" ;;
	esac
	case $dir in
	/*) ;;
	*) framework_failure_ "start_sshd_: sshd needs absolute paths, not $dir" ;;
	esac
	case $dir in
	*[[:space:]]*) framework_failure_ "start_sshd_: '$dir' has white space" ;;
	esac
	mkdir "$dir" || framework_failure_ "start_sshd_: mkdir $dir (one sshd per test)"

	ssh-keygen -q -t ed25519 -N '' -C contmig-test-host -f "$dir/host_key" < /dev/null &&
	ssh-keygen -q -t ed25519 -N '' -C contmig-test-client -f "$dir/client_key" < /dev/null &&
	cp "$dir/client_key.pub" "$dir/authorized_keys" ||
		framework_failure_ "start_sshd_: ssh-keygen failed"

	# The privilege separation directory, as Debian's init script makes it:
	# sshd wants it owned by root and not writable by others.
	# -p: a test running in parallel may make it first.
	[ -d /run/sshd ] || mkdir -p -m 0755 /run/sshd ||
		framework_failure_ "start_sshd_: mkdir /run/sshd"

	# SetEnv SHLVL=1: bash run by sshd reads ~/.bashrc, even for a forced
	# command, but not when it is not a top-level shell; SHLVL=1 makes it
	# level 2.  Root's .bashrc has no business in the byte stream.
	cat > "$dir/sshd_config" <<-EOF || framework_failure_ "start_sshd_: writing sshd_config"
		Port $port
		ListenAddress 127.0.0.1
		HostKey $dir/host_key
		PidFile $dir/sshd.pid
		AuthorizedKeysFile $dir/authorized_keys
		AuthenticationMethods publickey
		PubkeyAuthentication yes
		PasswordAuthentication no
		KbdInteractiveAuthentication no
		HostbasedAuthentication no
		PermitRootLogin prohibit-password
		AllowUsers root
		StrictModes no
		UsePAM no
		UseDNS no
		ForceCommand $forced
		PermitTTY no
		PermitUserRC no
		PermitUserEnvironment no
		SetEnv SHLVL=1
		AllowAgentForwarding no
		AllowTcpForwarding no
		AllowStreamLocalForwarding no
		X11Forwarding no
		PermitTunnel no
		PrintMotd no
		PrintLastLog no
		LogLevel INFO
	EOF

	# start_ sets $pid: the local one, not the test's.
	start_ /usr/sbin/sshd -D -e -f "$dir/sshd_config" < /dev/null > "$dir/log" 2>&1
	sshd_pid=$pid
	trap 'sshd_stop_; cleanup_' EXIT

	# sshd logs this once its socket listens, i.e. accepts connections.
	# (Probing the port instead would be a failed login to sshd.)
	for i in $(seq 200); do		# 10 s
		if grep -qF "Server listening on 127.0.0.1 port $port." "$dir/log"; then
			up=1
			break
		fi
		sshd_alive_ "$sshd_pid" ||
			framework_failure_ "sshd exited; its log ends: $(tail -n 20 "$dir/log")"
		sleep 0.05
	done
	[ -n "$up" ] ||
		framework_failure_ "sshd does not listen on 127.0.0.1:$port after 10 s; its log ends: $(tail -n 20 "$dir/log")"

	# The client: with -F it reads neither /etc/ssh/ssh_config nor ~/.ssh.
	cat > "$dir/ssh_config" <<-EOF || framework_failure_ "start_sshd_: writing ssh_config"
		Host 127.0.0.1
		  Port $port
		  User root
		  IdentityFile $dir/client_key
		  IdentitiesOnly yes
		  IdentityAgent none
		  PreferredAuthentications publickey
		  StrictHostKeyChecking no
		  UserKnownHostsFile /dev/null
		  GlobalKnownHostsFile /dev/null
		  UpdateHostKeys no
		  CheckHostIP no
		  LogLevel ERROR
		  BatchMode yes
		  ConnectTimeout 10
		  RequestTTY no
		  EscapeChar none
		  ControlMaster no
		  ControlPath none
		  ForwardAgent no
		  ForwardX11 no
		  ClearAllForwardings yes
	EOF
	chmod 600 "$dir/ssh_config"	# ssh refuses a config others can write
	SSH_CMD="ssh -F $dir/ssh_config"
}
