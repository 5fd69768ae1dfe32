#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# smp: 4
# timeout: 180
#
# The callback of a crash stop oopses (stop crash=1): the writer is killed,
# the die notifier must let the other CPUs go on (their busy loops keep
# counting), and crash_stop works again afterwards. The oops taints the
# kernel, so this runs in its own boot.
exec /selftests/crash_stop_test -s crash
