#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the crash_stop test kernel, out of tree and incrementally.
#
#   $CS_WORK/src  a copy of the pristine linux-source tree in the cache,
#                 patched with patches/ and overlaid with this repo's files
#   $CS_WORK/obj  the build directory (O=), kept between runs
#   build/out/    bzImage, vmlinux (for gdb), System.map, config, *.ko,
#                 selftests/, BUILD_INFO
#
# Environment:
#   CS_WORK    work directory (default $CS_CACHE/work-<kernel version>)
#   FRAGMENTS  config fragments merged over tinyconfig, space separated
#              (default: configs/*.config)
#   JOBS       make -j (default: number of CPUs + 1)
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
check_kver

PRISTINE=$CS_CACHE/src/linux
[[ -f $PRISTINE/Makefile && -f $CS_CACHE/src/VERSION ]] ||
	die "no kernel source in $CS_CACHE/src: run 'make setup' first"
VERSION=$(<"$CS_CACHE/src/VERSION")
[[ $KVER == 7.2 || $KVER == "$VERSION" ]] ||
	die "KVER=$KVER but the cached kernel source is $VERSION: run 'make setup KVER=$KVER'"
: "${CS_WORK:=$CS_CACHE/work-$VERSION}"
SRC=$CS_WORK/src
OBJ=$CS_WORK/obj
OUT=$CS_BUILD/out
JOBS=${JOBS:-$(($(nproc) + 1))}
[[ $JOBS =~ ^[1-9][0-9]*$ ]] || die "JOBS=$JOBS is not a positive number"

# Repo directories whose files are copied into the kernel tree at the same
# path (rust/ is rust/crash_stop/ and the kernel crate's crash_stop module),
# and single files installed under another name.  arch/ia64 (a host-side
# simulation) and tools/testing/crash_stop_model stay out of the tree.
OVERLAY_DIRS=(rust include arch/x86 samples Documentation
	tools/testing/selftests/crash_stop)
declare -A OVERLAY_RENAME=([Kconfig]=kernel/Kconfig.crash_stop)

rel() {
	echo "${1#"$CS_ROOT"/}"
}

# Config fragments, as paths.
FRAGS=()
if [[ -n ${FRAGMENTS:-} ]]; then
	read -ra FRAGS <<<"$FRAGMENTS"
else
	FRAGS=("$CS_ROOT"/configs/*.config)
fi
for i in "${!FRAGS[@]}"; do
	[[ ${FRAGS[i]} == /* ]] || FRAGS[i]=$CS_ROOT/${FRAGS[i]}
	[[ -f ${FRAGS[i]} ]] || die "config fragment $(rel "${FRAGS[i]}") does not exist"
done
((${#FRAGS[@]})) || die "no config fragments (configs/*.config)"

# Patches, in order: patches/series if present, else patches/*.patch sorted.
PATCHES=()
if [[ -f $CS_ROOT/patches/series ]]; then
	while read -r p _; do
		if [[ -z $p || $p == \#* ]]; then continue; fi
		[[ -f $CS_ROOT/patches/$p ]] ||
			die "patches/series lists $p, but patches/$p does not exist"
		PATCHES+=("$CS_ROOT/patches/$p")
	done <"$CS_ROOT/patches/series"
else
	for p in "$CS_ROOT"/patches/*.patch; do
		if [[ -f $p ]]; then PATCHES+=("$p"); fi
	done
fi

mkdir -p "$CS_WORK"
exec 9>"$CS_WORK/lock"
if ! flock -n 9; then
	echo "waiting for another build in $CS_WORK ..."
	flock 9
fi

patches_hash() {
	{
		echo "$VERSION"
		for p in "${PATCHES[@]}"; do
			echo "${p##*/}"
			cat "$p"
		done
	} | sha256sum | cut -d' ' -f1
}

# Paths (tree-relative) that a patch creates, changes or deletes.
patch_files() {
	sed -n -e 's#^\(---\|+++\) [^/[:space:]]*/\([^[:space:]]*\).*#\2#p' "$1" |
		sort -u
}

