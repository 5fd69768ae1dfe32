#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# ab: 1
#
# kdump case 1, idle: every other CPU idle, sysrq crash on CPU 0.
. /kdump/lib.sh
kdump_prepare
kdump_trigger sysrq_crash
