// SPDX-License-Identifier: GPL-2.0
/*
 * crash_stop: the parts of the core that only C can do: boot/runtime
 * parameters, symbol exports for modules, the die notifier and the
 * watchdog resets after a release. The protocol and the API are in Rust
 * (crash_stop.rs and its modules).
 */

#include <linux/clocksource.h>
#include <linux/crash_stop_internal.h>
#include <linux/init.h>
#include <linux/kdebug.h>
#include <linux/kprobes.h>
#include <linux/moduleparam.h>
#include <linux/nmi.h>
#include <linux/notifier.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/string.h>

#undef MODULE_PARAM_PREFIX
#define MODULE_PARAM_PREFIX "crash_stop."

unsigned int crash_stop_ipi_wait_ms = 100;
unsigned int crash_stop_nmi_wait_ms = 1000;

static int wait_ms_set(const char *val, const struct kernel_param *kp,
		       unsigned int max)
{
	unsigned int ms;

	/* Malformed and overflowing values are both invalid (not -ERANGE). */
	if (kstrtouint(val, 0, &ms))
		return -EINVAL;
	if (ms < 1 || ms > max)
		return -EINVAL;
	WRITE_ONCE(*(unsigned int *)kp->arg, ms);
	return 0;
}

static int ipi_wait_set(const char *val, const struct kernel_param *kp)
{
	return wait_ms_set(val, kp, CRASH_STOP_IPI_WAIT_MAX_MS);
}

static int nmi_wait_set(const char *val, const struct kernel_param *kp)
{
	return wait_ms_set(val, kp, CRASH_STOP_NMI_WAIT_MAX_MS);
}

static const struct kernel_param_ops ipi_wait_ops = {
	.set = ipi_wait_set,
	.get = param_get_uint,
};

static const struct kernel_param_ops nmi_wait_ops = {
	.set = nmi_wait_set,
	.get = param_get_uint,
};

module_param_cb(ipi_wait_ms, &ipi_wait_ops, &crash_stop_ipi_wait_ms, 0644);
MODULE_PARM_DESC(ipi_wait_ms, "Wait for the crash_stop IPI before sending NMIs (ms, 1-10000)");
module_param_cb(nmi_wait_ms, &nmi_wait_ops, &crash_stop_nmi_wait_ms, 0644);
MODULE_PARM_DESC(nmi_wait_ms, "Wait for NMI answers before reporting CPUs missing (ms, 1-60000)");

/*
 * Held CPUs that were stopped by the IPI wait halted until an NMI wakes
 * them for the release (1, the default), or spin (0; the way kgdb and
 * stop_machine hold).
 */
static bool crash_stop_halt = true;
module_param_named(halt, crash_stop_halt, bool, 0644);
MODULE_PARM_DESC(halt, "Held CPUs stopped by the IPI wait halted (1, default) or spin (0)");

bool crash_stop_halt_enabled(void)
{
	return READ_ONCE(crash_stop_halt);
}
NOKPROBE_SYMBOL(crash_stop_halt_enabled);

#ifdef CONFIG_CRASH_STOP_KDUMP
static bool crash_stop_kdump = true;
module_param_named(kdump, crash_stop_kdump, bool, 0644);
MODULE_PARM_DESC(kdump, "kdump stops the other CPUs with crash_stop (1) or with its NMI shootdown (0)");

bool crash_stop_for_kdump(void)
{
	return READ_ONCE(crash_stop_kdump);
}
#endif

#ifdef CONFIG_CRASH_STOP_KGDB
static bool crash_stop_kgdb = true;
module_param_named(kgdb, crash_stop_kgdb, bool, 0644);
MODULE_PARM_DESC(kgdb, "kgdb rounds up the other CPUs with crash_stop (1) or with the arch's NMI roundup (0)");

bool crash_stop_for_kgdb(void)
{
	return READ_ONCE(crash_stop_kgdb);
}
#endif

