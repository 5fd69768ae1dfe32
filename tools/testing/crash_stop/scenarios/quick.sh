#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# smp: 4
# timeout: 600
# kunit: 1
#
# The edit-build-test loop ("make quick"): the Rust KUnit suite in this
# boot, then the quick kselftests (no 30 s hold, no 10000 cycles).
exec /selftests/crash_stop_test -s quick
