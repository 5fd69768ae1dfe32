// SPDX-License-Identifier: GPL-2.0

//! The platform loom explores (`--cfg loom` only): up to [`N`] CPUs, each a
//! loom thread.
//!
//! * [`Platform::now_ns`] is a per-CPU logical clock that advances by
//!   [`TICK_NS`] per call, so every timed wait of the protocol ends after a
//!   few iterations whatever the schedule (a CPU's clock is private to it:
//!   it adds no interleavings);
//! * [`Platform::relax`] is `loom::thread::yield_now()` plus interrupt
//!   polling: a pending NMI is taken unless the CPU is in NMI context or
//!   wedged, a pending IPI only with interrupts on;
//! * [`Platform::send_ipi`] / [`Platform::send_nmi`] only set a loom atomic
//!   pending flag that the target polls;
//! * records and the protocol's copy of the payload live in the protocol's
//!   `UnsafeCell`, i.e. loom's, so loom also reports any unsynchronized
//!   access to them;
//! * the caller of `run()` owns memory the per-CPU callbacks read
//!   ([`LoomMachine::caller_begin`] / [`LoomMachine::caller_end`], a loom
//!   `UnsafeCell` per CPU): loom reports a callback that reads it while the
//!   caller frees it after `run()` returned, and `stopped()` asserts it is
//!   not freed;
//! * every `stopped()` records that it ran in the CPU's "per-CPU callback
//!   done" cell (a loom `UnsafeCell`), which the models read from the
//!   monarch's callback ([`LoomMachine::cpufn_done`]);
//! * a machine can make `stopped()` slow (yields inside it) or crash (call
//!   `CrashStop::crashed()` and stay there until the model ends), and
//!   `capture()` slow (a yield while the slot is `SAVING`);
//! * a CPU may wait halted ([`CpuFn::halt`], off by default, so that the
//!   models also explore the spinning wait): [`Platform::halt_while`] is the
//!   kernel's `cmp; jne; hlt`. It compares the word; then an NMI already
//!   pending (it landed between the comparison and the `hlt`) is taken, and
//!   the CPU halts all the same (on x86-64 an NMI cannot be made to return
//!   to the comparison): it waits (yielding) until another NMI is pending
//!   (the monarch's repeated wake-up), takes it and returns. It never returns because the word changed;
//! * a payload can make `stopped()` a debugger's slave loop
//!   ([`LoomPayload::hold`]): it spins until [`LoomMachine::go`], taking
//!   NMIs and polling `CrashStop::on_poll` with the context it was stopped
//!   in, as kgdb's slave loop does in a hand-off generation.

use crate::protocol::{CrashStop, How, Platform};
use crate::sync::AtomicU64 as ProtoAtomicU64;
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::SeqCst};
use loom::sync::Arc;
use std::cell::Cell;

/// Size of the state table in the loom models.
pub const N: usize = 3;

/// Logical nanoseconds per `now_ns()` call.
pub const TICK_NS: u64 = 100_000_000;

/// The value [`LoomMachine::caller_end`] leaves in the caller's memory.
pub const FREED: u64 = 0xDEAD;

/// The protocol instance of a loom model.
pub type LoomCrashStop = CrashStop<LoomCpu, N>;

/// The loom record: who captured it, its register marker, how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoomRecord {
    /// CPU that captured it.
    pub cpu: u32,
    /// The CPU's register marker.
    pub marker: u64,
    /// How it was stopped.
    pub how: How,
}

/// The register marker of `cpu`: the context its `run()` calls and its
/// IPI handler hand to the protocol.
pub fn marker(cpu: u32) -> u64 {
    0xC5C5_0000 + u64::from(cpu)
}

/// The context `cpu`'s NMI handler hands to the protocol: its marker
/// with this bit (so that a per-CPU callback can check that it got the
/// context its CPU was stopped in).
pub const NMI_CTX: u64 = 1 << 32;

