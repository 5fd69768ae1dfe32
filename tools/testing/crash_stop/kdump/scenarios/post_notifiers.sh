#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# append: crash_kexec_post_notifiers=1
#
# kdump case 4, post_notifiers: panic() stops the CPUs before the panic
# notifiers, then __crash_kexec() asks again: one crash_stop generation.
. /kdump/lib.sh
kdump_prepare
grep -q crash_kexec_post_notifiers=1 /proc/cmdline ||
	kdump_fail "crash_kexec_post_notifiers=1 not on the command line"
kdump_trigger sysrq_crash
