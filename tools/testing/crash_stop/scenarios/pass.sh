#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# smp: 2
# timeout: 120
#
# Runner self-test: a scenario that passes.  It also checks what every
# scenario relies on: the mounts, the module and selftest directories, and
# that a Rust module loads and unloads.
echo "TAP version 13"
echo "1..3"
echo "ok 1 - hello"
if grep -q ' /sys/kernel/debug debugfs ' /proc/mounts && [ -d /modules ] &&
   [ -d /selftests ]; then
	echo "ok 2 - debugfs mounted, /modules and /selftests present"
else
	echo "not ok 2 - debugfs mounted, /modules and /selftests present"
fi
if [ ! -e /modules/rust_minimal.ko ]; then
	echo "ok 3 - rust_minimal load/unload # SKIP rust_minimal.ko not built"
elif insmod /modules/rust_minimal.ko && rmmod rust_minimal; then
	echo "ok 3 - rust_minimal load/unload"
else
	echo "not ok 3 - rust_minimal load/unload"
fi
