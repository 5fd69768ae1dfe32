// SPDX-License-Identifier: GPL-2.0

//! A simulated IA-64 machine (processors, interrupt controller, SAL) for the
//! IA-64 backend [`crate::ia64`]: one std thread per CPU.
//!
//! * Interruptions are delivered at the CPU's poll points (its idle loop and
//!   `cpu_relax()`): an MCA unless the CPU is in MCA context, an INIT unless
//!   it is in MCA or INIT context (PSR.mc), external interrupts (`IRR`
//!   vectors, highest first) only with `psr.i` set.
//! * SAL's MCA: the CPU that takes the first MCA is the monarch; SAL sends
//!   `IA64_MCA_RENDEZ_VECTOR` to every other online CPU not itself in MCA,
//!   waits (bounded) for them to call `SAL_MC_RENDEZ`, INITs (as slaves) the
//!   ones that did not, then calls `OS_MCA`. A later, concurrent MCA goes
//!   straight to `OS_MCA`. `SAL_MC_RENDEZ` spins until the wakeup vector is
//!   pending in `IRR`, or returns at once when no MCA is in progress.
//! * The INIT button sends INIT to every online CPU with SAL's monarch flag
//!   on one of them, or on none / all of them (broken proms).
//! * A dead CPU takes nothing at all, not even from SAL.
//! * The clock is real time since the machine started.

use crate::ia64::mca::{self, Die, SalOsState, Where};
use crate::ia64::Ia64Cpu;
use crate::ia64::{
    Frame, Ia64CrashStop, Ia64Hw, Ia64Regs, McaState, IA64_IPI_DM_INIT, IA64_IPI_VECTOR,
    IA64_MCA_RENDEZ_VECTOR, IA64_MCA_WAKEUP_VECTOR, IPI_CRASH_STOP, NR_CPUS,
};
use crate::protocol::{Error, How, Outcome, Params};
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

const HANG: Duration = Duration::from_secs(30);

/// The register marker (`cr.iip`) of `cpu` during episode `epoch`.
pub fn marker(cpu: u32, epoch: u64) -> u64 {
    0xA000_0000_0000_0000 | epoch << 8 | u64::from(cpu)
}

fn irr_bit(vector: u8) -> u32 {
    match vector {
        IA64_IPI_VECTOR => 1,
        IA64_MCA_WAKEUP_VECTOR => 2,
        IA64_MCA_RENDEZ_VECTOR => 4,
        v => panic!("unexpected vector {v:#x}"),
    }
}

/// Who gets SAL's monarch flag on an INIT-button event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitKind {
    /// The given CPU is the monarch, the others slaves.
    Monarch(u32),
    /// Broken prom: every INIT is a slave (the last one is promoted).
    AllSlaves,
    /// Broken prom: every INIT is a monarch (all but one are demoted).
    AllMonarchs,
}

/// One episode of the IA-64 machine.
#[derive(Clone, Debug)]
pub struct Episode {
    /// CPUs that run with interrupts off (busy) during the episode.
    pub irqs_off: Vec<u32>,
    /// CPUs that take nothing at all.
    pub dead: Vec<u32>,
    /// CPUs calling crash_stop from normal context, after a delay (µs).
    pub callers: Vec<(u32, u64)>,
    /// CPUs taking a machine check, after a delay (µs).
    pub mcas: Vec<(u32, u64)>,
    /// An INIT-button event, after a delay (µs).
    pub init: Option<(InitKind, u64)>,
    /// Whether the MCA monarch calls crash_stop at `DIE_MCA_MONARCH_PROCESS`.
    pub crash_on_mca: bool,
    /// Whether the INIT monarch calls crash_stop at `DIE_INIT_MONARCH_PROCESS`.
    pub crash_on_init: bool,
    /// crash_stop parameters of every call.
    pub params: Params,
}

/// Where a crash_stop call was made from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallSite {
    /// Normal kernel context.
    Normal,
    /// `DIE_MCA_MONARCH_PROCESS`.
    McaMonarch,
    /// `DIE_INIT_MONARCH_PROCESS`.
    InitMonarch,
}

