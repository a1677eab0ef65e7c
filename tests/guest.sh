# tests/guest.sh: another kernel for the cross-kernel tests (make
# check-cross-kernel).  Sourced after tests/init.sh.
#
# The guest is Debian's 6.1 kernel under QEMU's software emulation (TCG,
# -cpu max: nested KVM is not to be had on every machine), booted from an
# initramfs made here: busybox, contmig and the programs the test names,
# each at this machine's path with the shared libraries ldd names (so a
# dynamic program finds the very same glibc there), and no disk.  Its /init
# brings up loopback and, with a port, an e1000 on QEMU's user network with
# that port forwarded from 127.0.0.1 here; then it runs the test's scenario,
# a shell script that reports on the second serial port, and powers off.
#
#   guest_require_                  skip unless QEMU, the kernel and busybox are here
#   guest_add_ FILE...              FILEs (and their libraries) in the guest, same paths
#   guest_put_ FILE GUESTPATH       FILE in the guest at GUESTPATH
#   guest_boot_ SCENARIO [PORT]     boot; SCENARIO is sourced by the guest's /init
#   guest_wait_ SECONDS REGEX       the report has a line matching REGEX, or fail
#   guest_end_ SECONDS              the guest has powered off, or fail
#   guest_report_ TAG               the report's lines "TAG: ...", without the tag
#   guest_tell_ WORD                the scenario's "hear" returns WORD (needs PORT)
#
# In the scenario: say TEXT (one report line), show TAG FILE (FILE's lines,
# tagged), wait_up SECONDS CMD... (poll CMD every 100 ms; 1 when time runs
# out), hear SECONDS (what guest_tell_ says here, through PORT+1 forwarded
# the same way; empty when time runs out), and $CONTMIG, $builddir, $srcdir
# as here.  The guest's thaw runs as root: a copy's CLOCK_MONOTONIC and
# CLOCK_BOOTTIME go on there from this machine's (contmig(1), TIME).  The report (second serial port) is $tmp/guest/report, the console
# (kernel, the scenario's stderr) $tmp/guest/console.  QEMU dies with the
# test: it is killed on every way out, and by the kernel if this shell is
# killed outright (parent-death signal); the guest powers itself off at a
# deadline.

guest_dir=$tmp/guest
guest_root=$guest_dir/root
guest_kernel= guest_kver= guest_pid=
# Seconds the guest may run before it powers itself off, whatever happens.
: "${GUEST_DEADLINE:=240}"

