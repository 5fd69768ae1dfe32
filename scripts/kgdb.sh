#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# kgdb.sh [CASE...]   ("make kgdb": every case, a boot each)
# kgdb.sh --short      (the kgdb phase of "make test"; also KGDB_SET=short)
#
# kgdb and kdb rounding the CPUs up through crash_stop: boot
# build/out/bzImage in QEMU (TCG, 4 vCPUs, 512 MiB) with the debugger on a
# third serial port (ttyS2 on loopback TCP, kgdboc=ttyS2,115200), break in
# with sysrq-g from CPU 0 and drive gdb or kdb from the host; or run the
# kernel's kgdb self-test (kgdbts) at run time.  Each case's guest script
# is tools/testing/crash_stop/kgdb/scenarios/CASE.sh; its leading comments
# say "# client: gdb|kdb|none", "# kdb: CMD | CMD ..." (the kdb commands;
# "sleep N" waits on the host), "# append: ARGS" (kernel command line),
# "# timeout: S" and "# ab: 1": the case runs twice, CASE on the kernel's
# default path and CASE-upstream with crash_stop.kgdb=0 (the upstream NMI
# roundup).  With CASE arguments, only those run.
#
# --short runs the cases the issue requires in one boot per roundup
# (tools/testing/crash_stop/kgdb/short.sh: kgdbts, gdb, kdb, wedge,
# stop30 (crash_stop path only), cbbp, kdb-ss; boots build/vm/kgdb-short/ and
# kgdb-short-upstream/), each a segment of the boot with its scenario's
# client lines, split into the same per-case directories and checked the
# same way; the kgdbts-F and kgdbts-S cases run only in the full set.
#
# Per case:
#   build/vm/kgdb-CASE/  console.log, console.ts (host-timestamped),
#                        results.log/.ts (the guest's KGDB_* lines),
#                        debugger.ts (the ttyS2 stream), kdb.log or gdb.log
#                        (the transcript), times.txt, cmdline, qemu.log
#   build/vm/kgdb/       gdb.log, kdb.log (the crash_stop runs'),
#                        kgdbts.log (kgdbts' kernel log lines and verdicts,
#                        every kgdbts run), ab.txt (the A/B table), checks.txt
#   build/logs/kgdb-CASE.log   the run's log
#
# Output: progress lines, then "ok N - kgdb CASE: ..." / "not ok N - ..."
# ("# SKIP reason" when a check cannot apply: no crash_stop.kgdb parameter
# in the kernel, a hardware breakpoint under TCG, a failure the upstream
# run shows identically), the A/B table, and "N passed, N failed"
# (", N skipped"); exit status non-zero on a failure.
#
# Environment: OUT_DIR (default build/out; copied to build/kgdb/kernel/ at
# the start, the runs use the copy), KGDB_TIMEOUT (seconds per boot,
# default 420; a case's "# timeout:" wins), KGDB_SHORT_TIMEOUT (seconds
# per boot of --short, default 600), KGDB_SET (full or short), VMLINUX
# (for gdb; default OUT_DIR/vmlinux, else the kernel build directory's).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

KG_SRC=$CS_ROOT/tools/testing/crash_stop/kgdb
KG_BUILD=$CS_BUILD/kgdb
SRC_OUT=${OUT_DIR:-$CS_BUILD/out}
# Every case runs on a copy of the kernel taken at the start: a rebuild
# of build/out/ during the run must not mix two kernels (nor their
# System.map) into one A/B table.
OUT_DIR=$KG_BUILD/kernel
export OUT_DIR
KERNEL=$OUT_DIR/bzImage
SYSTEM_MAP=$OUT_DIR/System.map
KG_OUT=$CS_BUILD/vm/kgdb
KG_TIMEOUT=${KGDB_TIMEOUT:-420}
KG_SHORT_TIMEOUT=${KGDB_SHORT_TIMEOUT:-600}
KG_SET=${KGDB_SET:-full}
SHORT=$KG_SRC/short.sh
BASE_APPEND="kunit.enable=0"
# The issue's order: gdb, kdb, kgdbts, the wedged CPU, the long stop.
ORDER=(gdb kdb kdb-ss kgdbts kgdbts-F kgdbts-S wedge stop30 cbbp)

[[ $KG_TIMEOUT =~ ^[1-9][0-9]{1,4}$ ]] ||
	die "KGDB_TIMEOUT=$KG_TIMEOUT is not a number of seconds"
[[ $KG_SHORT_TIMEOUT =~ ^[1-9][0-9]{1,4}$ ]] ||
	die "KGDB_SHORT_TIMEOUT=$KG_SHORT_TIMEOUT is not a number of seconds"
if [[ ${1:-} == --short ]]; then
	KG_SET=short
	shift
elif [[ ${1:-} == --full ]]; then
	KG_SET=full
	shift
