#!/bin/bash
# Two nodes: network namespaces A and B joined by a veth pair.  The counter
# moves from A to B, with a key over TCP and through --via, and carries on
# there with the next number; the source is gone.
. "$srcdir/tests/init.sh"
[ "$(id -u)" -eq 0 ] || skip_ "network namespaces need root"
counter=$builddir/tests/counter
ns=cm$$
a=${ns}a b=${ns}b
ip netns add "$a" 2> /dev/null || skip_ "cannot create network namespaces here"
extra_cleanup_="ip netns del $a 2> /dev/null; ip netns del $b 2> /dev/null"
ip netns add "$b" || framework_failure_ "ip netns add $b"
ip link add "${ns}x" type veth peer name "${ns}y" || framework_failure_ "ip link add veth"
ip link set "${ns}x" netns "$a" && ip link set "${ns}y" netns "$b" &&
ip -n "$a" addr add 10.77.0.1/24 dev "${ns}x" && ip -n "$b" addr add 10.77.0.2/24 dev "${ns}y" &&
ip -n "$a" link set "${ns}x" up && ip -n "$b" link set "${ns}y" up &&
ip -n "$a" link set lo up && ip -n "$b" link set lo up || framework_failure_ "setting up the veth pair"
in_a() { ip netns exec "$a" "$@"; }
in_b() { ip netns exec "$b" "$@"; }

# Listening beyond loopback needs a key.
expect_status_ 64 in_b "$CONTMIG" thaw --listen 10.77.0.2:7742
one_error_line_
grep -q 'without --key' err || fail_ "an unkeyed listener on 10.77.0.2: $(cat err)"

"$CONTMIG" keygen key || framework_failure_ "keygen"
ip netns exec "$b" "$CONTMIG" thaw --listen 10.77.0.2:7742 --key key > b.out 2> b.log &
listener=$!
started_pids="$started_pids $listener"
wait_for_ 5 grep -qs 'thaw: listening on' b.log

start_ ip netns exec "$a" "$counter" > before
wait_for_ 5 file_has_lines_ before 3
expect_status_ 0 in_a "$CONTMIG" send --key key "$pid" 10.77.0.2
read -r new dest < out
[ "$dest" = 10.77.0.2 ] || fail_ "send printed: $(cat out)"
wait "$pid" 2> /dev/null
kill -0 "$pid" 2> /dev/null && fail_ "the source still runs on A"
wait_for_ 5 file_has_lines_ b.out 3
follows_ before b.out
[ "$(readlink "/proc/$new/ns/net")" = "$(readlink "/proc/$listener/ns/net")" ] ||
	fail_ "PID $new does not run on node B"
grep -q "10.77.0.1:[0-9]*: PID $pid (counter from .*) -> PID $new: running" b.log ||
	fail_ "B's log: $(cat b.log)"
kill "$new"

# Through --via: no listener, a command that runs thaw --stdio on B.
start_ ip netns exec "$a" "$counter" > before
wait_for_ 5 file_has_lines_ before 2
expect_status_ 0 in_a "$CONTMIG" send \
	--via "ip netns exec $b '$CONTMIG' thaw --stdio --output after" "$pid" nodeb
read -r new dest < out
[ "$dest" = nodeb ] || fail_ "send --via printed: $(cat out)"
wait_for_ 5 file_has_lines_ after 3
follows_ before after
[ "$(readlink "/proc/$new/ns/net")" = "$(readlink "/proc/$listener/ns/net")" ] ||
	fail_ "PID $new (--via) does not run on node B"
kill "$new"
exit 0
