// SPDX-License-Identifier: GPL-2.0
/*
 * crash_stop_demo: run one resume-mode crash stop through the C API and
 * print the per-CPU table it produced: how each CPU was stopped, the task
 * it was running, where it was (RIP as a symbol), whether interrupts were
 * off, and how long it took to stop.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/crash_stop.h>
#include <linux/module.h>

static unsigned int ipi_wait_ms;
module_param(ipi_wait_ms, uint, 0444);
MODULE_PARM_DESC(ipi_wait_ms, "IPI wait before NMI escalation (0: default)");

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

	ret = crash_stop(&args, &res);
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
		if (row->how == CRASH_STOP_OFFLINE || row->how == CRASH_STOP_MISSING ||
		    row->how == CRASH_STOP_NONE || row->how == CRASH_STOP_PARKED) {
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
