/* SPDX-License-Identifier: GPL-2.0 */
/*
 * crash_stop: bring every CPU to a stop for debuggers and dump tools.
 *
 * The calling CPU becomes the monarch; every other online CPU is asked to
 * stop with a maskable IPI first and with an NMI after a delay. Each
 * stopped CPU records its registers, task and how it was stopped in a
 * per-CPU table, the caller's callback runs with the others held, and then
 * they resume or stay stopped for good.
 *
 * See Documentation/core-api/crash_stop.rst.
 */
#ifndef _LINUX_CRASH_STOP_H
#define _LINUX_CRASH_STOP_H

#include <linux/cpumask.h>
#include <linux/errno.h>
#include <linux/sched.h>
#include <linux/types.h>
#include <asm/ptrace.h>

/**
 * enum crash_stop_how - how a CPU ended up in the crash_stop table
 * @CRASH_STOP_NONE: not part of the last crash stop
 * @CRASH_STOP_MONARCH: the CPU that called crash_stop() and won
 * @CRASH_STOP_IPI: stopped by the maskable IPI, at an interrupt-enabled point
 * @CRASH_STOP_NMI: stopped by NMI escalation; its state may have been taken
 *	anywhere, including inside a lock or with a half-updated stack frame
 * @CRASH_STOP_CALLER: a concurrent crash_stop() caller that lost the election
 *	and stopped itself; its call returns -EBUSY
 * @CRASH_STOP_MISSING: did not answer the IPI nor the NMI in time
 * @CRASH_STOP_OFFLINE: offline when the crash stop began; not waited for
 * @CRASH_STOP_PARKED: parked for good by an earlier %CRASH_STOP_STAY stop
 */
enum crash_stop_how {
	CRASH_STOP_NONE		= 0,
	CRASH_STOP_MONARCH	= 1,
	CRASH_STOP_IPI		= 2,
	CRASH_STOP_NMI		= 3,
	CRASH_STOP_CALLER	= 4,
	CRASH_STOP_MISSING	= 5,
	CRASH_STOP_OFFLINE	= 6,
	CRASH_STOP_PARKED	= 7,
};

/**
 * enum crash_stop_mode - what happens to the other CPUs after the callback
 * @CRASH_STOP_RESUME: they resume where they were stopped (debuggers)
 * @CRASH_STOP_STAY: they halt with interrupts off for good (dump tools);
 *	the table stays readable after crash_stop() returns
 */
enum crash_stop_mode {
	CRASH_STOP_RESUME	= 0,
	CRASH_STOP_STAY		= 1,
};

/**
 * enum crash_stop_reason - why the machine is being stopped (for the log)
 * @CRASH_STOP_REASON_DEBUGGER: a kernel debugger (kgdb/kdb) takes over
 * @CRASH_STOP_REASON_DUMP: a crash dump (kdump) is about to be taken
 * @CRASH_STOP_REASON_PANIC: the kernel panics
 * @CRASH_STOP_REASON_BACKTRACE: all-CPU backtrace or state snapshot
 * @CRASH_STOP_REASON_TEST: self-tests and the sample module
 * @CRASH_STOP_REASON_MAX: number of reasons (not a valid reason)
 */
enum crash_stop_reason {
	CRASH_STOP_REASON_DEBUGGER	= 0,
	CRASH_STOP_REASON_DUMP		= 1,
	CRASH_STOP_REASON_PANIC		= 2,
	CRASH_STOP_REASON_BACKTRACE	= 3,
	CRASH_STOP_REASON_TEST		= 4,
	CRASH_STOP_REASON_MAX,
};

