#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# ab: 1
# client: kdb
# kdb: cpu | sleep 30 | cpu | go
# append: kgdboc=ttyS2,115200
#
# A 30 s debugger stop: busy loops on every CPU, no spinner; sysrq-g on
# CPU 0, the kdb prompt held for 30 s, then go.  Afterwards the kernel
# log must have no soft lockup, RCU stall or clocksource complaint.
. /kgdb/lib.sh
kg_init "$0"
kg_loads 0 1 2 3
kg_seg stop30
kg_break
KG_SETTLE=15
kg_after
