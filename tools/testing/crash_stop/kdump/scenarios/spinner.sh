#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# ab: 1
#
# kdump case 2, spinner: CPU 2 spins with interrupts off (only an NMI
# stops it), sysrq crash on CPU 0.
. /kdump/lib.sh
kdump_prepare
[ -w $CS_DBG/spin ] || kdump_skip "no $CS_DBG/spin (CONFIG_CRASH_STOP_TEST)"
echo "cpu=2 irqs=off ms=60000" >$CS_DBG/spin || kdump_fail "spin write failed"
pid=$(kdump_spin_pid 2) || kdump_fail "no cs_spin/2 kthread"
echo "KDUMP_SPINNER_PID $pid"
kdump_trigger sysrq_crash
