// SPDX-License-Identifier: GPL-2.0

//! The C API of `include/linux/crash_stop.h` and the per-CPU state table.
//!
//! Raw pointers from C are turned into references once, at the top of each
//! exported function; everything below works on checked values.

use crate::platform::{KernelPlatform, Payload};
use crate::protocol::{CrashStop, Error, Held, How, Params};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::{
    bindings,
    cpu::CpuId,
    cpumask::Cpumask,
    error::code::{EBUSY, EINVAL},
    ffi::{c_char, c_int, c_uint},
    prelude::*,
    str::CStrExt,
};

/// Size of the state table: the kernel's compile-time CPU limit.
pub const NR_CPUS: usize = bindings::CONFIG_NR_CPUS as usize;

/// The protocol's only instance.
pub(crate) static CS: CrashStop<KernelPlatform, NR_CPUS> = CrashStop::new();

/// The table and result handed to C: snapshots the monarch takes from the
/// protocol's records once the gather is over.
///
/// # Invariants
///
/// Written only by the monarch, inside the protocol's callback (while it
/// holds the election and every other CPU is stopped or missing). Read by
/// the monarch's callbacks, and by anybody after a crash stop until the
/// next one starts, as documented for `crash_stop_cpu_state()`.
struct Snapshot {
    table: UnsafeCell<[bindings::crash_stop_cpu; NR_CPUS]>,
    result: UnsafeCell<bindings::crash_stop_result>,
}

// SAFETY: see the type invariants.
unsafe impl Sync for Snapshot {}

// SAFETY: all-zero is a valid `crash_stop_cpu` (integers, bools, a C enum
// whose zero is CRASH_STOP_NONE, pt_regs) and `crash_stop_result`
// (integers, a zero enum value, an empty cpumask).
static SNAP: Snapshot = unsafe { core::mem::zeroed() };

/// Generation of the snapshot in [`SNAP`], 0 before the first crash stop.
static SNAP_GEN: AtomicU64 = AtomicU64::new(0);

// The protocol's `How` values are the C enum's (ABI, see the header).
const _: () = {
    assert!(How::None as u32 == bindings::crash_stop_how_CRASH_STOP_NONE);
    assert!(How::Monarch as u32 == bindings::crash_stop_how_CRASH_STOP_MONARCH);
    assert!(How::Ipi as u32 == bindings::crash_stop_how_CRASH_STOP_IPI);
    assert!(How::Nmi as u32 == bindings::crash_stop_how_CRASH_STOP_NMI);
    assert!(How::Caller as u32 == bindings::crash_stop_how_CRASH_STOP_CALLER);
    assert!(How::Missing as u32 == bindings::crash_stop_how_CRASH_STOP_MISSING);
    assert!(How::Offline as u32 == bindings::crash_stop_how_CRASH_STOP_OFFLINE);
    assert!(How::Parked as u32 == bindings::crash_stop_how_CRASH_STOP_PARKED);
};

/// Validated arguments of one call.
pub(crate) struct Request {
    pub(crate) params: Params<Payload>,
    pub(crate) reason: bindings::crash_stop_reason,
}

fn read_param(p: &c_uint) -> u32 {
    // SAFETY: `p` is a valid, aligned `unsigned int`; parameters may be
    // rewritten through sysfs at any time, so read it once, volatile.
    unsafe { core::ptr::read_volatile(p) }
}

fn wait_ns(ms: u32, default: u32, max: u32) -> Result<u64> {
    let ms = if ms == 0 { default } else { ms };
    if ms == 0 || ms > max {
        return Err(EINVAL);
    }
    Ok(u64::from(ms) * 1_000_000)
}

