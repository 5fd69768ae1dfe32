#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# kdump.sh [CASE...]   ("make kdump")
#
# kdump through crash_stop: boot build/out/bzImage in QEMU (4 vCPUs, TCG)
# with a crash kernel reserved, load the same bzImage as the capture kernel
# (kexec_file_load), set up a case through the crash_stop test interface,
# crash, and check what the capture kernel found in /proc/vmcore.
#
# The cases are tools/testing/crash_stop/kdump/scenarios/*.sh (the first
# kernel's script).  A scenario with "# ab: 1" in its leading comments runs
# twice: CASE on the kernel's default path (crash_stop, crash_stop.kdump=1)
# and CASE-upstream with crash_stop.kdump=0 (the upstream
# nmi_shootdown_cpus() path) on the same kernel.  "# append: ARGS" adds to
# the first kernel's command line.  With CASE arguments, only those run.
#
# Per case:
#   build/vm/kdump-CASE/   console.log (both kernels' ttyS0), console.ts (the
#                          same, each line with the host's time), results.log
#                          (ttyS1: the scenario's KDUMP_* lines, then the
#                          capture kernel's base64 of the vmcore headers),
#                          qemu.log, cmdline, initramfs.cpio.gz
#   build/kdump/CASE/      vmcore.elf (ELF header + notes of /proc/vmcore),
#                          readelf.txt (readelf -n), notes.txt (notes.py: one
#                          row per CPU note), times.txt
#   build/kdump/vmcore.elf the idle case's (crash_stop path)
#   build/kdump/summary.txt the table of every case run
#
# Output: progress lines, "ok N - kdump CASE: ..." / "not ok N - ..." lines
# ("# SKIP" when the kernel lacks what a check needs), then
# "N passed, N failed" (", N skipped"); exit status non-zero on a failure.
#
# Environment: OUT_DIR (default build/out: bzImage, System.map, *.ko),
# KDUMP_TIMEOUT (seconds per case, default 240), KDUMP_MEM (MiB, 1024),
# KDUMP_CRASHKERNEL (256M), KDUMP_CS_ARGS (crash_stop's waits on the first
# kernel's command line, default "crash_stop.ipi_wait_ms=1000
# crash_stop.nmi_wait_ms=3000"; empty for the kernel's defaults).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

KD_SRC=$CS_ROOT/tools/testing/crash_stop/kdump
OUT_DIR=${OUT_DIR:-$CS_BUILD/out}
export OUT_DIR
KERNEL=$OUT_DIR/bzImage
SYSTEM_MAP=$OUT_DIR/System.map
KD_OUT=$CS_BUILD/kdump
KD_TIMEOUT=${KDUMP_TIMEOUT:-240}
KD_MEM=${KDUMP_MEM:-1024}
KD_SMP=4
BUSYBOX=/bin/busybox
# The order of the issue's "Must show" list; other scenarios run after.
ORDER=(idle spinner wedged post_notifiers monarch_oops double_panic)
# crash_stop's waits: under TCG on a loaded host a vCPU may not run for
# over 100 ms (the default IPI wait), and an idle CPU would then be
# stopped by NMI: longer waits make "who answered the IPI" a property of
# the guest, not of the host's load.  KDUMP_CS_ARGS= uses the defaults.
KD_CS_ARGS=${KDUMP_CS_ARGS-crash_stop.ipi_wait_ms=1000 crash_stop.nmi_wait_ms=3000}
FIRST_CMDLINE="console=ttyS0 panic=-1 kunit.enable=0 crashkernel=${KDUMP_CRASHKERNEL:-256M} nokaslr${KD_CS_ARGS:+ $KD_CS_ARGS}"
CAPTURE_CMDLINE="console=ttyS0 earlyprintk=serial,ttyS0,115200 nr_cpus=1 maxcpus=1 irqpoll reset_devices nokaslr rdinit=/init panic=-1 kunit.enable=0"
# Where a CPU's saved RIP may be.
RE_CRASH='^(__crash_kexec|crash_kexec|crash_setup_regs|machine_crash_shutdown|native_machine_crash_shutdown|vpanic|panic|sysrq_handle_crash|__handle_sysrq)\+'
RE_IDLE='^(pv_native_safe_halt|native_safe_halt|default_idle|default_idle_call|arch_cpu_idle|cpu_idle_poll|do_idle|mwait_idle|acpi_idle_do_entry|acpi_safe_halt|intel_idle)\+'
# The spinner's loop, and what it calls (an NMI may land in a callee).
RE_SPIN='^(crash_stop_test_spin|native_sched_clock|sched_clock|sched_clock_noinstr|kthread_should_stop|touch_nmi_watchdog|arch_touch_nmi_watchdog|touch_softlockup_watchdog)\+'
RE_PANIC_STOP='^(panic_smp_self_stop|nmi_panic_self_stop|vpanic|panic|cpu_relax|delay_halt|native_halt)\+'