/// One crash_stop call and what its callback saw.
#[derive(Clone, Debug)]
pub struct Call {
    /// Calling CPU.
    pub cpu: u32,
    /// Where it called from.
    pub site: CallSite,
    /// Its payload (unique per call).
    pub payload: usize,
    /// What `run()` returned.
    pub res: Result<Outcome, Error>,
    /// The table the callback saw (monarch only).
    pub table: Vec<(How, Option<Ia64Regs>)>,
}

/// What happened in an episode.
#[derive(Clone, Debug)]
pub struct Report {
    /// Episode number (markers use it).
    pub epoch: u64,
    /// Every crash_stop call of the episode.
    pub calls: Vec<Call>,
    /// `note_stopped` per CPU: (payload, record).
    pub stops: Vec<Vec<(usize, Ia64Regs)>>,
    /// crash_stop IPIs sent per CPU.
    pub crash_ipis: Vec<u32>,
    /// crash_stop INITs sent per CPU.
    pub crash_inits: Vec<u32>,
    /// SAL INITs (MCA escalation) per CPU.
    pub sal_inits: Vec<u32>,
    /// Times a CPU went through the MCA rendezvous handler.
    pub rendezvous: Vec<u32>,
    /// crash_stop interrupts skipped because the target answered from a
    /// rendezvous loop.
    pub skipped: u32,
    /// Times `ia64_wait_for_slaves` gave up.
    pub slave_timeouts: u32,
    /// MCA/INIT monarchs that left.
    pub leaves: u64,
}

#[derive(Default)]
struct Cpu {
    online: AtomicBool,
    dead: AtomicBool,
    psr_i: AtomicBool,
    in_mca: AtomicBool,
    in_init: AtomicBool,
    busy: AtomicU32,
    irr: AtomicU32,
    ipi_ops: AtomicU32,
    init_pending: AtomicBool,
    init_monarch: AtomicBool,
    mca_pending: AtomicBool,
    marker: AtomicU64,
    ack_epoch: AtomicU64,
    call_at: Mutex<Option<(u64, u64)>>,
    calls_done: AtomicU64,
    parked: AtomicBool,
    crash_ipis: AtomicU32,
    crash_inits: AtomicU32,
    sal_inits: AtomicU32,
    rendezvous: AtomicU32,
    stops: Mutex<Vec<(usize, Ia64Regs)>>,
}

/// The simulated IA-64 machine.
pub struct Machine {
    /// Number of CPUs.
    pub n: usize,
    /// crash_stop's state.
    pub cs: Ia64CrashStop<SimHw>,
    /// `mca.c`'s state.
    pub mca: McaState,
    cpus: Vec<Cpu>,
    sal_in_mca: AtomicU32,
    sal_rendez_done: Vec<AtomicBool>,
    sal_rendez_timeout: Duration,
    t0: Instant,
    shutdown: AtomicBool,
    epoch: AtomicU64,
    threads: OnceLock<Vec<Thread>>,
    joins: Mutex<Vec<JoinHandle<()>>>,
    ep: Mutex<Option<Episode>>,
    calls: Mutex<Vec<Call>>,
    next_payload: AtomicU64,
    log: Mutex<Vec<(u64, u32, String)>>,
}

/// The IA-64 hardware interface of one simulated CPU.
#[derive(Clone)]
pub struct SimHw {
    cpu: u32,
    m: Arc<Machine>,
}