/// Checks the caller's arguments. Changes nothing.
pub(crate) fn validate(args: &bindings::crash_stop_args) -> Result<Request> {
    if args.callback.is_none() {
        return Err(EINVAL);
    }
    let stay = match args.mode {
        bindings::crash_stop_mode_CRASH_STOP_RESUME => false,
        bindings::crash_stop_mode_CRASH_STOP_STAY => true,
        _ => return Err(EINVAL),
    };
    if args.reason >= bindings::crash_stop_reason_CRASH_STOP_REASON_MAX {
        return Err(EINVAL);
    }
    let handoff = match args.flags {
        0 => false,
        bindings::CRASH_STOP_HANDOFF if !stay && args.cpu_callback.is_some() => true,
        _ => return Err(EINVAL),
    };
    // SAFETY: the parameters are plain globals defined in glue.c.
    let (ipi_default, nmi_default) = unsafe {
        (
            read_param(&*core::ptr::addr_of!(bindings::crash_stop_ipi_wait_ms)),
            read_param(&*core::ptr::addr_of!(bindings::crash_stop_nmi_wait_ms)),
        )
    };
    Ok(Request {
        params: Params {
            ipi_wait_ns: wait_ns(
                args.ipi_wait_ms,
                ipi_default,
                bindings::CRASH_STOP_IPI_WAIT_MAX_MS,
            )?,
            nmi_wait_ns: wait_ns(
                args.nmi_wait_ms,
                nmi_default,
                bindings::CRASH_STOP_NMI_WAIT_MAX_MS,
            )?,
            stay,
            handoff,
            payload: Payload {
                cpu_callback: args.cpu_callback,
                data: args.data,
            },
        },
        reason: args.reason,
    })
}

/// Copies the held generation into [`SNAP`] and returns the result.
///
/// # Safety
///
/// The caller must be the monarch inside the protocol's callback.
unsafe fn take_snapshot(
    held: &Held<'_, KernelPlatform, NR_CPUS>,
    reason: bindings::crash_stop_reason,
) -> *const bindings::crash_stop_result {
    let out = held.outcome();
    // Nobody may read a half-written snapshot as the previous one.
    SNAP_GEN.store(0, Ordering::Release);
    // SAFETY: by the function's contract we are the only writer, and
    // readers of the old snapshot were told it ends when a new crash stop
    // starts (type invariants of `Snapshot`).
    let (table, result) = unsafe { (&mut *SNAP.table.get(), &mut *SNAP.result.get()) };
    // SAFETY: `result.missing` is a valid cpumask we have exclusive access to.
    let missing = unsafe { Cpumask::from_raw_mut(&mut result.missing) };
    let nr = kernel::cpu::nr_cpu_ids() as usize;
    for (cpu, row) in (0u32..).zip(table.iter_mut().take(nr)) {
        let how = held.how(cpu);
        if held.with_record(cpu, |rec| *row = *rec).is_none() {
            // SAFETY: all-zero is a valid row (see `SNAP`).
            *row = unsafe { core::mem::zeroed() };
            row.cpu = cpu;
            row.how = how as bindings::crash_stop_how;
        }
        // Known after the release, see `finish_snapshot()`.
        row.late = false;
        if let Some(id) = CpuId::from_u32(cpu) {
            if how == How::Missing {
                missing.set(id);
            } else {
                missing.clear(id);
            }
        }
    }
    result.generation = out.generation;
    result.monarch = out.monarch;
    result.reason = reason;
    result.nr_stopped = out.stopped;
    result.nr_nmi = out.by_nmi;
    result.nr_escalated = out.escalated;
    result.nr_missing = out.missing;
    result.nr_late = 0;
    result.nr_offline = out.offline;
    result.nr_parked = out.parked;
    result.gather_ns = out.gather_ns;
    SNAP_GEN.store(out.generation, Ordering::Release);
    result
}

/// Completes the snapshot once the generation is released: which missing
/// CPUs answered late and were held.
///
/// # Safety
///
/// The caller must be the monarch in the protocol's `finish` step (every
/// slave has left, no other crash stop can start).
unsafe fn finish_snapshot(
    held: &Held<'_, KernelPlatform, NR_CPUS>,
) -> &'static bindings::crash_stop_result {
    // SAFETY: by the function's contract we are the only writer and the
    // callbacks that read the snapshot have returned.
    let (table, result) = unsafe { (&mut *SNAP.table.get(), &mut *SNAP.result.get()) };
    let nr = kernel::cpu::nr_cpu_ids() as usize;
    for (cpu, row) in (0u32..).zip(table.iter_mut().take(nr)) {
        row.late = held.late(cpu);
    }
    result.nr_late = held.outcome().late;
    result
}

