// SPDX-License-Identifier: GPL-2.0

//! Invariant checks shared by the simulated-machine tests.

#![allow(dead_code)]

use crash_stop_model::protocol::{Error, How, Outcome, Params};
use crash_stop_model::rng::Rng;
use crash_stop_model::sim::{marker, Episode, Machine, Mode, NestedStay, Report, TICK_NS};

/// Default parameters: waits counted in monarch loop iterations.
pub fn params(ipi_ticks: u64, nmi_ticks: u64, stay: bool) -> Params {
    Params {
        ipi_wait_ns: ipi_ticks * TICK_NS,
        nmi_wait_ns: nmi_ticks * TICK_NS,
        stay,
        handoff: false,
        payload: 0,
    }
}

/// A random episode for a machine of `n` CPUs, `parked` of which are
/// parked for good.
pub fn random_episode(rng: &mut Rng, parked: &[bool]) -> Episode {
    let n = parked.len();
    let mut modes: Vec<Mode> = (0..n)
        .map(|_| match rng.below(100) {
            0..=49 => Mode::Idle,
            50..=63 => Mode::IrqsOff,
            64..=74 => Mode::Toggle,
            75..=80 => Mode::Wedged,
            81..=86 => Mode::Late,
            87..=88 => Mode::Poll,
            89 => Mode::PollLate,
            _ => Mode::Offline,
        })
        .collect();
    let free: Vec<u32> = (0..n as u32).filter(|&c| !parked[c as usize]).collect();
    let first = free[rng.below(free.len() as u64) as usize];
    let no_caller = |m: Mode| {
        matches!(
            m,
            Mode::Wedged | Mode::Offline | Mode::Late | Mode::Poll | Mode::PollLate
        )
    };
    if no_caller(modes[first as usize]) {
        modes[first as usize] = Mode::Idle;
    }
    let mut callers = vec![first];
    if rng.percent(30) {
        for _ in 0..1 + rng.below(3) {
            let c = free[rng.below(free.len() as u64) as usize];
            if !callers.contains(&c) && !no_caller(modes[c as usize]) {
                callers.push(c);
            }
        }
    }
    let mut params = params(5 + rng.below(40), 5 + rng.below(40), rng.percent(2));
    // Hand-off (quick steps) or a nested stay-stopped request, now and then.
    params.handoff = !params.stay && rng.percent(5);
    let nested_stay = !params.handoff && rng.percent(2);
    Episode {
        modes,
        callers,
        params,
        hold_us: if rng.percent(20) { rng.below(300) } else { 0 },
        hold_steps: false,
        nested_stay,
    }
}

/// What `cpu` must end up as, given the episode.
fn expected(ep: &Episode, parked_before: &[bool], winner: u32, cpu: u32) -> &'static [How] {
    if cpu == winner {
        return &[How::Monarch];
    }
    if parked_before[cpu as usize] {
        return &[How::Parked];
    }
    if ep.callers.contains(&cpu) {
        return &[How::Caller];
    }
    match ep.modes[cpu as usize] {
        Mode::Idle => &[How::Ipi],
        Mode::IrqsOff => &[How::Nmi],
        Mode::Toggle => &[How::Ipi, How::Nmi],
        Mode::Wedged => &[How::Missing],
        Mode::Offline => &[How::Offline],
        Mode::Late => &[How::Missing, How::Ipi, How::Nmi],
        // Stopped by its poll (the clock waits for it).
        Mode::Poll => &[How::Nmi],
        Mode::PollLate => &[How::Missing],
    }
}

