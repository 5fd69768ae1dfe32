// SPDX-License-Identifier: GPL-2.0

//! The kernel's [`Platform`]: the protocol's view of the machine, backed by
//! the architecture interface declared in
//! `include/linux/crash_stop_internal.h` and implemented by arch code
//! (`arch/x86/kernel/crash_stop.c`).
//!
//! Everything here may run in NMI context on a CPU that interrupted any
//! code holding any lock: it only calls arch functions that are NMI-safe,
//! lock-free and not probe-able, and reads the current task without taking
//! references. The methods are `#[inline(always)]` so that the stopping
//! path is part of the (kprobe-blacklisted) handler entry points.

use crate::protocol::{How, Platform};
use crate::sync::AtomicU64;
use kernel::{bindings, cpu::CpuId, cpumask::Cpumask};

/// The mask of online CPUs.
pub(crate) fn online_mask() -> &'static Cpumask {
    // SAFETY: `__cpu_online_mask` is a valid cpumask for the kernel's
    // lifetime; it is only changed with atomic bit operations, which
    // `Cpumask` (an `Opaque` wrapper) tolerates.
    unsafe { Cpumask::from_raw(core::ptr::addr_of!(bindings::__cpu_online_mask)) }
}

/// What the slaves of a generation need from its caller, copied out of the
/// caller's `crash_stop_args` by the monarch (see [`Platform::Payload`]).
#[derive(Clone, Copy)]
pub(crate) struct Payload {
    /// `crash_stop_args.cpu_callback`.
    pub(crate) cpu_callback: bindings::crash_stop_cpu_fn,
    /// `crash_stop_args.data`, handed to the callback untouched.
    pub(crate) data: *mut kernel::ffi::c_void,
}

// SAFETY: `data` is only handed back to the caller's own callback, on the
// CPUs it asked crash_stop to run it on; crash_stop never dereferences it.
unsafe impl Send for Payload {}

/// The kernel platform; stateless, all state is in statics.
pub(crate) struct KernelPlatform;

impl Platform for KernelPlatform {
    type Record = bindings::crash_stop_cpu;
    type Ctx = *mut bindings::pt_regs;
    type Payload = Payload;

    // SAFETY: `crash_stop_cpu` is a C struct of integers, `bool`s, a C
    // enum whose zero value is `CRASH_STOP_NONE`, and `pt_regs`; all-zero
    // is a valid value of each.
    const EMPTY_RECORD: Self::Record = unsafe { core::mem::zeroed() };
    const EMPTY_PAYLOAD: Payload = Payload {
        cpu_callback: None,
        data: core::ptr::null_mut(),
    };
    const RELAX_MIN_NS: u64 = bindings::CRASH_STOP_RELAX_MIN_NS as u64;

    #[inline(always)]
    fn this_cpu(&self) -> u32 {
        CpuId::current().as_u32()
    }

    #[inline(always)]
    fn nr_cpus(&self) -> u32 {
        kernel::cpu::nr_cpu_ids()
    }

    #[inline(always)]
    fn cpu_online(&self, cpu: u32) -> bool {
        CpuId::from_u32(cpu).is_some_and(|id| online_mask().test(id))
    }

    #[inline(always)]
    fn now_ns(&self) -> u64 {
        // SAFETY: arch hook, callable in any context.
        unsafe { bindings::crash_stop_arch_now_ns() }
    }

    #[inline(always)]
    fn send_ipi(&self, cpu: u32) {
        // SAFETY: arch hook; `cpu` is an online CPU other than the caller.
        unsafe { bindings::crash_stop_arch_send_ipi(cpu) }
    }

    #[inline(always)]
    fn send_nmi(&self, cpu: u32) {
        // SAFETY: as for `send_ipi`.
        unsafe { bindings::crash_stop_arch_send_nmi(cpu) }
    }

    #[inline(always)]
    fn send_to_others(&self, nmi: bool) -> bool {
        // SAFETY: arch hook, callable in any context; the protocol calls it
        // only when every other online CPU is to receive the IPI or NMI.
        unsafe { bindings::crash_stop_arch_send_others(nmi) }
    }

    #[inline(always)]
    fn relax(&self) {
        // SAFETY: arch hook, callable in any context.
        unsafe { bindings::crash_stop_arch_relax() }
    }

    #[inline(always)]
    fn may_halt(&self, how: How) -> bool {
        // SAFETY: both read a flag (the `crash_stop.halt` parameter, and
        // whether this CPU is in NMI context); callable in any context.
        how != How::Nmi
            && unsafe { bindings::crash_stop_halt_enabled() }
            && unsafe { bindings::crash_stop_arch_may_halt() }
    }

    #[inline(always)]
    fn halt_while(&self, word: &AtomicU64, val: u64) {
        // SAFETY: `word` is a valid, aligned 64-bit word for the duration
        // of the call (it is a slot of the static protocol state); the arch
        // helper only reads it.
        unsafe { bindings::crash_stop_arch_halt_while(word.as_ptr(), val) }
    }

    #[inline(always)]
    fn capture(&self, rec: &mut Self::Record, cpu: u32, how: How, t_ns: u64, ctx: Self::Ctx) {
        rec.cpu = cpu;
        rec.how = how as bindings::crash_stop_how;
        rec.late = false;
        rec.stop_ns = t_ns;
        // SAFETY: `ctx` points to the stopped context's register frame,
        // which stays valid while this CPU is stopped: the handler (or the
        // crash_stop() call) that owns it is below us on this CPU's stack.
        let regs = unsafe { &*ctx };
        rec.regs = *regs;
        // SAFETY: `regs` is a valid frame (see above).
        rec.irqs_off = unsafe { bindings::crash_stop_arch_regs_irqs_off(regs) };
        // SAFETY: as above.
        rec.in_user = unsafe { bindings::crash_stop_arch_regs_user(regs) };
        // SAFETY: `rec` is a valid row; the helper copies the current
        // task's pid and name without locks (a concurrent rename may tear
        // `comm`, acceptable for a diagnostic copy).
        unsafe { bindings::crash_stop_task_info(rec) };
    }

    #[inline(always)]
    fn stopped(&self, _cpu: u32, rec: &Self::Record, ctx: Self::Ctx, payload: &Payload) {
        if let Some(f) = payload.cpu_callback {
            // SAFETY: `rec` is this CPU's complete record and `ctx` the live
            // frame it was stopped in (valid until it resumes); the
            // callback's contract is the caller's (see `crash_stop_cpu_fn`),
            // which crash_stop() keeps waiting for before it returns.
            unsafe { f(rec, ctx, payload.data) };
        }
    }

    #[inline(always)]
    fn park(&self) {
        // SAFETY: arch hook; it never returns.
        unsafe { bindings::crash_stop_arch_park() }
    }

    #[inline(always)]
    fn resumed(&self) {
        // SAFETY: touches this CPU's soft-lockup watchdog and asks its next
        // tick to resynchronise the scheduler clock; callable with
        // interrupts off, in any context.
        unsafe { bindings::crash_stop_cpu_resumed() }
    }

    #[inline(always)]
    fn released(&self, _stay: bool) {
        // SAFETY: resets the lockup, RCU stall and clocksource watchdogs;
        // callable with interrupts off.
        unsafe { bindings::crash_stop_touch_watchdogs() }
    }
}