/// The context of `cpu`'s NMI-context loop that polls
/// ([`LoomCpu::nmi_poll`]): its marker with this bit.
pub const POLL_CTX: u64 = 1 << 33;

/// The CPU a context names.
pub fn ctx_cpu(ctx: u64) -> u32 {
    (ctx & 0xFFFF) as u32
}

/// The loom payload ([`Platform::Payload`]): the run number and the CPU
/// whose caller's memory the per-CPU callbacks read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoomPayload {
    /// Run number (the tests make it the generation they expect).
    pub run: u64,
    /// The calling CPU, whose [`LoomMachine::caller_begin`] memory the
    /// callbacks read (`u32::MAX`: none).
    pub caller: u32,
    /// `stopped()` is a debugger's slave loop (for hand-off generations):
    /// it spins until [`LoomMachine::go`], taking NMIs (and IPIs if its
    /// interrupts are on) and calling `CrashStop::on_poll` with its
    /// stopped context, then asserts that its record and payload (copies)
    /// are still those it was handed.
    pub hold: bool,
}

impl LoomPayload {
    /// The payload before the first generation.
    pub const EMPTY: LoomPayload = LoomPayload {
        run: 0,
        caller: u32::MAX,
        hold: false,
    };
}

/// Extra behaviour of one CPU's per-CPU callback.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuFn {
    /// `stopped()` yields this many times (reading the caller's memory
    /// after each).
    pub slow: u32,
    /// `stopped()` calls `CrashStop::crashed()` and then stays in it until
    /// [`LoomMachine::done`].
    pub crash: bool,
    /// `resumed()` and `park()` assert that the monarch's callback of the
    /// generation the CPU was held in has returned
    /// ([`LoomMachine::callback_done`]): a held CPU, late or not, never runs
    /// free during the hold.
    pub watch: bool,
    /// The return of an interrupt handler (or `on_poll`) that captured the
    /// CPU in a generation that then gave up on it (it was late) asserts
    /// that the monarch's callback of that generation has returned. (For
    /// hand-off generations, where `resumed()` legitimately runs during
    /// the hold of a CPU that was not late.)
    pub watch_late: bool,
    /// `capture()` yields once (while the slot is `SAVING`).
    pub slow_capture: bool,
    /// [`Platform::may_halt`]: the CPU waits for its release halted when
    /// held after it stopped by IPI or as a caller, not in NMI context.
    pub halt: bool,
}

/// Shared state of a loom model machine.
pub struct LoomMachine {
    /// The protocol state under test.
    pub cs: LoomCrashStop,
    ncpus: u32,
    online: [bool; N],
    ipi: [AtomicBool; N],
    nmi: [AtomicBool; N],
    /// Set by the test when the slaves' idle loops may end.
    pub done: AtomicBool,
    /// Number of finished callers (for the racing-callers models).
    pub finished: AtomicU32,
    /// Payload (run number) of the last generation whose `run()` returned.
    pub returned: AtomicU64,
    /// Monarchs inside their callback right now.
    pub in_callback: AtomicU32,
    /// Run number of the last monarch callback that returned (set by the
    /// models' callbacks).
    pub callback_done: AtomicU64,
    /// `stopped()` calls per CPU.
    pub stops: [AtomicU32; N],
    /// `resumed()` calls per CPU.
    pub resumes: [AtomicU32; N],
    /// Slaves that still spun after their monarch returned.
    pub late_spins: AtomicU32,
    /// CPUs that parked for good.
    pub parked: [AtomicBool; N],
    /// NMIs (all sent by crash_stop) that `on_nmi` did not claim.
    pub unclaimed_nmis: AtomicU32,
    /// What `crashed()` returned on each CPU whose callback crashed.
    pub crashed: [AtomicBool; N],
    /// Set by the test when `hold` per-CPU steps may return.
    pub go: AtomicBool,
    /// `hold` steps that started (they may still run).
    pub holds: [AtomicU32; N],
    /// Stops made by `CrashStop::on_poll` per CPU.
    pub poll_stops: [AtomicU32; N],
    /// Per CPU: in `halt_while()`, halted (after the comparison).
    pub halted: [AtomicBool; N],
    /// Halts (`hlt` reached) per CPU.
    pub halts: [AtomicU32; N],
    /// NMIs taken between the comparison of `halt_while()` and its halt
    /// (then compared again), per CPU.
    pub window_nmis: [AtomicU32; N],
    /// NMIs taken by a CPU outside any handler of its own (in its idle
    /// loop, after it left its generation), per CPU.
    pub idle_nmis: [AtomicU32; N],
    cpufn: [CpuFn; N],
    /// Per CPU: the run of the last `stopped()` that finished.
    cpufn_done: [UnsafeCell<u64>; N],
    /// Per CPU: memory owned by a `run()` caller on that CPU.
    caller_mem: [UnsafeCell<u64>; N],
}

