// SPDX-License-Identifier: GPL-2.0

//! Deterministic scenarios on the simulated machine (std threads), each
//! checked with the same invariants as the stress test plus its own.

#![cfg(not(loom))]

mod common;

use common::{check, params};
use crash_stop_model::protocol::{Error, How};
use crash_stop_model::sim::{Episode, Machine, Mode};

fn episode(modes: &[Mode], callers: &[u32], ipi: u64, nmi: u64, stay: bool) -> Episode {
    Episode {
        modes: modes.to_vec(),
        callers: callers.to_vec(),
        params: params(ipi, nmi, stay),
    }
}

fn parked(m: &Machine) -> Vec<bool> {
    (0..m.n as u32).map(|c| m.parked(c)).collect()
}

/// A CPU wedged in NMI context (never takes the NMI) is reported Missing
/// and the monarch still finishes; an interrupts-off CPU is stopped by NMI,
/// an offline one is neither waited for nor sent anything.
#[test]
fn wedged_cpu_is_missing_and_monarch_finishes() {
    use Mode::*;
    let m = Machine::start(5, 1);
    let ep = episode(&[Idle, IrqsOff, Wedged, Offline, Idle], &[0], 10, 10, false);
    let r = m.run_episode(&ep);
    check(&m, &ep, &parked(&m), 0, &r).unwrap();
    let out = r.results[0].1.res.unwrap();
    assert_eq!((out.missing, out.by_nmi, out.escalated), (1, 1, 2));
    assert_eq!(r.nmis_sent[2], 1);
    assert_eq!(r.ipis_sent[3] + r.nmis_sent[3], 0);
    m.stop();
}

/// The IPI left pending on an interrupts-off CPU and the NMI latched on a
/// wedged CPU in generation 1 are taken at the start of episode 2, stale:
/// they record nothing (the invariants count exactly one record per CPU in
/// generation 2, by IPI).
#[test]
fn stale_interrupts_change_nothing() {
    use Mode::*;
    let m = Machine::start(4, 2);
    let ep1 = episode(&[Idle, IrqsOff, Wedged, Idle], &[0], 10, 10, false);
    let r1 = m.run_episode(&ep1);
    check(&m, &ep1, &parked(&m), 0, &r1).unwrap();
    let ep2 = episode(&[Idle, Idle, Idle, Idle], &[3], 10, 10, false);
    let r2 = m.run_episode(&ep2);
    check(&m, &ep2, &parked(&m), 1, &r2).unwrap();
    // The latched NMI was crash_stop's own: claimed although stale.
    assert_eq!(r2.unclaimed_nmis.iter().sum::<u32>(), 0);
    m.stop();
}

/// Stay-stopped parks every stopped slave (losing callers included, whose
/// `run()` then never returns); the next generation reports them Parked and
/// does not wait for them.
#[test]
fn stay_stopped_parks_everyone_else() {
    use Mode::*;
    let m = Machine::start(8, 3);
    let modes = [Idle, IrqsOff, Idle, Toggle, Offline, Wedged, Idle, Idle];
    let ep1 = episode(&modes, &[0, 6], 10, 10, true);
    let before = parked(&m);
    let r1 = m.run_episode(&ep1);
    check(&m, &ep1, &before, 0, &r1).unwrap();
    let winner = r1.results.iter().find(|(_, c)| c.res.is_ok()).unwrap().0;
    let after = parked(&m);
    let want: Vec<bool> = (0..8)
        .map(|c| c != winner && ![4, 5].contains(&c))
        .collect();
    assert_eq!(after, want);
    // The Missing CPU (5) was not parked and is waited for again.
    let ep2 = episode(&[Idle; 8], &[winner], 10, 10, false);
    let r2 = m.run_episode(&ep2);
    check(&m, &ep2, &after, 1, &r2).unwrap();
    let held = r2.results[0].1.held.as_ref().unwrap();
    assert_eq!(held.table[5].0, How::Ipi);
    assert_eq!(held.outcome.parked, 5);
    m.stop();
}

/// Four concurrent callers on 16 CPUs, repeatedly: one monarch per
/// generation, the others stopped as `Caller` and returned `Busy`.
#[test]
fn concurrent_callers_get_busy() {
    let m = Machine::start(16, 4);
    let mut gen = 0;
    for i in 0..200u32 {
        let callers = [i % 16, (i + 5) % 16, (i + 9) % 16, (i + 14) % 16];
        let ep = episode(&[Mode::Idle; 16], &callers, 10, 10, false);
        let r = m.run_episode(&ep);
        gen = check(&m, &ep, &parked(&m), gen, &r).unwrap();
    }
    m.stop();
}

/// PROTOCOL BUG (documented contract of `Error::Busy` broken): a
/// concurrent caller that is stopped by the NMI escalation before it saw
/// its `REQUESTED` slot (a vCPU preempted for longer than `ipi_wait_ns`)
/// returns from the NMI into `run()`'s election loop and, if the monarch has
/// fully released by then, wins the election and runs a second generation
/// instead of returning `Busy`. Fix: in `run()`, check the caller's own
/// slot (the `is_stopped && released >= gen > seen => Busy` case of
/// `lost_election`) before every `compare_exchange`, not only after a
/// failed one.
#[test]
fn caller_stopped_by_nmi_gets_busy() {
    let m = Machine::start(3, 5);
    m.set_hold_monarch_capture(0);
    m.set_stall_caller(1);
    let ep = episode(&[Mode::Idle; 3], &[0, 1], 10, 10, false);
    let r = m.run_episode(&ep);
    let res1 = r.results.iter().find(|(c, _)| *c == 1).unwrap().1.res;
    let first = r
        .results
        .iter()
        .find(|(c, _)| *c == 0)
        .unwrap()
        .1
        .res
        .unwrap();
    let held = r.results[0].1.held.as_ref().unwrap();
    assert_eq!(
        held.table[1].0,
        How::Nmi,
        "CPU 1 was stopped by NMI in gen {first:?}"
    );
    m.stop();
    assert_eq!(res1.map(|o| o.generation), Err(Error::Busy));
}

/// PROTOCOL BUG: a slave stopped in generation g whose NMI handler calls
/// `run()` after the monarch published `released = g` but before the slave
/// marked its slot `left` is not seen as nested: `seen = released = g`
/// makes `lost_election` ignore the slot, so the call spins until the
/// monarch's `RELEASE_WAIT_NS` bound gives up on the slave (the monarch
/// returns with a slave still held), then wins the election on top of its
/// own stopped context. Fix: in `lost_election`, before the `gen <= seen`
/// early return, answer `Nested` when the own slot is stopped in `gen` and
/// `left != gen` (the interrupted context has not left yet).
#[test]
fn nested_call_in_release_window_is_nested() {
    let m = Machine::start(3, 6);
    m.set_nested_in_release(2);
    let ep = episode(&[Mode::Idle; 3], &[0], 10, 10, false);
    let r = m.run_episode(&ep);
    let nested = m.nested_result(2);
    m.stop();
    // Buggy protocol: (Some(Ok(generation 2)), >0 spins after the monarch
    // returned).
    assert_eq!(
        (nested.map(|r| r.map(|o| o.generation)), r.late_spins),
        (Some(Err(Error::Nested)), 0)
    );
}
