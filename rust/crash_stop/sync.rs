// SPDX-License-Identifier: GPL-2.0

//! Kernel flavour of the small `crate::sync` shim that `protocol.rs` is
//! written against.
//!
//! The protocol is also compiled on the host (with std or loom atomics, see
//! `tools/testing/crash_stop_model/src/sync.rs`), so it cannot name
//! `kernel::` items. On x86-64 these `core` atomics compile to the same
//! plain and `lock`-prefixed instructions as the C atomics. The protocol
//! relies on acquire/release pairs, and on one store-then-load pair per
//! side being sequentially consistent (`enter()` against `release()`),
//! which `SeqCst` stores (`xchg`) give on x86-64.

pub(crate) use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

/// An `UnsafeCell` with the closure-based interface of loom's, so that the
/// host model can check every access to the per-CPU records for races.
#[repr(transparent)]
pub(crate) struct UnsafeCell<T>(core::cell::UnsafeCell<T>);

impl<T> UnsafeCell<T> {
    /// Wraps `v`.
    pub(crate) const fn new(v: T) -> Self {
        UnsafeCell(core::cell::UnsafeCell::new(v))
    }

    /// Calls `f` with a pointer for reading.
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Calls `f` with a pointer for writing.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// Makes a protocol constructor a `const fn`, so the kernel's single
/// instance can live in a `static` (loom's atomics are not `const`).
macro_rules! const_ctor {
    ($(#[$m:meta])* $v:vis fn $($rest:tt)*) => { $(#[$m])* $v const fn $($rest)* };
}
pub(crate) use const_ctor;

/// `[e; N]` for a non-`Copy` `e`, in a constant context.
macro_rules! array_of {
    ($e:expr; $n:expr) => {
        [const { $e }; $n]
    };
}
pub(crate) use array_of;
