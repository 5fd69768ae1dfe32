// SPDX-License-Identifier: GPL-2.0

//! A simulated machine of up to [`MAX_CPUS`] CPUs, one std thread each,
//! implementing [`Platform`] for the stress and scenario tests.
//!
//! # Interrupt model
//!
//! * Every CPU has an "interrupts off" flag. [`Platform::send_ipi`] only sets
//!   a pending flag; the target takes it at its interruptible points (its
//!   idle/work loop, and [`Platform::relax`]) when its interrupts are on and
//!   it is not in a handler. The handler runs with interrupts off.
//! * [`Platform::send_nmi`] sets a pending NMI that the target takes at the
//!   same points whatever its interrupt flag, unless it is already in NMI
//!   context: then the NMI is latched and taken once the handler returned.
//!   A CPU in the IPI handler (interrupts off) still takes NMIs.
//! * A [`Mode::Wedged`] CPU is stuck in NMI context with interrupts off: it
//!   takes nothing and must be reported [`How::Missing`].
//! * A [`Mode::Offline`] CPU takes nothing and is not online.
//! * Each CPU has a register set whose marker ([`marker`]) names the CPU and
//!   the episode, so a test can check that the right state landed in the
//!   right slot of the right run.
//!
//! # Clock
//!
//! [`Platform::now_ns`] is a virtual clock that only the monarch advances,
//! by [`TICK_NS`] per [`Platform::relax`], and only while no interrupt is
//! deliverable-but-not-yet-taken and no CPU is half way through taking one
//! up to its publication (its per-CPU callback included), nor spinning in
//! `run()` before noticing its request. On hardware an
//! interrupt reaches an interrupt-enabled CPU within microseconds; here a
//! thread can wait milliseconds for a core, and a real clock would make the
//! IPI-vs-NMI outcome depend on the host scheduler. With the virtual clock a
//! CPU with interrupts on is always stopped by the IPI, a CPU with
//! interrupts off always by the NMI, a wedged CPU is always missing, and the
//! wait lengths are counted in monarch loop iterations.
//!
//! A relax that does not advance the clock takes 0 virtual ns, so the sim's
//! [`Platform::RELAX_MIN_NS`] is 1: the protocol's count bound on a wait
//! (`wait / RELAX_MIN_NS + 1` relax calls) is then far longer than its
//! clock bound, and only ends a wait when the clock stands still
//! ([`Machine::set_frozen_clock`]).
//!
//! # Knobs of the scenario tests
//!
//! Slow or crashing per-CPU callbacks ([`Machine::set_slow_stop`],
//! [`Machine::set_crash_in_stop`], [`Machine::set_crash_when_held`]), a `Late` CPU
//! that recovers exactly when it is given up on
//! ([`Machine::set_late_until_given_up`]), a frozen clock, and the knobs of
//! the regression tests of earlier protocol bugs.
//!
//! # Hand-off, nested stay-stopped requests, polling CPUs
//!
//! * An episode with `params.handoff` hands its slaves off; with
//!   [`Episode::hold_steps`] every hand-off step is a debugger's slave loop
//!   (kgdb's): it spins until [`Machine::release_holds`], taking NMIs and
//!   polling `CrashStop::on_poll` with the context it was stopped in, and
//!   checks at the end that its record and payload (copies) did not change
//!   ([`Machine::copies_changed`]). Later episodes run while such steps
//!   spin (their CPUs are exempt from the driver's waits).
//! * An episode with [`Episode::nested_stay`] makes the monarch's callback
//!   call `run()` again with `stay` (a panic in a debugger session going to
//!   kdump): the held CPUs run the nested step (counted apart,
//!   [`Report::nested_stops`]) and park.
//! * [`Mode::Poll`] and [`Mode::PollLate`] CPUs loop in NMI context and
//!   poll `CrashStop::on_poll` (the latter only once given up on); after a
//!   poll stopped them they leave NMI context, taking the NMI latched
//!   meanwhile.
//! * For the virtual clock a polling CPU whose slot is still requested, and
//!   a held CPU that has not run a pending nested request, count as
//!   interrupts in flight.
//!
//! # Halted hold
//!
//! A CPU held after it stopped by IPI or as a losing caller, not in NMI
//! context, waits halted ([`Platform::may_halt`], on unless
//! [`Machine::set_halt`] turns it off). [`Platform::halt_while`] is the
//! kernel's `cmp; jne; hlt`: it compares the word, then (after a window,
//! [`Machine::set_halt_window_us`]) halts: the CPU thread blocks until an
//! NMI is pending, takes it (the handler calls `on_nmi`) and returns. It
//! does not return because the word changed. An NMI pending in the window
//! between the comparison and the halt is taken there, and the CPU halts
//! all the same (x86-64 cannot return it to the comparison): only the
//! monarch's next wake-up NMI ([`crate::protocol::REWAKE_NS`]) ends that
//! halt. NMIs sent by a
//! monarch once its callback has started are wake-ups and are counted apart
//! from the escalation NMIs ([`Report::wake_nmis_sent`]). The knobs that act
//! from a held CPU's `relax()` (an NMI on top, a crash) end a halt first.

use crate::protocol::{CrashStop, Error, Held, How, Outcome, Params, Platform};
use crate::rng::Rng;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release, SeqCst};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

/// Largest simulated machine.
pub const MAX_CPUS: usize = 64;

/// Virtual nanoseconds added by one quiescent monarch [`Platform::relax`].
pub const TICK_NS: u64 = 10_000;

/// The protocol instance of a simulated machine.
pub type SimCrashStop = CrashStop<SimCpu, MAX_CPUS>;

/// How long the driver waits for anything before declaring a hang.
const HANG: Duration = Duration::from_secs(30);

/// Payload bit: the episode hands its slaves off (`Params::handoff`).
pub const PAYLOAD_HANDOFF: usize = 1 << 62;
/// Payload bit: hand-off steps are debugger slave loops
/// ([`Episode::hold_steps`]).
pub const PAYLOAD_HOLD: usize = 1 << 61;
/// Payload bit: the payload of a nested stay-stopped request.
pub const PAYLOAD_NESTED: usize = 1 << 60;

/// The register marker of `cpu` during episode `epoch`.
pub fn marker(cpu: u32, epoch: u64) -> u64 {
    0xC500_0000_0000_0000 | (epoch & 0xFF_FFFF_FFFF) << 8 | u64::from(cpu & 0xFF)
}

/// What a simulated CPU does during an episode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Idle loop with interrupts on: stopped by the IPI.
    Idle,
    /// Spinning with interrupts off: stopped by the NMI.
    IrqsOff,
    /// Work loop toggling random interrupts-off windows: IPI or NMI.
    Toggle,
    /// Stuck in NMI context with interrupts off: never answers.
    Wedged,
    /// Not online.
    Offline,
    /// Starts the episode still wedged in NMI context (latched NMIs of the
    /// previous episode stay latched), recovers after a random number of
    /// its loop iterations, or (one time in two) as soon as it is given up
    /// on, and then idles: `Missing` (and late if it answered before the
    /// release), or stopped by IPI or NMI, depending on when it recovers.
    Late,
    /// Loops in NMI context (it takes neither the IPI nor the NMI) and
    /// polls `CrashStop::on_poll`: stopped by its poll, as `Nmi`; then
    /// leaves NMI context.
    Poll,
    /// As [`Mode::Poll`], but polls only once it was given up on: `Missing`,
    /// and late if it polled before the release.
    PollLate,
}

