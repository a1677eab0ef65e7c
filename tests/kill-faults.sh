#!/bin/bash
# kill -9 of freeze, send, thaw and the listener at many moments, mid-stream
# and mid-restore included: the process is never left stopped, traced, lost
# or duplicated, no half-restored process is left, no partial image either.
. "$srcdir/tests/init.sh"
private_net_

bigmem=$builddir/tests/bigmem
delays="0 0.005 0.01 0.02 0.04 0.07 0.1 0.15"

src_()
{
	start_ "$bigmem" 64 > src.out
	wait_for_ 10 grep -q '^ready' src.out
}

# freeze: the source carries on with no image, or has ended with a sound one;
# or, killed between naming the image and ending the process, carries on
# beside a sound image (a snapshot: nothing lost, nothing partial).
for d in $delays; do
	src_
	"$CONTMIG" freeze -q -o "$tmp/img/k.img" "$pid" 2> /dev/null &
	victim=$!
	mkdir -p img
	sleep "$d"
	kill -9 "$victim" 2> /dev/null
	wait "$victim" 2> /dev/null
	wait_settled_ "freeze killed after $d s" "$pid"
	files=$(ls img)
	if alive_ "$pid"; then
		case $files in
		"") ;;
		k.img)
			"$CONTMIG" inspect --verify img/k.img > /dev/null ||
				fail_ "freeze killed after $d s: the process runs beside an unsound image" ;;
		*) fail_ "freeze killed after $d s: the process runs, and img/ holds $files" ;;
		esac
		kill -9 "$pid"
	else
		[ "$files" = k.img ] || fail_ "freeze killed after $d s: the process ended, img/ holds '$files'"
		"$CONTMIG" inspect --verify img/k.img > /dev/null ||
			fail_ "freeze killed after $d s: the process ended with an unsound image"
	fi
	rm -rf img
done

# thaw: the image's process runs whole, or not at all.
src_
"$CONTMIG" freeze -q -o k.img "$pid" || fail_ "freeze for the thaw cases"
for d in $delays; do
	"$CONTMIG" thaw -q -d k.img > thaw.out 2> /dev/null &
	victim=$!
	sleep "$d"
	kill -9 "$victim" 2> /dev/null
	wait "$victim" 2> /dev/null
	wait_settled_ "thaw killed after $d s"
	[ "$(copies_ | wc -l)" -le 1 ] || fail_ "thaw killed after $d s: two copies"
	kill -9 $(copies_) 2> /dev/null
	wait_for_ 5 eval '[ -z "$(copies_)" ]'
done

# send, and the listener or its worker: exactly one copy runs, here or there.
listen_ l 7742
for victim in send listener worker; do
	for d in $delays; do
		src_
		"$CONTMIG" send -q "$pid" 127.0.0.1:7742 > /dev/null 2>&1 &
		sender=$!
		sleep "$d"
		case $victim in
		send) kill -9 "$sender" ;;
		listener) kill -9 "$listener" ;;
		worker) kill -9 $(pgrep -P "$listener" -x contmig) 2> /dev/null ;;
		esac
		wait "$sender" 2> /dev/null
		exactly_one_ "$victim killed after $d s" "$pid"
		if [ "$victim" = listener ]; then
			wait "$listener" 2> /dev/null
			listen_ l 7742
		fi
	done
done
exit 0
