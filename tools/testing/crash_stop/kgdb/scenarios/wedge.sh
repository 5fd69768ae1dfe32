#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# ab: 1
# client: kdb
# kdb: set LINES 10000 | cpu | sleep 10 | cpu | go
# append: kgdboc=ttyS2,115200
#
# A CPU wedged in NMI context at the break-in: busy loops on every CPU,
# CPU 3 spins inside an NMI handler for 10 s (the most the test
# interface allows), sysrq-g on CPU 0.  The host times the break-in to
# the kdb prompt, checks that kdb lists CPU 3 as not available (cpu),
# waits until the wedge is over (10 s), lists the CPUs again (did CPU 3 join
# late?) and resumes (go).
. /kgdb/lib.sh
kg_init "$0"
kg_loads 0 1 2 3
kg_seg wedge
kg_wedge 3 10000
kg_break
kg_after
