#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# smp: 2
# timeout: 120
#
# Runner self-test: a kernel panic in the middle of a scenario (the guest
# reboots, QEMU exits without the end line) must fail the run, and the
# runner must point at the panic.
echo "TAP version 13"
echo "1..1"
echo c >/proc/sysrq-trigger
echo "ok 1 - survived a panic?"
