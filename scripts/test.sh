#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The crash_stop test suite ("make test"):
#
#   scripts/test.sh                     everything, in phases:
#       host model tests (tools/testing/crash_stop_model: its run.sh, std
#       tests and loom, or else cargo test)
#       kernel build (scripts/build-kernel.sh)
#       the stopping path calls nothing kprobes may probe (a check of the
#       built vmlinux: tools/testing/crash_stop/nokprobe-check.py)
#       KUnit: one boot that runs the built-in KUnit tests
#       one VM boot per tools/testing/selftests/crash_stop/scenarios/*.sh
#       kdump through crash_stop (scripts/kdump.sh: one crash per case)
#       kgdb and kdb through crash_stop (scripts/kgdb.sh --short: one boot
#       per roundup; CS_KGDB_TESTS=full runs every case, =0 none)
#       the benchmark, short (scripts/bench.sh: 2 and 4 vCPUs, 21 rounds)
#       setup's dependency test (tools/testing/crash_stop/setup-deps-test.sh)
#       the runner's self-tests (tools/testing/crash_stop/runner-selftest.sh)
#   scripts/test.sh scenario FILE [NAME]   one VM scenario
#   scripts/test.sh check                  "make check"
#
# Every form ends with the line "N passed, N failed" (", N skipped" when
# some were) and exits non-zero when anything failed.
#
# A scenario is a guest script (see scripts/mkinitramfs.sh).  Its first
# comment lines may set the VM:  "# smp: N" (default 4), "# mem: MiB",
# "# timeout: S" (default 300), "# append: ARGS" (kernel command line) and
# "# kunit: 1" (run the built-in KUnit tests in this boot too; by default
# they run only in the KUnit boot).  Its output, on the guest's ttyS1, is
# counted as kselftest TAP: "ok"/"not ok" lines, "# SKIP" as skipped,
# tests announced by the plan but never reported as failed.  A run that
# crashes, hangs or exits non-zero is one more failure.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
check_kver

SCENARIOS=$CS_ROOT/tools/testing/selftests/crash_stop/scenarios
MODEL=$CS_ROOT/tools/testing/crash_stop_model
RUNNER_SELFTEST=$CS_ROOT/tools/testing/crash_stop/runner-selftest.sh
SETUP_DEPS_TEST=$CS_ROOT/tools/testing/crash_stop/setup-deps-test.sh
PASSED=0 FAILED=0 SKIPPED=0
FAILED_PHASES=()
PHASE=0 PHASES=0

# counts P F S [REMARK]: what a phase function counted (read back by
# phase()), also shown on the progress line.
counts() {
	echo "$1 $2 $3" >"${CURRENT_LOG%.log}.counts"
	local n="$1 passed, $2 failed"
	(($3 == 0)) || n+=", $3 skipped"
	note "$n${4:+: $4}"
	(($2 == 0))
}

# phase "what" LOGNAME cmd...: a numbered stage whose counts add to the
# totals; a phase that fails without counting a failure counts one.
phase() {
	local what=$1 log=$2 p=0 f=0 s=0
	shift 2
	PHASE=$((PHASE + 1))
	rm -f "$CS_LOGS/$log.counts"
	try_stage "$PHASE" "$PHASES" "$what" "$log" "$@"
	if [[ -f $CS_LOGS/$log.counts ]]; then
		read -r p f s <"$CS_LOGS/$log.counts"
	fi
	((STAGE_RC == 0 || f > 0)) || f=1
	PASSED=$((PASSED + p)) FAILED=$((FAILED + f)) SKIPPED=$((SKIPPED + s))
	((f == 0)) || FAILED_PHASES+=("$what")
	return 0
}