// SAFETY: the `UnsafeCell`s are loom's: loom checks every access to them
// for data races; everything else is loom atomics or immutable.
unsafe impl Sync for LoomMachine {}

impl LoomMachine {
    /// A machine whose CPUs `0..online` are online.
    pub fn new(online: usize) -> Arc<LoomMachine> {
        Self::with_cpufn(online, [CpuFn::default(); N])
    }

    /// As [`LoomMachine::new`], with per-CPU callback behaviours.
    pub fn with_cpufn(online: usize, cpufn: [CpuFn; N]) -> Arc<LoomMachine> {
        Arc::new(LoomMachine {
            cs: LoomCrashStop::new(),
            ncpus: online as u32,
            online: core::array::from_fn(|i| i < online),
            ipi: core::array::from_fn(|_| AtomicBool::new(false)),
            nmi: core::array::from_fn(|_| AtomicBool::new(false)),
            done: AtomicBool::new(false),
            finished: AtomicU32::new(0),
            returned: AtomicU64::new(0),
            in_callback: AtomicU32::new(0),
            callback_done: AtomicU64::new(0),
            stops: core::array::from_fn(|_| AtomicU32::new(0)),
            resumes: core::array::from_fn(|_| AtomicU32::new(0)),
            late_spins: AtomicU32::new(0),
            parked: core::array::from_fn(|_| AtomicBool::new(false)),
            unclaimed_nmis: AtomicU32::new(0),
            crashed: core::array::from_fn(|_| AtomicBool::new(false)),
            go: AtomicBool::new(false),
            holds: core::array::from_fn(|_| AtomicU32::new(0)),
            poll_stops: core::array::from_fn(|_| AtomicU32::new(0)),
            halted: core::array::from_fn(|_| AtomicBool::new(false)),
            halts: core::array::from_fn(|_| AtomicU32::new(0)),
            window_nmis: core::array::from_fn(|_| AtomicU32::new(0)),
            idle_nmis: core::array::from_fn(|_| AtomicU32::new(0)),
            cpufn,
            cpufn_done: core::array::from_fn(|_| UnsafeCell::new(0)),
            caller_mem: core::array::from_fn(|_| UnsafeCell::new(FREED)),
        })
    }

    /// The caller on `cpu` sets up the memory its callbacks read, before
    /// it calls `run()` with `run`.
    pub fn caller_begin(&self, cpu: u32, run: u64) {
        // SAFETY: loom checks the access.
        self.caller_mem[cpu as usize].with_mut(|m| unsafe { *m = run });
    }

    /// The caller on `cpu` frees that memory once `run()` returned.
    pub fn caller_end(&self, cpu: u32) {
        // SAFETY: loom checks the access.
        self.caller_mem[cpu as usize].with_mut(|m| unsafe { *m = FREED });
    }

