#!/bin/bash
# make check-cross-kernel: tests/plain-dynamic moves into another kernel
# (tests/guest-plain.sh).
plain=plain-dynamic
. "$srcdir/tests/guest-plain.sh"
