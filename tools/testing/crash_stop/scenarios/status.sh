#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# smp: 1
# timeout: 120
#
# Runner self-test: every test passes, but the scenario exits with status 3:
# the run must fail.
echo "TAP version 13"
echo "1..1"
echo "ok 1 - fine"
exit 3