    /// The run of the last per-CPU callback `cpu` finished (read from the
    /// monarch's callback: loom checks that the callback's write
    /// happened-before).
    pub fn cpufn_done(&self, cpu: u32) -> u64 {
        // SAFETY: loom checks the access.
        self.cpufn_done[cpu as usize].with(|v| unsafe { *v })
    }
}

/// One loom CPU: lives on its own loom thread.
pub struct LoomCpu {
    id: u32,
    /// The machine.
    pub m: Arc<LoomMachine>,
    clock: Cell<u64>,
    irqs_off: Cell<bool>,
    in_nmi: Cell<bool>,
    /// Payload of the generation this CPU is held in, 0 if none.
    stopped_for: Cell<u64>,
    /// Generation of the last `capture()` on this CPU.
    captured_in: Cell<u64>,
    /// Interrupt handlers (and polls) this CPU is in.
    depth: Cell<u32>,
}

impl LoomCpu {
    /// The platform handle of `cpu` of `m` (to be moved into its thread).
    pub fn new(m: &Arc<LoomMachine>, cpu: u32) -> LoomCpu {
        LoomCpu {
            id: cpu,
            m: m.clone(),
            clock: Cell::new(0),
            irqs_off: Cell::new(false),
            in_nmi: Cell::new(false),
            stopped_for: Cell::new(0),
            captured_in: Cell::new(0),
            depth: Cell::new(0),
        }
    }

    /// Sets the CPU's interrupt flag.
    pub fn set_irqs_off(&self, off: bool) {
        self.irqs_off.set(off);
    }

    /// Puts the CPU in (or takes it out of) NMI context: NMIs are latched.
    pub fn set_in_nmi(&self, on: bool) {
        self.in_nmi.set(on);
    }

    /// Takes pending interrupts as the CPU's state allows.
    pub fn poll(&self) {
        let id = self.id as usize;
        let held = self.stopped_for.get();
        self.poll_nmi();
        if !self.irqs_off.get() && self.m.ipi[id].swap(false, SeqCst) {
            self.irqs_off.set(true);
            self.depth.set(self.depth.get() + 1);
            let captured = self.captured_in.replace(0);
            self.m.cs.on_ipi(self, marker(self.id));
            self.check_late_return(captured);
            self.depth.set(self.depth.get() - 1);
            self.irqs_off.set(false);
            self.stopped_for.set(held);
        }
    }

    /// Takes a pending NMI unless the CPU is in NMI context.
    fn poll_nmi(&self) {
        let id = self.id as usize;
        let held = self.stopped_for.get();
        if !self.in_nmi.get() && self.m.nmi[id].swap(false, SeqCst) {
            if self.depth.get() == 0 {
                self.m.idle_nmis[id].fetch_add(1, SeqCst);
            }
            let was_off = self.irqs_off.replace(true);
            self.in_nmi.set(true);
            self.depth.set(self.depth.get() + 1);
            let captured = self.captured_in.replace(0);
            if !self.m.cs.on_nmi(self, marker(self.id) | NMI_CTX) {
                self.m.unclaimed_nmis.fetch_add(1, SeqCst);
            }
            self.check_late_return(captured);
            self.depth.set(self.depth.get() - 1);
            self.in_nmi.set(false);
            self.irqs_off.set(was_off);
            self.stopped_for.set(held);
        }
    }

    /// On the return of a handler (which found `outer` in `captured_in`):
    /// if it captured this CPU in a generation that gave up on it, the
    /// CPU was late and must have been held until the release.
    fn check_late_return(&self, outer: u64) {
        let gen = self.captured_in.replace(outer);
        if gen != 0
            && self.m.cpufn[self.id as usize].watch_late
            && self.m.cs.how(self.id, gen) == How::Missing
        {
            assert!(
                self.m.callback_done.load(SeqCst) >= gen,
                "cpu {} given up on while saving in generation {gen} is back \
                 from its handler during the hold",
                self.id
            );
        }
    }