impl Machine {
    /// Starts a machine of `n` CPUs (`n <= NR_CPUS`).
    pub fn start(n: usize) -> Arc<Machine> {
        assert!((2..=NR_CPUS).contains(&n));
        let m = Arc::new(Machine {
            n,
            cs: Ia64CrashStop::new(),
            mca: McaState::new(1_000_000_000),
            cpus: (0..n).map(|_| Cpu::default()).collect(),
            sal_in_mca: AtomicU32::new(0),
            sal_rendez_done: (0..n).map(|_| AtomicBool::new(false)).collect(),
            sal_rendez_timeout: Duration::from_millis(20),
            t0: Instant::now(),
            shutdown: AtomicBool::new(false),
            epoch: AtomicU64::new(0),
            threads: OnceLock::new(),
            joins: Mutex::new(Vec::new()),
            ep: Mutex::new(None),
            calls: Mutex::new(Vec::new()),
            next_payload: AtomicU64::new(1),
            log: Mutex::new(Vec::new()),
        });
        for c in &m.cpus {
            c.online.store(true, SeqCst);
            c.psr_i.store(true, SeqCst);
        }
        let joins: Vec<_> = (0..n as u32)
            .map(|cpu| {
                let hw = SimHw { cpu, m: m.clone() };
                thread::Builder::new()
                    .name(format!("ia64-cpu{cpu}"))
                    .spawn(move || hw.main())
                    .unwrap()
            })
            .collect();
        let _ = m
            .threads
            .set(joins.iter().map(|j| j.thread().clone()).collect());
        *m.joins.lock().unwrap() = joins;
        m
    }

    fn kick(&self, cpu: u32) {
        if let Some(t) = self.threads.get() {
            t[cpu as usize].unpark();
        }
    }

    fn now_us(&self) -> u64 {
        self.t0.elapsed().as_micros() as u64
    }

    /// Stops the machine and joins its CPU threads.
    pub fn stop(&self) {
        self.shutdown.store(true, SeqCst);
        for cpu in 0..self.n as u32 {
            self.kick(cpu);
        }
        for j in self.joins.lock().unwrap().drain(..) {
            j.join().expect("CPU thread panicked");
        }
    }

