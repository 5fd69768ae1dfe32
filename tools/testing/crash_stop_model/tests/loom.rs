// SPDX-License-Identifier: GPL-2.0

//! Loom models of the protocol: loom runs every interleaving of the CPUs'
//! atomic operations (within the preemption bound stated on each test) and
//! checks every access to the records' `UnsafeCell` for data races.
//!
//! Run with
//! `RUSTFLAGS="--cfg loom" cargo test --release --test loom --target-dir target/loom`
//! (see `run.sh`). Without `--cfg loom` this file is empty.
//!
//! Every CPU is a loom thread (the test's main thread is CPU 0). Clocks are
//! logical (each `now_ns()` call is one `TICK_NS`), waits are a few ticks,
//! so a monarch may time out while a slave has not been scheduled: the
//! assertions only rely on what the protocol guarantees whatever the
//! timing.

#![cfg(loom)]

use crash_stop_model::loom_platform::{
    ctx_cpu, marker, CpuFn, LoomCpu, LoomMachine, LoomPayload, N, NMI_CTX, POLL_CTX, TICK_NS,
};
use crash_stop_model::protocol::{Error, Held, How, Outcome, Params};
use loom::model::Builder;
use loom::sync::atomic::AtomicBool;
use loom::sync::atomic::Ordering::SeqCst;
use loom::sync::Arc;
use loom::thread;
// Counts, across the iterations of one model, how often a case of interest
// was reached (plain std atomics: not part of the model).
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// A loom builder with the model's preemption bound (`LOOM_MAX_PREEMPTIONS`
/// overrides it, e.g. for a longer run).
fn builder(preemptions: usize) -> Builder {
    let mut b = Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(preemptions);
    }
    // Spin loops make long paths; every branch of them is still explored.
    b.max_branches = 100_000;
    b
}

/// Parameters of run `run` called on `caller`.
fn params(run: u64, caller: u32, stay: bool) -> Params<LoomPayload> {
    Params {
        ipi_wait_ns: 2 * TICK_NS,
        nmi_wait_ns: 2 * TICK_NS,
        stay,
        handoff: false,
        payload: LoomPayload {
            run,
            caller,
            hold: false,
        },
    }
}

/// The stay-stopped request the monarch makes from its callback in the
/// nested-request models: run 2, no caller record, and a long NMI wait
/// (the held CPUs answer it from their wait loop).
fn nested_stay_params() -> Params<LoomPayload> {
    Params {
        nmi_wait_ns: 1000 * TICK_NS,
        payload: LoomPayload {
            run: 2,
            caller: u32::MAX,
            hold: false,
        },
        ..params(2, 0, true)
    }
}

/// Checks the table seen by a monarch: itself `Monarch`, every stopped CPU
/// with its own record and its per-CPU callback of run `run` done; returns
/// the `How` of every CPU.
fn check_held(m: &LoomMachine, h: &Held<'_, LoomCpu, N>, me: u32, run: u64) -> [How; N] {
    let hows = check_table(h, me);
    for (cpu, how) in (0u32..).zip(hows) {
        if how.is_stopped() && cpu != me {
            assert_eq!(m.cpufn_done(cpu), run, "cpu {cpu}'s callback not done");
        }
    }
    hows
}

/// Checks the table seen by a monarch: itself `Monarch`, every stopped CPU
/// with its own record, captured in the context it was stopped in (an
/// NMI's, or a polling loop's, for `Nmi`); returns the `How` of every CPU.
fn check_table(h: &Held<'_, LoomCpu, N>, me: u32) -> [How; N] {
    let mut hows = [How::None; N];
    for cpu in 0..N as u32 {
        let how = h.how(cpu);
        hows[cpu as usize] = how;
        if cpu == me {
            assert_eq!(how, How::Monarch);
        }
        let rec = h.with_record(cpu, |r| *r);
        if how.is_stopped() {
            let rec = rec.unwrap_or_else(|| panic!("cpu {cpu} stopped without a record"));
            let ctx = if how == How::Nmi {
                rec.marker & !(NMI_CTX | POLL_CTX)
            } else {
                rec.marker
            };
            assert_eq!(
                (rec.cpu, rec.how, ctx),
                (cpu, how, marker(cpu)),
                "record of cpu {cpu}"
            );
        } else {
            assert_eq!(rec, None);
        }
    }
    hows
}

/// Checks CPU 1's per-CPU callbacks and resumes over generations 1, 2, ..
/// whose tables and outcomes said `gens` (CPU 1 is the only slave that can
/// answer late): one callback per generation it was recorded in, plus at
/// most one per generation it answered late in (given up on in its
/// callback); one resume per generation it was held in, recorded or late
/// (none parks here).
fn check_stops(m: &LoomMachine, gens: &[(How, &Outcome)]) {
    let (mut recorded, mut late) = (0, 0);
    for (h, out) in gens {
        if matches!(h, How::Ipi | How::Nmi) {
            recorded += 1;
        } else if out.late > 0 {
            assert_eq!((*h, out.late), (How::Missing, 1), "late: {out:?}");
            late += 1;
        }
    }
    let hows: Vec<How> = gens.iter().map(|g| g.0).collect();
    let stops = m.stops[1].load(SeqCst);
    assert!(
        (recorded..=recorded + late).contains(&stops),
        "{stops} callbacks, {recorded} recorded, {late} late: {hows:?}"
    );
    assert_eq!(
        m.resumes[1].load(SeqCst),
        recorded + late,
        "resumed once per hold"
    );
}

/// Runs one monarch call (run `run`) on `cpu` (interrupts off, as
/// required): sets up the caller's memory the callbacks read, frees it
/// once `run()` returned; returns the outcome and the table its callback
/// saw.
fn monarch(cpu: &LoomCpu, run: u64, stay: bool) -> (Outcome, [How; N]) {
    let m = &cpu.m;
    cpu.set_irqs_off(true);
    let me = {
        use crash_stop_model::protocol::Platform;
        cpu.this_cpu()
    };
    m.caller_begin(me, run);
    let (out, hows) =
        m.cs.run(cpu, &params(run, me, stay), marker(me), |h| {
            assert_eq!(m.in_callback.fetch_add(1, SeqCst), 0, "two monarchs");
            let hows = check_held(m, h, me, run);
            m.in_callback.fetch_sub(1, SeqCst);
            m.callback_done.store(run, SeqCst);
            hows
        })
        .expect("single caller must become the monarch");
    m.caller_end(me);
    m.returned.store(run, SeqCst);
    cpu.set_irqs_off(false);
    assert_eq!(out.generation, run);
    (out, hows)
}

