#!/bin/bash
# The disk fills while freeze writes an image (a 1 MiB tmpfs): one clear
# error line, exit 68, the process carries on untouched and nothing is left
# on the full filesystem.
. "$srcdir/tests/init.sh"

[ "$(id -u)" -eq 0 ] || skip_ "mounting a small tmpfs needs root"
if [ -z "${CONTMIG_PRIVATE_MOUNTS:-}" ]; then
	# A mount namespace of its own: the tmpfs goes when the test ends.
	CONTMIG_PRIVATE_MOUNTS=1 unshare --mount --propagation private -- "$BASH" "$script_" "$@"
	exit $?
fi
mkdir small
mount -t tmpfs -o size=1m tmpfs small || framework_failure_ "mount a 1 MiB tmpfs"
extra_cleanup_='umount '"$tmp"'/small 2> /dev/null;'

start_ "$builddir/tests/bigmem" 16 > src.out
wait_for_ 10 grep -q '^ready' src.out
expect_status_ 68 "$CONTMIG" freeze -q -o small/big.img "$pid"
one_error_line_
grep -q "freeze: writing small/big.img: No space left on device" err ||
	fail_ "not the disk-full message: $(cat err)"
running_untraced_ "$pid"
[ -z "$(ls -A small)" ] || fail_ "the full filesystem still holds: $(ls -A small)"
# It is still whole: the same freeze somewhere with room succeeds.
expect_status_ 0 "$CONTMIG" freeze -q -o big.img "$pid"
"$CONTMIG" inspect --verify big.img > /dev/null || fail_ "the image after the refusal is unsound"
exit 0
