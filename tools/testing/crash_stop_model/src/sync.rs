// SPDX-License-Identifier: GPL-2.0

//! Host flavour of the `crate::sync` shim used by `protocol.rs`: std atomics
//! normally, loom's checked atomics and cells under `--cfg loom`.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

/// Extra atomics used by the IA-64 backend (`arch/ia64/crash_stop/`), which
/// is built on the host only, never under loom.
#[cfg(not(loom))]
#[allow(unused_imports)]
pub(crate) use std::sync::atomic::{fence, AtomicU8};

/// A cell whose accesses loom can check for data races.
#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

/// The same interface as loom's `UnsafeCell`, over the std one.
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(v: T) -> Self {
        UnsafeCell(std::cell::UnsafeCell::new(v))
    }
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// Loom's atomics cannot be built in a `const fn`: constructors are plain
/// functions on the host.
macro_rules! const_ctor {
    ($(#[$m:meta])* $v:vis fn $($rest:tt)*) => { $(#[$m])* $v fn $($rest)* };
}
pub(crate) use const_ctor;

/// `[e; N]` for a non-`Copy` `e`, built at run time on the host.
macro_rules! array_of {
    ($e:expr; $n:expr) => {
        core::array::from_fn::<_, $n, _>(|_| $e)
    };
}
pub(crate) use array_of;