/// Races `callers` CPUs (all online, interrupts off) calling `run()` once;
/// a CPU whose call returned goes away (never answers again), so a later
/// generation reports it `Missing` instead of waiting for it. Returns each
/// call's generation and the table its callback saw.
fn race(callers: usize) -> Vec<Result<(u64, [How; N]), Error>> {
    let m = LoomMachine::new(callers);
    let call = |cpu: LoomCpu| {
        use crash_stop_model::protocol::Platform;
        let me = cpu.this_cpu();
        let m = &cpu.m;
        cpu.set_irqs_off(true);
        let run = u64::from(me) + 1;
        let p = Params {
            ipi_wait_ns: TICK_NS,
            nmi_wait_ns: TICK_NS,
            stay: false,
            handoff: false,
            payload: LoomPayload {
                run,
                caller: me,
                hold: false,
            },
        };
        m.caller_begin(me, run);
        let r = m.cs.run(&cpu, &p, marker(me), |h| {
            assert_eq!(m.in_callback.fetch_add(1, SeqCst), 0, "two monarchs");
            let hows = check_held(m, h, me, run);
            m.in_callback.fetch_sub(1, SeqCst);
            hows
        });
        m.caller_end(me);
        r.map(|(o, hows)| (o.generation, hows))
    };
    let ts: Vec<_> = (1..callers as u32)
        .map(|c| {
            let cpu = LoomCpu::new(&m, c);
            thread::spawn(move || call(cpu))
        })
        .collect();
    let mut rs = vec![call(LoomCpu::new(&m, 0))];
    rs.extend(ts.into_iter().map(|t| t.join().unwrap()));
    assert!(
        rs.iter().any(|r| r.is_ok()),
        "nobody became the monarch: {rs:?}"
    );
    assert!(
        rs.iter().all(|r| r.is_ok() || *r == Err(Error::Busy)),
        "{rs:?}"
    );
    let mut gens: Vec<u64> = rs.iter().filter_map(|r| r.map(|(g, _)| g).ok()).collect();
    gens.sort();
    gens.dedup();
    assert_eq!(
        gens.len(),
        rs.iter().filter(|r| r.is_ok()).count(),
        "{rs:?}"
    );
    rs
}

/// Property: at most one monarch per generation, whatever the number of
/// racing callers: two CPUs call `run()` at once (interrupts off); every
/// call returns `Ok` or `Busy`, no two callbacks ever overlap, the `Ok`
/// calls have distinct generations, each with a well-formed table.
/// Preemption bound 3.
#[test]
fn one_monarch_per_generation_2_callers() {
    builder(3).check(|| {
        race(2);
    });
}

/// Property: as [`one_monarch_per_generation_2_callers`], with three CPUs
/// racing. Preemption bound 1 (bound 2 did not finish within 20 minutes).
#[test]
fn one_monarch_per_generation_3_callers() {
    builder(1).check(|| {
        race(3);
    });
}

/// Property: a caller stopped during its call (its interrupts are off in
/// `run()`, so only an NMI taken in its wait loop or its own `Caller`
/// arrival can stop it) returns `Busy` (the contract of `Error::Busy`): no
/// CPU that is `Nmi` or `Caller` in one generation's table is the monarch of
/// a later one. (A caller `Missing` there may have entered `run()` after that
/// generation ended, and legitimately win the next.) Preemption bound 3.
///
/// PROTOCOL BUG: fails like `scenarios::caller_stopped_by_nmi_gets_busy`:
/// the loser, stopped by the NMI escalation before it saw its request,
/// wins the election once the winner has released, and runs a second
/// generation.
#[test]
fn stopped_caller_never_becomes_monarch() {
    builder(3).check(|| {
        let rs = race(2);
        for (cpu, r) in rs.iter().enumerate() {
            let Ok((g, _)) = r else { continue };
            for (g2, hows) in rs.iter().filter_map(|r| r.as_ref().ok()) {
                if g2 < g {
                    assert!(
                        !matches!(hows[cpu], How::Nmi | How::Caller),
                        "cpu {cpu} stopped in generation {g2}, monarch of {g}: {rs:?}"
                    );
                }
            }
        }
    });
}

/// Property: every online slave is recorded exactly once per generation,
/// by IPI or by NMI, never both, with its own record in its own slot. The
/// slave keeps interrupts off for its first `k` polls (k = 0, 1, 2), so the
/// IPI may be taken at once, or late after the NMI escalation (both pending:
/// double delivery), or the NMI first with the IPI left pending. If it never
/// got scheduled in time it is `Missing` and not recorded. Preemption
/// bound 3.
#[test]
fn slave_recorded_once_by_ipi_or_nmi() {
    for k in 0..3 {
        builder(3).check(move || {
            let m = LoomMachine::new(2);
            let slave = LoomCpu::new(&m, 1);
            let t = thread::spawn(move || {
                slave.set_irqs_off(true);
                for _ in 0..k {
                    slave.poll();
                    thread::yield_now();
                }
                slave.set_irqs_off(false);
                slave.idle_until(|m| m.done.load(SeqCst));
            });
            let (out, hows) = monarch(&LoomCpu::new(&m, 0), 1, false);
            m.done.store(true, SeqCst);
            t.join().unwrap();
            let stops = m.stops[1].load(SeqCst);
            let late = m.cs.was_late(1, 1);
            match hows[1] {
                How::Ipi | How::Nmi => assert_eq!(stops, 1),
                // Given up on in its callback: late, unrecorded.
                How::Missing => assert!(stops <= u32::from(late) && out.missing == 1),
                h => panic!("slave is {h:?}"),
            }
            assert_eq!(out.late, u32::from(late));
            assert_eq!(out.by_nmi, u32::from(hows[1] == How::Nmi));
            assert_eq!(m.late_spins.load(SeqCst), 0);
        });
    }
}

/// Property: a stale IPI or NMI from an earlier generation changes nothing.
/// In generation 1 the slave either has interrupts off (its IPI stays
/// pending) or is wedged in NMI context (IPI and NMI stay pending); it
/// recovers once generation 1 returned, so the stale interrupts are taken
/// during or after generation 2. Generation 2 must record the slave at most
/// once, by NMI only if generation 2 itself escalated, and a stale
/// interrupt taken outside a gather records nothing. Preemption bound 2.
#[test]
fn stale_interrupt_changes_nothing() {
    for wedged in [false, true] {
        builder(2).check(move || {
            let m = LoomMachine::new(2);
            let slave = LoomCpu::new(&m, 1);
            let t = thread::spawn(move || {
                slave.set_irqs_off(true);
                slave.set_in_nmi(wedged);
                slave.idle_until(|m| m.returned.load(SeqCst) >= 1);
                slave.set_in_nmi(false);
                slave.set_irqs_off(false);
                slave.idle_until(|m| m.done.load(SeqCst));
            });
            let cpu0 = LoomCpu::new(&m, 0);
            let (out1, hows1) = monarch(&cpu0, 1, false);
            let stops1 = m.stops[1].load(SeqCst);
            if wedged {
                assert_eq!((hows1[1], stops1), (How::Missing, 0));
            } else {
                assert!(matches!(hows1[1], How::Nmi | How::Missing), "{hows1:?}");
            }
            let (out2, hows2) = monarch(&cpu0, 2, false);
            m.done.store(true, SeqCst);
            t.join().unwrap();
            check_stops(&m, &[(hows1[1], &out1), (hows2[1], &out2)]);
            if hows2[1] == How::Nmi {
                assert_eq!(out2.escalated, 1, "stopped by a stale NMI");
            }
            assert!(out1.by_nmi <= out1.escalated);
            assert_eq!(m.late_spins.load(SeqCst), 0);
        });
    }
}

