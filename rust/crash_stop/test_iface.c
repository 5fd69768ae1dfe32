// SPDX-License-Identifier: GPL-2.0
/*
 * crash_stop debugfs test interface (CONFIG_CRASH_STOP_TEST), used by
 * tools/testing/selftests/crash_stop/. The file format is documented in
 * tools/testing/selftests/crash_stop/DEBUGFS.md.
 *
 * It drives the public API like any other user would, and adds the
 * conditions the tests need: CPUs spinning with interrupts off, a CPU stuck
 * inside an NMI handler, and crash_stop() callers racing on every CPU.
 */

#define pr_fmt(fmt) "crash_stop_test: " fmt

#include <linux/capability.h>
#include <linux/crash_stop_internal.h>
#include <linux/cpu.h>
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/init.h>
#include <linux/kthread.h>
#include <linux/mutex.h>
#include <linux/nmi.h>
#include <linux/sched/clock.h>
#include <linux/security.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/timekeeping.h>
#include <linux/uaccess.h>
#include <asm/unwind.h>

/* Serialises every operation of this interface. */
static DEFINE_MUTEX(test_lock);

/* ---- key=value parsing -------------------------------------------------- */

struct test_key {
	const char *name;
	u64 min, max;
	u64 *val;
	bool seen;
};

/*
 * Parses "k=v k=v ..." into @keys. Words in @words (may be NULL) are bare
 * flags; the index of the one found is stored in @word. Anything else, a
 * repeated key, or a value out of range is -EINVAL.
 */
static int parse_words(char *buf, struct test_key *keys, int nkeys,
		       const char *const *words, int *word)
{
	char *tok;
	int i;

	if (word)
		*word = -1;
	while ((tok = strsep(&buf, " \t\n")) != NULL) {
		char *eq;
		u64 v;

		if (!*tok)
			continue;
		for (i = 0; words && words[i]; i++)
			if (!strcmp(tok, words[i]))
				break;
		if (words && words[i]) {
			if (!word || *word >= 0)
				return -EINVAL;
			*word = i;
			continue;
		}
		eq = strchr(tok, '=');
		if (!eq)
			return -EINVAL;
		*eq++ = '\0';
		for (i = 0; i < nkeys; i++)
			if (!strcmp(tok, keys[i].name))
				break;
		if (i == nkeys || keys[i].seen)
			return -EINVAL;
		if (kstrtou64(eq, 0, &v) || v < keys[i].min || v > keys[i].max)
			return -EINVAL;
		keys[i].seen = true;
		*keys[i].val = v;
	}
	return 0;
}

#define WORDS_MAX	256

/*
 * Checks that the writer may drive this interface, then copies and parses
 * its words (at most @size - 1 bytes) with parse_words().
 */
static int read_words(const char __user *ubuf, size_t count, size_t size,
		      struct test_key *keys, int nkeys,
		      const char *const *words, int *word)
{
	char buf[WORDS_MAX];

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	if (security_locked_down(LOCKDOWN_DEBUGFS))
		return -EPERM;
	if (!count || count >= size || count >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, count))
		return -EFAULT;
	buf[count] = '\0';
	return parse_words(buf, keys, nkeys, words, word);
}

/* ---- stop --------------------------------------------------------------- */

struct stop_run {
	u64 hold_ms;
	bool nest;
	bool crash;
	int *crash_ptr;
	int nested_ret;
	u64 cpufn_ms;		/* each cpu_callback busy-waits that long ... */
	u64 cpufn_cpu;		/* ... on this CPU only, or U64_MAX for all */
	bool poke;		/* cpu_callback ends regloop spinners */
	atomic_t cpufn_runs;	/* cpu_callbacks started */
	atomic_t cpufn_done;	/* cpu_callbacks returned */
	atomic_t cpufn_regs_ok;	/* ... handed the frame their row was taken from */
	atomic_t poked;		/* regloop spinners ended through their frame */
	int cpufn_done_at_cb;	/* cpufn_done when the monarch's callback began */
	bool returned;		/* crash_stop() has returned */
	char trace[160];	/* unwind from the monarch's row */
};