# Stage 1: bring the work tree to the pristine tree plus the patch series.
# The series is applied to pristine copies of the files it touches in a
# scratch directory; then only the tree's files whose contents change are
# rewritten (and so rebuilt), including files an earlier series touched
# and this one does not. Changing one patch rebuilds what it touches, not
# everything an earlier patch touched (one of them edits asm/hardirq.h).
work_tree() {
	require_cmds patch cmp
	local want have="" stage=$CS_WORK/patch-stage p f src n=0
	want=$(patches_hash)
	[[ -f $CS_WORK/patches.stamp ]] && have=$(<"$CS_WORK/patches.stamp")
	if [[ -d $SRC && $have == "$want" ]]; then
		note "unchanged, ${#PATCHES[@]} patches"
		return 0
	fi
	rm -f "$CS_WORK/patches.stamp"
	if [[ ! -d $SRC ]]; then
		echo "copying $PRISTINE"
		cp -a "$PRISTINE" "$SRC.new"
		mv "$SRC.new" "$SRC"
		rm -f "$CS_WORK/overlay.manifest" "$CS_WORK/patched.files"
	fi
	rm -rf "$stage"
	mkdir -p "$stage"
	local -A new=()
	for p in "${PATCHES[@]}"; do
		while read -r f; do
			new[$f]=1
			if [[ -f $PRISTINE/$f && ! -e $stage/$f ]]; then
				mkdir -p "$stage/$(dirname "$f")"
				cp -p "$PRISTINE/$f" "$stage/$f"
			fi
		done < <(patch_files "$p")
	done
	for p in "${PATCHES[@]}"; do
		echo "applying $(rel "$p")"
		patch -p1 -d "$stage" -f --dry-run <"$p" ||
			die "$(rel "$p") no longer applies to linux $VERSION (see the patch output above)"
		patch -p1 -d "$stage" -f -s --no-backup-if-mismatch <"$p"
	done
	# Every file the old or the new series touches: patched, or pristine.
	local all=("${!new[@]}")
	if [[ -f $CS_WORK/patched.files ]]; then
		mapfile -t -O "${#all[@]}" all <"$CS_WORK/patched.files"
	fi
	for f in $(printf '%s\n' "${all[@]}" | sort -u); do
		if [[ -v new[$f] ]]; then src=$stage/$f; else src=$PRISTINE/$f; fi
		if [[ -f $src ]]; then
			cmp -s "$src" "$SRC/$f" && continue
			mkdir -p "$SRC/$(dirname "$f")"
			cp "$src" "$SRC/$f"
		else
			[[ -e $SRC/$f ]] || continue
			rm -f "$SRC/$f"
		fi
		echo "updated $f"
		n=$((n + 1))
	done
	printf '%s\n' "${!new[@]}" | sort >"$CS_WORK/patched.files"
	rm -rf "$stage"
	echo "$want" >"$CS_WORK/patches.stamp"
	note "${#PATCHES[@]} patches, $n files updated"
}

# Print "repo-path<TAB>tree-path" for every overlay file.
overlay_pairs() {
	local f
	if git -C "$CS_ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git -C "$CS_ROOT" ls-files -z --cached --others --exclude-standard \
			-- "${OVERLAY_DIRS[@]}"
	else
		(cd "$CS_ROOT" && find "${OVERLAY_DIRS[@]}" -type f -print0 2>/dev/null) ||
			true
	fi | sort -zu | while IFS= read -r -d '' f; do
		if [[ -f $CS_ROOT/$f ]]; then printf '%s\t%s\n' "$f" "$f"; fi
	done
	for f in "${!OVERLAY_RENAME[@]}"; do
		if [[ -f $CS_ROOT/$f ]]; then
			printf '%s\t%s\n' "$f" "${OVERLAY_RENAME[$f]}"
		fi
	done
}