impl Mode {
    const ALL: [Mode; 8] = [
        Mode::Idle,
        Mode::IrqsOff,
        Mode::Toggle,
        Mode::Wedged,
        Mode::Offline,
        Mode::Late,
        Mode::Poll,
        Mode::PollLate,
    ];

    fn from_u8(v: u8) -> Mode {
        Mode::ALL[v as usize]
    }

    fn to_u8(self) -> u8 {
        Mode::ALL.iter().position(|m| *m == self).unwrap() as u8
    }
}

/// The simulated per-CPU record ([`Platform::Record`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    /// The CPU that captured it.
    pub cpu: u32,
    /// Its register marker at the time.
    pub marker: u64,
    /// How it was stopped.
    pub how: How,
    /// Time after the start of the generation.
    pub t_ns: u64,
    /// Whether the interrupted context had interrupts off.
    pub irqs_were_off: bool,
    /// Whether it was captured from NMI context.
    pub in_nmi: bool,
}

impl Record {
    /// The value every slot starts with.
    pub const EMPTY: Record = Record {
        cpu: u32::MAX,
        marker: 0,
        how: How::None,
        t_ns: 0,
        irqs_were_off: false,
        in_nmi: false,
    };
}

/// The simulated interrupted context ([`Platform::Ctx`]).
#[derive(Clone, Copy, Debug)]
pub struct Ctx {
    /// Register marker of the interrupted context.
    pub marker: u64,
    /// Whether the interrupted context had interrupts off.
    pub irqs_were_off: bool,
    /// Whether the stopping code runs in NMI context.
    pub in_nmi: bool,
}

/// What the monarch saw from its callback (a snapshot of the `Held` view).
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// `(how, record)` of every CPU of the machine.
    pub table: Vec<(How, Option<Record>)>,
    /// Result of a nested `run()` from the callback.
    pub nested: Result<(), Error>,
    /// Whether every slave reported stopped was really held in its handler.
    pub all_held: bool,
    /// Whether every slave reported stopped had finished its per-CPU
    /// callback (`stopped()`) before the monarch's callback looked.
    pub all_done: bool,
    /// The outcome as the callback saw it.
    pub outcome: Outcome,
    /// The outcome in the `finish` step of `run_full` (late count final).
    pub final_outcome: Outcome,
    /// `Held::late(cpu)` of every CPU in the `finish` step.
    pub late: Vec<bool>,
    /// The nested stay-stopped call of an [`Episode::nested_stay`] episode.
    pub nested_stay: Option<Result<NestedStay, Error>>,
}

/// What a nested stay-stopped call from the monarch's callback saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NestedStay {
    /// The generation it returned.
    pub generation: u64,
    /// Whether its callback saw the outer callback's outcome and table.
    pub same_table: bool,
    /// Whether every slave of the table had run the nested step when its
    /// callback looked.
    pub all_done: bool,
}

/// Result of one `run()` call on one CPU.
#[derive(Clone, Debug)]
pub struct CallResult {
    /// What `run()` returned.
    pub res: Result<Outcome, Error>,
    /// Present when the callback ran (this CPU was the monarch).
    pub held: Option<Snapshot>,
}

#[derive(Default)]
struct CpuState {
    online: AtomicBool,
    mode: AtomicU8,
    irqs_off: AtomicBool,
    in_nmi: AtomicBool,
    ipi_pending: AtomicBool,
    nmi_pending: AtomicBool,
    /// Between accepting an interrupt and being recorded (or returning).
    delivering: AtomicBool,
    in_run: AtomicBool,
    /// Between `stopped()` and the return of the handler that stopped it.
    in_stop: AtomicBool,
    stop_gen: AtomicU64,
    /// The generation whose `stopped()` last returned.
    stop_done_gen: AtomicU64,
    parked: AtomicBool,
    marker: AtomicU64,
    ack_epoch: AtomicU64,
    call_epoch: AtomicU64,
    result: Mutex<Option<CallResult>>,
    // Per-episode counters.
    stops: AtomicU32,
    resumes: AtomicU32,
    captures: AtomicU32,
    ipis_sent: AtomicU32,
    nmis_sent: AtomicU32,
    unclaimed_nmis: AtomicU32,
    spins: AtomicU32,
    // Knobs of the scenario tests.
    stall_caller: AtomicBool,
    stalled: AtomicBool,
    hold_monarch_capture: AtomicBool,
    nested_in_release: AtomicBool,
    nested_result: Mutex<Option<Result<Outcome, Error>>>,
    /// `stopped()` takes this many real microseconds.
    slow_stop_us: AtomicU64,
    /// The virtual clock runs during a slow `stopped()` (so the monarch
    /// can give up on the CPU while it is still in it).
    slow_stop_quiet: AtomicBool,
    in_slow_stop: AtomicBool,
    /// A `Late` CPU recovers when its slot is given up on, not at random.
    late_until_given_up: AtomicBool,
    /// `stopped()` calls `crashed()`, then the CPU is dead.
    crash_in_stop: AtomicBool,
    /// The first `relax()` while held calls `crashed()`, then the CPU is
    /// dead.
    crash_when_held: AtomicBool,
    /// Dead after `crashed()` (until the machine is torn down).
    crashed: AtomicBool,
    crashed_result: Mutex<Option<bool>>,
    /// In a hold hand-off step, and not in an interrupt or poll on top.
    in_step: AtomicBool,
    /// Hold hand-off steps this CPU is in.
    step_depth: AtomicU32,
    /// The next `relax()` while held makes the call of an NMI on top:
    /// `run()` (see [`Machine::set_run_when_held`]).
    run_when_held: AtomicBool,
    /// Whether that call returned before the monarch's callback did.
    run_during_hold: AtomicBool,
    /// Nested stay-stopped steps run, per episode.
    nested_stops: AtomicU32,
    /// The generation of the last nested step that returned.
    nested_done_gen: AtomicU64,
    /// In `halt_while()`, halted (after the comparison and the window).
    halted: AtomicBool,
    /// Halts, per episode.
    halts: AtomicU32,
    /// NMIs taken between the comparison and the halt, per episode.
    window_nmis: AtomicU32,
    /// Wake-up NMIs sent to this CPU, per episode.
    wake_nmis_sent: AtomicU32,
    /// This CPU is a monarch whose callback has started (the NMIs it sends
    /// are wake-ups, not escalations).
    past_gather: AtomicBool,
    /// The monarch's callback crashes: `abort_on_crash()`, then the CPU is
    /// dead.
    crash_in_callback: AtomicBool,
}

impl CpuState {
    fn mode(&self) -> Mode {
        Mode::from_u8(self.mode.load(Acquire))
    }
}

/// A simulated machine.
pub struct Machine {
    /// Number of CPUs.
    pub n: usize,
    /// The protocol state under test.
    pub cs: SimCrashStop,
    cpus: Vec<CpuState>,
    threads: OnceLock<Vec<Thread>>,
    joins: Mutex<Vec<JoinHandle<()>>>,
    epoch: AtomicU64,
    vclock: AtomicU64,
    shutdown: AtomicBool,
    params: Mutex<Params>,
    /// The generation the current episode runs (callers race for one).
    episode_gen: AtomicU64,
    frozen_clock: AtomicBool,
    hold_us: AtomicU64,
    ran_free: AtomicU32,
    barrier: AtomicU32,
    ncallers: AtomicU32,
    monarch_returned_gen: AtomicU64,
    callback_done_gen: AtomicU64,
    late_spins: AtomicU32,
    wrong_cpu: AtomicU32,
    /// Hold steps may return.
    release_holds: AtomicBool,
    /// Hold steps whose record or payload changed under them (sticky).
    copies_changed: AtomicU32,
    /// The current episode makes a nested stay-stopped request.
    nested_stay: AtomicBool,
    /// The generation whose nested request is pending (for the clock).
    nest_pending_gen: AtomicU64,
    /// Held CPUs stopped by IPI or as callers wait halted.
    halt: AtomicBool,
    /// Real microseconds between the comparison of `halt_while()` and
    /// its halt (0: a yield).
    halt_window_us: AtomicU64,
    /// The monarch's callback waits until every slave it holds stopped by
    /// IPI or as a caller is halted.
    callback_waits_for_halts: AtomicBool,
    seed: u64,
}

