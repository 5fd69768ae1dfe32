#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Install (idempotently) everything the crash_stop kernel build and VM tests
# need: Debian packages, the linux-source-7.2 tree, bindgen and libclang.
# Downloads and the unpacked pristine tree are cached in $CS_CACHE.
#
#   scripts/setup.sh             install what is missing
#   scripts/setup.sh --dry-run   print what would be installed, and the cargo
#                                and python3 setup would use; change nothing
#
# Needs: Debian 12 (bookworm) or newer on x86_64, root (or sudo) for apt,
# and the network to Debian's mirror (the one in the machine's apt
# configuration), the Rust crate registry (bindgen-cli) and PyPI (libclang).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
check_kver

# Debian packages that stage 1 installs when they are missing.
PKGS=(rustc-web rust-web-src rust-web-clippy bc flex bison libelf-dev libssl-dev cpio kmod
      xz-utils qemu-system-x86 busybox-static gcc libc6-dev make python3 perl patch
      binutils gdb python3-matplotlib git ca-certificates)
# libc6-dev: the headers and the static libc of "gcc -static" (gcc only
# recommends it).  ca-certificates: the HTTPS of cargo and pip.  gdb,
# binutils (readelf, objdump) and python3-matplotlib: kernel debugging,
# checks of the built kernel, and plots.
#
# Installed only when no usable one is found (see pick_cargo, pick_python).
CARGO_PKG=cargo-web PIP_PKG=python3-pip
FALLBACK_PKGS=("$CARGO_PKG" "$PIP_PKG")

# The commands the scripts run, and the package of PKGS or FALLBACK_PKGS
# that provides each.  Commands of the base system (coreutils, grep, sed,
# tar, apt, ...) are not listed.  tools/testing/crash_stop/setup-deps-test.sh
# checks that every command the scripts run is here or in the base system.
declare -gA CMD_PKG=(
	[rustc]=rustc-web [clippy-driver]=rust-web-clippy [cargo]=cargo-web
	[bc]=bc [flex]=flex [bison]=bison [cpio]=cpio [depmod]=kmod [xz]=xz-utils
	[qemu-system-x86_64]=qemu-system-x86 [busybox]=busybox-static
	[gcc]=gcc [cc]=gcc [make]=make [python3]=python3 [perl]=perl [patch]=patch
	[ld]=binutils [objcopy]=binutils [objdump]=binutils [readelf]=binutils [gdb]=gdb [git]=git
)

# A cargo on PATH (rustup's, say) is used when it is CARGO_MIN or newer,
# else Debian's cargo-web, /usr/bin/cargo.  bindgen-cli 0.73.2 declares
# rust-version 1.71 and its Cargo.lock needs no newer cargo; 1.80 leaves a
# margin (lock files of format 4, which newer crates ship, need 1.78) and
# every current rustup or cargo-web cargo passes it.  Debian 12's own
# "cargo" package is 0.66 (Rust 1.65) and is not used.
CARGO_MIN=1.80
DEB_CARGO=/usr/bin/cargo
DEB_RUSTC=/usr/bin/rustc
# A python3 on PATH (pyenv's, say) is used for pip when it is PYTHON_MIN or
# newer and has pip, else Debian's /usr/bin/python3 with python3-pip.
# Debian's pip refuses to install into the system (PEP 668) but installs
# into a directory of our own with --target.
PYTHON_MIN=3.8
DEB_PYTHON=/usr/bin/python3
BINDGEN_VER=0.73.2
LIBCLANG_VER=18.1.1
SRC_DIR=$CS_CACHE/src
APT_DIR=$CS_CACHE/apt

# version_ge A B: version A is B or newer.
version_ge() {
	[[ $(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1) == "$2" ]]
}

