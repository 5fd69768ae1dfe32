// SPDX-License-Identifier: GPL-2.0

//! The kernel's [`Platform`]: the protocol's view of the machine, backed by
//! the architecture interface declared in `include/linux/crash_stop.h` and
//! implemented by arch code (`arch/x86/kernel/crash_stop.c`).
//!
//! Everything here may run in NMI context on a CPU that interrupted any
//! code holding any lock: it only calls arch functions that are NMI-safe
//! and lock-free, and reads the current task without taking references.

use crate::protocol::{How, Platform};
use kernel::{bindings, cpu::CpuId, cpumask::Cpumask};

/// The mask of online CPUs.
pub(crate) fn online_mask() -> &'static Cpumask {
    // SAFETY: `__cpu_online_mask` is a valid cpumask for the kernel's
    // lifetime; it is only changed with atomic bit operations, which
    // `Cpumask` (an `Opaque` wrapper) tolerates.
    unsafe { Cpumask::from_raw(core::ptr::addr_of!(bindings::__cpu_online_mask)) }
}

/// The kernel platform; stateless, all state is in statics.
pub(crate) struct KernelPlatform;

impl Platform for KernelPlatform {
    type Record = bindings::crash_stop_cpu;
    type Ctx = *const bindings::pt_regs;

    // SAFETY: `crash_stop_cpu` is a C struct of integers, a `bool`, a C
    // enum whose zero value is `CRASH_STOP_NONE`, and `pt_regs`; all-zero
    // is a valid value of each.
    const EMPTY_RECORD: Self::Record = unsafe { core::mem::zeroed() };

    fn this_cpu(&self) -> u32 {
        CpuId::current().as_u32()
    }

    fn nr_cpus(&self) -> u32 {
        kernel::cpu::nr_cpu_ids()
    }

    fn cpu_online(&self, cpu: u32) -> bool {
        CpuId::from_u32(cpu).is_some_and(|id| online_mask().test(id))
    }

    fn now_ns(&self) -> u64 {
        // SAFETY: arch hook, callable in any context.
        unsafe { bindings::crash_stop_arch_now_ns() }
    }

    fn send_ipi(&self, cpu: u32) {
        // SAFETY: arch hook; `cpu` is an online CPU other than the caller.
        unsafe { bindings::crash_stop_arch_send_ipi(cpu) }
    }

    fn send_nmi(&self, cpu: u32) {
        // SAFETY: as for `send_ipi`.
        unsafe { bindings::crash_stop_arch_send_nmi(cpu) }
    }

    fn relax(&self) {
        // SAFETY: arch hook, callable in any context.
        unsafe { bindings::crash_stop_arch_relax() }
    }

    fn capture(&self, rec: &mut Self::Record, cpu: u32, how: How, t_ns: u64, ctx: Self::Ctx) {
        rec.cpu = cpu;
        rec.how = how as bindings::crash_stop_how;
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

    fn stopped(&self, _cpu: u32, rec: &Self::Record, payload: usize) {
        let args = payload as *const bindings::crash_stop_args;
        // SAFETY: the payload of every generation is the monarch's
        // `crash_stop_args`, validated by `crash_stop()` and kept alive until
        // it releases this CPU.
        let args = unsafe { &*args };
        if let Some(f) = args.cpu_callback {
            // SAFETY: `rec` is this CPU's complete record; the callback's
            // contract is the caller's (see `crash_stop_cpu_fn`).
            unsafe { f(rec, args.data) };
        }
    }

    fn park(&self) {
        // SAFETY: arch hook; it never returns.
        unsafe { bindings::crash_stop_arch_park() }
    }

    fn resumed(&self) {
        // SAFETY: touches this CPU's soft-lockup watchdog and asks its next
        // tick to resynchronise the scheduler clock; callable with
        // interrupts off, in any context.
        unsafe { bindings::crash_stop_cpu_resumed() }
    }

    fn released(&self, _stay: bool) {
        // SAFETY: resets the lockup, RCU stall and clocksource watchdogs;
        // callable with interrupts off.
        unsafe { bindings::crash_stop_touch_watchdogs() }
    }
}