fn report(res: &bindings::crash_stop_result) {
    if res.nr_missing == 0 && res.nr_escalated == 0 {
        return;
    }
    pr_warn!(
        "generation {} on CPU{}: {} CPUs stopped ({} by NMI after {} escalations), {} missing ({} late), in {} us\n",
        res.generation,
        res.monarch,
        res.nr_stopped,
        res.nr_nmi,
        res.nr_escalated,
        res.nr_missing,
        res.nr_late,
        res.gather_ns / 1000
    );
    if res.nr_missing != 0 {
        // SAFETY: `res.missing` is a valid cpumask; `%*pbl` takes its bit
        // count and pointer.
        unsafe {
            bindings::_printk(
                c"\x014crash_stop: CPUs %*pbl did not stop\n".as_char_ptr(),
                kernel::cpu::nr_cpu_ids() as c_int,
                core::ptr::from_ref(&res.missing),
            )
        };
    }
}

/// Runs one crash stop for validated `req` on behalf of C `args`; `caller`
/// describes the caller of `crash_stop()` (see `crash_stop_entry_64.S`).
///
/// Nothing here copies a `crash_stop_result` (whose cpumask grows with
/// `NR_CPUS`) to the stack: the result is built in [`SNAP`] and copied from
/// there to `res`.
fn run(
    args: &bindings::crash_stop_args,
    req: &Request,
    caller: *mut bindings::pt_regs,
    res: Option<&mut bindings::crash_stop_result>,
) -> Result<c_int> {
    // SAFETY: arch hook; disables interrupts on this CPU.
    let flags = unsafe { bindings::crash_stop_arch_irq_save() };
    let ctx = if args.regs.is_null() {
        // SAFETY: `caller` is the entry stub's valid frame, which leaves
        // the flags to us: the caller's, as saved just above.
        unsafe { (*caller).flags = flags as usize };
        caller
    } else {
        args.regs
    };
    let callback = args.callback;
    let data = args.data;
    let ran = CS.run_full(
        &KernelPlatform,
        &req.params,
        ctx,
        |held| {
            // SAFETY: we are the monarch inside the protocol's callback.
            let result = unsafe { take_snapshot(held, req.reason) };
            if let Some(cb) = callback {
                // SAFETY: the callback's contract is the caller's; `result`
                // points to the snapshot, valid during the call.
                unsafe { cb(result, data) };
            }
        },
        |held, ()| {
            // SAFETY: we are the monarch in the protocol's finish step.
            let result = unsafe { finish_snapshot(held) };
            report(result);
            if let Some(res) = res {
                // SAFETY: both are valid; `res` is the caller's and does
                // not overlap the static snapshot.
                unsafe { core::ptr::copy_nonoverlapping(result, res, 1) };
            }
        },
    );
    // SAFETY: restores the state saved above.
    unsafe { bindings::crash_stop_arch_irq_restore(flags) };
    match ran {
        Ok((out, ())) => Ok(out.stopped as c_int),
        Err(Error::Nested) => Err(kernel::error::Error::from_errno(
            -(bindings::EDEADLK as c_int),
        )),
        Err(Error::Busy) => Err(EBUSY),
        Err(Error::Invalid) => Err(EINVAL),
    }
}

/// Stops every other CPU, runs the callback, resumes or parks them: the
/// body of `crash_stop()`, whose arch entry stub describes its caller in
/// `caller`.
///
/// # Safety
///
/// `args` is NULL or points to a valid `crash_stop_args` whose callbacks
/// and data honour the contracts in `include/linux/crash_stop.h`; `res` is
/// NULL or valid for writing; `caller` is a valid register frame. All stay
/// valid for the whole call.
#[export]
pub unsafe extern "C" fn __crash_stop(
    args: *const bindings::crash_stop_args,
    res: *mut bindings::crash_stop_result,
    caller: *mut bindings::pt_regs,
) -> c_int {
    // SAFETY: by the function's contract.
    let Some(args) = (unsafe { args.as_ref() }) else {
        return EINVAL.to_errno();
    };
    let req = match validate(args) {
        Ok(req) => req,
        Err(e) => return e.to_errno(),
    };
    // SAFETY: by the function's contract.
    let res = unsafe { res.as_mut() };
    run(args, &req, caller, res).unwrap_or_else(|e| e.to_errno())
}

