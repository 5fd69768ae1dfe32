// SPDX-License-Identifier: GPL-2.0

//! The architecture-independent crash_stop protocol.
//!
//! This file is compiled twice: into vmlinux as part of the `crash_stop`
//! crate, and on the host by `tools/testing/crash_stop_model`, where loom
//! explores its interleavings and a simulated machine stresses it. It must
//! therefore depend on nothing but `core` and the small `crate::sync` shim
//! (atomics, a checked `UnsafeCell` and two constructor macros), and it
//! talks to the machine only through the [`Platform`] trait.
//!
//! # Model
//!
//! One CPU, the *monarch*, wins an atomic election and opens a
//! *generation* `g`. Every other CPU owns one [`Slot`] whose state word is
//! `g << 8 | code`. A slot goes through
//!
//! ```text
//!            monarch                 the CPU itself              monarch
//!   Idle --prepare--> Requested --claim--> Saving --publish--> Ipi/Nmi/Caller
//!                        |                   |
//!                        +---give up------>  Missing  <--give up (grace)--+
//! ```
//!
//! Every transition out of `Requested` or `Saving` is a compare-and-swap on
//! the slot word, so a CPU is recorded at most once per generation however
//! many IPIs and NMIs reach it, and a CPU that answers after the monarch gave
//! up on it ("late") cannot touch a record the monarch is reading.
//!
//! A stopping CPU runs its per-CPU callback ([`Platform::stopped`]) while
//! its slot is still `Saving`, and publishes only afterwards: the monarch
//! waits for publication, so every per-CPU callback has returned (or its CPU
//! was given up on) before the monarch's callback starts.
//!
//! In a handed-off generation ([`Params::handoff`]) a slave publishes
//! first and then runs its per-CPU step, on copies, after it has left the
//! generation: a debugger keeps it in its own loop for as long as it likes.
//!
//! A CPU that answers late does not run free: it registers as late and waits
//! for the release like the others (and parks in stay-stopped mode).
//!
//! A held CPU that the platform lets wait halted ([`Platform::may_halt`],
//! in the kernel: stopped by the IPI, not in NMI context) does not spin: it
//! announces itself in `sleeping`, reads its `kick` word, checks once more
//! that there is nothing to do, and halts while `kick` is unchanged
//! ([`Platform::halt_while`]). Whenever the monarch changes what held CPUs
//! wait for (the release, a nested request) it bumps every `kick` word and
//! sends an NMI to each CPU it then finds `sleeping`. Both sides store
//! first and load second, sequentially consistent, so either the CPU sees
//! the change and does not halt, or the monarch sees it sleeping and wakes
//! it. A wake-up NMI that lands between the CPU's last comparison and its
//! halt is taken there, and the CPU then halts all the same (on x86-64 an
//! NMI handler cannot move the return address of what it interrupted):
//! while it waits for CPUs to leave, the monarch sends another NMI every
//! [`REWAKE_NS`] to each CPU still `sleeping` in the generation. The
//! wake-up NMIs are counted like the escalation NMIs, so the NMI handler
//! claims every one of them, however late it lands.
//!
//! Every CPU that touches the state of a generation first marks its slot
//! `entered = g` and then checks that `g` is not released yet; the monarch
//! publishes the release and then waits until every entered CPU has marked
//! `left = g`. (Both sides use sequentially consistent accesses, so one of
//! them sees the other.) Hence when [`CrashStop::run`] returns, no CPU is
//! still inside that generation, and the next one cannot rewrite state a
//! slave still reads. The only exception is a CPU that crashed while held
//! ([`CrashStop::crashed`], called from the die path on that CPU).
//!
//! What the slaves need from the caller ([`Platform::Payload`]) is copied
//! into the protocol state by the monarch before the gather opens.
//!
//! The stopping path (`on_ipi`/`on_nmi` and what they call) is
//! `#[inline(always)]`: in the kernel it becomes part of the handler entry
//! points, which are kept away from kprobes as NMI code must be.
//!
//! Every wait of the monarch is bounded twice: by the clock
//! ([`Platform::now_ns`]) and by a number of [`Platform::relax`] calls
//! derived from [`Platform::RELAX_MIN_NS`], so it ends even on a machine
//! whose clock stands still while interrupts are off everywhere.
//!
//! IPIs and NMIs carry the generation they were sent for in per-slot
//! mailboxes (`ipi_gen` / `nmi_gen`); a handler only acts when that
//! generation is the one being gathered, so stale interrupts from an earlier
//! generation are consumed and change nothing.
//!
//! Phases of one generation, as seen by the monarch:
//!
//! 1. *elect*: `monarch` CAS `none -> me`;
//! 2. *prepare*: bump `generation`, mark slots, record itself, publish
//!    `current = g` (this opens the gather);
//! 3. *IPI*: send the maskable IPI, wait up to `ipi_wait_ns`;
//! 4. *NMI*: send an NMI to every CPU still `Requested`, wait up to
//!    `nmi_wait_ns`;
//! 5. *give up*: the rest become `Missing`;
//! 6. *held*: run the callback with a [`Held`] view of the table;
//! 7. *release*: publish `released = g` (and `stay_gen = g` to park the
//!    slaves for good), wait until every CPU that entered `g` has marked its
//!    slot `left = g`, clear `current`, then `monarch`.
//!
//! Nothing here allocates, sleeps or takes a lock: every wait of the gather
//! is a bounded spin on atomics. A slave's wait for its release is
//! unbounded by design (the monarch always releases, even when its
//! callback crashes, see [`CrashStop::abort_on_crash`]), and so is the
//! monarch's wait for entered CPUs to leave: they only run the protocol's
//! own code (or a per-CPU callback, which must be bounded) by then.

use crate::sync::{array_of, const_ctor, AtomicBool, AtomicU32, AtomicU64, Ordering, UnsafeCell};

/// The `monarch` word holds the monarch's CPU number plus one, so that the
/// protocol state is all zeroes until first used (it lives in the kernel's
/// `.bss`, not in its image: it is large with `NR_CPUS` = 8192).
const NO_MONARCH: u32 = 0;

const fn monarch_word(cpu: u32) -> u32 {
    cpu + 1
}

/// How often the monarch sends another wake-up NMI to a CPU that still
/// waits halted in a generation it has released (see the module
/// documentation): the first one may have landed just before the CPU's
/// halt.
pub const REWAKE_NS: u64 = 1_000_000;

/// How a CPU ended up in the table of one generation.
///
/// The numeric values are ABI: they are mirrored by `enum crash_stop_how` in
/// `include/linux/crash_stop.h`.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum How {
    /// Not part of the generation (never set up, or beyond the table).
    None = 0,
    /// The CPU that called crash_stop and won the election.
    Monarch = 1,
    /// Stopped by the maskable crash_stop IPI, at an interrupt-enabled point.
    Ipi = 2,
    /// Stopped by the NMI escalation; its state may be taken at any point.
    Nmi = 3,
    /// A concurrent crash_stop caller that lost the election and stopped
    /// itself; its call returns [`Error::Busy`] once released.
    Caller = 4,
    /// Did not answer the IPI nor the NMI within the waits.
    Missing = 5,
    /// Was not online when the generation started; not waited for.
    Offline = 6,
    /// Parked for good by an earlier stay-stopped generation.
    Parked = 7,
}