/**
 * struct crash_stop_cpu - one CPU's row of the crash_stop table
 * @cpu: the CPU number
 * @how: how it was stopped, see &enum crash_stop_how
 * @irqs_off: interrupts were disabled in the stopped context
 * @in_user: @regs are a user-mode frame (a CPU stopped in user space)
 * @pid: pid of the task running on the CPU when it stopped
 * @comm: command name of that task
 * @late: the CPU was given up on (@how is %CRASH_STOP_MISSING) but answered
 *	before the release, and was held until then all the same: it ran
 *	nothing else meanwhile. Its registers were not recorded.
 * @stop_ns: nanoseconds from the start of the crash stop until it stopped
 * @regs: registers of the stopped context: the interrupted frame for IPI
 *	and NMI stops; for the monarch, the exception frame passed in
 *	&crash_stop_args.regs, or else its caller's frame at the call of
 *	crash_stop() (ip is the return address into the caller, sp and bp
 *	its stack and frame pointers, the callee-saved registers its own),
 *	so that an unwinder starting there walks the caller's stack
 *
 * Only @cpu, @how and @late are meaningful unless @how is
 * %CRASH_STOP_MONARCH, %CRASH_STOP_IPI, %CRASH_STOP_NMI or
 * %CRASH_STOP_CALLER.
 */
struct crash_stop_cpu {
	unsigned int		cpu;
	enum crash_stop_how	how;
	bool			irqs_off;
	bool			in_user;
	bool			late;
	pid_t			pid;
	char			comm[TASK_COMM_LEN];
	u64			stop_ns;
	struct pt_regs		regs;
};

/**
 * crash_stop_cpu_stopped() - whether a table row describes a stopped CPU
 * @row: the row
 *
 * Return: true if @row's registers and task are valid (monarch, IPI, NMI
 * or caller), false for a missing, offline, parked or unused row.
 */
static inline bool crash_stop_cpu_stopped(const struct crash_stop_cpu *row)
{
	return row->how == CRASH_STOP_MONARCH || row->how == CRASH_STOP_IPI ||
	       row->how == CRASH_STOP_NMI || row->how == CRASH_STOP_CALLER;
}

/**
 * struct crash_stop_result - outcome of one crash stop
 * @generation: sequence number of the crash stop, starting at 1
 * @monarch: the monarch CPU
 * @reason: the reason it was called with
 * @nr_stopped: CPUs stopped besides the monarch (IPI, NMI or caller)
 * @nr_nmi: of those, stopped by NMI
 * @nr_escalated: CPUs that were sent an NMI
 * @nr_missing: CPUs that did not answer in time; also in @missing
 * @nr_late: of those, CPUs that answered before the release and were held
 *	(see &crash_stop_cpu.late); counted once the others are released, so
 *	0 inside the callbacks
 * @nr_offline: CPUs not online when it began
 * @nr_parked: CPUs parked by an earlier %CRASH_STOP_STAY stop
 * @gather_ns: nanoseconds from the start until every CPU stopped (or until
 *	the NMI wait expired)
 * @missing: the CPUs that did not answer
 */
struct crash_stop_result {
	u64			generation;
	unsigned int		monarch;
	enum crash_stop_reason	reason;
	unsigned int		nr_stopped;
	unsigned int		nr_nmi;
	unsigned int		nr_escalated;
	unsigned int		nr_missing;
	unsigned int		nr_late;
	unsigned int		nr_offline;
	unsigned int		nr_parked;
	u64			gather_ns;
	struct cpumask		missing;
};

/**
 * typedef crash_stop_fn - callback run on the monarch with the others held
 * @res: the outcome of the gather (the table is read with
 *	crash_stop_cpu_state())
 * @data: &crash_stop_args.data
 *
 * Runs with interrupts disabled, possibly in NMI context, after every
 * stopped CPU's &crash_stop_cpu_fn has returned (or the CPU was given up
 * on and reported missing). It must not sleep, allocate, or take a lock a
 * stopped CPU may hold. Calling crash_stop() from it fails with -EDEADLK.
 */
typedef void (*crash_stop_fn)(const struct crash_stop_result *res, void *data);

/**
 * typedef crash_stop_cpu_fn - optional callback run on each stopped CPU
 * @self: the CPU's own row of the table, already filled in
 * @regs: the live register frame of the context the CPU was stopped in:
 *	the interrupted frame of its crash_stop IPI or NMI, which it resumes
 *	from after the release, so changes to it take effect then. For a
 *	concurrent caller stopped as %CRASH_STOP_CALLER, the frame it passed
 *	in &crash_stop_args.regs, or a description of its call (changes to
 *	which have no effect).
 * @data: &crash_stop_args.data
 *
 * Runs on every slave in its IPI or NMI handler once its row is filled in
 * and before it is reported stopped: the monarch's &crash_stop_fn starts
 * only after it returned. A CPU whose callback outlasts the waits is
 * reported missing. It may read @self and @regs and the memory behind
 * @data; it must not read the table of the crash stop being built
 * (crash_stop_cpu_state() returns the previous one until the monarch's
 * callback starts). The same rules as for &crash_stop_fn apply, and it
 * must return in bounded time: crash_stop() waits for it.
 */