/// Whether a crash stop is running.
///
/// # Safety
///
/// Always safe to call; `unsafe` only because of `#[export]`.
#[export]
pub unsafe extern "C" fn crash_stop_in_progress() -> bool {
    CS.monarch().is_some()
}

/// The running crash stop's monarch, or -1.
///
/// # Safety
///
/// Always safe to call; `unsafe` only because of `#[export]`.
#[export]
pub unsafe extern "C" fn crash_stop_monarch_cpu() -> c_int {
    CS.monarch().map_or(-1, |cpu| cpu as c_int)
}

/// The row of `cpu` in the last crash stop's table, or NULL.
///
/// # Safety
///
/// Always safe to call; the row's lifetime rules are in the header.
#[export]
pub unsafe extern "C" fn crash_stop_cpu_state(cpu: c_uint) -> *const bindings::crash_stop_cpu {
    if SNAP_GEN.load(Ordering::Acquire) == 0 || cpu >= kernel::cpu::nr_cpu_ids() {
        return core::ptr::null();
    }
    // SAFETY: `cpu` < nr_cpu_ids <= NR_CPUS: the row is in bounds; no
    // reference to the table is created here.
    unsafe {
        SNAP.table
            .get()
            .cast::<bindings::crash_stop_cpu>()
            .add(cpu as usize)
    }
}

/// A short name for a `crash_stop_how` value.
///
/// # Safety
///
/// Always safe to call; `unsafe` only because of `#[export]`.
#[export]
pub unsafe extern "C" fn crash_stop_how_name(how: bindings::crash_stop_how) -> *const c_char {
    let name: &CStr = match how {
        bindings::crash_stop_how_CRASH_STOP_MONARCH => c"monarch",
        bindings::crash_stop_how_CRASH_STOP_IPI => c"ipi",
        bindings::crash_stop_how_CRASH_STOP_NMI => c"nmi",
        bindings::crash_stop_how_CRASH_STOP_CALLER => c"caller",
        bindings::crash_stop_how_CRASH_STOP_MISSING => c"missing",
        bindings::crash_stop_how_CRASH_STOP_OFFLINE => c"offline",
        bindings::crash_stop_how_CRASH_STOP_PARKED => c"parked",
        _ => c"none",
    };
    name.as_char_ptr()
}

/// Called by the arch IPI handler with the interrupted frame.
///
/// # Safety
///
/// `regs` is the valid frame of the interrupted context; interrupts are
/// disabled.
#[export]
pub unsafe extern "C" fn crash_stop_handle_ipi(regs: *mut bindings::pt_regs) {
    CS.on_ipi(&KernelPlatform, regs);
}

/// Called by the arch NMI handler; returns whether the NMI was crash_stop's.
///
/// # Safety
///
/// `regs` is the valid frame of the interrupted context; in NMI context.
#[export]
pub unsafe extern "C" fn crash_stop_handle_nmi(regs: *mut bindings::pt_regs) -> bool {
    CS.on_nmi(&KernelPlatform, regs)
}

/// Lets a CPU looping in NMI context join a crash stop (see the header).
///
/// # Safety
///
/// `regs` is the valid frame of the context the CPU interrupted; it stays
/// valid while the CPU is stopped.
#[export]
pub unsafe extern "C" fn crash_stop_poll(regs: *mut bindings::pt_regs) -> bool {
    CS.on_poll(&KernelPlatform, regs)
}

/// Called by the die notifier on the crashing CPU: if it is a monarch that
/// crashed inside its crash stop, release the others so the oops/panic path
/// can run (returns true); if it is a CPU held in a crash stop (it crashed
/// in its per-CPU callback), tell the monarch not to wait for it.
///
/// # Safety
///
/// Always safe to call; `unsafe` only because of `#[export]`.
#[export]
pub unsafe extern "C" fn crash_stop_handle_die() -> bool {
    if CS.abort_on_crash(&KernelPlatform) {
        pr_emerg!("monarch crashed during its crash stop; resuming the other CPUs\n");
        return true;
    }
    if CS.crashed(&KernelPlatform) {
        pr_emerg!("CPU crashed while stopped; the monarch goes on without it\n");
    }
    false
}
