// SPDX-License-Identifier: GPL-2.0
/*
 * x86 glue for crash_stop: the dedicated IPI vector, the NMI handler, and
 * the architecture interface of include/linux/crash_stop_internal.h (the
 * crash_stop() entry stub is in crash_stop_entry_64.S). The protocol itself
 * is architecture independent and lives in rust/crash_stop/.
 *
 * Everything a stopping CPU runs here may run in NMI context on a CPU that
 * interrupted anything, so it is kept away from kprobes (NOKPROBE_SYMBOL),
 * like the kernel's own NMI handlers.
 */

#include <linux/crash_stop_internal.h>
#include <linux/cpumask.h>
#include <linux/delay.h>
#include <linux/hardirq.h>
#include <linux/init.h>
#include <linux/irqflags.h>
#include <linux/kallsyms.h>
#include <linux/kprobes.h>
#include <linux/nmi.h>
#include <linux/percpu.h>
#include <linux/sched/clock.h>
#include <asm/apic.h>
#include <asm/ibt.h>
#include <asm/idtentry.h>
#include <asm/linkage.h>
#include <asm/irq_regs.h>
#include <asm/nmi.h>
#include <asm/processor.h>
#include <asm/smp.h>
#include <asm/special_insns.h>

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

static __always_inline bool crash_stop_test_wedged(void)
{
	unsigned int ms = this_cpu_xchg(crash_stop_wedge_ms, 0);
	u64 end;

	if (!ms)
		return false;
	this_cpu_write(crash_stop_wedged, true);
	/* sched_clock(), not mdelay(): that is far off under emulation. */
	end = sched_clock() + (u64)ms * NSEC_PER_MSEC;
	while (sched_clock() < end) {
		cpu_relax();
		touch_nmi_watchdog();
	}
	this_cpu_write(crash_stop_wedged, false);
	return true;
}

/*
 * Test hook: bool crash_stop_arch_test_regloop(unsigned long spins) spins
 * while %rax is zero, at most @spins times, and returns whether %rax became
 * nonzero. Nothing but a write to the saved frame of a CPU stopped inside it
 * (crash_stop_arch_test_poke() from a cpu_callback) can do that: it shows
 * that a stopped CPU resumes from the frame its callback was given. %rax is
 * a scratch register: a write anywhere in the function is harmless to its
 * caller.
 */
asm(".pushsection .text, \"ax\"\n"
	".globl crash_stop_arch_test_regloop\n"
	".type crash_stop_arch_test_regloop, @function\n"
	"crash_stop_arch_test_regloop:\n\t"
	ASM_ENDBR
	"xor %eax, %eax\n"
	"1:\tpause\n\t"
	"test %rax, %rax\n\t"
	"jnz 2f\n\t"
	"dec %rdi\n\t"
	"jnz 1b\n"
	"2:\ttest %rax, %rax\n\t"
	"setnz %al\n\t"
	"movzbl %al, %eax\n\t"
	ASM_RET
	".size crash_stop_arch_test_regloop, .-crash_stop_arch_test_regloop\n"
	".popsection\n");

bool crash_stop_arch_test_poke(struct pt_regs *regs)
{
	unsigned long size, off;

	if (!kallsyms_lookup_size_offset(regs->ip, &size, &off) ||
	    regs->ip - off != (unsigned long)crash_stop_arch_test_regloop)
		return false;
	regs->ax = 1;
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
	inc_irq_stat(CRASH_STOP);
	crash_stop_handle_ipi(regs);
}

static int crash_stop_nmi(unsigned int type, struct pt_regs *regs)
{
	if (crash_stop_test_wedged())
		return NMI_HANDLED;
	return crash_stop_handle_nmi(regs) ? NMI_HANDLED : NMI_DONE;
}
NOKPROBE_SYMBOL(crash_stop_nmi);

void crash_stop_arch_send_ipi(unsigned int cpu)
{
	__apic_send_IPI(cpu, CRASH_STOP_VECTOR);
}

void crash_stop_arch_send_nmi(unsigned int cpu)
{
	__apic_send_IPI(cpu, NMI_VECTOR);
}
NOKPROBE_SYMBOL(crash_stop_arch_send_nmi);

/*
 * The IPI (or NMI) to every other online CPU, as one shorthand write where
 * the APIC driver uses them (as smp_call_function() does); not while a
 * present CPU is offline, which a shorthand would reach as well.
 */
bool crash_stop_arch_send_others(bool nmi)
{
	if (num_online_cpus() != num_present_cpus())
		return false;
	apic_send_IPI_allbutself(nmi ? NMI_VECTOR : CRASH_STOP_VECTOR);
	return true;
}
NOKPROBE_SYMBOL(crash_stop_arch_send_others);

/*
 * sched_clock() reads the TSC directly: unlike local_clock() it keeps
 * advancing when no CPU takes timer interrupts, which is the normal state
 * of a crash stop.
 */
u64 crash_stop_arch_now_ns(void)
{
	return sched_clock();
}
NOKPROBE_SYMBOL(crash_stop_arch_now_ns);

/*
 * One step of every wait loop. The udelay() makes it take at least
 * CRASH_STOP_RELAX_MIN_NS even where sched_clock() stands still (no TSC:
 * jiffies do not advance while every CPU has interrupts off); udelay() is
 * calibrated at boot and needs no interrupts.
 */
void crash_stop_arch_relax(void)
{
	cpu_relax();
	udelay(CRASH_STOP_RELAX_MIN_NS / NSEC_PER_USEC);
	touch_nmi_watchdog();
}
NOKPROBE_SYMBOL(crash_stop_arch_relax);

/*
 * Park a CPU for good (%CRASH_STOP_STAY), doing what stop_this_cpu() does
 * before it halts that matters for a kexec: write back the caches when
 * they may be incoherent with memory (memory encryption), and let the
 * platform stop the CPU its own way. Unlike stop_this_cpu() it leaves the
 * online mask and the local APIC alone: dump tools do that in their
 * cpu_callback if they need to (kdump disables the local APIC).
 */
void __noreturn crash_stop_arch_park(void)
{
	local_irq_disable();
	if (this_cpu_read(cache_state_incoherent))
		wbinvd();
#ifdef CONFIG_SMP
	if (smp_ops.stop_this_cpu) {
		smp_ops.stop_this_cpu();
		BUG();
	}
#endif
	/* native_halt(): no stack or memory writes after the write-back. */
	for (;;)
		native_halt();
}
NOKPROBE_SYMBOL(crash_stop_arch_park);

/* The wake-up is an NMI: a CPU held in NMI context must spin. */
bool crash_stop_arch_may_halt(void)
{
	return !in_nmi();
}
NOKPROBE_SYMBOL(crash_stop_arch_may_halt);

bool crash_stop_arch_regs_irqs_off(const struct pt_regs *regs)
{
	return !(regs->flags & X86_EFLAGS_IF);
}
NOKPROBE_SYMBOL(crash_stop_arch_regs_irqs_off);

bool crash_stop_arch_regs_user(const struct pt_regs *regs)
{
	/* user_mode() on x86-64, which takes a non-const frame */
	return !!(regs->cs & 3);
}
NOKPROBE_SYMBOL(crash_stop_arch_regs_user);

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
