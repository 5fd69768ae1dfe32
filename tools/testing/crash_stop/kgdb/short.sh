#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# segments: kgdbts gdb kdb wedge stop30 cbbp kdb-ss
# upstream: kgdbts gdb kdb wedge cbbp kdb-ss
#
# The short set ("scripts/kgdb.sh --short", the kgdb phase of make test):
# the cases of scenarios/ that the issue requires, one after the other in
# ONE boot per roundup; scripts/kgdb.sh passes the ones to run as
# kgdb_test.segs= ("segments" on the crash_stop path, "upstream" with
# crash_stop.kgdb=0: the 30 s stop only on the crash_stop path).  Each
# case is a segment (kg_seg ... kg_seg_end): the host drives the debugger
# for it with its scenario's "# client:", "# kdb:" and "# kdb_timeout:"
# lines, and checks it like the scenario's own boot.
#
# Busy loops on CPUs 0, 2 and 3 all along, and on CPU 1 for kgdbts and
# gdb; CPU 1 is idle from kdb on (kdb-ss single-steps it).  kgdbts runs
# first, without kgdboc (they cannot both be kgdb's I/O driver); kgdboc is
# configured at run time after it.  kgdbts and gdb leave kgdb in gdb's
# protocol (sysrq-g then says "KGDB or $3#33 for KDB"): one more break-in
# after each (kg_to_kdb) brings kdb back, so that the next case's break-in
# gives kdb's prompt at once.  kdb-ss runs last: its single step on
# a switched-to CPU hangs kdb today (on both roundups), and the host then
# stops the boot.
. /kgdb/lib.sh
kg_init "$0"
kg_loads 0 2 3
kg_loads2 1
KG_SETTLE=2

if kg_seg_on kgdbts; then
	kg_seg kgdbts
	kg_kgdbts V1
	kg_kgdboc ttyS2,115200
	kg_to_kdb
	kg_seg_end
else
	kg_kgdboc ttyS2,115200
fi
if kg_seg_on gdb; then
	kg_seg gdb
	kg_spin 2
	kg_break_gdb
	kg_to_kdb
	kg_seg_end
fi
kg_loads2_stop
if kg_seg_on kdb; then
	kg_seg kdb
	kg_spin 2
	kg_break
	kg_seg_end
fi
if kg_seg_on wedge; then
	kg_seg wedge
	kg_wedge 3 10000
	kg_break
	kg_seg_end
fi
if kg_seg_on stop30; then
	kg_seg stop30
	kg_break
	# Soft lockup, RCU stall and clocksource warnings come within
	# seconds of the resume; the next case's log is checked too.
	KG_SETTLE=10
	kg_seg_end
	KG_SETTLE=2
fi
if kg_seg_on cbbp; then
	# Breakpoints in crash_stop's callbacks (scenarios/cbbp.sh).
	kg_seg cbbp
	kg_break
	kg_cbstop 1 hold_ms=0
	kg_cbstop 2 cpufn=1
	kg_seg_end
fi
if kg_seg_on kdb-ss; then
	kg_seg kdb-ss
	kg_break
	kg_seg_end
fi
kg_cleanup
kg_end
