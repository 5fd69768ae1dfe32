// SPDX-License-Identifier: GPL-2.0

//! Deterministic scenarios on the simulated machine (std threads), each
//! checked with the same invariants as the stress test plus its own.

#![cfg(not(loom))]

mod common;

use common::{check, params};
use crash_stop_model::protocol::{Error, How, Outcome};
use crash_stop_model::sim::{marker, Episode, Machine, Mode, Report, Snapshot};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

fn episode(modes: &[Mode], callers: &[u32], ipi: u64, nmi: u64, stay: bool) -> Episode {
    Episode {
        modes: modes.to_vec(),
        callers: callers.to_vec(),
        params: params(ipi, nmi, stay),
        hold_us: 0,
        hold_steps: false,
        nested_stay: false,
    }
}

fn parked(m: &Machine) -> Vec<bool> {
    (0..m.n as u32).map(|c| m.parked(c)).collect()
}

/// Runs `ep` on another thread and fails if it does not end within `secs`
/// (a protocol that hangs fails the test instead of hanging `cargo test`).
fn run_within(m: &Arc<Machine>, ep: &Episode, secs: u64) -> Report {
    let (tx, rx) = mpsc::channel();
    let (m2, ep2) = (m.clone(), ep.clone());
    thread::spawn(move || {
        let _ = tx.send(m2.run_episode(&ep2));
    });
    rx.recv_timeout(Duration::from_secs(secs))
        .unwrap_or_else(|e| panic!("the episode did not end within {secs} s: {e}"))
}

