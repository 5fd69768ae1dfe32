#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# "make bench": how long reaching every other CPU takes, mechanism by
# mechanism, on 2, 4, 8 and 16 vCPUs (issue 10).
#
# Builds tools/testing/crash_stop/bench/crash_stop_bench.ko out of tree
# against the kernel build (the kernel in build/out/ must be current: make
# bench builds it first), then boots each vCPU count once and, in each
# boot, runs ROUNDS rounds of every mechanism on CPU 0 (see the module's
# comment): smp_call_function(wait=1), an NMI to all others with
# acknowledgement, the two back to back (the two waves crash_stop() needs,
# without its protocol), stop_machine(), a hold-all with spinning slaves (the
# kgdb roundup shape), crash_stop() (gather and round trip), and
# crash_stop() with the last CPU spinning with interrupts off (the NMI
# path: the time after the escalation).  In the HOLD_SMP boot it also
# measures the QEMU process's CPU use while crash_stop holds every CPU for
# HOLD_S seconds, against HOLD_S seconds idle.
#
# Output in BENCH_OUT (default build/bench/): bench.csv (one row per vCPU
# count and quantity: min, median, p90, max in ns, rounds), bench.png,
# table.md (printed at the end), hold.csv, check.tap; each boot's
# console.log, results.log, cpu.samples and marks.txt in BENCH_OUT/smp-N/.
# Exits non-zero when a row has no numbers.  No timing is ever asserted.
#
# Environment:
#   BENCH_SMPS  the vCPU counts (default "2 4 8 16")
#   ROUNDS      measured rounds per mechanism (default 201; plus a warm-up)
#   HOLD_SMP    the vCPU count whose boot does the hold measurement
#               (default: the largest of BENCH_SMPS)
#   HOLD_S      seconds of the hold, and of the idle comparison (default
#               10; 0: no hold measurement)
#   IPI_MS      the crash_stop IPI wait of the spinner runs (default 10)
#   MEM         guest memory in MiB (default 512)
#   ACCEL       tcg (default) or kvm
#   BENCH_OUT   the output directory (default build/bench)
#   BENCH_PLOT  0: no bench.png (default 1)
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
check_kver

BENCH_SMPS=${BENCH_SMPS:-2 4 8 16}
ROUNDS=${ROUNDS:-201}
HOLD_S=${HOLD_S:-10}
IPI_MS=${IPI_MS:-10}
MEM=${MEM:-512}
ACCEL=${ACCEL:-tcg}
BENCH_OUT=${BENCH_OUT:-$CS_BUILD/bench}
BENCH_PLOT=${BENCH_PLOT:-1}
SRC_DIR=$CS_ROOT/tools/testing/crash_stop/bench

