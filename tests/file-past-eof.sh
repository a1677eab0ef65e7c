#!/bin/bash
# A private file mapping that reaches past the end of its file moves: the
# image stores the pages the file has, and in the copy the pages past its
# end are zero-filled memory (contmig-image(5)).  The target checks the
# file's bytes, and once moved the zeros after them to the mapping's end.
. "$srcdir/tests/init.sh"
manymaps=$builddir/tests/manymaps

# 6000 bytes: two pages of the file (the second one partly), then four
# pages mapped past its end.
head -c 6000 /dev/urandom > data
start_ "$manymaps" file data > src
wait_for_ 5 grep -q '^ok 1$' src
expect_status_ 0 "$CONTMIG" freeze -q -o img "$pid"
expect_status_ 0 "$CONTMIG" inspect img
grep -q ' r-- *8.0 KiB *24.0 KiB  .*/data$' out || fail_ "the file mapping: $(grep data out)"
# The copy needs nothing from the file.
rm data
thaw_bg_ img copy
wait_for_ 10 grep -q '^moved ok' copy
wait_for_ 5 eval '[ $(grep -c "^moved ok" copy) -ge 2 ]'
kill -TERM "$thaw"

# The same through a pipe.
head -c 6000 /dev/urandom > data
start_ "$manymaps" file data > src
wait_for_ 5 grep -q '^ok 1$' src
"$CONTMIG" freeze -q -o - "$pid" | "$CONTMIG" thaw -q - > piped &
started_pids="$started_pids $!"
wait_for_ 10 grep -q '^moved ok' piped
wait_for_ 5 eval '[ $(grep -c "^moved ok" piped) -ge 2 ]'
exit 0
