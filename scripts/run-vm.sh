#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# run-vm.sh NAME SCENARIO
#
# Boot build/out/bzImage in QEMU with an initramfs that runs SCENARIO (see
# scripts/mkinitramfs.sh) and wait for the guest to power off.  Everything
# of the run is in build/vm/NAME/: console.log (ttyS0, the kernel log),
# results.log (ttyS1, the scenario's output), qemu.log, cmdline.
#
# Success: results.log has the line "CRASH_STOP_GUEST_END rc=0".  A guest
# still running after TIMEOUT seconds is killed and the run fails.
#
# Environment:
#   SMP      vCPUs, 1..64 (default 4)
#   MEM      memory in MiB (default 512)
#   TIMEOUT  seconds (default 300)
#   APPEND   extra kernel command line
#   ACCEL    kvm or tcg (default: kvm when it really works here, else tcg)
#   KERNEL   kernel image (default build/out/bzImage)
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

(($# == 2)) || die "usage: $0 NAME SCENARIO"
name=$1 scenario=$2
SMP=${SMP:-4} MEM=${MEM:-512} TIMEOUT=${TIMEOUT:-300} APPEND=${APPEND:-}
KERNEL=${KERNEL:-$CS_BUILD/out/bzImage}
check_smp "$SMP"
if ! [[ $MEM =~ ^[0-9]{2,6}$ ]] || ((10#$MEM < 64)); then
	die "MEM=$MEM is not a number of MiB (64 or more)"
fi
[[ $TIMEOUT =~ ^[1-9][0-9]{0,5}$ ]] ||
	die "TIMEOUT=$TIMEOUT is not a number of seconds"
[[ $name =~ ^[A-Za-z0-9._-]+$ ]] ||
	die "run name '$name' may only have letters, digits, '.', '_' and '-'"
[[ -f $scenario ]] || die "scenario $scenario does not exist"
require_cmds qemu-system-x86_64
[[ -f $KERNEL ]] || die "no kernel image ${KERNEL#"$CS_ROOT"/}: run 'make kernel' first"

dir=$CS_BUILD/vm/$name
shown=${dir#"$CS_ROOT"/}
rm -rf "$dir"
mkdir -p "$dir"
"$CS_ROOT/scripts/mkinitramfs.sh" "$scenario" "$dir/initramfs.cpio.gz"

# qemu_run DIR ACCEL TIMEOUT SMP MEM CMDLINE: boot, return timeout's status.
qemu_run() {
	local d=$1 accel=$2 secs=$3 smp=$4 mem=$5 cmdline=$6 cpu=max
	[[ $accel == kvm ]] && cpu=host
	echo "$cmdline" >"$d/cmdline"
	timeout -k 5 "$secs" qemu-system-x86_64 \
		-accel "$accel" -cpu "$cpu" -smp "$smp" -m "$mem" \
		-nographic -nodefaults -no-reboot -monitor none \
		-serial "file:$d/console.log" -serial "file:$d/results.log" \
		-kernel "$KERNEL" -initrd "$d/initramfs.cpio.gz" \
		-append "$cmdline" </dev/null >"$d/qemu.log" 2>&1
}

guest_ended_ok() {
	[[ -f $1/results.log ]] &&
		grep -qx $'CRASH_STOP_GUEST_END rc=0\r\\?' "$1/results.log"
}

# KVM is used only where a guest really boots with it (on some machines
# /dev/kvm exists but cannot run a guest).  The answer is cached per host,
# QEMU and kernel version of the host.
pick_accel() {
	if [[ -n ${ACCEL:-} ]]; then
		[[ $ACCEL == kvm || $ACCEL == tcg ]] || die "ACCEL=$ACCEL is not kvm or tcg"
		echo "$ACCEL"
		return
	fi
	if [[ ! -r /dev/kvm || ! -w /dev/kvm ]]; then
		echo tcg
		return
	fi
	local key cache=$CS_CACHE/accel.cache
	key="$(uname -r) $(qemu-system-x86_64 --version | head -n1) $(grep -m1 'model name' /proc/cpuinfo)"
	if [[ -f $cache && $(head -n1 "$cache") == "$key" ]]; then
		sed -n 2p "$cache"
		return
	fi
	local p=$CS_BUILD/vm/.kvm-probe result=tcg
	rm -rf "$p"
	mkdir -p "$p"
	printf '#!/bin/sh\nexit 0\n' >"$p/probe.sh"
	"$CS_ROOT/scripts/mkinitramfs.sh" "$p/probe.sh" "$p/initramfs.cpio.gz"
	if qemu_run "$p" kvm 30 1 256 "console=ttyS0 panic=-1" && guest_ended_ok "$p"; then
		result=kvm
	fi
	printf '%s\n%s\n' "$key" "$result" >"$cache"
	echo "$result"
}

accel=$(pick_accel)
cmdline="console=ttyS0 panic=-1${APPEND:+ $APPEND}"
t0=$SECONDS
rc=0
qemu_run "$dir" "$accel" "$TIMEOUT" "$SMP" "$MEM" "$cmdline" || rc=$?
secs=$((SECONDS - t0))
echo "$accel $SMP vCPUs, ${secs} s, qemu status $rc" >"$dir/status"

console_tail() {
	echo "---- last lines of $shown/console.log ----"
	tr -d '\r' <"$dir/console.log" | tail -n 30
	local bad
	bad=$(tr -d '\r' <"$dir/console.log" |
		grep -E -m 8 'Kernel panic|BUG:|Oops|WARNING:|watchdog: |rcu: INFO' || true)
	if [[ -n $bad ]]; then
		echo "---- kernel problems in the console log ----"
		echo "$bad"
	fi
}

if guest_ended_ok "$dir"; then
	echo "vm $name: ok ($accel, $SMP vCPUs, $secs s)"
	exit 0
fi
# On failure: the console's tail first, the one-line verdict last.
if ((rc == 124 || rc == 137)); then
	console_tail >&2
	echo "error: guest did not power off within $TIMEOUT s (see $shown/console.log)" >&2
	exit 1
fi
end=$(tr -d '\r' <"$dir/results.log" | grep -m1 '^CRASH_STOP_GUEST_END rc=' || true)
if [[ -n $end ]]; then
	echo "error: vm $name: the scenario failed: ${end#CRASH_STOP_GUEST_END } (see $shown/results.log)" >&2
	exit 1
fi
if ((rc != 0)); then
	tail -n 5 "$dir/qemu.log" >&2
	echo "error: vm $name: qemu failed with status $rc (see $shown/qemu.log)" >&2
	exit 1
fi
console_tail >&2
echo "error: vm $name: the guest crashed or hung: no CRASH_STOP_GUEST_END line in $shown/results.log" >&2
exit 1