[[ $KD_TIMEOUT =~ ^[1-9][0-9]{0,4}$ ]] ||
	die "KDUMP_TIMEOUT=$KD_TIMEOUT is not a number of seconds"
[[ $KD_MEM =~ ^[0-9]{3,6}$ ]] || die "KDUMP_MEM=$KD_MEM is not a number of MiB"

rel() { echo "${1#"$CS_ROOT"/}"; }

# ---- the cases ----------------------------------------------------------

# CASES: "name script append" lines.
CASES=()
add_cases() {
	local base ab app
	base=$(basename "$1" .sh)
	ab=$(scenario_opt "$1" ab 0)
	app=$(scenario_opt "$1" append "")
	CASES+=("$base|$1|$app")
	if [[ $ab == 1 ]]; then
		CASES+=("$base-upstream|$1|crash_stop.kdump=0${app:+ $app}")
	fi
}
list_cases() {
	local n f seen=" "
	for n in "${ORDER[@]}"; do
		f=$KD_SRC/scenarios/$n.sh
		[[ -f $f ]] || continue
		add_cases "$f"
		seen+="$n "
	done
	for f in "$KD_SRC"/scenarios/*.sh; do
		[[ -f $f ]] || continue
		n=$(basename "$f" .sh)
		[[ $seen == *" $n "* ]] && continue
		add_cases "$f"
	done
	# Upstream variants right after all crash_stop ones: A, then B.
	local a=() b=() c
	for c in "${CASES[@]}"; do
		if [[ ${c%%|*} == *-upstream ]]; then b+=("$c"); else a+=("$c"); fi
	done
	CASES=("${a[@]}" "${b[@]}")
}

# ---- stage 1: the static programs ---------------------------------------

build_programs() {
	require_cmds gcc
	mkdir -p "$KD_OUT/bin"
	local p
	for p in kexec_crash_load vmcore_head; do
		gcc -static -O2 -Wall -Wextra -Werror -o "$KD_OUT/bin/$p" "$KD_SRC/$p.c"
	done
	note "kexec_crash_load, vmcore_head -> $(rel "$KD_OUT")/bin/"
}

# ---- stage 2: the capture initramfs, the first kernel's extra files ------

build_initramfs() {
	require_cmds cpio
	if [[ ! -x $BUSYBOX ]] || ldd "$BUSYBOX" >/dev/null 2>&1; then
		not_installed "a static $BUSYBOX (busybox-static)"
	fi
	[[ -f $KERNEL ]] || die "no kernel image $(rel "$KERNEL"): run 'make kernel' first"
	local root
	root=$(mktemp -d "${TMPDIR:-/tmp}/cs-kdump-capture.XXXXXX")
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp}
	cp "$BUSYBOX" "$root/bin/busybox"
	local applet
	"$BUSYBOX" --list-full | while read -r applet; do
		[[ -e $root/$applet ]] || ln -s /bin/busybox "$root/$applet"
	done
	install -m 0755 "$KD_OUT/bin/vmcore_head" "$root/bin/vmcore_head"
	install -m 0755 "$KD_SRC/capture-init.sh" "$root/init"
	(cd "$root" && find . -print0 | LC_ALL=C sort -z |
		cpio --null -o -H newc -R 0:0 --quiet) | gzip -9 >"$KD_OUT/capture.cpio.gz"
	rm -rf "$root"

	# /kdump/ of the first kernel's initramfs (scripts/mkinitramfs.sh
	# EXTRA_DIR): the capture kernel and what loads it.
	local x=$KD_OUT/extra/kdump
	rm -rf "$KD_OUT/extra"
	mkdir -p "$x"
	cp "$KERNEL" "$x/bzImage"
	cp "$KD_OUT/capture.cpio.gz" "$x/capture.cpio.gz"
	install -m 0755 "$KD_OUT/bin/kexec_crash_load" "$x/kexec_crash_load"
	install -m 0644 "$KD_SRC/guest-lib.sh" "$x/lib.sh"
	echo "$CAPTURE_CMDLINE" >"$x/cmdline"
	note "capture initramfs $(($(stat -c %s "$KD_OUT/capture.cpio.gz") / 1024)) KiB"
}

# ---- stage 3..: one QEMU run per case -----------------------------------

# boot NAME SCRIPT APPEND: one QEMU run of a case; leaves "STATUS SECONDS"
# in build/vm/kdump-NAME/qemu.status.
boot() {
	local name=$1 script=$2 append=$3
	local dir=$CS_BUILD/vm/kdump-$name
	rm -rf "$dir"
	mkdir -p "$dir"
	EXTRA_DIR=$KD_OUT/extra "$CS_ROOT/scripts/mkinitramfs.sh" "$script" \
		"$dir/initramfs.cpio.gz"
	local cmdline="$FIRST_CMDLINE${append:+ $append}"
	echo "$cmdline" >"$dir/cmdline"
	echo "qemu: $KD_SMP vCPUs, $KD_MEM MiB, timeout $KD_TIMEOUT s: $cmdline"
	local t0=$SECONDS rc
	set +e
	timeout -k 5 "$KD_TIMEOUT" qemu-system-x86_64 \
		-accel tcg -cpu max -smp "$KD_SMP" -m "$KD_MEM" \
		-nographic -nodefaults -no-reboot -monitor none \
		-chardev stdio,id=con,signal=off -serial chardev:con \
		-serial "file:$dir/results.log" \
		-kernel "$KERNEL" -initrd "$dir/initramfs.cpio.gz" \
		-append "$cmdline" </dev/null 2>"$dir/qemu.log" |
		python3 "$KD_SRC/console_ts.py" record "$dir"
	rc=${PIPESTATUS[0]}
	set -e
	echo "$rc $((SECONDS - t0))" >"$dir/qemu.status"
	echo "qemu exit status $rc after $((SECONDS - t0)) s"
}

# wedge_ended_early NAME: print the wedge's length when the wedged CPU's
# NMI handler returned before the crash (the test hook's "NMI handler
# (crash_stop_nmi) took too long to run: X msecs" comes before the crash
# line): the case then did not test what it is for.
wedge_ended_early() {
	results "$1" | grep -q '^KDUMP_WEDGED_CPU ' || return 1
	tr -d '\r' <"$CS_BUILD/vm/kdump-$1/console.log" | awk '
		/sysrq: Trigger a crash|Kernel panic - not syncing|BUG: |Oops: / { exit }
		/NMI handler \(crash_stop_nmi\) took too long to run/ {
			sub(/.*took too long to run: */, ""); print; found = 1; exit
		}
		END { exit !found }'
}