/// The platform handle of one simulated CPU (what `this_cpu()` answers).
#[derive(Clone)]
pub struct SimCpu {
    id: u32,
    m: Arc<Machine>,
}

/// One episode: modes of the CPUs, who calls `run()`, with what.
#[derive(Clone, Debug)]
pub struct Episode {
    /// Mode of every CPU (ignored for CPUs parked by an earlier episode).
    pub modes: Vec<Mode>,
    /// CPUs that call `run()` at the same time.
    pub callers: Vec<u32>,
    /// Parameters of every call.
    pub params: Params,
    /// How long the monarch's callback takes, in real microseconds (the
    /// hold: late CPUs answer during it).
    pub hold_us: u64,
    /// With `params.handoff`: every hand-off step spins (polling) until
    /// [`Machine::release_holds`], past the end of the episode.
    pub hold_steps: bool,
    /// The monarch's callback makes a nested stay-stopped request (after
    /// its resuming nested call): every held CPU parks.
    pub nested_stay: bool,
}

/// What happened during an episode.
#[derive(Clone, Debug)]
pub struct Report {
    /// The episode number (markers use it).
    pub epoch: u64,
    /// Result of every call that returned, by CPU.
    pub results: Vec<(u32, CallResult)>,
    /// `stopped()` calls per CPU.
    pub stops: Vec<u32>,
    /// `resumed()` calls per CPU.
    pub resumes: Vec<u32>,
    /// `capture()` calls per CPU.
    pub captures: Vec<u32>,
    /// Nested stay-stopped steps per CPU.
    pub nested_stops: Vec<u32>,
    /// IPIs sent per CPU.
    pub ipis_sent: Vec<u32>,
    /// Escalation NMIs sent per CPU (sent before the monarch's callback).
    pub nmis_sent: Vec<u32>,
    /// Wake-up NMIs sent per CPU (sent by a monarch once its callback has
    /// started: the release, a nested request, `abort_on_crash`).
    pub wake_nmis_sent: Vec<u32>,
    /// Halts in `halt_while()` per CPU.
    pub halts: Vec<u32>,
    /// NMIs taken between the comparison of `halt_while()` and its halt
    /// (the comparison was made again), per CPU.
    pub window_nmis: Vec<u32>,
    /// NMIs that `on_nmi` did not claim, per CPU.
    pub unclaimed_nmis: Vec<u32>,
    /// Which CPUs are parked for good.
    pub parked: Vec<bool>,
    /// Times a stopped slave was still spinning, or still working in its
    /// per-CPU callback, after its monarch's `finish` step (every slave
    /// must have left by then).
    pub late_spins: u32,
    /// Times a `Late` CPU given up on returned from the handler of its
    /// interrupt before the monarch's callback returned.
    pub ran_free: u32,
    /// Captures or `stopped()` calls made on behalf of another CPU, or with
    /// another generation's payload.
    pub wrong_cpu: u32,
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < HANG, "simulated machine hung: {what}");
        thread::sleep(Duration::from_micros(50));
    }
}

impl Machine {
    /// Builds a machine of `n` CPUs (all idle and online) and starts its
    /// CPU threads.
    pub fn start(n: usize, seed: u64) -> Arc<Machine> {
        assert!((1..=MAX_CPUS).contains(&n));
        let m = Arc::new(Machine {
            n,
            cs: SimCrashStop::new(),
            cpus: (0..MAX_CPUS).map(|_| CpuState::default()).collect(),
            threads: OnceLock::new(),
            joins: Mutex::new(Vec::new()),
            epoch: AtomicU64::new(0),
            vclock: AtomicU64::new(1),
            shutdown: AtomicBool::new(false),
            params: Mutex::new(Params {
                ipi_wait_ns: 0,
                nmi_wait_ns: 0,
                stay: false,
                handoff: false,
                payload: 0,
            }),
            episode_gen: AtomicU64::new(0),
            frozen_clock: AtomicBool::new(false),
            hold_us: AtomicU64::new(0),
            ran_free: AtomicU32::new(0),
            barrier: AtomicU32::new(0),
            ncallers: AtomicU32::new(0),
            monarch_returned_gen: AtomicU64::new(0),
            callback_done_gen: AtomicU64::new(0),
            late_spins: AtomicU32::new(0),
            wrong_cpu: AtomicU32::new(0),
            release_holds: AtomicBool::new(false),
            copies_changed: AtomicU32::new(0),
            nested_stay: AtomicBool::new(false),
            nest_pending_gen: AtomicU64::new(0),
            halt: AtomicBool::new(true),
            halt_window_us: AtomicU64::new(0),
            callback_waits_for_halts: AtomicBool::new(false),
            seed,
        });
        for c in &m.cpus[..n] {
            c.online.store(true, Release);
        }
        let mut joins = Vec::new();
        for id in 0..n as u32 {
            let cpu = SimCpu { id, m: m.clone() };
            joins.push(
                thread::Builder::new()
                    .name(format!("sim-cpu{id}"))
                    .stack_size(256 * 1024)
                    .spawn(move || cpu.main())
                    .unwrap(),
            );
        }
        let _ = m
            .threads
            .set(joins.iter().map(|j| j.thread().clone()).collect());
        *m.joins.lock().unwrap() = joins;
        m
    }

    fn kick(&self, cpu: usize) {
        if let Some(t) = self.threads.get() {
            t[cpu].unpark();
        }
    }

    /// Tears the machine down: parked CPUs return from `park`, every CPU
    /// thread exits.
    pub fn stop(&self) {
        self.shutdown.store(true, Release);
        for cpu in 0..self.n {
            self.kick(cpu);
        }
        for j in self.joins.lock().unwrap().drain(..) {
            j.join().expect("CPU thread panicked");
        }
    }

    /// Whether `cpu` is parked for good.
    pub fn parked(&self, cpu: u32) -> bool {
        self.cpus[cpu as usize].parked.load(Acquire)
    }

    /// Makes `cpu`, a caller, stall in its first `relax()` inside `run()`
    /// until it gets the NMI, and then until the monarch has finished: a
    /// vCPU preempted at the wrong moment. Disables the virtual clock's
    /// "caller notices at once" rule for it.
    pub fn set_stall_caller(&self, cpu: u32) {
        self.cpus[cpu as usize].stall_caller.store(true, Release);
    }

    /// Makes `cpu`'s monarch capture (before the gather opens) wait until
    /// the `stall_caller` CPU is stalled.
    pub fn set_hold_monarch_capture(&self, cpu: u32) {
        self.cpus[cpu as usize]
            .hold_monarch_capture
            .store(true, Release);
    }

    /// Makes `cpu`, once stopped, take an NMI whose handler calls `run()`
    /// right after the monarch's callback returned (while the monarch
    /// releases).
    pub fn set_nested_in_release(&self, cpu: u32) {
        self.cpus[cpu as usize]
            .nested_in_release
            .store(true, Release);
    }

