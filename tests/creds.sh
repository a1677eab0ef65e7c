#!/bin/bash
# Credentials travel: a copy runs as the user its source ran as, found by name
# on the receiver, whether thawed from an image, sent to a listener or through
# thaw --stdio, and its user can freeze it again; a receiver that is not root
# takes only its own user's processes (a refused sender's process runs on);
# --as USER is root's; a user, a set-user-ID mix or an older image that the
# receiver cannot place is refused, saying why; inspect shows the user.
. "$srcdir/tests/init.sh"
private_net_
new_user_ alice
new_user_ bob
new_user_ carol
port=7760
bport=7761
patch=$builddir/tests/patch-image

# The programs where every user may run them, and each user's own directory
# ($tmp is root's) with a state directory for contmig's records.
mkdir bin && cp "$CONTMIG" "$builddir/tests/counter" "$builddir/tests/plain-dynamic" bin/ && chmod 755 bin bin/* ||
	framework_failure_ "bin"
for u in "$alice" "$bob" "$carol"; do
	mkdir -p "$u/state" && chown -R "$u:$u" "$u" && chmod 700 "$u" "$u/state" ||
		framework_failure_ "$u's directories"
done
# alice also belongs to bob's group and to one that the receiver, by the
# time it thaws, no longer has.
gone=cm$$g
groupadd "$gone" || framework_failure_ "groupadd $gone"
extra_cleanup_="$extra_cleanup_
groupdel $gone 2>/dev/null"
usermod -aG "$bob,$gone" "$alice" || framework_failure_ "usermod -aG $bob,$gone $alice"

# as_user_ USER CMD...: CMD as USER (its groups), contmig keeping its records
# in USER's own state directory.
as_user_() { as_ "$1" env CONTMIG_STATE_DIR="$tmp/$1/state" "${@:2}"; }
# via_as_ USER: a --via command that runs thaw --stdio as USER.
via_as_()
{
	echo "setpriv --reuid=$1 --regid=$1 --init-groups env CONTMIG_STATE_DIR=$tmp/$1/state" \
		"$tmp/bin/contmig thaw --stdio"
}

# start_counter_ USER OUT: a counter running as USER, writing OUT; its PID
# in $pid.
start_counter_()
{
	start_ setpriv --reuid="$1" --regid="$1" --init-groups -- bin/counter > "$2"
	wait_for_ 5 grep -q '^Name:[[:space:]]*counter' "/proc/$pid/status"
	wait_for_ 5 file_has_lines_ "$2" 1
}

# ids_ PID: its Uid, Gid and Groups lines.
ids_() { grep -E '^(Uid|Gid|Groups):' "/proc/$1/status" | tr -s ' \t' '  '; }
# runs_as_ PID USER [GROUP]: every uid of PID is USER's, every gid GROUP's
# (default: USER's), and its groups are USER's.
runs_as_()
{
	local uid gid want
	uid=$(id -u "$2") gid=$(getent group "${3:-$(id -gn "$2")}" | cut -d: -f3)
	want="Uid: $uid $uid $uid $uid
Gid: $gid $gid $gid $gid
Groups: $(id -G "$2" | tr ' ' '\n' | sort -n | tr '\n' ' ')"
	[ "$(ids_ "$1")" = "$want" ] ||
		fail_ "PID $1 runs as: $(ids_ "$1" | tr '\n' ';'), not as $2: $(echo "$want" | tr '\n' ';')"
}

# carries_on_ PID FILE: PID runs untraced and keeps writing FILE.
carries_on_()
{
	local n
	running_untraced_ "$1"
	n=$(wc -l < "$2")
	wait_for_ 5 file_has_lines_ "$2" $((n + 2))
}

# no_copies_: no restored copy runs (the ones checked before were killed).
no_copies_() { [ -z "$(copies_)" ] || fail_ "a refused migration left copies: $(copies_)"; }
# end_ PID...: kill them and wait until they are gone.
end_() { kill -9 "$@" 2> /dev/null; wait_for_ 5 eval '[ -z "$(copies_)" ]'; }

# hex_ NAME...: NAMEs, each with its NUL, in hex (for patch-image).
hex_() { printf '%s\0' "$@" | od -An -tx1 | tr -d ' \n'; }

# --- (a) root thaws another user's process: it runs as that user ---------
start_counter_ "$alice" before
expect_status_ 0 "$CONTMIG" freeze -o a.img "$pid"
# (f) inspect says whom it ran as.
expect_status_ 0 "$CONTMIG" inspect a.img
grep -q "^user:       $alice (uid $(id -u "$alice")), group: $alice (gid $(id -g "$alice")), groups: .*$bob($(id -g "$bob"))" out ||
	fail_ "inspect's user line: $(grep '^user:' out)"
grep -q "^user: .* $gone(" out || fail_ "inspect's user line lacks $gone: $(grep '^user:' out)"
expect_status_ 0 "$CONTMIG" inspect --json a.img
python3 - out "$alice" "$(id -u "$alice")" "$gone" <<'PY' || fail_ "inspect --json: $(cat out)"
import json, sys
c = json.load(open(sys.argv[1]))["credentials"]
assert c["user"] == sys.argv[2] and c["group"] == sys.argv[2], c
assert set(c["uid"].values()) == {int(sys.argv[3])}, c
assert sys.argv[4] in [g["name"] for g in c["groups"]], c
PY
# The receiver no longer has one of its groups: said, and left out.
groupdel "$gone" || framework_failure_ "groupdel $gone"
expect_status_ 0 "$CONTMIG" thaw --detach --stdout after a.img
new=$(cat out)
one_error_line_ "a group left out"
grep -q "left out: $gone\$" err || fail_ "the warning: $(cat err)"
runs_as_ "$new" "$alice"
wait_for_ 5 file_has_lines_ after 2
follows_ before after
# Its user can freeze it again, and thaw it as itself.
as_user_ "$alice" bin/contmig freeze -q -o "$alice/again.img" "$new" ||
	fail_ "$alice cannot freeze the copy root thawed for it (exit $?)"
as_user_ "$alice" bin/contmig thaw --detach "$alice/again.img" > out ||
	fail_ "$alice cannot thaw its own image (exit $?)"
runs_as_ "$(cat out)" "$alice"
end_ "$(cat out)"

# --- (b) the same through a root listener and through thaw --stdio --------
listen_ l1 $port
start_counter_ "$alice" src
expect_status_ 0 "$CONTMIG" send "$pid" 127.0.0.1:$port
read -r new dest < out
runs_as_ "$new" "$alice"
end_ "$new"
start_counter_ "$alice" src
expect_status_ 0 "$CONTMIG" send --via "'$CONTMIG' thaw --stdio" "$pid" nodeb
read -r new dest < out
runs_as_ "$new" "$alice"
end_ "$new"

# --- (c) a receiver that is not root takes only its own user's ------------
# bob's listener, with a key: without one, send deals only with a listener of
# its own user.
as_user_ "$bob" bin/contmig keygen "$bob/key" || framework_failure_ "keygen as $bob"
# Root takes no key file another user owns: it has a copy of its own.
cp "$bob/key" "$alice/key" && chown "$alice" "$alice/key" && cp "$bob/key" root.key ||
	framework_failure_ "key"
start_ setpriv --reuid="$bob" --regid="$bob" --init-groups -- \
	env CONTMIG_STATE_DIR="$tmp/$bob/state" bin/contmig thaw --listen $bport --key "$bob/key" \
	> lb.out 2> lb
blistener=$pid
wait_for_ 5 grep -qs 'thaw: listening on' lb
start_counter_ "$alice" src
asrc=$pid
# root sends alice's process to bob: refused before READY, it runs on here.
expect_status_ 71 "$CONTMIG" send --key root.key "$asrc" 127.0.0.1:$bport
one_error_line_ "root's send to $bob"
grep -q "the image's process ran as $alice; this receiver runs as $bob (uid $(id -u "$bob")) and takes only its own user's processes" err ||
	fail_ "root's send to $bob: $(cat err)"
carries_on_ "$asrc" src
wait_for_ 5 grep -q "refused: cannot restore: the image's process ran as $alice" lb
# alice herself sends it there: the same.
as_user_ "$alice" bin/contmig send --key "$alice/key" "$asrc" 127.0.0.1:$bport > out 2> err
status=$?
[ "$status" -eq 71 ] || fail_ "$alice's send to $bob exited $status: $(cat err)"
carries_on_ "$asrc" src
# Through thaw --stdio as bob: the same.
expect_status_ 71 "$CONTMIG" send --via "$(via_as_ "$bob")" "$asrc" nodeb
grep -q "takes only its own user's processes" err || fail_ "send --via to $bob: $(cat err)"
carries_on_ "$asrc" src
no_copies_
# bob's own process goes to bob's listener, and runs as bob.
start_counter_ "$bob" bsrc
expect_status_ 0 "$CONTMIG" send --key root.key "$pid" 127.0.0.1:$bport
read -r new dest < out
runs_as_ "$new" "$bob"
end_ "$new"
# bob thaws alice's image: refused; alice thaws it: it runs, as her.
expect_status_ 0 "$CONTMIG" freeze --leave-running -o a2.img "$asrc"
expect_status_ 71 as_user_ "$bob" bin/contmig thaw --detach - < a2.img
one_error_line_ "$bob's thaw of $alice's image"
grep -q "takes only its own user's processes" err || fail_ "$bob's thaw: $(cat err)"
no_copies_
expect_status_ 0 as_user_ "$alice" bin/contmig thaw --detach - < a2.img
runs_as_ "$(cat out)" "$alice"
end_ "$(cat out)"

# --- (d) --as USER: root's only ------------------------------------------
expect_status_ 0 "$CONTMIG" thaw --detach --as "$bob" a2.img
runs_as_ "$(cat out)" "$bob"
end_ "$(cat out)"
# A receiver whose capabilities would survive a change of user (a securebit
# keeps them, an ambient one outlives exec, an inheritable one returns with
# a program's file capabilities): its copy has none.
expect_status_ 0 setpriv --inh-caps +net_raw --ambient-caps +net_raw --securebits +no_setuid_fixup \
	-- "$CONTMIG" thaw --detach --as "$bob" a2.img
runs_as_ "$(cat out)" "$bob"
[ "$(grep -c '^Cap\(Inh\|Prm\|Eff\|Amb\):[[:space:]]*0*$' "/proc/$(cat out)/status")" -eq 4 ] ||
	fail_ "the copy has capabilities: $(grep ^Cap "/proc/$(cat out)/status" | tr '\n\t' '  ')"
end_ "$(cat out)"
# A receiver that is not root gives its copy none of its own capabilities
# either: alice's receiver holding an ambient CAP_NET_RAW.
setpriv --reuid="$alice" --regid="$alice" --init-groups --inh-caps +net_raw \
	--ambient-caps +net_raw -- env CONTMIG_STATE_DIR="$tmp/$alice/state" \
	bin/contmig thaw --detach - < "$alice/again.img" > out 2> err ||
	fail_ "$alice's receiver with CAP_NET_RAW: $(cat err)"
[ "$(grep -c '^Cap\(Inh\|Prm\|Eff\|Amb\):[[:space:]]*0*$' "/proc/$(cat out)/status")" -eq 4 ] ||
	fail_ "$alice's copy has its receiver's capabilities: $(grep ^Cap "/proc/$(cat out)/status" | tr '\n\t' '  ')"
end_ "$(cat out)"
# A copy run as another user gets no terminal of root's: not as its
# controlling terminal (TIOCSTI would type into root's shell), not as fds.
# exec: without it, script's "sh -c" (SHELL unset) stays, a session leader
# in $tmp that copies_ would count.
start_ script -qefc "exec '$CONTMIG' thaw --stdout tty.out a2.img" /dev/null
# Found while thaw still builds it, the copy has no fd 0 yet: wait until it
# runs on its own.
wait_for_ 10 eval '[ "$(copies_ | wc -l)" -eq 1 ] && settled_'
copy=$(copies_)
[ "$(readlink "/proc/$copy/fd/0")" = /dev/null ] ||
	fail_ "the copy's stdin: $(readlink "/proc/$copy/fd/0")"
[ "$(sed 's/.*) //' "/proc/$copy/stat" | cut -d' ' -f5)" = 0 ] ||
	fail_ "the copy has root's terminal as its own: $(cat "/proc/$copy/stat")"
end_ "$copy"
expect_status_ 0 "$CONTMIG" send --via "'$CONTMIG' thaw --stdio --as $bob" "$asrc" nodeb
read -r new dest < out
runs_as_ "$new" "$bob"
end_ "$new"
expect_status_ 64 as_user_ "$alice" bin/contmig thaw --as "$alice" - < a2.img
grep -q -- '--as is for root' err || fail_ "--as of a user: $(cat err)"
expect_status_ 64 as_user_ "$alice" bin/contmig thaw --listen $((port + 2)) --as "$alice"
expect_status_ 64 "$CONTMIG" thaw --as "$carol-not" a2.img
grep -q "no such user" err || fail_ "--as of nobody: $(cat err)"
no_copies_

# --- (e) what the receiver cannot place is refused, saying why ------------
# A damaged credentials note is an invalid image (67), for thaw and inspect:
# a count beyond the note, reserved bits, a name without its NUL.
# creds_hex_ UID GID NGROUPS RESERVED: the note's fixed part, in hex.
creds_hex_()
{
	python3 -c 'import struct, sys; a = [int(x) for x in sys.argv[1:]]
print(struct.pack("<10I", *([a[0]] * 4 + [a[1]] * 4 + a[2:])).hex())' "$@"
}
ngroups=$(id -G "$alice" | wc -w)
fixed=$(creds_hex_ "$(id -u "$alice")" "$(id -g "$alice")" "$ngroups" 0)
for bad in "$(creds_hex_ "$(id -u "$alice")" "$(id -g "$alice")" 4294967295 0)" \
	   "$(creds_hex_ "$(id -u "$alice")" "$(id -g "$alice")" "$ngroups" 1)" \
	   "$(hex_ "$alice")"; do
	if [ "$bad" = "$(hex_ "$alice")" ]; then	# its NUL made an X
		"$patch" a2.img bad.img "$(hex_ "$alice" "$alice")" "${bad%00}58$(hex_ "$alice")"
	else
		"$patch" a2.img bad.img "$fixed" "$bad"
	fi || framework_failure_ "patch-image bad.img ($bad)"
	expect_status_ 67 "$CONTMIG" thaw --detach bad.img
	grep -q "invalid image: credentials note: " err || fail_ "a bad credentials note: $(cat err)"
	expect_status_ 67 "$CONTMIG" inspect bad.img
	no_copies_
done

# A user this machine does not have (any more).
start_counter_ "$carol" csrc
expect_status_ 0 "$CONTMIG" freeze -o c.img "$pid"
wait_for_ 5 eval '! kill -0 '"$pid"' 2> /dev/null'
userdel "$carol" || framework_failure_ "userdel $carol"
expect_status_ 71 "$CONTMIG" thaw --detach c.img
one_error_line_ "a user who is gone"
grep -q "cannot restore: the image's user $carol does not exist on this machine; --as USER picks one" err ||
	fail_ "a user who is gone: $(cat err)"
no_copies_
# By name, not by number: the image's user renamed bob (alice's uid kept).
"$patch" a2.img renamed.img "$(hex_ "$alice" "$alice")" "$(hex_ "$bob" "$alice")" ||
	framework_failure_ "patch-image renamed.img"
expect_status_ 0 "$CONTMIG" thaw --detach renamed.img
[ "$(ids_ "$(cat out)" | head -n 1)" = "Uid: $(id -u "$bob") $(id -u "$bob") $(id -u "$bob") $(id -u "$bob")" ] ||
	fail_ "the user was not found by name: $(ids_ "$(cat out)")"
end_ "$(cat out)"
# Groups are the image's word too: one it names that its user does not have
# here (as its own group, or among the others) is left out, said.
outsider=cm$$u9
groupadd "$outsider" || framework_failure_ "groupadd $outsider"
extra_cleanup_="$extra_cleanup_
groupdel $outsider 2>/dev/null"
"$patch" a2.img forged1.img "$(hex_ "$alice" "$alice")" "$(hex_ "$alice" "$outsider")" &&
	"$patch" forged1.img forged2.img "$(hex_ "$bob")" "$(hex_ "$outsider")" ||
	framework_failure_ "patch-image forged2.img"
expect_status_ 0 "$CONTMIG" thaw --detach forged2.img
grep -q "left out: $outsider (its group: the copy has $alice's, gid $(id -g "$alice")) $outsider$" err ||
	fail_ "forged groups: $(cat err)"
[ "$(ids_ "$(cat out)" | sed -n 2p)" = "Gid: $(id -g "$alice") $(id -g "$alice") $(id -g "$alice") $(id -g "$alice")" ] &&
	! ids_ "$(cat out)" | grep -q "^Groups:.* $(getent group "$outsider" | cut -d: -f3) " ||
	fail_ "forged groups granted: $(ids_ "$(cat out)")"
end_ "$(cat out)"
# A set-user-ID mix: refused (the copy would hold two users' privileges).
start_ setpriv --ruid="$alice" --euid="$bob" --rgid="$alice" --egid="$bob" --clear-groups -- \
	bin/counter > msrc
wait_for_ 5 grep -q '^Name:[[:space:]]*counter' "/proc/$pid/status"
expect_status_ 0 "$CONTMIG" freeze -o mixed.img "$pid"
expect_status_ 0 "$CONTMIG" inspect mixed.img
grep -q "^user:       $bob .*; uids $(id -u "$alice")/$(id -u "$bob")/" out ||
	fail_ "inspect of a mix: $(grep '^user:' out)"
expect_status_ 71 "$CONTMIG" thaw --detach mixed.img
grep -q "real/effective/saved/filesystem), as a set-user-ID" err || fail_ "a mix: $(cat err)"
no_copies_
# An image from before credentials were recorded (the note renamed into one
# readers skip): root needs --as; anyone else runs it as itself.
"$patch" a2.img old.img 07004d43434f4e544d494700 ff004d43434f4e544d494700 ||
	framework_failure_ "patch-image old.img"
expect_status_ 0 "$CONTMIG" inspect old.img
grep -q '^user:       unknown' out || fail_ "inspect of an older image: $(grep '^user:' out)"
expect_status_ 71 "$CONTMIG" thaw --detach old.img
grep -q "does not say which user its process ran as.*--as USER picks one" err ||
	fail_ "an older image: $(cat err)"
no_copies_
expect_status_ 0 "$CONTMIG" thaw --detach --as "$alice" old.img
runs_as_ "$(cat out)" "$alice"
end_ "$(cat out)"
expect_status_ 0 as_user_ "$bob" bin/contmig thaw --detach - < old.img
[ ! -s err ] || fail_ "an older image as $bob said: $(cat err)"
runs_as_ "$(cat out)" "$bob"
end_ "$(cat out)"

# An image is only its writer's word: a file bob owns that says root (or
# alice) restores only as bob; root's own files, and --as, as they say.
start_ bin/counter > rsrc
wait_for_ 5 file_has_lines_ rsrc 1
expect_status_ 0 "$CONTMIG" freeze -o root.img "$pid"
for img in root.img a2.img; do
	cp "$img" "$bob/forged.img" && chown "$bob" "$bob/forged.img" ||
		framework_failure_ "forged.img"
	expect_status_ 71 "$CONTMIG" thaw --detach "$bob/forged.img"
	grep -q "image file belongs to $bob (uid $(id -u "$bob")), but says its process ran as" err ||
		fail_ "root thawed $bob's $img: $(cat err)"
	no_copies_
done
# A FIFO is its owner's word as much as a file.
mkfifo "$bob/forged.fifo" && chown "$bob" "$bob/forged.fifo" || framework_failure_ "mkfifo"
cat root.img > "$bob/forged.fifo" &
expect_status_ 71 "$CONTMIG" thaw --detach "$bob/forged.fifo"
grep -q "image file belongs to $bob (uid $(id -u "$bob")), but says its process ran as root" err ||
	fail_ "root thawed $bob's FIFO: $(cat err)"
no_copies_
expect_status_ 0 "$CONTMIG" thaw --detach --as "$bob" "$bob/forged.img"
runs_as_ "$(cat out)" "$bob"
end_ "$(cat out)"
expect_status_ 0 "$CONTMIG" thaw --detach root.img
[ "$(ids_ "$(cat out)" | head -1)" = "Uid: 0 0 0 0" ] || fail_ "root.img: $(ids_ "$(cat out)")"
end_ "$(cat out)" "$asrc"
stop_ "$blistener"
stop_ "$listener"

# --- a process its user may not read (not dumpable) ----------------------
# Frozen by root, its copy is not dumpable either, from before its memory
# arrives: alice reads neither; and alice may not thaw it herself.
start_ setpriv --reuid="$alice" --regid="$alice" --init-groups -- bin/plain-dynamic --no-dump \
	> nodump.out
wait_for_ 5 file_has_lines_ nodump.out 1
expect_status_ 0 "$CONTMIG" freeze -o nodump.img "$pid"
grep -q 'not dumpable' < <("$CONTMIG" inspect nodump.img) || fail_ "inspect says nothing of it: $("$CONTMIG" inspect nodump.img)"
expect_status_ 0 "$CONTMIG" thaw --detach --stdout nodump.copy nodump.img
copy=$(cat out)
runs_as_ "$copy" "$alice"
[ "$(stat -c %u "/proc/$copy/status")" = 0 ] ||
	fail_ "the copy of a process that was not dumpable is: $(stat -c %U "/proc/$copy/status")'s"
! as_ "$alice" dd if="/proc/$copy/mem" bs=1 count=1 skip=$((0x1000)) 2> /dev/null ||
	fail_ "$alice reads the memory of the copy of her process that was not dumpable"
wait_for_ 5 file_has_lines_ nodump.copy 2
end_ "$copy"
chown "$alice" nodump.img
expect_status_ 71 as_user_ "$alice" bin/contmig thaw --detach nodump.img
grep -q "the process was not dumpable" err || fail_ "$alice thawed a process that was not dumpable: $(cat err)"
no_copies_
exit 0
