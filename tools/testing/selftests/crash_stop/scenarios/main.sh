#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# smp: 4
# timeout: 720
# append: crash_stop.nmi_wait_ms=999999 crash_stop.ipi_wait_ms=abc
#
# The quick crash_stop_test tests (params, badinput, idle, spin1, spin3,
# nest, race, wedge, hotplug, demo_c, demo_rust, and the contract: order,
# slowcpufn, late, monarch_regs, poke, interrupts, nokprobe), then hold
# (every CPU held for 30 s), in one boot and one TAP stream. The 10000 cycles are in
# cycles.sh: they take 10 to 12 minutes under TCG on their own.
# The boot parameters above are invalid on purpose: "params" checks that
# they were rejected, logged, and the defaults (100 and 1000 ms) kept.
exec /selftests/crash_stop_test -s quick hold