summary() {
	echo "logs: ${CS_LOGS#"$CS_ROOT"/}/ (test-*.log, build-*.log), VM runs: ${CS_BUILD#"$CS_ROOT"/}/vm/"
	if ((${#FAILED_PHASES[@]})); then
		printf 'failed: %s\n' "${FAILED_PHASES[@]}"
	fi
	local line="$PASSED passed, $FAILED failed"
	((SKIPPED == 0)) || line+=", $SKIPPED skipped"
	echo "$line"
	((FAILED == 0))
}

# Host-side model of the protocol.
model_tests() {
	if [[ ! -f $MODEL/Cargo.toml ]]; then
		note "no Cargo.toml, skipped"
		return 0
	fi
	local rc=0
	# The model's builds are cached like the kernel's: a fresh clone does
	# not compile loom again.
	if [[ -x $MODEL/run.sh ]]; then
		CARGO_TARGET_DIR=$CS_CACHE/model-target "$MODEL/run.sh" || rc=$? # std tests, then loom
	else
		(cd "$MODEL" && cargo test --no-fail-fast) || rc=$?
	fi
	# "test result: ok. 4 passed; 0 failed; 2 ignored; ..."
	local p f s
	read -r p f s < <(sed -n 's/^test result: [A-Za-z]*\. \([0-9]*\) passed; \([0-9]*\) failed; \([0-9]*\) ignored.*/\1 \2 \3/p' \
		"$CURRENT_LOG" | awk '{p += $1; f += $2; s += $3} END {print p + 0, f + 0, s + 0}')
	((rc == 0 || f > 0)) || f=1
	counts "$p" "$f" "$s"
}

kernel_build() {
	"$CS_ROOT/scripts/build-kernel.sh"
}

# kunit_counts CONSOLE_LOG: "P F S" of the KUnit results in a boot log,
# through the kernel's own parser ("0 0 0" when no KUnit test ran).
kunit_counts() {
	if ! grep -q 'KTAP version\|TAP version' "$1"; then
		echo "0 0 0"
		return 0
	fi
	local out
	out=$(tr -d '\r' <"$1" |
		python3 "$CS_WORK_SRC/tools/testing/kunit/kunit.py" parse 2>&1 || true)
	printf -- '---- kunit.py parse ----\n%s\n' "$out" >&2
	# "Testing complete. Ran 23 tests: passed: 19, skipped: 4"
	echo "$out" | grep 'Testing complete' | tail -n1 | awk '
		{
			for (i = 1; i <= NF; i++) {
				k = $i; v = $(i + 1) + 0
				if (k == "passed:") p += v
				else if (k == "failed:" || k == "crashed:" || k == "errors:") f += v
				else if (k == "skipped:") s += v
			}
		}
		END { print p + 0, f + 0, s + 0 }'
}

# run_scenario FILE NAME: boot one scenario and count its results.
run_scenario() {
	local file=$1 name=$2 smp mem timeout append kunit
	smp=$(scenario_opt "$file" smp 4)
	mem=$(scenario_opt "$file" mem 512)
	timeout=$(scenario_opt "$file" timeout 300)
	append=$(scenario_opt "$file" append "")
	kunit=$(scenario_opt "$file" kunit 0)
	[[ $kunit == 1 ]] || append="kunit.enable=0${append:+ $append}"
	local vm=0 dir=$CS_BUILD/vm/$name vmout
	vmout=$(SMP=$smp MEM=$mem TIMEOUT=$timeout APPEND=$append \
		"$CS_ROOT/scripts/run-vm.sh" "$name" "$file" 2>&1) || vm=$?
	local p=0 f=0 s=0 kp kf ks
	if [[ -f $dir/results.log ]]; then
		read -r p f s < <(tap_count "$dir/results.log")
		echo "---- results ($p passed, $f failed, $s skipped) ----"
		tr -d '\r' <"$dir/results.log"
		if ((p + f + s == 0 && vm == 0)); then
			p=1 # no TAP: the scenario's exit status is its one result
		fi
	fi
	if [[ -f $dir/console.log ]]; then
		read -r kp kf ks < <(kunit_counts "$dir/console.log")
		p=$((p + kp)) f=$((f + kf)) s=$((s + ks))
	fi
	echo "---- scripts/run-vm.sh ----"
	echo "$vmout"
	local remark=""
	if ((vm != 0)); then
		f=$((f + 1))
		remark=$(echo "$vmout" | tail -n1)
		remark=${remark#error: }
		remark=${remark#"vm $name: "}
	fi
	counts "$p" "$f" "$s" "$remark"
}

# The built-in KUnit tests, in a boot of their own.
kunit_boot() {
	local dir=$CS_BUILD/vm/kunit
	mkdir -p "$dir"
	printf '#!/bin/sh\n# smp: 4\n# kunit: 1\nexit 0\n' >"$dir.sh"
	run_scenario "$dir.sh" kunit
}

# tap_cmd COMMAND [ARGS...]: run a TAP producer and count its "ok"/"not ok"
# lines (one that fails without a "not ok" line counts one failure).
tap_cmd() {
	local p f s rc=0
	"$@" || rc=$?
	read -r p f s < <(tap_count "$CURRENT_LOG")
	((rc == 0 || f > 0)) || f=1
	counts "$p" "$f" "$s"
}

# tap_script NAME: tap_cmd scripts/NAME.  Used for kdump.sh and kgdb.sh.
tap_script() {
	tap_cmd "$CS_ROOT/scripts/$1"
}

# The stopping path of the kernel just built calls nothing kprobes may
# probe (tools/testing/crash_stop/nokprobe-check.py reads build/out/vmlinux).
nokprobe_check() {
	require_cmds python3 objdump
	tap_cmd "$CS_ROOT/tools/testing/crash_stop/nokprobe-check.py" \
		"$CS_BUILD/out/vmlinux" "$CS_BUILD/out/System.map"
}

# "make bench", shortened so that it cannot rot: every mechanism gives
# numbers and no boot logged an unknown NMI (its check.tap; no timing is
# checked).  Results in build/bench-test/.
bench_short() {
	local out=$CS_BUILD/bench-test p f s
	BENCH_SMPS="2 4" ROUNDS=21 HOLD_S=1 BENCH_OUT=$out "$CS_ROOT/scripts/bench.sh" || true
	[[ -f $out/check.tap ]] || die "scripts/bench.sh wrote no check.tap"
	read -r p f s < <(tap_count "$out/check.tap")
	counts "$p" "$f" "$s"
}

runner_selftest() {
	"$RUNNER_SELFTEST"
	local p f s
	read -r p f s < <(tap_count "$CURRENT_LOG")
	counts "$p" "$f" "$s"
}

# Every command the scripts run is installed by make setup.
setup_deps_test() {
	"$SETUP_DEPS_TEST"
	local p f s
	read -r p f s < <(tap_count "$CURRENT_LOG")
	counts "$p" "$f" "$s"
}

# The work tree that build-kernel.sh uses (for kunit.py and checkpatch.pl).
work_src() {
	local version
	version=$(cat "$CS_CACHE/src/VERSION" 2>/dev/null) ||
		die "no kernel source in $CS_CACHE/src: run 'make setup' first"
	echo "${CS_WORK:-$CS_CACHE/work-$version}/src"
}

all_tests() {
	local scen=() f
	for f in "$SCENARIOS"/*.sh; do
		if [[ -f $f ]]; then scen+=("$f"); fi
	done
	PHASES=$((8 + ${#scen[@]}))
	[[ ${CS_KGDB_TESTS:-short} == 0 ]] || PHASES=$((PHASES + 1))
	phase "host model tests (cargo test, loom)" test-model model_tests
	phase "kernel build" test-build kernel_build
	if ((STAGE_RC != 0)); then
		echo "kernel build failed: no VM test run (see ${CS_LOGS#"$CS_ROOT"/}/build-*.log)"
		summary
		return
	fi
	phase "stopping path off kprobes (vmlinux)" test-nokprobe nokprobe_check
	phase "KUnit (built-in tests, 4 vCPUs)" test-kunit kunit_boot
	local name
	for f in "${scen[@]}"; do
		name=$(basename "$f" .sh)
		phase "scenario $name ($(scenario_opt "$f" smp 4) vCPUs)" "test-scenario-$name" \
			run_scenario "$f" "$name"
	done
	phase "kdump through crash_stop (scripts/kdump.sh)" test-kdump tap_script kdump.sh
	# kgdb's short set: gdb, kdb, kgdbts, the wedged CPU, the 30 s stop,
	# kdb-ss, in one boot per roundup (about 7 min); CS_KGDB_TESTS=full
	# runs every case ("make kgdb", about 25 min), CS_KGDB_TESTS=0 none.
	case ${CS_KGDB_TESTS:-short} in
	0) ;;
	full | 1) KGDB_SET=full phase "kgdb and kdb through crash_stop (scripts/kgdb.sh, every case)" \
		test-kgdb tap_script kgdb.sh ;;
	*) KGDB_SET=short phase "kgdb and kdb through crash_stop (scripts/kgdb.sh --short)" \
		test-kgdb tap_script kgdb.sh ;;
	esac
	phase "benchmark, short (scripts/bench.sh: 2, 4 vCPUs)" test-bench bench_short
	phase "setup installs every command the scripts run" test-setup-deps setup_deps_test
	if [[ -x $RUNNER_SELFTEST ]]; then
		phase "runner self-tests" test-runner-selftest runner_selftest
	else
		PHASE=$((PHASE + 1))
		echo "[$PHASE/$PHASES] runner self-tests ... missing ${RUNNER_SELFTEST#"$CS_ROOT"/}"
		FAILED=$((FAILED + 1))
	fi
	summary
}

one_scenario() {
	local file=$1 name=${2:-}
	[[ -f $file ]] || die "scenario $file does not exist"
	[[ -n $name ]] || name=$(basename "$file" .sh)
	PHASES=1
	phase "scenario $name ($(scenario_opt "$file" smp 4) vCPUs)" "test-scenario-$name" \
		run_scenario "$file" "$name"
	summary
}

# "make check": checkpatch, rustfmt and clippy.
checkpatch_all() {
	local cp=$CS_WORK_SRC/scripts/checkpatch.pl f p=0 fl=0
	local files=()
	cd "$CS_ROOT"
	for f in patches/*.patch; do
		if [[ -f $f ]]; then files+=("$f"); fi
	done
	while IFS= read -r -d '' f; do
		if [[ -f $f ]]; then files+=("$f"); fi
	done < <(git ls-files -z --cached --others --exclude-standard '*.c' '*.h')
	for f in "${files[@]}"; do
		local opts=(--no-tree --terse --show-types)
		[[ $f == *.patch ]] || opts+=(-f)
		# Functions defined in Rust are exported from glue.c, where the
		# export cannot follow the definition (see the comment there).
		[[ $f == rust/crash_stop/glue.c ]] && opts+=(--ignore EXPORT_SYMBOL)
		# Run outside the repo's git work tree: inside one, checkpatch
		# misreads blank context lines of the patches as whitespace errors.
		if (cd "$CS_WORK_SRC" && "$cp" "${opts[@]}" "$CS_ROOT/$f"); then
			p=$((p + 1))
		else
			echo "checkpatch: $f: problems above"
			fl=$((fl + 1))
		fi
	done
	counts "$p" "$fl" 0
}

rustfmt_check() {
	kmake_env
	"${KMAKE[@]}" -C "$CS_WORK_SRC" O="$CS_WORK_SRC/../obj" rustfmtcheck
}

# Clippy over the kbuild directories that hold the repo's Rust files (the
# kernel crate's files: rust/), in a build directory of its own so that the
# kernel build's objects stay as they are.
clippy_check() {
	kmake_env
	local obj=$CS_WORK_SRC/../obj-clippy f d dirs=()
	while IFS= read -r f; do
		d=$(dirname "$f")
		while [[ $d != . && ! -f $CS_WORK_SRC/$d/Makefile && ! -f $CS_WORK_SRC/$d/Kbuild ]]; do
			d=$(dirname "$d")
		done
		[[ $d == . ]] || dirs+=("$d/")
	done < <(git -C "$CS_ROOT" ls-files --cached --others --exclude-standard \
		'rust/*.rs' 'samples/*.rs')
	mapfile -t dirs < <(printf '%s\n' "${dirs[@]}" | sort -u | grep .)
	if ((${#dirs[@]} == 0)); then
		note "no Rust files"
		return 0
	fi
	mkdir -p "$obj"
	cp "$CS_WORK_SRC/../obj/.config" "$obj/.config"
	"${KMAKE[@]}" -C "$CS_WORK_SRC" O="$obj" -j"$(($(nproc) + 1))" CLIPPY=1 \
		CLIPPY_DRIVER=/usr/bin/clippy-driver "${dirs[@]}"
	local w
	w=$(grep -c '^warning:\|^error:' "$CURRENT_LOG" || true)
	note "${dirs[*]}: $w warnings"
	((w == 0))
}

check_all() {
	PHASES=5
	phase "kernel work tree (build)" check-build kernel_build
	if ((STAGE_RC != 0)); then
		summary
		return
	fi
	phase "stopping path off kprobes (vmlinux)" check-nokprobe nokprobe_check
	phase "checkpatch.pl --no-tree (patches, C files)" check-checkpatch checkpatch_all
	if [[ ! -x /usr/bin/clippy-driver ]]; then
		echo "note: installing rust-web-clippy (clippy for /usr/bin/rustc)"
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
			rust-web-clippy >"$CS_LOGS/check-apt.log" 2>&1 ||
			die "could not install rust-web-clippy (see ${CS_LOGS#"$CS_ROOT"/}/check-apt.log)"
	fi
	phase "make rustfmtcheck" check-rustfmt rustfmt_check
	phase "make CLIPPY=1 (repo Rust directories)" check-clippy clippy_check
	summary
}

CS_WORK_SRC=$(work_src)
case ${1:-all} in
all)
	(($# <= 1)) || die "usage: $0 [all | scenario FILE [NAME] | check]"
	all_tests
	;;
scenario)
	(($# == 2 || $# == 3)) || die "usage: $0 scenario FILE [NAME]"
	one_scenario "$2" "${3:-}"
	;;
check)
	check_all
	;;
*)
	die "unknown command '$1' (use: all, scenario FILE [NAME], check)"
	;;
esac