/// The monarch's outcome and callback snapshot of a single-caller episode.
fn monarch_view(r: &Report) -> (Outcome, &Snapshot) {
    let c = &r.results[0].1;
    (c.res.unwrap(), c.held.as_ref().unwrap())
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

/// PROTOCOL BUG (fixed): a slave stopped in generation g whose NMI handler
/// calls `run()` after the monarch published `released = g` but before the
/// slave marked its slot `left` is not seen as nested: `seen = released = g`
/// makes `lost_election` ignore the slot, so the call spins in the election
/// loop. With the bounded release wait of the time, the monarch gave up on
/// the slave after 1 s and returned with a slave still held, and the call
/// then won the election on top of its own stopped context; since issue 7
/// the monarch waits for the slave to leave, unboundedly (it is not
/// crashed), so the same bug is a deadlock, reported here as a hang. Fix:
/// in `lost_election`, before the `gen <= seen` early return, answer
/// `Nested` when the own slot is stopped in `gen` and `left != gen` (the
/// interrupted context has not left yet).
#[test]
fn nested_call_in_release_window_is_nested() {
    let m = Machine::start(3, 6);
    m.set_nested_in_release(2);
    let ep = episode(&[Mode::Idle; 3], &[0], 10, 10, false);
    let r = run_within(&m, &ep, 20);
    let nested = m.nested_result(2);
    m.stop();
    // Buggy protocol: a hang (before issue 7: (Some(Ok(generation 2)), >0
    // spins after the monarch returned)).
    assert_eq!(
        (nested.map(|r| r.map(|o| o.generation)), r.late_spins),
        (Some(Err(Error::Nested)), 0)
    );
}

/// Issue 7, item 1: per-CPU callbacks finish before the monarch's callback
/// starts. Two slaves (one stopped by IPI, one by NMI) take 20 ms in
/// `stopped()` (the virtual clock stands still meanwhile, as a slave
/// holding its record unpublished counts as an interrupt in flight): the
/// monarch waits for both, its callback sees both callbacks done
/// (`all_done`, checked by `check`), and both are recorded.
#[test]
fn slow_cpu_callbacks_finish_before_the_monarch_callback() {
    use Mode::*;
    let m = Machine::start(4, 7);
    m.set_slow_stop(1, 20_000, false);
    m.set_slow_stop(2, 20_000, false);
    let ep = episode(&[Idle, IrqsOff, Idle, Idle], &[0], 10, 10, false);
    let r = m.run_episode(&ep);
    check(&m, &ep, &parked(&m), 0, &r).unwrap();
    let (_, held) = monarch_view(&r);
    assert!(held.all_done);
    assert_eq!((held.table[1].0, held.table[2].0), (How::Nmi, How::Ipi));
    m.stop();
}

/// Issue 7, items 2 and 3: a per-CPU callback slower than the waits (the
/// clock runs meanwhile) gets its CPU given up on while it is in it: the
/// CPU is `Missing` and late, and `run()` does not return before its
/// callback did (no callback work after the finish step), nor before it
/// left (it is held until the release, then resumed, once).
#[test]
fn callback_slower_than_the_waits_is_waited_for() {
    use Mode::*;
    let m = Machine::start(4, 8);
    m.set_slow_stop(2, 200_000, true);
    let ep = episode(&[Idle, IrqsOff, Idle, Idle], &[0], 10, 10, false);
    let r = run_within(&m, &ep, 20);
    let (out, held) = monarch_view(&r);
    assert_eq!(held.table[2].0, How::Missing);
    assert!(m.cs.was_late(2, out.generation) && held.late[2]);
    assert_eq!((out.missing, out.late), (1, 1));
    assert_eq!(held.outcome.late, 0, "late count known before the release");
    assert_eq!((r.stops[2], r.resumes[2]), (1, 1));
    assert_eq!(r.late_spins, 0, "callback still running after run()");
    assert_eq!((held.table[1].0, held.table[3].0), (How::Nmi, How::Ipi));
    m.stop();
}

/// Issue 7, item 3: a CPU that recovers exactly when the monarch gives up
/// on it takes its latched NMI during the hold (the monarch's callback
/// takes 50 ms): it is held until the release (never back from its handler
/// before the callback returned), reported late, and resumed with the
/// others, or parked with them in stay-stopped mode.
#[test]
fn late_cpu_is_held_until_the_release() {
    use Mode::*;
    for stay in [false, true] {
        let m = Machine::start(4, 9);
        m.set_late_until_given_up(2);
        let mut ep = episode(&[Idle, IrqsOff, Late, Idle], &[0], 10, 10, stay);
        ep.hold_us = 50_000;
        let before = parked(&m);
        let r = m.run_episode(&ep);
        check(&m, &ep, &before, 0, &r).unwrap();
        let (out, held) = monarch_view(&r);
        assert_eq!(held.table[2].0, How::Missing);
        assert_eq!(out.late, 1, "stay {stay}: the CPU did not answer late");
        assert_eq!(r.ran_free, 0);
        assert_eq!((r.resumes[2], r.parked[2]), (u32::from(!stay), stay));
        m.stop();
    }
}

/// Issue 7, item 4: with a clock that never advances, every wait still ends
/// (by its count of `relax()` calls): an idle CPU is stopped by the IPI,
/// an interrupts-off one by the NMI, a wedged one is `Missing`, and
/// `run()` returns.
#[test]
fn frozen_clock_still_ends_every_wait() {
    use Mode::*;
    let m = Machine::start(4, 10);
    m.set_frozen_clock(true);
    let ep = episode(&[Idle, IrqsOff, Wedged, Idle], &[0], 30, 10, false);
    let r = run_within(&m, &ep, 20);
    check(&m, &ep, &parked(&m), 0, &r).unwrap();
    let (out, _) = monarch_view(&r);
    assert_eq!((out.missing, out.by_nmi, out.gather_ns), (1, 1, 0));
    m.stop();
}

/// `CrashStop::crashed`: a slave that oopses in its per-CPU callback (the
/// die path calls `crashed()`, then the CPU never runs again) is given up
/// on, and the monarch does not wait for it to leave: `run()` returns.
#[test]
fn crash_in_cpu_callback_does_not_hang_the_monarch() {
    use Mode::*;
    let m = Machine::start(4, 11);
    m.set_crash_in_stop(2);
    let ep = episode(&[Idle, IrqsOff, Idle, Idle], &[0], 10, 10, false);
    let r = run_within(&m, &ep, 20);
    let (out, held) = monarch_view(&r);
    assert_eq!(m.crashed_result(2), Some(true));
    assert_eq!(held.table[2].0, How::Missing);
    assert_eq!((out.stopped, out.missing), (2, 1));
    assert_eq!(r.late_spins, 0);
    m.stop();
}

/// `CrashStop::crashed`: a slave that oopses while held (published, in its
/// wait for the release) stays recorded, and the monarch does not wait for
/// it to leave: `run()` returns. The next generation reports it `Missing`.
#[test]
fn crash_while_held_does_not_hang_the_monarch() {
    use Mode::*;
    let m = Machine::start(4, 12);
    m.set_crash_when_held(2);
    let ep = episode(&[Idle, IrqsOff, Idle, Idle], &[0], 10, 10, false);
    let r = run_within(&m, &ep, 20);
    let (out, held) = monarch_view(&r);
    assert_eq!(m.crashed_result(2), Some(true));
    assert_eq!(held.table[2].0, How::Ipi);
    assert_eq!((out.stopped, out.missing), (3, 0));
    let r2 = run_within(&m, &episode(&[Idle; 4], &[3], 10, 10, false), 20);
    let (out2, held2) = monarch_view(&r2);
    assert_eq!(held2.table[2].0, How::Missing);
    assert_eq!((out2.generation, out2.missing), (2, 1));
    m.stop();
}

/// Hand-off mode (`Params::handoff`) with debugger slave loops: every
/// slave's step spins (polling) until released, and `run()` returns while
/// they all still run. The next generation (resume, then stay-stopped)
/// stops each of them again on top of its running step, exactly once, as
/// `Nmi` (its step runs with interrupts off; its poll or the NMI), with the
/// context it was stopped in (its step's), and claims every NMI; in stay
/// mode they park there. Their steps' copies of the record and payload
/// do not change although the next generation rewrote both; once released
/// the steps return and a third generation is clean.
#[test]
fn handoff_steps_outlive_run_and_the_next_generation_nests_on_them() {
    use Mode::*;
    for stay in [false, true] {
        let m = Machine::start(4, 13);
        let mut ep1 = episode(&[Idle, Idle, IrqsOff, Idle], &[0], 10, 10, false);
        ep1.params.handoff = true;
        ep1.hold_steps = true;
        let r1 = run_within(&m, &ep1, 20);
        check(&m, &ep1, &parked(&m), 0, &r1).unwrap();
        let (_, held1) = monarch_view(&r1);
        let hows1: Vec<How> = held1.table.iter().map(|(h, _)| *h).collect();
        assert_eq!(hows1, [How::Monarch, How::Ipi, How::Nmi, How::Ipi]);
        assert_eq!(m.steps_running(), 3, "run() waited for a step");
        let ep2 = episode(&[Idle; 4], &[0], 10, 10, stay);
        let r2 = run_within(&m, &ep2, 20);
        let (out2, held2) = monarch_view(&r2);
        for cpu in 1..4 {
            let (how, rec) = held2.table[cpu];
            assert_eq!(how, How::Nmi, "cpu {cpu}");
            assert_eq!(
                rec.unwrap().marker,
                marker(cpu as u32, r1.epoch),
                "cpu {cpu}"
            );
            assert_eq!((r2.stops[cpu], r2.captures[cpu]), (1, 1), "cpu {cpu}");
            assert_eq!(r2.resumes[cpu], u32::from(!stay), "cpu {cpu}");
            assert_eq!(r2.parked[cpu], stay, "cpu {cpu}");
        }
        assert_eq!((out2.stopped, out2.by_nmi, out2.missing), (3, 3, 0));
        assert_eq!(r2.unclaimed_nmis.iter().sum::<u32>(), 0);
        assert_eq!((r2.late_spins, r2.wrong_cpu), (0, 0));
        assert_eq!(m.steps_running(), 3);
        if !stay {
            m.release_holds();
            assert_eq!(m.copies_changed(), 0, "a step's record or payload changed");
            let ep3 = episode(&[Idle; 4], &[3], 10, 10, false);
            let r3 = run_within(&m, &ep3, 20);
            check(&m, &ep3, &parked(&m), 2, &r3).unwrap();
            assert_eq!(r3.unclaimed_nmis.iter().sum::<u32>(), 0);
        }
        m.stop();
        assert_eq!(m.copies_changed(), 0, "a step's record or payload changed");
    }
}

/// A stay-stopped call from the monarch's callback (a panic in a debugger
/// session going to kdump): every stopped slave (by IPI, by NMI, by its
/// poll, a losing caller) runs the nested step once, with the nested
/// payload and the context it was stopped in, before the nested callback
/// (which sees the same table); the call returns `Ok` with the same
/// generation; every held CPU parks, the late one too (without a nested
/// step); the outer call completes. The next generation finds them all
/// parked.
#[test]
fn nested_stay_request_parks_the_held_cpus() {
    use Mode::*;
    let m = Machine::start(6, 14);
    m.set_late_until_given_up(2);
    let mut ep = episode(
        &[Idle, IrqsOff, Late, Idle, Idle, Poll],
        &[0, 4],
        10,
        10,
        false,
    );
    ep.nested_stay = true;
    ep.hold_us = 50_000;
    let before = parked(&m);
    let r = run_within(&m, &ep, 20);
    check(&m, &ep, &before, 0, &r).unwrap();
    // The winner of the election (0 or 4) is the only result: the losing
    // caller parked.
    let (out, held) = monarch_view(&r);
    let hows: Vec<How> = held.table.iter().map(|(h, _)| *h).collect();
    use How::{Caller, Ipi, Missing, Monarch, Nmi};
    let (c0, c4) = if out.monarch == 0 {
        (Monarch, Caller)
    } else {
        (Caller, Monarch)
    };
    assert_eq!(hows, [c0, Nmi, Missing, Ipi, c4, Nmi]);
    assert_eq!(out.late, 1, "the Late CPU did not answer during the hold");
    let w = out.monarch as usize;
    let mut want = vec![1, 1, 0, 1, 1, 1];
    want[w] = 0;
    assert_eq!(r.nested_stops, want);
    assert_eq!(parked(&m), (0..6).map(|c| c != w).collect::<Vec<_>>());
    let ep2 = episode(&[Idle; 6], &[w as u32], 10, 10, false);
    let after = parked(&m);
    let r2 = run_within(&m, &ep2, 20);
    check(&m, &ep2, &after, 1, &r2).unwrap();
    assert_eq!(monarch_view(&r2).0.parked, 5);
    m.stop();
}

/// `CrashStop::on_poll`: a CPU looping in NMI context (it takes neither the
/// IPI nor the NMI) is stopped by its poll, as `Nmi`, with the poll's
/// (NMI) context; one that polls only once given up on is held as late
/// until the release. Both may have been sent the NMI (the late one
/// always is): once they leave NMI context they take it, and it is claimed
/// without a second record; the IPIs left pending change nothing in the
/// next generation.
#[test]
fn polling_cpus_are_stopped_by_their_poll() {
    use Mode::*;
    let m = Machine::start(4, 15);
    let mut ep = episode(&[Idle, Poll, PollLate, IrqsOff], &[0], 0, 10, false);
    ep.hold_us = 50_000;
    let r = run_within(&m, &ep, 20);
    check(&m, &ep, &parked(&m), 0, &r).unwrap();
    let (out, held) = monarch_view(&r);
    assert_eq!(held.table[1].0, How::Nmi);
    assert!(held.table[1].1.unwrap().in_nmi);
    assert_eq!((held.table[2].0, out.late), (How::Missing, 1));
    assert!(r.nmis_sent[1] <= 1 && r.nmis_sent[2] == 1);
    assert_eq!((r.stops[1], r.captures[1]), (1, 1));
    assert_eq!(r.unclaimed_nmis, [0; 4]);
    assert_eq!(r.ran_free, 0);
    let ep2 = episode(&[Idle; 4], &[0], 10, 10, false);
    let r2 = run_within(&m, &ep2, 20);
    check(&m, &ep2, &parked(&m), 1, &r2).unwrap();
    assert_eq!(r2.unclaimed_nmis, [0; 4]);
    m.stop();
}

/// Regression test: an NMI on top of a CPU held as late (given up on in
/// its per-CPU callback) calls `run()` (a panic in NMI context): it must
/// get `Nested` at once, during the hold, not enter the generation a
/// second time and return `Busy` after the release. Same for an NMI on top
/// of a CPU held normally.
#[test]
fn run_from_an_nmi_on_a_held_cpu_is_nested() {
    use Mode::*;
    let m = Machine::start(4, 16);
    m.set_slow_stop(2, 100_000, true);
    m.set_run_when_held(2);
    m.set_run_when_held(1);
    let mut ep = episode(&[Idle, IrqsOff, Idle, Idle], &[0], 10, 10, false);
    ep.hold_us = 600_000;
    let r = run_within(&m, &ep, 20);
    let (out, held) = monarch_view(&r);
    assert_eq!((held.table[1].0, held.table[2].0), (How::Nmi, How::Missing));
    assert_eq!(out.late, 1, "CPU 2 was not held late");
    for cpu in [1, 2] {
        let res = m.nested_result(cpu).map(|r| r.map(|o| o.generation));
        assert_eq!(res, Some(Err(Error::Nested)), "cpu {cpu}");
        assert!(
            m.run_during_hold(cpu),
            "cpu {cpu}: run() waited for the release"
        );
    }
    assert_eq!((r.resumes[1], r.resumes[2], r.late_spins), (1, 1, 0));
    m.stop();
}

/// Checks the halted hold of one episode whose monarch's callback waited
/// until every slave stopped by IPI or as a caller was halted: each of them
/// halted and was sent a wake-up NMI, slaves stopped by NMI never halted
/// (they spin, in NMI context), and every NMI was claimed.
fn check_halted(r: &Report, table: &[How]) {
    for (i, how) in table.iter().enumerate() {
        match how {
            How::Ipi | How::Caller => {
                assert!(r.halts[i] >= 1, "cpu {i} ({how:?}) never halted: {r:?}");
                assert!(r.wake_nmis_sent[i] >= 1, "cpu {i} ({how:?}) never woken");
            }
            How::Nmi => assert_eq!(r.halts[i], 0, "cpu {i} halted in NMI context"),
            _ => {}
        }
    }
    assert_eq!(r.unclaimed_nmis.iter().sum::<u32>(), 0, "unclaimed NMIs");
}

/// Halted hold (issue 10): on 32 CPUs, mostly idle (stopped by the IPI), a
/// few with interrupts off (stopped by NMI: they spin), with one to three
/// concurrent callers (the losers halt as `Caller`), the monarch's callback
/// waits until every IPI-stopped slave and losing caller is halted, so the
/// release must wake each of them with an NMI. Twelve resuming episodes,
/// then a stay-stopped one (a `stay` call, or a nested stay-stopped request
/// from the callback: the request wakes them, then the release) that parks
/// them, on four
/// machines; every episode passes the invariants of the stress test, and
/// every NMI is claimed. Then the same without the wait, with a 30 us
/// window between the comparison and the halt, so that the release races
/// the slaves' last checks (the wake-up NMIs that land in the window are
/// counted, not required).
#[test]
fn halted_slaves_are_woken_for_resume_and_stay() {
    use Mode::*;
    let n = 32;
    let (mut windows, mut halts) = (0, 0);
    for round in 0..6u64 {
        let racing = round >= 4;
        let m = Machine::start(n, 100 + round);
        m.set_callback_waits_for_halts(!racing);
        m.set_halt_window_us(if racing { 30 } else { 0 });
        let mut gen = 0;
        for i in 0..13u32 {
            let last = i == 12;
            let modes: Vec<Mode> = (0..n as u32)
                .map(|c| if (c + i) % 7 == 3 { IrqsOff } else { Idle })
                .collect();
            let callers: Vec<u32> = (0..1 + i % 3)
                .map(|k| (i * 5 + k * 11) % n as u32)
                .filter(|&c| modes[c as usize] == Idle)
                .collect();
            let callers = if callers.is_empty() { vec![0] } else { callers };
            let nested = last && round % 2 == 1;
            let mut ep = episode(&modes, &callers, 10, 10, last && !nested);
            ep.nested_stay = nested;
            let before = parked(&m);
            let r = run_within(&m, &ep, 30);
            gen = check(&m, &ep, &before, gen, &r)
                .unwrap_or_else(|e| panic!("round {round} episode {i}: {e}\n{r:?}"));
            let held = r.results.iter().find_map(|(_, c)| c.held.as_ref()).unwrap();
            let table: Vec<How> = held.table.iter().map(|(h, _)| *h).collect();
            if racing {
                assert_eq!(r.unclaimed_nmis.iter().sum::<u32>(), 0, "unclaimed NMIs");
            } else {
                check_halted(&r, &table);
            }
            windows += r.window_nmis.iter().sum::<u32>();
            halts += r.halts.iter().sum::<u32>();
            if last {
                for (c, how) in table.iter().enumerate() {
                    let want = matches!(how, How::Ipi | How::Nmi | How::Caller);
                    assert_eq!(m.parked(c as u32), want, "cpu {c} ({how:?}) parked");
                }
            }
        }
        m.stop();
    }
    println!("halts {halts}, wake-up NMIs taken in the window {windows}");
}

/// Halted hold with a monarch that crashes in its callback: the callback
/// waits until every IPI-stopped slave and the losing caller are halted,
/// then crashes: the die path calls `abort_on_crash()`, which resumes the
/// slaves, and the monarch never comes back. Every slave wakes (each
/// halted one was sent a wake-up NMI) and resumes, the losing caller
/// returns `Busy`, every NMI is claimed. Five machines of 16 CPUs.
#[test]
fn monarch_crash_in_callback_wakes_the_halted_slaves() {
    use Mode::*;
    let n = 16;
    for round in 0..5u64 {
        let m = Machine::start(n, 200 + round);
        m.set_callback_waits_for_halts(true);
        let callers = [0, 9];
        for &c in &callers {
            m.set_crash_in_callback(c);
        }
        let modes: Vec<Mode> = (0..n)
            .map(|c| if c % 5 == 2 { IrqsOff } else { Idle })
            .collect();
        let ep = episode(&modes, &callers, 10, 10, false);
        let r = run_within(&m, &ep, 30);
        let monarch = *callers.iter().find(|&&c| m.is_crashed(c)).unwrap();
        assert_eq!(m.crashed_result(monarch), Some(true), "abort_on_crash()");
        assert_eq!(m.cs.monarch(), None);
        let gen = m.cs.generation();
        let table: Vec<How> = (0..n as u32).map(|c| m.cs.how(c, gen)).collect();
        assert_eq!(table[monarch as usize], How::Monarch);
        check_halted(&r, &table);
        for (c, how) in table.iter().enumerate() {
            if c as u32 == monarch {
                continue;
            }
            let want = if callers.contains(&(c as u32)) {
                How::Caller
            } else if modes[c] == IrqsOff {
                How::Nmi
            } else {
                How::Ipi
            };
            assert_eq!(*how, want, "cpu {c}");
            assert_eq!(r.resumes[c], 1, "cpu {c} ({how:?}) did not resume");
            assert!(!m.parked(c as u32));
        }
        let losers: Vec<_> = r.results.iter().map(|(c, res)| (*c, res.res)).collect();
        let loser = callers.iter().find(|&&c| c != monarch).unwrap();
        assert_eq!(losers, [(*loser, Err(Error::Busy))]);
        m.stop();
    }
}
