// SPDX-License-Identifier: GPL-2.0

//! KUnit tests of crash_stop's internals (`CONFIG_CRASH_STOP_KUNIT_TEST`).
//!
//! They run at boot, on a machine whose other CPUs are idle: a real crash
//! stop of every online CPU, plus the argument checks, the table, nested
//! calls and the protocol on a fake machine.

use kernel::prelude::*;

#[kunit_tests(crash_stop)]
mod suite {
    use crate::api;
    use crate::protocol::{CrashStop, Error, How, Params, Platform};
    use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
    use kernel::{bindings, ffi::c_void};

    const EINVAL: i32 = -22;
    const EDEADLK: i32 = -35;

    static CALLS: AtomicU32 = AtomicU32::new(0);
    static CPU_CALLS: AtomicU32 = AtomicU32::new(0);
    static NESTED_RET: AtomicU32 = AtomicU32::new(0);
    static SEEN_MONARCH: AtomicU32 = AtomicU32::new(u32::MAX);
    static SEEN_GEN: AtomicU64 = AtomicU64::new(0);

    fn args(callback: bindings::crash_stop_fn) -> bindings::crash_stop_args {
        bindings::crash_stop_args {
            callback,
            cpu_callback: None,
            data: core::ptr::null_mut(),
            regs: core::ptr::null_mut(),
            ipi_wait_ms: 0,
            nmi_wait_ms: 0,
            mode: bindings::crash_stop_mode_CRASH_STOP_RESUME,
            reason: bindings::crash_stop_reason_CRASH_STOP_REASON_TEST,
            flags: 0,
        }
    }

    fn call(a: &bindings::crash_stop_args) -> i32 {
        // SAFETY: `a` is valid for the call; the callbacks below honour the
        // header's contract (no sleeping, no locks, no allocation).
        unsafe { bindings::crash_stop(a, core::ptr::null_mut()) }
    }

    /// # Safety
    ///
    /// Called by crash_stop() with the arguments its contract promises.
    unsafe extern "C" fn count(res: *const bindings::crash_stop_result, _data: *mut c_void) {
        CALLS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: valid for the callback's duration.
        let res = unsafe { &*res };
        SEEN_GEN.store(res.generation, Ordering::Relaxed);
        // SAFETY: always safe to call.
        let monarch = unsafe { api::crash_stop_monarch_cpu() };
        SEEN_MONARCH.store(monarch as u32, Ordering::Relaxed);
    }

    /// # Safety
    ///
    /// Called by crash_stop() with the arguments its contract promises.
    unsafe extern "C" fn nest(_res: *const bindings::crash_stop_result, _data: *mut c_void) {
        let a = args(Some(count));
        NESTED_RET.store(call(&a) as u32, Ordering::Relaxed);
    }