impl How {
    fn from_code(code: u8) -> How {
        match code {
            1 => How::Monarch,
            2 => How::Ipi,
            3 => How::Nmi,
            4 => How::Caller,
            5 => How::Missing,
            6 => How::Offline,
            7 => How::Parked,
            _ => How::None,
        }
    }

    /// Whether this CPU is stopped (its record is valid) in the generation.
    pub fn is_stopped(self) -> bool {
        matches!(self, How::Monarch | How::Ipi | How::Nmi | How::Caller)
    }
}

/// Slot code: the monarch expects this CPU to stop.
const REQUESTED: u8 = 0x10;
/// Slot code: the CPU has claimed its slot and is writing its record.
const SAVING: u8 = 0x11;

const fn pack(gen: u64, code: u8) -> u64 {
    (gen << 8) | code as u64
}

const fn gen_of(word: u64) -> u64 {
    word >> 8
}

const fn code_of(word: u64) -> u8 {
    (word & 0xff) as u8
}

/// Errors of [`CrashStop::run`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Called on a CPU that is already the monarch or already stopped in
    /// the running generation (from a callback, or an NMI on top of it).
    Nested,
    /// Another CPU won the election; this CPU was stopped as a slave (its
    /// state is in that generation's table) and has been released.
    Busy,
    /// Invalid parameters.
    Invalid,
}

/// What the monarch asks for.
#[derive(Clone, Copy, Debug)]
pub struct Params<T = usize> {
    /// How long to wait for the maskable IPI before escalating to NMI.
    pub ipi_wait_ns: u64,
    /// How long to wait for NMI answers before reporting CPUs missing.
    pub nmi_wait_ns: u64,
    /// Park the slaves for good after the callback instead of resuming them.
    pub stay: bool,
    /// Hand each stopped slave over to [`Platform::stopped`]: it reports
    /// itself stopped first, then runs it for as long as it likes,
    /// concurrently with the monarch's callback and after [`CrashStop::run`]
    /// returned, and resumes when it returns (a debugger's own slave loop).
    /// Not with `stay`.
    pub handoff: bool,
    /// What the slaves of this generation need from the caller, handed to
    /// [`Platform::stopped`] on every slave. The monarch copies it into the
    /// protocol state before the gather opens: slaves never read the
    /// caller's memory through it.
    pub payload: T,
}

/// Summary of one generation, handed to the callback and returned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Generation number (starts at 1, never reused).
    pub generation: u64,
    /// The monarch CPU.
    pub monarch: u32,
    /// Slaves stopped (by IPI, NMI, or as losing callers); excludes the
    /// monarch.
    pub stopped: u32,
    /// Of `stopped`, how many were stopped by NMI.
    pub by_nmi: u32,
    /// CPUs that were sent an NMI.
    pub escalated: u32,
    /// CPUs that never answered in time.
    pub missing: u32,
    /// Of `missing`, the CPUs that answered after the give-up and were held
    /// until the release all the same. Known only once the generation is
    /// released (0 in the monarch's callback).
    pub late: u32,
    /// CPUs offline at the start (not waited for).
    pub offline: u32,
    /// CPUs parked by an earlier stay-stopped generation.
    pub parked: u32,
    /// Time from the start until the last slave stopped (or the give-up).
    pub gather_ns: u64,
}

/// What the protocol needs from the machine.
///
/// The kernel implements it with the x86 glue; the host model implements it
/// with simulated CPUs and with loom.
pub trait Platform {
    /// Per-CPU record filled by [`Platform::capture`] (registers, task, ...).
    type Record: Copy;
    /// Context handed by the stopping CPU to [`Platform::capture`] and
    /// [`Platform::stopped`], e.g. the interrupted register frame.
    type Ctx: Copy;
    /// What a generation's slaves need from its caller ([`Params::payload`]).
    type Payload: Copy;
    /// The value every record starts with.
    const EMPTY_RECORD: Self::Record;
    /// The payload before the first generation.
    const EMPTY_PAYLOAD: Self::Payload;
    /// A lower bound, in nanoseconds, of the time one [`Platform::relax`]
    /// call takes. Every timed wait also ends after `wait / RELAX_MIN_NS`
    /// calls, so that it ends even if [`Platform::now_ns`] stands still.
    const RELAX_MIN_NS: u64;

    /// The calling CPU's number.
    fn this_cpu(&self) -> u32;
    /// Number of CPU ids in use (`nr_cpu_ids`); slots at or above it are
    /// left out of every generation and never scanned.
    fn nr_cpus(&self) -> u32;
    /// Whether `cpu` is online (and so must be waited for).
    fn cpu_online(&self, cpu: u32) -> bool;
    /// A monotonic nanosecond clock. It should keep running with interrupts
    /// off on every CPU, but the protocol does not rely on it to end a wait.
    fn now_ns(&self) -> u64;
    /// Sends the maskable crash_stop IPI to `cpu`.
    fn send_ipi(&self, cpu: u32);
    /// Sends an NMI to `cpu`.
    fn send_nmi(&self, cpu: u32);
    /// Sends the crash_stop IPI (`nmi` false) or an NMI (`nmi` true) to
    /// every online CPU but the caller at once (one broadcast where the
    /// hardware has it), or returns false having sent nothing: then the
    /// protocol sends to each CPU. It is only called when every other
    /// online CPU is to receive it.
    fn send_to_others(&self, nmi: bool) -> bool {
        let _ = nmi;
        false
    }
    /// One iteration of a wait loop (cpu_relax, keep watchdogs quiet); takes
    /// at least [`Platform::RELAX_MIN_NS`].
    fn relax(&self);
    /// Whether the calling CPU, held after it stopped `how`, may wait for
    /// its release in [`Platform::halt_while`] instead of spinning (not in
    /// NMI context: the wake-up is an NMI).
    fn may_halt(&self, how: How) -> bool;
    /// Waits, with the CPU halted and interrupts off, while `word` holds
    /// `val`. It may return at any time (any NMI ends it), and must return
    /// once an NMI sent to this CPU after `word` changed finds it halted.
    /// An NMI that lands between the comparison and the halt may be lost
    /// (the protocol sends another one, see [`REWAKE_NS`]).
    fn halt_while(&self, word: &AtomicU64, val: u64);
    /// Fills `rec` for the calling CPU, stopped `how`, `t_ns` after start.
    fn capture(&self, rec: &mut Self::Record, cpu: u32, how: How, t_ns: u64, ctx: Self::Ctx);
    /// Runs on a slave once its record is complete and before it is
    /// published: the monarch's callback starts only after it returned (or
    /// the CPU was given up on). `ctx` is the live context the CPU was
    /// stopped in, `payload` the generation's copy of [`Params::payload`].
    fn stopped(&self, cpu: u32, rec: &Self::Record, ctx: Self::Ctx, payload: &Self::Payload);
    /// Stops the calling CPU for good (interrupts off). Must not return in
    /// the kernel; a host simulation returns when its machine is torn down.
    fn park(&self);
    /// Runs on the monarch after a release (reset stall/lockup detectors).
    fn released(&self, stay: bool);
    /// Runs on a slave once it has left a resumed generation, after its
    /// last access to the protocol state (resynchronise per-CPU clocks and
    /// watchdogs after a long stop).
    fn resumed(&self);
}

