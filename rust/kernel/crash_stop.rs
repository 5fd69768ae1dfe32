// SPDX-License-Identifier: GPL-2.0

//! Stop every CPU for a debugger or dump tool.
//!
//! A safe wrapper of the crash_stop C API: the calling CPU becomes the
//! monarch, every other online CPU is stopped (maskable IPI first, NMI
//! after a delay) and records its state, a closure runs with them held,
//! then they resume or stay stopped for good.
//!
//! C header: [`include/linux/crash_stop.h`](srctree/include/linux/crash_stop.h)
//!
//! # Examples
//!
//! ```no_run
//! use kernel::crash_stop::{self, Options};
//!
//! let outcome = crash_stop::stop(&Options::new(), |held| {
//!     for cpu in held.cpus() {
//!         pr_info!("cpu {} {:?}\n", cpu.cpu(), cpu.how());
//!     }
//! });
//! ```

use crate::{bindings, error::to_result, ffi::c_void, prelude::*};
use core::mem::MaybeUninit;

/// How a CPU ended up in the table (`enum crash_stop_how`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum How {
    /// Not part of the last crash stop.
    None,
    /// The CPU that called crash_stop.
    Monarch,
    /// Stopped by the maskable IPI, at an interrupt-enabled point.
    Ipi,
    /// Stopped by NMI; its state may have been taken at any point.
    Nmi,
    /// A concurrent caller that lost the election and stopped itself.
    Caller,
    /// Did not answer in time.
    Missing,
    /// Offline when the crash stop began.
    Offline,
    /// Parked by an earlier stay-stopped crash stop.
    Parked,
}

impl How {
    fn from_raw(how: bindings::crash_stop_how) -> Self {
        match how {
            bindings::crash_stop_how_CRASH_STOP_MONARCH => How::Monarch,
            bindings::crash_stop_how_CRASH_STOP_IPI => How::Ipi,
            bindings::crash_stop_how_CRASH_STOP_NMI => How::Nmi,
            bindings::crash_stop_how_CRASH_STOP_CALLER => How::Caller,
            bindings::crash_stop_how_CRASH_STOP_MISSING => How::Missing,
            bindings::crash_stop_how_CRASH_STOP_OFFLINE => How::Offline,
            bindings::crash_stop_how_CRASH_STOP_PARKED => How::Parked,
            _ => How::None,
        }
    }

    /// Whether the row's registers and task are valid.
    pub fn is_stopped(self) -> bool {
        matches!(self, How::Monarch | How::Ipi | How::Nmi | How::Caller)
    }
}

/// What happens to the other CPUs after the closure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// They resume (debuggers).
    Resume,
    /// They halt for good with interrupts off (dump tools).
    Stay,
}

/// Why the machine is stopped (`enum crash_stop_reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// A kernel debugger takes over.
    Debugger,
    /// A crash dump is about to be taken.
    Dump,
    /// The kernel panics.
    Panic,
    /// All-CPU backtrace or state snapshot.
    Backtrace,
    /// Self-tests and samples.
    Test,
}

impl Reason {
    fn as_raw(self) -> bindings::crash_stop_reason {
        match self {
            Reason::Debugger => bindings::crash_stop_reason_CRASH_STOP_REASON_DEBUGGER,
            Reason::Dump => bindings::crash_stop_reason_CRASH_STOP_REASON_DUMP,
            Reason::Panic => bindings::crash_stop_reason_CRASH_STOP_REASON_PANIC,
            Reason::Backtrace => bindings::crash_stop_reason_CRASH_STOP_REASON_BACKTRACE,
            Reason::Test => bindings::crash_stop_reason_CRASH_STOP_REASON_TEST,
        }
    }
}

/// Options of one crash stop.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    ipi_wait_ms: u32,
    nmi_wait_ms: u32,
    mode: Mode,
    reason: Reason,
}

impl Options {
    /// Default waits (the boot parameters), resume mode, [`Reason::Debugger`].
    pub const fn new() -> Self {
        Options {
            ipi_wait_ms: 0,
            nmi_wait_ms: 0,
            mode: Mode::Resume,
            reason: Reason::Debugger,
        }
    }

    /// Wait for the IPI before sending NMIs (0: the default).
    pub const fn ipi_wait_ms(mut self, ms: u32) -> Self {
        self.ipi_wait_ms = ms;
        self
    }

