// SPDX-License-Identifier: GPL-2.0

//! The MCA and INIT rendezvous of `arch/ia64/kernel/mca.c`, with the
//! crash_stop hooks that let both coexist (see the module documentation of
//! the backend for the rules and the Linux sources this follows).

use super::platform::{Frame, Ia64Cpu};
use super::{Ia64Hw, IA64_INIT_RESUME, IA64_IPI_DM_INT, IA64_MCA_WAKEUP_VECTOR, NR_CPUS};
use crate::protocol::How;
use crate::sync::{fence, AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering::SeqCst};

/// `monarch_cpu == -1`.
pub const NO_MONARCH: u32 = u32::MAX;

/// `IA64_MCA_RENDEZ_CHECKIN_NOTDONE`: not in a rendezvous.
pub const IA64_MCA_RENDEZ_CHECKIN_NOTDONE: u32 = 0;
/// `IA64_MCA_RENDEZ_CHECKIN_DONE`: in the MCA rendezvous.
pub const IA64_MCA_RENDEZ_CHECKIN_DONE: u32 = 1;
/// `IA64_MCA_RENDEZ_CHECKIN_INIT`: an INIT slave.
pub const IA64_MCA_RENDEZ_CHECKIN_INIT: u32 = 2;
/// `IA64_MCA_RENDEZ_CHECKIN_CONCURRENT_MCA`: in `ia64_mca_handler`.
pub const IA64_MCA_RENDEZ_CHECKIN_CONCURRENT_MCA: u32 = 3;

/// Where a CPU is, for crash_stop: the loop it answers from, or the path
/// that recorded it.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Where {
    /// Ordinary kernel context.
    Normal = 0,
    /// crash_stop's IPI handler.
    Ipi = 1,
    /// An INIT that crash_stop sent.
    Init = 2,
    /// The MCA rendezvous loop (`ia64_mca_rendez_int_handler`).
    McaRendezvous = 3,
    /// `ia64_mca_handler`, waiting as a concurrent MCA or for the last
    /// monarch.
    ConcurrentMca = 4,
    /// An INIT slave loop of `ia64_init_handler`.
    InitSlave = 5,
    /// A `run()` caller (monarch or losing caller).
    Caller = 6,
}

impl Where {
    fn from_u8(v: u8) -> Where {
        match v {
            1 => Where::Ipi,
            2 => Where::Init,
            3 => Where::McaRendezvous,
            4 => Where::ConcurrentMca,
            5 => Where::InitSlave,
            6 => Where::Caller,
            _ => Where::Normal,
        }
    }
}

/// The `notify_die` events the model uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Die {
    /// `DIE_MCA_MONARCH_PROCESS`: the MCA monarch, slaves rendezvoused.
    McaMonarchProcess,
    /// `DIE_INIT_MONARCH_PROCESS`: the INIT monarch, slaves rendezvoused.
    InitMonarchProcess,
}

/// The part of `struct ia64_sal_os_state` the handlers use.
#[derive(Clone, Copy, Debug, Default)]
pub struct SalOsState {
    /// SAL's monarch flag for this event (INIT button monarch, MCA monarch).
    pub monarch: bool,
    /// What the OS handler returns to SAL.
    pub os_status: u64,
}

