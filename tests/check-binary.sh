#!/bin/bash
# contmig check BINARY: contract binaries pass, everything else is named.
. "$srcdir/tests/init.sh"

# A contract target, in assembly and in C: it moves and keeps the contract.
cp "$builddir/tests/counter" counter
expect_status_ 0 "$CONTMIG" check ./counter
compare_ "$srcdir/tests/golden/check-counter.txt" out
expect_status_ 0 "$CONTMIG" check "$builddir/tests/avxsum"

# The same code linked at the wrong address, over the fixed stack.
cc -nostdlib -static -no-pie -Wl,-Ttext=0x500000000 -Wl,--build-id=none -o misplaced \
	"$builddir/tests/counter.o" "$builddir/stub/crt0.o" "$builddir/stub/libcontinuum.a" ||
	framework_failure_ "linking misplaced"
expect_status_ 0 "$CONTMIG" check ./misplaced
compare_ "$srcdir/tests/golden/check-misplaced.txt" out

# An ordinary dynamic PIE program: it moves, but breaks the contract's rules,
# which are named as information ("no"), not as failures.
expect_status_ 0 "$CONTMIG" check /bin/true
grep -qx "/bin/true: moves; breaks the Continuum contract" out || fail_ "$(cat out)"
for rule in type static text; do
	grep -q "^  no    $rule " out || fail_ "/bin/true: rule $rule not named: $(cat out)"
done
grep -q '^  no    static .*interpreter /lib.*ld-linux' out || fail_ "interpreter not named"
! grep -q FAIL out || fail_ "$(cat out)"

# Not ELF at all.
echo 'just text' > notelf
expect_status_ 65 "$CONTMIG" check ./notelf
grep -q '^  FAIL  elf  *not an ELF file' out || fail_ "notelf: $(cat out)"
grep -qx "./notelf: does not move; breaks the Continuum contract" out || fail_ "$(cat out)"

# Could not check: missing, a directory, unreadable.
expect_status_ 66 "$CONTMIG" check ./missing
one_error_line_
grep -q '^contmig: check ./missing: No such file or directory$' err || fail_ "$(cat err)"
expect_status_ 66 "$CONTMIG" check "$tmp"
one_error_line_

# JSON: one valid document with the verdict and every rule.
expect_status_ 0 "$CONTMIG" check --json /bin/true
python3 - out <<'PY' || fail_ "bad JSON: $(cat out)"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["kind"] == "binary" and d["verdict"] == "moves" and d["contract"] == "breaks", d
assert all(c["contract_only"] for c in d["checks"] if not c["ok"]), d
rules = {c["check"]: c["ok"] for c in d["checks"]}
assert rules == {"elf": True, "type": False, "static": False, "text": False,
                 "stack-free": True}, rules
PY
expect_status_ 66 "$CONTMIG" check --json ./missing
python3 -c 'import json,sys; d=json.load(open("out")); assert d["verdict"] == "unknown" and d["error"], d' ||
	fail_ "bad JSON for a missing file: $(cat out)"
exit 0
