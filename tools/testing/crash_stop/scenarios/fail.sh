#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# smp: 2
# timeout: 120
#
# Runner self-test: one test fails and one announced by the plan never
# reports, although the scenario exits 0: the runner must count 2 failures.
echo "TAP version 13"
echo "1..3"
echo "ok 1 - this one passes"
echo "not ok 2 - this one fails on purpose"
exit 0
