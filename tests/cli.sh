#!/bin/bash
# The command line: help, version, usage errors and their exit status.
. "$srcdir/tests/init.sh"

expect_status_ 0 "$CONTMIG" --help
grep -q '^Usage: contmig COMMAND' out || fail_ "--help has no usage line"
grep -q '^  check ' out || fail_ "--help does not list check"

expect_status_ 0 "$CONTMIG" -V
grep -Eqx 'contmig [0-9]+\.[0-9]+\.[0-9]+' out || fail_ "--version printed: $(cat out)"

expect_status_ 0 "$CONTMIG" help check
grep -q '^Usage: contmig check' out || fail_ "help check printed: $(cat out)"
expect_status_ 0 "$CONTMIG" help help
grep -q '^Usage: contmig help' out || fail_ "help help printed: $(cat out)"
expect_status_ 0 "$CONTMIG" check --help
grep -q '^Usage: contmig check' out || fail_ "check --help printed: $(cat out)"

# Usage errors: status 64, one line naming the problem, then a pointer to --help.
for args in "" "frob" "--frob" "help frob" "check" "check 1 2" "check --frob x" "check -q x"; do
	# shellcheck disable=SC2086
	expect_status_ 64 "$CONTMIG" $args
	head -n 1 err | grep -q '^contmig: ' || fail_ "'contmig $args': $(cat err)"
	tail -n 1 err | grep -q "^Try 'contmig.*--help'" || fail_ "'contmig $args': no --help hint"
	[ ! -s out ] || fail_ "'contmig $args' wrote to stdout"
done

# Every command in --help is documented in contmig(1).
"$CONTMIG" --help | sed -n 's/^  \([a-z]*\)  .*/\1/p' > commands
[ -s commands ] || fail_ "no commands found in --help"
while read -r cmd; do
	grep -q "^\.B contmig $cmd\|^\.SS.*$cmd" "$builddir/man/contmig.1" ||
		fail_ "command $cmd is not documented in man/contmig.1"
done < commands

# Every long option in a command's --help is documented in contmig(1), where
# roff spells --leave-running as \-\-leave\-running.
while read -r cmd; do
	[ "$cmd" = help ] && continue
	"$CONTMIG" help "$cmd" | grep -o -- '--[a-z][a-z-]*' | sort -u > options
	[ -s options ] || fail_ "help $cmd lists no options"
	while read -r opt; do
		grep -qF -- "$(printf '%s' "$opt" | sed 's/-/\\-/g')" "$builddir/man/contmig.1" ||
			fail_ "contmig $cmd $opt is not documented in man/contmig.1"
	done < options
done < commands

# ... and every option contmig(1) documents is in some --help: the two lists
# match.
for cmd in $(cat commands); do
	[ "$cmd" = help ] || "$CONTMIG" help "$cmd"
done > all-help
"$CONTMIG" --help >> all-help
# (Options of other programs that the page quotes are not contmig's.)
sed 's/\\-/-/g' "$builddir/man/contmig.1" | grep -o -- '--[a-z][a-z-]*' | sed 's/^--//' |
	grep -vx 'eh-frame-hdr\|libs\|cflags\|now\|with-systemdsystemunitdir\|requeue\|open-mode\|signal' | sort -u > man-options
[ -s man-options ] || fail_ "no options found in man/contmig.1"
while read -r opt; do
	grep -q -- "--$opt\b" all-help || fail_ "contmig(1) documents --$opt, which no --help knows"
done < man-options
exit 0