/// Property: a nested call from the callback returns `Error::Nested`
/// without hanging, and the outer generation completes normally; so does
/// a stay-stopped call from the `finish` step of `run_full` (only the
/// monarch's callback may make a nested stay-stopped request).
/// Preemption bound 3.
#[test]
fn nested_call_from_callback_is_nested() {
    builder(3).check(|| {
        let m = LoomMachine::new(2);
        let slave = LoomCpu::new(&m, 1);
        let t = thread::spawn(move || slave.idle_until(|m| m.done.load(SeqCst)));
        let cpu0 = LoomCpu::new(&m, 0);
        cpu0.set_irqs_off(true);
        m.caller_begin(0, 1);
        let (out, (nested, in_finish)) =
            m.cs.run_full(
                &cpu0,
                &params(1, 0, false),
                marker(0),
                |_| {
                    let r = m.cs.run(&cpu0, &params(2, 0, false), marker(0), |_| ());
                    (r.map(|_| ()), Ok(()))
                },
                |_, (_, in_finish)| {
                    let r = m.cs.run(&cpu0, &params(3, 0, true), marker(0), |_| ());
                    *in_finish = r.map(|_| ());
                },
            )
            .unwrap();
        m.caller_end(0);
        cpu0.set_irqs_off(false);
        m.returned.store(1, SeqCst);
        m.done.store(true, SeqCst);
        t.join().unwrap();
        assert_eq!(nested, Err(Error::Nested));
        assert_eq!(in_finish, Err(Error::Nested), "stay call from finish");
        assert!(
            !m.parked[1].load(SeqCst),
            "parked by the finish step's call"
        );
        assert_eq!(out.generation, 1);
        assert_eq!(m.cs.generation(), 1);
        assert_eq!(m.cs.monarch(), None);
    });
}

/// Property: after a resume no CPU is left spinning (no slave runs its wait
/// loop once the monarch's `run()` returned) and the next run starts clean:
/// generation 2 records the slave afresh, exactly once, and the slots of
/// generation 1 are not reused for it. Preemption bound 2.
#[test]
fn resume_leaves_no_cpu_spinning() {
    builder(2).check(|| {
        let m = LoomMachine::new(2);
        let slave = LoomCpu::new(&m, 1);
        let t = thread::spawn(move || slave.idle_until(|m| m.done.load(SeqCst)));
        let cpu0 = LoomCpu::new(&m, 0);
        let (out1, hows1) = monarch(&cpu0, 1, false);
        let (out2, hows2) = monarch(&cpu0, 2, false);
        m.done.store(true, SeqCst);
        t.join().unwrap();
        assert_eq!(m.late_spins.load(SeqCst), 0, "slave spun after its release");
        check_stops(&m, &[(hows1[1], &out1), (hows2[1], &out2)]);
        assert_eq!(m.cs.how(1, 1), How::None, "generation 1 slot survived");
        assert_eq!(m.cs.how(1, 2), hows2[1]);
        assert_eq!(out2.generation, 2);
        assert_eq!(m.cs.monarch(), None);
    });
}

/// Property: a CPU that never answers (online, but never scheduled: no
/// thread) is reported `Missing` and the monarch still finishes; the
/// responsive slave is recorded as usual. Preemption bound 2.
#[test]
fn unanswering_cpu_is_missing() {
    builder(2).check(|| {
        let m = LoomMachine::new(3);
        let slave = LoomCpu::new(&m, 1);
        let t = thread::spawn(move || slave.idle_until(|m| m.done.load(SeqCst)));
        let (out, hows) = monarch(&LoomCpu::new(&m, 0), 1, false);
        m.done.store(true, SeqCst);
        t.join().unwrap();
        assert_eq!(hows[2], How::Missing);
        assert!(out.missing >= 1 && out.escalated >= 1);
        assert_eq!(m.stops[2].load(SeqCst), 0);
        assert_eq!(m.late_spins.load(SeqCst), 0);
    });
}

/// Property: stay-stopped parks the slave for good: once `run()` returned
/// the slave never resumes (it is in `park`, and the next generation
/// reports it `Parked` without waiting for it), and its record stays
/// readable through `CrashStop::with_record` without a data race.
/// Preemption bound 3.
#[test]
fn stay_stopped_parks_slave() {
    builder(3).check(|| {
        let m = LoomMachine::new(2);
        let slave = LoomCpu::new(&m, 1);
        let t = thread::spawn(move || slave.idle_until(|m| m.done.load(SeqCst)));
        let cpu0 = LoomCpu::new(&m, 0);
        let (out, hows) = monarch(&cpu0, 1, true);
        let stopped = matches!(hows[1], How::Ipi | How::Nmi);
        if stopped {
            let rec = m.cs.with_record(1, out.generation, |r| *r).unwrap();
            assert_eq!((rec.cpu, ctx_cpu(rec.marker)), (1, 1));
        }
        let (out2, hows2) = monarch(&cpu0, 2, false);
        m.done.store(true, SeqCst);
        t.join().unwrap();
        if stopped {
            assert!(m.parked[1].load(SeqCst), "stopped slave not parked");
            assert_eq!((hows2[1], out2.parked), (How::Parked, 1));
            assert_eq!(m.stops[1].load(SeqCst), 1, "parked slave resumed");
        }
    });
}

/// Property: every NMI crash_stop sent is claimed by `on_nmi` (otherwise
/// the kernel's NMI code reports an unknown NMI, or panics with
/// `unknown_nmi_panic`). Two back-to-back generations both escalate to a
/// slave that is slow to take its NMIs. Preemption bound 2.
///
/// PROTOCOL BUG (minor): if generation 2 stores `nmi_gen` and sends its NMI
/// while the slave is between taking generation 1's NMI and swapping
/// `nmi_gen`, that handler consumes generation 2's request and the NMI
/// latched meanwhile finds `nmi_gen == 0`: unclaimed. Fix: count NMIs sent
/// and NMIs seen per slot and let `on_nmi` claim an NMI with `sent == 0`
/// while `seen <= sent`.
#[test]
fn every_crash_stop_nmi_is_claimed() {
    builder(2).check(|| {
        let m = LoomMachine::new(2);
        let slave = LoomCpu::new(&m, 1);
        let t = thread::spawn(move || {
            slave.set_irqs_off(true);
            slave.idle_until(|m| m.done.load(SeqCst));
        });
        let cpu0 = LoomCpu::new(&m, 0);
        monarch(&cpu0, 1, false);
        monarch(&cpu0, 2, false);
        m.done.store(true, SeqCst);
        t.join().unwrap();
        assert_eq!(m.unclaimed_nmis.load(SeqCst), 0);
    });
}

