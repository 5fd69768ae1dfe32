#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# ab: 1
# client: kdb
# kdb: set LINES 10000 | bp stop_callback | go | await | cpu | bt | bc * | bp stop_cpu_callback | go | await | cpu | bt | bc * | go
# kdb_timeout: 60
# append: kgdboc=ttyS2,115200
#
# A breakpoint inside a crash_stop callback: busy loops on every CPU;
# sysrq-g on CPU 0, the host sets a kdb breakpoint in the test
# interface's monarch callback (bp stop_callback) and says go; the guest
# runs a crash_stop from CPU 0 (echo hold_ms=0 > stop): CPU 0, the
# monarch, hits the breakpoint with the others held by crash_stop, which
# therefore cannot round them up for kgdb: kgdb's own NMI roundup must.
# At that prompt: cpu, bt, bc *, then a breakpoint in the per-CPU
# callback (bp stop_cpu_callback), go; the stop finishes and the guest
# runs a second one with a per-CPU callback (cpufn=1): every held CPU
# (1, 2, 3) runs it, in crash_stop's IPI handler, and the first to reach
# the breakpoint enters kdb (the others may be at it too: "bc *" makes
# them skip it).  cpu, bt, bc *, go.  After each stop the guest reads
# the stop's result and checks that every busy loop counts.
. /kgdb/lib.sh
kg_init "$0"
kg_loads 0 1 2 3
kg_seg cbbp
kg_break
kg_cbstop 1 hold_ms=0
kg_cbstop 2 cpufn=1
kg_after