    /// Result of the nested call made by [`Machine::set_nested_in_release`].
    pub fn nested_result(&self, cpu: u32) -> Option<Result<Outcome, Error>> {
        *self.cpus[cpu as usize].nested_result.lock().unwrap()
    }

    /// Makes every `stopped()` of `cpu` take `us` real microseconds. With
    /// `quiet` the virtual clock runs meanwhile, so a callback longer than
    /// the waits gets the CPU given up on while it is in it; otherwise the
    /// clock stands still until the CPU published its record.
    pub fn set_slow_stop(&self, cpu: u32, us: u64, quiet: bool) {
        let c = &self.cpus[cpu as usize];
        c.slow_stop_quiet.store(quiet, Release);
        c.slow_stop_us.store(us, Release);
    }

    /// Makes `cpu`, in [`Mode::Late`], recover exactly when the monarch
    /// gives up on it (instead of after a random number of iterations):
    /// it then takes its latched NMI late, during the hold.
    pub fn set_late_until_given_up(&self, cpu: u32) {
        self.cpus[cpu as usize]
            .late_until_given_up
            .store(true, Release);
    }

    /// Makes `cpu` crash in its next `stopped()`: it calls
    /// `CrashStop::crashed()` there and never returns (until the machine is
    /// torn down).
    pub fn set_crash_in_stop(&self, cpu: u32) {
        self.cpus[cpu as usize].crash_in_stop.store(true, Release);
    }

    /// Makes `cpu` crash in its first `relax()` once stopped (published,
    /// waiting for the release): it calls `CrashStop::crashed()` and never
    /// returns (until the machine is torn down).
    pub fn set_crash_when_held(&self, cpu: u32) {
        self.cpus[cpu as usize].crash_when_held.store(true, Release);
    }

    /// What `CrashStop::crashed()` returned on `cpu`, if it crashed.
    pub fn crashed_result(&self, cpu: u32) -> Option<bool> {
        *self.cpus[cpu as usize].crashed_result.lock().unwrap()
    }

    /// Makes `cpu`, once held (published and waiting for the release, or
    /// late), take an NMI whose handler calls `run()` at once; the result is
    /// [`Machine::nested_result`], and [`Machine::run_during_hold`] says
    /// whether it came back before the monarch's callback returned.
    pub fn set_run_when_held(&self, cpu: u32) {
        self.cpus[cpu as usize].run_when_held.store(true, Release);
    }

    /// Turns the halted hold on or off (on by default): with it off, every
    /// held CPU spins.
    pub fn set_halt(&self, on: bool) {
        self.halt.store(on, Release);
    }

    /// Makes every `halt_while()` wait `us` real microseconds between its
    /// comparison and its halt (0, the default: a yield), so that wake-up
    /// NMIs land there more often.
    pub fn set_halt_window_us(&self, us: u64) {
        self.halt_window_us.store(us, Release);
    }

    /// Makes the monarch's callback wait until every slave it holds that
    /// was stopped by IPI or as a caller is halted (so that the release
    /// must wake each of them).
    pub fn set_callback_waits_for_halts(&self, on: bool) {
        self.callback_waits_for_halts.store(on, Release);
    }

    /// Makes `cpu`'s next monarch callback crash: it calls
    /// `CrashStop::abort_on_crash()` (as the die notifier does; the result
    /// is [`Machine::crashed_result`]), and the CPU is then dead until the
    /// machine is torn down. The callback's snapshot is lost, and its
    /// `run()` never returns.
    pub fn set_crash_in_callback(&self, cpu: u32) {
        self.cpus[cpu as usize]
            .crash_in_callback
            .store(true, Release);
    }

    /// Whether `cpu` is dead after a crash (`crashed()` or
    /// `abort_on_crash()`).
    pub fn is_crashed(&self, cpu: u32) -> bool {
        self.cpus[cpu as usize].crashed.load(Acquire)
    }

    /// See [`Machine::set_run_when_held`].
    pub fn run_during_hold(&self, cpu: u32) -> bool {
        self.cpus[cpu as usize].run_during_hold.load(Acquire)
    }

    /// Lets the hold hand-off steps return, and waits until they all did.
    pub fn release_holds(&self) {
        self.release_holds.store(true, Release);
        wait_until("hold steps did not return", || self.steps_running() == 0);
        self.release_holds.store(false, Release);
    }

    /// CPUs in a hold hand-off step.
    pub fn steps_running(&self) -> usize {
        self.cpus[..self.n]
            .iter()
            .filter(|c| c.step_depth.load(SeqCst) > 0)
            .count()
    }

    /// Hold steps whose record or payload changed while they ran.
    pub fn copies_changed(&self) -> u32 {
        self.copies_changed.load(Acquire)
    }

    /// Stops (or restarts) the virtual clock: `now_ns()` then returns the
    /// same value for ever, and every wait of the protocol can only end by
    /// its count of `relax()` calls.
    pub fn set_frozen_clock(&self, frozen: bool) {
        self.frozen_clock.store(frozen, Release);
    }

    /// Whether no deliverable interrupt and no pending arrival is in flight
    /// (the monarch `me` may advance the clock).
    fn quiescent(&self, me: u32) -> bool {
        let gen = self.cs.generation();
        for (i, c) in self.cpus[..self.n].iter().enumerate() {
            let i = i as u32;
            if i == me
                || !c.online.load(Acquire)
                || c.parked.load(Acquire)
                || c.crashed.load(Acquire)
            {
                continue;
            }
            // A CPU taking an interrupt counts until its slot is published
            // (or given up on), unless it is in a slow per-CPU callback
            // that lets the clock run.
            let how = self.cs.how(i, gen);
            let quiet_stop = c.in_slow_stop.load(SeqCst) && c.slow_stop_quiet.load(Acquire);
            let delivering = c.delivering.load(SeqCst)
                && !c.in_step.load(SeqCst)
                && !quiet_stop
                && !matches!(how, How::Ipi | How::Nmi | How::Caller | How::Missing);
            // A polling CPU reaches its next poll within microseconds.
            let polling = (c.in_step.load(SeqCst)
                || (c.mode() == Mode::Poll && c.in_nmi.load(SeqCst)))
                && how == How::None;
            // A held CPU serves a pending nested request as fast.
            let nesting = self.nest_pending_gen.load(SeqCst) == gen
                && matches!(how, How::Ipi | How::Nmi | How::Caller)
                && c.in_stop.load(SeqCst)
                && c.stop_gen.load(SeqCst) == gen
                && c.nested_done_gen.load(SeqCst) != gen;
            if delivering
                || polling
                || nesting
                || (c.ipi_pending.load(SeqCst) && !c.irqs_off.load(SeqCst))
                || (c.nmi_pending.load(SeqCst) && !c.in_nmi.load(SeqCst))
            {
                return false;
            }
            if c.in_run.load(SeqCst)
                && !c.stall_caller.load(Acquire)
                && !c.stalled.load(Acquire)
                && self.cs.monarch() != Some(i)
                && self.cs.how(i, gen) == How::None
            {
                return false;
            }
        }
        true
    }

