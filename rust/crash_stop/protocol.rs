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
//! IPIs and NMIs carry the generation they were sent for in per-slot
//! mailboxes (`ipi_gen` / `nmi_gen`); a handler only acts when that
//! generation is the one being gathered, so stale interrupts from an earlier
//! generation are consumed and change nothing.
//!
//! Phases of one generation, as seen by the monarch:
//!
//! 1. *elect*: `monarch` CAS `NO_CPU -> me`;
//! 2. *prepare*: bump `generation`, mark slots, record itself, publish
//!    `current = g` (this opens the gather);
//! 3. *IPI*: send the maskable IPI, wait up to `ipi_wait_ns`;
//! 4. *NMI*: send an NMI to every CPU still `Requested`, wait up to
//!    `nmi_wait_ns`;
//! 5. *give up*: the rest become `Missing`;
//! 6. *held*: run the callback with a [`Held`] view of the table;
//! 7. *release*: publish `released = g` (and `stay_gen = g` to park the
//!    slaves for good), wait until every stopped slave has marked its slot
//!    `left = g`, clear `current`, then `monarch`.
//!
//! Nothing here allocates, sleeps or takes a lock: every wait is a bounded
//! spin on atomics, except a slave's wait for its release, which is
//! unbounded by design (the monarch always releases, even when its
//! callback crashes, see [`CrashStop::abort_on_crash`]).

use crate::sync::{
    array_of, const_ctor, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering, UnsafeCell,
};

/// Value of [`CrashStop::monarch`] when no crash stop is in progress.
pub const NO_CPU: u32 = u32::MAX;

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
pub struct Params {
    /// How long to wait for the maskable IPI before escalating to NMI.
    pub ipi_wait_ns: u64,
    /// How long to wait for NMI answers before reporting CPUs missing.
    pub nmi_wait_ns: u64,
    /// Park the slaves for good after the callback instead of resuming them.
    pub stay: bool,
    /// Opaque value handed to [`Platform::stopped`] on every slave of this
    /// generation (the kernel passes its caller's arguments).
    pub payload: usize,
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
    /// CPUs that never answered.
    pub missing: u32,
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
    type Record;
    /// Context handed by the stopping CPU to [`Platform::capture`], e.g. the
    /// interrupted register frame.
    type Ctx: Copy;
    /// The value every record starts with.
    const EMPTY_RECORD: Self::Record;

    /// The calling CPU's number.
    fn this_cpu(&self) -> u32;
    /// Number of CPU ids in use (`nr_cpu_ids`); slots at or above it are
    /// left out of every generation.
    fn nr_cpus(&self) -> u32;
    /// Whether `cpu` is online (and so must be waited for).
    fn cpu_online(&self, cpu: u32) -> bool;
    /// A monotonic nanosecond clock that keeps running with interrupts off
    /// on every CPU.
    fn now_ns(&self) -> u64;
    /// Sends the maskable crash_stop IPI to `cpu`.
    fn send_ipi(&self, cpu: u32);
    /// Sends an NMI to `cpu`.
    fn send_nmi(&self, cpu: u32);
    /// One iteration of a wait loop (cpu_relax, keep watchdogs quiet).
    fn relax(&self);
    /// Fills `rec` for the calling CPU, stopped `how`, `t_ns` after start.
    fn capture(&self, rec: &mut Self::Record, cpu: u32, how: How, t_ns: u64, ctx: Self::Ctx);
    /// Runs on a slave once it is recorded, before it waits for release;
    /// `payload` is [`Params::payload`] of the generation.
    fn stopped(&self, cpu: u32, rec: &Self::Record, payload: usize);
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
    /// The last generation this CPU left (or parked in) after its release.
    left: AtomicU64,
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
                left: AtomicU64::new(0),
                rec: UnsafeCell::new(rec),
            }
        }
    }
}

/// The protocol state for a machine of at most `N` CPUs.
///
/// In the kernel there is exactly one, in a `static`; nothing is allocated.
pub struct CrashStop<P: Platform, const N: usize> {
    /// The monarch CPU, or [`NO_CPU`].
    monarch: AtomicU32,
    /// The last generation started.
    generation: AtomicU64,
    /// The generation being gathered or held, 0 when none.
    current: AtomicU64,
    /// The last generation released.
    released: AtomicU64,
    /// The last generation released in stay-stopped mode.
    stay_gen: AtomicU64,
    /// Start time of the current generation.
    start_ns: AtomicU64,
    /// [`Params::payload`] of the current generation.
    payload: AtomicUsize,
    slots: [Slot<P::Record>; N],
}

