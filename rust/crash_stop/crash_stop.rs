// SPDX-License-Identifier: GPL-2.0

//! crash_stop: one way for every kernel debugger and dump tool to stop all
//! CPUs and collect their state.
//!
//! The calling CPU becomes the *monarch*; every other online CPU is asked
//! to stop with a maskable IPI, then with an NMI after a delay. Each
//! stopped CPU records its registers, task and how it stopped in a per-CPU
//! table; the caller's callback runs; then the CPUs resume or stay stopped.
//!
//! Layout:
//! - [`protocol`]: the architecture-independent protocol (also compiled and
//!   model-checked on the host, see `tools/testing/crash_stop_model`);
//! - [`sync`]: the atomics shim the protocol is written against;
//! - [`platform`]: the protocol's machine interface, on top of the arch glue
//!   (`arch/x86/kernel/crash_stop.c`);
//! - [`api`]: the C API of `include/linux/crash_stop.h` and the state table;
//! - `glue.c`: boot parameters, symbol exports, the die notifier;
//! - `test_iface.c`: the debugfs test interface (`CONFIG_CRASH_STOP_TEST`).
//!
//! C header: [`include/linux/crash_stop.h`](srctree/include/linux/crash_stop.h)

const __LOG_PREFIX: &[u8] = b"crash_stop\0";

pub mod api;
pub mod platform;
pub mod protocol;
pub(crate) mod sync;

#[cfg(CONFIG_CRASH_STOP_KUNIT_TEST)]
mod tests;