/// One CPU's entry in the state table.
pub struct Slot<R> {
    /// `generation << 8 | code`.
    word: AtomicU64,
    /// Generation of the last IPI sent to this CPU not yet consumed, or 0.
    ipi_gen: AtomicU64,
    /// Generation of the last NMI sent to this CPU not yet consumed, or 0.
    nmi_gen: AtomicU64,
    /// NMIs sent to this CPU by crash_stop, ever.
    nmi_sent: AtomicU64,
    /// NMIs this CPU claimed as crash_stop's, ever (written only by it).
    nmi_taken: AtomicU64,
    /// Set by the CPU itself just before it parks for good.
    parked: AtomicBool,
    /// The last generation this CPU entered (written only by it, before it
    /// checks that the generation is not released yet).
    entered: AtomicU64,
    /// The last generation this CPU is held in, lower on its own stack
    /// (written and read only by the CPU itself, or by the monarch for its
    /// own slot): an interrupt on top of it must not stop it again.
    holding: AtomicU64,
    /// The last generation this CPU answered late in (after the give-up).
    late: AtomicU64,
    /// The last generation this CPU crashed in while held.
    crashed: AtomicU64,
    /// The last generation whose nested stay-stopped request this CPU ran
    /// (see [`CrashStop::run_full`]).
    nest_ack: AtomicU64,
    /// The last generation this CPU left (or parked in) after its release.
    left: AtomicU64,
    /// The generation this CPU waits halted in, 0 when it does not
    /// (written only by it, read by the monarch to decide whom to wake).
    sleeping: AtomicU64,
    /// Bumped by the monarch each time held CPUs have something new to see;
    /// a halted CPU halts only while it is unchanged.
    kick: AtomicU64,
    /// Written only by the owning CPU while its word is `SAVING` (or by the
    /// monarch for itself), read only after the word says it is stopped.
    rec: UnsafeCell<R>,
}

impl<R> Slot<R> {
    const_ctor! {
        fn new(rec: R) -> Self {
            Slot {
                word: AtomicU64::new(0),
                ipi_gen: AtomicU64::new(0),
                nmi_gen: AtomicU64::new(0),
                nmi_sent: AtomicU64::new(0),
                nmi_taken: AtomicU64::new(0),
                parked: AtomicBool::new(false),
                entered: AtomicU64::new(0),
                holding: AtomicU64::new(0),
                late: AtomicU64::new(0),
                crashed: AtomicU64::new(0),
                nest_ack: AtomicU64::new(0),
                left: AtomicU64::new(0),
                sleeping: AtomicU64::new(0),
                kick: AtomicU64::new(0),
                rec: UnsafeCell::new(rec),
            }
        }
    }
}

/// The protocol state for a machine of at most `N` CPUs.
///
/// In the kernel there is exactly one, in a `static`; nothing is allocated.
pub struct CrashStop<P: Platform, const N: usize> {
    /// The monarch CPU plus one, or [`NO_MONARCH`].
    monarch: AtomicU32,
    /// The last generation started.
    generation: AtomicU64,
    /// The generation being gathered or held, 0 when none.
    current: AtomicU64,
    /// The last generation released.
    released: AtomicU64,
    /// The last generation released in stay-stopped mode.
    stay_gen: AtomicU64,
    /// The last generation whose slaves are handed off ([`Params::handoff`]).
    handoff_gen: AtomicU64,
    /// Start time of the current generation.
    start_ns: AtomicU64,
    /// The current generation's copy of [`Params::payload`]: written by the
    /// monarch before it opens the gather, read by the CPUs that entered
    /// the generation; the next monarch writes it only after they all left.
    payload: UnsafeCell<P::Payload>,
    /// The generation whose monarch callback is running, 0 otherwise.
    held_gen: AtomicU64,
    /// The generation that got a nested stay-stopped request, 0 otherwise.
    nest_gen: AtomicU64,
    /// The payload of that request: written by the monarch (once per
    /// generation) before it publishes `nest_gen`, read by held slaves after.
    nested: UnsafeCell<P::Payload>,
    /// The outcome of the held generation, for a nested request; written and
    /// read only by the monarch CPU.
    outcome: UnsafeCell<Outcome>,
    slots: [Slot<P::Record>; N],
}

// SAFETY: the records are only reached through the slot protocol described
// on `Slot::rec`, the payload as described on `CrashStop::payload`;
// everything else is atomics.
unsafe impl<P: Platform, const N: usize> Sync for CrashStop<P, N>
where
    P::Record: Send,
    P::Payload: Send,
{
}

/// The monarch's view of the table while the other CPUs are held.
pub struct Held<'a, P: Platform, const N: usize> {
    cs: &'a CrashStop<P, N>,
    gen: u64,
    outcome: Outcome,
}

impl<P: Platform, const N: usize> Held<'_, P, N> {
    /// The generation's summary.
    pub fn outcome(&self) -> &Outcome {
        &self.outcome
    }

    /// How `cpu` ended up in this generation.
    pub fn how(&self, cpu: u32) -> How {
        self.cs.how(cpu, self.gen)
    }

    /// Whether `cpu` answered after it was given up on (its `how` is
    /// [`How::Missing`]) and was held until the release. Final only in the
    /// `finish` step of [`CrashStop::run_full`].
    pub fn late(&self, cpu: u32) -> bool {
        self.cs
            .slots
            .get(cpu as usize)
            .is_some_and(|s| s.late.load(Ordering::Acquire) == self.gen)
    }

    /// Calls `f` with the record of `cpu` if it is stopped in this
    /// generation; returns `None` otherwise.
    pub fn with_record<T>(&self, cpu: u32, f: impl FnOnce(&P::Record) -> T) -> Option<T> {
        if !self.how(cpu).is_stopped() {
            return None;
        }
        // SAFETY: the word (read with Acquire in `how`) says the record is
        // complete; its owner writes it only while `SAVING`, and nobody
        // writes it again until the next generation, which cannot start
        // while this monarch holds the election.
        Some(self.cs.slots[cpu as usize].rec.with(|r| f(unsafe { &*r })))
    }
}