/// The statics of `mca.c` plus the crash_stop glue state.
pub struct McaState {
    /// `monarch_cpu`, [`NO_MONARCH`] for -1.
    pub monarch_cpu: AtomicU32,
    /// `ia64_mc_info.imi_rendez_checkin[]`.
    pub imi_rendez_checkin: [AtomicU32; NR_CPUS],
    /// `mca_count` of `ia64_mca_handler`.
    mca_count: AtomicU32,
    /// `mca_cpu` of `ia64_mca_handler`.
    mca_cpu: [AtomicBool; NR_CPUS],
    /// `slaves` of `ia64_init_handler`.
    init_slaves: AtomicU32,
    /// `monarchs` of `ia64_init_handler`.
    init_monarchs: AtomicU32,
    /// crash_stop glue: the loop each CPU answers crash_stop from.
    polling: [AtomicU8; NR_CPUS],
    /// crash_stop glue: number of times an MCA/INIT monarch left.
    leave_seq: AtomicU64,
    /// crash_stop glue: rendezvous slave wait deferred by a CPU inside a
    /// crash_stop generation (`leave_seq` to wait for, 0 if none), when it
    /// checked in, and which loop it deferred ([`Where::InitSlave`] or
    /// [`Where::McaRendezvous`]).
    deferred: [AtomicU64; NR_CPUS],
    deferred_at: [AtomicU64; NR_CPUS],
    deferred_kind: [AtomicU8; NR_CPUS],
    /// crash_stop glue: the last generation each CPU left as a slave.
    cs_left: [AtomicU64; NR_CPUS],
    /// Bound of `ia64_wait_for_slaves` (5 s in Linux).
    pub slave_wait_ns: u64,
    /// Times `ia64_wait_for_slaves` gave up on a slave.
    pub slave_timeouts: AtomicU32,
    /// crash_stop interrupts not sent because the CPU answers from a loop.
    pub skipped: AtomicU32,
}

impl McaState {
    /// The state at boot; `slave_wait_ns` bounds `ia64_wait_for_slaves`.
    pub fn new(slave_wait_ns: u64) -> Self {
        McaState {
            monarch_cpu: AtomicU32::new(NO_MONARCH),
            imi_rendez_checkin: core::array::from_fn(|_| AtomicU32::new(0)),
            mca_count: AtomicU32::new(0),
            mca_cpu: core::array::from_fn(|_| AtomicBool::new(false)),
            init_slaves: AtomicU32::new(0),
            init_monarchs: AtomicU32::new(0),
            polling: core::array::from_fn(|_| AtomicU8::new(0)),
            leave_seq: AtomicU64::new(0),
            deferred: core::array::from_fn(|_| AtomicU64::new(0)),
            deferred_at: core::array::from_fn(|_| AtomicU64::new(0)),
            deferred_kind: core::array::from_fn(|_| AtomicU8::new(0)),
            cs_left: core::array::from_fn(|_| AtomicU64::new(0)),
            slave_wait_ns,
            slave_timeouts: AtomicU32::new(0),
            skipped: AtomicU32::new(0),
        }
    }

    /// The loop `cpu` answers crash_stop from ([`Where::Normal`] if none).
    pub fn polling(&self, cpu: u32) -> Where {
        Where::from_u8(self.polling[cpu as usize].load(SeqCst))
    }

    /// `imi_rendez_checkin[cpu]`.
    pub fn checkin(&self, cpu: u32) -> u32 {
        self.imi_rendez_checkin[cpu as usize].load(SeqCst)
    }

    /// Number of MCA/INIT monarchs that have left so far.
    pub fn leaves(&self) -> u64 {
        self.leave_seq.load(SeqCst)
    }

    /// `(slaves, monarchs)` counters of `ia64_init_handler`.
    pub fn init_counts(&self) -> (u32, u32) {
        (
            self.init_slaves.load(SeqCst),
            self.init_monarchs.load(SeqCst),
        )
    }

    /// Whether `cpu` still owes the wait of a rendezvous slave it deferred.
    pub fn deferred(&self, cpu: u32) -> bool {
        self.deferred[cpu as usize].load(SeqCst) != 0
    }

    /// Checked in as a slave of the loop `kind`, `cpu` finishes the wait
    /// later, see [`finish_deferred`].
    fn defer(&self, cpu: u32, kind: Where, now_ns: u64) {
        let i = cpu as usize;
        self.deferred_at[i].store(now_ns, SeqCst);
        self.deferred_kind[i].store(kind as u8, SeqCst);
        self.deferred[i].store(self.leaves() + 1, SeqCst);
    }