# run_case NAME SCRIPT APPEND: boot, crash, capture; decode and analyse.
# A wedged case whose wedge ended before the crash runs once more.
run_case() {
	require_cmds qemu-system-x86_64 python3 readelf
	local name=$1 script=$2 append=$3
	local dir=$CS_BUILD/vm/kdump-$name out=$KD_OUT/$name
	rm -rf "$out"
	mkdir -p "$out"
	local early rc secs
	boot "$name" "$script" "$append"
	if early=$(wedge_ended_early "$name"); then
		echo "the wedge ended before the crash ($early): once more"
		echo "$early" >"$out/retried"
		boot "$name" "$script" "$append"
	fi
	read -r rc secs <"$dir/qemu.status"
	python3 "$KD_SRC/console_ts.py" times "$dir/console.ts" | tee "$out/times.txt"
	echo "---- results.log (without the base64) ----"
	results "$name" | grep -v '^[A-Za-z0-9+/=]*$' || true

	local skip
	skip=$(results "$name" | sed -n 's/^KDUMP_SKIP //p' | head -n1)
	if [[ -n $skip ]]; then
		note "skipped: $skip"
		return 0
	fi
	if ((rc == 124 || rc == 137)); then
		note "no power-off within $KD_TIMEOUT s"
		return 1
	fi
	decode "$name" "$out/vmcore.elf" || {
		note "no vmcore from the capture kernel"
		return 1
	}
	readelf -n "$out/vmcore.elf" >"$out/readelf.txt"
	local absent
	absent=$(results "$name" | sed -n 's/^KDUMP_WEDGED_CPU //p' | tr '\n' ',')
	python3 "$KD_SRC/notes.py" "$out/vmcore.elf" "$SYSTEM_MAP" "$dir/console.log" \
		--absent "$absent" >"$out/notes.txt"
	grep -v "description data" "$out/readelf.txt"
	cat "$out/notes.txt"
	[[ $name != idle ]] || cp "$out/vmcore.elf" "$KD_OUT/vmcore.elf"
	local d
	d=$(sed -n 's/.*delta=\([0-9.-]*\).*/\1/p' "$out/times.txt")
	note "$(nkey "$name" notes) notes, crash -> capture kernel ${d} s${early:+; retried: the first wedge ended after $early}"
}