    /// Runs one episode and reports what happened. The previous episode
    /// must be over (the driver guarantees it by waiting in here).
    pub fn run_episode(&self, ep: &Episode) -> Report {
        let n = self.n;
        assert_eq!(ep.modes.len(), n);
        // Quiesce: nobody still inside a handler from the last episode
        // (but in a hold step, which may go on).
        wait_until("previous episode did not end", || {
            self.cpus[..n].iter().all(|c| {
                c.parked.load(Acquire)
                    || c.crashed.load(Acquire)
                    || c.in_step.load(SeqCst)
                    || (!c.in_stop.load(Acquire)
                        && !c.delivering.load(Acquire)
                        && !c.in_run.load(Acquire))
            })
        });
        for c in &self.cpus[..n] {
            c.stops.store(0, Relaxed);
            c.resumes.store(0, Relaxed);
            c.captures.store(0, Relaxed);
            c.ipis_sent.store(0, Relaxed);
            c.nmis_sent.store(0, Relaxed);
            c.wake_nmis_sent.store(0, Relaxed);
            c.halts.store(0, Relaxed);
            c.window_nmis.store(0, Relaxed);
            c.unclaimed_nmis.store(0, Relaxed);
            c.nested_stops.store(0, Relaxed);
            *c.result.lock().unwrap() = None;
        }
        self.late_spins.store(0, Relaxed);
        self.ran_free.store(0, Relaxed);
        self.wrong_cpu.store(0, Relaxed);
        self.episode_gen.store(self.cs.generation() + 1, Release);
        let epoch = self.epoch.load(Acquire) + 1;
        for (cpu, c) in self.cpus[..n].iter().enumerate() {
            if c.parked.load(Acquire) {
                continue;
            }
            let mode = ep.modes[cpu];
            c.mode.store(mode.to_u8(), Release);
            c.online.store(mode != Mode::Offline, Release);
        }
        let mut params = ep.params;
        params.payload = epoch as usize;
        if params.handoff {
            params.payload |= PAYLOAD_HANDOFF;
            if ep.hold_steps {
                params.payload |= PAYLOAD_HOLD;
            }
        }
        self.nested_stay.store(ep.nested_stay, Release);
        self.hold_us.store(ep.hold_us, Release);
        *self.params.lock().unwrap() = params;
        self.barrier.store(0, Release);
        self.ncallers.store(ep.callers.len() as u32, Release);
        for &cpu in &ep.callers {
            assert!(!self.parked(cpu), "a parked CPU cannot call");
            self.cpus[cpu as usize].call_epoch.store(epoch, Release);
        }
        self.epoch.store(epoch, Release);
        for cpu in 0..n {
            self.kick(cpu);
        }
        // Every live CPU has applied its mode before anybody calls run():
        // callers wait for it at the barrier.
        wait_until("CPUs did not take the new episode", || {
            self.cpus[..n].iter().all(|c| {
                c.parked.load(Acquire)
                    || c.crashed.load(Acquire)
                    || c.in_step.load(SeqCst)
                    || c.ack_epoch.load(Acquire) == epoch
            })
        });
        self.barrier.fetch_add(1 << 16, AcqRel);
        for &cpu in &ep.callers {
            self.kick(cpu as usize);
        }
        wait_until("run() did not return", || {
            let mut winner = false;
            for &cpu in &ep.callers {
                let c = &self.cpus[cpu as usize];
                match &*c.result.lock().unwrap() {
                    Some(r) => winner |= r.res.is_ok(),
                    None if c.parked.load(Acquire) => {}
                    // A monarch that crashed in its callback: it released
                    // the others (`abort_on_crash`) and never returns.
                    None if c.crashed.load(Acquire) => winner = true,
                    None => return false,
                }
            }
            winner || !ep.params.stay
        });
        // Late CPUs are not `in_stop` (unless given up on in `stopped()`):
        // wait for them to be out of their handler too (`resumed()` runs
        // after they left the generation).
        wait_until("a slave did not leave after the release", || {
            self.cpus[..n].iter().all(|c| {
                c.parked.load(Acquire)
                    || c.crashed.load(Acquire)
                    || c.in_step.load(SeqCst)
                    || (!c.in_stop.load(Acquire)
                        && !c.in_run.load(Acquire)
                        && !c.delivering.load(SeqCst))
            })
        });
        let cpus = &self.cpus[..n];
        Report {
            epoch,
            results: ep
                .callers
                .iter()
                .filter_map(|&cpu| {
                    let r = self.cpus[cpu as usize].result.lock().unwrap().clone();
                    r.map(|r| (cpu, r))
                })
                .collect(),
            stops: cpus.iter().map(|c| c.stops.load(Acquire)).collect(),
            resumes: cpus.iter().map(|c| c.resumes.load(Acquire)).collect(),
            captures: cpus.iter().map(|c| c.captures.load(Acquire)).collect(),
            nested_stops: cpus.iter().map(|c| c.nested_stops.load(Acquire)).collect(),
            ipis_sent: cpus.iter().map(|c| c.ipis_sent.load(Acquire)).collect(),
            nmis_sent: cpus.iter().map(|c| c.nmis_sent.load(Acquire)).collect(),
            wake_nmis_sent: cpus
                .iter()
                .map(|c| c.wake_nmis_sent.load(Acquire))
                .collect(),
            halts: cpus.iter().map(|c| c.halts.load(Acquire)).collect(),
            window_nmis: cpus.iter().map(|c| c.window_nmis.load(Acquire)).collect(),
            unclaimed_nmis: cpus
                .iter()
                .map(|c| c.unclaimed_nmis.load(Acquire))
                .collect(),
            parked: cpus.iter().map(|c| c.parked.load(Acquire)).collect(),
            late_spins: self.late_spins.load(Acquire),
            ran_free: self.ran_free.load(Acquire),
            wrong_cpu: self.wrong_cpu.load(Acquire),
        }
    }
}

impl SimCpu {
    fn st(&self) -> &CpuState {
        &self.m.cpus[self.id as usize]
    }

    fn ctx(&self, in_nmi: bool) -> Ctx {
        let c = self.st();
        Ctx {
            marker: c.marker.load(Relaxed),
            irqs_were_off: c.irqs_off.load(Relaxed),
            in_nmi,
        }
    }

    /// The CPU's thread.
    fn main(self) {
        let m = self.m.clone();
        let c = self.st();
        let mut rng = Rng::new(m.seed ^ (u64::from(self.id) << 40));
        let mut seen = 0;
        let mut called = 0;
        let mut window = 0u32;
        let mut late = 0u32;
        let mut late_at_give_up = false;
        let mut polling = false;
        while !m.shutdown.load(Acquire) {
            let epoch = m.epoch.load(Acquire);
            if epoch != seen {
                seen = epoch;
                c.marker.store(marker(self.id, epoch), Relaxed);
                let mode = c.mode();
                polling = matches!(mode, Mode::Poll | Mode::PollLate);
                if polling {
                    // Loops in NMI context, polling.
                    late = 0;
                    c.in_nmi.store(true, SeqCst);
                    c.irqs_off.store(true, SeqCst);
                } else if mode == Mode::Late {
                    // Stays in (or enters) NMI context for a while.
                    c.in_nmi.store(true, SeqCst);
                    c.irqs_off.store(true, SeqCst);
                    // Half of them (or all, with the knob) recover when they
                    // are given up on, and answer during the hold.
                    late_at_give_up = c.late_until_given_up.load(Acquire) || rng.percent(50);
                    late = if late_at_give_up {
                        1
                    } else {
                        1 + rng.below(30) as u32
                    };
                } else {
                    late = 0;
                    c.in_nmi.store(mode == Mode::Wedged, SeqCst);
                    c.irqs_off
                        .store(matches!(mode, Mode::Wedged | Mode::IrqsOff), SeqCst);
                }
                c.ack_epoch.store(epoch, Release);
            }
            let mode = c.mode();
            if mode == Mode::Offline {
                thread::park_timeout(Duration::from_millis(2));
                continue;
            }
            if called != epoch && c.call_epoch.load(Acquire) == epoch {
                called = epoch;
                self.call();
                continue;
            }
            if late > 0
                && m.barrier.load(Acquire) >= 1 << 16
                && (!late_at_give_up
                    || m.cs.how(self.id, m.episode_gen.load(Acquire)) == How::Missing)
            {
                // Count the recovery from the start of the calls.
                late -= 1;
                if late == 0 {
                    c.in_nmi.store(false, SeqCst);
                    c.irqs_off.store(false, SeqCst);
                }
            }
            if polling
                && (mode == Mode::Poll
                    || m.cs.how(self.id, m.episode_gen.load(Acquire)) == How::Missing)
                && self.poll_stop(self.ctx(true))
            {
                // Stopped and released: leaves NMI context (and takes the
                // NMI latched meanwhile, if any).
                polling = false;
                c.in_nmi.store(false, SeqCst);
                c.irqs_off.store(false, SeqCst);
            }
            self.poll();
            if mode == Mode::Toggle || late > 0 || polling {
                if late > 0 || polling {
                    // Still wedged.
                } else if window == 0 {
                    let off = !c.irqs_off.load(Relaxed);
                    c.irqs_off.store(off, SeqCst);
                    window = rng.below(if off { 40 } else { 8 }) as u32;
                } else {
                    window -= 1;
                }
                thread::park_timeout(Duration::from_micros(20));
            } else {
                thread::park_timeout(Duration::from_millis(2));
            }
        }
    }