static struct crash_stop_result last_res;
static DEFINE_PER_CPU(struct crash_stop_cpu, last_row);
static int last_ret;
static int last_nested_ret;
static unsigned int last_cpufn_runs;
static int last_cpufn_done;
static unsigned int last_cpufn_regs_ok;
static unsigned int last_poked;
static char last_trace[160];
static u64 last_cycles;
static bool have_last;
/* cpu_callbacks that returned after their crash_stop() call had returned */
static atomic_t cpufn_after_return;
static unsigned int last_cpufn_after_return;

/*
 * The monarch's stack as the kernel's unwinder sees it from the registers
 * crash_stop saved for it: "func<caller<caller..." (at most four frames),
 * "<(unwind error)" if the unwinder found them inconsistent.
 */
static void monarch_trace(char *buf, size_t len)
{
	const struct crash_stop_cpu *row;
	struct unwind_state state;
	struct pt_regs regs;
	size_t off = 0;
	int n = 0;

	buf[0] = '\0';
	row = crash_stop_cpu_state(raw_smp_processor_id());
	if (!row || row->how != CRASH_STOP_MONARCH)
		return;
	regs = row->regs;
	/* The function the registers are in, then its callers as unwound. */
	off = scnprintf(buf, len, "%ps", (void *)regs.ip);
	n = 1;
	for (unwind_start(&state, current, &regs, NULL);
	     !unwind_done(&state) && n < 4; unwind_next_frame(&state)) {
		unsigned long addr = unwind_get_return_address(&state);

		if (!addr)
			break;
		off += scnprintf(buf + off, len - off, "<%ps", (void *)addr);
		n++;
	}
	if (unwind_error(&state))
		scnprintf(buf + off, len - off, "<(unwind error)");
}

static void stop_callback(const struct crash_stop_result *res, void *data)
{
	struct stop_run *run = data;
	u64 end;

	/* Every cpu_callback must have returned by now (or its CPU is missing). */
	run->cpufn_done_at_cb = atomic_read(&run->cpufn_done);
	monarch_trace(run->trace, sizeof(run->trace));
	if (run->nest) {
		struct crash_stop_args inner = {
			.callback = stop_callback,
			.data = run,
			.reason = CRASH_STOP_REASON_TEST,
		};

		run->nested_ret = crash_stop(&inner, NULL);
	}
	/*
	 * sched_clock() (the TSC) keeps running with every CPU's interrupts
	 * off, unlike jiffies; mdelay() is far off under emulation.
	 */
	end = sched_clock() + run->hold_ms * NSEC_PER_MSEC;
	while (sched_clock() < end) {
		cpu_relax();
		touch_nmi_watchdog();
	}
	if (run->crash) {
		/* A tool crashing inside its callback: oops on a NULL pointer. */
		pr_emerg("crashing inside the callback on purpose\n");
		WRITE_ONCE(*run->crash_ptr, 1);
	}
}

/* A CPU stopped inside a regloop spinner: make it leave the loop. */
static bool regloop_poke(struct pt_regs *regs)
{
	return regs && crash_stop_arch_test_poke(regs);
}

static void stop_cpu_callback(const struct crash_stop_cpu *self,
			      struct pt_regs *regs, void *data)
{
	struct stop_run *run = data;

	atomic_inc(&run->cpufn_runs);
	if (regs && regs->ip == self->regs.ip && regs->sp == self->regs.sp)
		atomic_inc(&run->cpufn_regs_ok);
	if (run->poke && regloop_poke(regs))
		atomic_inc(&run->poked);
	if (run->cpufn_ms &&
	    (run->cpufn_cpu == U64_MAX || run->cpufn_cpu == self->cpu)) {
		u64 end = sched_clock() + run->cpufn_ms * NSEC_PER_MSEC;

		while (sched_clock() < end) {
			cpu_relax();
			touch_nmi_watchdog();
		}
	}
	/* crash_stop() must not return before this callback does. */
	if (READ_ONCE(run->returned))
		atomic_inc(&cpufn_after_return);
	atomic_inc(&run->cpufn_done);
}

