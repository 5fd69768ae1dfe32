#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# setup-deps-test.sh: "make setup" installs every command the scripts run.
#
# Scans the front-door scripts (scripts/*.sh, .ci/run, the runners of
# tools/testing/crash_stop/ and tools/testing/crash_stop_model/run.sh) for
# the external commands they run, with a small shell tokenizer (quotes,
# $(...), here-documents, case, [[ ]], arrays, redirections), and checks:
#
#   - each command is a bash builtin, a function of the scripts, a command
#     of the base system (BASE below: Debian's essential and required
#     packages), or in scripts/setup.sh's CMD_PKG map with a package that
#     setup installs (PKGS, or FALLBACK_PKGS: cargo-web, python3-pip);
#   - every package of CMD_PKG is one setup installs, and "python3 -m pip"
#     has python3-pip behind it;
#   - each stage of scripts/ names the commands it runs in require_cmds
#     (itself or in the functions it calls), so that a missing one is
#     reported as missing;
#   - where a package of CMD_PKG is installed on this machine, it really
#     provides the command (dpkg -S);
#   - setup's pick_cargo and pick_python choices, with fake cargo and
#     python3 programs.
#
# Output: TAP, then "N passed, N failed"; exit status non-zero on failure.
#
#   setup-deps-test.sh           the checks
#   setup-deps-test.sh --scan    the scanner's records (file line function kind word)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
cd "$root"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/cs-setup-deps.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
out=$tmp/out
n=0 failed=0

# Commands of the base system that setup does not install: Debian's
# essential packages and those of priority "required" (coreutils, grep,
# sed, mawk, findutils, diffutils, tar, gzip, util-linux, dpkg, apt,
# libc-bin, debianutils, bash), present on every Debian install.  sudo is
# used only when setup does not run as root, where it cannot install it.
BASE=(
	awk basename bash cat chmod cmp comm cp cut date diff dirname dpkg
	dpkg-deb dpkg-query du env expr find flock getopt grep gzip head id
	install ldd ln ls md5sum mkdir mktemp mv nproc readlink realpath rm
	rmdir sed seq sha256sum sleep sort stat tail tar tee timeout touch tr
	uname uniq wc which xargs zcat apt-get apt-cache sudo
)
# Commands run with a fallback when they are missing (no require_cmds).
OPTIONAL=(git)

