#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# smp: 4
# timeout: 240
#
# crash_stop demo, run in the guest by "make demo" (4 vCPUs): the C and
# the Rust sample modules each run one crash stop and log its table, then
# a CPU spinning with interrupts off is stopped by NMI through the debugfs
# test interface, and the machine is shown to carry on.

D=/sys/kernel/debug/crash_stop
SELFTESTS=/selftests
MODULES=/modules

say() {
	echo
	echo "=== $*"
}

# The kernel log since the last call, without timestamps.
klog() {
	dmesg -c | sed -e 's/^\[[ 0-9.]*\] //' -e 's/^/    /'
}

[ -d $D ] || mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
NCPU=$(grep -c '^processor' /proc/cpuinfo)
# Run this script (and so insmod and the writes to $D/stop) on CPU 0.
taskset -p 1 $$ >/dev/null 2>&1

cat <<EOF
crash_stop stops every CPU so that a debugger or a dump tool can look at a
quiet machine. The CPU that calls crash_stop() becomes the monarch. Every
other online CPU gets a maskable IPI first; a CPU that has not answered
after crash_stop.ipi_wait_ms ($(cat /sys/module/crash_stop/parameters/ipi_wait_ms 2>/dev/null) ms)
gets an NMI, which reaches it even with interrupts disabled. Each stopped
CPU records its registers, task and how it was stopped in a per-CPU table;
the caller's callback runs while the others wait; then they resume
(debuggers) or stay stopped for good (dump tools).

This VM has $NCPU CPUs. CPU 0 runs this script: it is the monarch. CPU 3
runs a user-space busy loop; the other CPUs are idle.
EOF

if [ ! -e $D/spin ]; then
	echo
	echo "no $D: the kernel lacks CONFIG_CRASH_STOP_TEST"
	exit 1
fi

$SELFTESTS/load 3 &
LOAD=$!
sleep 1
dmesg -c >/dev/null

say "insmod crash_stop_demo.ko spin_cpu=2: CPU 2 spins with interrupts off"
cat <<EOT
The C sample starts a kernel thread on CPU 2 that spins with interrupts
disabled, then calls crash_stop() (resume mode) and prints the table. CPU 2
cannot take the IPI, so after the IPI wait crash_stop sends it an NMI: its
row says nmi, irqs off, and its RIP is in crash_stop_demo_spin().
EOT
if [ -e $MODULES/crash_stop_demo.ko ]; then
	insmod $MODULES/crash_stop_demo.ko spin_cpu=2 || echo "insmod failed"
	klog
	rmmod crash_stop_demo && echo "    (rmmod crash_stop_demo: ok)"
else
	echo "    crash_stop_demo.ko: not built"
fi

say "insmod rust_crash_stop_demo.ko: the same through the Rust API"
if [ -e $MODULES/rust_crash_stop_demo.ko ]; then
	insmod $MODULES/rust_crash_stop_demo.ko || echo "insmod failed"
	klog
	rmmod rust_crash_stop_demo && echo "    (rmmod rust_crash_stop_demo: ok)"
else
	echo "    rust_crash_stop_demo.ko: not built"
fi

say "the debugfs test interface: CPU 2 spinning again, caught by NMI"
echo "cpu=2 irqs=off ms=20000" >$D/spin && echo "    spinner running on cpu 2"
echo "ipi_ms=100" >$D/stop && sed 's/^/    /' $D/last
echo stop >$D/spin && echo "    spinner stopped"
klog

say "ending the busy loop on cpu 3 (it ran through every stop)"
kill $LOAD
wait $LOAD 2>/dev/null

say "is everybody alive? a 1 s busy loop on every CPU, all at once:"
c=0
while [ $c -lt "$NCPU" ]; do
	$SELFTESTS/load -t 1 $c | sed 's/^/    /' &
	c=$((c + 1))
done
wait
echo "    load average: $(cat /proc/loadavg)"
klog

cat <<EOF

How to read the tables: one row per CPU with how it was stopped (monarch,
ipi or nmi), the task it was running (pid, comm), the instruction pointer
it was stopped at (symbol+offset/size; a raw address for user space), whether
interrupts were off there, and how long after the start of the crash stop it
stopped (stop_us). Idle CPUs stop at the IPI in the idle loop and the busy
loop stops at it in user mode, within microseconds to milliseconds. The CPU
spinning with interrupts off answers only the NMI, after the IPI wait, and
its instruction pointer is in the spinner (crash_stop_demo_spin() or
crash_stop_test_spin()). Afterwards every CPU resumed where it was: the
busy loop kept counting and all CPUs run tasks again.
EOF
