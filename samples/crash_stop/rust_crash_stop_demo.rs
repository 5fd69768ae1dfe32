// SPDX-License-Identifier: GPL-2.0

//! Rust crash_stop demo: stops every CPU through `kernel::crash_stop`, copies
//! the table inside the closure (no allocation while the CPUs are held), and
//! prints it after they resumed.

use kernel::crash_stop::{self, How, Options, Reason, Symbol};
use kernel::prelude::*;

module! {
    type: RustCrashStopDemo,
    name: "rust_crash_stop_demo",
    authors: ["crash_stop developers"],
    description: "crash_stop Rust API demo",
    license: "GPL",
}

/// Rows kept by the demo; CPUs beyond it are counted but not printed.
const MAX_ROWS: usize = 64;

#[derive(Clone, Copy)]
struct Row {
    cpu: u32,
    how: How,
    pid: i32,
    irqs_off: bool,
    stop_ns: u64,
    ip: usize,
}

const EMPTY: Row = Row {
    cpu: 0,
    how: How::None,
    pid: 0,
    irqs_off: false,
    stop_ns: 0,
    ip: 0,
};

struct RustCrashStopDemo;

impl kernel::Module for RustCrashStopDemo {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let mut rows = [EMPTY; MAX_ROWS];
        let mut n = 0;
        let opts = Options::new().reason(Reason::Test);
        let out = crash_stop::stop(&opts, |held| {
            for cpu in held.cpus() {
                if n < MAX_ROWS {
                    rows[n] = Row {
                        cpu: cpu.cpu(),
                        how: cpu.how(),
                        pid: cpu.pid(),
                        irqs_off: cpu.irqs_off(),
                        stop_ns: cpu.stop_ns(),
                        ip: cpu.ip(),
                    };
                    n += 1;
                }
            }
        })?;
        pr_info!(
            "generation {}: monarch CPU{}, {} CPUs held ({} by NMI, {} missing) in {} us\n",
            out.generation,
            out.monarch,
            out.stopped,
            out.by_nmi,
            out.missing,
            out.gather_ns / 1000
        );
        for row in &rows[..n] {
            if row.how.is_stopped() {
                pr_info!(
                    "cpu {} {:?} pid {} irqs_off {} stop_us {} rip {}\n",
                    row.cpu,
                    row.how,
                    row.pid,
                    row.irqs_off,
                    row.stop_ns / 1000,
                    Symbol::new(row.ip)
                );
            } else {
                pr_info!("cpu {} {:?}\n", row.cpu, row.how);
            }
        }
        Ok(RustCrashStopDemo)
    }
}
