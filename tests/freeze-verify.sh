#!/bin/bash
# freeze reads back what it wrote before it ends the process.  Here the
# image file is changed behind freeze's back while it is being written (its
# unnamed file reached through /proc/PID/fd): freeze must see it, say so in
# one line, leave no image, and let the process carry on.  Without the
# check, freeze would exit 0 and end the process, leaving a damaged image.
. "$srcdir/tests/init.sh"
[ "$(id -u)" -eq 0 ] || skip_ "writing into another process's unnamed file needs root"

# image_fd_ PID: freeze PID's image file, once it has a head (1 MiB) but not
# yet half of its 512 MiB of data, as /proc/PID/fd/N.
image_fd_()
{
	local fd size
	for fd in /proc/"$1"/fd/*; do
		case $(readlink "$fd" 2> /dev/null) in
		"$tmp"/*"(deleted)") ;;
		*) continue ;;
		esac
		size=$(stat -L -c %s "$fd" 2> /dev/null) || return 1
		[ "$size" -ge $((1 << 20)) ] && [ "$size" -lt $((256 << 20)) ] || return 1
		echo "$fd"
		return 0
	done
	return 1
}

hit=
for attempt in 1 2 3 4 5; do
	start_ "$builddir/tests/bigmem" 512 > big.out
	wait_for_ 30 grep -q '^ready' big.out
	"$CONTMIG" freeze -q -o img "$pid" 2> err &
	freeze=$!
	fd=
	for _ in $(seq 2000); do
		kill -0 "$freeze" 2> /dev/null || break
		fd=$(image_fd_ "$freeze") && break
		fd=
		sleep 0.005
	done
	# One byte of the program headers, written once freeze is past them.
	[ -n "$fd" ] && printf 'X' | dd of="$fd" bs=1 seek=200 conv=notrunc status=none 2> /dev/null ||
		fd=
	wait "$freeze"
	status=$?
	if [ -z "$fd" ]; then
		# Too late to change it: then it must simply have worked.
		[ "$status" -eq 0 ] || fail_ "freeze exited $status: $(cat err)"
		"$CONTMIG" inspect --verify img > /dev/null 2>&1 || fail_ "freeze left an unsound image"
		rm -f img
		continue
	fi
	hit=$attempt
	echo "caught freeze at attempt $attempt"
	[ "$status" -eq 67 ] || fail_ "freeze of a changed image exited $status: $(cat err)"
	one_error_line_
	grep -q "freeze PID $pid: the image does not read back as written: .*; the process carries on" err ||
		fail_ "freeze said: $(cat err)"
	[ -z "$(ls img* 2> /dev/null)" ] || fail_ "an image was left: $(ls img*)"
	running_untraced_ "$pid"
	n=$(grep -c '^ok' big.out)
	wait_for_ 5 eval '[ $(grep -c "^ok" big.out) -gt '"$n"' ]'
	break
done
[ -n "$hit" ] || skip_ "never caught freeze between its head and its end in 5 tries"
exit 0