# Stage 2: copy repo files into the tree where their contents differ (so make
# rebuilds exactly what changed); restore or delete files that left the repo.
overlay() {
	local pairs=$CS_WORK/overlay.pairs new=$CS_WORK/overlay.manifest.new
	local from to total=0 changed=0 removed=0
	overlay_pairs >"$pairs"
	cut -f2 "$pairs" | sort >"$new"
	while IFS=$'\t' read -r from to; do
		total=$((total + 1))
		cmp -s "$CS_ROOT/$from" "$SRC/$to" && continue
		mkdir -p "$(dirname "$SRC/$to")"
		cp "$CS_ROOT/$from" "$SRC/$to"
		echo "updated $to"
		changed=$((changed + 1))
	done <"$pairs"
	if [[ -f $CS_WORK/overlay.manifest ]]; then
		while read -r to; do
			if [[ -f $PRISTINE/$to ]]; then
				cp "$PRISTINE/$to" "$SRC/$to"
				echo "restored pristine $to"
			else
				rm -f "$SRC/$to"
				echo "removed $to"
			fi
			removed=$((removed + 1))
		done < <(comm -23 <(sort "$CS_WORK/overlay.manifest") "$new")
	fi
	mv "$new" "$CS_WORK/overlay.manifest"
	note "$total files, $changed updated, $removed removed"
}

