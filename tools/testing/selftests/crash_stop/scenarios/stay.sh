#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# smp: 4
# timeout: 180
#
# mode=stay parks every other CPU for good, so this runs in its own boot
# and ends it: stay_test prints its TAP, then "CRASH_STOP_GUEST_END rc=N"
# itself (the init script's own end line may never come, as the CPUs it
# might need are parked), and powers the machine off with reboot(2).
exec /selftests/stay_test -s -p