guest_require_()
{
	local k
	[ "$(id -u)" -eq 0 ] || skip_ "the cross-kernel tests need root (a network namespace, /boot)"
	command -v qemu-system-x86_64 > /dev/null ||
		skip_ "no qemu-system-x86_64 (Debian: apt-get install qemu-system-x86)"
	[ -x /bin/busybox ] && ! ldd /bin/busybox > /dev/null 2>&1 ||
		skip_ "no static /bin/busybox (Debian: apt-get install busybox-static)"
	# Debian 12's kernel, or the one named in CONTMIG_GUEST_KERNEL.
	if [ -n "${CONTMIG_GUEST_KERNEL:-}" ]; then
		guest_kernel=$CONTMIG_GUEST_KERNEL
	else
		for k in /boot/vmlinuz-6.1.*; do
			[ -r "$k" ] && guest_kernel=$k
		done
	fi
	[ -n "$guest_kernel" ] && [ -r "$guest_kernel" ] ||
		skip_ "no Linux 6.1 kernel in /boot (Debian 12: apt-get install linux-image-amd64)"
	guest_kver=${guest_kernel##*/vmlinuz-}
	[ "$guest_kver" != "$(uname -r)" ] ||
		skip_ "the guest kernel $guest_kver is the one running here: nothing crosses"
	[ -d "/lib/modules/$guest_kver" ] ||
		skip_ "no /lib/modules/$guest_kver for the guest's network driver"
	command -v setpriv > /dev/null || skip_ "no setpriv (util-linux)"
	mkdir -p "$guest_root" || framework_failure_ "mkdir $guest_root"
	guest_skeleton_
}

# guest_put_ FILE GUESTPATH: FILE's content at GUESTPATH in the guest.
guest_put_()
{
	mkdir -p "$guest_root$(dirname "$2")" && cp "$1" "$guest_root$2" ||
		framework_failure_ "guest_put_ $*"
}

# guest_add_ FILE...: each FILE at its own absolute path (through the same
# symbolic links as here), with the shared libraries it loads.
guest_add_()
{
	local f lib
	for f in "$@"; do
		f=$(readlink -f "$f") || framework_failure_ "guest_add_ $f"
		guest_path_ "$f"
		# ldd's lines: "libc.so.6 => /lib/.../libc.so.6 (0x...)" and "/lib64/ld-... (0x...)".
		for lib in $(ldd "$f" 2> /dev/null | sed -n 's,.*[[:space:]]\(/[^[:space:]]*\) (0x.*,\1,p'); do
			guest_path_ "$lib"
		done
	done
}

# guest_path_ PATH: the file PATH names, at its real path, and PATH itself
# as a symbolic link to it unless the guest's links already lead there.
guest_path_()
{
	local real
	real=$(readlink -f "$1") || framework_failure_ "readlink -f $1"
	[ -e "$guest_root$real" ] || guest_put_ "$real" "$real"
	[ -e "$guest_root$1" ] || [ -L "$guest_root$1" ] ||
		{ mkdir -p "$guest_root$(dirname "$1")" && ln -s "$real" "$guest_root$1"; } ||
		framework_failure_ "guest_path_ $1"
}

guest_skeleton_()
{
	local d t e1000
	# Top-level links as here (a merged /usr: /bin -> usr/bin ...), made
	# relative: nothing written into the guest's tree may follow a link
	# out of it.
	for d in bin sbin lib lib64; do
		if [ -L "/$d" ]; then
			t=$(readlink "/$d") && t=${t#/} && mkdir -p "$guest_root/$t" &&
				ln -s "$t" "$guest_root/$d" || framework_failure_ "the guest's /$d"
		fi
	done
	mkdir -p "$guest_root"/{bin,sbin,lib,etc,proc,sys,dev,tmp,run} &&
		chmod 1777 "$guest_root/tmp" &&
		mkdir -m 0700 "$guest_root/root" &&
		cp /bin/busybox "$guest_root/bin/busybox" &&
		echo 'root:x:0:0:root:/root:/bin/sh' > "$guest_root/etc/passwd" &&
		echo 'root:x:0:' > "$guest_root/etc/group" &&
		echo "$(hostname)-guest" > "$guest_root/etc/hostname" ||
		framework_failure_ "the guest's skeleton"
	# The test's directory, where the processes it moves work: their copies
	# go on in the same directory.
	mkdir -p "$guest_root$tmp" || framework_failure_ "the guest's $tmp"
	e1000=$(find "/lib/modules/$guest_kver" -name e1000.ko | head -n 1)
	[ -n "$e1000" ] || skip_ "no e1000.ko in /lib/modules/$guest_kver for the guest's network"
	guest_put_ "$e1000" /e1000.ko
	guest_add_ "$CONTMIG"
	cat > "$guest_root/etc/contmig-test.env" <<-EOF
	CONTMIG='$CONTMIG'
	builddir='$builddir'
	srcdir='$srcdir'
	GUEST_DEADLINE=$GUEST_DEADLINE
	EOF
	cat > "$guest_root/init" <<-'EOF'
	#!/bin/busybox sh
	# The cross-kernel guest's init (tests/guest.sh): set up, run /scenario,
	# power off.
	/bin/busybox --install -s /bin
	export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
	mount -t proc proc /proc
	mount -t sysfs sysfs /sys
	mount -t devtmpfs devtmpfs /dev
	hostname -F /etc/hostname
	. /etc/contmig-test.env
	say() { echo "$*" > /dev/ttyS1; }
	show() { sed "s/^/$1: /" "$2" > /dev/ttyS1; }
	wait_up()
	{
		local n=$(($1 * 10))
		shift
		until "$@"; do
			n=$((n - 1))
			[ "$n" -gt 0 ] || return 1
			sleep 0.1
		done
	}
	hear()
	{
		local ctl=$(($(cat /etc/contmig-port) + 1)) word
		word=$(timeout "$1" nc -l -p "$ctl" < /dev/null)
		say "heard $word"
		echo "$word"
	}
	stty -F /dev/ttyS1 raw -echo 2> /dev/null
	(sleep "$GUEST_DEADLINE"; say "deadline: the guest ran out of time"; poweroff -f) &
	say "up $(cut -d' ' -f1 /proc/uptime) s, Linux $(uname -r)"
	say "flags: $(sed -n 's/^flags[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
	ip link set lo up
	if [ -n "$(cat /etc/contmig-port 2> /dev/null)" ]; then
		insmod /e1000.ko && wait_up 10 ip link set eth0 up &&
			ip addr add 10.0.2.15/24 dev eth0 && ip route add default via 10.0.2.2 ||
			say "network: eth0 did not come up"
	fi
	say "scenario"
	. /scenario
	say "scenario ended: $?"
	poweroff -f
	EOF
	chmod 755 "$guest_root/init" || framework_failure_ "the guest's init"
}

# guest_boot_ SCENARIO [PORT]: build the initramfs with SCENARIO as /scenario
# and boot it; with PORT, the guest's PORT is 127.0.0.1:PORT here.  Returns
# once the guest's init has said its flags and starts the scenario; the
# boot time (until init runs) is in $guest_boot_s.
guest_boot_()
{
	local scenario=$1 port=${2:-} net fwd start
	guest_put_ "$scenario" /scenario
	echo "$port" > "$guest_root/etc/contmig-port"
	# Owned by root there, modes as here.
	(cd "$guest_root" && find . | busybox cpio -o -H newc -R 0:0 2> /dev/null | gzip -1) \
		> "$guest_dir/initrd.gz" || framework_failure_ "building the initramfs"
	net=
	if [ -n "$port" ]; then
		# restrict=on: the guest reaches nothing; the forwarded ports still reach it.
		fwd="hostfwd=tcp:127.0.0.1:$port-:$port,hostfwd=tcp:127.0.0.1:$((port + 1))-:$((port + 1))"
		net="-netdev user,id=n0,restrict=on,$fwd -device e1000,netdev=n0,romfile="
	fi
	guest_port=$port
	: > "$guest_dir/console" && : > "$guest_dir/report"
	start=$(date +%s%N)
	# shellcheck disable=SC2086
	setpriv --pdeathsig KILL -- qemu-system-x86_64 -nodefaults -no-user-config \
		-accel tcg -cpu max -smp 1 -m 512 -display none -monitor none -no-reboot \
		-kernel "$guest_kernel" -initrd "$guest_dir/initrd.gz" \
		-append "console=ttyS0 panic=-1 quiet loglevel=4" \
		-serial "file:$guest_dir/console" -serial "file:$guest_dir/report" \
		$net > "$guest_dir/qemu.log" 2>&1 &
	guest_pid=$!
	started_pids="$started_pids $guest_pid"
	guest_wait_ 120 '^up '
	guest_boot_s=$(( ($(date +%s%N) - start) / 1000000 ))
	guest_boot_s=$((guest_boot_s / 1000)).$(printf %03d $((guest_boot_s % 1000)))
	echo "$me: guest booted in $guest_boot_s s: $(grep -m1 '^up ' "$guest_dir/report" | tr -d '\r')" >&2
	guest_wait_ 60 '^scenario$'
}

# guest_why_: what the guest said, for a failure message.
guest_why_()
{
	echo "report: $(tail -n 15 "$guest_dir/report" | tr -d '\r' | tr '\n' '|')"
	echo "console: $(tail -n 15 "$guest_dir/console" | tr -d '\r' | tr '\n' '|')"
	echo "qemu: $(tail -n 5 "$guest_dir/qemu.log" | tr '\n' '|')"
}

# guest_wait_ SECONDS REGEX: a report line matches REGEX (grep -E) within
# SECONDS; fail if not, or if the guest is gone first.
guest_wait_()
{
	local limit=$(( $1 * 10 )) i=0
	until tr -d '\r' < "$guest_dir/report" | grep -qE -- "$2"; do
		kill -0 "$guest_pid" 2> /dev/null ||
			fail_ "the guest ended before saying /$2/: $(guest_why_)"
		i=$((i + 1))
		[ "$i" -le "$limit" ] || fail_ "the guest did not say /$2/ in $1 s: $(guest_why_)"
		sleep 0.1
	done
}

# guest_end_ SECONDS: the guest powers off within SECONDS.
guest_end_()
{
	local limit=$(( $1 * 10 )) i=0
	while kill -0 "$guest_pid" 2> /dev/null; do
		i=$((i + 1))
		[ "$i" -le "$limit" ] || fail_ "the guest did not power off in $1 s: $(guest_why_)"
		sleep 0.1
	done
	wait "$guest_pid" 2> /dev/null
	grep -q '^deadline' "$guest_dir/report" && fail_ "the guest hit its deadline: $(guest_why_)"
	# What the guest said, for the test's log.
	tr -d '\r' < "$guest_dir/report" | sed "s/^/$me: guest: /" >&2
	return 0
}

# guest_report_ TAG: the report's "TAG: " lines, without the tag.
guest_report_() { tr -d '\r' < "$guest_dir/report" | sed -n "s/^$1: //p"; }

# guest_tell_ WORD: the guest's "hear" gets WORD (one word) within 30 s.
# QEMU takes the connection here before the guest listens, so say it again
# until the guest reports that it heard it.
guest_tell_()
{
	local try i
	for try in $(seq 30); do
		timeout 2 bash -c 'echo "$1" > "/dev/tcp/127.0.0.1/$2"' tell "$1" $((guest_port + 1)) \
			2> /dev/null
		for i in 1 2 3 4 5 6 7 8 9 10; do
			tr -d '\r' < "$guest_dir/report" | grep -qx "heard $1" && return 0
			sleep 0.1
		done
	done
	fail_ "the guest did not hear '$1' in 30 s: $(guest_why_)"
}