    /// Wait for NMI answers before reporting CPUs missing (0: the default).
    pub const fn nmi_wait_ms(mut self, ms: u32) -> Self {
        self.nmi_wait_ms = ms;
        self
    }

    /// Resume or stay stopped after the closure.
    pub const fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// The reason, for the log.
    pub const fn reason(mut self, reason: Reason) -> Self {
        self.reason = reason;
        self
    }
}

impl Default for Options {
    fn default() -> Self {
        Self::new()
    }
}

/// One CPU's row of the state table.
#[derive(Clone, Copy)]
pub struct CpuState<'a>(&'a bindings::crash_stop_cpu);

impl CpuState<'_> {
    /// The CPU number.
    pub fn cpu(&self) -> u32 {
        self.0.cpu
    }

    /// How it was stopped.
    pub fn how(&self) -> How {
        How::from_raw(self.0.how)
    }

    /// Whether interrupts were off in the stopped context.
    pub fn irqs_off(&self) -> bool {
        self.0.irqs_off
    }

    /// Whether it was stopped in user mode.
    pub fn in_user(&self) -> bool {
        self.0.in_user
    }

    /// Whether it answered after it was reported missing, and was held
    /// until the release all the same (known after the release).
    pub fn late(&self) -> bool {
        self.0.late
    }

    /// Pid of the task it was running.
    pub fn pid(&self) -> i32 {
        self.0.pid
    }

    /// Command name of that task (up to the first NUL).
    pub fn comm(&self) -> &[u8] {
        let comm = &self.0.comm;
        // SAFETY: `c_char` and `u8` have the same size and alignment.
        let bytes = unsafe { core::slice::from_raw_parts(comm.as_ptr().cast::<u8>(), comm.len()) };
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        &bytes[..end]
    }

    /// Nanoseconds from the start of the crash stop until it stopped.
    pub fn stop_ns(&self) -> u64 {
        self.0.stop_ns
    }

    /// The saved registers.
    pub fn regs(&self) -> &bindings::pt_regs {
        &self.0.regs
    }

    /// The saved instruction pointer.
    pub fn ip(&self) -> usize {
        self.0.regs.ip
    }

    /// The raw row.
    pub fn as_raw(&self) -> *const bindings::crash_stop_cpu {
        self.0
    }
}

/// A code address resolved to `symbol+0xoff/0xsize [module]` (as `%pS`).
pub struct Symbol {
    buf: [u8; SYMBOL_LEN],
}

/// Room for `sprint_symbol()`'s output (`KSYM_SYMBOL_LEN` is below 700).
const SYMBOL_LEN: usize = 1024;

impl Symbol {
    /// Resolves `addr`. Uses no lock and allocates nothing.
    pub fn new(addr: usize) -> Self {
        let mut buf = [0u8; SYMBOL_LEN];
        // SAFETY: `buf` is larger than the `KSYM_SYMBOL_LEN` bytes
        // `sprint_symbol()` may write, including the NUL.
        unsafe { bindings::sprint_symbol(buf.as_mut_ptr(), addr) };
        Symbol { buf }
    }

    /// The resolved text.
    pub fn as_bytes(&self) -> &[u8] {
        let end = self.buf.iter().position(|&b| b == 0).unwrap_or(SYMBOL_LEN);
        &self.buf[..end]
    }
}

impl crate::fmt::Display for Symbol {
    fn fmt(&self, f: &mut crate::fmt::Formatter<'_>) -> crate::fmt::Result {
        for &b in self.as_bytes() {
            crate::fmt::Write::write_char(f, char::from(b))?;
        }
        Ok(())
    }
}

/// Summary of one crash stop.
#[derive(Clone, Copy, Debug, Default)]
pub struct Outcome {
    /// Sequence number, from 1.
    pub generation: u64,
    /// The monarch CPU.
    pub monarch: u32,
    /// CPUs stopped besides the monarch.
    pub stopped: u32,
    /// Of those, stopped by NMI.
    pub by_nmi: u32,
    /// CPUs sent an NMI.
    pub escalated: u32,
    /// CPUs that did not answer in time.
    pub missing: u32,
    /// Of those, CPUs that answered before the release and were held
    /// (0 inside the callback, where it is not known yet).
    pub late: u32,
    /// CPUs offline at the start.
    pub offline: u32,
    /// CPUs parked by an earlier stay-stopped crash stop.
    pub parked: u32,
    /// Nanoseconds until every CPU stopped (or the NMI wait expired).
    pub gather_ns: u64,
}

