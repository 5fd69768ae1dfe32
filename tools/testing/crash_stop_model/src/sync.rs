// SPDX-License-Identifier: GPL-2.0

//! Host flavour of the `crate::sync` shim used by `protocol.rs`: std atomics
//! normally, loom's checked atomics and cells under `--cfg loom`.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::Ordering;
#[cfg(loom)]
pub(crate) use seq_cst::{AtomicBool, AtomicU32, AtomicU64};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

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

/// Loom's atomics, with `SeqCst` accesses given their C11 strength.
///
/// Loom models `SeqCst` loads, stores and read-modify-writes as `AcqRel`
/// (loom 0.7 README, "Unsupported features"; tokio-rs/loom#180): a
/// `SeqCst` store followed by a `SeqCst` load of another location on each
/// of two threads (store buffering) may then see both loads return the old
/// values, which C11 forbids. The protocol relies on exactly that
/// (`enter()` against `release()`), so loom would report false failures.
/// Loom does model `fence(SeqCst)` in full: these wrappers put one after
/// every `SeqCst` store and before every `SeqCst` load (both, around a
/// `SeqCst` read-modify-write), which forbids store buffering between
/// `SeqCst` accesses as C11 does. Accesses with any other ordering are
/// passed through unchanged.
#[cfg(loom)]
mod seq_cst {
    use loom::sync::atomic::{fence, Ordering};

    fn before(o: Ordering) {
        if o == Ordering::SeqCst {
            fence(Ordering::SeqCst);
        }
    }

    fn after(o: Ordering) {
        if o == Ordering::SeqCst {
            fence(Ordering::SeqCst);
        }
    }

    macro_rules! atomic {
        ($name:ident, $t:ty $(, $arith:ident)*) => {
            /// See the module documentation. (`pub`: the protocol's
            /// `Platform::halt_while` takes an `AtomicU64`.)
            #[derive(Debug)]
            pub struct $name(loom::sync::atomic::$name);

            #[allow(dead_code)]
            impl $name {
                pub(crate) fn new(v: $t) -> Self {
                    $name(loom::sync::atomic::$name::new(v))
                }
                pub(crate) fn load(&self, o: Ordering) -> $t {
                    before(o);
                    self.0.load(o)
                }
                pub(crate) fn store(&self, v: $t, o: Ordering) {
                    self.0.store(v, o);
                    after(o);
                }
                pub(crate) fn swap(&self, v: $t, o: Ordering) -> $t {
                    before(o);
                    let r = self.0.swap(v, o);
                    after(o);
                    r
                }
                pub(crate) fn compare_exchange(
                    &self,
                    current: $t,
                    new: $t,
                    success: Ordering,
                    failure: Ordering,
                ) -> Result<$t, $t> {
                    let sc = if success == Ordering::SeqCst || failure == Ordering::SeqCst {
                        Ordering::SeqCst
                    } else {
                        Ordering::Relaxed
                    };
                    before(sc);
                    let r = self.0.compare_exchange(current, new, success, failure);
                    after(sc);
                    r
                }
                $(
                    pub(crate) fn $arith(&self, v: $t, o: Ordering) -> $t {
                        before(o);
                        let r = self.0.$arith(v, o);
                        after(o);
                        r
                    }
                )*
            }
        };
    }

    atomic!(AtomicBool, bool);
    atomic!(AtomicU32, u32, fetch_add, fetch_sub, fetch_max);
    atomic!(AtomicU64, u64, fetch_add, fetch_sub, fetch_max);
}
