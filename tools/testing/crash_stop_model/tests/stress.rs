// SPDX-License-Identifier: GPL-2.0

//! Randomized stress of the protocol on the simulated machine: 10,000 runs
//! in total on machines of 2 to 64 CPUs with random interrupts-off,
//! NMI-blocked (wedged), offline and concurrent-caller patterns.
//!
//! Every run checks, for the generation it started:
//! * exactly one caller became the monarch, every other concurrent caller
//!   got `Error::Busy` and is in the table as `Caller`;
//! * generations are consecutive, the callback saw the same outcome;
//! * every online responsive slave was recorded exactly once (one
//!   `capture`, one `stopped`), with its own register marker of this run,
//!   in its own slot; IPI-able CPUs by IPI (and never sent an NMI),
//!   interrupts-off CPUs by NMI, wedged ones `Missing`, offline ones
//!   `Offline` (never sent anything), earlier-parked ones `Parked`;
//! * the outcome's counters match the table;
//! * a nested call from the callback returns `Error::Nested`;
//! * every per-CPU callback of a stopped slave returned before the
//!   monarch's callback started;
//! * a CPU that answered after it was given up on (`Late` mode) is `Missing`,
//!   reported late (`was_late`, `Held::late` in the finish step,
//!   `Outcome::late`), and held until the release like the others (resumed
//!   or parked with them), never back from its handler before the monarch's
//!   callback returned;
//! * no slave spun in its wait loop, or worked in its per-CPU callback,
//!   after the monarch's finish step, and all slaves left their handlers
//!   (resume), or, with stay-stopped, every held slave parked for good;
//! * a CPU looping in NMI context and polling `on_poll` is stopped by its
//!   poll (`Nmi`), once, or, if it polls only once given up on, is `Missing`
//!   and held as late; the NMI latched meanwhile is claimed;
//! * in hand-off episodes (5 %, quick steps) the same, except that the
//!   monarch's callback does not wait for the per-CPU steps;
//! * most machines (3 in 4) let held CPUs stopped by IPI or as callers
//!   wait halted, woken by an NMI; the others keep them spinning;
//! * in episodes with a nested stay-stopped request from the monarch's
//!   callback (2 %), every stopped slave runs the nested step exactly once
//!   before the nested callback, which sees the same table, and every held
//!   CPU parks.
//!
//! Set `CRASH_STOP_SEED` to replay another seed.

#![cfg(not(loom))]

mod common;

use common::{check, random_episode};
use crash_stop_model::protocol::How;
use crash_stop_model::rng::Rng;
use crash_stop_model::sim::{Machine, Mode};
use std::collections::BTreeMap;

fn seed() -> u64 {
    std::env::var("CRASH_STOP_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x00C0_FFEE)
}

/// Runs `runs` random episodes on machines of `n` CPUs. A machine is reused
/// across runs and replaced when half its CPUs are parked.
fn stress(n: usize, runs: usize) {
    let seed = seed() ^ (n as u64) << 32;
    let mut rng = Rng::new(seed);
    let mut done = 0;
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    while done < runs {
        let m = Machine::start(n, rng.next_u64());
        // Most machines let the held CPUs stopped by IPI (or as callers)
        // wait halted; the others keep every held CPU spinning.
        let halt = rng.percent(75);
        m.set_halt(halt);
        let mut gen = 0;
        loop {
            let parked: Vec<bool> = (0..n as u32).map(|c| m.parked(c)).collect();
            let live = parked.iter().filter(|p| !**p).count();
            if done == runs || live * 2 <= n {
                break;
            }
            let ep = random_episode(&mut rng, &parked);
            let r = m.run_episode(&ep);
            match check(&m, &ep, &parked, gen, &r) {
                Ok(g) => {
                    gen = g;
                    let held = r.results.iter().find_map(|(_, c)| c.held.as_ref()).unwrap();
                    for (how, _) in &held.table {
                        *seen.entry(format!("{how:?}")).or_default() += 1;
                    }
                    *seen
                        .entry(format!("callers={}", ep.callers.len()))
                        .or_default() += 1;
                    if ep.params.stay {
                        *seen.entry("stay".into()).or_default() += 1;
                    }
                    if ep.params.handoff {
                        *seen.entry("handoff".into()).or_default() += 1;
                    }
                    if ep.nested_stay {
                        *seen.entry("nested_stay".into()).or_default() += 1;
                    }
                    let polled = (0..n)
                        .filter(|&i| ep.modes[i] == Mode::Poll && held.table[i].0 == How::Nmi)
                        .count();
                    *seen.entry("polled".into()).or_default() += polled as u64;
                    *seen.entry("late".into()).or_default() += u64::from(held.final_outcome.late);
                    let halts: u32 = r.halts.iter().sum();
                    *seen.entry("halts".into()).or_default() += u64::from(halts);
                    if !halt && halts != 0 {
                        panic!("n={n} seed={seed:#x} run {done}: halted with the halt off");
                    }
                    let stale: u32 = r.unclaimed_nmis.iter().sum();
                    *seen.entry("unclaimed_nmis".into()).or_default() += u64::from(stale);
                }
                Err(e) => panic!("n={n} seed={seed:#x} run {done}: {e}\n{ep:?}\n{r:?}"),
            }
            done += 1;
        }
        m.stop();
    }
    println!("n={n}: {runs} runs, {seen:?}");
    assert!(seen.contains_key(&format!("{:?}", How::Ipi)));
}

#[test]
fn stress_2_cpus() {
    stress(2, 1500);
}

#[test]
fn stress_3_cpus() {
    stress(3, 1500);
}

#[test]
fn stress_4_cpus() {
    stress(4, 1500);
}

#[test]
fn stress_8_cpus() {
    stress(8, 2000);
}

#[test]
fn stress_16_cpus() {
    stress(16, 1500);
}

#[test]
fn stress_33_cpus() {
    stress(33, 1200);
}

#[test]
fn stress_64_cpus() {
    stress(64, 800);
}
