#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Self-tests of the crash_stop test runner (scripts/test.sh scenario and
# scripts/run-vm.sh) with the real kernel of build/out/: a runner that
# cannot fail proves nothing.  Each case boots a scenario of scenarios/ here
# that passes, fails, hangs, panics or exits non-zero, and checks that the
# runner says so.  Output: TAP.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
scen=$here/scenarios
out=$(mktemp)
trap 'rm -f "$out"' EXIT
n=0 failed=0 rc=0

echo "TAP version 13"
echo "1..6"

# runner NAME: run scenarios/NAME.sh through the runner; sets rc, output in $out.
runner() {
	rc=0
	"$root/scripts/test.sh" scenario "$scen/$1.sh" "selftest-$1" >"$out" 2>&1 || rc=$?
}

# last_is REGEX: the runner's last line matches REGEX (extended, whole line).
last_is() {
	[[ $(tail -n1 "$out") =~ ^$1$ ]]
}

# check DESCRIPTION FUNCTION: one TAP line, from FUNCTION's status, with the
# runner's output as diagnostics.
check() {
	local status=0
	if ! "$2"; then status=1; fi
	n=$((n + 1))
	sed 's/^/# /' "$out"
	if ((status == 0)); then
		echo "ok $n - $1"
	else
		echo "not ok $n - $1"
		failed=$((failed + 1))
	fi
}

t_pass() {
	runner pass
	[[ $rc == 0 ]] && last_is '[23] passed, 0 failed(, 1 skipped)?'
}

t_fail() {
	runner fail
	[[ $rc != 0 ]] && last_is '1 passed, 2 failed'
}

t_hang() {
	runner hang
	[[ $rc != 0 ]] && last_is '0 passed, 2 failed' &&
		grep -Eq 'guest did not power off within 25 s \(see .*vm/selftest-hang/console\.log\)' "$out"
}

t_panic() {
	runner panic
	[[ $rc != 0 ]] && grep -q 'the guest crashed or hung' "$out" &&
		grep -q 'Kernel panic' "$out"
}

t_status() {
	runner status
	[[ $rc != 0 ]] && last_is '1 passed, 1 failed' &&
		grep -q 'the scenario failed: rc=3' "$out"
}

t_badsmp() {
	rc=0
	SMP=abc "$root/scripts/run-vm.sh" selftest-badsmp "$scen/pass.sh" >"$out" 2>&1 || rc=$?
	[[ $rc != 0 ]] && [[ $(cat "$out") == 'error: SMP=abc is not a number between 1 and 64' ]]
}

check "a passing scenario passes" t_pass
check "a 'not ok' line and a test missing from the plan fail the run" t_fail
check "a guest that never powers off is stopped by the timeout" t_hang
check "a kernel panic fails the run and is shown" t_panic
check "a scenario exiting non-zero fails the run" t_status
check "SMP=abc is refused with a one-line error" t_badsmp

((failed == 0))
