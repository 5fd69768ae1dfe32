# SPDX-License-Identifier: GPL-2.0
#
# Front door of the crash_stop repository (this is not a kernel tree: the
# kernel is built out of tree by scripts/build-kernel.sh).  "make help".

SHELL := /bin/bash
.DEFAULT_GOAL := help
.SUFFIXES:

# Variables given on the command line or in the environment reach the
# scripts through the environment.
SMP ?= 4
export SMP

# One-line errors for bad options, before anything runs.
ifneq ($(filter-out help clean distclean,$(or $(MAKECMDGOALS),help)),)
ERR := $(shell { $(if $(KVER),export KVER='$(KVER)';) . scripts/lib.sh && check_kver && \
	check_smp '$(SMP)'; } 2>&1 >/dev/null)
ifneq ($(ERR),)
$(error $(ERR))
endif
endif

.PHONY: help setup kernel demo test quick kdump bench kgdb check clean distclean

help:
	@echo 'crash_stop: make TARGET [SMP=N] [KVER=7.2[.N]] [CS_CACHE=DIR]'
	@echo
	@echo '  setup      install the toolchain and the linux-source-7.2 tree (idempotent)'
	@echo '  kernel     setup, then build the kernel: build/out/ (bzImage, *.ko, selftests)'
	@echo '  demo       kernel, then boot SMP (default 4) vCPUs and run the crash_stop demo'
	@echo '  test       setup, host model tests, kernel, KUnit, VM scenarios, runner self-tests'
	@echo '  quick      kernel, then one boot: KUnit + the quick kselftests (edit loop)'
	@echo '  kdump      kernel, then crash 4 vCPUs into a kdump capture kernel per case'
	@echo '  kgdb       kernel, then gdb, kdb and kgdbts in QEMU, crash_stop and upstream roundup'
	@echo '  bench      kernel, then latency of crash_stop and the alternatives, 2-16 vCPUs'
	@echo '  check      checkpatch.pl, make rustfmtcheck, make CLIPPY=1'
	@echo '  clean      remove build/ (logs, results, VM runs)'
	@echo '  distclean  clean, and remove the kernel work tree in the cache'
	@echo
	@echo 'Logs: build/logs/.  Cache (toolchain, kernel source, work tree):'
	@echo '$$CS_CACHE, default ~/.cache/crash_stop.'

setup:
	@scripts/setup.sh

kernel: setup
	@scripts/build-kernel.sh

demo: setup
	@scripts/demo.sh

test: setup
	@scripts/test.sh

quick: setup
	@scripts/build-kernel.sh && \
		scripts/test.sh scenario tools/testing/crash_stop/scenarios/quick.sh quick

kdump: setup
	@scripts/build-kernel.sh && scripts/kdump.sh

kgdb: setup
	@scripts/build-kernel.sh && scripts/kgdb.sh

bench: setup
	@scripts/build-kernel.sh && scripts/bench.sh

check: setup
	@scripts/test.sh check

clean:
	rm -rf build

distclean: clean
	@. scripts/lib.sh && v=$$(cat "$$CS_CACHE/src/VERSION" 2>/dev/null) && \
		w=$${CS_WORK:-$$CS_CACHE/work-$$v} && echo "rm -rf $$w" && rm -rf "$$w" || true
