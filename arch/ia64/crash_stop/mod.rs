// SPDX-License-Identifier: GPL-2.0

//! crash_stop backend for IA-64 (Itanium), in simulation only.
//!
//! Linux dropped `arch/ia64` in 6.7 and Rust has no ia64 target, so this
//! backend is never built into a kernel: the host crate
//! `tools/testing/crash_stop_model` includes it by path and runs it on a
//! simulated SAL/PAL machine. It shows how the architecture-independent
//! protocol (`rust/crash_stop/protocol.rs`) coexists with the two
//! firmware-driven rendezvous of IA-64, which stop CPUs on their own:
//!
//! * the **MCA rendezvous**: on a machine check, SAL picks the CPU that took
//!   it as monarch, sends the other CPUs the `IA64_MCA_RENDEZ_VECTOR`
//!   interrupt (they check in with `SAL_MC_RENDEZ` and spin in SAL until the
//!   monarch's `IA64_MCA_WAKEUP_VECTOR`), INITs those that did not answer,
//!   then runs `OS_MCA` (`ia64_mca_handler`) on the monarch;
//! * the **INIT rendezvous**: INIT reaches every CPU (INIT button, or SAL's
//!   escalation above); SAL marks one as monarch, the others spin as slaves
//!   in `ia64_init_handler` until the monarch leaves.
//!
//! # What was modelled, from Linux
//!
//! From `arch/ia64/kernel/mca.c` (torvalds/linux at commit
//! `0195c00244dc2e9f522475868fa278c473ba7339`, v3.4 merge window; the code
//! was unchanged in substance until the removal):
//!
//! * `monarch_cpu` (`-1` = none) and `ia64_mc_info.imi_rendez_checkin[]`
//!   with `IA64_MCA_RENDEZ_CHECKIN_{NOTDONE,DONE,INIT,CONCURRENT_MCA}`:
//!   [`mca::McaState`];
//! * `ia64_mca_rendez_int_handler`: check in `DONE`, `ia64_sal_mc_rendez()`,
//!   spin while `monarch_cpu != -1`, check out: [`mca::rendez_int_handler`];
//! * `ia64_mca_handler`: first CPU in (`mca_count`) is the monarch, later
//!   ones wait in the `mca_cpu` mask and are handed the monarchy in turn;
//!   the monarch runs `ia64_wait_for_slaves` (bounded wait for every online
//!   CPU to leave `NOTDONE`) and `ia64_mca_wakeup_all` (wakeup IPI to every
//!   `DONE` CPU), and the last one out sets `monarch_cpu = -1`:
//!   [`mca::mca_handler`];
//! * `ia64_init_handler`: the `slaves`/`monarchs` counters with the
//!   promotion of the last slave and the demotion of extra monarchs (broken
//!   proms), slaves check in `INIT` and spin while `monarch_cpu == -1`, then
//!   while `!= -1`; the monarch sets `monarch_cpu`, waits for the slaves,
//!   processes, sets `monarch_cpu = -1`: [`mca::init_handler`];
//! * the `notify_die` points `DIE_MCA_MONARCH_PROCESS` and
//!   `DIE_INIT_MONARCH_PROCESS`, where kdump hooked in: [`Ia64Hw::notify_die`].
//!
//! From `arch/ia64/kernel/crash.c` and `smp.c`: kdump stopped the other
//! CPUs with `kdump_smp_send_stop()` (the `IA64_IPI_VECTOR` IPI with the
//! `IPI_KDUMP_CPU_STOP` operation) and, for CPUs that did not freeze,
//! `kdump_smp_send_init()` (`platform_send_ipi(cpu, 0, IA64_IPI_DM_INIT)`).
//! This backend does the same: crash_stop's IPI is the `IA64_IPI_VECTOR`
//! with the [`IPI_CRASH_STOP`] operation, its "NMI" is INIT.
//!
//! # How the rendezvous coexist
//!
//! 1. A CPU already in a firmware rendezvous loop (MCA rendezvous, waiting
//!    in `mca_cpu` as a concurrent MCA, INIT slave) counts as stopped: it
//!    advertises it ([`mca::McaState`]'s polling state) and answers crash_stop
//!    from that loop. [`platform::Ia64Cpu`]'s `send_ipi`/`send_nmi` send
//!    nothing to such a CPU; the protocol's `ipi_gen`/`nmi_gen` request is
//!    consumed by the loop, which records the CPU with its origin.
//! 2. An INIT that crash_stop sent is recognised by `on_nmi` at the top of
//!    the INIT handler and never joins the INIT rendezvous.
//! 3. A CPU held by crash_stop (interrupts off) still joins an MCA
//!    rendezvous: its wait loop ([`crate::protocol::Platform::relax`]) polls
//!    `IRR` for `IA64_MCA_RENDEZ_VECTOR` and runs the rendezvous handler in
//!    place, as the SAL rendezvous itself polls `IRR` for the wakeup.
//! 4. Monarchs never wait for crash_stop while they hold a rendezvous: the
//!    MCA/INIT monarchs do not poll crash_stop (a crash_stop INIT reaching
//!    them stays latched until they leave, as PSR.mc masks it), and no CPU
//!    inside a crash_stop generation (its monarch, or a slave it holds,
//!    late ones included: the monarch waits, unboundedly, for every slave
//!    to leave) spins in a firmware rendezvous: an INIT that makes it a
//!    slave, or an MCA rendezvous it joins from its wait loop, checks it in
//!    (and lets SAL wake it) and returns at once; it finishes the slave's
//!    wait (for the MCA/INIT monarch to leave) once out of the generation
//!    ([`crate::protocol::Platform::released`] for the monarch,
//!    [`crate::protocol::Platform::resumed`] or `park` for a slave),
//!    answering crash_stop from that wait like the other slaves of the
//!    rendezvous. With each side only ever waiting for the other's
//!    *slaves*, which answer from their loops and are never held up by
//!    the other side, there is no deadlock. (Without the slaves' deferral,
//!    a rendezvous monarch calling crash_stop waits for the election while
//!    the crash_stop monarch waits for its slaves to leave, and they spin
//!    in that monarch's rendezvous: the model's racing test deadlocked on
//!    it once the protocol's release wait became unbounded.)
//!
//! Where this departs from Linux (each found by the model's tests):
//!
//! * an INIT slave's first wait ("until the monarch enters") also ends when
//!   a monarch already came and went: a slave held by crash_stop inside
//!   that loop would otherwise miss the whole visit and spin for ever;
//! * a demoted INIT monarch is counted in `slaves` (Linux decrements
//!   `slaves` when it leaves without having counted it, so after one
//!   all-monarchs INIT a later all-slaves INIT never promotes anybody);
//! * a CPU already checked in, or that is the rendezvous monarch, does not
//!   join an MCA rendezvous from crash_stop's wait loop on a stale
//!   `IA64_MCA_RENDEZ_VECTOR` (it would wait for itself).
//!
//! Limits: the crash_stop waits (`ipi_wait_ns + nmi_wait_ns`) must exceed
//! the time SAL holds a rendezvoused CPU before the MCA monarch's wakeup,
//! or that CPU is reported `Missing` (it answers as soon as it is back in
//! the OS loop, and is then held as a late CPU until the release). An INIT
//! that crash_stop sent and an INIT-button INIT landing on the same CPU
//! coalesce into one, which crash_stop claims: that CPU then misses the
//! INIT rendezvous (its monarch's bounded `ia64_wait_for_slaves` reports
//! it), unless a monarch is already waiting for it. A crash_stop monarch
//! that takes a second, concurrent MCA waits in `mca_cpu` for the first MCA
//! monarch; if that one calls crash_stop meanwhile, each waits for the
//! other (kdump on Linux had the same hazard); so does a slave held by
//! crash_stop that takes a second, concurrent MCA (the crash_stop monarch
//! waits for it to leave); the tests do not inject these cases.