SCANNED=(scripts/*.sh .ci/run tools/testing/crash_stop/*.sh tools/testing/crash_stop_model/run.sh)

# The tokenizer.  Input: one shell script.  Output, one record a line, tab
# separated: FILE LINE FUNCTION KIND WORD, FUNCTION being "-" at the top
# level, KIND one of
#   cmd     a word in command position (DYN when it has a "$": not checked)
#   req     an argument of require_cmds
#   def     a function definition
#   stage   the function a "stage"/"try_stage" call runs
scan_awk() {
	cat <<'AWK'
function push(t) {
	L++; typ[L] = t; cpos[L] = (t == "C"); pd[L] = 0; cs[L] = 0; mode[L] = 0
	skipw[L] = 0; w[L] = ""; wst[L] = 0; wdyn[L] = 0; bd[L] = 0; bq[L] = 0
	pend[L] = ""; argn[L] = 0
}
function pop() { L-- }
# owner(): the level whose word a character belongs to; 0 (none) inside
# an arithmetic expression.
function owner(  k) {
	for (k = L; k > 0; k--) {
		if (typ[k] == "A") return 0
		if (typ[k] == "C" || typ[k] == "T" || typ[k] == "R") return k
	}
	return 0
}
function addc(c,  o) {
	o = owner()
	if (o == 0) return
	if (!wst[o]) { wst[o] = 1; wln[o] = line }
	w[o] = w[o] c
}
function dyn(  o) {
	o = owner()
	if (o == 0) return
	if (!wst[o]) { wst[o] = 1; wln[o] = line }
	wdyn[o] = 1
}
function emit(kind, word, d, ln) {
	if (d && kind != "def") word = "DYN:" word
	printf "%s\t%d\t%s\t%s\t%s\n", FILE, ln, fn, kind, word
}
function newcmd() {
	cpos[L] = 1; mode[L] = 0; skipw[L] = 0
}
function isassign(x) { return x ~ /^[A-Za-z_][A-Za-z0-9_]*(\[[^]]*\])?\+?=/ }
function endword(  x, d, ln) {
	if (!wst[L]) return
	x = w[L]; d = wdyn[L]; ln = wln[L]
	w[L] = ""; wst[L] = 0; wdyn[L] = 0
	if (typ[L] == "T") {
		if (x == "]]" && !d) { pop(); cpos[L] = 0 }
		return
	}
	if (typ[L] == "R") return
	if (skipw[L]) { skipw[L] = 0; return }
	if (cs[L] == 1) { if (x == "in") cs[L] = 2; return }
	if (cs[L] == 2) { if (x == "esac") { cs[L] = 0; cpos[L] = 0 }; return }
	if (cpos[L]) {
		if (isassign(x)) return
		if (x == "if" || x == "then" || x == "else" || x == "elif" || x == "do" ||
		    x == "while" || x == "until" || x == "!" || x == "time") return
		if (x == "{") {
			depth++
			if (pend[L] != "" && fn == "-") { fn = pend[L]; fndepth = depth }
			pend[L] = ""
			return
		}
		if (x == "}") {
			if (fn != "-" && depth == fndepth) fn = "-"
			depth--; cpos[L] = 0; return
		}
		if (x == "fi" || x == "done" || x == "for" || x == "select") { cpos[L] = 0; return }
		if (x == "esac") { cs[L] = 0; cpos[L] = 0; return }
		if (x == "case") { cs[L] = 1; cpos[L] = 0; return }
		if (x == "[[") { cpos[L] = 0; push("T"); return }
		emit("cmd", x, d, ln)
		cpos[L] = 0
		if (x == "require_cmds") mode[L] = 1
		else if (x == "timeout" || x == "exec" || x == "env" || x == "nohup" ||
			 x == "nice" || x == "xargs") mode[L] = 2
		else if (x == "stage" || x == "try_stage") { mode[L] = 3; argn[L] = 0 }
		else mode[L] = 0
		return
	}
	if (mode[L] == 1) emit("req", x, d, ln)
	else if (mode[L] == 2) {
		if (x ~ /^-/ || x ~ /^[0-9.]+[smhd]?$/ || d || isassign(x)) return
		emit("cmd", x, d, ln); mode[L] = 0
	} else if (mode[L] == 3) {
		if (++argn[L] == 5) { if (!d) emit("stage", x, 0, ln); mode[L] = 0 }
	}
}
# dollar(i): handle the "$" at i in any context; return the index of the
# last character consumed.
function dollar(i,  c2, c3) {
	c2 = substr(S, i + 1, 1); c3 = substr(S, i + 2, 1)
	dyn()
	if (c2 == "(" && c3 == "(") { push("A"); return i + 2 }
	if (c2 == "(") { push("C"); return i + 1 }
	if (c2 == "{") { push("B"); return i + 1 }
	if (c2 == "\047") return squote(i + 1)
	if (c2 == "\"") { push("D"); return i + 1 }
	addc("$")
	return i
}
# squote(i): the single-quoted string opening at i; return its end.
function squote(i,  j, q) {
	j = index(substr(S, i + 1), "\047")
	if (j == 0) j = length(S) - i
	q = substr(S, i + 1, j - 1)
	addc(q)
	line += gsub(/\n/, "", q)
	return i + j
}
function scan(  i, c, c2, t, j, x) {
	L = 0; push("C"); fn = "-"; depth = 0; fndepth = -1
	line = 1
	for (i = 1; i <= length(S); i++) {
		c = substr(S, i, 1); c2 = substr(S, i + 1, 1)
		t = typ[L]
		if (c == "\\") {
			if (c2 == "\n") { line++; i++; if (t == "C" || t == "T" || t == "R") endword(); continue }
			if (t != "A") addc(c2)
			i++; continue
		}
		if (t == "D") {
			if (c == "\"") pop()
			else if (c == "$") i = dollar(i)
			else if (c == "`") { push("C"); bq[L] = 1 }
			else { if (c == "\n") line++; addc(c) }
			continue
		}
		if (t == "B") {
			if (c == "}") { if (bd[L] == 0) pop(); else { bd[L]--; addc(c) } }
			else if (c == "{") { bd[L]++; addc(c) }
			else if (c == "$") i = dollar(i)
			else if (c == "\"") push("D")
			else if (c == "\047") i = squote(i)
			else { if (c == "\n") line++; addc(c) }
			continue
		}
		if (t == "A") {
			if (c == "\n") line++
			if (c == "(") bd[L]++
			else if (c == ")") {
				if (bd[L] == 0 && c2 == ")") { pop(); i++; if (typ[L] == "C" && !wst[L]) cpos[L] = 0 }
				else bd[L]--
			} else if (c == "$") {
				if (c2 == "(" && substr(S, i + 2, 1) != "(") { push("C"); i++ }
				else if (c2 == "{") { push("B"); i++ }
			}
			continue
		}
		# C, T and R: words.
		if (c == "#" && !wst[L]) {
			j = index(substr(S, i), "\n")
			if (j == 0) break
			i += j - 2
			continue
		}
		if (c == "\047") { i = squote(i); continue }
		if (c == "\"") { addc(""); push("D"); continue }
		if (c == "$") { i = dollar(i); continue }
		if (c == "`" && t == "C" && bq[L]) { endword(); pop(); continue }
		if (c == "`") { dyn(); push("C"); bq[L] = 1; continue }
		if (c == " " || c == "\t") { endword(); continue }
		if (c == "\n") {
			endword(); line++
			if (typ[L] == "C" && cs[L] != 2) newcmd()
			continue
		}
		if (t == "T") {
			# "]]" is a word of its own even before ";", "&&" or ")".
			if (wst[L] && w[L] == "]]" && !wdyn[L]) { endword(); i--; continue }
			addc(c); continue
		}
		if (t == "R") {
			if (c == ")") { endword(); pop(); cpos[L] = 0; continue }
			addc(c); continue
		}
		# C: operators.
		if (cs[L] == 2) {
			if (c == ")") { endword(); cs[L] = 3; newcmd() }
			else if (c != "(" && c != "|" && c != ";") addc(c)
			else endword()
			continue
		}
		if (c == "(") {
			if (wst[L] && isassign(w[L]) && w[L] ~ /=$/) {
				w[L] = ""; wst[L] = 0; wdyn[L] = 0; push("R"); continue
			}
			if (wst[L] && c2 == ")") {
				x = w[L]; w[L] = ""; wst[L] = 0; wdyn[L] = 0
				emit("def", x, 0, line); pend[L] = x; cpos[L] = 1; i++
				continue
			}
			endword()
			if (cpos[L] && c2 == "(") { push("A"); i++; continue }
			pd[L]++; newcmd(); continue
		}
		if (c == ")") {
			endword()
			if (pd[L] > 0) { pd[L]--; cpos[L] = 0; continue }
			if (L > 1) pop()
			continue
		}
		if (c == "<" || c == ">" || (c == "&" && c2 == ">")) {
			if (wst[L] && w[L] ~ /^[0-9]+$/ && !wdyn[L]) { w[L] = ""; wst[L] = 0 }
			endword()
			if (c2 == "(" && c != "&") { skipw[L] = 0; push("C"); i++; continue }
			j = i
			while (substr(S, j + 1, 1) ~ /[<>|]/) j++
			x = substr(S, i, j - i + 1)
			i = j
			if (substr(S, i + 1, 1) == "&") {
				i++
				while (substr(S, i + 1, 1) ~ /[0-9-]/) i++
				continue
			}
			if (x != "<<<" && x ~ /^<</ && substr(S, i + 1, 1) == "-") i++
			skipw[L] = 1
			continue
		}
		if (c == ";" || c == "&" || c == "|") {
			endword()
			if (c == ";" && c2 == ";") { i++; if (cs[L] == 3) { cs[L] = 2; continue } }
			else if (c2 == c || (c == "|" && c2 == "&")) i++
			newcmd()
			continue
		}
		addc(c)
	}
	endword()
}
{
	if (FNR == 1) { nl = 0; hd = "" }
	nl++
	if (hd != "") {
		x = $0
		if (hdtab) sub(/^\t+/, "", x)
		if (x == hd) hd = ""
		body[nl] = ""
		next
	}
	body[nl] = $0
	x = $0
	# A here-document (not a here-string): blank its body, keep the lines.
	if (match(x, /[^<]<<-?[ \t]*["\047]?[A-Za-z_][A-Za-z0-9_]*/) || match(x, /^<<-?[ \t]*["\047]?[A-Za-z_][A-Za-z0-9_]*/)) {
		y = substr(x, RSTART, RLENGTH)
		hdtab = (y ~ /<<-/)
		sub(/^[^<]*<<-?[ \t]*["\047]?/, "", y)
		hd = y
	}
}
END {
	S = ""
	for (k = 1; k <= nl; k++) S = S body[k] "\n"
	scan()
}
AWK
}

# scan_all: the records of every scanned file.
scan_all() {
	local f
	for f in "${SCANNED[@]}"; do
		[[ -f $f ]] || continue
		awk -v FILE="$f" "$(scan_awk)" "$f"
	done
}

if [[ ${1:-} == --scan ]]; then
	scan_all
	exit 0
fi

# check DESCRIPTION FUNCTION: one TAP line from FUNCTION's status; what it
# printed (into $out) becomes diagnostics.
check() {
	local status=0
	: >"$out"
	"$2" >"$out" 2>&1 || status=1
	n=$((n + 1))
	sed 's/^/# /' "$out"
	if ((status == 0)); then
		echo "ok $n - $1"
	else
		echo "not ok $n - $1"
		failed=$((failed + 1))
	fi
}

# setup_eval CODE: run CODE with scripts/setup.sh sourced (its definitions
# only), caches and build directory in $tmp.
setup_eval() {
	CS_CACHE=$tmp/cache CS_BUILD=$tmp/build KVER=7.2 \
		bash -c '. "$1/scripts/setup.sh"; eval "$2"' _ "$root" "$1"
}

declare -A IS_BASE=() IS_OPT=() IS_FUNC=() CMD_PKG=() SETUP_PKG=()
for c in "${BASE[@]}" $(compgen -b) $(compgen -k); do IS_BASE[$c]=1; done
for c in "${OPTIONAL[@]}"; do IS_OPT[$c]=1; done

t_setup_lists() {
	local kind a b
	while read -r kind a b; do
		case $kind in
		pkg) SETUP_PKG[$a]=1 ;;
		map) CMD_PKG[$a]=$b ;;
		esac
	done < <(setup_eval '
		for p in "${PKGS[@]}" "${FALLBACK_PKGS[@]}"; do echo "pkg $p"; done
		for c in "${!CMD_PKG[@]}"; do echo "map $c ${CMD_PKG[$c]}"; done')
	echo "setup installs ${#SETUP_PKG[@]} packages, maps ${#CMD_PKG[@]} commands"
	((${#SETUP_PKG[@]} > 0 && ${#CMD_PKG[@]} > 0))
}

# The records, and the functions the scripts define.
RECORDS=$tmp/records
t_scan() {
	scan_all >"$RECORDS"
	local f ln fun kind word
	while IFS=$'\t' read -r f ln fun kind word; do
		[[ $kind == def ]] && IS_FUNC[$word]=1
	done <"$RECORDS"
	echo "$(wc -l <"$RECORDS") records, ${#IS_FUNC[@]} functions"
	# The scanner must see what the scripts are known to run.
	local want
	for want in "scripts/build-kernel.sh work_tree cmd patch" \
		"scripts/build-kernel.sh work_tree req patch" \
		"scripts/run-vm.sh qemu_run cmd qemu-system-x86_64" \
		"scripts/mkinitramfs.sh - cmd cpio" \
		"scripts/setup.sh main stage bindgen_cli" \
		"scripts/test.sh kunit_counts cmd python3"; do
		read -r f fun kind word <<<"$want"
		grep -q "^$f"$'\t'"[0-9]*"$'\t'"$fun"$'\t'"$kind"$'\t'"$word\$" "$RECORDS" ||
			{ echo "scanner missed: $want"; return 1; }
	done
}

# external WORD: the command name to check, or nothing for builtins,
# functions, scripts of the repo and dynamic words.
external() {
	local w=$1
	[[ $w == DYN:* ]] && return 0
	if [[ $w == */* ]]; then
		[[ $w == /* ]] || return 0 # a path in the repo
		w=${w##*/}
	fi
	[[ -n ${IS_FUNC[$w]:-} ]] && return 0
	echo "$w"
}

# Every command the scanned files run: base, or installed by setup.
declare -A FILE_BAD=()
t_commands() {
	local f ln fun kind word c bad=0
	while IFS=$'\t' read -r f ln fun kind word; do
		[[ $kind == cmd || $kind == req ]] || continue
		c=$(external "$word")
		[[ -n $c ]] || continue
		[[ -n ${IS_BASE[$c]:-} ]] && continue
		if [[ -z ${CMD_PKG[$c]:-} ]]; then
			echo "$f:$ln: $c: not in setup's CMD_PKG (nor in the base system list)"
			bad=1
		elif [[ -z ${SETUP_PKG[${CMD_PKG[$c]}]:-} ]]; then
			echo "$f:$ln: $c: its package ${CMD_PKG[$c]} is not in setup's package list"
			bad=1
		fi
	done <"$RECORDS"
	((bad == 0))
}

t_map_packages() {
	local c bad=0
	for c in "${!CMD_PKG[@]}"; do
		if [[ -z ${SETUP_PKG[${CMD_PKG[$c]}]:-} ]]; then
			echo "CMD_PKG[$c]=${CMD_PKG[$c]}: not in PKGS or FALLBACK_PKGS"
			bad=1
		fi
	done
	((bad == 0))
}

t_pip() {
	local users
	users=$(grep -n -- '-m pip' scripts/*.sh |
		grep -v '^[^:]*:[0-9]*:[[:space:]]*#' || true)
	[[ -z $users ]] && { echo "nothing runs pip"; return 0; }
	echo "$(echo "$users" | wc -l) lines of scripts/ run pip"
	[[ -n ${SETUP_PKG[python3-pip]:-} ]] || { echo "python3-pip is not in setup's lists"; return 1; }
}

# Each stage of scripts/ (the function a stage/try_stage call runs) lists in
# require_cmds, itself or in a function it calls, every command it or those
# functions run that the base system lacks.  Outside stages, a script's
# commands must be in one of its require_cmds lines.
t_stages() {
	local f ln fun kind word c bad=0
	declare -A calls=() runs=() reqs=() stagefn=() filereqs=()
	while IFS=$'\t' read -r f ln fun kind word; do
		[[ $f == scripts/* && $f != scripts/test.sh ]] || continue
		case $kind in
		stage) stagefn[$f:$word]=1 ;;
		req) reqs[$fun]+=" ${word##*/}" filereqs[$f]+=" ${word##*/}" ;;
		cmd)
			[[ $word == DYN:* ]] && continue
			if [[ -n ${IS_FUNC[$word]:-} ]]; then
				calls[$fun]+=" $word"
				continue
			fi
			c=$(external "$word")
			[[ -n $c && -z ${IS_BASE[$c]:-} && -z ${IS_OPT[$c]:-} ]] || continue
			runs[$fun]+=" $c@$f:$ln"
			;;
		esac
	done <"$RECORDS"
	# closure FUNCTION: the function and those it calls, transitively.
	closure() {
		local -A seen=()
		local todo=("$1") g
		while ((${#todo[@]})); do
			g=${todo[0]}
			todo=("${todo[@]:1}")
			[[ -n ${seen[$g]:-} ]] && continue
			seen[$g]=1
			# shellcheck disable=SC2206 # words
			todo+=(${calls[$g]:-})
		done
		echo "${!seen[@]}"
	}
	local key s g r all_r covered=() x
	for key in "${!stagefn[@]}"; do
		f=${key%%:*} s=${key#*:}
		all_r="" r=""
		for g in $(closure "$s"); do
			all_r+=" ${reqs[$g]:-}"
			r+=" ${runs[$g]:-}"
			covered+=("$g")
		done
		for x in $r; do
			c=${x%%@*}
			[[ " $all_r " == *" $c "* ]] && continue
			echo "${x#*@}: $c: run in stage $s (${f}) but not in its require_cmds"
			bad=1
		done
	done
	# Code outside the stages.
	local -A in_stage=()
	for g in "${covered[@]}"; do in_stage[$g]=1; done
	for g in "${!runs[@]}"; do
		[[ -n ${in_stage[$g]:-} && $g != - ]] && continue
		for x in ${runs[$g]}; do
			c=${x%%@*} f=${x#*@}
			f=${f%%:*}
			[[ " ${filereqs[$f]:-} " == *" $c "* ]] && continue
			echo "${x#*@}: $c: run outside a stage but in no require_cmds of $f"
			bad=1
		done
	done
	((bad == 0))
}

# Where a package of CMD_PKG is installed here, it (or a package it depends
# on: python3-minimal, perl-base) provides the command.
t_dpkg() {
	local c p d owner deps bad=0 checked=0 skipped=0
	for c in "${!CMD_PKG[@]}"; do
		p=${CMD_PKG[$c]}
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
			skipped=$((skipped + 1))
			continue
		fi
		# cc is an alternative that gcc's maintainer scripts set up.
		[[ $c == cc ]] && continue
		checked=$((checked + 1))
		owner=""
		for d in /usr/bin /bin /usr/sbin /sbin; do
			owner=$(dpkg-query -S "$d/$c" 2>/dev/null) && break
		done
		owner=${owner%%:*}
		deps=$(dpkg-query -W -f='${Pre-Depends}, ${Depends}' "$p")
		if [[ -z $owner ]]; then
			echo "no package provides a $c program (CMD_PKG says $p)"
			bad=1
		elif [[ $owner != "$p" && ", $deps," != *[\ ,]"$owner"[\ ,:]* ]]; then
			echo "$c is in package $owner, not in $p (CMD_PKG) nor in its dependencies"
			bad=1
		fi
	done
	echo "$checked checked, $skipped packages not installed here"
	((bad == 0))
}

# fake_cargo DIR VERSION-LINE: a DIR/cargo that prints VERSION-LINE.
fake_cargo() {
	mkdir -p "$1"
	printf '#!/bin/sh\necho "%s"\n' "$2" >"$1/cargo"
	chmod +x "$1/cargo"
}

t_pick_cargo() {
	local d=$tmp/fake got
	fake_cargo "$d/new/bin" "cargo 1.95.0 (f2d3ce0bd 2026-03-21)"
	fake_cargo "$d/old/bin" "cargo 0.66.0"
	fake_cargo "$d/deb" "cargo 1.96.0 (1.96.0 2026-05-28)"
	# A recent cargo on PATH is used.
	got=$(PATH=$d/new/bin:$PATH setup_eval "DEB_CARGO=$d/deb/cargo; pick_cargo")
	[[ $got == "$d/new/bin/cargo" ]] || { echo "recent cargo on PATH: picked '$got'"; return 1; }
	# An old one is not: Debian's cargo-web.
	got=$(PATH=$d/old/bin:$PATH setup_eval "DEB_CARGO=$d/deb/cargo; pick_cargo")
	[[ $got == "$d/deb/cargo" ]] || { echo "old cargo on PATH: picked '$got'"; return 1; }
	# An old one and no cargo-web: none, stage 1 installs cargo-web.
	got=$(PATH=$d/old/bin:$PATH setup_eval "DEB_CARGO=$d/none; pick_cargo || echo none
		PKGS=(); pick_python() { :; }; missing_packages")
	[[ $got == $'none\ncargo-web' ]] || { echo "no usable cargo: '$got'"; return 1; }
	# Version comparison at the threshold.
	got=$(setup_eval 'for v in 1.79.9 1.80 1.80.0 1.100.0 0.66.0; do
		version_ge "$v" "$CARGO_MIN" && printf "%s " "$v"; done')
	[[ $got == "1.80 1.80.0 1.100.0 " ]] || { echo "version_ge: '$got'"; return 1; }
	echo "pick_cargo: recent PATH cargo, else cargo-web, else install cargo-web"
}

t_pick_python() {
	local d=$tmp/fakepy got
	mkdir -p "$d/nopip" "$d/pip"
	# A python3 without pip, and one with it.
	printf '#!/bin/sh\n[ "$1" = -m ] && exit 1\nexit 0\n' >"$d/nopip/python3"
	printf '#!/bin/sh\nexit 0\n' >"$d/pip/python3"
	chmod +x "$d/nopip/python3" "$d/pip/python3"
	got=$(PATH=$d/pip:$PATH setup_eval "DEB_PYTHON=$d/nopip/python3; pick_python")
	[[ $got == "$d/pip/python3" ]] || { echo "python3 with pip on PATH: picked '$got'"; return 1; }
	got=$(PATH=$d/nopip:$PATH setup_eval "DEB_PYTHON=$d/pip/python3; pick_python")
	[[ $got == "$d/pip/python3" ]] || { echo "python3 without pip on PATH: picked '$got'"; return 1; }
	got=$(PATH=$d/nopip:$PATH setup_eval "DEB_PYTHON=$d/nopip/python3; pick_python || echo none
		PKGS=(); pick_cargo() { :; }; missing_packages")
	[[ $got == $'none\npython3-pip' ]] || { echo "no python3 with pip: '$got'"; return 1; }
	echo "pick_python: PATH python3 with pip, else Debian's, else install python3-pip"
}

check "scripts/setup.sh lists its packages and commands" t_setup_lists
check "the scanner finds the commands of the scripts" t_scan
check "every command the scripts run is installed by setup or in the base system" t_commands
check "every package of setup's command map is one setup installs" t_map_packages
check "python3 -m pip: setup installs python3-pip when needed" t_pip
check "every stage names the commands it runs in require_cmds" t_stages
check "setup's command map agrees with dpkg where installed" t_dpkg
check "setup picks a recent cargo, else cargo-web" t_pick_cargo
check "setup picks a python3 with pip, else python3-pip" t_pick_python

echo "$((n - failed)) passed, $failed failed"
((failed == 0))
