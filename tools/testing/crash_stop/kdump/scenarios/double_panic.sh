#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# kdump case 6, double_panic: kthreads on CPUs 1 and 2 call panic() at the
# same moment: one dump, and the losing CPU's registers are in it.
. /kdump/lib.sh
kdump_prepare
[ -w $CS_DBG/panic ] || kdump_skip "no $CS_DBG/panic in this kernel (the two-CPU panic hook)"
two_panics() {
	echo "a=1 b=2" >$CS_DBG/panic
}
kdump_trigger two_panics
