#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# ab: 1
# client: kdb
# kdb: set LINES 10000 | cpu | cpu 1 | rd | ss | rd | go
# kdb_timeout: 10
# append: kgdboc=ttyS2,115200
#
# kdb single step on a switched-to CPU: busy loops on CPUs 0, 2 and 3,
# CPU 1 idle; sysrq-g on CPU 0; the host switches to CPU 1 (cpu 1), reads
# its registers (rd), single-steps it (ss: CPU 1 takes the debug trap and
# becomes the entry CPU, patch 0008), reads them again (rd: the RIP
# advanced) and resumes (go, which kdb takes only on the entry CPU).
. /kgdb/lib.sh
kg_init "$0"
kg_loads 0 2 3
kg_seg kdb-ss
kg_break
kg_after