typedef void (*crash_stop_cpu_fn)(const struct crash_stop_cpu *self,
				  struct pt_regs *regs, void *data);

/**
 * struct crash_stop_args - what the caller of crash_stop() asks for
 * @callback: required; run on the monarch with every other CPU held
 * @cpu_callback: optional; run on each stopped CPU, see &crash_stop_cpu_fn
 * @data: passed to both callbacks
 *
 * crash_stop() copies @cpu_callback and @data before it stops anybody, and
 * no CPU uses them, or the structure, once crash_stop() has returned: it
 * may live on the caller's stack.
 * @regs: the caller's registers when it comes from an exception or NMI;
 *	NULL to capture them at the call
 * @ipi_wait_ms: how long to wait for the IPI before sending NMIs;
 *	0 for the default (boot parameter crash_stop.ipi_wait_ms)
 * @nmi_wait_ms: how long to wait for NMI answers before reporting CPUs
 *	missing; 0 for the default (boot parameter crash_stop.nmi_wait_ms)
 * @mode: %CRASH_STOP_RESUME or %CRASH_STOP_STAY
 * @reason: see &enum crash_stop_reason
 * @flags: 0, or %CRASH_STOP_HANDOFF
 */
struct crash_stop_args {
	crash_stop_fn		callback;
	crash_stop_cpu_fn	cpu_callback;
	void			*data;
	struct pt_regs		*regs;
	unsigned int		ipi_wait_ms;
	unsigned int		nmi_wait_ms;
	enum crash_stop_mode	mode;
	enum crash_stop_reason	reason;
	unsigned int		flags;
};

/*
 * CRASH_STOP_HANDOFF: hand each stopped CPU over to @cpu_callback instead
 * of holding it. The CPU reports itself stopped first, then runs
 * @cpu_callback (with copies of its row and of @data's pointer) for as long
 * as it likes: concurrently with @callback and after crash_stop() returned,
 * and it resumes from its frame when @cpu_callback returns, not at the
 * release. For a debugger that keeps the CPUs in its own slave loop (kgdb).
 * Needs @cpu_callback and %CRASH_STOP_RESUME; @cpu_callback and what @data
 * points to must then stay valid until every such call has returned.
 */
#define CRASH_STOP_HANDOFF	0x1

/* Limits of the waits in &struct crash_stop_args and the boot parameters */
#define CRASH_STOP_IPI_WAIT_MAX_MS	10000
#define CRASH_STOP_NMI_WAIT_MAX_MS	60000

#ifdef CONFIG_CRASH_STOP

/**
 * crash_stop() - stop every other CPU, run a callback, resume or stay stopped
 * @args: what to do, see &struct crash_stop_args
 * @res: filled with the outcome; may be NULL
 *
 * The calling CPU becomes the monarch. Every other online CPU is sent the
 * crash_stop IPI; the ones that have not stopped after @args->ipi_wait_ms
 * are sent an NMI; the ones that have not stopped @args->nmi_wait_ms later
 * are reported missing. Every stopped CPU runs @args->cpu_callback, if
 * any; then @args->callback runs on the calling CPU, after which the
 * others resume (%CRASH_STOP_RESUME) or halt for good (%CRASH_STOP_STAY).
 * A CPU that answers after it was reported missing is held until the
 * release like the others (see &crash_stop_cpu.late).
 *
 * When crash_stop() returns, every other CPU has left crash_stop's code (or
 * is parked), so nothing it was handed is used any more; the only CPUs it
 * does not wait for are those that crashed while stopped (oopsed in a
 * callback: the die notifier tells crash_stop). Every wait for a CPU to
 * stop ends after the configured time even if no clock advances with
 * interrupts off.
 *
 * Context: any context, including NMI and with interrupts disabled; it
 * disables interrupts itself while it runs. Allocates nothing and takes no
 * lock.
 *
 * Return: the number of CPUs stopped besides the caller;
 * -EINVAL for a NULL @args or callback, a bad mode or reason, or a wait out
 * of range; -EDEADLK when called on a CPU that is already the monarch or
 * already stopped (from a callback); -EBUSY when another CPU won the
 * election concurrently: the caller was then stopped like any other CPU
 * (its row says %CRASH_STOP_CALLER, %CRASH_STOP_IPI or %CRASH_STOP_NMI) and
 * has been released.
 */