    /// Takes pending interrupts as the CPU's state allows.
    fn poll(&self) {
        self.poll_nmi();
        if !self.st().irqs_off.load(SeqCst) {
            self.poll_ipi();
        }
    }

    /// Marks the CPU as taking an interrupt (or polling) on top of what it
    /// runs; returns what [`SimCpu::end_handler`] restores.
    fn begin_handler(&self) -> (bool, bool, u64, bool) {
        let c = self.st();
        let saved = (
            c.delivering.load(Relaxed),
            c.in_stop.load(Relaxed),
            c.stop_gen.load(Relaxed),
            c.in_step.load(Relaxed),
        );
        c.delivering.store(true, SeqCst);
        if saved.3 {
            // On top of a hold step: the CPU is held by nothing below.
            c.in_step.store(false, SeqCst);
            c.in_stop.store(false, SeqCst);
        }
        saved
    }

    fn end_handler(&self, saved: (bool, bool, u64, bool)) {
        let c = self.st();
        c.stop_gen.store(saved.2, Relaxed);
        c.in_stop.store(saved.1, Release);
        c.in_step.store(saved.3, SeqCst);
        c.delivering.store(saved.0, SeqCst);
    }

    /// One `CrashStop::on_poll` from a loop in NMI context; returns whether
    /// it stopped the CPU.
    fn poll_stop(&self, ctx: Ctx) -> bool {
        let m = &self.m;
        let c = self.st();
        let saved = self.begin_handler();
        // A `PollLate` CPU polling after it was given up on, during the
        // hold: it must not return before the monarch's callback did.
        let gen = m.episode_gen.load(Acquire);
        let given_up = c.mode() == Mode::PollLate
            && m.cs.how(self.id, gen) == How::Missing
            && m.callback_done_gen.load(SeqCst) < gen;
        let stopped = m.cs.on_poll(self, ctx);
        if stopped && given_up && m.callback_done_gen.load(SeqCst) < gen {
            m.ran_free.fetch_add(1, Relaxed);
        }
        self.end_handler(saved);
        stopped
    }

    fn take(&self, nmi: bool) {
        let c = self.st();
        let pending = if nmi { &c.nmi_pending } else { &c.ipi_pending };
        let saved = self.begin_handler();
        // A `Late` CPU taking its interrupt after it was given up on, while
        // the generation is held: it must not return before the monarch's
        // callback did (it is held until the release).
        let gen = self.m.episode_gen.load(Acquire);
        let given_up = c.mode() == Mode::Late
            && self.m.cs.how(self.id, gen) == How::Missing
            && self.m.callback_done_gen.load(SeqCst) < gen;
        if pending.swap(false, SeqCst) {
            let ctx = self.ctx(nmi);
            c.irqs_off.store(true, SeqCst);
            if nmi {
                c.in_nmi.store(true, SeqCst);
                if !self.m.cs.on_nmi(self, ctx) {
                    c.unclaimed_nmis.fetch_add(1, Relaxed);
                }
                c.in_nmi.store(false, SeqCst);
            } else {
                self.m.cs.on_ipi(self, ctx);
            }
            c.irqs_off.store(ctx.irqs_were_off, SeqCst);
            if given_up && self.m.callback_done_gen.load(SeqCst) < gen {
                self.m.ran_free.fetch_add(1, Relaxed);
            }
        }
        self.end_handler(saved);
    }

    fn poll_nmi(&self) {
        let c = self.st();
        if !c.in_nmi.load(SeqCst) && c.nmi_pending.load(SeqCst) {
            self.take(true);
        }
    }

    fn poll_ipi(&self) {
        let c = self.st();
        if !c.irqs_off.load(SeqCst) && c.ipi_pending.load(SeqCst) {
            self.take(false);
        }
    }

    /// Calls `run()` as a concurrent caller, interrupts off.
    fn call(&self) {
        let m = &self.m;
        let c = self.st();
        let params = *m.params.lock().unwrap();
        let was_off = c.irqs_off.swap(true, SeqCst);
        // All callers enter run() together, once the driver has seen every
        // CPU take the episode.
        m.barrier.fetch_add(1, AcqRel);
        while m.barrier.load(Acquire) < (1 << 16) + m.ncallers.load(Acquire) {
            if m.shutdown.load(Acquire) {
                return;
            }
            thread::yield_now();
        }
        if c.stall_caller.load(Acquire) {
            // Enter only once another CPU won the election.
            wait_until("no monarch for the stalled caller", || {
                m.cs.monarch().is_some()
            });
        }
        c.in_run.store(true, SeqCst);
        let ctx = self.ctx(false);
        let res = m.cs.run_full(
            self,
            &params,
            ctx,
            |h| self.inspect(h, &params),
            |h, snap| {
                snap.late = (0..m.n as u32).map(|cpu| h.late(cpu)).collect();
                snap.final_outcome = *h.outcome();
                // Every slave has left: none may spin or work from here on.
                m.monarch_returned_gen
                    .fetch_max(h.outcome().generation, SeqCst);
            },
        );
        c.irqs_off.store(was_off, SeqCst);
        c.past_gather.store(false, SeqCst);
        let (res, held) = match res {
            Ok((out, snap)) => (Ok(out), Some(snap)),
            Err(e) => (Err(e), None),
        };
        *c.result.lock().unwrap() = Some(CallResult { res, held });
        c.in_stop.store(false, Release);
        c.in_run.store(false, SeqCst);
    }