static ssize_t stop_write(struct file *file, const char __user *ubuf,
			  size_t count, loff_t *ppos)
{
	static const char *const modes[] = { "mode=resume", "mode=stay", NULL };
	u64 ipi_ms = 0, nmi_ms = 0, hold_ms = 0, nest = 0, cpufn = 0;
	u64 repeat = 1, cycle, crash = 0, cpufn_ms = 0, cpufn_cpu = U64_MAX;
	u64 poke = 0, handoff = 0;
	struct test_key keys[] = {
		{ "ipi_ms", 0, CRASH_STOP_IPI_WAIT_MAX_MS, &ipi_ms },
		{ "nmi_ms", 0, CRASH_STOP_NMI_WAIT_MAX_MS, &nmi_ms },
		{ "hold_ms", 0, 60000, &hold_ms },
		{ "nest", 0, 1, &nest },
		{ "cpufn", 0, 1, &cpufn },
		{ "repeat", 1, 100000, &repeat },
		{ "crash", 0, 1, &crash },
		{ "cpufn_ms", 0, 10000, &cpufn_ms },
		{ "cpufn_cpu", 0, nr_cpu_ids - 1, &cpufn_cpu },
		{ "poke", 0, 1, &poke },
		{ "handoff", 0, 1, &handoff },
	};
	struct stop_run run = { };
	struct crash_stop_args args = { };
	unsigned int cpu;
	int mode, ret;

	ret = read_words(ubuf, count, WORDS_MAX,
			 keys, ARRAY_SIZE(keys), modes, &mode);
	if (ret)
		return ret;
	/* The per-CPU callback's options need the callback. */
	if (!cpufn && (cpufn_ms || keys[8].seen || poke || handoff))
		return -EINVAL;
	/*
	 * Handed-off callbacks run on after crash_stop() returns: only one
	 * cycle, and with cpufn_ms, which makes this function wait for them.
	 */
	if (handoff && (!cpufn_ms || repeat != 1 || mode == 1 || crash))
		return -EINVAL;

	run.hold_ms = hold_ms;
	run.cpufn_ms = cpufn_ms;
	run.cpufn_cpu = cpufn_cpu;
	run.poke = poke;
	run.nest = nest;
	run.crash = crash;
	run.crash_ptr = NULL;
	run.nested_ret = 0;
	args.callback = stop_callback;
	args.cpu_callback = cpufn ? stop_cpu_callback : NULL;
	args.data = &run;
	args.ipi_wait_ms = ipi_ms;
	args.nmi_wait_ms = nmi_ms;
	args.mode = mode == 1 ? CRASH_STOP_STAY : CRASH_STOP_RESUME;
	args.reason = CRASH_STOP_REASON_TEST;
	args.flags = handoff ? CRASH_STOP_HANDOFF : 0;

	if (crash) {
		/*
		 * The writer dies in the oops: do not hold test_lock, and
		 * expect never to come back here.
		 */
		if (repeat != 1 || mode == 1)
			return -EINVAL;
		ret = crash_stop(&args, NULL);
		return ret < 0 ? ret : count;
	}

	mutex_lock(&test_lock);
	atomic_set(&cpufn_after_return, 0);
	for (cycle = 0; cycle < repeat; cycle++) {
		WRITE_ONCE(run.returned, false);
		ret = crash_stop(&args, &last_res);
		WRITE_ONCE(run.returned, true);
		if (ret < 0)
			break;
		if (repeat > 1)
			cond_resched();
	}
	/*
	 * A cpu_callback still running now would be using @run after
	 * crash_stop() returned: give a straggler the time to show up.
	 */
	if (cpufn_ms)
		msleep(cpufn_ms + 100);
	/* Handed-off callbacks may still be running: @run must outlive them. */
	if (handoff) {
		unsigned long timeout = jiffies + 10 * HZ;

		while (atomic_read(&run.cpufn_done) < atomic_read(&run.cpufn_runs) &&
		       time_before(jiffies, timeout))
			msleep(20);
	}
	last_ret = ret;
	last_nested_ret = run.nested_ret;
	last_cpufn_runs = atomic_read(&run.cpufn_runs);
	last_cpufn_done = run.cpufn_done_at_cb;
	last_cpufn_regs_ok = atomic_read(&run.cpufn_regs_ok);
	last_cpufn_after_return = atomic_read(&cpufn_after_return);
	last_poked = atomic_read(&run.poked);
	strscpy(last_trace, run.trace, sizeof(last_trace));
	last_cycles = cycle;
	for_each_possible_cpu(cpu) {
		const struct crash_stop_cpu *row = crash_stop_cpu_state(cpu);

		if (row)
			per_cpu(last_row, cpu) = *row;
	}
	have_last = true;
	mutex_unlock(&test_lock);
	return ret < 0 ? ret : count;
}

