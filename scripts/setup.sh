#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Install (idempotently) everything the crash_stop kernel build and VM tests
# need: Debian packages, the linux-source-7.2 tree, bindgen and libclang.
# Downloads and the unpacked pristine tree are cached in $CS_CACHE.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
check_kver

PKGS=(rustc-web rust-web-src rust-web-clippy bc flex bison libelf-dev libssl-dev cpio kmod
      xz-utils qemu-system-x86 busybox-static gcc make python3 perl)
BINDGEN_VER=0.73.2
LIBCLANG_VER=18.1.1
SRC_DIR=$CS_CACHE/src
APT_DIR=$CS_CACHE/apt

apt_packages() {
	local missing=()
	for p in "${PKGS[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q 'install ok installed' || missing+=("$p")
	done
	if [[ ${#missing[@]} -eq 0 ]]; then
		note "all present"
		return 0
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update
	apt-get install -y --no-install-recommends "${missing[@]}"
	note "installed ${missing[*]}"
}

# The Debian mirror this machine already uses (never hard-coded here).
debian_mirror() {
	local uri
	uri=$( (cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
		sed -n 's/^URIs:[[:space:]]*//p' | tr ' ' '\n'
		sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]\+\).*/\2/p' \
			/etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null) |
		grep -v -e security -e '^$' | head -n1)
	[[ -n $uri ]] || return 1
	echo "$uri"
}

APT_OPTS=()
private_apt() {
	mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial"
	local mirror
	mirror=$(debian_mirror) || { echo "no Debian mirror in apt config"; return 1; }
	printf 'deb %s sid main\ndeb %s trixie-backports main\n' \
		"$mirror" "$mirror" >"$APT_DIR/sources.list"
	APT_OPTS=(-o Dir::Etc::SourceList="$APT_DIR/sources.list"
		-o Dir::Etc::SourceParts=/dev/null
		-o Dir::State::Lists="$APT_DIR/lists"
		-o Dir::Cache="$APT_DIR/cache")
}

kernel_source() {
	local have
	have=$(cat "$SRC_DIR/VERSION" 2>/dev/null || true)
	if [[ -n $have && -f $SRC_DIR/linux/Makefile ]] &&
	   [[ $KVER == 7.2 || $have == "$KVER" ]]; then
		note "cached $have"
		return 0
	fi
	private_apt
	apt-get "${APT_OPTS[@]}" update
	local versions pick=""
	versions=$(apt-cache "${APT_OPTS[@]}" madison linux-source-7.2 |
		awk -F'|' '{gsub(/ /,"",$2); print $2}')
	echo "available: $versions"
	for v in $versions; do
		local up=${v%%-*}
		if [[ $KVER == 7.2 || $up == "$KVER" ]]; then
			pick=$v
			break
		fi
	done
	if [[ -z $pick ]]; then
		echo "linux-source-7.2 version $KVER is not available (have: $versions)"
		return 1
	fi
	echo "picked $pick"
	local deb_dir=$CS_CACHE/debs
	mkdir -p "$deb_dir"
	(cd "$deb_dir" && rm -f linux-source-7.2_*.deb &&
		apt-get "${APT_OPTS[@]}" download "linux-source-7.2=$pick")
	rm -rf "$SRC_DIR.new"
	mkdir -p "$SRC_DIR.new"
	dpkg-deb --fsys-tarfile "$deb_dir"/linux-source-7.2_*.deb |
		tar -x -C "$SRC_DIR.new" ./usr/src/linux-source-7.2.tar.xz
	tar -xJf "$SRC_DIR.new/usr/src/linux-source-7.2.tar.xz" -C "$SRC_DIR.new"
	rm -rf "$SRC_DIR.new/usr"
	mv "$SRC_DIR.new/linux-source-7.2" "$SRC_DIR.new/linux"
	echo "${pick%%-*}" >"$SRC_DIR.new/VERSION"
	echo "$pick" >"$SRC_DIR.new/DEB_VERSION"
	rm -rf "$SRC_DIR"
	mv "$SRC_DIR.new" "$SRC_DIR"
	note "$(cat "$SRC_DIR/VERSION")"
}

bindgen_cli() {
	if "$CS_TOOLS/bin/bindgen" --version 2>/dev/null | grep -q "$BINDGEN_VER"; then
		note "cached $BINDGEN_VER"
		return 0
	fi
	cargo install --locked bindgen-cli --version "$BINDGEN_VER" --root "$CS_TOOLS"
	note "$BINDGEN_VER"
}

libclang() {
	if [[ -f $CS_TOOLS/libclang/clang/native/libclang.so ]]; then
		note "cached"
		return 0
	fi
	rm -rf "$CS_TOOLS/libclang"
	python3 -m pip install --disable-pip-version-check --no-deps \
		--target "$CS_TOOLS/libclang" "libclang==$LIBCLANG_VER"
	note "$LIBCLANG_VER"
}

rust_available() {
	kmake_env
	"${KMAKE[@]}" -C "$SRC_DIR/linux" O="$CS_CACHE/rustavailable" rustavailable
	rm -rf "$CS_CACHE/rustavailable"
}

record_versions() {
	kmake_env
	{
		echo "kernel: linux-source-7.2 $(cat "$SRC_DIR/DEB_VERSION")"
		echo "rustc: $(/usr/bin/rustc --version)"
		echo "bindgen: $("$CS_TOOLS/bin/bindgen" --version)"
		echo "libclang: $LIBCLANG_VER (PyPI wheel)"
		echo "gcc: $(gcc --version | head -n1)"
		echo "qemu: $(qemu-system-x86_64 --version | head -n1)"
		echo "busybox: $(busybox 2>&1 | head -n1)"
		echo "host cargo: $(cargo --version)"
	} >"$CS_BUILD/versions.txt"
	cat "$CS_BUILD/versions.txt"
}

stage 1 6 "Debian packages" setup-apt apt_packages
stage 2 6 "kernel source linux-source-7.2" setup-source kernel_source
stage 3 6 "bindgen-cli" setup-bindgen bindgen_cli
stage 4 6 "libclang (PyPI)" setup-libclang libclang
stage 5 6 "kernel 'make rustavailable'" setup-rustavailable rust_available
stage 6 6 "record toolchain versions" setup-versions record_versions
sed 's/^/    /' "$CS_BUILD/versions.txt"