/// Property (issue 7, item 1): every per-CPU callback has returned before
/// the monarch's callback starts. The slave's `stopped()` yields once
/// before it writes its "callback done" cell; `check_held` (in every model)
/// reads that cell from the monarch's callback for every stopped slave, so
/// loom reports a callback that is still running (the cell's write not
/// happened-before the read, or the old value read). Preemption bound 3.
#[test]
fn cpu_callbacks_done_before_monarch_callback() {
    static STOPPED: AtomicUsize = AtomicUsize::new(0);
    let slow = CpuFn {
        slow: 1,
        ..CpuFn::default()
    };
    builder(3).check(move || {
        let m = LoomMachine::with_cpufn(2, [CpuFn::default(), slow, CpuFn::default()]);
        let slave = LoomCpu::new(&m, 1);
        let t = thread::spawn(move || slave.idle_until(|m| m.done.load(SeqCst)));
        let (_, hows) = monarch(&LoomCpu::new(&m, 0), 1, false);
        m.done.store(true, SeqCst);
        t.join().unwrap();
        if hows[1].is_stopped() {
            STOPPED.fetch_add(1, Relaxed);
        }
    });
    assert!(STOPPED.load(Relaxed) > 0, "the slave was never stopped");
}

/// Property (issue 7, item 2): no slave touches caller-owned memory, nor the
/// generation's state, once `run()` returned, and the next generation never
/// races a slave of the previous one. The slave's `stopped()` is slow: it
/// yields twice, reading the caller's memory after each yield, longer than
/// the monarch's waits in many interleavings (then it is given up on while
/// in its callback, and late). The caller frees its memory when `run()`
/// returned, and starts a second generation, whose monarch rewrites the
/// protocol's payload copy: loom reports any access of the slave's
/// callback (to the caller's memory, the payload, its record) that is not
/// ordered before those writes, and the platform asserts that no relax()
/// of a held slave follows the return and that it never resumes before
/// the monarch's callback returned. Preemption bound 2 (about 1 s; bound
/// 3 takes about 30 s, bound 4 about 15 minutes).
#[test]
fn slow_callback_never_outlives_run() {
    static LATE: AtomicUsize = AtomicUsize::new(0);
    let slow = CpuFn {
        slow: 2,
        watch: true,
        ..CpuFn::default()
    };
    builder(2).check(move || {
        let m = LoomMachine::with_cpufn(2, [CpuFn::default(), slow, CpuFn::default()]);
        let slave = LoomCpu::new(&m, 1);
        let t = thread::spawn(move || slave.idle_until(|m| m.done.load(SeqCst)));
        let cpu0 = LoomCpu::new(&m, 0);
        let (out1, hows1) = monarch(&cpu0, 1, false);
        let (out2, hows2) = monarch(&cpu0, 2, false);
        m.done.store(true, SeqCst);
        t.join().unwrap();
        assert_eq!(
            m.late_spins.load(SeqCst),
            0,
            "slave spun after run() returned"
        );
        check_stops(&m, &[(hows1[1], &out1), (hows2[1], &out2)]);
        assert_eq!(out2.late, u32::from(m.cs.was_late(1, 2)));
        if out1.late + out2.late > 0 {
            LATE.fetch_add(1, Relaxed);
        }
    });
    assert!(
        LATE.load(Relaxed) > 0,
        "the slow slave was never given up on in its callback"
    );
}

/// Property (issue 7, item 3): a CPU that answers after the monarch gave up
/// on it does not run free: it is held until the release (and parks with
/// the others in stay-stopped mode), and is reported late. The slave is
/// wedged in NMI context (the monarch's IPI and NMI stay pending) until its
/// slot is `Missing`; then it takes the NMI. The monarch's callback waits
/// until the slave is inside its NMI handler, and marks its end
/// (`callback_done`). The slave must not return from its handler, resume or
/// park before that; `Outcome::late` and `was_late` must say whether it
/// got in before the release. Preemption bound 4, resumed and stay-stopped.
#[test]
fn late_cpu_held_until_release() {
    for stay in [false, true] {
        static LATE: AtomicUsize = AtomicUsize::new(0);
        LATE.store(0, Relaxed);
        let watch = CpuFn {
            watch: true,
            ..CpuFn::default()
        };
        builder(4).check(move || {
            let m = LoomMachine::with_cpufn(2, [CpuFn::default(), watch, CpuFn::default()]);
            let in_handler = Arc::new(AtomicBool::new(false));
            let slave = LoomCpu::new(&m, 1);
            let flag = in_handler.clone();
            let t = thread::spawn(move || {
                let m = slave.m.clone();
                slave.set_irqs_off(true);
                slave.set_in_nmi(true);
                while m.cs.how(1, 1) != How::Missing {
                    thread::yield_now();
                }
                // Recovers: takes the latched NMI.
                slave.set_in_nmi(false);
                slave.expect_held(1);
                flag.store(true, SeqCst);
                slave.poll();
                assert!(
                    m.callback_done.load(SeqCst) >= 1,
                    "late CPU back from its handler during the hold"
                );
                slave.clear_stopped();
                slave.set_irqs_off(false);
                slave.idle_until(|m| m.done.load(SeqCst));
            });
            let cpu0 = LoomCpu::new(&m, 0);
            cpu0.set_irqs_off(true);
            m.caller_begin(0, 1);
            let (out, hows) =
                m.cs.run_full(
                    &cpu0,
                    &params(1, 0, stay),
                    marker(0),
                    |h| {
                        let hows = check_held(&m, h, 0, 1);
                        assert_eq!(hows[1], How::Missing);
                        while !in_handler.load(SeqCst) {
                            thread::yield_now();
                        }
                        thread::yield_now();
                        m.callback_done.store(1, SeqCst);
                        hows
                    },
                    |h, _| {
                        // Final here: every CPU that got in has left.
                        assert_eq!(h.late(1), m.cs.was_late(1, 1));
                        assert_eq!(h.outcome().late, u32::from(h.late(1)));
                    },
                )
                .unwrap();
            m.caller_end(0);
            m.returned.store(1, SeqCst);
            let late = m.cs.was_late(1, 1);
            m.done.store(true, SeqCst);
            t.join().unwrap();
            // (The platform's flag is set just after the slave left.)
            let parked = m.parked[1].load(SeqCst);
            assert_eq!(hows[1], How::Missing);
            assert_eq!((out.missing, out.late), (1, u32::from(late)));
            assert_eq!(m.stops[1].load(SeqCst), 0);
            assert_eq!(m.late_spins.load(SeqCst), 0, "late CPU spun after run()");
            if late {
                LATE.fetch_add(1, Relaxed);
                // Held like the others: parked with them, or resumed.
                assert_eq!(parked, stay, "late CPU parked {parked}, stay {stay}");
                assert_eq!(m.resumes[1].load(SeqCst), u32::from(!stay));
            } else {
                // Got in after the release: not held at all.
                assert!(!parked);
                assert_eq!(m.resumes[1].load(SeqCst), 0);
            }
        });
        assert!(LATE.load(Relaxed) > 0, "the slave never answered late");
    }
}