# results NAME: the case's results port, carriage returns dropped.
results() {
	tr -d '\r' <"$CS_BUILD/vm/kdump-$1/results.log" 2>/dev/null || true
}

# decode NAME FILE: the base64 between KDUMP_VMCORE_BEGIN and _END.
decode() {
	results "$1" | python3 -c '
import base64, re, sys
text = sys.stdin.read()
m = re.search(r"^KDUMP_VMCORE_BEGIN\n(.*?)^KDUMP_VMCORE_END$", text, re.S | re.M)
if not m:
    sys.exit("no KDUMP_VMCORE_BEGIN ... KDUMP_VMCORE_END in the results")
data = base64.b64decode("".join(m.group(1).split()), validate=True)
n = re.search(r"^KDUMP_VMCORE_BYTES (\d+)$", text, re.M)
if n and int(n.group(1)) != len(data):
    sys.exit("decoded %d bytes, the capture kernel sent %s" % (len(data), n.group(1)))
open(sys.argv[1], "wb").write(data)
print("vmcore headers: %d bytes" % len(data))
' "$2"
}

# nkey NAME KEY: a "# KEY=value" of the case's notes.txt ("-" if none).
nkey() {
	local v
	v=$(sed -n "s/^# $2=//p" "$KD_OUT/$1/notes.txt" 2>/dev/null | head -n1)
	echo "${v:--}"
}

# nrow NAME CPU FIELD: pid, rip, sym or how of CPU's note ("" if none).
nrow() {
	[[ -f $KD_OUT/$1/notes.txt ]] || return 0
	awk -v cpu="$2" -v f="$3" '
		/^#/ || $1 == "cpu" { next }
		$1 == cpu {
			if (f == "pid") print $2
			else if (f == "rip") print $3
			else if (f == "sym") print $4
			else if (f == "how") print $5
			exit
		}' "$KD_OUT/$1/notes.txt"
}

# ---- the checks ---------------------------------------------------------

N=0 PASS=0 FAIL=0 SKIP=0
ok() {
	N=$((N + 1)) PASS=$((PASS + 1))
	echo "ok $N - kdump $*"
}
not_ok() {
	N=$((N + 1)) FAIL=$((FAIL + 1))
	echo "not ok $N - kdump $*"
}
skip() {
	N=$((N + 1)) SKIP=$((SKIP + 1))
	echo "ok $N - kdump $1 # SKIP $2"
}
# check COND-STATUS TEXT: ok or not ok from a command's status.
check() {
	local text=$1
	shift
	if "$@"; then ok "$text"; else not_ok "$text"; fi
}