    pub(super) fn count_skipped(&self) {
        self.skipped.fetch_add(1, SeqCst);
    }

    fn set_checkin(&self, cpu: u32, v: u32) {
        self.imi_rendez_checkin[cpu as usize].store(v, SeqCst);
    }

    fn start_polling(&self, cpu: u32, w: Where) -> Where {
        Where::from_u8(self.polling[cpu as usize].swap(w as u8, SeqCst))
    }

    /// Leaves a rendezvous loop. Pairs with `Ia64Cpu::answers_from_loop`:
    /// after the fence, a request whose interrupt was skipped is visible to
    /// the last poll.
    fn stop_polling<H: Ia64Hw>(&self, p: &Ia64Cpu<H>, prev: Where, frame: Frame) {
        self.polling[p.hw.cpu() as usize].store(prev as u8, SeqCst);
        if prev == Where::Normal {
            fence(SeqCst);
            poll_crash_stop(p, frame);
        }
    }

    fn left(&self) {
        self.monarch_cpu.store(NO_MONARCH, SeqCst);
        self.leave_seq.fetch_add(1, SeqCst);
    }
}

/// Whether the calling CPU was held as a slave in crash_stop generation
/// `gen` (stopped, or answered late), whether or not it has left since.
fn slave_in<H: Ia64Hw>(p: &Ia64Cpu<H>, gen: u64) -> bool {
    let cs = p.hw.crash_stop();
    let me = p.hw.cpu();
    gen != 0
        && (matches!(cs.how(me, gen), How::Ipi | How::Nmi | How::Caller) || cs.was_late(me, gen))
}

/// Whether the calling CPU is inside a crash_stop generation as a slave
/// (held, or answered late and held), lower on its own stack: the crash_stop
/// monarch waits, unboundedly, for it to leave, so it must not spin in a
/// firmware rendezvous now (the rendezvous monarch may be waiting for
/// crash_stop).
pub fn held_by_crash_stop<H: Ia64Hw>(p: &Ia64Cpu<H>) -> bool {
    let hw = &p.hw;
    let me = hw.cpu();
    // No later generation starts before this CPU left: if it is inside
    // one, it is inside `generation()`.
    let gen = hw.crash_stop().generation();
    hw.crash_stop().monarch().is_some_and(|m| m != me)
        && slave_in(p, gen)
        && hw.mca().cs_left[me as usize].load(SeqCst) != gen
}

/// Notes that the calling CPU left the crash_stop generation it was held
/// in (from `Platform::resumed` / `Platform::park`, right after it left).
pub fn left_crash_stop<H: Ia64Hw>(p: &Ia64Cpu<H>) {
    // Its monarch may have returned meanwhile, and a new generation
    // started: the CPU is not a slave of that one (yet), and any value
    // below it will do.
    let gen = p.hw.crash_stop().generation();
    let left = if slave_in(p, gen) {
        gen
    } else {
        gen.saturating_sub(1)
    };
    p.hw.mca().cs_left[p.hw.cpu() as usize].store(left, SeqCst);
}

/// Answers a pending crash_stop request from a rendezvous loop (the
/// request's IPI or INIT was not sent, see `Ia64Cpu::send_ipi`).
pub fn poll_crash_stop<H: Ia64Hw>(p: &Ia64Cpu<H>, frame: Frame) {
    let cs = p.hw.crash_stop();
    cs.on_ipi(p, frame);
    cs.on_nmi(p, frame);
}

/// Spins in a rendezvous loop while `cond` holds, answering crash_stop.
fn spin_polling<H: Ia64Hw>(p: &Ia64Cpu<H>, frame: Frame, cond: impl Fn(&McaState) -> bool) {
    while cond(p.hw.mca()) {
        poll_crash_stop(p, frame);
        p.hw.cpu_relax();
    }
}

