/* SPDX-License-Identifier: GPL-2.0 */
/*
 * crash_stop internals: the interface between the architecture independent
 * core (rust/crash_stop/) and the architecture glue (arch/x86/kernel/
 * crash_stop.c, crash_stop_entry_64.S). Users of crash_stop include
 * <linux/crash_stop.h> only; nothing here is exported to modules.
 */
#ifndef _LINUX_CRASH_STOP_INTERNAL_H
#define _LINUX_CRASH_STOP_INTERNAL_H

#include <linux/crash_stop.h>

/*
 * Lower bound, in nanoseconds, of one crash_stop_arch_relax() call. The
 * core bounds every timed wait by a number of relax calls as well as by
 * crash_stop_arch_now_ns(), so that a wait ends even when that clock stands
 * still with interrupts off everywhere.
 */
#define CRASH_STOP_RELAX_MIN_NS	1000

/* Implemented by the architecture, called by the core. */
void crash_stop_arch_send_ipi(unsigned int cpu);
void crash_stop_arch_send_nmi(unsigned int cpu);
/* To every other online CPU at once; false (nothing sent) if not possible. */
bool crash_stop_arch_send_others(bool nmi);
u64 crash_stop_arch_now_ns(void);
void crash_stop_arch_relax(void);
void __noreturn crash_stop_arch_park(void);
/*
 * A held CPU may wait halted (not in NMI context: it is woken by an NMI);
 * crash_stop_arch_halt_while() halts while *@word == @val. An NMI that
 * lands between its comparison and its halt may be lost: the core sends
 * another one while the CPU is still halted.
 */
bool crash_stop_arch_may_halt(void);
void crash_stop_arch_halt_while(const u64 *word, u64 val);
bool crash_stop_arch_regs_irqs_off(const struct pt_regs *regs);
bool crash_stop_arch_regs_user(const struct pt_regs *regs);
unsigned long crash_stop_arch_irq_save(void);
void crash_stop_arch_irq_restore(unsigned long flags);

#ifdef CONFIG_CRASH_STOP_TEST
void crash_stop_arch_test_wedge(unsigned int cpu, unsigned int ms);
bool crash_stop_arch_test_is_wedged(unsigned int cpu);
bool crash_stop_arch_test_regloop(unsigned long spins);
bool crash_stop_arch_test_poke(struct pt_regs *regs);
#endif

/*
 * Implemented by the core, called by the architecture: crash_stop() itself
 * is the architecture's entry stub, which describes its caller in @caller
 * and calls __crash_stop(); the IPI and NMI handlers and the die notifier
 * call the handle functions.
 */
int __crash_stop(const struct crash_stop_args *args,
		 struct crash_stop_result *res, struct pt_regs *caller);
void crash_stop_handle_ipi(struct pt_regs *regs);
bool crash_stop_handle_nmi(struct pt_regs *regs);
bool crash_stop_handle_die(void);

/* Core glue in C (rust/crash_stop/glue.c). */
extern unsigned int crash_stop_ipi_wait_ms;
extern unsigned int crash_stop_nmi_wait_ms;
void crash_stop_touch_watchdogs(void);
void crash_stop_cpu_resumed(void);
void crash_stop_task_info(struct crash_stop_cpu *row);
bool crash_stop_halt_enabled(void);
extern const unsigned int crash_stop_abi_sizes[4];

/*
 * The Rust kernel crate's helper behind CpuId::current() (rust/helpers/
 * cpu.c), which the stopping path calls: glue.c keeps kprobes off it.
 */
unsigned int rust_helper_raw_smp_processor_id(void);

#endif /* _LINUX_CRASH_STOP_INTERNAL_H */
