#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The guest side of scripts/bench.sh: load crash_stop_bench.ko and run
# every mechanism (crash_stop twice: IPI-stopped CPUs held halted, the
# default, and spinning, crash_stop.halt=0); optionally stay idle for
# HOLD_S seconds, then hold every CPU as long with crash_stop, halted and
# spinning, for the host's CPU-time measurement.
# scripts/bench.sh puts the settings in /bench/settings (ROUNDS, IPI_MS,
# HOLD_S, SPIN_MS).  Lines for the host, on the results port:
#
#   BENCH_PROGRESS WHAT     what starts now (shown on the host's console)
#   BENCH_RESULT ...        the module's summary lines
#   BENCH_REWAKES N OF      crash_stop() sent N wake-up NMIs again, of OF
#                           (held CPUs times rounds)
#   BENCH_MARK NAME UPTIME  a hold/idle window begins or ends: the host
#                           timestamps it and reads QEMU's CPU time
#   BENCH_ERROR TEXT        something failed
. /bench/settings
. /lib/crash_stop.sh
D=/sys/kernel/debug/crash_stop_bench
CS=/sys/kernel/debug/crash_stop
ncpu=$(grep -c '^processor' /proc/cpuinfo)
rc=0

err() {
	echo "BENCH_ERROR $*"
	rc=1
}

run() {
	echo "BENCH_PROGRESS $1"
	if ! echo "mech=$1 rounds=$ROUNDS ${2:-}" >$D/run; then
		err "$1: the run failed (see the console log)"
	fi
	cat $D/run
}

# The NMIs taken by all CPUs so far (the "NMI:" row of /proc/interrupts).
nmis() {
	awk '$1 == "NMI:" { for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) n += $i } END { print n + 0 }' /proc/interrupts
}

mark() {
	echo "BENCH_MARK $1 $(cut -d' ' -f1 /proc/uptime)"
}

echo "BENCH_CPUS $ncpu"
insmod /bench/crash_stop_bench.ko || {
	err "insmod crash_stop_bench.ko failed"
	exit 1
}

HALT=/sys/module/crash_stop/parameters/halt
# crash_stop() with the halted hold (crash_stop.halt=1) and the mechanisms
# it is compared with, a round of each in turn; later the spinning hold
# (0), in the same boot.
[ -w $HALT ] && echo 1 >$HALT
n0=$(nmis)
run smp_call_function,nmi_ack,two_waves,crash_stop
# The NMIs beyond one per other CPU and round for each of nmi_ack,
# two_waves and crash_stop's wake-up: wake-up NMIs sent again (see
# REWAKE_NS).
echo "BENCH_REWAKES $(($(nmis) - n0 - 3 * (ncpu - 1) * (ROUNDS + 1))) $(((ncpu - 1) * (ROUNDS + 1)))"
run stop_machine
run hold_all
if [ -w $HALT ]; then
	echo 0 >$HALT
	echo "BENCH_PROGRESS crash_stop_spin"
	run crash_stop >/tmp/spin.out
	sed -n -e 's/^\(BENCH_RESULT mech=crash_stop\)\([_a-z]*\) /\1_spin\2 /p' \
		/tmp/spin.out
else
	err "no $HALT: the kernel has no halted hold"
fi

# The NMI path: the last CPU spins with interrupts off; not before the
# boot-time clocksource switch, which would stall CPU 0, the bench's CPU,
# for the whole spin.
cs_clocksource_settled
# With the halted hold, the default.
[ -w $HALT ] && echo 1 >$HALT
if echo "cpu=$((ncpu - 1)) irqs=off ms=$SPIN_MS" >$CS/spin; then
	run crash_stop_nmi "ipi_ms=$IPI_MS"
	echo stop >$CS/spin
else
	err "could not start the spinner on CPU $((ncpu - 1))"
fi

if [ "$HOLD_S" -gt 0 ]; then
	echo "BENCH_PROGRESS idle ${HOLD_S} s"
	mark idle_begin
	sleep 0.2
	sleep "$HOLD_S"
	mark idle_end
	for state in held held_spin; do
		if [ $state = held ]; then
			echo 1 >$HALT || err "cannot set $HALT"
		else
			echo 0 >$HALT || err "cannot set $HALT"
		fi
		echo "BENCH_PROGRESS $state ${HOLD_S} s"
		mark ${state}_begin
		# Until the mark has left the UART (its transmit interrupt
		# cannot run while every CPU is held).
		sleep 0.2
		echo "hold_ms=$((HOLD_S * 1000))" >$CS/stop || err "the hold failed"
		mark ${state}_end
		head -n 1 $CS/last | sed "s/^/BENCH_HOLD_LAST $state /"
	done
fi

rmmod crash_stop_bench || err "rmmod crash_stop_bench failed"
exit $rc
