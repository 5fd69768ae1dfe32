# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
#
# Shared part of the kdump scenarios (scenarios/*.sh), sourced in the first
# kernel as /kdump/lib.sh.  scripts/kdump.sh puts in /kdump/: bzImage (the
# capture kernel: the same image), capture.cpio.gz (its initramfs),
# kexec_crash_load, cmdline (the capture kernel's command line).
# The scenario's stdout is the results port (ttyS1): every KDUMP_* line
# below is read by the host.

CS_DBG=/sys/kernel/debug/crash_stop

# kdump_fail MSG: the scenario cannot go on; the host sees the reason.
kdump_fail() {
	echo "KDUMP_FAIL $*"
	exit 1
}

# kdump_skip MSG: this kernel lacks what the case needs.
kdump_skip() {
	echo "KDUMP_SKIP $*"
	exit 0
}

# kdump_prepare: pin this shell (and so the trigger) to CPU 0, check the
# crash kernel reservation, report the A/B switch, load the capture kernel.
kdump_prepare() {
	taskset -p -c 0 $$ >/dev/null || kdump_fail "taskset -p -c 0 failed"
	size=$(cat /sys/kernel/kexec_crash_size 2>/dev/null)
	[ -n "$size" ] && [ "$size" != 0 ] ||
		kdump_fail "no crash kernel memory (kexec_crash_size=${size:-none}): crashkernel= missing?"
	echo "KDUMP_CRASH_SIZE $size"
	p=/sys/module/crash_stop/parameters/kdump
	if [ -r $p ]; then
		echo "KDUMP_PARAM kdump=$(cat $p)"
	else
		echo "KDUMP_PARAM none"
	fi
	echo "KDUMP_CPUS online=$(cat /sys/devices/system/cpu/online)"
	/kdump/kexec_crash_load /kdump/bzImage /kdump/capture.cpio.gz \
		"$(cat /kdump/cmdline)" || kdump_fail "kexec_crash_load failed"
	[ "$(cat /sys/kernel/kexec_crash_loaded)" = 1 ] ||
		kdump_fail "kexec_crash_loaded is not 1 after loading"
	echo "KDUMP_LOADED"
}

# kdump_spin_pid CPU: print the pid of the spinner kthread cs_spin/CPU.
kdump_spin_pid() {
	for d in /proc/[0-9]*; do
		if [ "$(cat "$d/comm" 2>/dev/null)" = "cs_spin/$1" ]; then
			echo "${d#/proc/}"
			return 0
		fi
	done
	return 1
}

# kdump_trigger CMD...: announce the trigger (this shell's CPU and pid:
# CMD, a shell function, crashes the kernel in this very process, or starts
# what does), let the port drain, run CMD.  The kernel should be gone
# within seconds.
kdump_trigger() {
	echo "KDUMP_TRIGGER cpu=$(cut -d' ' -f39 /proc/$$/stat) pid=$$ cmd=$*"
	sleep 0.2
	"$@"
	sleep 30
	echo "KDUMP_FAIL no crash within 30 s of: $*"
	exit 1
}

# sysrq_crash: what "echo c > /proc/sysrq-trigger" does, as a command.
sysrq_crash() {
	echo c >/proc/sysrq-trigger
}
