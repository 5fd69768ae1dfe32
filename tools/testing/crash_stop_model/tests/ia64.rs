// SPDX-License-Identifier: GPL-2.0

//! The IA-64 backend (`arch/ia64/crash_stop/`) on the simulated SAL/PAL
//! machine: crash_stop and the MCA/INIT rendezvous coexist.
//!
//! Every episode is checked for: no deadlock (the episode ends: every
//! call returns, `monarch_cpu` is back to -1, every CPU back in its idle
//! loop, within 30 s); at most one crash_stop monarch per generation; no
//! CPU stopped twice in a generation and none lost (every live CPU is in
//! every generation's table as stopped, with its own registers of this
//! episode, a dead CPU as `Missing`); every CPU checked out of the
//! rendezvous at the end (`imi_rendez_checkin` all `NOTDONE`); no
//! `ia64_wait_for_slaves` timeout unless a CPU is dead.

#![cfg(not(loom))]

use crash_stop_model::ia64::mca::{IA64_MCA_RENDEZ_CHECKIN_NOTDONE, NO_MONARCH};
use crash_stop_model::ia64::Where;
use crash_stop_model::ia64_sim::{marker, CallSite, Episode, InitKind, Machine, Report};
use crash_stop_model::protocol::{Error, How, Params};
use crash_stop_model::rng::Rng;

const MS: u64 = 1_000_000;

/// The IPI wait only costs time with interrupts-off CPUs outside a
/// rendezvous; the INIT wait is generous: only a host scheduling hiccup
/// could make a live CPU miss it.
fn params() -> Params {
    Params {
        ipi_wait_ns: 100 * MS,
        nmi_wait_ns: 2000 * MS,
        stay: false,
        handoff: false,
        payload: 0,
    }
}

fn episode() -> Episode {
    Episode {
        irqs_off: vec![],
        dead: vec![],
        callers: vec![],
        mcas: vec![],
        init: None,
        crash_on_mca: false,
        crash_on_init: false,
        params: params(),
    }
}

/// The invariants every episode must satisfy; returns the generations.
fn check(m: &Machine, ep: &Episode, r: &Report) -> Vec<u64> {
    let mut gens = Vec::new();
    for call in &r.calls {
        let out = match call.res {
            Ok(out) => out,
            Err(Error::Busy) => continue,
            // A rendezvous monarch that crash_stop already holds.
            Err(Error::Nested) if call.site != CallSite::Normal => continue,
            Err(e) => panic!("call {call:?}: {e:?}"),
        };
        gens.push(out.generation);
        assert_eq!(out.monarch, call.cpu);
        for cpu in 0..m.n as u32 {
            let (how, rec) = call.table[cpu as usize];
            if cpu == call.cpu {
                assert_eq!(how, How::Monarch);
                continue;
            }
            if ep.dead.contains(&cpu) {
                assert_eq!(how, How::Missing, "dead cpu {cpu}: {call:?}");
                continue;
            }
            assert!(
                how.is_stopped(),
                "cpu {cpu} lost in {call:?}\n{ep:?}\n{}",
                m.log()
            );
            let rec = rec.unwrap();
            assert_eq!((rec.cpu, rec.how), (cpu, how));
            assert_eq!(
                rec.frame.iip,
                marker(cpu, r.epoch),
                "cpu {cpu} saved wrong state"
            );
            let ok_origin = match how {
                How::Ipi => matches!(
                    rec.frame.origin,
                    Where::Ipi | Where::McaRendezvous | Where::ConcurrentMca | Where::InitSlave
                ),
                How::Nmi => matches!(
                    rec.frame.origin,
                    Where::Init | Where::McaRendezvous | Where::ConcurrentMca | Where::InitSlave
                ),
                How::Caller => rec.frame.origin == Where::Caller,
                _ => false,
            };
            assert!(ok_origin, "cpu {cpu} {how:?} from {:?}", rec.frame.origin);
            let n = r.stops[cpu as usize]
                .iter()
                .filter(|(p, _)| *p == call.payload)
                .count();
            assert_eq!(n, 1, "cpu {cpu} stopped {n} times in {call:?}");
        }
    }
    // No CPU stopped twice for the same call.
    for (cpu, stops) in r.stops.iter().enumerate() {
        let mut p: Vec<_> = stops.iter().map(|(p, _)| *p).collect();
        p.sort();
        let len = p.len();
        p.dedup();
        assert_eq!(len, p.len(), "cpu {cpu} stopped twice: {stops:?}");
    }
    let mut g = gens.clone();
    g.sort();
    g.dedup();
    assert_eq!(g.len(), gens.len(), "two monarchs in one generation");
    assert_eq!(
        m.mca.monarch_cpu.load(std::sync::atomic::Ordering::SeqCst),
        NO_MONARCH
    );
    for cpu in 0..m.n as u32 {
        assert_eq!(
            m.mca.checkin(cpu),
            IA64_MCA_RENDEZ_CHECKIN_NOTDONE,
            "cpu {cpu}"
        );
        assert_eq!(m.mca.polling(cpu), Where::Normal);
    }
    assert_eq!(
        m.mca.init_counts(),
        (0, 0),
        "INIT counters leaked\n{ep:?}\n{r:?}"
    );
    if ep.dead.is_empty() {
        assert_eq!(r.slave_timeouts, 0, "a rendezvous slave was lost\n{r:?}");
    }
    gens
}