    /// One iteration of a loop in NMI context (interrupts off, NMIs
    /// latched, as set by the caller): `CrashStop::on_poll` with context
    /// `marker | POLL_CTX`. Returns whether it stopped the CPU.
    pub fn nmi_poll(&self) -> bool {
        self.on_poll(marker(self.id) | POLL_CTX)
    }

    /// One `CrashStop::on_poll` call with context `ctx`; returns whether
    /// it stopped the CPU. (A poll that holds the CPU as a late one is not
    /// checked by `relax()`: the generation is not known here.)
    fn on_poll(&self, ctx: u64) -> bool {
        let held = self.stopped_for.replace(0);
        let captured = self.captured_in.replace(0);
        self.depth.set(self.depth.get() + 1);
        let stopped = self.m.cs.on_poll(self, ctx);
        self.depth.set(self.depth.get() - 1);
        self.check_late_return(captured);
        self.stopped_for.set(held);
        if stopped {
            self.m.poll_stops[self.id as usize].fetch_add(1, SeqCst);
        }
        stopped
    }

    /// Forgets the generation this CPU was held in (after a losing
    /// caller's `run()` returned).
    pub fn clear_stopped(&self) {
        self.stopped_for.set(0);
    }

    /// Declares that the CPU is about to be held in run `run` without a
    /// `stopped()` call (it answers late): its relax and resume checks then
    /// apply to that run.
    pub fn expect_held(&self, run: u64) {
        self.stopped_for.set(run);
    }

    fn check_not_free(&self, what: &str) {
        let held = self.stopped_for.get();
        if self.m.cpufn[self.id as usize].watch && held != 0 {
            assert!(
                self.m.callback_done.load(SeqCst) >= held,
                "cpu {} ran free ({what}) before the callback of run {held} returned",
                self.id
            );
        }
    }

    /// A held CPU (in the run `stopped_for`) still waiting once that run's
    /// `run()` returned is counted in [`LoomMachine::late_spins`].
    fn check_not_returned(&self) {
        let held = self.stopped_for.get();
        if held != 0 && self.m.returned.load(SeqCst) >= held {
            self.m.late_spins.fetch_add(1, SeqCst);
        }
    }

    /// Idle loop: poll until `until()` is true.
    pub fn idle_until(&self, until: impl Fn(&LoomMachine) -> bool) {
        while !until(&self.m) {
            self.poll();
            loom::thread::yield_now();
        }
    }
}

impl Platform for LoomCpu {
    type Record = LoomRecord;
    type Ctx = u64;
    type Payload = LoomPayload;
    const EMPTY_RECORD: LoomRecord = LoomRecord {
        cpu: u32::MAX,
        marker: 0,
        how: How::None,
    };
    const EMPTY_PAYLOAD: LoomPayload = LoomPayload::EMPTY;
    /// The protocol's timed waits call `now_ns()` (one tick) once per
    /// `relax()`: the clock bound and the count bound coincide, and the
    /// waits explore the same interleavings as with the clock alone.
    const RELAX_MIN_NS: u64 = TICK_NS;

    fn this_cpu(&self) -> u32 {
        self.id
    }

    fn nr_cpus(&self) -> u32 {
        self.m.ncpus
    }

    fn cpu_online(&self, cpu: u32) -> bool {
        self.m.online[cpu as usize]
    }

    fn now_ns(&self) -> u64 {
        self.clock.set(self.clock.get() + TICK_NS);
        self.clock.get()
    }

    fn send_ipi(&self, cpu: u32) {
        self.m.ipi[cpu as usize].store(true, SeqCst);
    }

    fn send_nmi(&self, cpu: u32) {
        self.m.nmi[cpu as usize].store(true, SeqCst);
    }

    fn relax(&self) {
        self.check_not_returned();
        loom::thread::yield_now();
        self.poll();
    }

    fn may_halt(&self, how: How) -> bool {
        self.m.cpufn[self.id as usize].halt
            && matches!(how, How::Ipi | How::Caller)
            && !self.in_nmi.get()
    }

