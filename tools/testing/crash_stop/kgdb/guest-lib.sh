# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
#
# Shared part of the kgdb scenarios (scenarios/*.sh), sourced in the guest
# as /kgdb/lib.sh.  scripts/kgdb.sh puts kgdb_load (the pinned busy loops)
# in /kgdb/ too.  The scenario's stdout is the results port (ttyS1): the
# host reads every KGDB_* line below, some of them (KGDB_BREAK,
# KGDB_RESUMED) as they come, with its own timestamps.
#
# The driver runs pinned to CPU 0 from its first line on (kg_init): a
# process that once ran on a CPU that later spins with interrupts off
# hangs in its next fork (the TLB shootdown waits for that CPU), so the
# shell that breaks in must never have run on the spinner's CPU.

. /lib/crash_stop.sh

CS_DBG=/sys/kernel/debug/crash_stop
KG_LOAD=/tmp/kgdb_load.table
KG_LOAD2=/tmp/kgdb_load2.table
KG_SPINNING=""
KG_SEG=""
KG_SPIN_MS=${KG_SPIN_MS:-120000}
KG_SETTLE=${KG_SETTLE:-5}

# kg_init "$0": re-run the scenario pinned to CPU 0, in a fresh process;
# then report the kernel's A/B switch and the online CPUs.
kg_init() {
	if [ "${KG_PINNED:-}" != 1 ]; then
		KG_PINNED=1 exec taskset -c 0 /bin/sh "$1"
	fi
	p=/sys/module/crash_stop/parameters/kgdb
	if [ -r $p ]; then
		echo "KGDB_PARAM kgdb=$(cat $p)"
	else
		echo "KGDB_PARAM none"
	fi
	echo "KGDB_CPUS online=$(cat /sys/devices/system/cpu/online)"
	echo "KGDB_CMDLINE $(cat /proc/cmdline)"
	echo "KGDB_DRIVER cpu=$(kg_cpu) pid=$$"
	# The serial ports' interrupts on CPU 0, the driver's: a write to the
	# results port, and its drain before each break-in, wait for the
	# port's interrupt, which a CPU spinning with interrupts off or wedged
	# in an NMI handler would hold back (the kernel picks any CPU).
	irqs=""
	for irq in $(grep ttyS /proc/interrupts | cut -d: -f1); do
		echo 1 >"/proc/irq/$irq/smp_affinity" 2>/dev/null && irqs="$irqs $irq"
	done
	echo "KGDB_IRQS on cpu0:$irqs"
}

# kg_fail MSG: the scenario cannot go on; the host sees why.
kg_fail() {
	echo "KGDB_FAIL $*"
	kg_cleanup
	exit 1
}

# kg_cpu: the CPU this shell runs on.
kg_cpu() {
	cut -d' ' -f39 /proc/$$/stat
}

# kg_loads CPU...: a busy loop pinned to each CPU, counting.
kg_loads() {
	/kgdb/kgdb_load start $KG_LOAD "$@" || kg_fail "kgdb_load start $* failed"
	echo "KGDB_LOADS_ON $*"
}

# kg_loads2 CPU... / kg_loads2_stop: more busy loops, in a second table,
# that a boot with several segments stops halfway (a CPU idle from then).
kg_loads2() {
	/kgdb/kgdb_load start $KG_LOAD2 "$@" || kg_fail "kgdb_load start $* failed"
	echo "KGDB_LOADS2_ON $*"
}
kg_loads2_stop() {
	[ -f $KG_LOAD2 ] && /kgdb/kgdb_load stop $KG_LOAD2
	rm -f $KG_LOAD2
	echo "KGDB_LOADS2_OFF"
}

# kg_loads_check KEY: "KEY ok|stuck cpuN=+DELTA ..." of every busy loop
# (both tables) over one second.
kg_loads_check() {
	st=ok
	if [ -f $KG_LOAD2 ]; then
		/kgdb/kgdb_load check $KG_LOAD2 1000 >/tmp/kgdb_load2.out &
		p2=$!
	fi
	out=$(/kgdb/kgdb_load check $KG_LOAD 1000) || st=stuck
	if [ -f $KG_LOAD2 ]; then
		wait "$p2" || st=stuck
		out="$out $(cat /tmp/kgdb_load2.out)"
	fi
	echo "$1 $st $out"
}

# kg_seg NAME: a case begins (a boot runs one or more: kgdb.sh --short);
# the host drives the debugger for it and splits the logs at the
# markers, on the results port and on the console.
kg_seg() {
	KG_SEG=$1
	echo "KGDB_SEG $1"
	echo "kgdb-test: KGDB_SEG $1" >/dev/kmsg
}

# kg_seg_on NAME: whether this boot runs the case NAME: the host lists
# them as kgdb_test.segs=A,B,... on the kernel command line (which the
# kernel ignores); every case when absent.
kg_seg_on() {
	segs=$(sed -n 's/.*kgdb_test\.segs=\([^ ]*\).*/\1/p' /proc/cmdline)
	[ -z "$segs" ] && return 0
	case ",$segs," in
	*",$1,"*) return 0 ;;
	esac
	return 1
}

