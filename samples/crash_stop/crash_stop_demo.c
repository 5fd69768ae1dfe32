// SPDX-License-Identifier: GPL-2.0
/*
 * crash_stop_demo: run one resume-mode crash stop through the C API and
 * print the per-CPU table it produced: how each CPU was stopped, the task
 * it was running, where it was (RIP as a symbol), whether interrupts were
 * off, and how long it took to stop.
 *
 * With spin_cpu=N, CPU N spins with interrupts disabled during the stop,
 * so it cannot take the IPI and is caught by the NMI escalation instead.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/completion.h>
#include <linux/crash_stop.h>
#include <linux/sched/clock.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/nmi.h>

static unsigned int ipi_wait_ms;
module_param(ipi_wait_ms, uint, 0444);
MODULE_PARM_DESC(ipi_wait_ms, "IPI wait before NMI escalation (0: default)");

static int spin_cpu = -1;
module_param(spin_cpu, int, 0444);
MODULE_PARM_DESC(spin_cpu, "CPU that spins with interrupts off during the stop (-1: none)");

static bool spin_done;
static DECLARE_COMPLETION(spin_started);
static DECLARE_COMPLETION(spin_exited);

/*
 * Spin with interrupts off until told to stop (at most 10 s), spending
 * nearly all the time in this function so that the NMI catches it here.
 */
static noinline int crash_stop_demo_spin(void *unused)
{
	u64 end = sched_clock() + 10 * NSEC_PER_SEC;
	unsigned long flags, i;

	local_irq_save(flags);
	complete(&spin_started);
	while (!READ_ONCE(spin_done) && sched_clock() < end) {
		for (i = 0; i < 20000 && !READ_ONCE(spin_done); i++)
			cpu_relax();
		touch_nmi_watchdog();
	}
	local_irq_restore(flags);
	kthread_complete_and_exit(&spin_exited, 0);
}

static int start_spinner(void)
{
	struct task_struct *t;

	if (spin_cpu < 0)
		return 0;
	if (spin_cpu >= nr_cpu_ids || !cpu_online(spin_cpu) ||
	    spin_cpu == raw_smp_processor_id()) {
		pr_err("spin_cpu=%d must be another online CPU\n", spin_cpu);
		return -EINVAL;
	}
	t = kthread_create_on_cpu(crash_stop_demo_spin, NULL, spin_cpu,
				  "cs_demo_spin/%u");
	if (IS_ERR(t))
		return PTR_ERR(t);
	wake_up_process(t);
	wait_for_completion(&spin_started);
	return 0;
}

static void stop_spinner(void)
{
	if (spin_cpu < 0)
		return;
	WRITE_ONCE(spin_done, true);
	wait_for_completion(&spin_exited);
}

static void demo_callback(const struct crash_stop_result *res, void *data)
{
	/*
	 * Every other CPU is held here. A debugger would now read memory and
	 * registers; printing is left until after the release, when the
	 * console may be driven again.
	 */
	unsigned int *held = data;

	*held = res->nr_stopped;
}

static int __init crash_stop_demo_init(void)
{
	struct crash_stop_result res;
	unsigned int held = 0, cpu;
	struct crash_stop_args args = {
		.callback = demo_callback,
		.data = &held,
		.ipi_wait_ms = ipi_wait_ms,
		.mode = CRASH_STOP_RESUME,
		.reason = CRASH_STOP_REASON_TEST,
	};
	int ret;

	ret = start_spinner();
	if (ret)
		return ret;
	ret = crash_stop(&args, &res);
	stop_spinner();
	if (ret < 0) {
		pr_err("crash_stop() failed: %d\n", ret);
		return ret;
	}
	pr_info("generation %llu: monarch CPU%u, %u CPUs held (%u by NMI, %u missing, %u offline), all stopped in %llu us\n",
		res.generation, res.monarch, held, res.nr_nmi,
		res.nr_missing, res.nr_offline, div_u64(res.gather_ns, 1000));
	pr_info("%-4s %-8s %7s %-16s %-5s %9s  %s\n",
		"cpu", "how", "pid", "comm", "irqs", "stop_us", "rip");
	for_each_possible_cpu(cpu) {
		const struct crash_stop_cpu *row = crash_stop_cpu_state(cpu);

		if (!row)
			continue;
		if (!crash_stop_cpu_stopped(row)) {
			pr_info("%-4u %-8s\n", cpu, crash_stop_how_name(row->how));
			continue;
		}
		pr_info("%-4u %-8s %7d %-16.*s %-5s %9llu  %pS\n",
			cpu, crash_stop_how_name(row->how), row->pid,
			(int)sizeof(row->comm), row->comm,
			row->irqs_off ? "off" : "on",
			div_u64(row->stop_ns, 1000), (void *)row->regs.ip);
	}
	pr_info("CPUs resumed; the system keeps running\n");
	return 0;
}

static void __exit crash_stop_demo_exit(void)
{
}

module_init(crash_stop_demo_init);
module_exit(crash_stop_demo_exit);
MODULE_DESCRIPTION("crash_stop C API demo: stop all CPUs and print their state");
MODULE_LICENSE("GPL");
