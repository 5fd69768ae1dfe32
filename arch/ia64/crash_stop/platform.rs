// SPDX-License-Identifier: GPL-2.0

//! The [`Platform`] implementation of the IA-64 backend.

use super::mca::{self, Where, IA64_MCA_RENDEZ_CHECKIN_NOTDONE};
use super::{Ia64Hw, IA64_IPI_DM_INIT, IA64_MCA_RENDEZ_VECTOR, IPI_CRASH_STOP};
use crate::protocol::{How, Platform};
use crate::sync::{fence, AtomicU64, Ordering};

/// The interrupted context a CPU hands to crash_stop: what the kernel would
/// take from `pt_regs` / the PAL min-state save area.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    /// `cr.iip` of the interrupted context.
    pub iip: u64,
    /// Whether `psr.i` was set in the interrupted context.
    pub psr_i: bool,
    /// Where the CPU was when it recorded itself.
    pub origin: Where,
}

impl Frame {
    /// The same frame, recorded from `origin`.
    pub fn at(self, origin: Where) -> Frame {
        Frame { origin, ..self }
    }
}

/// The per-CPU record of the IA-64 backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ia64Regs {
    /// The CPU.
    pub cpu: u32,
    /// How crash_stop stopped it.
    pub how: How,
    /// Nanoseconds after the start of the generation.
    pub t_ns: u64,
    /// The saved context.
    pub frame: Frame,
}

impl Ia64Regs {
    /// The value of a never written record.
    pub const EMPTY: Ia64Regs = Ia64Regs {
        cpu: u32::MAX,
        how: How::None,
        t_ns: 0,
        frame: Frame {
            iip: 0,
            psr_i: false,
            origin: Where::Normal,
        },
    };
}

/// The platform handle of the calling IA-64 CPU.
pub struct Ia64Cpu<H: Ia64Hw> {
    /// The processor/SAL interface of this CPU.
    pub hw: H,
}

impl<H: Ia64Hw> Ia64Cpu<H> {
    /// Wraps the hardware interface of the calling CPU.
    pub fn new(hw: H) -> Self {
        Ia64Cpu { hw }
    }

    /// `handle_IPI` for the [`IPI_CRASH_STOP`] operation: crash_stop's
    /// maskable stop request.
    pub fn crash_stop_ipi(&self, frame: Frame) -> bool {
        self.hw.crash_stop().on_ipi(self, frame.at(Where::Ipi))
    }

    /// Whether `cpu` answers crash_stop from a rendezvous loop, so that no
    /// interrupt needs to be sent to it. Pairs with
    /// [`mca::McaState::stop_polling`]: either this sees the CPU polling, or
    /// the CPU's last poll sees the request stored before this check.
    fn answers_from_loop(&self, cpu: u32) -> bool {
        fence(Ordering::SeqCst);
        self.hw.mca().polling(cpu) != Where::Normal
    }
}

impl<H: Ia64Hw> Platform for Ia64Cpu<H> {
    type Record = Ia64Regs;
    type Ctx = Frame;
    type Payload = usize;
    const EMPTY_RECORD: Ia64Regs = Ia64Regs::EMPTY;
    const EMPTY_PAYLOAD: usize = 0;
    /// `cpu_relax()` (`hint @pause`) plus an `IRR` poll takes well over a
    /// nanosecond on any Itanium: the count bound of a wait is then at
    /// least as long as its clock bound.
    const RELAX_MIN_NS: u64 = 1;

    fn this_cpu(&self) -> u32 {
        self.hw.cpu()
    }

    fn nr_cpus(&self) -> u32 {
        self.hw.nr_cpus()
    }

    fn cpu_online(&self, cpu: u32) -> bool {
        self.hw.cpu_online(cpu)
    }

    fn now_ns(&self) -> u64 {
        self.hw.itc_ns()
    }

    fn send_ipi(&self, cpu: u32) {
        if self.answers_from_loop(cpu) {
            self.hw.mca().count_skipped();
            return;
        }
        self.hw.send_ipi_op(cpu, IPI_CRASH_STOP);
    }

    fn send_nmi(&self, cpu: u32) {
        if self.answers_from_loop(cpu) {
            self.hw.mca().count_skipped();
            return;
        }
        // kdump_smp_send_init(): INIT is IA-64's non-maskable stop.
        self.hw.platform_send_ipi(cpu, 0, IA64_IPI_DM_INIT);
    }

    fn relax(&self) {
        self.hw.cpu_relax();
        let hw = &self.hw;
        let me = hw.cpu();
        // A CPU held by crash_stop (interrupts off) still joins an MCA
        // rendezvous; the crash_stop monarch does not (it would stall its
        // own gather in SAL): SAL INITs it instead, see `init_handler`.
        // Nor does a CPU already in a rendezvous, as slave (checked in) or
        // monarch: the vector is then a stale one, and its loop would wait
        // for the CPU itself.
        let mca = hw.mca();
        if hw.irr_pending(IA64_MCA_RENDEZ_VECTOR)
            && hw.crash_stop().monarch() != Some(me)
            && mca.checkin(me) == IA64_MCA_RENDEZ_CHECKIN_NOTDONE
            && mca.monarch_cpu.load(Ordering::SeqCst) != me
        {
            hw.irr_ack(IA64_MCA_RENDEZ_VECTOR);
            mca::rendez_int_handler(self, hw.interrupted_frame());
        }
        mca::finish_deferred(self, false);
    }

    /// A held CPU spins: it must keep joining MCA rendezvous and taking
    /// INIT from its wait loop (see [`Platform::relax`] above).
    fn may_halt(&self, _how: How) -> bool {
        false
    }

    /// Never called ([`Platform::may_halt`] is false); returning at once
    /// is always allowed.
    fn halt_while(&self, _word: &AtomicU64, _val: u64) {}

    fn capture(&self, rec: &mut Ia64Regs, cpu: u32, how: How, t_ns: u64, frame: Frame) {
        *rec = Ia64Regs {
            cpu,
            how,
            t_ns,
            frame,
        };
    }

    fn stopped(&self, _cpu: u32, rec: &Ia64Regs, _frame: Frame, payload: &usize) {
        self.hw.note_stopped(rec, *payload);
    }

    fn park(&self) {
        // Out of the generation: finish a rendezvous wait deferred while
        // held, so that the rendezvous does not wait for a parked CPU.
        mca::left_crash_stop(self);
        mca::finish_deferred(self, true);
        self.hw.halt();
    }

    fn resumed(&self) {
        // Nothing to resynchronise in the simulation; the kernel would
        // touch the watchdogs and the sched clock of this CPU here. Out of
        // the generation, finish a rendezvous wait deferred while held.
        mca::left_crash_stop(self);
        mca::finish_deferred(self, true);
    }

    fn released(&self, stay: bool) {
        // A crash_stop monarch that deferred an INIT slave's wait finishes
        // it now that nobody waits for it (not when stopping for good).
        if !stay {
            mca::finish_deferred(self, true);
        }
    }
}