# kg_kgdboc CONFIG: (re)configure kgdboc at run time ("" unregisters it:
# kgdbts cannot register next to it).
kg_kgdboc() {
	echo "$1" >/sys/module/kgdboc/parameters/kgdboc ||
		kg_fail "kgdboc=$1 failed"
	echo "KGDB_KGDBOC $1"
}

# kg_spin CPU: a kthread spinning with interrupts off on CPU.
kg_spin() {
	[ -w $CS_DBG/spin ] || kg_fail "no $CS_DBG/spin (CONFIG_CRASH_STOP_TEST)"
	# Not before the boot-time clocksource switch (seen: the break-in
	# came after the whole spin).
	cs_clocksource_settled
	echo "cpu=$1 irqs=off ms=$KG_SPIN_MS" >$CS_DBG/spin ||
		kg_fail "spin write failed"
	KG_SPINNING=$1
	echo "KGDB_SPINNER cpu=$1 pid=$(kg_comm_pid "cs_spin/$1")"
}

# kg_wedge CPU MS: CPU spins inside an NMI handler for MS milliseconds.
kg_wedge() {
	[ -w $CS_DBG/wedge ] || kg_fail "no $CS_DBG/wedge (CONFIG_CRASH_STOP_TEST)"
	echo "cpu=$1 ms=$2" >$CS_DBG/wedge || kg_fail "wedge write failed"
	echo "KGDB_WEDGED cpu=$1 ms=$2"
}

# kg_comm_pid COMM: the pid of the task named COMM (no fork per task: the
# busy loops make every fork slow).
kg_comm_pid() {
	for d in /proc/[0-9]*; do
		c=""
		read -r c <"$d/comm" 2>/dev/null
		if [ "$c" = "$1" ]; then
			echo "${d#/proc/}"
			return 0
		fi
	done
	echo "-"
}

# kg_mark: the break-in marker, on the results port and on the console
# (through /dev/kmsg: the console prints it before the write returns).
# The results port is drained first: a tty still holding output when the
# debugger stops the machine sends it only after the resume (or never,
# when the debugger hangs).  The host times the break-in from the
# console's marker.
kg_mark() {
	echo "KGDB_BREAK cpu=$(kg_cpu) pid=$$"
	/kgdb/kgdb_load drain
	echo "kgdb-test: KGDB_BREAK cpu=$(kg_cpu) pid=$$" >/dev/kmsg
}

# kg_break: announce, then break into the debugger from this shell (CPU
# 0).  The write returns once the debugger has resumed the machine.
kg_break() {
	echo "KGDB_LOADS_BEFORE $(/kgdb/kgdb_load read $KG_LOAD)"
	kg_mark
	echo g >/proc/sysrq-trigger
	echo "KGDB_RESUMED"
}

# kg_break_gdb: break in for gdb (kg_break), which lists the threads and
# says "continue"; while gdb waits, the spinner ends and every busy loop
# must count (KGDB_LOADS_CONTINUE); then break in again: gdb's continue
# returns, gdb detaches.
kg_break_gdb() {
	kg_break
	kg_spin_stop
	kg_loads_check KGDB_LOADS_CONTINUE
	kg_mark
	echo g >/proc/sysrq-trigger
	echo "KGDB_RESUMED"
}

# kg_to_kdb: kgdbts is a gdb client: after it, kgdb talks gdb's protocol
# at the next break-in ("KGDB or $3#33 for KDB").  Break in once more: the
# host says $3#33 (kdb's prompt must come back), then go.
kg_to_kdb() {
	echo "KGDB_TO_KDB"
	/kgdb/kgdb_load drain
	echo g >/proc/sysrq-trigger
	echo "KGDB_RESUMED"
}

# kg_cbstop N ARGS: the Nth crash_stop of the test interface ("echo ARGS
# > stop", from this shell on CPU 0, the monarch), with the host's kdb
# breakpoint in one of its callbacks (cbbp): the write returns once the
# debugger has resumed and the stop is done.  Then the stop's result
# ("last"), and whether every busy loop counts.
kg_cbstop() {
	n=$1
	shift
	[ -w $CS_DBG/stop ] || kg_fail "no $CS_DBG/stop (CONFIG_CRASH_STOP_TEST)"
	echo "KGDB_CBSTOP $n $* cpu=$(kg_cpu)"
	/kgdb/kgdb_load drain
	echo "kgdb-test: KGDB_CBSTOP $n $*" >/dev/kmsg
	t0=$(date +%s)
	rc=0
	echo "$*" >$CS_DBG/stop || rc=$?
	echo "KGDB_RESUMED"
	echo "KGDB_CBSTOP_RC $n rc=$rc secs=$(($(date +%s) - t0))"
	while read -r line; do
		echo "KGDB_CBSTOP_LAST $n $line"
	done <$CS_DBG/last
	kg_loads_check "KGDB_CBSTOP_LOADS $n"
}