// SAFETY: the records are only reached through the slot protocol described
// on `Slot::rec`; everything else is atomics.
unsafe impl<P: Platform, const N: usize> Sync for CrashStop<P, N> where P::Record: Send {}

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
                monarch: AtomicU32::new(NO_CPU),
                generation: AtomicU64::new(0),
                current: AtomicU64::new(0),
                released: AtomicU64::new(0),
                stay_gen: AtomicU64::new(0),
                start_ns: AtomicU64::new(0),
                payload: AtomicUsize::new(0),
                slots: array_of!(Slot::new(P::EMPTY_RECORD); N),
            }
        }
    }

    /// The monarch CPU, or `None` if no crash stop is in progress.
    pub fn monarch(&self) -> Option<u32> {
        match self.monarch.load(Ordering::Acquire) {
            NO_CPU => None,
            cpu => Some(cpu),
        }
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
        params: &Params,
        ctx: P::Ctx,
        callback: impl FnOnce(&Held<'_, P, N>) -> T,
    ) -> Result<(Outcome, T), Error> {
        let me = p.this_cpu();
        if me as usize >= N {
            return Err(Error::Invalid);
        }
        let seen = self.released.load(Ordering::Acquire);
        loop {
            match self
                .monarch
                .compare_exchange(NO_CPU, me, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    if let Some(err) = self.stopped_during_call(me, seen) {
                        // Not a fresh caller: give the election back.
                        self.monarch.store(NO_CPU, Ordering::Release);
                        return Err(err);
                    }
                    break;
                }
                Err(m) if m == me => return Err(Error::Nested),
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
        let held = Held {
            cs: self,
            gen,
            outcome: out,
        };
        let value = callback(&held);
        self.release(p, gen, params.stay);
        Ok((out, value))
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
                self.wait_release(p, me, gen);
                Some(Error::Busy)
            }
            _ => None,
        }
    }

    /// Prepares generation `gen`, asks every other CPU to stop and waits
    /// for them with IPI -> NMI escalation.
    fn gather(&self, p: &P, me: u32, gen: u64, params: &Params, ctx: P::Ctx) -> Outcome {
        let start = p.now_ns();
        let mut out = Outcome {
            generation: gen,
            monarch: me,
            ..Outcome::default()
        };
        self.start_ns.store(start, Ordering::Relaxed);
        self.payload.store(params.payload, Ordering::Relaxed);

        let nr = p.nr_cpus();
        for (cpu, slot) in self.slots.iter().enumerate() {
            let cpu = cpu as u32;
            let code = if cpu >= nr {
                How::None as u8
            } else if cpu == me {
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
        // SAFETY: our own slot is `SAVING` and no other CPU writes or reads
        // a `SAVING` record.
        own.rec
            .with_mut(|r| p.capture(unsafe { &mut *r }, me, How::Monarch, 0, ctx));
        own.word
            .store(pack(gen, How::Monarch as u8), Ordering::Release);

        // Open the gather: from here on handlers act for `gen`.
        self.current.store(gen, Ordering::Release);

        for_each_requested(self, gen, |cpu, slot| {
            slot.ipi_gen.store(gen, Ordering::Release);
            p.send_ipi(cpu);
        });
        let mut done = self.wait_arrivals(p, gen, start.saturating_add(params.ipi_wait_ns));

        if !done {
            let esc = p.now_ns();
            for_each_requested(self, gen, |cpu, slot| {
                slot.nmi_gen.store(gen, Ordering::Release);
                slot.nmi_sent.fetch_add(1, Ordering::AcqRel);
                p.send_nmi(cpu);
                out.escalated += 1;
            });
            done = self.wait_arrivals(p, gen, esc.saturating_add(params.nmi_wait_ns));
        }

        if !done {
            // Give up on CPUs that never claimed their slot ...
            self.give_up(gen, REQUESTED);
            // ... and give the ones caught while saving one more wait.
            let grace = p.now_ns().saturating_add(params.nmi_wait_ns);
            while self.any_saving(gen) && p.now_ns() < grace {
                p.relax();
            }
            self.give_up(gen, SAVING);
        }
        out.gather_ns = p.now_ns().saturating_sub(start);

        for cpu in 0..N as u32 {
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
    fn give_up(&self, gen: u64, code: u8) {
        for slot in &self.slots {
            let _ = slot.word.compare_exchange(
                pack(gen, code),
                pack(gen, How::Missing as u8),
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
    }

    /// Waits until no slot of `gen` is still `REQUESTED` or `SAVING`, or
    /// until `deadline`. Returns whether everybody answered.
    fn wait_arrivals(&self, p: &P, gen: u64, deadline: u64) -> bool {
        loop {
            let pending = self.slots.iter().any(|s| {
                let w = s.word.load(Ordering::Acquire);
                w == pack(gen, REQUESTED) || w == pack(gen, SAVING)
            });
            if !pending {
                return true;
            }
            if p.now_ns() >= deadline {
                return false;
            }
            p.relax();
        }
    }

    /// Whether a slave recorded in `gen` has not yet left its wait loop.
    fn any_still_held(&self, gen: u64) -> bool {
        self.slots.iter().any(|s| {
            let w = s.word.load(Ordering::Acquire);
            gen_of(w) == gen
                && matches!(
                    How::from_code(code_of(w)),
                    How::Ipi | How::Nmi | How::Caller
                )
                && s.left.load(Ordering::Acquire) != gen
        })
    }

    fn any_saving(&self, gen: u64) -> bool {
        self.slots
            .iter()
            .any(|s| s.word.load(Ordering::Acquire) == pack(gen, SAVING))
    }

    /// Ends generation `gen`: resume or park the slaves, wait until they
    /// have all left their wait loop, and give up the election.
    fn release(&self, p: &P, gen: u64, stay: bool) {
        if stay {
            self.stay_gen.store(gen, Ordering::Release);
        }
        self.released.store(gen, Ordering::Release);
        // Slaves only need a few loads to leave; the bound only guards
        // against a slave that crashed while stopped.
        let deadline = p.now_ns().saturating_add(RELEASE_WAIT_NS);
        while self.any_still_held(gen) && p.now_ns() < deadline {
            p.relax();
        }
        self.current.store(0, Ordering::Release);
        self.monarch.store(NO_CPU, Ordering::Release);
        p.released(stay);
    }

    /// Abandons the generation held by the calling CPU after it crashed
    /// inside the callback: the slaves are resumed so that the kernel's own
    /// oops/panic handling can run. Returns whether there was one to abort.
    pub fn abort_on_crash(&self, p: &P) -> bool {
        let me = p.this_cpu();
        if self.monarch.load(Ordering::Acquire) != me {
            return false;
        }
        let gen = self.current.load(Ordering::Acquire);
        if gen == 0 {
            return false;
        }
        self.released.store(gen, Ordering::Release);
        self.current.store(0, Ordering::Release);
        self.monarch.store(NO_CPU, Ordering::Release);
        true
    }

    /// Called from the crash_stop IPI handler. Returns whether it stopped
    /// the CPU for a generation.
    pub fn on_ipi(&self, p: &P, ctx: P::Ctx) -> bool {
        let me = p.this_cpu();
        let Some(slot) = self.slots.get(me as usize) else {
            return false;
        };
        let sent = slot.ipi_gen.swap(0, Ordering::AcqRel);
        self.on_request(p, me, sent, How::Ipi, ctx)
    }

    /// Called from the NMI handler. Returns whether the NMI was sent by
    /// crash_stop (then the handler must claim it), whether or not it is
    /// stale.
    pub fn on_nmi(&self, p: &P, ctx: P::Ctx) -> bool {
        let me = p.this_cpu();
        let Some(slot) = self.slots.get(me as usize) else {
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

    fn on_request(&self, p: &P, me: u32, sent: u64, how: How, ctx: P::Ctx) -> bool {
        let gen = self.current.load(Ordering::Acquire);
        if sent == 0 || gen == 0 || sent != gen {
            // Nothing pending, or a stale interrupt from an earlier
            // generation: consume it and change nothing.
            return false;
        }
        self.arrive(p, me, gen, how, ctx)
    }

    /// Claims this CPU's slot for `gen`, records it, and waits for release.
    /// Returns false if the slot was not `REQUESTED` (already stopped, or
    /// given up on).
    fn arrive(&self, p: &P, me: u32, gen: u64, how: How, ctx: P::Ctx) -> bool {
        let slot = &self.slots[me as usize];
        if slot
            .word
            .compare_exchange(
                pack(gen, REQUESTED),
                pack(gen, SAVING),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_err()
        {
            return false;
        }
        let t = p
            .now_ns()
            .saturating_sub(self.start_ns.load(Ordering::Relaxed));
        // SAFETY: our slot is `SAVING`: only this CPU touches the record.
        slot.rec
            .with_mut(|r| p.capture(unsafe { &mut *r }, me, how, t, ctx));
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
            // Stay out of the way until the generation is over.
            self.wait_release(p, me, gen);
            return true;
        }
        let payload = self.payload.load(Ordering::Relaxed);
        // SAFETY: the record is complete and only read from now on.
        slot.rec.with(|r| p.stopped(me, unsafe { &*r }, payload));
        self.wait_release(p, me, gen);
        true
    }

    /// Spins until `gen` is released, then marks the slot as left; parks
    /// for good if `gen` was released in stay-stopped mode.
    fn wait_release(&self, p: &P, me: u32, gen: u64) {
        while self.released.load(Ordering::Acquire) < gen {
            p.relax();
        }
        let slot = &self.slots[me as usize];
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

/// Upper bound on the wait for slaves to leave after a release.
pub const RELEASE_WAIT_NS: u64 = 1_000_000_000;

fn for_each_requested<P: Platform, const N: usize>(
    cs: &CrashStop<P, N>,
    gen: u64,
    mut f: impl FnMut(u32, &Slot<P::Record>),
) {
    for (cpu, slot) in cs.slots.iter().enumerate() {
        if slot.word.load(Ordering::Acquire) == pack(gen, REQUESTED) {
            f(cpu as u32, slot);
        }
    }
}