# pick_cargo: print the cargo to use (see CARGO_MIN); fail when none is usable.
pick_cargo() {
	local c v
	for c in "$(command -v cargo || true)" "$DEB_CARGO"; do
		[[ -n $c ]] || continue
		v=$("$c" --version 2>/dev/null) || continue # "cargo 1.96.0 (...)"
		v=${v#cargo }
		v=${v%% *}
		if version_ge "$v" "$CARGO_MIN"; then
			echo "$c"
			return 0
		fi
	done
	return 1
}

# pick_python: print the python3 to run pip with (see PYTHON_MIN); fail when
# none is usable.
pick_python() {
	local p
	for p in "$(command -v python3 || true)" "$DEB_PYTHON"; do
		[[ -n $p ]] || continue
		"$p" -c "import sys; sys.exit(sys.version_info < (${PYTHON_MIN/./, }))" \
			2>/dev/null || continue
		"$p" -m pip --version >/dev/null 2>&1 || continue
		echo "$p"
		return 0
	done
	return 1
}

pkg_installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# missing_packages: the packages stage 1 installs, one per line.
missing_packages() {
	local p
	for p in "${PKGS[@]}"; do
		pkg_installed "$p" || echo "$p"
	done
	pick_cargo >/dev/null || echo "$CARGO_PKG"
	pick_python >/dev/null || echo "$PIP_PKG"
}

apt_packages() {
	require_cmds dpkg-query apt-get
	local missing sudo=()
	mapfile -t missing < <(missing_packages)
	if [[ ${#missing[@]} -eq 0 ]]; then
		note "all present"
		return 0
	fi
	if ((EUID != 0)); then
		command -v sudo >/dev/null ||
			die "installing ${missing[*]} needs root: run make setup as root (or install sudo)"
		sudo=(sudo)
	fi
	"${sudo[@]}" apt-get update
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y --no-install-recommends "${missing[@]}"
	pick_cargo >/dev/null ||
		die "cargo: no cargo $CARGO_MIN or newer, even after installing cargo-web"
	pick_python >/dev/null ||
		die "python3 -m pip: no python3 $PYTHON_MIN or newer with pip, even after installing python3-pip"
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
	require_cmds apt-get apt-cache dpkg-deb tar xz
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
	local cargo
	cargo=$(pick_cargo) || not_installed "cargo $CARGO_MIN or newer"
	require_cmds gcc
	if "$CS_TOOLS/bin/bindgen" --version 2>/dev/null | grep -q "$BINDGEN_VER"; then
		note "cached $BINDGEN_VER"
		return 0
	fi
	# Debian's cargo with Debian's rustc of the same release (a rustc found
	# first on PATH may be an older rustup one).
	if [[ $cargo == "$DEB_CARGO" ]]; then export RUSTC=$DEB_RUSTC; fi
	echo "using $cargo: $("$cargo" --version)"
	"$cargo" install --locked bindgen-cli --version "$BINDGEN_VER" --root "$CS_TOOLS"
	note "$BINDGEN_VER"
}

libclang() {
	local python
	python=$(pick_python) || not_installed "python3 -m pip"
	if [[ -f $CS_TOOLS/libclang/clang/native/libclang.so ]]; then
		note "cached"
		return 0
	fi
	rm -rf "$CS_TOOLS/libclang"
	echo "using $python: $("$python" -m pip --version)"
	"$python" -m pip install --disable-pip-version-check --no-deps \
		--target "$CS_TOOLS/libclang" "libclang==$LIBCLANG_VER"
	note "$LIBCLANG_VER"
}

rust_available() {
	require_cmds make gcc /usr/bin/rustc "$CS_TOOLS/bin/bindgen"
	kmake_env
	"${KMAKE[@]}" -C "$SRC_DIR/linux" O="$CS_CACHE/rustavailable" rustavailable
	rm -rf "$CS_CACHE/rustavailable"
}

record_versions() {
	require_cmds gcc qemu-system-x86_64 busybox /usr/bin/rustc "$CS_TOOLS/bin/bindgen"
	local c cargo=none python=none
	if c=$(pick_cargo); then cargo=$("$c" --version); fi
	if c=$(pick_python); then python="$("$c" --version) ($c)"; fi
	{
		echo "kernel: linux-source-7.2 $(cat "$SRC_DIR/DEB_VERSION")"
		echo "rustc: $("$DEB_RUSTC" --version)"
		echo "bindgen: $("$CS_TOOLS/bin/bindgen" --version)"
		echo "libclang: $LIBCLANG_VER (PyPI wheel)"
		echo "gcc: $(gcc --version | head -n1)"
		echo "qemu: $(qemu-system-x86_64 --version | head -n1)"
		echo "busybox: $(busybox 2>&1 | head -n1)"
		echo "host cargo: $cargo"
		echo "host python3 (pip): $python"
	} >"$CS_BUILD/versions.txt"
	cat "$CS_BUILD/versions.txt"
}

# --dry-run: what stage 1 would install, and the cargo and python3 of stages
# 3 and 4 (as they are now, before any install).
dry_run() {
	local missing cargo python
	mapfile -t missing < <(missing_packages)
	cargo=$(pick_cargo) || cargo="none usable: cargo-web's $DEB_CARGO after stage 1"
	python=$(pick_python) || python="none usable: $DEB_PYTHON with python3-pip after stage 1"
	echo "apt packages to install: ${missing[*]:-none}"
	echo "cargo: $cargo"
	echo "python3 for pip: $python"
}

main() {
	stage 1 6 "Debian packages" setup-apt apt_packages
	stage 2 6 "kernel source linux-source-7.2" setup-source kernel_source
	stage 3 6 "bindgen-cli" setup-bindgen bindgen_cli
	stage 4 6 "libclang (PyPI)" setup-libclang libclang
	stage 5 6 "kernel 'make rustavailable'" setup-rustavailable rust_available
	stage 6 6 "record toolchain versions" setup-versions record_versions
	sed 's/^/    /' "$CS_BUILD/versions.txt"
}

# Sourced (by the setup test): only the definitions above.
[[ ${BASH_SOURCE[0]} == "$0" ]] || return 0
case ${1:-} in
"") main ;;
--dry-run | -n) dry_run ;;
*) die "usage: $0 [--dry-run]" ;;
esac