/// Property (`CrashStop::crashed`): a slave that crashes while held (its
/// per-CPU callback calls `crashed()`, as the die path would, and never
/// returns while the monarch runs) does not hang the monarch: `run()`
/// returns, with the CPU given up on (`Missing`). Preemption bound 3.
#[test]
fn crashed_slave_does_not_hang_monarch() {
    static CRASHED: AtomicUsize = AtomicUsize::new(0);
    let crash = CpuFn {
        crash: true,
        ..CpuFn::default()
    };
    builder(3).check(move || {
        let m = LoomMachine::with_cpufn(2, [CpuFn::default(), crash, CpuFn::default()]);
        let slave = LoomCpu::new(&m, 1);
        let t = thread::spawn(move || slave.idle_until(|m| m.done.load(SeqCst)));
        let (out, hows) = monarch(&LoomCpu::new(&m, 0), 1, false);
        // It got in (then run() waited for it until it crashed), or it
        // never will: the generation is over.
        let crashed = m.stops[1].load(SeqCst) == 1;
        m.done.store(true, SeqCst);
        t.join().unwrap();
        if crashed {
            // (What crashed() returned is stored once it returned.)
            assert!(m.crashed[1].load(SeqCst), "crashed() did not take");
            assert_eq!((hows[1], out.missing), (How::Missing, 1));
            CRASHED.fetch_add(1, Relaxed);
        }
    });
    assert!(CRASHED.load(Relaxed) > 0, "the slave never crashed");
}

/// Parameters of a hand-off run `run` (no caller memory: a hand-off step
/// may run after `run()` returned); `hold`: the per-CPU step is a
/// debugger's slave loop that runs until `LoomMachine::go`.
fn handoff_params(run: u64, hold: bool) -> Params<LoomPayload> {
    Params {
        handoff: true,
        payload: LoomPayload {
            run,
            caller: u32::MAX,
            hold,
        },
        ..params(run, u32::MAX, false)
    }
}

/// Property (hand-off mode, `Params::handoff`): the monarch's `run()`
/// returns without waiting for the per-CPU steps, a step touches nothing
/// of the protocol's, and the next generation stops the CPU again on top
/// of its still running step. The slave's step in generation 1 is a
/// debugger's slave loop (kgdb's): it runs until the test says `go`, which
/// it says only after generation 2 returned (a `run()` that waited for the
/// step would never return: loom reports the livelock), taking NMIs and
/// polling `on_poll` meanwhile, with the context it was stopped in.
/// Generation 2 (resume, then stay-stopped) rewrites the payload copy and
/// the slave's record while the step runs: loom reports any access of the
/// step to them, and the step checks that its copies did not change.
/// Generation 2 records the slave at most once (its step runs with
/// interrupts off, so by the NMI on top of it, or by its poll, never by
/// IPI), with its per-CPU callback done, parks it on top of its step in
/// stay mode, and claims every NMI. Preemption bound 2 (about 6 s; bound 3
/// passes in about 5 minutes).
#[test]
fn handoff_step_outlives_run_and_nests_the_next_generation() {
    for stay in [false, true] {
        static OUTLIVED: AtomicUsize = AtomicUsize::new(0);
        static BY_NMI: AtomicUsize = AtomicUsize::new(0);
        static BY_POLL: AtomicUsize = AtomicUsize::new(0);
        OUTLIVED.store(0, Relaxed);
        BY_NMI.store(0, Relaxed);
        BY_POLL.store(0, Relaxed);
        builder(2).check(move || {
            let m = LoomMachine::new(2);
            let slave = LoomCpu::new(&m, 1);
            let t = thread::spawn(move || slave.idle_until(|m| m.done.load(SeqCst)));
            let cpu0 = LoomCpu::new(&m, 0);
            cpu0.set_irqs_off(true);
            let (out1, hows1) =
                m.cs.run(&cpu0, &handoff_params(1, true), marker(0), |h| {
                    let hows = check_table(h, 0);
                    m.callback_done.store(1, SeqCst);
                    hows
                })
                .unwrap();
            m.returned.store(1, SeqCst);
            // (Generation 2 overwrites it.)
            let late1 = m.cs.was_late(1, 1);
            cpu0.set_irqs_off(false);
            if m.holds[1].load(SeqCst) == 1 {
                // The step is running (it ends only on `go`).
                OUTLIVED.fetch_add(1, Relaxed);
            }
            let (out2, hows2) = monarch(&cpu0, 2, stay);
            m.go.store(true, SeqCst);
            let stopped1 = matches!(hows1[1], How::Ipi | How::Nmi);
            if stopped1 && m.parked[1].load(SeqCst) {
                // Parked on top of its step: the step never returns (the
                // model's `park()` returns when the model ends).
                assert_eq!(m.resumes[1].load(SeqCst), 0);
            }
            m.done.store(true, SeqCst);
            t.join().unwrap();
            let rec2 = matches!(hows2[1], How::Ipi | How::Nmi);
            let late2 = m.cs.was_late(1, 2);
            assert_eq!((out1.generation, out2.generation), (1, 2));
            assert_eq!((out1.late, out2.late), (u32::from(late1), u32::from(late2)));
            assert_eq!(m.holds[1].load(SeqCst), u32::from(stopped1), "steps");
            let polls = m.poll_stops[1].load(SeqCst);
            assert!(polls <= u32::from(rec2 || late2));
            if stopped1 {
                // Its step ran with interrupts off until after run 2.
                assert_ne!(hows2[1], How::Ipi, "IPI taken in a hand-off step");
                if polls == 1 {
                    BY_POLL.fetch_add(1, Relaxed);
                } else if rec2 {
                    BY_NMI.fetch_add(1, Relaxed);
                }
            }
            // One step per generation it was recorded in, plus one if it
            // was given up on in generation 2's step.
            let stops = m.stops[1].load(SeqCst);
            let want = u32::from(stopped1) + u32::from(rec2);
            assert!(
                (want..=want + u32::from(late2)).contains(&stops),
                "{stops} steps: {hows1:?} {hows2:?}"
            );
            let held1 = stopped1 || late1;
            let held2 = rec2 || late2;
            // Parked in generation 2, or resumed once per hold (and once
            // more at the end of the model, for a step parked on top of).
            assert_eq!(m.parked[1].load(SeqCst), stay && held2);
            let resumes = u32::from(held1) + u32::from(held2 && !stay);
            assert_eq!(m.resumes[1].load(SeqCst), resumes, "{hows1:?} {hows2:?}");
            assert_eq!(m.unclaimed_nmis.load(SeqCst), 0);
            assert_eq!(m.late_spins.load(SeqCst), 0);
        });
        assert!(OUTLIVED.load(Relaxed) > 0, "no step outlived run()");
        assert!(BY_NMI.load(Relaxed) > 0, "no NMI on top of a step");
        assert!(BY_POLL.load(Relaxed) > 0, "no stop by a step's poll");
    }
}

