#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# smp: 2
# timeout: 180
#
# Two CPUs: the other CPU stops at the IPI when idle, and by NMI when it
# spins with interrupts off.
exec /selftests/crash_stop_test -s idle spin1