# cpu_in NAME CPU REGEX [PID]: CPU's note exists, its symbol matches, and
# (with PID) its pid is PID.
cpu_in() {
	local sym pid
	sym=$(nrow "$1" "$2" sym) pid=$(nrow "$1" "$2" pid)
	[[ -n $sym && $sym =~ $3 ]] || return 1
	[[ -z ${4:-} || $pid == "$4" ]]
}

# cs_how NAME CPU: CPU's entry of the crash_stop kdump line.
cs_how() {
	nkey "$1" cs_line | tr ' ' '\n' | sed -n "s/^cpu$2=//p"
}

check_case() {
	local name=$1 base=${1%-upstream} up=0
	[[ $name == *-upstream ]] && up=1
	local dir=$CS_BUILD/vm/kdump-$name out=$KD_OUT/$name
	local skipmsg
	skipmsg=$(results "$name" | sed -n 's/^KDUMP_SKIP //p' | head -n1)
	if [[ -n $skipmsg ]]; then
		skip "$name" "$skipmsg"
		return
	fi
	local qrc=- secs=-
	[[ -f $dir/qemu.status ]] && read -r qrc secs <"$dir/qemu.status"
	local why
	why=$(results "$name" | sed -n 's/^KDUMP_FAIL //p' | head -n1)
	if [[ ! -s $out/vmcore.elf ]]; then
		if [[ $qrc == 124 || $qrc == 137 ]]; then
			why="hung: no power-off within $KD_TIMEOUT s${why:+ ($why)}"
		elif [[ -z $why ]]; then
			why=$(results "$name" | sed -n 's/^KDUMP_VMCORE_ERROR //p' | head -n1)
		fi
		not_ok "$name: no vmcore from the capture kernel: ${why:-see $(rel "$dir")/console.log}"
		return
	fi
	local delta
	delta=$(sed -n 's/.*delta=\([0-9.-]*\).*/\1/p' "$out/times.txt")
	ok "$name: capture kernel sent the vmcore headers (crash -> capture kernel ${delta} s, run ${secs} s)"

	# The file itself.
	local vi map rel_notes ncpu
	vi=$(nkey "$name" vmcoreinfo) map=$(nkey "$name" map_check)
	check "$name: vmcore.elf is an ELF core with VMCOREINFO ($(nkey "$name" osrelease)), System.map agrees ($map)" \
		test "$vi" = 1 -a "$map" = ok
	rel_notes=$(grep -c 'NT_PRSTATUS' "$out/readelf.txt" || true)
	ncpu=$(nkey "$name" cpus)
	[[ $ncpu =~ ^[0-9]+$ ]] || ncpu=$KD_SMP
	local want=$ncpu panic_cpu panic_pid trig c
	# The panicking CPU and task: the scenario's trigger line (it crashes
	# in its own process), else the crash_stop line's monarch, else the
	# console's "CPU: N ... PID: P" line.
	trig=$(results "$name" | grep -m1 '^KDUMP_TRIGGER ' || true)
	panic_cpu=$(echo "$trig" | sed -n 's/.* cpu=\([0-9]*\) .*/\1/p')
	panic_pid=$(echo "$trig" | sed -n 's/.* pid=\([0-9]*\) .*/\1/p')
	if [[ $base == double_panic ]]; then
		# The panics come from kthreads on CPUs 1 and 2.
		panic_cpu=$(nkey "$name" cs_line | tr ' ' '\n' | sed -n 's/^cpu\([0-9]*\)=monarch$/\1/p')
		if [[ -z $panic_cpu ]]; then
			for c in 1 2; do
				if cpu_in "$name" "$c" "$RE_CRASH"; then panic_cpu=$c; fi
			done
		fi
		panic_pid=
	fi
	[[ -n $panic_cpu ]] || panic_cpu=$(nkey "$name" panic_cpu)
	if [[ $base == wedged ]]; then
		want=$((ncpu - 1)) # CPU 2 does not save its registers in time
		# Upstream, CPU 2 takes the shootdown NMI once its wedge ends
		# and saves its note then: before the capture kernel reads the
		# notes when that boots slowly (a loaded host), else after.
		((up)) && [[ $rel_notes == "$ncpu" ]] && want=$ncpu
	fi
	check "$name: $rel_notes NT_PRSTATUS notes (readelf -n; $want expected of $ncpu CPUs), notes.py agrees" \
		test "$rel_notes" = "$want" -a "$(nkey "$name" notes)" = "$rel_notes"

	# The panicking CPU.
	local re=$RE_CRASH what="the crash path"
	if [[ $base == monarch_oops ]]; then
		# crash_kexec() from oops_end() saves the oops' registers.
		re='^(stop_callback|crash_stop_test[a-z_]*)\+'
		what="the oopsing test callback"
	fi
	# Cross-check with the console's "CPU: N ... PID: P" line when the
	# crash printed one (an oops does; panic() here does not).
	local ccpu cpid agree=1 also=""
	ccpu=$(nkey "$name" panic_cpu) cpid=$(nkey "$name" panic_pid)
	if [[ $ccpu != - ]]; then
		also="; console: CPU $ccpu PID $cpid"
		[[ $ccpu == "$panic_cpu" && ( -z $panic_pid || $cpid == "$panic_pid" ) ]] || agree=0
	fi
	check "$name: panicking CPU $panic_cpu (pid ${panic_pid:-any}) is in $what: $(nrow "$name" "$panic_cpu" sym) pid $(nrow "$name" "$panic_cpu" pid)$also" \
		test "$agree" = 1 -a "$(cpu_in "$name" "$panic_cpu" "$re" "$panic_pid" && echo y)" = y

	# The other CPUs.
	local idle=() irq=() busy=() bad=() sym
	for c in $(seq 0 $((ncpu - 1))); do
		[[ $c == "$panic_cpu" ]] && continue
		case $base in
		spinner | wedged) [[ $c == 2 ]] && continue ;;
		double_panic) [[ $c == 1 || $c == 2 || $c == 0 ]] && continue ;;
		esac
		sym=$(nrow "$name" "$c" sym)
		if cpu_in "$name" "$c" "$RE_IDLE" 0; then
			idle+=("cpu$c:$sym")
		elif cpu_in "$name" "$c" '^[A-Za-z_]' 0; then
			# The idle task, stopped in an interrupt or softirq that
			# ran with interrupts on (the stop IPI is maskable).
			irq+=("cpu$c:$sym")
		elif cpu_in "$name" "$c" '^[A-Za-z_]'; then
			# Not idle at the crash: a kworker or other kthread.
			busy+=("cpu$c:$sym/pid=$(nrow "$name" "$c" pid)")
		else
			bad+=("cpu$c:${sym:-no-note}/pid=$(nrow "$name" "$c" pid)")
		fi
	done
	check "$name: the other CPUs' notes: idle task in the idle loop: ${idle[*]:-none}${irq:+; idle task in an interrupt: ${irq[*]}}${busy:+; busy (not idle at the crash): ${busy[*]}}${bad:+; no kernel RIP: ${bad[*]}}" \
		test ${#bad[@]} = 0
	case $base in
	spinner)
		local spid
		spid=$(results "$name" | sed -n 's/^KDUMP_SPINNER_PID //p' | head -n1)
		local where="in the spinner"
		cpu_in "$name" 2 '^crash_stop_test_spin\+' ||
			where="in the spinner's loop (a function it calls)"
		check "$name: CPU 2 is $where with the spinner's pid $spid: $(nrow "$name" 2 sym) pid $(nrow "$name" 2 pid)" \
			cpu_in "$name" 2 "$RE_SPIN" "$spid"
		;;
	wedged)
		local early="" early2
		[[ -f $out/retried ]] && early=" (retried: the first run's wedge ended after $(cat "$out/retried"))"
		if early2=$(wedge_ended_early "$name"); then
			not_ok "$name: CPU 2 was still wedged at the crash: no, its NMI handler returned after $early2$early"
		else
			ok "$name: CPU 2 was still wedged at the crash$early"
		fi
		if ((up)) && [[ -n $(nrow "$name" 2 sym) ]]; then
			ok "$name: CPU 2 (wedged in an NMI handler) saved its registers late, after its wedge ended, before the capture kernel read the notes: $(nrow "$name" 2 sym) pid $(nrow "$name" 2 pid)"
		else
			check "$name: CPU 2 (wedged in an NMI handler) saved no registers: $(nkey "$name" notes) notes for $ncpu CPUs, CPU ids ($(nkey "$name" cpu_map)): $(awk '!/^#/ && $1 != "cpu" {printf "%s ", $1}' "$out/notes.txt")" \
				test -z "$(nrow "$name" 2 sym)" -a "$(nkey "$name" cpu_map)" != unknown
		fi
		;;
	monarch_oops)
		check "$name: the die notifier resumed the held CPUs (\"monarch crashed during its crash stop\")" \
			grep -q 'crash_stop: monarch crashed during its crash stop; resuming' "$dir/console.log"
		;;
	double_panic)
		local loser=1
		[[ $panic_cpu == 1 ]] && loser=2
		check "$name: one dump, the losing CPU $loser's note is there: $(nrow "$name" $loser sym)" \
			cpu_in "$name" "$loser" "$RE_PANIC_STOP"
		check "$name: one capture kernel ran" \
			test "$(results "$name" | grep -c '^KDUMP_CAPTURE_UP')" = 1
		;;
	esac

	# crash_stop's own account of the stop.
	local param cs_lines cs_line
	param=$(results "$name" | sed -n 's/^KDUMP_PARAM //p' | head -n1)
	cs_lines=$(nkey "$name" cs_lines) cs_line=$(nkey "$name" cs_line)
	if ((up)); then
		if [[ $param == none ]]; then
			skip "$name: no crash_stop kdump line (upstream path)" \
				"kernel has no crash_stop.kdump parameter: both runs take the upstream path"
		else
			check "$name: crash_stop.kdump=${param#kdump=}: no crash_stop kdump line, the upstream nmi_shootdown path" \
				test "(" "$param" = kdump=0 -o "$param" = kdump=N ")" -a "$cs_lines" = 0
		fi
		return
	fi
	if [[ $param == none ]]; then
		skip "$name: crash_stop kdump line" \
			"kernel has no crash_stop.kdump parameter (the upstream path took the dump)"
		return
	fi
	if [[ $param != kdump=1 && $param != kdump=Y ]]; then
		not_ok "$name: crash_stop.kdump is ${param#kdump=}, not 1: no A/B"
		return
	fi
	local fallback
	fallback=$(tr -d '\r' <"$dir/console.log" | grep -m1 -o 'kdump: crash_stop failed.*' || true)
	check "$name: exactly one crash_stop kdump generation line (found $cs_lines)${fallback:+, and: $fallback}" \
		test "$cs_lines" = 1 -a -z "$fallback"
	check "$name: CPU $panic_cpu is the monarch: $cs_line" \
		test "$(cs_how "$name" "$panic_cpu")" = monarch
	local others=() nmi=0 ipi=0 h
	for c in $(seq 0 $((ncpu - 1))); do
		[[ $c == "$panic_cpu" ]] && continue
		h=$(cs_how "$name" "$c")
		others+=("cpu$c=$h")
		[[ $h == nmi ]] && nmi=$((nmi + 1))
		[[ $h == ipi ]] && ipi=$((ipi + 1))
	done
	case $base in
	spinner)
		check "$name: exactly one CPU escalated to NMI, CPU 2: ${others[*]}" \
			test "$nmi" = 1 -a "$(cs_how "$name" 2)" = nmi -a "$ipi" = $((ncpu - 2))
		;;
	wedged)
		check "$name: CPU 2 missing, the others by IPI: ${others[*]}" \
			test "$(cs_how "$name" 2)" = missing -a "$ipi" = $((ncpu - 2))
		check "$name: the first kernel logs \"crash_stop: CPUs 2 did not stop\"" \
			grep -q 'crash_stop: CPUs 2 did not stop' "$dir/console.log"
		;;
	double_panic)
		local loser=1
		[[ $panic_cpu == 1 ]] && loser=2
		check "$name: the losing CPU $loser is stopped ($(cs_how "$name" $loser)), nobody missing: ${others[*]}" \
			test -n "$(cs_how "$name" $loser)" -a "$(cs_how "$name" $loser)" != missing
		;;
	*)
		check "$name: nobody escalated, every other CPU by IPI: ${others[*]}" \
			test "$ipi" = $((ncpu - 1))
		;;
	esac
}

