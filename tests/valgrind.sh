#!/bin/bash
# valgrind memcheck over the unit tests and the fuzz corpus replays: no
# invalid access, no use of uninitialised memory, no definite leak.
. "$srcdir/tests/init.sh"

[ -z "${CONTMIG_SANITIZED:-}" ] || skip_ "valgrind and the sanitizers do not mix"
command -v valgrind > /dev/null || skip_ "no valgrind (install-deps installs it)"

memcheck()
{
	valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
		--track-origins=yes "$@" > vg.out 2> vg.err
	local status=$?
	[ "$status" -ne 99 ] || fail_ "memcheck: $*: $(cat vg.err)"
	[ "$status" -eq 0 ] || fail_ "$*: exit $status: $(tail -n 5 vg.err)"
}

for t in unit-procfs unit-contract unit-net unit-channel; do
	memcheck "$builddir/tests/$t"
done
memcheck "$builddir/tests/replay-image" "$srcdir/tests/fuzz/image"
memcheck "$builddir/tests/replay-wire" "$srcdir/tests/fuzz/wire"
exit 0