/// Property (hand-off mode): a CPU given up on while saving (its
/// `capture()` is slow) is late: it waits for the release like in any
/// generation, its interrupt handler does not return before the monarch's
/// callback did, and it runs no hand-off step. Preemption bound 4.
#[test]
fn handoff_cpu_given_up_while_saving_is_held() {
    static LATE: AtomicUsize = AtomicUsize::new(0);
    let slow = CpuFn {
        slow_capture: true,
        watch_late: true,
        ..CpuFn::default()
    };
    builder(4).check(move || {
        let m = LoomMachine::with_cpufn(2, [CpuFn::default(), slow, CpuFn::default()]);
        let slave = LoomCpu::new(&m, 1);
        let t = thread::spawn(move || slave.idle_until(|m| m.done.load(SeqCst)));
        let cpu0 = LoomCpu::new(&m, 0);
        cpu0.set_irqs_off(true);
        let (out, hows) =
            m.cs.run(&cpu0, &handoff_params(1, false), marker(0), |h| {
                let hows = check_table(h, 0);
                thread::yield_now();
                m.callback_done.store(1, SeqCst);
                hows
            })
            .unwrap();
        m.returned.store(1, SeqCst);
        m.done.store(true, SeqCst);
        t.join().unwrap();
        let late = m.cs.was_late(1, 1);
        assert_eq!(out.late, u32::from(late));
        let stopped = matches!(hows[1], How::Ipi | How::Nmi);
        assert_eq!(m.stops[1].load(SeqCst), u32::from(stopped));
        assert_eq!(m.resumes[1].load(SeqCst), u32::from(stopped || late));
        if late {
            LATE.fetch_add(1, Relaxed);
        }
        assert_eq!(m.late_spins.load(SeqCst), 0);
    });
    assert!(LATE.load(Relaxed) > 0, "the slave was never given up on");
}

/// Property (nested stay-stopped request, `CrashStop::run_full`): the
/// monarch's callback calls `run()` with `stay` (a panic in a debugger
/// session going to kdump). The slave it holds runs the nested per-CPU step
/// exactly once, with the nested payload and the context it was stopped in
/// (its record's); the nested callback sees the same table and every held
/// slave's nested step done (loom checks that its write happened-before
/// the read: the nested wait is long enough not to time out); the nested
/// call returns `Ok` with the same generation; the slave parks for good
/// (late or not); a second nested request and a resuming one fail
/// `Nested`; the outer call then completes. With the slave's steps slow
/// (a yield in them) or not. Preemption bound 3 (about 1 s; bound 4 passes
/// in about 10 s).
#[test]
fn nested_stay_request_is_served_by_the_held_cpus() {
    for slow in [0, 1] {
        static SERVED: AtomicUsize = AtomicUsize::new(0);
        SERVED.store(0, Relaxed);
        let cpufn = CpuFn {
            slow,
            ..CpuFn::default()
        };
        builder(3).check(move || {
            let m = LoomMachine::with_cpufn(2, [CpuFn::default(), cpufn, CpuFn::default()]);
            let slave = LoomCpu::new(&m, 1);
            let t = thread::spawn(move || slave.idle_until(|m| m.done.load(SeqCst)));
            let cpu0 = LoomCpu::new(&m, 0);
            cpu0.set_irqs_off(true);
            m.caller_begin(0, 1);
            let stay = nested_stay_params();
            let (out, (hows, nested, again)) =
                m.cs.run(&cpu0, &params(1, 0, false), marker(0), |h| {
                    let hows = check_held(&m, h, 0, 1);
                    let nested = m.cs.run(&cpu0, &stay, marker(0), |h2| {
                        assert_eq!(h2.outcome(), h.outcome());
                        assert_eq!(check_table(h2, 0), hows);
                        for (cpu, how) in (0u32..).zip(hows) {
                            if matches!(how, How::Ipi | How::Nmi) {
                                assert_eq!(m.cpufn_done(cpu), 2, "cpu {cpu}: nested step");
                            }
                        }
                        h2.outcome().generation
                    });
                    let again = [
                        m.cs.run(&cpu0, &stay, marker(0), |_| ()).map(|_| ()),
                        m.cs.run(&cpu0, &params(3, 0, false), marker(0), |_| ())
                            .map(|_| ()),
                    ];
                    m.callback_done.store(1, SeqCst);
                    (hows, nested, again)
                })
                .unwrap();
            m.caller_end(0);
            cpu0.set_irqs_off(false);
            m.returned.store(1, SeqCst);
            let late = m.cs.was_late(1, 1);
            m.done.store(true, SeqCst);
            t.join().unwrap();
            // (The platform's flag is set just after the slave left.)
            let parked = m.parked[1].load(SeqCst);
            let (nout, ngen) = nested.expect("nested stay-stopped call");
            assert_eq!((ngen, nout.generation, out.generation), (1, 1, 1));
            assert_eq!(again, [Err(Error::Nested); 2]);
            assert_eq!((m.cs.generation(), m.cs.monarch()), (1, None));
            let stops = m.stops[1].load(SeqCst);
            if matches!(hows[1], How::Ipi | How::Nmi) {
                SERVED.fetch_add(1, Relaxed);
                assert_eq!(stops, 2, "outer and nested steps");
                assert!(parked, "held slave not parked");
            } else {
                // Late (given up on in its first step, or answered after
                // the give-up): parked with the others, no nested step.
                assert!(stops <= u32::from(late));
                assert_eq!(parked, late);
            }
            assert_eq!(m.resumes[1].load(SeqCst), 0);
            assert_eq!(m.late_spins.load(SeqCst), 0);
        });
        assert!(SERVED.load(Relaxed) > 0, "the slave was never held");
    }
}