    /// # Safety
    ///
    /// Called by crash_stop() with the arguments its contract promises.
    unsafe extern "C" fn count_cpu(
        row: *const bindings::crash_stop_cpu,
        regs: *mut bindings::pt_regs,
        _data: *mut c_void,
    ) {
        // SAFETY: both are valid for the callback's duration.
        let (row, regs) = unsafe { (&*row, &*regs) };
        // The live frame is the one the row was copied from.
        if row.regs.ip == regs.ip && row.regs.sp == regs.sp {
            CPU_CALLS.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn online() -> u32 {
        crate::platform::online_mask().weight()
    }

    fn is_online(cpu: u32) -> bool {
        kernel::cpu::CpuId::from_u32(cpu).is_some_and(|id| crate::platform::online_mask().test(id))
    }

    fn this_cpu() -> u32 {
        kernel::cpu::CpuId::current().as_u32()
    }

    #[test]
    fn rejects_bad_arguments() {
        // SAFETY: NULL arguments are part of the contract.
        let ret = unsafe { bindings::crash_stop(core::ptr::null(), core::ptr::null_mut()) };
        assert_eq!(ret, EINVAL);
        assert_eq!(call(&args(None)), EINVAL);
        let mut a = args(Some(count));
        a.mode = 2;
        assert_eq!(call(&a), EINVAL);
        let mut a = args(Some(count));
        a.reason = bindings::crash_stop_reason_CRASH_STOP_REASON_MAX;
        assert_eq!(call(&a), EINVAL);
        let mut a = args(Some(count));
        a.ipi_wait_ms = bindings::CRASH_STOP_IPI_WAIT_MAX_MS + 1;
        assert_eq!(call(&a), EINVAL);
        let mut a = args(Some(count));
        a.nmi_wait_ms = bindings::CRASH_STOP_NMI_WAIT_MAX_MS + 1;
        assert_eq!(call(&a), EINVAL);
        // Hand-off needs a per-CPU callback and resume mode; no other flag.
        let mut a = args(Some(count));
        a.flags = bindings::CRASH_STOP_HANDOFF;
        assert_eq!(call(&a), EINVAL);
        a.cpu_callback = Some(count_cpu);
        a.mode = bindings::crash_stop_mode_CRASH_STOP_STAY;
        assert_eq!(call(&a), EINVAL);
        let mut a = args(Some(count));
        a.flags = 2;
        assert_eq!(call(&a), EINVAL);
        // None of these ran a crash stop.
        assert_eq!(CALLS.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn stops_every_online_cpu() {
        let before = CALLS.load(Ordering::Relaxed);
        let gen_before = api::CS.generation();
        let a = args(Some(count));
        let ret = call(&a);
        assert_eq!(ret as u32, online() - 1);
        assert_eq!(CALLS.load(Ordering::Relaxed), before + 1);
        assert_eq!(SEEN_GEN.load(Ordering::Relaxed), gen_before + 1);
        assert_eq!(SEEN_MONARCH.load(Ordering::Relaxed), this_cpu());
        // SAFETY: always safe to call.
        assert!(!unsafe { api::crash_stop_in_progress() });
        // SAFETY: always safe to call.
        assert_eq!(unsafe { api::crash_stop_monarch_cpu() }, -1);

        let me = this_cpu();
        let mut stopped = 0;
        for cpu in 0..kernel::cpu::nr_cpu_ids() {
            // SAFETY: always safe to call; no crash stop runs concurrently.
            let row = unsafe { api::crash_stop_cpu_state(cpu).as_ref() };
            let Some(row) = row else {
                panic!("no row for cpu {cpu}");
            };
            assert_eq!(row.cpu, cpu);
            if cpu == me {
                assert_eq!(row.how, How::Monarch as u32);
            } else if is_online(cpu) {
                // Idle CPUs answer the IPI.
                assert_eq!(row.how, How::Ipi as u32);
                assert!(row.regs.ip != 0);
                stopped += 1;
            } else {
                assert_eq!(row.how, How::Offline as u32);
            }
        }
        assert_eq!(stopped, ret);
    }

    #[test]
    fn nested_call_fails_with_edeadlk() {
        let a = args(Some(nest));
        let ret = call(&a);
        assert!(ret >= 0);
        assert_eq!(NESTED_RET.load(Ordering::Relaxed) as i32, EDEADLK);
        // The machine is usable afterwards.
        assert_eq!(call(&args(Some(count))) as u32, online() - 1);
    }

    #[test]
    fn cpu_callback_runs_on_each_stopped_cpu() {
        CPU_CALLS.store(0, Ordering::Relaxed);
        let mut a = args(Some(count));
        a.cpu_callback = Some(count_cpu);
        let ret = call(&a);
        assert_eq!(CPU_CALLS.load(Ordering::Relaxed), ret as u32);
    }

    #[test]
    fn abi_struct_sizes_match_c() {
        // SAFETY: a constant array defined in glue.c.
        let c = unsafe { bindings::crash_stop_abi_sizes };
        assert_eq!(
            c[0] as usize,
            core::mem::size_of::<bindings::crash_stop_cpu>()
        );
        assert_eq!(
            c[1] as usize,
            core::mem::size_of::<bindings::crash_stop_args>()
        );
        assert_eq!(
            c[2] as usize,
            core::mem::size_of::<bindings::crash_stop_result>()
        );
        assert_eq!(c[3] as usize, core::mem::size_of::<bindings::pt_regs>());
    }

    #[test]
    fn records_the_current_task() {
        let a = args(Some(count));
        assert!(call(&a) >= 0);
        // SAFETY: no crash stop runs concurrently.
        let row = unsafe { &*api::crash_stop_cpu_state(this_cpu()) };
        // SAFETY: all-zero is a valid row.
        let mut me: bindings::crash_stop_cpu = unsafe { core::mem::zeroed() };
        // SAFETY: `me` is a valid row to fill.
        unsafe { bindings::crash_stop_task_info(&mut me) };
        assert_eq!(row.how, How::Monarch as u32);
        assert!(row.pid > 0);
        assert_eq!(row.pid, me.pid);
        assert_eq!(row.comm, me.comm);
        // The test runs with interrupts on; crash_stop() saw them on.
        assert!(!row.irqs_off);
    }

    #[test]
    fn how_names_match_the_abi() {
        let name = |h: How| {
            // SAFETY: always safe to call; returns a static C string.
            unsafe {
                <kernel::str::CStr as kernel::str::CStrExt>::from_char_ptr(
                    api::crash_stop_how_name(h as u32),
                )
            }
        };
        assert_eq!(name(How::Monarch).to_bytes(), b"monarch");
        assert_eq!(name(How::Nmi).to_bytes(), b"nmi");
        assert_eq!(name(How::Missing).to_bytes(), b"missing");
        assert_eq!(name(How::None).to_bytes(), b"none");
    }

    /// A fake machine: CPU 0 runs everything, CPUs 1..4 are offline except
    /// the ones listed in `online`, which never answer.
    struct Fake {
        online: u32,
    }

    impl Platform for Fake {
        type Record = u32;
        type Ctx = u32;
        type Payload = usize;
        const EMPTY_RECORD: u32 = 0;
        const EMPTY_PAYLOAD: usize = 0;
        const RELAX_MIN_NS: u64 = 1;

        fn this_cpu(&self) -> u32 {
            0
        }
        fn nr_cpus(&self) -> u32 {
            4
        }
        fn cpu_online(&self, cpu: u32) -> bool {
            cpu == 0 || self.online & (1 << cpu) != 0
        }
        fn now_ns(&self) -> u64 {
            // SAFETY: arch clock, callable in any context.
            unsafe { bindings::crash_stop_arch_now_ns() }
        }
        fn send_ipi(&self, _cpu: u32) {}
        fn send_nmi(&self, _cpu: u32) {}
        fn relax(&self) {}
        fn may_halt(&self, _how: How) -> bool {
            false
        }
        fn halt_while(&self, _word: &AtomicU64, _val: u64) {}
        fn capture(&self, rec: &mut u32, _cpu: u32, _how: How, _t: u64, ctx: u32) {
            *rec = ctx;
        }
        fn stopped(&self, _cpu: u32, _rec: &u32, _ctx: u32, _payload: &usize) {}
        fn park(&self) {}
        fn released(&self, _stay: bool) {}
        fn resumed(&self) {}
    }

    static FAKE: CrashStop<Fake, 4> = CrashStop::new();

    #[test]
    fn protocol_reports_offline_and_missing() {
        let params = Params {
            ipi_wait_ns: 1_000_000,
            nmi_wait_ns: 1_000_000,
            stay: false,
            handoff: false,
            payload: 0,
        };
        let fake = Fake { online: 1 << 2 };
        let r = FAKE.run(&fake, &params, 0xc0ffee, |held| {
            assert_eq!(held.how(0), How::Monarch);
            assert_eq!(held.with_record(0, |r| *r), Some(0xc0ffee));
            assert_eq!(held.how(2), How::Missing);
            assert_eq!(held.with_record(2, |r| *r), None);
            assert_eq!(
                FAKE.run(&fake, &params, 0, |_| ()).err(),
                Some(Error::Nested)
            );
        });
        let Ok((out, ())) = r else {
            panic!("run failed");
        };
        assert_eq!(out.missing, 1);
        assert_eq!(out.offline, 2);
        assert_eq!(out.escalated, 1);
        assert_eq!(out.stopped, 0);
        assert_eq!(FAKE.monarch(), None);
        let gen = out.generation;
        let Ok((out, ())) = FAKE.run(&Fake { online: 0 }, &params, 1, |_| ()) else {
            panic!("second run failed");
        };
        assert_eq!(out.generation, gen + 1);
        assert_eq!(out.offline, 3);
        assert_eq!(out.missing, 0);
    }
}