/// `ia64_wait_for_slaves`: waits (bounded) until every online CPU but the
/// monarch has left `NOTDONE`. Returns whether all did.
pub fn wait_for_slaves<H: Ia64Hw>(p: &Ia64Cpu<H>, monarch: u32) -> bool {
    let hw = &p.hw;
    let mca = hw.mca();
    let start = hw.itc_ns();
    loop {
        let missing = (0..hw.nr_cpus()).any(|c| {
            c != monarch && hw.cpu_online(c) && mca.checkin(c) == IA64_MCA_RENDEZ_CHECKIN_NOTDONE
        });
        if !missing {
            return true;
        }
        if hw.itc_ns().saturating_sub(start) > mca.slave_wait_ns {
            mca.slave_timeouts.fetch_add(1, SeqCst);
            return false;
        }
        hw.cpu_relax();
    }
}

/// `ia64_mca_wakeup_all`: wakes the CPUs spinning in the SAL rendezvous.
pub fn wakeup_all<H: Ia64Hw>(p: &Ia64Cpu<H>) {
    let hw = &p.hw;
    for cpu in 0..hw.nr_cpus() {
        if hw.cpu_online(cpu) && hw.mca().checkin(cpu) == IA64_MCA_RENDEZ_CHECKIN_DONE {
            hw.platform_send_ipi(cpu, IA64_MCA_WAKEUP_VECTOR, IA64_IPI_DM_INT);
        }
    }
}

/// `ia64_mca_rendez_int_handler`: the slave side of the MCA rendezvous.
/// Check in, spin in SAL until the monarch's wakeup, then spin in the OS
/// until the monarch leaves, answering crash_stop meanwhile.
pub fn rendez_int_handler<H: Ia64Hw>(p: &Ia64Cpu<H>, frame: Frame) {
    let hw = &p.hw;
    let mca = hw.mca();
    let cpu = hw.cpu();
    let flags = hw.local_irq_save();
    mca.set_checkin(cpu, IA64_MCA_RENDEZ_CHECKIN_DONE);
    let frame = frame.at(Where::McaRendezvous);
    let prev = mca.start_polling(cpu, Where::McaRendezvous);
    // Bounded: the MCA monarch wakes the slaves before it processes.
    hw.sal_mc_rendez();
    if held_by_crash_stop(p) {
        // crash_stop: checked in and woken, the CPU goes back to crash_stop's
        // wait loop and waits for the MCA monarch to leave once it left
        // crash_stop's generation, see `finish_deferred`.
        mca.stop_polling(p, prev, frame);
        mca.defer(cpu, Where::McaRendezvous, hw.itc_ns());
        hw.local_irq_restore(flags);
        return;
    }
    spin_polling(p, frame, |m| m.monarch_cpu.load(SeqCst) != NO_MONARCH);
    mca.stop_polling(p, prev, frame);
    mca.set_checkin(cpu, IA64_MCA_RENDEZ_CHECKIN_NOTDONE);
    hw.local_irq_restore(flags);
}

