#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# mkinitramfs.sh SCENARIO OUTPUT.cpio.gz
#
# Build the test VM's initramfs (cpio newc, gzip): a static busybox, the
# kernel modules and selftest programs of build/out/, and SCENARIO, the
# script the guest runs.  What the scenario finds in the guest:
#
#   /scenario.sh        SCENARIO itself (run with stdin from /dev/null)
#   /modules/*.ko       build/out/*.ko  (load with insmod /modules/X.ko)
#   /selftests/*        build/out/selftests/*
#   /lib/crash_stop.sh  shell helpers for the scenario
#                       (tools/testing/crash_stop/guest-lib.sh)
#   /proc /sys /dev /sys/kernel/debug   mounted
#   stdout and stderr   the second serial port, /dev/ttyS1: the results
#                       channel (the kernel console stays on ttyS0)
#
# When the scenario exits with status N, /init writes the line
# "CRASH_STOP_GUEST_END rc=N" to ttyS1 and powers the machine off.
#
# Environment: OUT_DIR (default build/out); EXTRA_DIR, when set, a
# directory whose contents are copied to / of the initramfs (last, so
# they may add to or replace any of the above).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

(($# == 2)) || die "usage: $0 SCENARIO OUTPUT.cpio.gz"
scenario=$1 output=$2
OUT_DIR=${OUT_DIR:-$CS_BUILD/out}
[[ -f $scenario ]] || die "scenario $scenario does not exist"
require_cmds cpio
BUSYBOX=/bin/busybox
if [[ ! -x $BUSYBOX ]] || ldd "$BUSYBOX" >/dev/null 2>&1; then
	die "$BUSYBOX is not a static busybox (install busybox-static: make setup)"
fi

root=$(mktemp -d "${TMPDIR:-/tmp}/cs-initramfs.XXXXXX")
trap 'rm -rf "$root"' EXIT

mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,lib,proc,sys,dev,tmp,root,modules,selftests}
cp "$BUSYBOX" "$root/bin/busybox"
"$BUSYBOX" --list-full | while read -r applet; do
	[[ -e $root/$applet ]] || ln -s /bin/busybox "$root/$applet"
done

for ko in "$OUT_DIR"/*.ko; do
	if [[ -f $ko ]]; then cp "$ko" "$root/modules/"; fi
done
if [[ -d $OUT_DIR/selftests ]]; then
	cp -r "$OUT_DIR/selftests/." "$root/selftests/"
fi
install -m 0755 "$scenario" "$root/scenario.sh"
install -m 0644 "$CS_ROOT/tools/testing/crash_stop/guest-lib.sh" "$root/lib/crash_stop.sh"
if [[ -n ${EXTRA_DIR:-} ]]; then
	[[ -d $EXTRA_DIR ]] || die "EXTRA_DIR=$EXTRA_DIR is not a directory"
	cp -r "$EXTRA_DIR/." "$root/"
fi

cat >"$root/init" <<'EOF'
#!/bin/sh
# crash_stop test VM init: mount, run /scenario.sh with its output on the
# results port, report its status there, power off.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t debugfs debugfs /sys/kernel/debug
cd /

res=/dev/ttyS1
if [ ! -c $res ]; then
	echo "init: no $res, scenario output goes to the console"
	res=/dev/console
fi
# Raw output: no \r added to the results.
stty -F $res raw -echo 2>/dev/null

echo "init: running /scenario.sh (results on $res)"
/scenario.sh >$res 2>&1 </dev/null
rc=$?
echo "init: /scenario.sh exited with status $rc"
echo "CRASH_STOP_GUEST_END rc=$rc" >$res
# Let the UART drain before the power goes.
sleep 0.3
poweroff -f
EOF
chmod 0755 "$root/init"

mkdir -p "$(dirname "$output")"
(cd "$root" && find . -print0 | LC_ALL=C sort -z |
	cpio --null -o -H newc -R 0:0 --quiet) | gzip -1 >"$output.tmp"
mv "$output.tmp" "$output"