impl Outcome {
    fn from_raw(r: &bindings::crash_stop_result) -> Self {
        Outcome {
            generation: r.generation,
            monarch: r.monarch,
            stopped: r.nr_stopped,
            by_nmi: r.nr_nmi,
            escalated: r.nr_escalated,
            missing: r.nr_missing,
            late: r.nr_late,
            offline: r.nr_offline,
            parked: r.nr_parked,
            gather_ns: r.gather_ns,
        }
    }
}

/// What the closure sees while the other CPUs are held.
pub struct Held<'a> {
    outcome: Outcome,
    _res: &'a bindings::crash_stop_result,
}

impl Held<'_> {
    /// The summary so far.
    pub fn outcome(&self) -> &Outcome {
        &self.outcome
    }

    /// The row of `cpu`, if it exists.
    pub fn cpu(&self, cpu: u32) -> Option<CpuState<'_>> {
        // SAFETY: always safe to call; a non-NULL row stays valid while the
        // crash stop holds (the lifetime of `self`).
        let row = unsafe { bindings::crash_stop_cpu_state(cpu) };
        // SAFETY: `row` is NULL or a valid row (see above).
        unsafe { row.as_ref() }.map(CpuState)
    }

    /// Every row, CPU 0 to `nr_cpu_ids - 1`.
    pub fn cpus(&self) -> impl Iterator<Item = CpuState<'_>> {
        (0..crate::cpu::nr_cpu_ids()).filter_map(|cpu| self.cpu(cpu))
    }
}

struct Trampoline<F> {
    f: Option<F>,
}

/// # Safety
///
/// Called by crash_stop() with a valid result and the `Trampoline<F>` that
/// [`stop`] passed as data.
unsafe extern "C" fn callback<F: FnOnce(&Held<'_>)>(
    res: *const bindings::crash_stop_result,
    data: *mut c_void,
) {
    // SAFETY: `data` is the `Trampoline<F>` that `stop` passed, alive for
    // the whole call; the callback runs once, on the monarch.
    let t = unsafe { &mut *data.cast::<Trampoline<F>>() };
    // SAFETY: crash_stop passes a valid result for the callback's duration.
    let res = unsafe { &*res };
    if let Some(f) = t.f.take() {
        f(&Held {
            outcome: Outcome::from_raw(res),
            _res: res,
        });
    }
}

/// Stops every other CPU, runs `f` on this one with them held, then
/// resumes them or leaves them stopped, as `opts` says.
///
/// `f` runs with interrupts disabled, possibly in NMI context: it must not
/// sleep, allocate, or take a lock a stopped CPU may hold.
///
/// Returns the outcome, or `EINVAL` (bad options), `EDEADLK` (called from
/// inside a crash stop), `EBUSY` (another CPU won; this one was stopped and
/// released).
pub fn stop<F: FnOnce(&Held<'_>)>(opts: &Options, f: F) -> Result<Outcome> {
    let mut t = Trampoline { f: Some(f) };
    let args = bindings::crash_stop_args {
        callback: Some(callback::<F>),
        cpu_callback: None,
        data: core::ptr::from_mut(&mut t).cast(),
        regs: core::ptr::null_mut(),
        ipi_wait_ms: opts.ipi_wait_ms,
        nmi_wait_ms: opts.nmi_wait_ms,
        mode: match opts.mode {
            Mode::Resume => bindings::crash_stop_mode_CRASH_STOP_RESUME,
            Mode::Stay => bindings::crash_stop_mode_CRASH_STOP_STAY,
        },
        reason: opts.reason.as_raw(),
        flags: 0,
    };
    let mut res = MaybeUninit::<bindings::crash_stop_result>::zeroed();
    // SAFETY: `args` and `res` are valid for the call; the callback and its
    // data (`t`) outlive it.
    let ret = unsafe { bindings::crash_stop(&args, res.as_mut_ptr()) };
    to_result(ret)?;
    // SAFETY: zero-initialised, then filled by a successful crash_stop().
    Ok(Outcome::from_raw(unsafe { res.assume_init_ref() }))
}

/// Whether a crash stop is running.
pub fn in_progress() -> bool {
    // SAFETY: always safe to call.
    unsafe { bindings::crash_stop_in_progress() }
}

/// The running crash stop's monarch CPU, if any.
pub fn monarch() -> Option<u32> {
    // SAFETY: always safe to call.
    let cpu = unsafe { bindings::crash_stop_monarch_cpu() };
    u32::try_from(cpu).ok()
}