pub mod mca;
pub mod platform;

pub use mca::{Die, McaState, SalOsState, Where};
pub use platform::{Frame, Ia64Cpu, Ia64Regs};

use crate::protocol::CrashStop;

/// Size of the per-CPU tables (`NR_CPUS` of the simulated configuration).
pub const NR_CPUS: usize = 16;

/// The crash_stop state of an IA-64 machine.
pub type Ia64CrashStop<H> = CrashStop<Ia64Cpu<H>, NR_CPUS>;

/// MCA rendezvous interrupt (`asm/hw_irq.h`).
pub const IA64_MCA_RENDEZ_VECTOR: u8 = 0xe8;
/// MCA wakeup interrupt, polled in `IRR` by the SAL rendezvous.
pub const IA64_MCA_WAKEUP_VECTOR: u8 = 0xf0;
/// Inter-processor interrupt vector; the operation is in `ipi_operation`.
pub const IA64_IPI_VECTOR: u8 = 0xfe;

/// `platform_send_ipi` delivery mode: pend an external interrupt.
pub const IA64_IPI_DM_INT: u8 = 0x0;
/// `platform_send_ipi` delivery mode: pend an INIT.
pub const IA64_IPI_DM_INIT: u8 = 0x5;

/// `ipi_operation` bit of crash_stop's IPI (after `IPI_CALL_FUNC`,
/// `IPI_CPU_STOP`, `IPI_CALL_FUNC_SINGLE`, `IPI_KDUMP_CPU_STOP`).
pub const IPI_CRASH_STOP: u32 = 4;

