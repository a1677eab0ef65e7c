#!/bin/bash
# The state directory (a receiver's records of how migrations ended) is
# used only if it is the caller's and mode 0700, and its fallback is not a
# name another user can take first: without XDG_RUNTIME_DIR it used to be
# /tmp/contmig-UID, which anyone could make, and then read, forge or
# withhold the records.  Now /run/user/UID/contmig if that is ours, else
# one in the home.
. "$srcdir/tests/init.sh"
for_users_ "$CONTMIG" "$builddir/tests/counter"
CONTMIG=$tmp/bin/contmig counter=$tmp/bin/counter
new_user_ victim
new_user_ squatter
vuid=$(id -u "$victim")
home=$tmp/home-$victim
mkdir -m 700 "$home" && chown "$victim:$victim" "$home"

# as_victim_ CMD...: CMD as the victim, as a login without a runtime
# directory would run it.
as_victim_()
{
	env -u XDG_RUNTIME_DIR -u XDG_STATE_HOME -u CONTMIG_STATE_DIR HOME="$home" \
		setpriv --reuid="$victim" --regid="$victim" --init-groups -- "$@"
}

# The squatter takes the old fallback, open to all, before the victim
# ever runs contmig.
squatted=/tmp/contmig-$vuid
[ ! -e "$squatted" ] || framework_failure_ "$squatted exists already"
extra_cleanup_="$extra_cleanup_
rm -rf '$squatted'"
as_ "$squatter" mkdir -m 777 "$squatted" || framework_failure_ "mkdir $squatted"

# A migration as the victim, through thaw --stdio: its records go to the
# home, none to the squatted directory.
start_ setpriv --reuid="$victim" --regid="$victim" --init-groups -- "$counter" > before
wait_for_ 5 file_has_lines_ before 2
src=$pid
: > recv.log && chown "$victim" recv.log
as_victim_ "$CONTMIG" send -q --via "$CONTMIG thaw --stdio 2> $tmp/recv.log" "$src" node \
	> out 2> err || fail_ "send as the victim: $(cat err; cat recv.log)"
read -r new node < out
grep -q " -> PID $new: running" recv.log || fail_ "the receiver's log: $(cat recv.log)"
kill "$new"
state=$home/.local/state/contmig
[ "$(stat -c '%U %a' "$state")" = "$victim 700" ] ||
	fail_ "the state directory: $(ls -ld "$state" 2>&1)"
ls "$state" | grep -Eq '^[0-9a-f]{32}\.decision$' || fail_ "no record in $state: $(ls -la "$state")"
[ -z "$(ls -A "$squatted")" ] || fail_ "records went to the squatted $squatted: $(ls -la "$squatted")"

# With /run/user/UID, the victim's own (as a login manager makes it), the
# records go there.
rundir=/run/user/$vuid
if [ -d /run/user ] && [ ! -e "$rundir" ]; then
	extra_cleanup_="$extra_cleanup_
	rm -rf '$rundir'"
	mkdir -m 700 "$rundir" && chown "$victim:$victim" "$rundir"
	as_victim_ "$CONTMIG" thaw --stdio < /dev/null > /dev/null 2> err
	grep -q 'state directory' err && fail_ "with $rundir: $(cat err)"
	[ "$(stat -c '%U %a' "$rundir/contmig")" = "$victim 700" ] ||
		fail_ "$rundir/contmig: $(ls -ld "$rundir/contmig" 2>&1)"
	rm -rf "$rundir"
fi

# Without a home of its own to write in (the victim's passwd home is this
# test's directory, root's): refused, saying what to set; still never /tmp.
env -u XDG_RUNTIME_DIR -u XDG_STATE_HOME -u CONTMIG_STATE_DIR -u HOME \
	setpriv --reuid="$victim" --regid="$victim" --init-groups -- \
	"$CONTMIG" thaw --stdio < /dev/null > /dev/null 2> err && fail_ "no home: thaw --stdio worked"
grep -q "the state directory $tmp/.local/state/contmig: Permission denied; set CONTMIG_STATE_DIR" err ||
	fail_ "no home: $(cat err)"
[ -z "$(ls -A "$squatted")" ] || fail_ "with no home, records went to $squatted"

# A state directory another user made is refused, never used.
CONTMIG_STATE_DIR=$squatted expect_status_ 68 as_ "$victim" "$CONTMIG" thaw --stdio < /dev/null
one_error_line_ "another user's state directory"
grep -q "the state directory $squatted belongs to uid $(id -u "$squatter") ($squatter), not to you" err ||
	fail_ "another user's state directory: $(cat err)"
# One of ours that others may look in is refused, saying how to mend it.
mkdir -m 755 wide
CONTMIG_STATE_DIR=$tmp/wide expect_status_ 68 "$CONTMIG" thaw --stdio < /dev/null
one_error_line_ "a state directory of mode 0755"
grep -qF "the state directory $tmp/wide has mode 0755; others may look at its records: chmod 700 $tmp/wide" err ||
	fail_ "a state directory of mode 0755: $(cat err)"
chmod 700 wide
CONTMIG_STATE_DIR=$tmp/wide expect_status_ 69 "$CONTMIG" thaw --stdio < /dev/null
grep -q 'state directory' err && fail_ "mode 0700: $(cat err)"
exit 0