/*
 * The C API is implemented in Rust (rust/crash_stop/api.rs, declared in
 * <linux/crash_stop.h>) behind the arch's crash_stop() entry stub; export
 * it to GPL modules here. checkpatch's "should immediately follow its
 * function" cannot hold for a function defined in another language:
 * `make check` ignores it for this file.
 */
EXPORT_SYMBOL_GPL(crash_stop);
EXPORT_SYMBOL_GPL(crash_stop_in_progress);
EXPORT_SYMBOL_GPL(crash_stop_monarch_cpu);
EXPORT_SYMBOL_GPL(crash_stop_cpu_state);
EXPORT_SYMBOL_GPL(crash_stop_how_name);

/*
 * The stopping path runs in NMI context on a CPU that may have interrupted
 * anything: keep kprobes off it, as for the kernel's own NMI handlers. The
 * protocol code it runs is inlined into the Rust entry points; what they
 * call is blacklisted where it is defined (or in .noinstr.text), which
 * tools/testing/crash_stop/nokprobe-check.py checks on the built kernel.
 */
NOKPROBE_SYMBOL(crash_stop_handle_nmi);
NOKPROBE_SYMBOL(crash_stop_handle_ipi);
NOKPROBE_SYMBOL(crash_stop_poll);
/* The C helper behind CpuId::current(), which they call. */
NOKPROBE_SYMBOL(rust_helper_raw_smp_processor_id);

/*
 * The running task's pid and name, read in C: bindgen's layout of struct
 * task_struct can differ from the C compiler's (it does for GCC builds of
 * Linux 7.2), so Rust must not read task_struct fields directly here.
 */
void crash_stop_task_info(struct crash_stop_cpu *row)
{
	row->pid = current->pid;
	memcpy(row->comm, current->comm, sizeof(row->comm));
}
NOKPROBE_SYMBOL(crash_stop_task_info);

/* Sizes of the ABI structs as C sees them; the Rust side checks its own. */
const unsigned int crash_stop_abi_sizes[4] = {
	sizeof(struct crash_stop_cpu),
	sizeof(struct crash_stop_args),
	sizeof(struct crash_stop_result),
	sizeof(struct pt_regs),
};

/*
 * After a long stop every CPU's soft-lockup timestamp, the RCU stall timer
 * and the clocksource watchdog are stale: reset them so that the time spent
 * stopped is not reported as a lockup, a stall or an unstable clock.
 */
void crash_stop_touch_watchdogs(void)
{
	touch_softlockup_watchdog_sync();
	touch_all_softlockup_watchdogs();
	touch_nmi_watchdog();
	clocksource_touch_watchdog();
	rcu_cpu_stall_reset();
}

/*
 * On each resumed CPU: its hard-lockup detector state, scheduler clock and
 * soft-lockup timestamp are stale after a long stop with interrupts off;
 * have the next tick resynchronise them instead of reporting the gap as a
 * lockup.
 */
void crash_stop_cpu_resumed(void)
{
	touch_nmi_watchdog();
	touch_softlockup_watchdog_sync();
}
NOKPROBE_SYMBOL(crash_stop_cpu_resumed);

/*
 * On the CPU that oopses: a monarch that crashed in its callback releases
 * the others; a CPU that crashed while held tells the monarch not to wait
 * for it to leave.
 */
static int crash_stop_die(struct notifier_block *nb, unsigned long val,
			  void *data)
{
	if (val == DIE_OOPS && crash_stop_handle_die())
		crash_stop_touch_watchdogs();
	return NOTIFY_DONE;
}

static struct notifier_block crash_stop_die_nb = {
	.notifier_call = crash_stop_die,
	/* Release the stopped CPUs before other die handlers run. */
	.priority = INT_MAX,
};

static int __init crash_stop_init(void)
{
	return register_die_notifier(&crash_stop_die_nb);
}
early_initcall(crash_stop_init);