    /// See the module documentation.
    fn halt_while(&self, word: &ProtoAtomicU64, val: u64) {
        let id = self.id as usize;
        assert!(!self.in_nmi.get(), "halt_while() in NMI context");
        // cmp; jne
        if word.load(SeqCst) != val {
            return;
        }
        if self.m.nmi[id].load(SeqCst) {
            // The NMI lands before the hlt: it is taken, and the CPU
            // halts all the same (x86-64 cannot rewind it to the cmp).
            self.m.window_nmis[id].fetch_add(1, SeqCst);
            self.poll_nmi();
        }
        // hlt
        self.check_not_returned();
        self.m.halts[id].fetch_add(1, SeqCst);
        self.m.halted[id].store(true, SeqCst);
        while !self.m.nmi[id].load(SeqCst) {
            loom::thread::yield_now();
        }
        self.m.halted[id].store(false, SeqCst);
        self.poll_nmi();
        self.check_not_returned();
    }

    fn capture(&self, rec: &mut LoomRecord, cpu: u32, how: How, _t_ns: u64, ctx: u64) {
        assert_eq!(cpu, self.id, "capture on behalf of another CPU");
        // The CPU is inside the generation: `current` (read with Acquire)
        // was published after `generation`.
        self.captured_in.set(self.m.cs.generation());
        *rec = LoomRecord {
            cpu,
            marker: ctx,
            how,
        };
        if self.m.cpufn[cpu as usize].slow_capture {
            loom::thread::yield_now();
        }
    }

    fn stopped(&self, cpu: u32, rec: &LoomRecord, ctx: u64, payload: &LoomPayload) {
        // `ctx` is the context the CPU was stopped in: its record's.
        assert_eq!(
            (cpu, rec.cpu, ctx_cpu(ctx), rec.marker),
            (self.id, self.id, self.id, ctx)
        );
        let m = &self.m;
        let i = cpu as usize;
        m.stops[i].fetch_add(1, SeqCst);
        self.stopped_for.set(payload.run);
        let caller_mem = |step: u32| {
            if let Some(mem) = m.caller_mem.get(payload.caller as usize) {
                // SAFETY: loom checks the access.
                let v = mem.with(|v| unsafe { *v });
                assert_eq!(
                    v, payload.run,
                    "cpu {cpu} step {step}: caller's memory freed or reused under its callback"
                );
            }
        };
        caller_mem(0);
        if m.cpufn[i].crash {
            m.crashed[i].store(m.cs.crashed(self), SeqCst);
            while !m.done.load(SeqCst) {
                loom::thread::yield_now();
            }
            return;
        }
        for step in 1..=m.cpufn[i].slow {
            loom::thread::yield_now();
            caller_mem(step);
        }
        if payload.hold {
            // A debugger's slave loop, after the CPU left the generation
            // (hand-off): runs past `run()`, under the next generations.
            let (rec0, payload0) = (*rec, *payload);
            m.holds[i].fetch_add(1, SeqCst);
            // Not held by any generation meanwhile.
            self.stopped_for.set(0);
            while !m.go.load(SeqCst) {
                self.poll();
                self.on_poll(ctx);
                loom::thread::yield_now();
            }
            assert_eq!(
                (*rec, *payload),
                (rec0, payload0),
                "cpu {cpu}: hand-off step's record or payload changed under it"
            );
            return;
        }
        // SAFETY: loom checks the access.
        m.cpufn_done[i].with_mut(|v| unsafe { *v = payload.run });
    }

    fn park(&self) {
        self.check_not_free("parked");
        self.m.parked[self.id as usize].store(true, SeqCst);
        while !self.m.done.load(SeqCst) {
            loom::thread::yield_now();
        }
    }

    fn resumed(&self) {
        self.check_not_free("resumed");
        self.m.resumes[self.id as usize].fetch_add(1, SeqCst);
    }

    fn released(&self, _stay: bool) {}
}
