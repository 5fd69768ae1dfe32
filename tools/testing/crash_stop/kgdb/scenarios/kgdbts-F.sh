#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# ab: 1
# client: none
# timeout: 900
#
# kgdbts with its kernel_clone test: the core tests (100 single steps,
# I100: the kgdbts case does 1000), then a breakpoint on kernel_clone hit
# 100 times (F100: the guest forks in a loop until kgdbts unregisters),
# busy loops on every CPU.
. /kgdb/lib.sh
kg_init "$0"
kg_loads 0 1 2 3
kg_seg kgdbts-F
kg_kgdbts V1I100F100 fork
kg_after
