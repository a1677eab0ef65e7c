#!/bin/bash
# make check-cross-kernel: tests/plain-static moves into another kernel
# (tests/guest-plain.sh).
plain=plain-static
. "$srcdir/tests/guest-plain.sh"
