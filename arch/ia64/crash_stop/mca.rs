// SPDX-License-Identifier: GPL-2.0

//! The MCA and INIT rendezvous of `arch/ia64/kernel/mca.c`, with the
//! crash_stop hooks that let both coexist (see the module documentation of
//! the backend for the rules and the Linux sources this follows).

use super::platform::{Frame, Ia64Cpu};
use super::{Ia64Hw, IA64_INIT_RESUME, IA64_IPI_DM_INT, IA64_MCA_WAKEUP_VECTOR, NR_CPUS};
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
    /// crash_stop glue: INIT slave wait deferred by the crash_stop monarch
    /// (`leave_seq` to wait for, 0 if none) and when it checked in.
    deferred: [AtomicU64; NR_CPUS],
    deferred_at: [AtomicU64; NR_CPUS],
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

    /// Whether `cpu` still owes the wait of an INIT slave it deferred.
    pub fn deferred(&self, cpu: u32) -> bool {
        self.deferred[cpu as usize].load(SeqCst) != 0
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
    hw.sal_mc_rendez();
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
        if cs.monarch() == Some(cpu) {
            // crash_stop: its monarch never spins in a firmware
            // rendezvous (an MCA/INIT monarch may be waiting for its
            // release); checked in, it finishes the slave's wait after
            // its release, see `finish_deferred`.
            mca.deferred_at[cpu as usize].store(hw.itc_ns(), SeqCst);
            mca.deferred[cpu as usize].store(mca.leaves() + 1, SeqCst);
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

/// Ends an INIT slave wait the crash_stop monarch deferred: once a
/// monarch left after its check-in (as a Linux slave would see it), or, for
/// a check-in that came after the rendezvous it belonged to, once no monarch
/// is there, no other CPU is checked in and the monarch's
/// `ia64_wait_for_slaves` bound has passed. (Neither "nobody is checked
/// in" alone, which holds before an all-slaves INIT collected its last
/// slave, nor the time bound alone, which an all-slaves INIT delayed by
/// crash_stop may exceed, would do: each lets the slave count drop before
/// the last slave arrives, and nobody is ever promoted.) With `wait`, spins
/// until then.
pub fn finish_deferred<H: Ia64Hw>(p: &Ia64Cpu<H>, wait: bool) {
    let hw = &p.hw;
    let mca = hw.mca();
    let me = hw.cpu();
    let until = mca.deferred[me as usize].load(SeqCst);
    if until == 0 {
        return;
    }
    loop {
        let stale = || {
            mca.monarch_cpu.load(SeqCst) == NO_MONARCH
                && mca.mca_count.load(SeqCst) == 0
                && hw
                    .itc_ns()
                    .saturating_sub(mca.deferred_at[me as usize].load(SeqCst))
                    > mca.slave_wait_ns
                && (0..hw.nr_cpus())
                    .all(|c| c == me || mca.checkin(c) == IA64_MCA_RENDEZ_CHECKIN_NOTDONE)
        };
        if mca.leaves() >= until || stale() {
            break;
        }
        if !wait || mca.deferred[me as usize].load(SeqCst) != until {
            return;
        }
        hw.cpu_relax();
    }
    // A nested context (an interruption taken in `cpu_relax`) may have
    // finished it meanwhile: only one of them checks out.
    if mca.deferred[me as usize]
        .compare_exchange(until, 0, SeqCst, SeqCst)
        .is_ok()
    {
        mca.set_checkin(me, IA64_MCA_RENDEZ_CHECKIN_NOTDONE);
        mca.init_slaves.fetch_sub(1, SeqCst);
    }
}
