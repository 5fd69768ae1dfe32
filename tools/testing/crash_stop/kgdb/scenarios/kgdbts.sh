#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# ab: 1
# client: none
# timeout: 900
#
# kgdbts, the kernel's kgdb self-test (drivers/misc/kgdbts.c), at run time
# (it cannot share a boot with kgdboc): busy loops on every CPU, then
# "echo V1 > /sys/module/kgdbts/parameters/kgdbts" runs the core tests
# (hw and sw breakpoints, plant and detach, bad memory access, 1000
# single steps): every one breaks into kgdb, which rounds up the CPUs.
. /kgdb/lib.sh
kg_init "$0"
kg_loads 0 1 2 3
kg_seg kgdbts
kg_kgdbts V1
kg_after