kg_spin_stop() {
	if [ -n "$KG_SPINNING" ]; then
		echo stop >$CS_DBG/spin
		KG_SPINNING=""
	fi
}

# kg_kgdbts CONFIG [fork|open]: run kgdbts with CONFIG at run time (the
# write returns once the core tests are done).  With fork or open, the
# repeated test (F or S) goes on after the write: fork or open in a loop
# until kgdbts unregisters, at most KG_KGDBTS_WAIT seconds.
kg_kgdbts() {
	p=/sys/module/kgdbts/parameters/kgdbts
	[ -w $p ] || kg_fail "no $p (CONFIG_KGDB_TESTS)"
	echo "KGDBTS_CONFIG $1"
	kg_mark
	t0=$(date +%s)
	rc=0
	echo "$1" >$p || rc=$?
	echo "KGDBTS_WRITE rc=$rc secs=$(($(date +%s) - t0))"
	[ -n "${2:-}" ] || return 0
	n=0 done=0
	while [ $(($(date +%s) - t0)) -lt "${KG_KGDBTS_WAIT:-600}" ]; do
		if dmesg | grep -q 'Unregistered I/O driver kgdbts'; then
			done=1
			break
		fi
		case $2 in
		fork) /bin/true ;;
		open) for f in /proc/version /proc/uptime /proc/loadavg; do
			read -r _ <$f
		done ;;
		esac
		n=$((n + 1))
	done
	echo "KGDBTS_REPEAT $2 rounds=$n unregistered=$done secs=$(($(date +%s) - t0))"
}

# kg_seg_end: the case is done: end the spinner, check that every busy
# loop counts, let delayed warnings come (KG_SETTLE seconds), report the
# kernel log since the case began, KGDB_SEG_END.
kg_seg_end() {
	kg_spin_stop
	echo "KGDB_LOADS_AFTER $(/kgdb/kgdb_load read $KG_LOAD)"
	kg_loads_check KGDB_LOADS_COUNT
	sleep "$KG_SETTLE"
	kg_klog
	echo "KGDB_SEG_END $KG_SEG"
	/kgdb/kgdb_load drain
}

# kg_after: the last case of the boot is done (kg_seg_end), the end.
kg_after() {
	kg_seg_end
	kg_cleanup
	kg_end
}

# kg_end: the scenario's last line, and the results port drained before
# the scenario exits (init powers off 0.3 s after its own last line; on a
# crowded host the port has been seen to keep the tail longer than that).
# A port that does not drain in 20 s is reported on the console.
kg_end() {
	echo "KGDB_END"
	if ! timeout 20 /kgdb/kgdb_load drain; then
		echo "kgdb-test: the results port (ttyS1) did not drain in 20 s: $(/kgdb/kgdb_load outq 2>&1) bytes left" >/dev/kmsg
		grep -i 'ttyS' /proc/interrupts | sed 's/^/kgdb-test: irq /' >/dev/kmsg 2>/dev/null
	fi
}

# kg_klog: the kernel log's warnings from the break-in on, and crash_stop's
# last roundup lines (the host checks the console, which has them all).
kg_klog() {
	dmesg >/tmp/dmesg.txt
	awk -v seg="kgdb-test: KGDB_SEG $KG_SEG" '
		index($0, seg) { on = 1; next }
		on == 1 && /sysrq: DEBUG|kgdbts:RUN/ { on = 2 }
		on == 2' /tmp/dmesg.txt |
		grep -E 'soft lockup|hard LOCKUP|rcu.*stall|self-detected stall|rcu: INFO|clocksource|timekeeping watchdog|NMI received for unknown reason|Timed out waiting for secondary CPUs|took too long|workqueue lockup|blocked for more than|BUG:|WARNING:|Oops|Kernel panic' |
		sed 's/^/KGDB_KLOG /'
	awk -v seg="kgdb-test: KGDB_SEG $KG_SEG" 'index($0, seg) { on = 1 } on' /tmp/dmesg.txt |
		grep 'crash_stop: kgdb: ' >/tmp/cslines.txt
	echo "KGDB_CSCOUNT $(wc -l </tmp/cslines.txt)"
	tail -n 3 /tmp/cslines.txt | sed 's/^/KGDB_CSLINE /'
	echo "KGDB_KLOG_END lines=$(wc -l </tmp/dmesg.txt)"
}

kg_cleanup() {
	# The serial ports' interrupt counts on the console (printk writes
	# them at once), for when the results port stalls.
	grep -i 'ttyS' /proc/interrupts | sed 's/^/kgdb-test: irq /' >/dev/kmsg 2>/dev/null
	kg_spin_stop
	[ -f $KG_LOAD ] && /kgdb/kgdb_load stop $KG_LOAD
	[ -f $KG_LOAD2 ] && /kgdb/kgdb_load stop $KG_LOAD2
	return 0
}