/// `ia64_mca_handler` (OS_MCA), monarch or concurrent MCA.
pub fn mca_handler<H: Ia64Hw>(p: &Ia64Cpu<H>, sos: &mut SalOsState, frame: Frame) {
    let hw = &p.hw;
    let mca = hw.mca();
    let cpu = hw.cpu();
    if mca.mca_count.fetch_add(1, SeqCst) + 1 == 1 {
        mca.monarch_cpu.store(cpu, SeqCst);
        sos.monarch = true;
    } else {
        mca.mca_cpu[cpu as usize].store(true, SeqCst);
        sos.monarch = false;
    }
    mca.set_checkin(cpu, IA64_MCA_RENDEZ_CHECKIN_CONCURRENT_MCA);
    if sos.monarch {
        wait_for_slaves(p, cpu);
        wakeup_all(p);
    } else {
        // Spin until the monarch wakes us: a slave, so answer crash_stop.
        let f = frame.at(Where::ConcurrentMca);
        let prev = mca.start_polling(cpu, Where::ConcurrentMca);
        spin_polling(p, f, |m| m.mca_cpu[cpu as usize].load(SeqCst));
        mca.stop_polling(p, prev, f);
    }
    hw.notify_die(Die::McaMonarchProcess, p, frame);
    if mca.mca_count.fetch_sub(1, SeqCst) - 1 > 0 {
        // Wake up the next monarch and wait in the rendezvous loop.
        for i in 0..hw.nr_cpus() {
            if hw.cpu_online(i) && mca.mca_cpu[i as usize].load(SeqCst) {
                mca.monarch_cpu.store(i, SeqCst);
                mca.mca_cpu[i as usize].store(false, SeqCst);
                let f = frame.at(Where::ConcurrentMca);
                let prev = mca.start_polling(cpu, Where::ConcurrentMca);
                spin_polling(p, f, |m| m.monarch_cpu.load(SeqCst) != NO_MONARCH);
                mca.stop_polling(p, prev, f);
                mca.set_checkin(cpu, IA64_MCA_RENDEZ_CHECKIN_NOTDONE);
                return;
            }
        }
    }
    mca.set_checkin(cpu, IA64_MCA_RENDEZ_CHECKIN_NOTDONE);
    // This frees the slaves and previous monarchs.
    mca.left();
}

/// `ia64_init_handler` (OS_INIT), monarch or slave.
pub fn init_handler<H: Ia64Hw>(p: &Ia64Cpu<H>, sos: &mut SalOsState, frame: Frame) {
    let hw = &p.hw;
    let mca = hw.mca();
    let cs = hw.crash_stop();
    let cpu = hw.cpu();
    sos.os_status = IA64_INIT_RESUME;

    // crash_stop: an INIT it sent in place of an NMI is its own, not an
    // INIT rendezvous.
    if cs.on_nmi(p, frame.at(Where::Init))
        && !sos.monarch
        && !(mca.monarch_cpu.load(SeqCst) != NO_MONARCH
            && mca.checkin(cpu) == IA64_MCA_RENDEZ_CHECKIN_NOTDONE)
    {
        // (Unless a rendezvous is waiting for this CPU: SAL's INIT may
        // have coalesced with ours; then go on as its slave.)
        return;
    }

    // Broken proms that drive all INITs as slaves: promote the last one.
    if !sos.monarch && mca.init_slaves.fetch_add(1, SeqCst).wrapping_add(1) == hw.num_online_cpus()
    {
        mca.init_slaves.fetch_sub(1, SeqCst);
        sos.monarch = true;
    }
    // Broken proms that drive all INITs as monarchs: demote all but one.
    if sos.monarch && mca.init_monarchs.fetch_add(1, SeqCst).wrapping_add(1) > 1 {
        mca.init_monarchs.fetch_sub(1, SeqCst);
        // Fixed here: Linux does not count a demoted monarch in `slaves`,
        // yet decrements `slaves` when it leaves as a slave, so every
        // demotion leaves `slaves` one lower and a later all-slaves INIT
        // never promotes anybody (every CPU spins for a monarch forever).
        mca.init_slaves.fetch_add(1, SeqCst);
        sos.monarch = false;
    }

    if !sos.monarch {
        mca.set_checkin(cpu, IA64_MCA_RENDEZ_CHECKIN_INIT);
        if cs.monarch() == Some(cpu) || held_by_crash_stop(p) {
            // crash_stop: its monarch, and a slave it holds (the monarch
            // waits for it to leave), never spin in a firmware
            // rendezvous (an MCA/INIT monarch may be waiting for its
            // release); checked in, they finish the slave's wait after
            // the release, see `finish_deferred`.
            mca.defer(cpu, Where::InitSlave, hw.itc_ns());
            return;
        }
        let f = frame.at(Where::InitSlave);
        let seq = mca.leaves();
        let prev = mca.start_polling(cpu, Where::InitSlave);
        // Spin until the monarch enters, then until it leaves. Unlike
        // Linux, the first wait also ends if a monarch already came and
        // went: answering crash_stop from this loop can hold the slave
        // for the whole of a monarch's visit.
        spin_polling(p, f, |m| {
            m.monarch_cpu.load(SeqCst) == NO_MONARCH && m.leaves() == seq
        });
        spin_polling(p, f, |m| m.monarch_cpu.load(SeqCst) != NO_MONARCH);
        mca.stop_polling(p, prev, f);
        mca.set_checkin(cpu, IA64_MCA_RENDEZ_CHECKIN_NOTDONE);
        mca.init_slaves.fetch_sub(1, SeqCst);
        return;
    }

    mca.monarch_cpu.store(cpu, SeqCst);
    wait_for_slaves(p, cpu);
    hw.notify_die(Die::InitMonarchProcess, p, frame);
    mca.init_monarchs.fetch_sub(1, SeqCst);
    mca.left();
}