fi
[[ $KG_SET == full || $KG_SET == short ]] || die "KGDB_SET=$KG_SET: full or short"

rel() { echo "${1#"$CS_ROOT"/}"; }

# ---- the cases ----------------------------------------------------------

CASES=() # "name|script|append"
add_cases() {
	local base app
	base=$(basename "$1" .sh)
	app=$(scenario_opt "$1" append "")
	CASES+=("$base|$1|$app")
	if [[ $(scenario_opt "$1" ab 0) == 1 ]]; then
		CASES+=("$base-upstream|$1|crash_stop.kgdb=0${app:+ $app}")
	fi
}
list_cases() {
	local n f seen=" "
	for n in "${ORDER[@]}"; do
		f=$KG_SRC/scenarios/$n.sh
		[[ -f $f ]] || continue
		add_cases "$f"
		seen+="$n "
	done
	for f in "$KG_SRC"/scenarios/*.sh; do
		[[ -f $f ]] || continue
		n=$(basename "$f" .sh)
		[[ $seen == *" $n "* ]] && continue
		add_cases "$f"
	done
	# Every crash_stop run first, then the upstream ones.
	local a=() b=() c
	for c in "${CASES[@]}"; do
		if [[ ${c%%|*} == *-upstream ]]; then b+=("$c"); else a+=("$c"); fi
	done
	CASES=("${a[@]}" "${b[@]}")
}

# vmlinux for gdb: build/out's, else the kernel build directory's.
find_vmlinux() {
	if [[ -n ${VMLINUX:-} ]]; then
		echo "$VMLINUX"
	elif [[ -f $SRC_OUT/vmlinux ]]; then
		echo "$SRC_OUT/vmlinux"
	else
		local v
		v=$(cat "$CS_CACHE/src/VERSION" 2>/dev/null || echo none)
		echo "${CS_WORK:-$CS_CACHE/work-$v}/obj/vmlinux"
	fi
}

# ---- stage 1: the kernel's copy, the guest's files -------------------------

build_extra() {
	require_cmds gcc cpio
	[[ -f $SRC_OUT/bzImage ]] || die "no kernel image $(rel "$SRC_OUT")/bzImage: run 'make kernel' first"
	[[ -f $SRC_OUT/System.map ]] || die "no $(rel "$SRC_OUT")/System.map: run 'make kernel' first"
	local vml try
	for try in 1 2 3; do
		rm -rf "$OUT_DIR"
		mkdir -p "$OUT_DIR"
		cp -a "$SRC_OUT/." "$OUT_DIR/"
		# One build, not two: nothing changed while copying.
		if cmp -s "$SRC_OUT/bzImage" "$KERNEL" &&
			cmp -s "$SRC_OUT/System.map" "$SYSTEM_MAP"; then
			break
		fi
		((try < 3)) || die "$(rel "$SRC_OUT") keeps changing (a kernel build running?): run again"
		sleep 20
	done
	vml=$(find_vmlinux)
	[[ ! -f $vml || -f $OUT_DIR/vmlinux ]] || cp "$vml" "$OUT_DIR/vmlinux"
	mkdir -p "$KG_BUILD/bin"
	gcc -static -O2 -Wall -Wextra -Werror -o "$KG_BUILD/bin/kgdb_load" "$KG_SRC/kgdb_load.c"
	rm -rf "$KG_BUILD/extra"
	mkdir -p "$KG_BUILD/extra/kgdb"
	install -m 0755 "$KG_BUILD/bin/kgdb_load" "$KG_BUILD/extra/kgdb/kgdb_load"
	install -m 0644 "$KG_SRC/guest-lib.sh" "$KG_BUILD/extra/kgdb/lib.sh"
	local p
	p=$(grep -c 'CONFIG_KGDB_KDB=y\|CONFIG_KGDB_TESTS=y\|CONFIG_KGDB_SERIAL_CONSOLE=y' \
		"$OUT_DIR/config" 2>/dev/null || true)
	((p == 3)) || die "the kernel in $(rel "$OUT_DIR") lacks KGDB_KDB, KGDB_SERIAL_CONSOLE or KGDB_TESTS"
	note "kernel of $(sed -n 's/^built: //p' "$OUT_DIR/BUILD_INFO" 2>/dev/null) -> $(rel "$OUT_DIR"), kgdb_load (gcc -static)"
}

# ---- stage 2..: one QEMU run per case -----------------------------------

# seg_spec NAME CASE: vm.py's --seg for case CASE (NAME, or NAME-upstream)
# run as segment NAME, from scenarios/NAME.sh's client lines.
seg_spec() {
	local f=$KG_SRC/scenarios/$1.sh
	[[ -f $f ]] || die "no kgdb scenario $(rel "$f")"
	printf '%s|%s|%s|%s|%s' "$1" "$CS_BUILD/vm/kgdb-$2" "$(scenario_opt "$f" client none)" \
		"$(scenario_opt "$f" kdb_timeout 90)" "$(scenario_opt "$f" kdb "")"
}

# run_boot BOOT SCRIPT APPEND TIMEOUT SEGSPEC...: one QEMU boot of guest
# SCRIPT in build/vm/kgdb-BOOT/, the cases as vm.py --seg.
run_boot() {
	require_cmds qemu-system-x86_64 python3 gdb timeout
	local name=$1 script=$2 append=$3 timeout=$4
	shift 4
	local dir=$CS_BUILD/vm/kgdb-$name vml=$OUT_DIR/vmlinux spec segargs=() clients=""
	rm -rf "$dir"
	for spec in "$@"; do
		IFS='|' read -r _ sdir client _ <<<"$spec"
		rm -rf "$sdir"
		segargs+=(--seg "$spec")
		clients+=" $client"
	done
	mkdir -p "$dir"
	EXTRA_DIR=$KG_BUILD/extra "$CS_ROOT/scripts/mkinitramfs.sh" "$script" \
		"$dir/initramfs.cpio.gz"
	if [[ $clients == *gdb* ]]; then
		[[ -f $vml ]] || die "no vmlinux for gdb ($(rel "$(find_vmlinux)")); set VMLINUX="
	fi
	echo "qemu: 4 vCPUs, 512 MiB, timeout $timeout s, clients$clients: $BASE_APPEND${append:+ $append}"
	local rc try retried=""
	for try in 1 2; do
		rc=0
		timeout -k 10 $((timeout + 60)) python3 "$KG_SRC/vm.py" --dir "$dir" \
			--kernel "$KERNEL" --initrd "$dir/initramfs.cpio.gz" \
			--append "$BASE_APPEND${append:+ $append}" --timeout "$timeout" \
			--vmlinux "$vml" "${segargs[@]}" || rc=$?
		# A guest that hangs in early boot (before the case began: TCG on
		# a crowded host) boots once more.
		grep -q '^problem=the guest did not boot' "$dir/times.txt" 2>/dev/null || break
		((try == 2)) || { retried="retried a boot hang"; echo "$retried"; }
	done
	echo "---- results.log ----"
	tr -d '\r' <"$dir/results.log" 2>/dev/null || true
	local what=() sname sdir b2p problem
	for spec in "$@"; do
		IFS='|' read -r sname sdir _ <<<"$spec"
		[[ ! -f $sdir/gdb.log ]] || { echo "---- $sname: gdb.log (head) ----"; head -n 30 "$sdir/gdb.log"; }
		b2p=$(sed -n 's/^break_to_prompt=//p' "$sdir/times.txt" 2>/dev/null || true)
		problem=$(sed -n 's/^problem=//p' "$sdir/times.txt" 2>/dev/null | head -n1)
		[[ -z $b2p ]] || what+=("${sname}: break-in to prompt $b2p s")
		[[ $sname != kgdbts* ]] || what+=("kgdbts $(sed -n 's/^KGDBTS_WRITE //p' "$sdir/results.log" 2>/dev/null | tr -d '\r')")
		[[ -z $problem ]] || what+=("$sname: $problem")
	done
	[[ -z $retried ]] || what+=("$retried")
	local joined
	joined=$(printf '%s; ' "${what[@]}")
	note "${joined%; }"
	# A debugger that hangs is a finding of the checks (which compare it
	# with the upstream run); the stage fails when the run itself did not
	# happen.
	[[ -s $dir/console.log && -f $dir/times.txt ]] || return 1
	((rc == 0)) || grep -q '^problem=' "$dir/times.txt"
}

# ---- the checks and the A/B table ----------------------------------------

N=0 PASS=0 FAIL=0 SKIP=0
# report CASE: check.py's verdicts as numbered ok / not ok lines.
report() {
	local name=$1 peer="" line kind text
	local dir=$CS_BUILD/vm/kgdb-$name
	if [[ $name == *-upstream ]]; then
		peer=${name%-upstream}
	else
		peer=$name-upstream
	fi
	local args=("$name" "$dir" "$SYSTEM_MAP" --row "$KG_OUT/rows/$name")
	[[ " ${RAN[*]} " == *" $peer "* ]] && args+=(--peer "$CS_BUILD/vm/kgdb-$peer")
	[[ $name == kgdbts* ]] && args+=(--kgdbts-log "$KG_OUT/kgdbts.log")
	while IFS= read -r line; do
		kind=${line%% *} text=${line#* }
		case $kind in
		PASS)
			N=$((N + 1)) PASS=$((PASS + 1))
			echo "ok $N - kgdb $text"
			;;
		FAIL)
			N=$((N + 1)) FAIL=$((FAIL + 1))
			echo "not ok $N - kgdb $text"
			;;
		SKIP)
			N=$((N + 1)) SKIP=$((SKIP + 1))
			echo "ok $N - kgdb ${text% \# *} # SKIP ${text##* \# }"
			;;
		*) echo "# $text" ;;
		esac
	done < <(python3 "$KG_SRC/check.py" "${args[@]}" 2>&1 || echo "FAIL $name: check.py failed")
}

# ab_table CASE...: build/vm/kgdb/ab.txt from the rows check.py wrote.
ab_table() {
	python3 "$KG_SRC/abtable.py" "$KG_OUT/rows" "$OUT_DIR/BUILD_INFO" "$@" >"$KG_OUT/ab.txt"
	cat "$KG_OUT/ab.txt"
}

# ---- main -----------------------------------------------------------------

mkdir -p "$KG_OUT"
RAN=()
if [[ $KG_SET == short ]]; then
	(($# == 0)) || die "--short runs its fixed set (no CASE arguments)"
	[[ -f $SHORT ]] || die "no $(rel "$SHORT")"
	stage 1 3 "kgdb: the kernel's copy, static kgdb_load, the guest's /kgdb" kgdb-extra build_extra
	i=1
	for boot in short short-upstream; do
		i=$((i + 1))
		if [[ $boot == short ]]; then
			segs=$(scenario_opt "$SHORT" segments "") suffix="" app=""
		else
			segs=$(scenario_opt "$SHORT" upstream "") suffix=-upstream app="crash_stop.kgdb=0 "
		fi
		specs=()
		for s in $segs; do
			specs+=("$(seg_spec "$s" "$s$suffix")")
			RAN+=("$s$suffix")
		done
		try_stage "$i" 3 "kgdb: one boot$suffix, cases $segs (${app:-crash_stop.kgdb=1 }one after the other)" \
			"kgdb-$boot" run_boot "$boot" "$SHORT" "${app}kgdb_test.segs=${segs// /,}" \
			"$KG_SHORT_TIMEOUT" "${specs[@]}"
	done
else
	list_cases
	select_cases kgdb "$@"
	((${#CASES[@]})) || die "no kgdb scenario in $(rel "$KG_SRC")/scenarios"

	total=$((1 + ${#CASES[@]}))
	stage 1 "$total" "kgdb: the kernel's copy, static kgdb_load, the guest's /kgdb" kgdb-extra build_extra
	i=1
	for c in "${CASES[@]}"; do
		IFS='|' read -r name script append <<<"$c"
		i=$((i + 1))
		RAN+=("$name")
		try_stage "$i" "$total" "kgdb case $name ($(scenario_opt "$script" client none)${append:+; $append})" \
			"kgdb-$name" run_boot "$name" "$script" "$append" \
			"$(scenario_opt "$script" timeout "$KG_TIMEOUT")" \
			"$(seg_spec "$(basename "$script" .sh)" "$name")"
	done
fi

rm -rf "$KG_OUT/rows" "$KG_OUT/kgdbts.log"
mkdir -p "$KG_OUT/rows"
for name in "${RAN[@]}"; do
	report "$name"
done | tee "$KG_OUT/checks.txt"
read -r N PASS FAIL SKIP < <(awk '
	/^ok / { n++; if (/# SKIP/) s++; else p++ }
	/^not ok / { n++; f++ }
	END { print n + 0, p + 0, f + 0, s + 0 }' "$KG_OUT/checks.txt")

# The files the issue names, from the crash_stop runs.
for f in gdb kdb; do
	if [[ -f $CS_BUILD/vm/kgdb-$f/$f.log ]]; then cp "$CS_BUILD/vm/kgdb-$f/$f.log" "$KG_OUT/$f.log"; fi
done
if [[ -f $KG_OUT/kgdbts.log ]]; then
	for name in "${RAN[@]}"; do
		[[ $name == kgdbts* ]] || continue
		{
			echo
			echo "==== $name: kgdbts and KGDB lines of the kernel console (build/vm/kgdb-$name/console.log) ===="
			tr -d '\r' <"$CS_BUILD/vm/kgdb-$name/console.log" |
				grep -E 'kgdbts|KGDB: (Registered|Unregistered)|BP remove|WARNING:' | grep -v 'crash_stop: kgdb: generation' || true
		} >>"$KG_OUT/kgdbts.log"
	done
fi
echo
ab_table "${RAN[@]}"
echo "logs: $(rel "$CS_LOGS")/kgdb-*.log, runs: $(rel "$CS_BUILD")/vm/kgdb-*/, summary: $(rel "$KG_OUT")/"
line="$PASS passed, $FAIL failed"
((SKIP == 0)) || line+=", $SKIP skipped"
echo "$line"
((FAIL == 0))