fn the_call(r: &Report, site: CallSite) -> &crash_stop_model::ia64_sim::Call {
    let calls: Vec<_> = r.calls.iter().filter(|c| c.site == site).collect();
    assert_eq!(calls.len(), 1, "{:?}", r.calls);
    calls[0]
}

/// MCA on CPU 3 of 8, CPU 5 busy with interrupts off (SAL INITs it):
/// the MCA monarch calls crash_stop from `DIE_MCA_MONARCH_PROCESS`. The
/// rendezvoused CPUs are recorded from their rendezvous loops and CPU 5
/// from its INIT slave loop, without a single crash_stop IPI or INIT.
#[test]
fn crash_stop_from_mca_monarch() {
    let m = Machine::start(8);
    let mut ep = episode();
    ep.irqs_off = vec![5];
    ep.mcas = vec![(3, 0)];
    ep.crash_on_mca = true;
    let r = m.run_episode(&ep);
    check(&m, &ep, &r);
    let call = the_call(&r, CallSite::McaMonarch);
    assert_eq!(call.cpu, 3);
    assert!(call.res.is_ok());
    for cpu in [0, 1, 2, 4, 6, 7] {
        let rec = call.table[cpu].1.unwrap();
        assert_eq!(rec.frame.origin, Where::McaRendezvous, "cpu {cpu}");
        assert_eq!(r.rendezvous[cpu], 1);
    }
    assert_eq!(call.table[5].1.unwrap().frame.origin, Where::InitSlave);
    assert_eq!(r.sal_inits[5], 1);
    assert_eq!(r.crash_ipis.iter().sum::<u32>(), 0, "{r:?}");
    assert_eq!(r.crash_inits.iter().sum::<u32>(), 0, "{r:?}");
    assert!(r.skipped >= 7);
    assert_eq!(r.leaves, 1);
    m.stop();
}

/// INIT on all CPUs (INIT button, SAL's monarch flag on CPU 0, and the two
/// broken-prom variants where `ia64_init_handler` promotes the last slave
/// or demotes all monarchs but one): exactly one INIT monarch calls
/// crash_stop, every other CPU is recorded from its INIT slave loop without
/// any crash_stop IPI or INIT.
#[test]
fn crash_stop_from_init_monarch() {
    for kind in [
        InitKind::Monarch(0),
        InitKind::AllSlaves,
        InitKind::AllMonarchs,
    ] {
        let m = Machine::start(6);
        let mut ep = episode();
        ep.init = Some((kind, 0));
        ep.crash_on_init = true;
        let r = m.run_episode(&ep);
        check(&m, &ep, &r);
        let call = the_call(&r, CallSite::InitMonarch);
        assert!(call.res.is_ok(), "{kind:?}: {call:?}");
        if let InitKind::Monarch(c) = kind {
            assert_eq!(call.cpu, c);
        }
        for (cpu, (how, rec)) in call.table.iter().enumerate() {
            if cpu as u32 != call.cpu {
                assert!(how.is_stopped());
                assert_eq!(
                    rec.unwrap().frame.origin,
                    Where::InitSlave,
                    "{kind:?} cpu {cpu}"
                );
            }
        }
        assert_eq!(
            r.crash_ipis.iter().sum::<u32>() + r.crash_inits.iter().sum::<u32>(),
            0
        );
        assert_eq!(r.leaves, 1);
        m.stop();
    }
}

