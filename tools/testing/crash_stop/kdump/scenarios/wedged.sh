#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# ab: 1
#
# kdump case 3, wedged: CPU 2 spins inside an NMI handler for 10 s (it
# answers neither IPI nor NMI), sysrq crash on CPU 0: the capture must
# complete anyway, with CPU 2 reported missing.
. /kdump/lib.sh
kdump_prepare
[ -w $CS_DBG/wedge ] || kdump_skip "no $CS_DBG/wedge (CONFIG_CRASH_STOP_TEST)"
echo "cpu=2 ms=10000" >$CS_DBG/wedge || kdump_fail "wedge write failed"
echo "KDUMP_WEDGED_CPU 2"
kdump_trigger sysrq_crash