# ---- the summary table --------------------------------------------------

summary_row() {
	local name=$1 out=$KD_OUT/$1 path=- delta=- stop=- notes=- rips=""
	if [[ -n $(results "$name" | sed -n 's/^KDUMP_SKIP //p') ]]; then
		printf '%-18s %-10s %-6s %-9s %-5s %s\n' "$name" - - - - "skipped: $(results "$name" | sed -n 's/^KDUMP_SKIP //p' | head -n1)"
		return
	fi
	if [[ -f $out/times.txt ]]; then
		delta=$(sed -n 's/.*delta=\([0-9.-]*\).*/\1/p' "$out/times.txt")
		stop=$(awk '{
			for (i = 1; i <= NF; i++) { split($i, kv, "="); t[kv[1]] = kv[2] }
			if (t["crash"] != "-" && t["stopped"] != "-") printf "%.3f", t["stopped"] - t["crash"]
			else printf "-"
		}' "$out/times.txt")
	fi
	if [[ -f $out/notes.txt ]]; then
		notes=$(nkey "$name" notes)
		path=upstream
		[[ $(nkey "$name" cs_lines) == 0 ]] || path=crash_stop
		rips=$(awk '!/^#/ && $1 != "cpu" { printf "%scpu%s %s pid %s %s", sep, $1, $4, $2, $5; sep = "; " }' "$out/notes.txt")
	else
		rips="no vmcore"
	fi
	printf '%-18s %-10s %-6s %-9s %-5s %s\n' "$name" "$path" "$stop" "$delta" "$notes" "$rips"
}

