// SPDX-License-Identifier: GPL-2.0
/*
 * x86 glue for crash_stop: the dedicated IPI vector, the NMI handler, and
 * the architecture interface of include/linux/crash_stop.h. The protocol
 * itself is architecture independent and lives in rust/crash_stop/.
 */

#include <linux/crash_stop.h>
#include <linux/delay.h>
#include <linux/init.h>
#include <linux/irqflags.h>
#include <linux/nmi.h>
#include <linux/percpu.h>
#include <linux/sched/clock.h>
#include <asm/apic.h>
#include <asm/idtentry.h>
#include <asm/irq_regs.h>
#include <asm/nmi.h>
#include <asm/processor.h>

#ifdef CONFIG_CRASH_STOP_TEST
/*
 * Test hook (CONFIG_CRASH_STOP_TEST): keep a CPU inside an NMI handler for
 * a while, so that it can take neither the crash_stop IPI nor its NMI and
 * must be reported missing.
 */
static DEFINE_PER_CPU(unsigned int, crash_stop_wedge_ms);
static DEFINE_PER_CPU(bool, crash_stop_wedged);

void crash_stop_arch_test_wedge(unsigned int cpu, unsigned int ms)
{
	WRITE_ONCE(per_cpu(crash_stop_wedge_ms, cpu), ms);
	__apic_send_IPI(cpu, NMI_VECTOR);
}

bool crash_stop_arch_test_is_wedged(unsigned int cpu)
{
	return READ_ONCE(per_cpu(crash_stop_wedged, cpu));
}

static bool crash_stop_test_wedged(void)
{
	unsigned int ms = this_cpu_xchg(crash_stop_wedge_ms, 0);

	if (!ms)
		return false;
	this_cpu_write(crash_stop_wedged, true);
	while (ms--) {
		mdelay(1);
		touch_nmi_watchdog();
	}
	this_cpu_write(crash_stop_wedged, false);
	return true;
}
#else
static inline bool crash_stop_test_wedged(void)
{
	return false;
}
#endif

DEFINE_IDTENTRY_SYSVEC(sysvec_crash_stop)
{
	apic_eoi();
	crash_stop_handle_ipi(regs);
}

static int crash_stop_nmi(unsigned int type, struct pt_regs *regs)
{
	if (crash_stop_test_wedged())
		return NMI_HANDLED;
	return crash_stop_handle_nmi(regs) ? NMI_HANDLED : NMI_DONE;
}

void crash_stop_arch_send_ipi(unsigned int cpu)
{
	__apic_send_IPI(cpu, CRASH_STOP_VECTOR);
}

void crash_stop_arch_send_nmi(unsigned int cpu)
{
	__apic_send_IPI(cpu, NMI_VECTOR);
}

/*
 * sched_clock() reads the TSC directly: unlike local_clock() it keeps
 * advancing when no CPU takes timer interrupts, which is the normal state
 * of a crash stop.
 */
u64 crash_stop_arch_now_ns(void)
{
	return sched_clock();
}

void crash_stop_arch_relax(void)
{
	cpu_relax();
	touch_nmi_watchdog();
}

void __noreturn crash_stop_arch_park(void)
{
	local_irq_disable();
	for (;;)
		native_halt();
}

/* The caller's own frame, for a monarch not coming from an exception. */
noinline void crash_stop_arch_current_regs(struct pt_regs *regs)
{
	memset(regs, 0, sizeof(*regs));
	regs->ip = _RET_IP_;
	regs->sp = current_stack_pointer;
	regs->bp = (unsigned long)__builtin_frame_address(1);
	regs->flags = native_save_fl();
	regs->cs = __KERNEL_CS;
	regs->ss = __KERNEL_DS;
}

bool crash_stop_arch_regs_irqs_off(const struct pt_regs *regs)
{
	return !(regs->flags & X86_EFLAGS_IF);
}

bool crash_stop_arch_regs_user(const struct pt_regs *regs)
{
	/* user_mode() on x86-64, which takes a non-const frame */
	return !!(regs->cs & 3);
}

unsigned long crash_stop_arch_irq_save(void)
{
	unsigned long flags;

	local_irq_save(flags);
	return flags;
}

void crash_stop_arch_irq_restore(unsigned long flags)
{
	local_irq_restore(flags);
}

static int __init crash_stop_arch_init(void)
{
	return register_nmi_handler(NMI_LOCAL, crash_stop_nmi, NMI_FLAG_FIRST,
				    "crash_stop");
}
early_initcall(crash_stop_arch_init);