    /// The monarch's callback: snapshot the table, try a nested call.
    fn inspect(&self, h: &Held<'_, SimCpu, MAX_CPUS>, params: &Params) -> Snapshot {
        let m = &self.m;
        let c = self.st();
        // NMIs sent from here on are wake-ups.
        c.past_gather.store(true, SeqCst);
        let out = *h.outcome();
        let table: Vec<_> = (0..m.n as u32)
            .map(|cpu| (h.how(cpu), h.with_record(cpu, |r| *r)))
            .collect();
        let slave = |how: &How| matches!(how, How::Ipi | How::Nmi | How::Caller);
        if m.callback_waits_for_halts.load(Acquire) {
            wait_until("a held slave did not halt", || {
                table.iter().enumerate().all(|(cpu, (how, _))| {
                    !matches!(how, How::Ipi | How::Caller) || m.cpus[cpu].halted.load(SeqCst)
                })
            });
        }
        if c.crash_in_callback.swap(false, AcqRel) {
            self.crash_as_monarch();
            return Snapshot {
                table,
                nested: Err(Error::Invalid),
                all_held: false,
                all_done: false,
                outcome: out,
                final_outcome: Outcome::default(),
                late: Vec::new(),
                nested_stay: None,
            };
        }
        let all_held = table.iter().enumerate().all(|(cpu, (how, _))| {
            let c = &m.cpus[cpu];
            !slave(how) || (c.in_stop.load(Acquire) && c.stop_gen.load(Acquire) == out.generation)
        });
        let all_done = table.iter().enumerate().all(|(cpu, (how, _))| {
            !slave(how) || m.cpus[cpu].stop_done_gen.load(SeqCst) == out.generation
        });
        // A resuming nested call (a stay-stopped one from the callback is
        // served by the held generation).
        let resume = Params {
            stay: false,
            ..*params
        };
        let nested = m.cs.run(self, &resume, self.ctx(false), |_| ()).map(|_| ());
        let hold = m.hold_us.load(Acquire);
        if hold > 0 {
            thread::sleep(Duration::from_micros(hold));
        }
        let nested_stay = m.nested_stay.load(Acquire).then(|| {
            // A stay-stopped call: served by the CPUs held.
            let gen = out.generation;
            let stay = Params {
                stay: true,
                handoff: false,
                payload: params.payload | PAYLOAD_NESTED,
                ..*params
            };
            m.nest_pending_gen.store(gen, SeqCst);
            let r = m.cs.run(self, &stay, self.ctx(false), |h2| {
                let same_table = *h2.outcome() == out
                    && (0..m.n as u32).all(|cpu| {
                        (h2.how(cpu), h2.with_record(cpu, |r| *r)) == table[cpu as usize]
                    });
                let all_done = table.iter().enumerate().all(|(cpu, (how, _))| {
                    !slave(how) || m.cpus[cpu].nested_done_gen.load(SeqCst) == gen
                });
                // The release comes now (late CPUs may leave after it).
                m.callback_done_gen.store(gen, SeqCst);
                (same_table, all_done)
            });
            m.nest_pending_gen.store(0, SeqCst);
            r.map(|(o, (same_table, all_done))| NestedStay {
                generation: o.generation,
                same_table,
                all_done,
            })
        });
        m.callback_done_gen.store(out.generation, SeqCst);
        Snapshot {
            table,
            nested,
            all_held,
            all_done,
            outcome: out,
            final_outcome: Outcome::default(),
            late: Vec::new(),
            nested_stay,
        }
    }

    fn stall(&self) {
        let c = self.st();
        c.stall_caller.store(false, Release);
        c.stalled.store(true, SeqCst);
        wait_until("no NMI for the stalled caller", || {
            c.nmi_pending.load(SeqCst)
        });
        self.poll_nmi();
        wait_until("monarch did not finish", || self.m.cs.monarch().is_none());
    }

    fn nested_in_release(&self) {
        let c = self.st();
        let m = &self.m;
        c.nested_in_release.store(false, Release);
        // Stay in this relax() until the monarch's callback returned, then
        // give it time to publish the release and start waiting for us to
        // leave: the NMI hits right then.
        let gen = c.stop_gen.load(Relaxed);
        wait_until("callback never returned", || {
            m.callback_done_gen.load(SeqCst) == gen
        });
        thread::sleep(Duration::from_millis(20));
        c.in_nmi.store(true, SeqCst);
        let params = *m.params.lock().unwrap();
        let res =
            m.cs.run(self, &params, self.ctx(true), |_| ())
                .map(|(o, ())| o);
        c.in_nmi.store(false, SeqCst);
        *c.nested_result.lock().unwrap() = Some(res);
    }

    /// An NMI on top of a held CPU whose handler calls `run()` (a panic in
    /// NMI context going to kdump).
    fn run_when_held(&self) {
        let c = self.st();
        let m = &self.m;
        let gen = c.stop_gen.load(Relaxed);
        let was_nmi = c.in_nmi.swap(true, SeqCst);
        let params = Params {
            handoff: false,
            ..*m.params.lock().unwrap()
        };
        let res =
            m.cs.run(self, &params, self.ctx(true), |_| ())
                .map(|(o, ())| o);
        c.run_during_hold
            .store(m.callback_done_gen.load(SeqCst) < gen, SeqCst);
        c.in_nmi.store(was_nmi, SeqCst);
        *c.nested_result.lock().unwrap() = Some(res);
    }

    /// The monarch oopses in its callback: the die path calls
    /// `abort_on_crash()`, then the CPU never runs again (until the machine
    /// is torn down).
    fn crash_as_monarch(&self) {
        let c = self.st();
        let r = self.m.cs.abort_on_crash(self);
        *c.crashed_result.lock().unwrap() = Some(r);
        c.crashed.store(true, SeqCst);
        c.in_run.store(false, SeqCst);
        while !self.m.shutdown.load(Acquire) {
            thread::park_timeout(Duration::from_millis(5));
        }
        // Torn down: the callback returns (to nothing that is checked).
    }

    /// Whether a knob that acts from a held CPU's `relax()` is armed: it
    /// stands for an event (an NMI on top, a crash) that ends a halt.
    fn held_knob_armed(&self) -> bool {
        let c = self.st();
        c.crash_when_held.load(Acquire)
            || c.run_when_held.load(Acquire)
            || c.nested_in_release.load(Acquire)
            || c.stall_caller.load(Acquire)
    }

    /// The CPU oopses while held: the die path calls `crashed()`, then the
    /// CPU never runs again (until the machine is torn down).
    fn crash(&self) {
        let c = self.st();
        let r = self.m.cs.crashed(self);
        *c.crashed_result.lock().unwrap() = Some(r);
        c.crashed.store(true, SeqCst);
        while !self.m.shutdown.load(Acquire) {
            thread::park_timeout(Duration::from_millis(5));
        }
    }
}

impl Platform for SimCpu {
    type Record = Record;
    type Ctx = Ctx;
    type Payload = usize;
    const EMPTY_RECORD: Record = Record::EMPTY;
    const EMPTY_PAYLOAD: usize = 0;
    /// See the module documentation: a relax that does not advance the
    /// virtual clock takes 0 virtual ns.
    const RELAX_MIN_NS: u64 = 1;

    fn this_cpu(&self) -> u32 {
        self.id
    }

    fn nr_cpus(&self) -> u32 {
        self.m.n as u32
    }

    fn cpu_online(&self, cpu: u32) -> bool {
        (cpu as usize) < self.m.n && self.m.cpus[cpu as usize].online.load(Acquire)
    }

    fn now_ns(&self) -> u64 {
        self.m.vclock.load(SeqCst)
    }

    fn send_ipi(&self, cpu: u32) {
        let c = &self.m.cpus[cpu as usize];
        c.ipis_sent.fetch_add(1, Relaxed);
        c.ipi_pending.store(true, SeqCst);
        self.m.kick(cpu as usize);
    }

    fn send_nmi(&self, cpu: u32) {
        let c = &self.m.cpus[cpu as usize];
        if self.st().past_gather.load(SeqCst) {
            c.wake_nmis_sent.fetch_add(1, Relaxed);
        } else {
            c.nmis_sent.fetch_add(1, Relaxed);
        }
        c.nmi_pending.store(true, SeqCst);
        self.m.kick(cpu as usize);
    }

