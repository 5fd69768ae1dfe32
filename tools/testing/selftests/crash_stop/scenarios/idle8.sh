#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# smp: 8
# timeout: 300
#
# Eight CPUs (slow to boot under TCG, so one short test): every idle CPU
# stops at the IPI, in a context that resolves to a kernel symbol.
exec /selftests/crash_stop_test -s idle
