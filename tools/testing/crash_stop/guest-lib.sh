# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
#
# Helpers for every test guest, sourced as /lib/crash_stop.sh
# (scripts/mkinitramfs.sh puts it in each initramfs).

# cs_clocksource_settled: wait (up to 10 s) while the kernel may still
# switch from tsc-early to tsc, about 2 s after boot on a quiet host: the
# switch is a stop_machine(), which would wait for a CPU spinning with
# interrupts off to end and stall its caller for the whole spin. Call it
# before starting such a spinner.
cs_clocksource_settled() {
	_cs=/sys/devices/system/clocksource/clocksource0/current_clocksource
	_i=0
	while [ "$(cat $_cs 2>/dev/null)" = tsc-early ] && [ $_i -lt 100 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
}