/// Ends a rendezvous slave wait deferred by a CPU inside a crash_stop
/// generation (its monarch, or a held slave).
///
/// A deferred MCA rendezvous wait ends, as `ia64_mca_rendez_int_handler`'s
/// own, when no monarch is there. A deferred INIT slave wait ends once a
/// monarch left after its check-in (as a Linux slave would see it), or, for
/// a check-in that came after the rendezvous it belonged to, once no monarch
/// is there, no other CPU is checked in and the monarch's
/// `ia64_wait_for_slaves` bound has passed. (Neither "nobody is checked
/// in" alone, which holds before an all-slaves INIT collected its last
/// slave, nor the time bound alone, which an all-slaves INIT delayed by
/// crash_stop may exceed, would do: each lets the slave count drop before
/// the last slave arrives, and nobody is ever promoted.)
///
/// With `wait` (called once the CPU is out of the generation), spins until
/// then in the loop it deferred, answering crash_stop from it like the
/// other slaves of the rendezvous.
pub fn finish_deferred<H: Ia64Hw>(p: &Ia64Cpu<H>, wait: bool) {
    let hw = &p.hw;
    let mca = hw.mca();
    let me = hw.cpu();
    let until = mca.deferred[me as usize].load(SeqCst);
    if until == 0 {
        return;
    }
    let kind = Where::from_u8(mca.deferred_kind[me as usize].load(SeqCst));
    let over = || {
        let no_monarch = mca.monarch_cpu.load(SeqCst) == NO_MONARCH;
        if kind == Where::McaRendezvous {
            return no_monarch;
        }
        mca.leaves() >= until
            || (no_monarch
                && mca.mca_count.load(SeqCst) == 0
                && hw
                    .itc_ns()
                    .saturating_sub(mca.deferred_at[me as usize].load(SeqCst))
                    > mca.slave_wait_ns
                && (0..hw.nr_cpus())
                    .all(|c| c == me || mca.checkin(c) == IA64_MCA_RENDEZ_CHECKIN_NOTDONE))
    };
    if !over() {
        if !wait {
            return;
        }
        let frame = hw.interrupted_frame().at(kind);
        let prev = mca.start_polling(me, kind);
        spin_polling(p, frame, |m| {
            m.deferred[me as usize].load(SeqCst) == until && !over()
        });
        mca.stop_polling(p, prev, frame);
    }
    // A nested context (an interruption taken in `cpu_relax`) may have
    // finished it meanwhile: only one of them checks out.
    if mca.deferred[me as usize]
        .compare_exchange(until, 0, SeqCst, SeqCst)
        .is_ok()
    {
        mca.set_checkin(me, IA64_MCA_RENDEZ_CHECKIN_NOTDONE);
        if kind == Where::InitSlave {
            mca.init_slaves.fetch_sub(1, SeqCst);
        }
    }
}
