#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Runs the host model of crash_stop: the std tests (simulated machines,
# randomized stress, IA-64 backend), then the loom models. Prints the
# cargo test output; exits non-zero if anything fails.
#
#   ./run.sh          std tests + loom
#   ./run.sh std      std tests only
#   ./run.sh loom     loom only
#   ./run.sh lint     cargo fmt --check and clippy, with and without loom
#
# Set CRASH_STOP_SEED to replay the stress test with another seed.
# CARGO_TARGET_DIR (default target/) holds the builds: the std one, and the
# loom one in its loom/ subdirectory (built with other RUSTFLAGS).

set -euo pipefail
cd "$(dirname "$0")"

what="${1:-all}"
target=${CARGO_TARGET_DIR:-target}

std_tests() {
	echo "== cargo test --release"
	local t0=$SECONDS
	cargo test --release
	echo "== std tests: $((SECONDS - t0)) s"
}

loom_tests() {
	echo "== RUSTFLAGS=\"--cfg loom\" cargo test --release --test loom --target-dir $target/loom"
	local t0=$SECONDS
	RUSTFLAGS="--cfg loom" cargo test --release --test loom --target-dir "$target/loom"
	echo "== loom tests: $((SECONDS - t0)) s"
}

lint() {
	cargo fmt --check
	cargo clippy --release --all-targets -- -D warnings
	RUSTFLAGS="--cfg loom" cargo clippy --release --all-targets \
		--target-dir "$target/loom" -- -D warnings
}

case "$what" in
all)
	std_tests
	loom_tests
	;;
std) std_tests ;;
loom) loom_tests ;;
lint) lint ;;
*)
	echo "usage: $0 [all|std|loom|lint]" >&2
	exit 2
	;;
esac
