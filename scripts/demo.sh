#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# "make demo": build the kernel, boot it on SMP (default 4) vCPUs with the
# demo scenario (tools/testing/selftests/crash_stop/demo.sh) and print what
# the demo printed in the guest.  The run is kept in build/vm/demo/.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
check_kver
SMP=${SMP:-4}
check_smp "$SMP"
DEMO=$CS_ROOT/tools/testing/selftests/crash_stop/demo.sh
[[ -f $DEMO ]] || die "the demo scenario ${DEMO#"$CS_ROOT"/} does not exist"

# Booting takes longer with more vCPUs under TCG (about 3 s each at 64).
timeout=$(scenario_opt "$DEMO" timeout 240)
[[ $timeout =~ ^[0-9]+$ ]] || timeout=240
timeout=${TIMEOUT:-$((timeout + 4 * 10#$SMP))}

# Before the kernel build, which takes minutes.
require_cmds qemu-system-x86_64

"$CS_ROOT/scripts/build-kernel.sh"

run_demo() {
	SMP=$SMP TIMEOUT=$timeout APPEND="kunit.enable=0 $(scenario_opt "$DEMO" append "")" \
		"$CS_ROOT/scripts/run-vm.sh" demo "$DEMO"
}
try_stage 1 1 "boot $SMP vCPUs and run the demo (up to $timeout s)" demo-vm run_demo

results=$CS_BUILD/vm/demo/results.log
if [[ -f $results ]]; then
	echo
	tr -d '\r' <"$results" | grep -v '^CRASH_STOP_GUEST_END rc='
	echo
fi
echo "kernel log: ${CS_BUILD#"$CS_ROOT"/}/vm/demo/console.log"
((STAGE_RC == 0)) || die "the demo failed (see above)"