impl<P: Platform, const N: usize> CrashStop<P, N> {
    const_ctor! {
        /// A protocol state with no crash stop in progress.
        pub fn new() -> Self {
            CrashStop {
                monarch: AtomicU32::new(NO_MONARCH),
                generation: AtomicU64::new(0),
                current: AtomicU64::new(0),
                released: AtomicU64::new(0),
                stay_gen: AtomicU64::new(0),
                handoff_gen: AtomicU64::new(0),
                start_ns: AtomicU64::new(0),
                payload: UnsafeCell::new(P::EMPTY_PAYLOAD),
                held_gen: AtomicU64::new(0),
                nest_gen: AtomicU64::new(0),
                nested: UnsafeCell::new(P::EMPTY_PAYLOAD),
                outcome: UnsafeCell::new(Outcome {
                    generation: 0,
                    monarch: 0,
                    stopped: 0,
                    by_nmi: 0,
                    escalated: 0,
                    missing: 0,
                    late: 0,
                    offline: 0,
                    parked: 0,
                    gather_ns: 0,
                }),
                slots: array_of!(Slot::new(P::EMPTY_RECORD); N),
            }
        }
    }

    /// The slots of the CPU ids in use: `nr_cpu_ids`, not `N`.
    fn active(&self, p: &P) -> &[Slot<P::Record>] {
        let nr = (p.nr_cpus() as usize).min(N);
        &self.slots[..nr]
    }

    /// The monarch CPU, or `None` if no crash stop is in progress.
    pub fn monarch(&self) -> Option<u32> {
        self.monarch.load(Ordering::Acquire).checked_sub(1)
    }

    /// The last generation started (0 if none ever was).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// How `cpu` ended up in generation `gen`; [`How::None`] if its slot
    /// does not belong to `gen` (or is still being gathered).
    pub fn how(&self, cpu: u32, gen: u64) -> How {
        let Some(slot) = self.slots.get(cpu as usize) else {
            return How::None;
        };
        let word = slot.word.load(Ordering::Acquire);
        if gen_of(word) != gen {
            return How::None;
        }
        How::from_code(code_of(word))
    }

    /// Whether `cpu` answered late in generation `gen` (see [`Held::late`]).
    pub fn was_late(&self, cpu: u32, gen: u64) -> bool {
        self.slots
            .get(cpu as usize)
            .is_some_and(|s| s.late.load(Ordering::Acquire) == gen)
    }

    /// Calls `f` with the record `cpu` saved in generation `gen`, if it is
    /// stopped there and no later generation has started.
    ///
    /// Meant for reading the table after a stay-stopped return; the record
    /// may be rewritten by the next crash stop, so callers should read it
    /// while no other crash stop can start.
    pub fn with_record<T>(&self, cpu: u32, gen: u64, f: impl FnOnce(&P::Record) -> T) -> Option<T> {
        if self.current.load(Ordering::Acquire) != 0 || self.generation() != gen {
            return None;
        }
        if !self.how(cpu, gen).is_stopped() {
            return None;
        }
        // SAFETY: as in `Held::with_record`: the record of a stopped CPU is
        // complete and nobody writes it until a new generation starts, which
        // we checked had not happened (a racing new generation is the
        // caller's documented responsibility).
        Some(self.slots[cpu as usize].rec.with(|r| f(unsafe { &*r })))
    }

