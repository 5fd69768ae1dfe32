#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# ab: 1
# client: kdb
# kdb: set LINES 10000 | cpu | btc | cpu 2 | rd | cpu 0 | rd | ss | rd | go
# append: kgdboc=ttyS2,115200
#
# kdb at the debugger console: busy loops on CPUs 0, 2 and 3 (CPU 1 stays
# idle), CPU 2 spinning with interrupts off, sysrq-g on CPU 0.  The host
# lists the CPUs (cpu), their stacks (btc), the spinner's registers
# (cpu 2, rd), single-steps the entry CPU (cpu 0, rd, ss, rd) and resumes
# (go).  The single step on a switched-to CPU is kdb-ss.sh.
. /kgdb/lib.sh
kg_init "$0"
kg_loads 0 2 3
kg_seg kdb
kg_spin 2
kg_break
kg_after
