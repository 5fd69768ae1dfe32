#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# ab: 1
# client: none
# timeout: 900
#
# kgdbts with its sys_open test: the core tests (100 single steps, I100:
# the kgdbts case does 1000), then a breakpoint on do_sys_openat2 hit 1000
# times (S1000: the guest opens files in a loop until kgdbts unregisters),
# busy loops on every CPU.  The source suggests S10000 on hardware; 1000
# keeps the run within minutes under TCG.
. /kgdb/lib.sh
kg_init "$0"
kg_loads 0 1 2 3
kg_seg kgdbts-S
kg_kgdbts V1I100S1000 open
kg_after