read -ra SMPS <<<"$BENCH_SMPS"
((${#SMPS[@]})) || die "BENCH_SMPS is empty"
for n in "${SMPS[@]}"; do
	check_smp "$n"
	((10#$n >= 2)) || die "BENCH_SMPS: $n: every mechanism needs 2 vCPUs or more"
done
HOLD_SMP=${HOLD_SMP:-$(printf '%s\n' "${SMPS[@]}" | sort -n | tail -n1)}
[[ " ${SMPS[*]} " == *" $HOLD_SMP "* ]] ||
	die "HOLD_SMP=$HOLD_SMP is not one of BENCH_SMPS ($BENCH_SMPS)"
[[ $ROUNDS =~ ^[1-9][0-9]{0,4}$ ]] || die "ROUNDS=$ROUNDS is not a number of rounds (1..99999)"
[[ $HOLD_S =~ ^[0-9]{1,2}$ ]] || die "HOLD_S=$HOLD_S is not a number of seconds (0..60)"
((10#$HOLD_S <= 60)) || die "HOLD_S=$HOLD_S is not a number of seconds (0..60)"
[[ $IPI_MS =~ ^[1-9][0-9]{0,3}$ ]] || die "IPI_MS=$IPI_MS is not a number of ms (1..9999)"
[[ $ACCEL == tcg || $ACCEL == kvm ]] || die "ACCEL=$ACCEL is not tcg or kvm"
[[ $MEM =~ ^[0-9]{3,6}$ ]] || die "MEM=$MEM is not a number of MiB (100 or more)"

VERSION=$(cat "$CS_CACHE/src/VERSION" 2>/dev/null) ||
	die "no kernel source in $CS_CACHE/src: run 'make setup' first"
CS_WORK=${CS_WORK:-$CS_CACHE/work-$VERSION}
OBJ=$CS_WORK/obj
KMOD=$BENCH_OUT/kmod
KERNEL=$KMOD/bzImage
shown=${BENCH_OUT#"$CS_ROOT"/}

# Stage 1: the module, out of tree against the kernel's build directory,
# from a copy of its source (the repo stays free of build products), and a
# copy of the kernel it goes with, both under the kernel build's lock (a
# kernel build meanwhile changes neither).
build_module() {
	require_cmds make gcc flock /usr/bin/rustc
	exec 9>"$CS_WORK/lock"
	flock 9
	[[ -f $OBJ/Module.symvers && -f $CS_BUILD/out/bzImage ]] ||
		die "no kernel build (${OBJ#"$CS_CACHE"/} and build/out/): run 'make kernel' first"
	rm -rf "$KMOD"
	mkdir -p "$KMOD"
	cp "$SRC_DIR/crash_stop_bench.c" "$SRC_DIR/Makefile" "$KMOD/"
	kmake_env
	"${KMAKE[@]}" -C "$OBJ" M="$KMOD" modules
	cp "$CS_BUILD/out/bzImage" "$CS_BUILD/out/BUILD_INFO" "$KMOD/"
	flock -u 9
	note "${KMOD#"$CS_ROOT"/}/crash_stop_bench.ko, $(sed -n 's/^repo: //p' "$KMOD/BUILD_INFO")"
}

# The boot's time limit: booting under TCG takes longer with more vCPUs
# (and on a busy host); a round of a mechanism reaches every vCPU, each a
# host thread; a spinner round waits IPI_MS first.
boot_timeout() {
	local n=$1 hold=0
	[[ $n == "$HOLD_SMP" ]] && hold=$((2 * 10#$HOLD_S + 10))
	echo $((120 + 15 * n + ROUNDS * (1 + n / 4) * 6 / 10 + ROUNDS * IPI_MS / 1000 + hold))
}

# boot N: one boot of N vCPUs; its progress on the console.
boot() {
	local n=$1 dir=$BENCH_OUT/smp-$1 hold=0 rc=0 t0=$SECONDS limit
	cat /proc/loadavg >>"$BENCH_OUT/load.txt"
	limit=$(boot_timeout "$n")
	[[ $n == "$HOLD_SMP" ]] && hold=$HOLD_S
	rm -rf "$dir"
	mkdir -p "$dir/extra/bench"
	cp "$KMOD/crash_stop_bench.ko" "$dir/extra/bench/"
	cat >"$dir/extra/bench/settings" <<EOF
ROUNDS=$ROUNDS
IPI_MS=$IPI_MS
HOLD_S=$hold
SPIN_MS=$((ROUNDS * (IPI_MS + 200) + 10000 > 120000 ? 120000 : ROUNDS * (IPI_MS + 200) + 10000))
EOF
	local log=$CS_LOGS/bench-smp-$n.log
	EXTRA_DIR=$dir/extra "$CS_ROOT/scripts/mkinitramfs.sh" "$SRC_DIR/guest.sh" \
		"$dir/initramfs.cpio.gz" >"$log" 2>&1 || {
		echo " mkinitramfs failed: see ${log#"$CS_ROOT"/}"
		return 0
	}
	local cpu=max cmdline="console=ttyS0 panic=-1 kunit.enable=0"
	[[ $ACCEL == kvm ]] && cpu=host
	echo "$cmdline" >"$dir/cmdline"
	python3 "$SRC_DIR/bench.py" vm "$dir" "$limit" \
		qemu-system-x86_64 -name "bench-smp-$n,debug-threads=on" \
		-accel "$ACCEL" -cpu "$cpu" -smp "$n" -m "$MEM" \
		-nographic -nodefaults -no-reboot -monitor none \
		-serial "file:$dir/console.log" \
		-chardev stdio,id=res,signal=off -serial chardev:res \
		-kernel "$KERNEL" -initrd "$dir/initramfs.cpio.gz" \
		-append "$cmdline" || rc=$?
	echo " done in $((SECONDS - t0)) s"
	cat /proc/loadavg >>"$BENCH_OUT/load.txt"
	echo "$rc $((SECONDS - t0))" >"$dir/status"
	local errs
	errs=$(grep -a '^BENCH_ERROR' "$dir/results.log" || true)
	if ((rc == 124)); then
		echo "  killed after $limit s: see ${dir#"$CS_ROOT"/}/console.log"
	elif ((rc != 0)); then
		echo "  qemu exited with status $rc: see ${dir#"$CS_ROOT"/}/qemu.log"
	elif ! grep -aqx 'CRASH_STOP_GUEST_END rc=0' "$dir/results.log"; then
		echo "  the guest did not finish cleanly: see ${dir#"$CS_ROOT"/}/results.log"
	fi
	if [[ -n $errs ]]; then echo "$errs" | sed 's/^/  /'; fi
	return 0
}

report() {
	require_cmds python3
	local dirs=() n
	for n in "${SMPS[@]}"; do dirs+=("$BENCH_OUT/smp-$n"); done
	local hold=0
	((10#$HOLD_S == 0)) || hold=$HOLD_SMP
	python3 "$SRC_DIR/bench.py" report "$BENCH_OUT" "$ROUNDS" "$hold" "${dirs[@]}"
}

# Debian's python3-matplotlib is for Debian's python3 (not a pyenv one).
plot() {
	require_cmds /usr/bin/python3
	/usr/bin/python3 -c 'import matplotlib' 2>/dev/null || not_installed "python3-matplotlib"
	/usr/bin/python3 "$SRC_DIR/bench.py" plot "$BENCH_OUT"
}

require_cmds qemu-system-x86_64 python3
mkdir -p "$BENCH_OUT"
rm -f "$BENCH_OUT"/{bench.csv,bench.png,table.md,hold.csv,check.tap,load.txt}
total=$((${#SMPS[@]} + 2))
stage 1 "$total" "build crash_stop_bench.ko (out of tree)" bench-module build_module
i=1
for n in "${SMPS[@]}"; do
	i=$((i + 1))
	what="$n vCPUs, $ROUNDS rounds"
	[[ $n == "$HOLD_SMP" ]] && ((10#$HOLD_S > 0)) && what+=", hold ${HOLD_S} s"
	printf '[%s/%s] %s (up to %s s, host load %s):' "$i" "$total" "$what" \
		"$(boot_timeout "$n")" "$(cut -d' ' -f1 /proc/loadavg)"
	boot "$n"
done
i=$((i + 1))
echo "[$i/$total] results: $shown/bench.csv, table.md"
rc=0
report || rc=$?
if [[ $BENCH_PLOT == 1 ]]; then
	try_stage "$i" "$total" "plot $shown/bench.png" bench-plot plot
	((STAGE_RC == 0)) || rc=1
fi
exit $rc
