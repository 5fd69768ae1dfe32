#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# smp: 4
# timeout: 1500
#
# 10000 back-to-back stop/resume cycles with a user-space busy loop pinned
# to every CPU: every cycle succeeds, nothing is missing, the kernel log
# stays clean and every loop keeps counting. Under QEMU TCG a cycle takes
# about 60-70 ms here (the writer shares its CPU with a busy loop), so this
# boot takes 10 to 12 minutes.
exec /selftests/crash_stop_test -s cycles
