#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# /init of the kdump capture kernel's initramfs (built by scripts/kdump.sh):
# send the ELF header and notes of /proc/vmcore (tools/testing/crash_stop/
# kdump/vmcore_head.c) base64-encoded over the results port, ttyS1,
# between the lines KDUMP_VMCORE_BEGIN and KDUMP_VMCORE_END, then power
# off.  The first kernel's scenario wrote its own lines to that port
# before the crash; the host reads both from one file.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t devtmpfs devtmpfs /dev 2>/dev/null

echo "kdump capture: /init running" >/dev/console
res=/dev/ttyS1
if [ ! -c $res ]; then
	echo "kdump capture: no $res, output goes to the console" >/dev/console
	res=/dev/console
fi
stty -F $res raw -echo 2>/dev/null

{
	# A line of its own even after a line the first kernel left unfinished.
	echo
	echo "KDUMP_CAPTURE_UP cpus=$(grep -c ^processor /proc/cpuinfo) uptime=$(cut -d' ' -f1 /proc/uptime)"
	if [ -r /proc/vmcore ]; then
		echo "KDUMP_VMCORE_SIZE $(stat -c %s /proc/vmcore)"
		if /bin/vmcore_head /proc/vmcore >/tmp/head 2>/tmp/head.err; then
			echo "KDUMP_VMCORE_BYTES $(stat -c %s /tmp/head)"
			echo "KDUMP_VMCORE_BEGIN"
			base64 </tmp/head
			echo "KDUMP_VMCORE_END"
		else
			echo "KDUMP_VMCORE_ERROR $(cat /tmp/head.err)"
		fi
	else
		echo "KDUMP_VMCORE_ERROR no /proc/vmcore (not a capture kernel?)"
	fi
	echo "KDUMP_CAPTURE_DONE"
} >$res 2>&1
cat /tmp/head.err >/dev/console 2>/dev/null
echo "kdump capture: done, powering off" >/dev/console
sleep 0.3
poweroff -f