static int last_show(struct seq_file *m, void *v)
{
	unsigned int cpu;

	mutex_lock(&test_lock);
	if (!have_last) {
		seq_puts(m, "gen=0 ret=0\n");
		goto out;
	}
	seq_printf(m, "gen=%llu ret=%d monarch=%u stopped=%u nmi=%u escalated=%u missing=%u late=%u offline=%u parked=%u gather_us=%llu nested_ret=%d cpufn_runs=%u cpufn_done=%d cpufn_regs_ok=%u cpufn_after_return=%u poked=%u cycles=%llu monarch_trace=%s\n",
		   last_res.generation, last_ret, last_res.monarch,
		   last_res.nr_stopped, last_res.nr_nmi, last_res.nr_escalated,
		   last_res.nr_missing, last_res.nr_late, last_res.nr_offline,
		   last_res.nr_parked, div_u64(last_res.gather_ns, 1000),
		   last_nested_ret, last_cpufn_runs, last_cpufn_done,
		   last_cpufn_regs_ok, last_cpufn_after_return, last_poked,
		   last_cycles, last_trace[0] ? last_trace : "-");
	for_each_possible_cpu(cpu) {
		const struct crash_stop_cpu *row = &per_cpu(last_row, cpu);

		seq_printf(m, "cpu=%u how=%s late=%d", cpu,
			   crash_stop_how_name(row->how), row->late);
		if (crash_stop_cpu_stopped(row))
			seq_printf(m, " pid=%d comm=%.*s irqs_off=%d user=%d stop_us=%llu ip=%pS",
				   row->pid, (int)sizeof(row->comm), row->comm,
				   row->irqs_off, row->in_user,
				   div_u64(row->stop_ns, 1000),
				   (void *)row->regs.ip);
		seq_putc(m, '\n');
	}
out:
	mutex_unlock(&test_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(last);

static const struct file_operations stop_fops = {
	.owner = THIS_MODULE,
	.write = stop_write,
	.llseek = noop_llseek,
};

/* ---- spin ------------------------------------------------------------------ */

static DEFINE_PER_CPU(struct task_struct *, spinner);
static bool spin_stop;

struct spin_req {
	bool irqs_off;
	bool regloop;
	u64 ms;
	struct completion running;
};

#define SPIN_BATCH	20000

/* The loop the tests expect to find in the saved RIP of a spinning CPU. */
static noinline int crash_stop_test_spin(void *data)
{
	struct spin_req *req = data;
	u64 end = sched_clock() + req->ms * NSEC_PER_MSEC;
	bool irqs_off = req->irqs_off;
	bool regloop = req->regloop;
	unsigned long flags = 0;

	if (irqs_off)
		local_irq_save(flags);
	complete(&req->running);	/* @req is gone after this */
	while (!READ_ONCE(spin_stop) && !kthread_should_stop() &&
	       sched_clock() < end) {
		unsigned int i;

		if (regloop) {
			if (crash_stop_arch_test_regloop(SPIN_BATCH * 50)) {
				pr_info("regloop on CPU%d ended by a write to its saved registers\n",
					raw_smp_processor_id());
				break;
			}
			touch_nmi_watchdog();
			continue;
		}

		/*
		 * Spend nearly all the time in this function, so that the
		 * saved RIP of a CPU stopped here points into it.
		 */
		for (i = 0; i < SPIN_BATCH; i++)
			cpu_relax();
		touch_nmi_watchdog();
		if (!irqs_off)
			cond_resched();
	}
	if (irqs_off)
		local_irq_restore(flags);
	while (!kthread_should_stop())
		schedule_timeout_interruptible(HZ / 10);
	return 0;
}

static void stop_spinners(void)
{
	unsigned int cpu;

	WRITE_ONCE(spin_stop, true);
	for_each_possible_cpu(cpu) {
		struct task_struct *t = per_cpu(spinner, cpu);

		if (t) {
			kthread_stop(t);
			put_task_struct(t);
			per_cpu(spinner, cpu) = NULL;
		}
	}
	WRITE_ONCE(spin_stop, false);
}

static ssize_t spin_write(struct file *file, const char __user *ubuf,
			  size_t count, loff_t *ppos)
{
	static const char *const words[] = { "stop", "irqs=off", "irqs=on", NULL };
	u64 cpu = U64_MAX, ms = 30000, regloop = 0;
	struct test_key keys[] = {
		{ "cpu", 0, nr_cpu_ids - 1, &cpu },
		{ "ms", 1, 120000, &ms },
		{ "regloop", 0, 1, &regloop },
	};
	struct spin_req req;
	struct task_struct *t;
	int word, ret;

	ret = read_words(ubuf, count, 128,
			 keys, ARRAY_SIZE(keys), words, &word);
	if (ret)
		return ret;
	if (word == 0) {
		if (keys[0].seen || keys[1].seen || keys[2].seen)
			return -EINVAL;
		mutex_lock(&test_lock);
		stop_spinners();
		mutex_unlock(&test_lock);
		return count;
	}
	if (!keys[0].seen || cpu >= nr_cpu_ids || !cpu_online(cpu))
		return -EINVAL;

	/* The regloop spins with interrupts off: only an NMI stops it. */
	if (regloop && word == 2)
		return -EINVAL;
	req.irqs_off = word != 2;
	req.regloop = regloop;
	req.ms = ms;
	init_completion(&req.running);
	mutex_lock(&test_lock);
	if (per_cpu(spinner, cpu)) {
		ret = -EBUSY;
		goto out;
	}
	t = kthread_create(crash_stop_test_spin, &req, "cs_spin/%llu", cpu);
	if (IS_ERR(t)) {
		ret = PTR_ERR(t);
		goto out;
	}
	get_task_struct(t);
	kthread_bind(t, cpu);
	per_cpu(spinner, cpu) = t;
	wake_up_process(t);
	wait_for_completion(&req.running);
	ret = count;
out:
	mutex_unlock(&test_lock);
	return ret;
}

static const struct file_operations spin_fops = {
	.owner = THIS_MODULE,
	.write = spin_write,
	.llseek = noop_llseek,
};

/* ---- wedge ------------------------------------------------------------------ */

static ssize_t wedge_write(struct file *file, const char __user *ubuf,
			   size_t count, loff_t *ppos)
{
	u64 cpu = U64_MAX, ms = 0;
	struct test_key keys[] = {
		{ "cpu", 0, nr_cpu_ids - 1, &cpu },
		{ "ms", 1, 10000, &ms },
	};
	unsigned long timeout;
	int ret;

	ret = read_words(ubuf, count, 128, keys, ARRAY_SIZE(keys), NULL, NULL);
	if (ret)
		return ret;
	if (!keys[0].seen || !keys[1].seen || cpu >= nr_cpu_ids ||
	    !cpu_online(cpu))
		return -EINVAL;

	mutex_lock(&test_lock);
	cpus_read_lock();
	ret = -EINVAL;
	if (cpu == raw_smp_processor_id() || !cpu_online(cpu))
		goto out;
	crash_stop_arch_test_wedge(cpu, ms);
	timeout = jiffies + HZ;
	ret = -ETIMEDOUT;
	while (time_before(jiffies, timeout)) {
		if (crash_stop_arch_test_is_wedged(cpu)) {
			ret = count;
			break;
		}
		cpu_relax();
	}
out:
	cpus_read_unlock();
	mutex_unlock(&test_lock);
	return ret;
}

static const struct file_operations wedge_fops = {
	.owner = THIS_MODULE,
	.write = wedge_write,
	.llseek = noop_llseek,
};

/* ---- race ------------------------------------------------------------------- */

struct race {
	unsigned int nthreads;
	u64 rounds;
	unsigned int ipi_ms, nmi_ms;
	atomic_t ready;		/* threads at the start line, all rounds */
	atomic_t done;		/* threads finished, all rounds */
	atomic64_t ok, busy, deadlk, other;
	u64 *gen;		/* per thread: generation of its last ok call */
	struct task_struct **task;
	bool aborted;
};

static struct race *race;
static char race_result[256];

static void race_callback(const struct crash_stop_result *res, void *data)
{
}

static int race_thread(void *data)
{
	unsigned int idx = (unsigned long)data;
	struct crash_stop_args args = {
		.callback = race_callback,
		.ipi_wait_ms = race->ipi_ms,
		.nmi_wait_ms = race->nmi_ms,
		.reason = CRASH_STOP_REASON_TEST,
	};
	struct crash_stop_result res;
	u64 round;

	for (round = 1; round <= race->rounds && !READ_ONCE(race->aborted); round++) {
		unsigned long timeout = jiffies + 5 * HZ;
		int ret;

		/* Start line: everybody calls crash_stop() at once. */
		atomic_inc(&race->ready);
		preempt_disable();
		while (atomic_read(&race->ready) < race->nthreads * round &&
		       !READ_ONCE(race->aborted)) {
			cpu_relax();
			if (time_after(jiffies, timeout))
				WRITE_ONCE(race->aborted, true);
		}
		ret = crash_stop(&args, &res);
		preempt_enable();

		if (ret >= 0) {
			race->gen[idx] = res.generation;
			atomic64_inc(&race->ok);
		} else {
			race->gen[idx] = 0;
			if (ret == -EBUSY)
				atomic64_inc(&race->busy);
			else if (ret == -EDEADLK)
				atomic64_inc(&race->deadlk);
			else
				atomic64_inc(&race->other);
		}
		/* Publish gen[] before counting this call as done. */
		smp_mb__before_atomic();
		atomic_inc(&race->done);
		/* Wait for the checker before the next round. */
		while (atomic_read(&race->done) != 0 && !READ_ONCE(race->aborted) &&
		       !kthread_should_stop())
			cond_resched();
	}
	while (!kthread_should_stop())
		schedule_timeout_interruptible(HZ / 10);
	return 0;
}

static ssize_t race_write(struct file *file, const char __user *ubuf,
			  size_t count, loff_t *ppos)
{
	u64 rounds = 0, ipi_ms = 0, nmi_ms = 0, round, dup = 0, gens = 0;
	struct test_key keys[] = {
		{ "rounds", 1, 100000, &rounds },
		{ "ipi_ms", 0, CRASH_STOP_IPI_WAIT_MAX_MS, &ipi_ms },
		{ "nmi_ms", 0, CRASH_STOP_NMI_WAIT_MAX_MS, &nmi_ms },
	};
	unsigned int cpu, i, n = 0;
	ssize_t ret;

	ret = read_words(ubuf, count, 128, keys, ARRAY_SIZE(keys), NULL, NULL);
	if (ret)
		return ret;
	if (!keys[0].seen)
		return -EINVAL;

	mutex_lock(&test_lock);
	cpus_read_lock();
	race = kzalloc_obj(struct race);
	ret = -ENOMEM;
	if (!race)
		goto out;
	race->gen = kcalloc(nr_cpu_ids, sizeof(*race->gen), GFP_KERNEL);
	race->task = kcalloc(nr_cpu_ids, sizeof(*race->task), GFP_KERNEL);
	if (!race->gen || !race->task)
		goto free;
	race->rounds = rounds;
	race->ipi_ms = ipi_ms;
	race->nmi_ms = nmi_ms;
	race->nthreads = num_online_cpus();
	for_each_online_cpu(cpu) {
		struct task_struct *t;

		t = kthread_create(race_thread, (void *)(unsigned long)n,
				   "cs_race/%u", cpu);
		if (IS_ERR(t)) {
			WRITE_ONCE(race->aborted, true);
			ret = PTR_ERR(t);
			break;
		}
		get_task_struct(t);
		kthread_bind(t, cpu);
		race->task[n++] = t;
	}
	if (n == race->nthreads) {
		/*
		 * The thread bound to this CPU spins with preemption off at
		 * the start line: do not let it preempt us before every
		 * thread has been woken.
		 */
		preempt_disable();
		for (i = 0; i < n; i++)
			wake_up_process(race->task[i]);
		preempt_enable();
		for (round = 1; round <= rounds && !READ_ONCE(race->aborted); round++) {
			unsigned long timeout = jiffies + 10 * HZ;

			while (atomic_read(&race->done) < n) {
				if (time_after(jiffies, timeout)) {
					WRITE_ONCE(race->aborted, true);
					break;
				}
				schedule_timeout_uninterruptible(1);
			}
			if (READ_ONCE(race->aborted))
				break;
			smp_rmb();	/* gen[] after done, see race_thread() */
			/* One monarch per generation: no two ok calls share one. */
			for (i = 0; i < n; i++) {
				unsigned int j;

				if (!race->gen[i])
					continue;
				gens++;
				for (j = i + 1; j < n; j++)
					if (race->gen[j] == race->gen[i])
						dup++;
			}
			atomic_set(&race->done, 0);
		}
	} else {
		/* Threads that were created but never woken are stopped below. */
		WRITE_ONCE(race->aborted, true);
	}
	for (i = 0; i < n; i++) {
		kthread_stop(race->task[i]);
		put_task_struct(race->task[i]);
	}
	snprintf(race_result, sizeof(race_result),
		 "rounds=%llu calls=%lld ok=%lld busy=%lld deadlk=%lld other=%lld gens=%llu dup_monarch=%llu aborted=%d\n",
		 round - 1,
		 atomic64_read(&race->ok) + atomic64_read(&race->busy) +
		 atomic64_read(&race->deadlk) + atomic64_read(&race->other),
		 atomic64_read(&race->ok), atomic64_read(&race->busy),
		 atomic64_read(&race->deadlk), atomic64_read(&race->other),
		 gens, dup, race->aborted);
	if (n == race->nthreads)
		ret = race->aborted ? -ETIMEDOUT : count;
free:
	kfree(race->gen);
	kfree(race->task);
	kfree(race);
	race = NULL;
out:
	cpus_read_unlock();
	mutex_unlock(&test_lock);
	return ret;
}

static int race_result_show(struct seq_file *m, void *v)
{
	mutex_lock(&test_lock);
	seq_puts(m, race_result[0] ? race_result : "rounds=0\n");
	mutex_unlock(&test_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(race_result);

static const struct file_operations race_fops = {
	.owner = THIS_MODULE,
	.write = race_write,
	.llseek = noop_llseek,
};

/* ---- panic ------------------------------------------------------------------ */

static atomic_t panic_ready;

/* Meet the other panicking thread, then panic: both at the same moment. */
static int crash_stop_test_panic(void *data)
{
	local_irq_disable();
	atomic_inc(&panic_ready);
	while (atomic_read(&panic_ready) < 2)
		cpu_relax();
	panic("crash_stop_test: panic on CPU%d", raw_smp_processor_id());
	return 0;
}

static ssize_t panic_write(struct file *file, const char __user *ubuf,
			   size_t count, loff_t *ppos)
{
	u64 a = U64_MAX, b = U64_MAX;
	struct test_key keys[] = {
		{ "a", 0, nr_cpu_ids - 1, &a },
		{ "b", 0, nr_cpu_ids - 1, &b },
	};
	struct task_struct *t[2];
	int i, ret;

	ret = read_words(ubuf, count, 128, keys, ARRAY_SIZE(keys), NULL, NULL);
	if (ret)
		return ret;
	if (!keys[0].seen || !keys[1].seen || a == b || !cpu_online(a) ||
	    !cpu_online(b))
		return -EINVAL;
	atomic_set(&panic_ready, 0);
	for (i = 0; i < 2; i++) {
		t[i] = kthread_create(crash_stop_test_panic, NULL, "cs_panic/%llu",
				      i ? b : a);
		if (IS_ERR(t[i]))
			return PTR_ERR(t[i]);	/* the first one waits forever: harmless */
		kthread_bind(t[i], i ? b : a);
	}
	pr_emerg("two CPUs (%llu and %llu) panic now\n", a, b);
	wake_up_process(t[0]);
	wake_up_process(t[1]);
	return count;
}

static const struct file_operations panic_fops = {
	.owner = THIS_MODULE,
	.write = panic_write,
	.llseek = noop_llseek,
};

static int __init crash_stop_test_init(void)
{
	struct dentry *dir = debugfs_create_dir("crash_stop", NULL);

	debugfs_create_file("stop", 0200, dir, NULL, &stop_fops);
	debugfs_create_file("last", 0400, dir, NULL, &last_fops);
	debugfs_create_file("spin", 0200, dir, NULL, &spin_fops);
	debugfs_create_file("wedge", 0200, dir, NULL, &wedge_fops);
	debugfs_create_file("race", 0200, dir, NULL, &race_fops);
	debugfs_create_file("race_result", 0400, dir, NULL, &race_result_fops);
	debugfs_create_file("panic", 0200, dir, NULL, &panic_fops);
	pr_warn("debugfs test interface enabled: root can stop all CPUs\n");
	return 0;
}
late_initcall(crash_stop_test_init);