    /// Brings every other online CPU to a stop with the calling CPU as the
    /// monarch, runs `callback` on it, then releases (or parks) the others.
    ///
    /// The caller must have interrupts (and so preemption) disabled. `ctx`
    /// describes the caller's own state for its record.
    pub fn run<T>(
        &self,
        p: &P,
        params: &Params<P::Payload>,
        ctx: P::Ctx,
        callback: impl FnOnce(&Held<'_, P, N>) -> T,
    ) -> Result<(Outcome, T), Error> {
        self.run_full(p, params, ctx, callback, |_, _| {})
    }

    /// [`CrashStop::run`], plus a `finish` step that runs on the monarch
    /// after the release, once every slave has left (or parked), and before
    /// the election is given back: the table and the late arrivals
    /// ([`Held::late`]) are final there, and no other crash stop can start.
    ///
    /// A stay-stopped call made by the monarch from its own callback (a
    /// panic during a debugger session, a dump taken because the callback
    /// crashed) does not fail as `Nested`: the CPUs already held run its
    /// per-CPU step ([`Platform::stopped`] with the new payload and the
    /// frames they were stopped in), then its callback runs with the same
    /// table, then the held CPUs are parked for good, and it returns; the
    /// outer call goes on when (if ever) its callback returns.
    pub fn run_full<T>(
        &self,
        p: &P,
        params: &Params<P::Payload>,
        ctx: P::Ctx,
        callback: impl FnOnce(&Held<'_, P, N>) -> T,
        finish: impl FnOnce(&Held<'_, P, N>, &mut T),
    ) -> Result<(Outcome, T), Error> {
        let me = p.this_cpu();
        if me as usize >= N || me >= p.nr_cpus() || (params.handoff && params.stay) {
            return Err(Error::Invalid);
        }
        let seen = self.released.load(Ordering::Acquire);
        loop {
            match self.monarch.compare_exchange(
                NO_MONARCH,
                monarch_word(me),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    if let Some(err) = self.stopped_during_call(me, seen) {
                        // Not a fresh caller: give the election back.
                        self.monarch.store(NO_MONARCH, Ordering::Release);
                        return Err(err);
                    }
                    break;
                }
                Err(m) if m == monarch_word(me) => {
                    if params.stay {
                        if let Some(r) = self.nested_stay(p, params, callback, finish) {
                            return r;
                        }
                    }
                    return Err(Error::Nested);
                }
                Err(_) => {
                    if let Some(err) = self.lost_election(p, me, seen, ctx) {
                        return Err(err);
                    }
                    p.relax();
                }
            }
        }

        let gen = self.generation.load(Ordering::Relaxed) + 1;
        self.generation.store(gen, Ordering::Release);
        let out = self.gather(p, me, gen, params, ctx);
        let mut held = Held {
            cs: self,
            gen,
            outcome: out,
        };
        // SAFETY: only the monarch CPU touches `outcome` (see its doc).
        self.outcome.with_mut(|o| unsafe { *o = out });
        self.held_gen.store(gen, Ordering::Release);
        let mut value = callback(&held);
        self.held_gen.store(0, Ordering::Release);
        self.release(p, gen, params.stay);
        held.outcome.late = self.active(p).iter().fold(0, |n, s| {
            n + u32::from(s.late.load(Ordering::Acquire) == gen)
        });
        finish(&held, &mut value);
        self.current.store(0, Ordering::Release);
        self.monarch.store(NO_MONARCH, Ordering::Release);
        p.released(params.stay);
        Ok((held.outcome, value))
    }

    /// Serves a stay-stopped call of the monarch from its own callback (see
    /// [`CrashStop::run_full`]); `None` if there is no held generation to
    /// serve it with (then the call fails as `Nested`).
    fn nested_stay<T>(
        &self,
        p: &P,
        params: &Params<P::Payload>,
        callback: impl FnOnce(&Held<'_, P, N>) -> T,
        finish: impl FnOnce(&Held<'_, P, N>, &mut T),
    ) -> Option<Result<(Outcome, T), Error>> {
        let gen = self.current.load(Ordering::Acquire);
        if gen == 0
            || self.held_gen.load(Ordering::Acquire) != gen
            || self.nest_gen.load(Ordering::Acquire) == gen
        {
            return None;
        }
        // SAFETY: see `CrashStop::nested`: we are the monarch, and this is
        // the generation's only nested request (checked above).
        self.nested.with_mut(|pl| unsafe { *pl = params.payload });
        // SeqCst: pairs with the check in `wait_release()` (see `wake()`).
        self.nest_gen.store(gen, Ordering::SeqCst);
        self.wake(p, gen);
        let now = p.now_ns();
        // Wake again well within the wait, whatever its length.
        let rewake = Rewake::new(p, REWAKE_NS.min(params.nmi_wait_ns / 4));
        self.wait_while(p, now, params.nmi_wait_ns, || {
            rewake.tick(self, p, gen);
            self.any_nest_pending(p, gen)
        });
        // SAFETY: only the monarch CPU touches `outcome`.
        let outcome = self.outcome.with(|o| unsafe { *o });
        let mut held = Held {
            cs: self,
            gen,
            outcome,
        };
        let mut value = callback(&held);
        self.release(p, gen, true);
        held.outcome.late = self.active(p).iter().fold(0, |n, s| {
            n + u32::from(s.late.load(Ordering::Acquire) == gen)
        });
        finish(&held, &mut value);
        Some(Ok((held.outcome, value)))
    }

    /// Whether a CPU stopped in `gen`, still held, has not run the nested
    /// request yet.
    fn any_nest_pending(&self, p: &P, gen: u64) -> bool {
        self.active(p).iter().any(|s| {
            let w = s.word.load(Ordering::Acquire);
            gen_of(w) == gen
                && matches!(
                    How::from_code(code_of(w)),
                    How::Ipi | How::Nmi | How::Caller
                )
                && s.left.load(Ordering::Acquire) != gen
                && s.crashed.load(Ordering::Acquire) != gen
                && s.nest_ack.load(Ordering::Acquire) != gen
        })
    }

    /// Whether this CPU's own slot forbids it to become the monarch after
    /// it won the election: `Nested` when it is parked (only an NMI on top
    /// of the park loop can call), `Busy` when it was stopped, or given up
    /// on, in a generation that began during this call (`seen` is the last
    /// generation released when the call began).
    fn stopped_during_call(&self, me: u32, seen: u64) -> Option<Error> {
        let slot = &self.slots[me as usize];
        if slot.parked.load(Ordering::Acquire) {
            return Some(Error::Nested);
        }
        let word = slot.word.load(Ordering::Acquire);
        let gen = gen_of(word);
        match How::from_code(code_of(word)) {
            How::Ipi | How::Nmi | How::Caller | How::Missing if gen > seen => Some(Error::Busy),
            _ => None,
        }
    }

    /// Election lost: stop like a slave once the winner's generation is
    /// open. `Some(err)` ends the call; `None` means try the election again.
    fn lost_election(&self, p: &P, me: u32, seen: u64, ctx: P::Ctx) -> Option<Error> {
        let slot = &self.slots[me as usize];
        let word = slot.word.load(Ordering::Acquire);
        let gen = gen_of(word);
        if slot.holding.load(Ordering::Relaxed) == gen
            && code_of(word) != How::Monarch as u8
            && slot.left.load(Ordering::Acquire) != gen
        {
            // Held lower on this CPU's stack (stopped, saving, or late).
            return Some(Error::Nested);
        }
        if How::from_code(code_of(word)).is_stopped()
            && code_of(word) != How::Monarch as u8
            && slot.left.load(Ordering::Acquire) != gen
        {
            // Our own stopped context is below us on this CPU (a callback,
            // or an NMI on top of it), even in the release window.
            return Some(Error::Nested);
        }
        if gen <= seen {
            // Not (yet) part of a generation that began after our call.
            return None;
        }
        match code_of(word) {
            REQUESTED if self.current.load(Ordering::Acquire) == gen => {
                if self.arrive(p, me, gen, How::Caller, ctx) {
                    Some(Error::Busy)
                } else {
                    None
                }
            }
            SAVING => Some(Error::Nested),
            c if How::from_code(c).is_stopped() => {
                // We were stopped (by the IPI or NMI) during this call and
                // have left (checked above).
                Some(Error::Busy)
            }
            c if c == How::Missing as u8 => {
                // We did not answer in time; do not run until released.
                if slot.left.load(Ordering::Acquire) != gen && self.enter(slot, gen) {
                    self.held_late(p, me, gen, How::Caller);
                }
                Some(Error::Busy)
            }
            _ => None,
        }
    }

    /// Spins while `pending()` for at most `wait_ns` from `since`, by the
    /// clock and by a count of [`Platform::relax`] calls. Returns whether
    /// `pending()` became false.
    fn wait_while(&self, p: &P, since: u64, wait_ns: u64, pending: impl Fn() -> bool) -> bool {
        let deadline = since.saturating_add(wait_ns);
        let max_spins = wait_ns / P::RELAX_MIN_NS.max(1) + 1;
        let mut spins = 0u64;
        loop {
            if !pending() {
                return true;
            }
            if spins >= max_spins || p.now_ns() >= deadline {
                return false;
            }
            p.relax();
            spins += 1;
        }
    }

    /// Prepares generation `gen`, asks every other CPU to stop and waits
    /// for them with IPI -> NMI escalation.
    fn gather(
        &self,
        p: &P,
        me: u32,
        gen: u64,
        params: &Params<P::Payload>,
        ctx: P::Ctx,
    ) -> Outcome {
        let start = p.now_ns();
        let mut out = Outcome {
            generation: gen,
            monarch: me,
            ..Outcome::default()
        };
        self.start_ns.store(start, Ordering::Relaxed);
        // Read by the slaves after `current` (Release below).
        self.handoff_gen
            .store(if params.handoff { gen } else { 0 }, Ordering::Relaxed);
        // SAFETY: see `CrashStop::payload`: every CPU that entered the
        // previous generation has left it (`release` waited for them), and
        // the slaves of `gen` read it only after the Release store of
        // `current` below.
        self.payload.with_mut(|pl| unsafe { *pl = params.payload });

        let slots = self.active(p);
        for (cpu, slot) in (0u32..).zip(slots) {
            let code = if cpu == me {
                SAVING
            } else if slot.parked.load(Ordering::Acquire) {
                out.parked += 1;
                How::Parked as u8
            } else if !p.cpu_online(cpu) {
                out.offline += 1;
                How::Offline as u8
            } else {
                REQUESTED
            };
            slot.word.store(pack(gen, code), Ordering::Release);
        }
        let own = &self.slots[me as usize];
        own.holding.store(gen, Ordering::Relaxed);
        // SAFETY: our own slot is `SAVING` and no other CPU writes or reads
        // a `SAVING` record.
        own.rec
            .with_mut(|r| p.capture(unsafe { &mut *r }, me, How::Monarch, 0, ctx));
        own.word
            .store(pack(gen, How::Monarch as u8), Ordering::Release);

        // Open the gather: from here on handlers act for `gen`.
        self.current.store(gen, Ordering::Release);

        for_each_requested(slots, gen, |_, slot| {
            slot.ipi_gen.store(gen, Ordering::Release);
        });
        // Every other online CPU is requested unless some are parked, or
        // beyond the table.
        let all = out.parked == 0 && p.nr_cpus() as usize <= N;
        if !(all && p.send_to_others(false)) {
            for_each_requested(slots, gen, |cpu, _| p.send_ipi(cpu));
        }
        let mut done = self.wait_while(p, start, params.ipi_wait_ns, || self.any_pending(p, gen));

        if !done {
            let esc = p.now_ns();
            for_each_requested(slots, gen, |cpu, slot| {
                slot.nmi_gen.store(gen, Ordering::Release);
                slot.nmi_sent.fetch_add(1, Ordering::AcqRel);
                p.send_nmi(cpu);
                out.escalated += 1;
            });
            done = self.wait_while(p, esc, params.nmi_wait_ns, || self.any_pending(p, gen));
        }

        if !done {
            // Give up on CPUs that never claimed their slot ...
            self.give_up(p, gen, REQUESTED);
            // ... and give the ones caught while saving one more wait.
            let now = p.now_ns();
            self.wait_while(p, now, params.nmi_wait_ns, || self.any_saving(p, gen));
            self.give_up(p, gen, SAVING);
        }
        out.gather_ns = p.now_ns().saturating_sub(start);

        for (cpu, _) in (0u32..).zip(slots) {
            match self.how(cpu, gen) {
                How::Ipi | How::Caller => out.stopped += 1,
                How::Nmi => {
                    out.stopped += 1;
                    out.by_nmi += 1;
                }
                How::Missing => out.missing += 1,
                _ => {}
            }
        }
        out
    }

    /// Marks every slot still in state `code` of `gen` as missing. A CPU
    /// that moves its slot on concurrently wins the race (it is a CAS).
    fn give_up(&self, p: &P, gen: u64, code: u8) {
        for slot in self.active(p) {
            let _ = slot.word.compare_exchange(
                pack(gen, code),
                pack(gen, How::Missing as u8),
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
    }

    /// Whether a slot of `gen` is still `REQUESTED` or `SAVING`.
    fn any_pending(&self, p: &P, gen: u64) -> bool {
        self.active(p).iter().any(|s| {
            let w = s.word.load(Ordering::Acquire);
            w == pack(gen, REQUESTED) || w == pack(gen, SAVING)
        })
    }

    fn any_saving(&self, p: &P, gen: u64) -> bool {
        self.active(p)
            .iter()
            .any(|s| s.word.load(Ordering::Acquire) == pack(gen, SAVING))
    }

    /// Whether a CPU that entered `gen` has not left it yet (and did not
    /// crash while held).
    fn any_still_inside(&self, p: &P, gen: u64) -> bool {
        self.active(p).iter().any(|s| {
            s.entered.load(Ordering::SeqCst) == gen
                && s.left.load(Ordering::Acquire) != gen
                && s.crashed.load(Ordering::Acquire) != gen
        })
    }

    /// Ends generation `gen`: resume or park the slaves, and wait until
    /// every CPU that entered it has left.
    fn release(&self, p: &P, gen: u64, stay: bool) {
        if stay {
            self.stay_gen.store(gen, Ordering::Release);
        }
        // SeqCst: pairs with `enter()`, see the module documentation.
        self.released.store(gen, Ordering::SeqCst);
        self.wake(p, gen);
        // Unbounded: a CPU that entered only runs the protocol's own code
        // (or a per-CPU callback, which must be bounded) until it leaves; a
        // CPU that crashed while held is marked by `crashed()`.
        let rewake = Rewake::new(p, REWAKE_NS);
        while self.any_still_inside(p, gen) {
            p.relax();
            rewake.tick(self, p, gen);
        }
    }

    /// Tells the CPUs held in `gen` that what they wait for changed: bumps
    /// every `kick` word, then wakes (with an NMI, accounted so that the
    /// handler claims it) each CPU that waits halted. Called after the
    /// change was stored with `SeqCst`; pairs with `wait_release()`.
    ///
    /// When every other online CPU waits halted (the usual case), one
    /// broadcast NMI wakes them all ([`Platform::send_to_others`]).
    fn wake(&self, p: &P, gen: u64) {
        let me = p.this_cpu();
        let slots = self.active(p);
        let mut all = p.nr_cpus() as usize <= N;
        for (cpu, slot) in (0u32..).zip(slots) {
            slot.kick.fetch_add(1, Ordering::SeqCst);
            all = all
                && (cpu == me || !p.cpu_online(cpu) || slot.sleeping.load(Ordering::SeqCst) == gen);
        }
        if all {
            // Counted before the NMI is sent, so that the handler claims
            // it, also on a CPU that woke and left meanwhile.
            let others = || {
                (0u32..)
                    .zip(slots)
                    .filter(move |&(cpu, _)| cpu != me && p.cpu_online(cpu))
            };
            for (_, slot) in others() {
                slot.nmi_sent.fetch_add(1, Ordering::Release);
            }
            if !p.send_to_others(true) {
                for (cpu, _) in others() {
                    p.send_nmi(cpu);
                }
            }
            return;
        }
        for (cpu, slot) in (0u32..).zip(slots) {
            if slot.sleeping.load(Ordering::SeqCst) == gen {
                slot.nmi_sent.fetch_add(1, Ordering::Release);
                p.send_nmi(cpu);
            }
        }
    }

    /// The CPUs that still wait halted in `gen` (announced `sleeping` and
    /// not left), with their numbers.
    fn sleepers<'a>(&'a self, p: &P, gen: u64) -> impl Iterator<Item = (u32, &'a Slot<P::Record>)> {
        (0u32..).zip(self.active(p)).filter(move |(_, s)| {
            s.sleeping.load(Ordering::SeqCst) == gen && s.left.load(Ordering::Acquire) != gen
        })
    }

    /// Sends another wake-up NMI to each CPU that still waits halted in
    /// `gen` (its first one may have landed before its halt).
    fn rewake(&self, p: &P, gen: u64) {
        for (cpu, slot) in self.sleepers(p, gen) {
            slot.nmi_sent.fetch_add(1, Ordering::Release);
            p.send_nmi(cpu);
        }
    }

    /// Whether a CPU still waits halted in `gen`.
    fn any_sleeping(&self, p: &P, gen: u64) -> bool {
        self.sleepers(p, gen).next().is_some()
    }

    /// Abandons the generation held by the calling CPU after it crashed
    /// inside the callback: the slaves are resumed so that the kernel's own
    /// oops/panic handling can run. Returns whether there was one to abort.
    pub fn abort_on_crash(&self, p: &P) -> bool {
        let me = p.this_cpu();
        if self.monarch.load(Ordering::Acquire) != monarch_word(me) {
            return false;
        }
        let gen = self.current.load(Ordering::Acquire);
        if gen == 0 {
            return false;
        }
        self.released.store(gen, Ordering::SeqCst);
        self.wake(p, gen);
        // Bounded: the monarch is crashing; make sure no CPU sleeps through
        // its wake-up, but do not wait for the others to leave.
        let rewake = Rewake::new(p, REWAKE_NS);
        let now = p.now_ns();
        self.wait_while(p, now, 10 * REWAKE_NS, || {
            rewake.tick(self, p, gen);
            self.any_sleeping(p, gen)
        });
        self.current.store(0, Ordering::Release);
        self.monarch.store(NO_MONARCH, Ordering::Release);
        true
    }

    /// Called on a CPU that crashes (oopses) while it is inside the running
    /// generation as a slave, e.g. in its per-CPU callback: the monarch
    /// will not wait for it to leave. Returns whether it was inside.
    pub fn crashed(&self, p: &P) -> bool {
        let me = p.this_cpu();
        let Some(slot) = self.slots.get(me as usize) else {
            return false;
        };
        let gen = self.current.load(Ordering::Acquire);
        if gen == 0
            || self.monarch.load(Ordering::Acquire) == monarch_word(me)
            || slot.entered.load(Ordering::SeqCst) != gen
            || slot.left.load(Ordering::Acquire) == gen
        {
            return false;
        }
        slot.crashed.store(gen, Ordering::Release);
        true
    }

    /// Called from the crash_stop IPI handler. Returns whether it stopped
    /// the CPU for a generation.
    #[inline(always)]
    pub fn on_ipi(&self, p: &P, ctx: P::Ctx) -> bool {
        let me = p.this_cpu();
        let Some(slot) = self.active(p).get(me as usize) else {
            return false;
        };
        let sent = slot.ipi_gen.swap(0, Ordering::AcqRel);
        self.on_request(p, me, sent, How::Ipi, ctx)
    }

    /// Called from the NMI handler. Returns whether the NMI was sent by
    /// crash_stop (then the handler must claim it), whether or not it is
    /// stale.
    #[inline(always)]
    pub fn on_nmi(&self, p: &P, ctx: P::Ctx) -> bool {
        let me = p.this_cpu();
        let Some(slot) = self.active(p).get(me as usize) else {
            return false;
        };
        let sent = slot.nmi_gen.swap(0, Ordering::AcqRel);
        // A CPU takes one NMI at a time and latches one more: a second NMI
        // of ours can arrive after the first one emptied `nmi_gen`. Claim
        // it while NMIs we sent are unaccounted for, so that it is not
        // reported as an unknown NMI. (If the hardware merged two of ours,
        // the surplus is consumed by the next NMI with an empty mailbox.)
        if sent == 0
            && slot.nmi_taken.load(Ordering::Relaxed) >= slot.nmi_sent.load(Ordering::Acquire)
        {
            return false;
        }
        slot.nmi_taken.fetch_add(1, Ordering::Relaxed);
        self.on_request(p, me, sent, How::Nmi, ctx);
        true
    }

    /// Called by a CPU looping in NMI context, which can take neither the
    /// IPI nor the NMI: if the generation being gathered waits for it, it
    /// stops now, as if by NMI (or waits as a late CPU if it was given up
    /// on). Returns whether it was stopped.
    #[inline(always)]
    pub fn on_poll(&self, p: &P, ctx: P::Ctx) -> bool {
        let me = p.this_cpu();
        let Some(slot) = self.active(p).get(me as usize) else {
            return false;
        };
        let gen = self.current.load(Ordering::Acquire);
        let word = slot.word.load(Ordering::Acquire);
        if gen == 0
            || (word != pack(gen, REQUESTED) && word != pack(gen, How::Missing as u8))
            || slot.left.load(Ordering::Acquire) == gen
        {
            return false;
        }
        self.arrive(p, me, gen, How::Nmi, ctx)
    }

    #[inline(always)]
    fn on_request(&self, p: &P, me: u32, sent: u64, how: How, ctx: P::Ctx) -> bool {
        let gen = self.current.load(Ordering::Acquire);
        if sent == 0 || gen == 0 || sent != gen {
            // Nothing pending, or a stale interrupt from an earlier
            // generation: consume it and change nothing.
            return false;
        }
        self.arrive(p, me, gen, how, ctx)
    }

    /// Marks this CPU as inside `gen`, unless `gen` is already released
    /// (then it marks itself as left and returns false: it must not touch
    /// the generation's state). SeqCst: pairs with `release()`.
    #[inline(always)]
    fn enter(&self, slot: &Slot<P::Record>, gen: u64) -> bool {
        slot.entered.store(gen, Ordering::SeqCst);
        if self.released.load(Ordering::SeqCst) >= gen {
            slot.left.store(gen, Ordering::Release);
            return false;
        }
        true
    }

    /// Claims this CPU's slot for `gen`, records it, runs the per-CPU
    /// callback, publishes the record and waits for release. A CPU found
    /// given up on waits for the release as a late one. Returns false if
    /// the CPU was not stopped by this call (already held lower on its own
    /// stack, or the generation is over).
    #[inline(always)]
    fn arrive(&self, p: &P, me: u32, gen: u64, how: How, ctx: P::Ctx) -> bool {
        let slot = &self.slots[me as usize];
        if slot.holding.load(Ordering::Relaxed) == gen {
            // An interrupt on top of our own stop (or of our monarch).
            return false;
        }
        if !self.enter(slot, gen) {
            return false;
        }
        if let Err(word) = slot.word.compare_exchange(
            pack(gen, REQUESTED),
            pack(gen, SAVING),
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            if word == pack(gen, How::Missing as u8) {
                // Given up on before we answered: stay out of the way
                // until the release all the same.
                self.held_late(p, me, gen, how);
                return true;
            }
            // Not ours to stop (cannot happen while `holding` is not
            // `gen`); leave the generation as we found it.
            slot.left.store(gen, Ordering::Release);
            return false;
        }
        slot.holding.store(gen, Ordering::Relaxed);
        let t = p
            .now_ns()
            .saturating_sub(self.start_ns.load(Ordering::Relaxed));
        slot.rec.with_mut(
            // Not left to the inliner (which has put it out of line): the
            // stopping path must stay inside the kprobe-blacklisted entry
            // points (tools/testing/crash_stop/nokprobe-check.py).
            #[inline(always)]
            // SAFETY: our slot is `SAVING`: only this CPU touches the record.
            |r| p.capture(unsafe { &mut *r }, me, how, t, ctx),
        );
        if self.handoff_gen.load(Ordering::Relaxed) == gen {
            return self.hand_off(p, me, gen, how, ctx);
        }
        self.payload.with(|pl| {
            slot.rec.with(|r| {
                // SAFETY: we entered `gen`, so the payload is this
                // generation's (see `CrashStop::payload`); our record is
                // complete and only read from now on.
                let (rec, payload) = unsafe { (&*r, &*pl) };
                p.stopped(me, rec, ctx, payload)
            })
        });
        if slot
            .word
            .compare_exchange(
                pack(gen, SAVING),
                pack(gen, how as u8),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_err()
        {
            // The monarch gave up on us while we were saving: we are late.
            self.held_late(p, me, gen, how);
            return true;
        }
        self.wait_release(p, me, gen, how, Some(ctx));
        true
    }

    /// The rest of `arrive()` for a handed-off generation: publish, leave
    /// the generation, then run the per-CPU step on copies of the record
    /// and payload (the next generation may rewrite both meanwhile).
    #[inline(always)]
    fn hand_off(&self, p: &P, me: u32, gen: u64, how: How, ctx: P::Ctx) -> bool {
        let slot = &self.slots[me as usize];
        // SAFETY: our slot is still `SAVING`: only this CPU touches the
        // record; we entered `gen`, so the payload is this generation's.
        let (rec, payload) = slot
            .rec
            .with(|r| self.payload.with(|pl| unsafe { (*r, *pl) }));
        if slot
            .word
            .compare_exchange(
                pack(gen, SAVING),
                pack(gen, how as u8),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_err()
        {
            self.held_late(p, me, gen, how);
            return true;
        }
        // Last access to the generation's state.
        slot.left.store(gen, Ordering::Release);
        p.stopped(me, &rec, ctx, &payload);
        p.resumed();
        true
    }

    /// Waits for the release as a CPU that answered after the give-up.
    #[inline(always)]
    fn held_late(&self, p: &P, me: u32, gen: u64, how: How) {
        let slot = &self.slots[me as usize];
        slot.holding.store(gen, Ordering::Relaxed);
        slot.late.store(gen, Ordering::Release);
        self.wait_release(p, me, gen, how, None);
    }

    /// Waits until `gen` is released, then marks the slot as left; parks
    /// for good if `gen` was released in stay-stopped mode. A stopped CPU
    /// (`ctx` is its stopped context) runs a nested stay-stopped request of
    /// its monarch meanwhile (see [`CrashStop::run_full`]). It waits halted
    /// if the platform allows it for a CPU stopped `how`, else it spins.
    #[inline(always)]
    fn wait_release(&self, p: &P, me: u32, gen: u64, how: How, ctx: Option<P::Ctx>) {
        let slot = &self.slots[me as usize];
        let halt = p.may_halt(how);
        while self.released.load(Ordering::Acquire) < gen {
            if let Some(ctx) = ctx {
                if self.nest_gen.load(Ordering::Acquire) == gen
                    && slot.nest_ack.load(Ordering::Relaxed) != gen
                {
                    self.nested.with(|pl| {
                        slot.rec.with(|r| {
                            // SAFETY: `nested` was written once for `gen`,
                            // before the Release store of `nest_gen` we read;
                            // our record is published and not written again
                            // in `gen`.
                            let (rec, payload) = unsafe { (&*r, &*pl) };
                            p.stopped(me, rec, ctx, payload)
                        })
                    });
                    slot.nest_ack.store(gen, Ordering::Release);
                }
            }
            if halt {
                // Announce, read `kick`, then look (all SeqCst; `wake()`
                // stores the change, bumps `kick`, then reads `sleeping`).
                // If the monarch misses our announcement, its bump came
                // before our read of `kick`, so we see its change below;
                // else it sends the NMI (and sends more while we sleep, in
                // case the first one lands before our halt). The look must
                // come after the read of `kick`.
                slot.sleeping.store(gen, Ordering::SeqCst);
                let kick = slot.kick.load(Ordering::SeqCst);
                let nest_pending = ctx.is_some()
                    && self.nest_gen.load(Ordering::SeqCst) == gen
                    && slot.nest_ack.load(Ordering::Relaxed) != gen;
                if self.released.load(Ordering::SeqCst) < gen && !nest_pending {
                    p.halt_while(&slot.kick, kick);
                }
                slot.sleeping.store(0, Ordering::Relaxed);
                if self.released.load(Ordering::Acquire) >= gen {
                    // Woken for the release: leave without another step.
                    break;
                }
            }
            p.relax();
        }
        if self.stay_gen.load(Ordering::Acquire) == gen {
            slot.parked.store(true, Ordering::Release);
            slot.left.store(gen, Ordering::Release);
            p.park();
            return;
        }
        // Last access to shared state in this generation.
        slot.left.store(gen, Ordering::Release);
        p.resumed();
    }
}

impl<P: Platform, const N: usize> Default for CrashStop<P, N> {
    fn default() -> Self {
        Self::new()
    }
}

/// Paces the monarch's repeated wake-up NMIs (every `interval_ns`, at most
/// [`REWAKE_NS`]), by the clock and by a count of [`Platform::relax`]
/// calls like every wait.
struct Rewake {
    interval_ns: u64,
    last_ns: core::cell::Cell<u64>,
    spins: core::cell::Cell<u64>,
}

impl Rewake {
    fn new<P: Platform>(p: &P, interval_ns: u64) -> Self {
        Rewake {
            interval_ns: interval_ns.max(1),
            last_ns: core::cell::Cell::new(p.now_ns()),
            spins: core::cell::Cell::new(0),
        }
    }

    /// Called once per wait step: every interval, wakes the sleepers of
    /// `gen` again.
    fn tick<P: Platform, const N: usize>(&self, cs: &CrashStop<P, N>, p: &P, gen: u64) {
        let spins = self.spins.get() + 1;
        let now = p.now_ns();
        if spins >= self.interval_ns / P::RELAX_MIN_NS.max(1)
            || now.wrapping_sub(self.last_ns.get()) >= self.interval_ns
        {
            cs.rewake(p, gen);
            self.last_ns.set(now);
            self.spins.set(0);
        } else {
            self.spins.set(spins);
        }
    }
}

fn for_each_requested<R>(slots: &[Slot<R>], gen: u64, mut f: impl FnMut(u32, &Slot<R>)) {
    for (cpu, slot) in (0u32..).zip(slots) {
        if slot.word.load(Ordering::Acquire) == pack(gen, REQUESTED) {
            f(cpu, slot);
        }
    }
}