/// Property (`CrashStop::on_poll`): a CPU looping in NMI context (it takes
/// neither the IPI nor the NMI) and polling is stopped by its poll, as
/// `Nmi`, with the poll's context, exactly once; it is held until the
/// release (a poll that finds it given up on holds it as late: back from
/// the poll only once the monarch's callback returned); once it left NMI
/// context the NMI latched meanwhile (and the pending IPI) change nothing
/// and the NMI is claimed. The slave polls from the start, or only once
/// it was given up on (late). Preemption bound 4.
#[test]
fn polling_cpu_is_stopped_once_and_held() {
    for from_start in [true, false] {
        static POLLED: AtomicUsize = AtomicUsize::new(0);
        POLLED.store(0, Relaxed);
        builder(4).check(move || {
            let m = LoomMachine::new(2);
            let polling = Arc::new(AtomicBool::new(false));
            let slave = LoomCpu::new(&m, 1);
            let flag = polling.clone();
            let t = thread::spawn(move || {
                let m = slave.m.clone();
                slave.set_irqs_off(true);
                slave.set_in_nmi(true);
                if !from_start {
                    while m.cs.how(1, 1) != How::Missing {
                        thread::yield_now();
                    }
                }
                flag.store(true, SeqCst);
                // Loops in NMI context until stopped, or until the run
                // returned; then leaves NMI context.
                while m.returned.load(SeqCst) < 1 {
                    if slave.nmi_poll() {
                        assert!(
                            m.callback_done.load(SeqCst) >= 1,
                            "polling CPU back from its poll during the hold"
                        );
                        break;
                    }
                    thread::yield_now();
                }
                slave.set_in_nmi(false);
                slave.set_irqs_off(false);
                slave.idle_until(|m| m.done.load(SeqCst));
            });
            let cpu0 = LoomCpu::new(&m, 0);
            cpu0.set_irqs_off(true);
            m.caller_begin(0, 1);
            let (out, hows) =
                m.cs.run(&cpu0, &params(1, 0, false), marker(0), |h| {
                    let hows = check_held(&m, h, 0, 1);
                    if !from_start {
                        while !polling.load(SeqCst) {
                            thread::yield_now();
                        }
                        thread::yield_now();
                    }
                    m.callback_done.store(1, SeqCst);
                    hows
                })
                .unwrap();
            m.caller_end(0);
            cpu0.set_irqs_off(false);
            m.returned.store(1, SeqCst);
            m.done.store(true, SeqCst);
            t.join().unwrap();
            let late = m.cs.was_late(1, 1);
            let polls = m.poll_stops[1].load(SeqCst);
            let stops = m.stops[1].load(SeqCst);
            match hows[1] {
                How::Nmi => {
                    assert!(from_start);
                    let rec = m.cs.with_record(1, 1, |r| *r).unwrap();
                    assert_eq!(rec.marker, marker(1) | POLL_CTX, "stopped by the NMI");
                    assert_eq!((polls, stops, out.by_nmi), (1, 1, 1));
                    POLLED.fetch_add(1, Relaxed);
                }
                How::Missing => {
                    assert_eq!(polls, u32::from(late));
                    assert!(stops <= u32::from(late));
                    if late {
                        POLLED.fetch_add(1, Relaxed);
                    }
                }
                h => panic!("polling CPU is {h:?}"),
            }
            assert_eq!(out.late, u32::from(late));
            assert_eq!(m.resumes[1].load(SeqCst), polls);
            assert_eq!(m.unclaimed_nmis.load(SeqCst), 0);
            assert_eq!(m.late_spins.load(SeqCst), 0);
        });
        assert!(POLLED.load(Relaxed) > 0, "the poll never stopped the CPU");
    }
}

/// A slave (CPU 1) that waits halted when held ([`CpuFn::halt`]), with the
/// checks of `watch` if asked: it never resumes nor parks before the
/// monarch's callback returned.
fn halting(watch: bool) -> [CpuFn; N] {
    let halt = CpuFn {
        halt: true,
        watch,
        ..CpuFn::default()
    };
    [CpuFn::default(), halt, CpuFn::default()]
}

/// Spins (yielding) until CPU `cpu` is halted in `halt_while()`.
fn wait_halted(m: &LoomMachine, cpu: usize) {
    while !m.halted[cpu].load(SeqCst) {
        thread::yield_now();
    }
}

/// Property (halted hold, issue 10): a slave stopped by the IPI waits for
/// its release halted, and the release wakes it: the monarch's callback
/// waits until the slave is halted (so that only a wake-up NMI can end its
/// wait), then returns. The slave is woken, leaves, and resumes (or parks,
/// stay-stopped) only after the callback returned; the `finish` step of
/// `run_full` (every CPU that entered has left) finds it no longer
/// halted, no relax or halt of it follows the return of `run()`, and the
/// wake-up NMI is claimed. Preemption bound 3, resumed and stay-stopped.
#[test]
fn halted_slave_is_woken_by_the_release() {
    for stay in [false, true] {
        static HALTED: AtomicUsize = AtomicUsize::new(0);
        HALTED.store(0, Relaxed);
        builder(3).check(move || {
            let m = LoomMachine::with_cpufn(2, halting(true));
            let slave = LoomCpu::new(&m, 1);
            let t = thread::spawn(move || {
                slave.idle_until(|m| m.done.load(SeqCst));
                slave.poll();
            });
            let cpu0 = LoomCpu::new(&m, 0);
            cpu0.set_irqs_off(true);
            m.caller_begin(0, 1);
            let (out, hows) =
                m.cs.run_full(
                    &cpu0,
                    &params(1, 0, stay),
                    marker(0),
                    |h| {
                        let hows = check_held(&m, h, 0, 1);
                        if hows[1] == How::Ipi {
                            wait_halted(&m, 1);
                        }
                        m.callback_done.store(1, SeqCst);
                        hows
                    },
                    |_, _| {
                        assert!(!m.halted[1].load(SeqCst), "halted after the release");
                    },
                )
                .unwrap();
            m.caller_end(0);
            m.returned.store(1, SeqCst);
            cpu0.set_irqs_off(false);
            m.done.store(true, SeqCst);
            t.join().unwrap();
            let late = m.cs.was_late(1, 1);
            let held = matches!(hows[1], How::Ipi | How::Nmi) || late;
            if hows[1] == How::Ipi {
                HALTED.fetch_add(1, Relaxed);
                assert!(
                    m.halts[1].load(SeqCst) >= 1,
                    "IPI-stopped slave never halted"
                );
            }
            if hows[1] == How::Nmi {
                // Stopped in NMI context: it spins.
                assert_eq!(m.halts[1].load(SeqCst), 0, "halted in NMI context");
            }
            assert_eq!(out.late, u32::from(late));
            assert_eq!(m.parked[1].load(SeqCst), stay && held);
            assert_eq!(m.resumes[1].load(SeqCst), u32::from(held && !stay));
            assert_eq!(m.unclaimed_nmis.load(SeqCst), 0);
            assert_eq!(m.late_spins.load(SeqCst), 0, "waited after run() returned");
        });
        assert!(HALTED.load(Relaxed) > 0, "the slave never halted");
    }
}