    /// A broadcast is one send to each other online CPU, in order.
    fn send_to_others(&self, nmi: bool) -> bool {
        for cpu in (0..self.m.n as u32).filter(|&c| c != self.id && self.cpu_online(c)) {
            if nmi {
                self.send_nmi(cpu);
            } else {
                self.send_ipi(cpu);
            }
        }
        true
    }

    fn relax(&self) {
        let m = &self.m;
        let c = self.st();
        if c.in_stop.load(Relaxed)
            && m.monarch_returned_gen.load(SeqCst) >= c.stop_gen.load(Relaxed)
        {
            m.late_spins.fetch_add(1, Relaxed);
        }
        if c.in_stop.load(Relaxed) && c.crash_when_held.swap(false, AcqRel) {
            self.crash();
            return;
        }
        if c.stall_caller.load(Acquire) && c.in_run.load(Acquire) && m.cs.monarch() != Some(self.id)
        {
            self.stall();
        }
        if c.in_stop.load(Relaxed) && c.run_when_held.swap(false, AcqRel) {
            self.run_when_held();
        }
        if c.nested_in_release.load(Acquire) && c.in_stop.load(Relaxed) {
            self.nested_in_release();
        }
        self.poll();
        if m.cs.monarch() == Some(self.id) {
            if !m.frozen_clock.load(Acquire) && m.quiescent(self.id) {
                m.vclock.fetch_add(TICK_NS, SeqCst);
            }
            thread::yield_now();
        } else if c.spins.fetch_add(1, Relaxed) % 8 == 7 {
            thread::sleep(Duration::from_micros(20));
        } else {
            thread::yield_now();
        }
    }

    fn may_halt(&self, how: How) -> bool {
        self.m.halt.load(Acquire)
            && matches!(how, How::Ipi | How::Caller)
            && !self.st().in_nmi.load(SeqCst)
    }

    /// See the module documentation, "Halted hold".
    fn halt_while(&self, word: &AtomicU64, val: u64) {
        let m = &self.m;
        let c = self.st();
        assert!(!c.in_nmi.load(SeqCst), "halt_while() in NMI context");
        // cmp; jne
        if word.load(SeqCst) != val {
            return;
        }
        // The window before the hlt.
        match m.halt_window_us.load(Acquire) {
            0 => thread::yield_now(),
            us => thread::sleep(Duration::from_micros(us)),
        }
        if c.nmi_pending.load(SeqCst) {
            // Taken before the hlt, which follows all the same (x86-64
            // cannot rewind it to the cmp): lost unless another comes.
            c.window_nmis.fetch_add(1, Relaxed);
            self.poll_nmi();
        }
        // hlt: only an NMI ends it (interrupts are off).
        c.halts.fetch_add(1, Relaxed);
        if c.in_stop.load(Relaxed)
            && m.monarch_returned_gen.load(SeqCst) >= c.stop_gen.load(Relaxed)
        {
            m.late_spins.fetch_add(1, Relaxed);
        }
        c.halted.store(true, SeqCst);
        while !c.nmi_pending.load(SeqCst) && !m.shutdown.load(Acquire) && !self.held_knob_armed() {
            thread::park_timeout(Duration::from_millis(5));
        }
        c.halted.store(false, SeqCst);
        // An NMI on top of the halt, not at the next relax(): a CPU woken
        // for the release leaves without another relax().
        if c.nested_in_release.load(Acquire) && c.in_stop.load(Relaxed) {
            self.nested_in_release();
        }
        self.poll_nmi();
    }

    fn capture(&self, rec: &mut Record, cpu: u32, how: How, t_ns: u64, ctx: Ctx) {
        let m = &self.m;
        if cpu != self.id {
            m.wrong_cpu.fetch_add(1, Relaxed);
        }
        let c = self.st();
        c.captures.fetch_add(1, Relaxed);
        if how == How::Monarch && c.hold_monarch_capture.swap(false, AcqRel) {
            wait_until("stall caller never stalled", || {
                m.cpus[..m.n].iter().any(|o| o.stalled.load(SeqCst))
            });
        }
        *rec = Record {
            cpu,
            marker: ctx.marker,
            how,
            t_ns,
            irqs_were_off: ctx.irqs_were_off,
            in_nmi: ctx.in_nmi,
        };
    }

    fn stopped(&self, cpu: u32, rec: &Record, ctx: Ctx, payload: &usize) {
        let m = &self.m;
        let c = self.st();
        let want = m.params.lock().unwrap().payload;
        let p = *payload;
        // The CPU is inside this generation: no later one has started (a
        // hand-off step starts before the driver starts the next episode).
        let gen = m.cs.generation();
        if p & PAYLOAD_NESTED != 0 {
            // A nested stay-stopped request, served by a held CPU with the
            // context it was stopped in.
            if cpu != self.id
                || rec.cpu != cpu
                || rec.marker != ctx.marker
                || p != want | PAYLOAD_NESTED
                || c.stop_gen.load(Relaxed) != gen
            {
                m.wrong_cpu.fetch_add(1, Relaxed);
            }
            c.nested_stops.fetch_add(1, Relaxed);
            c.nested_done_gen.store(gen, SeqCst);
            return;
        }
        if cpu != self.id || rec.cpu != cpu || rec.marker != ctx.marker || p != want {
            m.wrong_cpu.fetch_add(1, Relaxed);
        }
        c.stops.fetch_add(1, Relaxed);
        c.stop_gen.store(gen, Relaxed);
        c.in_stop.store(true, Release);
        if c.crash_in_stop.swap(false, AcqRel) {
            self.crash();
        }
        let slow = c.slow_stop_us.load(Acquire);
        if slow > 0 {
            c.in_slow_stop.store(true, SeqCst);
            thread::sleep(Duration::from_micros(slow));
            c.in_slow_stop.store(false, SeqCst);
        }
        if p & PAYLOAD_HOLD != 0 {
            // A debugger's slave loop: runs on (past `run()`) until told,
            // taking NMIs and polling with the context it was stopped in.
            let (rec0, p0) = (*rec, p);
            c.step_depth.fetch_add(1, SeqCst);
            c.in_step.store(true, SeqCst);
            while !m.release_holds.load(Acquire) && !m.shutdown.load(Acquire) {
                self.poll_nmi();
                self.poll_stop(ctx);
                thread::sleep(Duration::from_micros(20));
            }
            c.in_step.store(false, SeqCst);
            c.step_depth.fetch_sub(1, SeqCst);
            // Volatile: the protocol handed shared references, which the
            // compiler may assume unchanged; a protocol that handed its own
            // cells would have them rewritten by the next generation.
            // SAFETY: both references are valid for the whole call.
            let now = unsafe {
                (
                    std::ptr::read_volatile(rec),
                    std::ptr::read_volatile(payload),
                )
            };
            if now != (rec0, p0) {
                m.copies_changed.fetch_add(1, Relaxed);
            }
        } else if p & PAYLOAD_HANDOFF == 0
            && m.monarch_returned_gen.load(SeqCst) >= gen
            && !c.crashed.load(Acquire)
        {
            // Still working for a generation whose monarch is done with it.
            m.late_spins.fetch_add(1, Relaxed);
        }
        c.stop_done_gen.store(gen, SeqCst);
    }

    fn park(&self) {
        let c = self.st();
        c.parked.store(true, SeqCst);
        c.delivering.store(false, SeqCst);
        while !self.m.shutdown.load(Acquire) {
            thread::park_timeout(Duration::from_millis(5));
        }
    }

    fn resumed(&self) {
        self.st().resumes.fetch_add(1, Relaxed);
    }

    fn released(&self, _stay: bool) {}
}
