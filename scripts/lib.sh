# SPDX-License-Identifier: GPL-2.0
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

# stage N TOTAL "what" LOGNAME cmd...: run cmd with output in a log file,
# print one progress line with the duration, and on failure name the stage,
# the log and the log's last lines.
stage() {
	local n=$1 total=$2 what=$3 log=$CS_LOGS/$4.log
	shift 4
	local t0=$SECONDS
	printf '[%s/%s] %s ... ' "$n" "$total" "$what"
	CURRENT_LOG=$log
	if "$@" >"$log" 2>&1; then
		local note=""
		[[ -s $log.note ]] && note=" ($(cat "$log.note"))"
		echo "$((SECONDS - t0)) s$note"
		rm -f "$log.note"
	else
		echo "FAILED after $((SECONDS - t0)) s"
		echo "---- last lines of $log ----" >&2
		tail -n 25 "$log" >&2
		echo "---- stage '$what' failed; full log: ${log#"$CS_ROOT"/}" >&2
		exit 1
	fi
}

# note TEXT: a short remark that stage() appends to its progress line.
note() {
	echo "$*" >"$CURRENT_LOG.note"
}

# Environment for the kernel's make.
kmake_env() {
	RUST_LIB_SRC=$(dpkg -L rust-web-src 2>/dev/null |
		grep -m1 '/rustlib/src/rust/library$')
	export LIBCLANG_PATH=$CS_TOOLS/libclang/clang/native
	KMAKE=(make -s RUSTC=/usr/bin/rustc BINDGEN="$CS_TOOLS/bin/bindgen"
		RUST_LIB_SRC="$RUST_LIB_SRC")
}