/// `sos->os_status` value returned by the INIT handler (resume).
pub const IA64_INIT_RESUME: u64 = 0;

/// What the backend needs from the processor, the interrupt controller
/// and SAL, on the calling CPU. The kernel would implement it with
/// intrinsics and SAL calls; the model implements it with a simulation.
pub trait Ia64Hw: Sized {
    /// `smp_processor_id()`.
    fn cpu(&self) -> u32;
    /// `nr_cpu_ids`.
    fn nr_cpus(&self) -> u32;
    /// `cpu_online(cpu)`.
    fn cpu_online(&self, cpu: u32) -> bool;
    /// `num_online_cpus()`.
    fn num_online_cpus(&self) -> u32;
    /// `ar.itc` converted to nanoseconds.
    fn itc_ns(&self) -> u64;
    /// `platform_send_ipi(cpu, vector, delivery_mode, 0)`.
    fn platform_send_ipi(&self, cpu: u32, vector: u8, delivery_mode: u8);
    /// `send_IPI_single(cpu, op)`: set `op` in `cpu`'s `ipi_operation` and
    /// send it `IA64_IPI_VECTOR`.
    fn send_ipi_op(&self, cpu: u32, op: u32);
    /// `cpu_relax()`. (The simulation also delivers the interruptions the
    /// CPU's state allows here, calling back into this backend.)
    fn cpu_relax(&self);
    /// `local_irq_save()`: masks interrupts, returns whether they were
    /// already masked.
    fn local_irq_save(&self) -> bool;
    /// `local_irq_restore()`.
    fn local_irq_restore(&self, were_masked: bool);
    /// Whether `vector` is pending in `cr.irr0-3` (polled with interrupts
    /// masked).
    fn irr_pending(&self, vector: u8) -> bool;
    /// Acknowledges a pending `vector` (read `cr.ivr`, write `cr.eoi`).
    fn irr_ack(&self, vector: u8);
    /// The context an interruption taken now would save (`pt_regs` /
    /// min-state of the interrupted code).
    fn interrupted_frame(&self) -> Frame;
    /// `ia64_sal_mc_rendez()`: check in with SAL, spin in SAL until the
    /// monarch's wakeup (returns at once when no MCA is in progress).
    fn sal_mc_rendez(&self);
    /// The crash_stop state (a static in the kernel).
    fn crash_stop(&self) -> &Ia64CrashStop<Self>;
    /// The MCA/INIT state (statics of `mca.c` in the kernel).
    fn mca(&self) -> &McaState;
    /// `notify_die(event, ...)`: the die notifier chain at the monarch's
    /// processing points (kdump, a debugger, or crash_stop users hook here).
    fn notify_die(&self, event: Die, p: &Ia64Cpu<Self>, frame: Frame);
    /// Called on a CPU once crash_stop recorded it, before the record is
    /// published: the monarch's callback starts only after it returned
    /// (`crash_save_this_cpu` would go here).
    fn note_stopped(&self, rec: &Ia64Regs, payload: usize);
    /// Stops the CPU for good (`kdump_cpu_freeze`'s final spin, or the SAL
    /// boot rendezvous). Returns only when the simulation is torn down.
    fn halt(&self);
}
