#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# append: oops=panic
#
# kdump case 5, monarch_oops: a crash_stop() monarch's callback oopses
# while the other CPUs are held; the die notifier releases them and the
# oops (oops=panic: panic_on_oops) takes the dump.
. /kdump/lib.sh
kdump_prepare
[ -w $CS_DBG/stop ] || kdump_skip "no $CS_DBG/stop (CONFIG_CRASH_STOP_TEST)"
[ "$(cat /proc/sys/kernel/panic_on_oops)" = 1 ] ||
	kdump_fail "panic_on_oops is not 1"
monarch_oops() {
	echo crash=1 >$CS_DBG/stop
}
kdump_trigger monarch_oops