/// Checks every invariant of one episode; returns the generation it ran.
pub fn check(
    m: &Machine,
    ep: &Episode,
    parked_before: &[bool],
    last_gen: u64,
    r: &Report,
) -> Result<u64, String> {
    let e = r.epoch;
    let oks: Vec<_> = r.results.iter().filter(|(_, c)| c.res.is_ok()).collect();
    if oks.len() != 1 {
        return Err(format!("expected one monarch, got {:?}", r.results));
    }
    let (winner, res) = oks[0];
    let winner = *winner;
    for (cpu, c) in &r.results {
        if *cpu != winner && c.res != Err(Error::Busy) {
            return Err(format!("concurrent caller {cpu} got {:?}", c.res));
        }
    }
    let out = res.res.unwrap();
    let held = res.held.as_ref().ok_or("monarch without callback")?;
    // The late count is only known after the release.
    if held.outcome != (Outcome { late: 0, ..out }) || held.final_outcome != out {
        return Err(format!(
            "callback, finish and run() disagree on the outcome: {:?} {:?} {out:?}",
            held.outcome, held.final_outcome
        ));
    }
    if out.generation != last_gen + 1 || out.monarch != winner {
        return Err(format!("bad generation/monarch {out:?} after {last_gen}"));
    }
    if held.nested != Err(Error::Nested) {
        return Err(format!("nested call from callback: {:?}", held.nested));
    }
    if ep.nested_stay {
        let want = NestedStay {
            generation: out.generation,
            same_table: true,
            all_done: true,
        };
        if held.nested_stay != Some(Ok(want)) {
            return Err(format!("nested stay-stopped call: {:?}", held.nested_stay));
        }
    }
    // A hand-off slave is neither held nor done with its step by then.
    let handoff = ep.params.handoff;
    if !held.all_held && !handoff {
        return Err("a slave reported stopped was not held".into());
    }
    if !held.all_done && !handoff {
        return Err("the callback ran before a slave's per-CPU callback returned".into());
    }
    if r.late_spins != 0 {
        return Err(format!(
            "{} slave spins or callbacks after the monarch's finish step",
            r.late_spins
        ));
    }
    if r.ran_free != 0 {
        return Err(format!(
            "{} late CPUs left their handler before the release",
            r.ran_free
        ));
    }
    if r.wrong_cpu != 0 {
        return Err("a record or stopped() went to the wrong CPU/payload".into());
    }
    let (mut stopped, mut by_nmi, mut missing, mut offline, mut parked) = (0, 0, 0, 0, 0);
    let mut late = 0;
    for cpu in 0..m.n as u32 {
        let i = cpu as usize;
        let (how, rec) = held.table[i];
        let was_late = m.cs.was_late(cpu, out.generation);
        if held.late[i] != was_late {
            return Err(format!(
                "cpu {cpu}: late {was_late}, finish saw {}",
                held.late[i]
            ));
        }
        if was_late {
            late += 1;
            if how != How::Missing || !matches!(ep.modes[i], Mode::Late | Mode::PollLate) {
                return Err(format!(
                    "cpu {cpu} mode {:?} ({how:?}) reported late",
                    ep.modes[i]
                ));
            }
        }
        let want = expected(ep, parked_before, winner, cpu);
        if !want.contains(&how) {
            return Err(format!(
                "cpu {cpu} mode {:?} caller {} is {how:?}, want {want:?}",
                ep.modes[i],
                ep.callers.contains(&cpu)
            ));
        }
        match how {
            How::Ipi | How::Caller => stopped += 1,
            How::Nmi => {
                stopped += 1;
                by_nmi += 1
            }
            How::Missing => missing += 1,
            How::Offline => offline += 1,
            How::Parked => parked += 1,
            _ => {}
        }
        if how.is_stopped() {
            let rec = rec.ok_or(format!("cpu {cpu} stopped without record"))?;
            if rec.cpu != cpu || rec.marker != marker(cpu, e) || rec.how != how {
                return Err(format!("cpu {cpu} record {rec:?} (epoch {e})"));
            }
            if rec.t_ns > out.gather_ns || (how == How::Monarch && rec.t_ns != 0) {
                return Err(format!(
                    "cpu {cpu} t_ns {} gather {}",
                    rec.t_ns, out.gather_ns
                ));
            }
            if how == How::Nmi && !rec.in_nmi {
                return Err(format!("cpu {cpu} NMI record not from NMI"));
            }
            let want_stops = u32::from(how != How::Monarch);
            if r.stops[i] != want_stops || r.captures[i] != 1 {
                return Err(format!(
                    "cpu {cpu} ({how:?}) recorded {} times, captured {} times",
                    r.stops[i], r.captures[i]
                ));
            }
        } else {
            // A late CPU given up while saving (in its per-CPU callback) has
            // captured and run the callback, unrecorded.
            let late_capture = was_late && r.captures[i] == 1 && r.stops[i] == 1;
            if rec.is_some() || ((r.stops[i] != 0 || r.captures[i] != 0) && !late_capture) {
                return Err(format!("cpu {cpu} ({how:?}) has a record"));
            }
            if how == How::Offline && r.ipis_sent[i] + r.nmis_sent[i] != 0 {
                return Err(format!("offline cpu {cpu} was sent interrupts"));
            }
        }
        // An interrupts-on CPU is never escalated (a Toggle or Late one may
        // be, and answer the IPI just before the NMI is sent).
        if ep.modes[i] == Mode::Idle && !ep.callers.contains(&cpu) && r.nmis_sent[i] != 0 {
            return Err(format!("idle cpu {cpu} ({how:?}) was sent an NMI"));
        }
        // Stopped only by what this generation sent (not a stale one), or
        // by its own poll.
        if (how == How::Nmi && r.nmis_sent[i] == 0 && ep.modes[i] != Mode::Poll)
            || (how == How::Ipi && r.ipis_sent[i] == 0)
        {
            return Err(format!("cpu {cpu} stopped as {how:?} by a stale interrupt"));
        }
        // Late CPUs are held, resumed and parked like the stopped ones.
        let stopped = matches!(how, How::Ipi | How::Nmi | How::Caller);
        let held_cpu = was_late || stopped;
        // A nested stay-stopped request is served by every stopped slave,
        // once, and parks every held CPU.
        let want_nested = u32::from(ep.nested_stay && stopped);
        if r.nested_stops[i] != want_nested {
            return Err(format!(
                "cpu {cpu} ({how:?}) ran {} nested steps",
                r.nested_stops[i]
            ));
        }
        let should_park = (ep.params.stay || ep.nested_stay) && held_cpu;
        // Hold steps are still running.
        let want_resumes = u32::from(!should_park && held_cpu && !(ep.hold_steps && stopped));
        if r.resumes[i] != want_resumes {
            return Err(format!(
                "cpu {cpu} ({how:?}) resumed {} times",
                r.resumes[i]
            ));
        }
        if r.parked[i] != (parked_before[i] || should_park) {
            return Err(format!("cpu {cpu} ({how:?}) parked {}", r.parked[i]));
        }
    }
    let want = (stopped, by_nmi, missing, offline, parked, late);
    let got = (
        out.stopped,
        out.by_nmi,
        out.missing,
        out.offline,
        out.parked,
        out.late,
    );
    if want != got {
        return Err(format!("outcome counts {got:?}, table says {want:?}"));
    }
    // CPUs stopped by their own poll may not have been sent an NMI.
    let polled = (0..m.n)
        .filter(|&i| ep.modes[i] == Mode::Poll && held.table[i].0 == How::Nmi)
        .count() as u32;
    if out.escalated + polled < by_nmi + missing {
        return Err(format!(
            "escalated {} < {}",
            out.escalated,
            by_nmi + missing
        ));
    }
    Ok(out.generation)
}