/// Two CPUs take machine checks at once: the first is the MCA monarch,
/// the second waits in `mca_cpu` and is handed the monarchy after. Each
/// calls crash_stop in turn; each time the other one answers from its
/// concurrent-MCA loop.
#[test]
fn concurrent_mca_monarchs_each_stop_everybody() {
    let m = Machine::start(6);
    let mut ep = episode();
    ep.mcas = vec![(1, 0), (2, 0)];
    ep.crash_on_mca = true;
    let r = m.run_episode(&ep);
    let gens = check(&m, &ep, &r);
    assert_eq!(gens.len(), 2, "{:?}", r.calls);
    for call in &r.calls {
        let other = if call.cpu == 1 { 2 } else { 1 };
        let rec = call.table[other].1.unwrap();
        assert_eq!(rec.frame.origin, Where::ConcurrentMca, "{call:?}");
    }
    assert_eq!(
        r.crash_ipis.iter().sum::<u32>() + r.crash_inits.iter().sum::<u32>(),
        0
    );
    m.stop();
}

/// A dead CPU (takes nothing, not even from SAL) is `Missing` for
/// crash_stop and reported by `ia64_wait_for_slaves`; the others are fine.
#[test]
fn dead_cpu_missing_for_both_rendezvous() {
    let m = Machine::start(4);
    let mut ep = episode();
    ep.dead = vec![2];
    ep.mcas = vec![(0, 0)];
    ep.crash_on_mca = true;
    ep.params.ipi_wait_ns = 20 * MS;
    ep.params.nmi_wait_ns = 20 * MS;
    let r = m.run_episode(&ep);
    check(&m, &ep, &r);
    let call = the_call(&r, CallSite::McaMonarch);
    assert_eq!(call.res.unwrap().missing, 1);
    assert_eq!(r.slave_timeouts, 1);
    m.stop();
}

/// crash_stop from normal context racing, at random offsets, with an MCA
/// (whose monarch may itself call crash_stop) or with an INIT-button event
/// (whose monarch may call crash_stop), with random busy CPUs: the
/// invariants of [`check`] hold every time, and every call returns.
#[test]
fn crash_stop_racing_with_mca_and_init() {
    let mut rng = Rng::new(0x1A64);
    let m = Machine::start(6);
    let mut counts = [0u32; 4];
    for i in 0..120 {
        let mut ep = episode();
        ep.irqs_off = (0..6).filter(|_| rng.percent(20)).collect();
        let caller = rng.below(6) as u32;
        ep.callers = vec![(caller, rng.below(3000))];
        if rng.percent(25) {
            let other = (caller + 1 + rng.below(5) as u32) % 6;
            ep.callers.push((other, rng.below(3000)));
        }
        if i % 2 == 0 {
            ep.mcas = vec![(rng.below(6) as u32, rng.below(3000))];
            ep.crash_on_mca = rng.percent(50);
        } else {
            let kind = match rng.below(3) {
                0 => InitKind::Monarch(rng.below(6) as u32),
                1 => InitKind::AllSlaves,
                _ => InitKind::AllMonarchs,
            };
            ep.init = Some((kind, rng.below(3000)));
            ep.crash_on_init = rng.percent(50);
        }
        let r = m.run_episode(&ep);
        let gens = check(&m, &ep, &r);
        assert!(!gens.is_empty(), "no generation ran: {:?}", r.calls);
        assert_eq!(r.leaves, 1, "the rendezvous did not complete once: {r:?}");
        for call in &r.calls {
            let k = match (call.site, call.res) {
                (CallSite::Normal, Ok(_)) => 0,
                (_, Ok(_)) => 1,
                (_, Err(Error::Busy)) => 2,
                _ => 3,
            };
            counts[k] += 1;
        }
    }
    println!("normal ok / rendezvous-monarch ok / busy / nested: {counts:?}");
    m.stop();
}