write_summary() {
	local c
	{
		echo "kdump through crash_stop: $(date -u +%Y-%m-%dT%H:%MZ), $(cat "$OUT_DIR/BUILD_INFO" 2>/dev/null | head -n1)"
		echo "first kernel: $FIRST_CMDLINE (+ the case's); capture: $CAPTURE_CMDLINE"
		echo "host times from the first kernel's first crash line on the console, in s: stop = to crash_stop's"
		echo "'kdump: generation' line (the other CPUs stopped; crash_stop path only), capture = to the capture kernel's first line"
		echo
		printf '%-18s %-10s %-6s %-9s %-5s %s\n' case path stop capture notes "RIP per CPU (cpu symbol pid how)"
		for c in "$@"; do summary_row "$c"; done
	} >"$KD_OUT/summary.txt"
	cat "$KD_OUT/summary.txt"
}

# ---- main -----------------------------------------------------------------

list_cases
select_cases kdump "$@"
((${#CASES[@]})) || die "no kdump scenario in $(rel "$KD_SRC")/scenarios"
[[ -f $SYSTEM_MAP ]] || die "no $(rel "$SYSTEM_MAP"): run 'make kernel' first"

mkdir -p "$KD_OUT"
total=$((2 + ${#CASES[@]}))
stage 1 "$total" "kdump: static kexec_crash_load and vmcore_head (gcc -static)" \
	kdump-programs build_programs
stage 2 "$total" "kdump: capture initramfs, first kernel's /kdump" kdump-initramfs build_initramfs
i=2 names=()
for c in "${CASES[@]}"; do
	IFS='|' read -r name script append <<<"$c"
	i=$((i + 1))
	names+=("$name")
	try_stage "$i" "$total" "kdump case $name${append:+ ($append)}" "kdump-$name" \
		run_case "$name" "$script" "$append"
	check_case "$name"
done
echo
write_summary "${names[@]}"
echo "logs: $(rel "$CS_LOGS")/kdump-*.log, VM runs: $(rel "$CS_BUILD")/vm/kdump-*/, vmcores: $(rel "$KD_OUT")/"
line="$PASS passed, $FAIL failed"
((SKIP == 0)) || line+=", $SKIP skipped"
echo "$line"
((FAIL == 0))
