#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# smp: 2
# timeout: 25
#
# Runner self-test: a guest that never powers off must be stopped by the
# runner's timeout, and the run must fail.
echo "TAP version 13"
echo "1..1"
sleep 100000