# Check that every option of the fragments has the requested value in .config
# (later fragments override earlier ones, as in merge_config.sh).
check_fragments() {
	local cfg=$1 f name line sym val got
	local -A want=() from=()
	local order=() bad=()
	for f in "${FRAGS[@]}"; do
		name=$(rel "$f")
		while IFS= read -r line; do
			if [[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]]; then
				sym=${BASH_REMATCH[1]} val=${BASH_REMATCH[2]}
			elif [[ $line =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set ]]; then
				sym=${BASH_REMATCH[1]} val=n
			else
				continue
			fi
			[[ -v want[$sym] ]] || order+=("$sym")
			want[$sym]=$val
			from[$sym]=$name
		done <"$f"
	done
	for sym in "${order[@]}"; do
		got=$(sed -n "s/^$sym=//p" "$cfg")
		[[ -n $got ]] || got=n
		[[ ${want[$sym]} == "$got" ]] && continue
		[[ $got == n ]] && got="is not set"
		bad+=("$sym=${want[$sym]} (${from[$sym]}; .config: $got)")
	done
	echo "checked ${#order[@]} options from ${#FRAGS[@]} fragments"
	((${#bad[@]} == 0)) && return 0
	local IFS=,
	die "config option(s) dropped by Kconfig (unmet dependency or unknown symbol?):${bad[*]/#/ }"
}

# Everything the generated .config depends on: the patches, the fragments,
# the Kconfig files of the overlay and the toolchain versions.
config_inputs_hash() {
	local f
	{
		cat "$CS_WORK/patches.stamp"
		for f in "${FRAGS[@]}"; do
			echo "$f"
			cat "$f"
		done
		grep '/Kconfig[^/]*$' "$CS_WORK/overlay.manifest" |
			while read -r f; do cat "$SRC/$f"; done
		/usr/bin/rustc --version
		"$CS_TOOLS/bin/bindgen" --version
		gcc --version
	} | sha256sum | cut -d' ' -f1
}

# Stage 3: tinyconfig + fragments + olddefconfig, generated in a scratch
# directory; .config in the build directory changes only when the result does.
config() {
	require_cmds make gcc flex bison perl /usr/bin/rustc "$CS_TOOLS/bin/bindgen"
	local kc=$CS_WORK/kconfig want
	want=$(config_inputs_hash)
	if [[ -f $OBJ/.config && -f $kc/inputs.stamp &&
		$(<"$kc/inputs.stamp") == "$want" ]]; then
		note "unchanged inputs"
		return 0
	fi
	rm -f "$kc/inputs.stamp"
	kmake_env
	mkdir -p "$kc" "$OBJ"
	"${KMAKE[@]}" -C "$SRC" O="$kc" tinyconfig
	"$SRC/scripts/kconfig/merge_config.sh" -m -O "$kc" "$kc/.config" "${FRAGS[@]}"
	"${KMAKE[@]}" -C "$SRC" O="$kc" olddefconfig
	check_fragments "$kc/.config"
	if cmp -s "$kc/.config" "$OBJ/.config"; then
		note "unchanged"
	else
		cp "$kc/.config" "$OBJ/.config"
		note "updated"
	fi
	echo "$want" >"$kc/inputs.stamp"
}

# Stage 4: the kernel and its modules.
build() {
	require_cmds make gcc ld objcopy bc flex bison perl /usr/bin/rustc "$CS_TOOLS/bin/bindgen"
	kmake_env
	"${KMAKE[@]}" -C "$SRC" O="$OBJ" -j"$JOBS" bzImage modules
	local w
	w=$(grep -c 'warning:' "$CURRENT_LOG" || true)
	((w == 0)) || note "$w warnings, see $(rel "$CURRENT_LOG")"
}

# Stage 5: kselftest programs, statically linked for the busybox initramfs.
selftests() {
	require_cmds make gcc /usr/bin/rustc
	local dir=$SRC/tools/testing/selftests/crash_stop out=$CS_WORK/selftests
	rm -rf "$out"
	if [[ ! -f $dir/Makefile ]]; then
		note "no tools/testing/selftests/crash_stop/Makefile, skipped"
		return 0
	fi
	kmake_env
	"${KMAKE[@]}" -C "$SRC" O="$OBJ" headers
	mkdir -p "$out/build" "$out/install"
	local mk=(make -C "$dir" -s --no-print-directory OUTPUT="$out/build"
		CC="gcc -static" KHDR_INCLUDES="-isystem $OBJ/usr/include")
	"${mk[@]}" all
	# What lib.mk's "install" would install (it needs rsync; do it here).
	# shellcheck disable=SC2016 # make variables
	printf '%s\n\t@echo %s\n' 'cs-install-list:' \
		'$(TEST_PROGS) $(TEST_PROGS_EXTENDED) $(TEST_FILES) $(TEST_GEN_PROGS) $(TEST_CUSTOM_PROGS) $(TEST_GEN_PROGS_EXTENDED) $(TEST_GEN_FILES) $(wildcard config settings)' \
		>"$CS_WORK/install-list.mk"
	local f n=0
	for f in $("${mk[@]}" -f Makefile -f "$CS_WORK/install-list.mk" cs-install-list); do
		[[ $f == /* ]] || f=$dir/$f
		cp -r "$f" "$out/install/"
		n=$((n + 1))
	done
	note "$n files"
}

# Stage 6: copy the results to build/out/.
install_out() {
	rm -rf "$OUT.new"
	mkdir -p "$OUT.new"
	cp "$OBJ/arch/x86/boot/bzImage" "$OBJ/System.map" "$OBJ/vmlinux" "$OUT.new/"
	cp "$OBJ/.config" "$OUT.new/config"
	local m n=0
	if [[ -f $OBJ/modules.order ]]; then
		while read -r m; do
			cp "$OBJ/${m%.o}.ko" "$OUT.new/"
			n=$((n + 1))
		done <"$OBJ/modules.order"
	fi
	if [[ -d $CS_WORK/selftests/install ]]; then
		cp -r "$CS_WORK/selftests/install" "$OUT.new/selftests"
	fi
	local p
	{
		echo "kernel: $VERSION ($(cat "$CS_CACHE/src/DEB_VERSION" 2>/dev/null || echo "?"))"
		echo "kernelrelease: $(<"$OBJ/include/config/kernel.release")"
		echo "repo: $(git -C "$CS_ROOT" describe --always --dirty 2>/dev/null || echo unknown)"
		echo "fragments:$(for p in "${FRAGS[@]}"; do printf ' %s' "$(rel "$p")"; done)"
		echo "patches:$(for p in "${PATCHES[@]}"; do printf ' %s' "$(rel "$p")"; done)"
		echo "modules: $n"
		echo "built: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
	} >"$OUT.new/BUILD_INFO"
	rm -rf "$OUT"
	mv "$OUT.new" "$OUT"
	note "bzImage, $n modules -> $(rel "$OUT")"
}

stage 1 6 "work tree (linux $VERSION, ${#PATCHES[@]} patches)" build-tree work_tree
stage 2 6 "overlay repo files" build-overlay overlay
stage 3 6 "kernel config (tinyconfig + ${#FRAGS[@]} fragments)" build-config config
stage 4 6 "make -j$JOBS bzImage modules" build-make build
stage 5 6 "kselftests (static)" build-selftests selftests
stage 6 6 "install" build-install install_out
