// SPDX-License-Identifier: GPL-2.0

//! Host-side model of the crash_stop protocol.
//!
//! `protocol` is the very file the kernel builds (`rust/crash_stop/protocol.rs`),
//! included by path; `sync` supplies std or loom atomics for it.
//!
//! * [`sim`]: a simulated machine of up to 64 CPUs (std threads) for the
//!   randomized stress test and the scenario tests;
//! * `loom_platform` (only under `--cfg loom`): the platform loom explores;
//! * [`ia64`]: the IA-64 backend (`arch/ia64/crash_stop/`), included by path,
//!   and [`ia64_sim`], the simulated SAL/PAL machine it runs on.

#![warn(missing_docs)]

pub(crate) mod sync;

// The kernel tree formats this file with its own rustfmt settings; keep
// `cargo fmt` here away from it.
#[rustfmt::skip]
#[path = "../../../../rust/crash_stop/protocol.rs"]
pub mod protocol;

#[cfg(not(loom))]
pub mod rng;
#[cfg(not(loom))]
pub mod sim;

#[cfg(loom)]
pub mod loom_platform;

#[cfg(not(loom))]
#[path = "../../../../arch/ia64/crash_stop/mod.rs"]
pub mod ia64;
#[cfg(not(loom))]
pub mod ia64_sim;