/// Property (halted hold): no lost wake-up. The monarch's callback returns
/// at once, so the release races the slave's last check before it halts:
/// loom explores the slave seeing the release (it does not halt), the
/// monarch seeing the slave `sleeping` (it sends the wake-up NMI) with the
/// NMI landing before the comparison, between the comparison and the
/// `hlt` (taken there; the CPU then halts all the same and only the
/// monarch's repeated wake-up NMI, `REWAKE_NS`, ends it), or in the halt,
/// and both. In every case the slave leaves and `run()` returns (a lost
/// wake-up would leave the slave halted and the monarch waiting for it:
/// loom's branch limit), every NMI is claimed, and no wait of the slave
/// follows the return. The window case must be reached. Preemption
/// bound 3.
#[test]
fn halt_races_the_release_without_losing_the_wakeup() {
    static WINDOW: AtomicUsize = AtomicUsize::new(0);
    static WOKEN: AtomicUsize = AtomicUsize::new(0);
    static NO_HALT: AtomicUsize = AtomicUsize::new(0);
    builder(3).check(|| {
        let m = LoomMachine::with_cpufn(2, halting(true));
        let slave = LoomCpu::new(&m, 1);
        let t = thread::spawn(move || {
            slave.idle_until(|m| m.done.load(SeqCst));
            slave.poll();
        });
        let cpu0 = LoomCpu::new(&m, 0);
        let (out, hows) = monarch(&cpu0, 1, false);
        assert!(!m.halted[1].load(SeqCst), "halted after run() returned");
        m.done.store(true, SeqCst);
        t.join().unwrap();
        let late = m.cs.was_late(1, 1);
        let held = matches!(hows[1], How::Ipi | How::Nmi) || late;
        assert_eq!(out.late, u32::from(late));
        assert_eq!(m.resumes[1].load(SeqCst), u32::from(held));
        assert_eq!(m.unclaimed_nmis.load(SeqCst), 0);
        assert_eq!(m.late_spins.load(SeqCst), 0, "waited after run() returned");
        if hows[1] == How::Ipi {
            if m.window_nmis[1].load(SeqCst) > 0 {
                WINDOW.fetch_add(1, Relaxed);
            } else if m.halts[1].load(SeqCst) > 0 {
                WOKEN.fetch_add(1, Relaxed);
            } else {
                NO_HALT.fetch_add(1, Relaxed);
            }
        }
    });
    let (w, h, n) = (
        WINDOW.load(Relaxed),
        WOKEN.load(Relaxed),
        NO_HALT.load(Relaxed),
    );
    assert!(w > 0, "no NMI between the comparison and the halt");
    assert!(
        h > 0 && n > 0,
        "window {w}, woken from the halt {h}, no halt {n}"
    );
}

/// Property (halted hold, nested stay-stopped request): a nested
/// stay-stopped request from the monarch's callback reaches a halted
/// slave. The callback waits until the slave is halted before it makes the
/// request. The slave runs the nested step exactly once, before the
/// nested callback (which reads its "done" cell: loom checks that the
/// write happened-before), then parks; the nested call returns `Ok`; every
/// NMI is claimed. Preemption bound 3.
#[test]
fn nested_stay_request_reaches_a_halted_slave() {
    static SERVED: AtomicUsize = AtomicUsize::new(0);
    nested_stay_to_halting_slave(true, &SERVED);
}

/// Property: the same, with the callback not waiting for the halt: the
/// request races the slave's last check before it halts. (A test of its
/// own, so that the two, the longest loom models, run in parallel.)
#[test]
fn nested_stay_request_races_the_halt() {
    static SERVED: AtomicUsize = AtomicUsize::new(0);
    nested_stay_to_halting_slave(false, &SERVED);
}

/// The body of the two tests above: `wait` whether the callback waits
/// until the slave halted; `served` counts the executions in which the
/// nested request reached the slave halted.
fn nested_stay_to_halting_slave(wait: bool, served: &'static AtomicUsize) {
    served.store(0, Relaxed);
    builder(3).check(move || {
        let m = LoomMachine::with_cpufn(2, halting(false));
        let slave = LoomCpu::new(&m, 1);
        let t = thread::spawn(move || slave.idle_until(|m| m.done.load(SeqCst)));
        let cpu0 = LoomCpu::new(&m, 0);
        cpu0.set_irqs_off(true);
        m.caller_begin(0, 1);
        let stay = nested_stay_params();
        let (out, (hows, nested)) =
            m.cs.run(&cpu0, &params(1, 0, false), marker(0), |h| {
                let hows = check_held(&m, h, 0, 1);
                if wait && hows[1] == How::Ipi {
                    wait_halted(&m, 1);
                }
                let nested = m.cs.run(&cpu0, &stay, marker(0), |h2| {
                    assert_eq!(check_table(h2, 0), hows);
                    if matches!(hows[1], How::Ipi | How::Nmi) {
                        assert_eq!(m.cpufn_done(1), 2, "nested step not done");
                    }
                });
                m.callback_done.store(1, SeqCst);
                (hows, nested.map(|(o, ())| o.generation))
            })
            .unwrap();
        m.caller_end(0);
        cpu0.set_irqs_off(false);
        m.returned.store(1, SeqCst);
        let late = m.cs.was_late(1, 1);
        m.done.store(true, SeqCst);
        t.join().unwrap();
        assert_eq!((nested, out.generation), (Ok(1), 1));
        let stops = m.stops[1].load(SeqCst);
        if matches!(hows[1], How::Ipi | How::Nmi) {
            assert_eq!(stops, 2, "outer and nested steps");
            assert!(m.parked[1].load(SeqCst), "held slave not parked");
            if hows[1] == How::Ipi && m.halts[1].load(SeqCst) > 0 {
                served.fetch_add(1, Relaxed);
            }
        } else {
            assert!(stops <= u32::from(late));
            assert_eq!(m.parked[1].load(SeqCst), late);
        }
        assert_eq!(m.resumes[1].load(SeqCst), 0);
        assert_eq!(m.unclaimed_nmis.load(SeqCst), 0);
        assert_eq!(m.late_spins.load(SeqCst), 0);
    });
    assert!(
        served.load(Relaxed) > 0,
        "no nested request reached a halted slave"
    );
}

/// Property (halted hold): every wake-up NMI is claimed by `on_nmi`, also
/// one that lands after its CPU left: the monarch saw the slave `sleeping`
/// and sent the NMI, but the slave saw the release in its last check and
/// left; the NMI then reaches it in its idle loop (which takes it before
/// the model ends). The count of NMIs not claimed must be 0; the
/// late-landing case must be reached. Preemption bound 3.
#[test]
fn every_wakeup_nmi_is_claimed() {
    static AFTER_LEFT: AtomicUsize = AtomicUsize::new(0);
    builder(3).check(|| {
        let m = LoomMachine::with_cpufn(2, halting(true));
        let slave = LoomCpu::new(&m, 1);
        let t = thread::spawn(move || {
            slave.idle_until(|m| m.done.load(SeqCst));
            slave.poll();
        });
        let cpu0 = LoomCpu::new(&m, 0);
        let (out, hows) = monarch(&cpu0, 1, false);
        m.done.store(true, SeqCst);
        t.join().unwrap();
        check_stops(&m, &[(hows[1], &out)]);
        assert_eq!(m.unclaimed_nmis.load(SeqCst), 0);
        assert_eq!(m.late_spins.load(SeqCst), 0);
        if m.idle_nmis[1].load(SeqCst) > 0 && out.escalated == 0 {
            // Only a wake-up NMI can have reached the idle loop.
            AFTER_LEFT.fetch_add(1, Relaxed);
        }
    });
    assert!(
        AFTER_LEFT.load(Relaxed) > 0,
        "no wake-up NMI landed after its CPU left"
    );
}
