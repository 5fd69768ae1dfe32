#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# ab: 1
# client: gdb
# append: kgdboc=ttyS2,115200
#
# gdb on the debugger port: busy loops on every CPU, CPU 2 spinning with
# interrupts off, sysrq-g on CPU 0; the host connects gdb (kdb hands the
# port over), lists the threads, backtraces the CPUs and the spinner and
# says continue; the guest ends the spinner, checks that every busy loop
# counts while gdb waits, and breaks in again: gdb detaches.
. /kgdb/lib.sh
kg_init "$0"
kg_loads 0 1 2 3
kg_seg gdb
kg_spin 2
kg_break_gdb
kg_after