int crash_stop(const struct crash_stop_args *args, struct crash_stop_result *res);

/**
 * crash_stop_in_progress() - whether a crash stop is running
 *
 * Return: true from the monarch's election until its release.
 */
bool crash_stop_in_progress(void);

/**
 * crash_stop_monarch_cpu() - the monarch of the running crash stop
 *
 * Return: the monarch's CPU number, or -1 if no crash stop is running.
 */
int crash_stop_monarch_cpu(void);

/**
 * crash_stop_cpu_state() - a CPU's row of the last crash stop's table
 * @cpu: the CPU
 *
 * Valid in the callbacks and after crash_stop() returned, until the next
 * crash stop begins; after a %CRASH_STOP_STAY stop it stays valid as long
 * as no other crash stop is started.
 *
 * Return: the row, or NULL if @cpu is out of range or no crash stop ran yet.
 */
const struct crash_stop_cpu *crash_stop_cpu_state(unsigned int cpu);

/**
 * crash_stop_how_name() - a short name for a &enum crash_stop_how value
 * @how: the value
 *
 * Return: "monarch", "ipi", "nmi", "caller", "missing", "offline",
 * "parked", or "none" for anything else.
 */
const char *crash_stop_how_name(enum crash_stop_how how);

/**
 * crash_stop_poll() - let a CPU that takes no interrupts join a crash stop
 * @regs: the register frame of the context it interrupted
 *
 * For a CPU looping in NMI context (it cannot take the crash_stop IPI nor
 * its NMI), for instance after an NMI-time panic lost to another CPU: if a
 * crash stop is gathering and waits for this CPU, stop it now, as its NMI
 * would have (its row says %CRASH_STOP_NMI). Call it from the loop.
 *
 * Return: false if no crash stop wants this CPU. Otherwise the CPU was
 * stopped: true once it was released (%CRASH_STOP_RESUME); it never
 * returns from a %CRASH_STOP_STAY stop.
 */
bool crash_stop_poll(struct pt_regs *regs);

#else /* !CONFIG_CRASH_STOP */

static inline int crash_stop(const struct crash_stop_args *args,
			     struct crash_stop_result *res)
{
	return -EOPNOTSUPP;
}

static inline bool crash_stop_in_progress(void)
{
	return false;
}

static inline int crash_stop_monarch_cpu(void)
{
	return -1;
}

static inline const struct crash_stop_cpu *crash_stop_cpu_state(unsigned int cpu)
{
	return NULL;
}

static inline bool crash_stop_poll(struct pt_regs *regs)
{
	return false;
}

#endif /* CONFIG_CRASH_STOP */

#ifdef CONFIG_CRASH_STOP_KDUMP
/**
 * crash_stop_for_kdump() - whether kdump stops the other CPUs with crash_stop
 *
 * Return: the boot and runtime parameter crash_stop.kdump (default true);
 * false makes kdump use its NMI shootdown.
 */
bool crash_stop_for_kdump(void);
#else
static inline bool crash_stop_for_kdump(void)
{
	return false;
}
#endif

#ifdef CONFIG_CRASH_STOP_KGDB
/**
 * crash_stop_for_kgdb() - whether kgdb rounds up the CPUs with crash_stop
 *
 * Return: the boot and runtime parameter crash_stop.kgdb (default true);
 * false makes kgdb use the architecture's roundup.
 */
bool crash_stop_for_kgdb(void);
#else
static inline bool crash_stop_for_kgdb(void)
{
	return false;
}
#endif

#endif /* _LINUX_CRASH_STOP_H */
