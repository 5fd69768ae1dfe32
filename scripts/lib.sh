# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# Shared helpers for the crash_stop front-door scripts: staged progress
# lines with durations, full logs in files, one-line errors.

: "${CS_CACHE:=${XDG_CACHE_HOME:-$HOME/.cache}/crash_stop}"
: "${KVER:=7.2}"
CS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CS_BUILD=${CS_BUILD:-$CS_ROOT/build}
CS_LOGS=$CS_BUILD/logs
CS_TOOLS=$CS_CACHE/tools
mkdir -p "$CS_CACHE" "$CS_LOGS" "$CS_TOOLS"

die() {
	echo "error: $*" >&2
	exit 1
}

# check_kver: only the 7.2 series is supported (the patches target it).
check_kver() {
	[[ $KVER =~ ^7\.2(\.[0-9]+)?$ ]] ||
		die "KVER='$KVER' is not a supported kernel version (use 7.2 or 7.2.N)"
}

# try_stage N TOTAL "what" LOGNAME cmd...: run cmd in a subshell with
# errexit on (any failing command inside a stage function fails the stage),
# its output in build/logs/LOGNAME.log, and print one progress line with the
# duration.  On failure, print the log's last lines.  The status is left in
# STAGE_RC and try_stage returns 0: call it as a plain command, never in an
# if/while condition or with || or &&, where bash would ignore errexit in
# the stage's commands too.
try_stage() {
	local n=$1 total=$2 what=$3 log=$CS_LOGS/$4.log
	shift 4
	local t0=$SECONDS errexit=0
	[[ $- == *e* ]] && errexit=1
	printf '[%s/%s] %s ... ' "$n" "$total" "$what"
	CURRENT_LOG=$log
	rm -f "$log.note"
	set +e
	(set -e; "$@") >"$log" 2>&1
	STAGE_RC=$?
	((errexit)) && set -e
	local note=""
	[[ -s $log.note ]] && note=" ($(cat "$log.note"))"
	rm -f "$log.note"
	if ((STAGE_RC == 0)); then
		echo "$((SECONDS - t0)) s$note"
		return 0
	fi
	echo "FAILED after $((SECONDS - t0)) s$note"
	echo "---- last lines of ${log#"$CS_ROOT"/} ----" >&2
	tail -n 25 "$log" >&2
	echo "---- stage '$what' failed; full log: ${log#"$CS_ROOT"/}" >&2
}

# stage N TOTAL "what" LOGNAME cmd...: try_stage, and exit on failure.
stage() {
	try_stage "$@"
	((STAGE_RC == 0)) || exit 1
}

# note TEXT: a short remark that stage() appends to its progress line.
note() {
	echo "$*" >"$CURRENT_LOG.note"
}

# require_cmds CMD...: exit with one line naming each CMD that is not
# installed ("patch: not installed; run make setup").  A CMD with a '/' is a
# file that must be executable.  Called first in each stage function, so
# that a missing tool is reported as missing, not as the failure it causes
# (tools/testing/crash_stop/setup-deps-test.sh checks that setup installs
# every CMD named here).
require_cmds() {
	local c missing=()
	for c in "$@"; do
		if [[ $c == */* ]]; then
			[[ -x $c ]] || missing+=("${c#"$CS_ROOT"/}")
		elif ! command -v "$c" >/dev/null 2>&1; then
			missing+=("$c")
		fi
	done
	((${#missing[@]} == 0)) && return 0
	local IFS=,
	local msg="${missing[*]}"
	not_installed "${msg//,/, }"
}

# not_installed WHAT: exit with "WHAT: not installed; run make setup", also
# on the progress line when in a stage (its subshell).
not_installed() {
	local msg="$1: not installed; run make setup"
	if ((BASH_SUBSHELL > 0)) && [[ -n ${CURRENT_LOG:-} ]]; then note "$msg"; fi
	die "$msg"
}

# Environment for the kernel's make.
kmake_env() {
	RUST_LIB_SRC=$(/usr/bin/rustc --print sysroot 2>/dev/null)/lib/rustlib/src/rust/library
	export LIBCLANG_PATH=$CS_TOOLS/libclang/clang/native
	# shellcheck disable=SC2034 # used by the callers
	KMAKE=(make -s RUSTC=/usr/bin/rustc BINDGEN="$CS_TOOLS/bin/bindgen"
		RUST_LIB_SRC="$RUST_LIB_SRC")
}

# check_smp N: the vCPU count must be an integer 1..64.
check_smp() {
	if ! [[ $1 =~ ^[0-9]{1,3}$ ]] || ((10#$1 < 1 || 10#$1 > 64)); then
		die "SMP=$1 is not a number between 1 and 64"
	fi
}

# tap_count FILE: count a kselftest-format TAP stream's top-level results and
# print "PASSED FAILED SKIPPED".  "# SKIP" results are skipped, "# XFAIL" and
# "# TODO" ones pass, "Bail out!" fails, and tests announced by the plan
# ("1..N") but never reported fail.  Carriage returns (serial ports) are
# ignored.
tap_count() {
	tr -d '\r' <"$1" | awk '
		/^1\.\.[0-9]+/ { plan = substr($1, 4) + 0; next }
		/^(not )?ok( |$)/ {
			n++
			if ($0 ~ /#[ \t]*[Ss][Kk][Ii][Pp]/) skip++
			else if ($0 ~ /^ok/ || $0 ~ /#[ \t]*(XFAIL|TODO)/) pass++
			else fail++
			next
		}
		/^Bail out!/ { fail++ }
		END {
			if (plan > n) fail += plan - n
			printf "%d %d %d\n", pass, fail, skip
		}'
}

# scenario_opt FILE KEY DEFAULT: the value of a "# KEY: value" line in the
# leading comment block of a scenario script, or DEFAULT.
scenario_opt() {
	local v
	v=$(awk -v key="$2" '
		!/^#/ { exit }
		{
			line = $0
			sub(/^#[ \t]*/, "", line)
			if (index(line, key ":") == 1) {
				sub(/^[^:]*:[ \t]*/, "", line)
				print line
				exit
			}
		}' "$1")
	echo "${v:-$3}"
}

# select_cases WHAT [NAME...]: keep the entries of CASES ("name|...") that
# are named, in the order asked (all of them when none is); dies on a name
# that is not a WHAT case.
select_cases() {
	local what=$1 want c found sel=()
	shift
	(($# > 0)) || return 0
	for want in "$@"; do
		found=0
		for c in "${CASES[@]}"; do
			if [[ ${c%%|*} == "$want" ]]; then
				sel+=("$c")
				found=1
			fi
		done
		((found)) || die "no $what case '$want' (cases: $(printf '%s ' "${CASES[@]%%|*}"))"
	done
	CASES=("${sel[@]}")
}