    fn wait(&self, what: &str, f: impl Fn() -> bool) {
        let start = Instant::now();
        while !f() {
            if start.elapsed() > HANG {
                let st: Vec<_> = self
                    .cpus
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        format!(
                            "cpu{i}: busy={} checkin={} polling={:?} mca={} init={} irr={:#x} \
                             init_pending={} crash_inits={} sal_inits={} crash_ipis={} parked={} \
                             deferred={} stops={:?}",
                            c.busy.load(SeqCst),
                            self.mca.checkin(i as u32),
                            self.mca.polling(i as u32),
                            c.in_mca.load(SeqCst),
                            c.in_init.load(SeqCst),
                            c.irr.load(SeqCst),
                            c.init_pending.load(SeqCst),
                            c.crash_inits.load(SeqCst),
                            c.sal_inits.load(SeqCst),
                            c.crash_ipis.load(SeqCst),
                            c.parked.load(SeqCst),
                            self.mca.deferred(i as u32),
                            c.stops.lock().unwrap(),
                        )
                    })
                    .collect();
                panic!(
                    "ia64 machine hung ({what}): monarch_cpu={:#x} init_counts={:?} cs.monarch={:?} leaves={}\n{}\n{:?}\n{:?}",
                    self.mca.monarch_cpu.load(SeqCst),
                    self.mca.init_counts(),
                    self.cs.monarch(),
                    self.mca.leaves(),
                    st.join("\n"),
                    self.ep.lock().unwrap(),
                    self.calls.lock().unwrap(),
                );
            }
            thread::sleep(Duration::from_micros(200));
        }
    }

    /// Runs one episode to completion (every call returned, every
    /// rendezvous over, every CPU back in its idle loop) and reports it.
    pub fn run_episode(&self, ep: &Episode) -> Report {
        let n = self.n;
        for c in &self.cpus {
            c.crash_ipis.store(0, SeqCst);
            c.crash_inits.store(0, SeqCst);
            c.sal_inits.store(0, SeqCst);
            c.rendezvous.store(0, SeqCst);
            c.stops.lock().unwrap().clear();
        }
        self.calls.lock().unwrap().clear();
        self.log.lock().unwrap().clear();
        self.mca.skipped.store(0, SeqCst);
        self.mca.slave_timeouts.store(0, SeqCst);
        let leaves0 = self.mca.leaves();
        *self.ep.lock().unwrap() = Some(ep.clone());
        for (i, c) in self.cpus.iter().enumerate() {
            c.dead.store(ep.dead.contains(&(i as u32)), SeqCst);
            *c.call_at.lock().unwrap() = None;
        }
        let epoch = self.epoch.fetch_add(1, SeqCst) + 1;
        for cpu in 0..n as u32 {
            self.kick(cpu);
        }
        self.wait("episode start", || {
            self.cpus
                .iter()
                .all(|c| c.parked.load(SeqCst) || c.ack_epoch.load(SeqCst) == epoch)
        });
        let go = self.now_us();
        for &(cpu, delay) in &ep.callers {
            *self.cpus[cpu as usize].call_at.lock().unwrap() = Some((epoch, go + delay));
            self.kick(cpu);
        }
        // Hardware events, in time order.
        let mut events: Vec<(u64, Option<u32>)> =
            ep.mcas.iter().map(|&(c, d)| (d, Some(c))).collect();
        if let Some((_, d)) = ep.init {
            events.push((d, None));
        }
        events.sort();
        let mut i = 0;
        while i < events.len() {
            let delay = events[i].0;
            while self.now_us() < go + delay {
                thread::sleep(Duration::from_micros(50));
            }
            // Machine checks raised at the same time are pending together
            // before any CPU takes one.
            let same: Vec<_> = events[i..].iter().take_while(|e| e.0 == delay).collect();
            for &&(_, ev) in &same {
                if let Some(cpu) = ev {
                    self.cpus[cpu as usize].mca_pending.store(true, SeqCst);
                }
            }
            for &&(_, ev) in &same {
                match ev {
                    Some(cpu) => self.kick(cpu),
                    None => self.init_button(ep.init.unwrap().0),
                }
            }
            i += same.len();
        }
        self.wait("calls and rendezvous did not end", || {
            ep.callers
                .iter()
                .all(|&(c, _)| self.cpus[c as usize].calls_done.load(SeqCst) == epoch)
                && self.mca.monarch_cpu.load(SeqCst) == mca::NO_MONARCH
                && self.sal_in_mca.load(SeqCst) == 0
                && self.cs.monarch().is_none()
                && self.cpus.iter().enumerate().all(|(i, c)| {
                    c.parked.load(SeqCst)
                        || c.dead.load(SeqCst)
                        || (c.busy.load(SeqCst) == 0
                            && !c.mca_pending.load(SeqCst)
                            && !c.init_pending.load(SeqCst)
                            && !self.mca.deferred(i as u32))
                })
        });
        Report {
            epoch,
            calls: self.calls.lock().unwrap().clone(),
            stops: self
                .cpus
                .iter()
                .map(|c| c.stops.lock().unwrap().clone())
                .collect(),
            crash_ipis: self
                .cpus
                .iter()
                .map(|c| c.crash_ipis.load(SeqCst))
                .collect(),
            crash_inits: self
                .cpus
                .iter()
                .map(|c| c.crash_inits.load(SeqCst))
                .collect(),
            sal_inits: self.cpus.iter().map(|c| c.sal_inits.load(SeqCst)).collect(),
            rendezvous: self
                .cpus
                .iter()
                .map(|c| c.rendezvous.load(SeqCst))
                .collect(),
            skipped: self.mca.skipped.load(SeqCst),
            slave_timeouts: self.mca.slave_timeouts.load(SeqCst),
            leaves: self.mca.leaves() - leaves0,
        }
    }

    fn init_button(&self, kind: InitKind) {
        for (i, c) in self.cpus.iter().enumerate() {
            if !c.online.load(SeqCst) {
                continue;
            }
            let monarch = match kind {
                InitKind::Monarch(m) => m as usize == i,
                InitKind::AllSlaves => false,
                InitKind::AllMonarchs => true,
            };
            c.init_monarch.store(monarch, SeqCst);
            c.init_pending.store(true, SeqCst);
            self.kick(i as u32);
        }
    }

    /// The event log of the last episode, one line per event.
    pub fn log(&self) -> String {
        let log = self.log.lock().unwrap();
        log.iter()
            .map(|(t, cpu, e)| format!("{t:>9}us cpu{cpu} {e}"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn event(&self, cpu: u32, e: String) {
        let t = self.now_us();
        self.log.lock().unwrap().push((t, cpu, e));
    }

    /// Whether `cpu` is parked for good.
    pub fn parked(&self, cpu: u32) -> bool {
        self.cpus[cpu as usize].parked.load(SeqCst)
    }
}

impl SimHw {
    fn st(&self) -> &Cpu {
        &self.m.cpus[self.cpu as usize]
    }

    fn main(self) {
        let m = self.m.clone();
        let c = self.st();
        let mut seen = 0;
        while !m.shutdown.load(SeqCst) {
            let epoch = m.epoch.load(SeqCst);
            if epoch != seen {
                seen = epoch;
                let off =
                    m.ep.lock()
                        .unwrap()
                        .as_ref()
                        .is_some_and(|e| e.irqs_off.contains(&self.cpu));
                c.marker.store(marker(self.cpu, epoch), SeqCst);
                c.psr_i.store(!off, SeqCst);
                c.ack_epoch.store(epoch, SeqCst);
            }
            let call = *c.call_at.lock().unwrap();
            if let Some((e, at)) = call {
                if e == epoch && c.calls_done.load(SeqCst) != e && m.now_us() >= at {
                    self.call(CallSite::Normal, self.frame());
                    c.calls_done.store(e, SeqCst);
                }
            }
            self.dispatch();
            thread::park_timeout(Duration::from_micros(200));
        }
    }

    fn frame(&self) -> Frame {
        let c = self.st();
        Frame {
            iip: c.marker.load(SeqCst),
            psr_i: c.psr_i.load(SeqCst),
            origin: Where::Normal,
        }
    }

    /// A crash_stop call from this CPU (interrupts off).
    fn call(&self, site: CallSite, frame: Frame) {
        let m = &self.m;
        let params = {
            let ep = m.ep.lock().unwrap();
            let mut p = ep.as_ref().unwrap().params;
            p.payload = m.next_payload.fetch_add(1, SeqCst) as usize;
            p
        };
        let p = Ia64Cpu::new(self.clone());
        m.event(
            self.cpu,
            format!("call {site:?} payload {}", params.payload),
        );
        let was = self.local_irq_save();
        let mut table = Vec::new();
        let res =
            m.cs.run(&p, &params, frame.at(Where::Caller), |h| {
                table = (0..m.n as u32)
                    .map(|cpu| (h.how(cpu), h.with_record(cpu, |r| *r)))
                    .collect();
            })
            .map(|(o, ())| o);
        self.local_irq_restore(was);
        m.event(self.cpu, format!("call returns {res:?}"));
        m.calls.lock().unwrap().push(Call {
            cpu: self.cpu,
            site,
            payload: params.payload,
            res,
            table,
        });
    }

    /// Takes the interruptions the CPU's state allows.
    fn dispatch(&self) {
        let c = self.st();
        if c.dead.load(SeqCst) {
            return;
        }
        let p = Ia64Cpu::new(self.clone());
        if !c.in_mca.load(SeqCst) && c.mca_pending.swap(false, SeqCst) {
            self.take_mca(&p);
        }
        if !c.in_mca.load(SeqCst) && !c.in_init.load(SeqCst) && c.init_pending.swap(false, SeqCst) {
            let mut sos = SalOsState {
                monarch: c.init_monarch.swap(false, SeqCst),
                os_status: 0,
            };
            let frame = self.frame();
            c.busy.fetch_add(1, SeqCst);
            c.in_init.store(true, SeqCst);
            let was = self.local_irq_save();
            self.m
                .event(self.cpu, format!("INIT monarch={}", sos.monarch));
            mca::init_handler(&p, &mut sos, frame);
            self.m.event(self.cpu, "INIT done".into());
            self.local_irq_restore(was);
            c.in_init.store(false, SeqCst);
            c.busy.fetch_sub(1, SeqCst);
        }
        if !c.psr_i.load(SeqCst) {
            return;
        }
        // External interrupts, highest vector first.
        let irr = c.irr.load(SeqCst);
        if irr == 0 {
            return;
        }
        let frame = self.frame();
        c.busy.fetch_add(1, SeqCst);
        let was = self.local_irq_save();
        if irr & irr_bit(IA64_IPI_VECTOR) != 0 {
            self.irr_ack(IA64_IPI_VECTOR);
            let ops = c.ipi_ops.swap(0, SeqCst);
            if ops & (1 << IPI_CRASH_STOP) != 0 {
                self.m.event(self.cpu, "crash_stop IPI".into());
                p.crash_stop_ipi(frame);
                self.m.event(self.cpu, "crash_stop IPI done".into());
            }
        } else if irr & irr_bit(IA64_MCA_WAKEUP_VECTOR) != 0 {
            // ia64_mca_wakeup_int_handler: nothing to do.
            self.irr_ack(IA64_MCA_WAKEUP_VECTOR);
        } else if irr & irr_bit(IA64_MCA_RENDEZ_VECTOR) != 0 {
            self.irr_ack(IA64_MCA_RENDEZ_VECTOR);
            self.m.event(self.cpu, "rendezvous interrupt".into());
            mca::rendez_int_handler(&p, frame);
            self.m.event(self.cpu, "rendezvous interrupt done".into());
        }
        self.local_irq_restore(was);
        c.busy.fetch_sub(1, SeqCst);
    }

    /// SAL's machine-check entry on this CPU, then `OS_MCA`.
    fn take_mca(&self, p: &Ia64Cpu<SimHw>) {
        let m = &self.m;
        let c = self.st();
        let frame = self.frame();
        c.busy.fetch_add(1, SeqCst);
        c.in_mca.store(true, SeqCst);
        let was = self.local_irq_save();
        let first = m.sal_in_mca.fetch_add(1, SeqCst) == 0;
        m.event(self.cpu, format!("MCA first={first}"));
        if first {
            let others: Vec<u32> = (0..m.n as u32)
                .filter(|&o| {
                    let oc = &m.cpus[o as usize];
                    o != self.cpu
                        && oc.online.load(SeqCst)
                        && !oc.in_mca.load(SeqCst)
                        && !oc.mca_pending.load(SeqCst)
                })
                .collect();
            for &o in &others {
                m.sal_rendez_done[o as usize].store(false, SeqCst);
                m.cpus[o as usize]
                    .irr
                    .fetch_or(irr_bit(IA64_MCA_RENDEZ_VECTOR), SeqCst);
                m.kick(o);
            }
            let start = Instant::now();
            let answered = |o: u32| {
                m.sal_rendez_done[o as usize].load(SeqCst) || m.cpus[o as usize].in_mca.load(SeqCst)
            };
            while !others.iter().all(|&o| answered(o)) && start.elapsed() < m.sal_rendez_timeout {
                thread::sleep(Duration::from_micros(50));
            }
            for &o in &others {
                if !answered(o) {
                    let oc = &m.cpus[o as usize];
                    oc.sal_inits.fetch_add(1, SeqCst);
                    m.event(self.cpu, format!("SAL INITs cpu{o}"));
                    oc.init_monarch.store(false, SeqCst);
                    oc.init_pending.store(true, SeqCst);
                    m.kick(o);
                }
            }
        }
        let mut sos = SalOsState {
            monarch: first,
            os_status: 0,
        };
        mca::mca_handler(p, &mut sos, frame);
        m.event(self.cpu, "MCA done".into());
        m.sal_in_mca.fetch_sub(1, SeqCst);
        self.local_irq_restore(was);
        c.in_mca.store(false, SeqCst);
        c.busy.fetch_sub(1, SeqCst);
    }
}

impl Ia64Hw for SimHw {
    fn cpu(&self) -> u32 {
        self.cpu
    }

    fn nr_cpus(&self) -> u32 {
        self.m.n as u32
    }

    fn cpu_online(&self, cpu: u32) -> bool {
        (cpu as usize) < self.m.n && self.m.cpus[cpu as usize].online.load(SeqCst)
    }

    fn num_online_cpus(&self) -> u32 {
        self.m.cpus.iter().filter(|c| c.online.load(SeqCst)).count() as u32
    }

    fn itc_ns(&self) -> u64 {
        self.m.t0.elapsed().as_nanos() as u64
    }

    fn platform_send_ipi(&self, cpu: u32, vector: u8, delivery_mode: u8) {
        let c = &self.m.cpus[cpu as usize];
        if delivery_mode == IA64_IPI_DM_INIT {
            // Only crash_stop sends INITs through the OS (SAL's are its own).
            self.m.event(self.cpu, format!("crash_stop INITs cpu{cpu}"));
            c.crash_inits.fetch_add(1, SeqCst);
            c.init_monarch.store(false, SeqCst);
            c.init_pending.store(true, SeqCst);
        } else {
            self.m
                .event(self.cpu, format!("sends {vector:#x} to cpu{cpu}"));
            c.irr.fetch_or(irr_bit(vector), SeqCst);
        }
        self.m.kick(cpu);
    }

    fn send_ipi_op(&self, cpu: u32, op: u32) {
        let c = &self.m.cpus[cpu as usize];
        if op == IPI_CRASH_STOP {
            c.crash_ipis.fetch_add(1, SeqCst);
        }
        c.ipi_ops.fetch_or(1 << op, SeqCst);
        c.irr.fetch_or(irr_bit(IA64_IPI_VECTOR), SeqCst);
        self.m.kick(cpu);
    }

    fn cpu_relax(&self) {
        self.dispatch();
        thread::yield_now();
    }

    fn local_irq_save(&self) -> bool {
        !self.st().psr_i.swap(false, SeqCst)
    }

    fn local_irq_restore(&self, were_masked: bool) {
        self.st().psr_i.store(!were_masked, SeqCst);
    }

    fn irr_pending(&self, vector: u8) -> bool {
        self.st().irr.load(SeqCst) & irr_bit(vector) != 0
    }

    fn irr_ack(&self, vector: u8) {
        self.st().irr.fetch_and(!irr_bit(vector), SeqCst);
    }

    fn interrupted_frame(&self) -> Frame {
        self.frame()
    }

    fn sal_mc_rendez(&self) {
        let m = &self.m;
        self.st().rendezvous.fetch_add(1, SeqCst);
        m.sal_rendez_done[self.cpu as usize].store(true, SeqCst);
        while m.sal_in_mca.load(SeqCst) != 0 && !m.shutdown.load(SeqCst) {
            if self.irr_pending(IA64_MCA_WAKEUP_VECTOR) {
                self.irr_ack(IA64_MCA_WAKEUP_VECTOR);
                m.event(self.cpu, "woken in SAL".into());
                break;
            }
            thread::yield_now();
        }
    }

    fn crash_stop(&self) -> &Ia64CrashStop<Self> {
        &self.m.cs
    }

    fn mca(&self) -> &McaState {
        &self.m.mca
    }

    fn notify_die(&self, event: Die, _p: &Ia64Cpu<Self>, frame: Frame) {
        let (want, site) = {
            let ep = self.m.ep.lock().unwrap();
            let ep = ep.as_ref().unwrap();
            match event {
                Die::McaMonarchProcess => (ep.crash_on_mca, CallSite::McaMonarch),
                Die::InitMonarchProcess => (ep.crash_on_init, CallSite::InitMonarch),
            }
        };
        if want {
            self.call(site, frame);
        }
    }

    fn note_stopped(&self, rec: &Ia64Regs, payload: usize) {
        self.m.event(
            self.cpu,
            format!("stopped {:?} from {:?}", rec.how, rec.frame.origin),
        );
        self.st().stops.lock().unwrap().push((payload, *rec));
    }

    fn halt(&self) {
        self.st().parked.store(true, SeqCst);
        while !self.m.shutdown.load(SeqCst) {
            thread::park_timeout(Duration::from_millis(5));
        }
    }
}
