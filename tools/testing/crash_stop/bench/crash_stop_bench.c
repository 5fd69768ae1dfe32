// SPDX-License-Identifier: GPL-2.0
/*
 * crash_stop_bench: how long it takes to reach every other CPU, with the
 * mechanisms the kernel has for it, measured side by side in one boot
 * (scripts/bench.sh).
 *
 * Write "mech=NAME[,NAME...] rounds=N [ipi_ms=M]" to
 * /sys/kernel/debug/crash_stop_bench/run: the rounds run on CPU 0 (in a
 * kworker bound to it, work_on_cpu()), one round of each named mechanism
 * in turn (up to 4), so that they see the same host load; read the file
 * for one line per measured quantity:
 *
 *   BENCH_RESULT mech=Q rounds=N min=NS median=NS p90=NS max=NS [note=K ...]
 *
 * The mechanisms (one warm-up round each, not counted):
 *
 *   smp_call_function  smp_call_function(noop, NULL, wait=1): wall time
 *   nmi_ack            an NMI to all others (apic->send_IPI_allbutself(
 *                      NMI_VECTOR), as nmi_shootdown_cpus() does), each
 *                      acknowledging in an NMI handler of ours: time until
 *                      every other CPU acknowledged
 *   two_waves          smp_call_function(wait=1), then an nmi_ack round,
 *                      timed together: one confirmed IPI wave and one
 *                      confirmed NMI wave, the least a stop by IPI and a
 *                      release of CPUs halted with interrupts off (woken by
 *                      NMI) can take on this machine, with no protocol
 *   stop_machine       stop_machine(noop, NULL, NULL): wall time
 *   hold_all           the kgdb roundup shape: smp_call_function(wait=0)
 *                      whose function acknowledges, then spins until
 *                      released; the monarch waits for every
 *                      acknowledgement, releases, waits for all to leave.
 *                      Three quantities: hold_all_gather (until all
 *                      acknowledged), hold_all (the round trip) and
 *                      hold_all_release (from the release until all left)
 *   crash_stop         crash_stop() with a no-op callback: crash_stop_gather
 *                      (crash_stop_result.gather_ns), crash_stop (the
 *                      round trip: wall time of the call) and
 *                      crash_stop_release (from the end of the monarch's
 *                      callback until the call returns)
 *   crash_stop_nmi     the same with a CPU that spins with interrupts off
 *                      (started beforehand, e.g. through the crash_stop
 *                      test interface's "spin" file) and ipi_ms=M: the
 *                      NMI path, time after the escalation, i.e. minus M:
 *                      crash_stop_nmi_gather (gather_ns - M),
 *                      crash_stop_nmi (wall time - M) and
 *                      crash_stop_nmi_release
 *
 * Notes in the result line count anomalous rounds: "escalated=K" (an
 * IPI-only round that needed an NMI), "not_nmi=K" (an NMI-path round where
 * no CPU was stopped by NMI), "missing=K", "timeout=K" (a round given up
 * after 5 s), "fail=K" (an error return).
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cpumask.h>
#include <linux/crash_stop.h>
#include <linux/debugfs.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/percpu.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <linux/sort.h>
#include <linux/stop_machine.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <linux/workqueue.h>
#include <asm/apic.h>
#include <asm/nmi.h>

#define MAX_ROUNDS	100000
#define ROUND_TIMEOUT_NS	(5 * NSEC_PER_SEC)
#define RESULT_SIZE	4096
#define MAX_MECHS	4

/* One measured quantity of a run. */
struct series {
	const char *name;
	u64 *ns;
	unsigned int n;
};

struct run {
	const char *mech;
	unsigned int rounds;
	unsigned int ipi_ms;
	struct series s[3];
	unsigned int nr_series;
	unsigned int escalated, not_nmi, missing, timeout, fail;
};

static DEFINE_MUTEX(bench_lock);
static char result[RESULT_SIZE];
static size_t result_len;

/* ---- the mechanisms -------------------------------------------------------- */

static void noop_ipi(void *info)
{
}

static int noop_stop(void *data)
{
	return 0;
}

/* When the monarch's callback of the last crash_stop() round ended. */
static u64 callback_end_ns;

static void noop_crash_stop(const struct crash_stop_result *res, void *data)
{
	/* The NMI-safe clock: a stopped CPU may hold the timekeeping lock. */
	WRITE_ONCE(callback_end_ns, ktime_get_mono_fast_ns());
}

/* Spin until @done() or the round timeout; false on timeout. */
static bool wait_until(bool (*done)(unsigned long), unsigned long arg, u64 t0)
{
	while (!done(arg)) {
		if (ktime_get_ns() - t0 > ROUND_TIMEOUT_NS)
			return false;
		cpu_relax();
	}
	return true;
}

/* Number of online CPUs other than this one whose @flag equals @gen. */
static unsigned int count_flag(unsigned long __percpu *flag, unsigned long gen)
{
	unsigned int cpu, me = smp_processor_id(), n = 0;

	for_each_online_cpu(cpu)
		if (cpu != me && READ_ONCE(*per_cpu_ptr(flag, cpu)) == gen)
			n++;
	return n;
}

/* -- nmi_ack: an NMI to all others, acknowledged through a per-CPU flag -- */

static unsigned long nmi_gen;	/* the round in flight, 0 when none */
static DEFINE_PER_CPU(unsigned long, nmi_seen);

static int bench_nmi(unsigned int type, struct pt_regs *regs)
{
	unsigned long gen = READ_ONCE(nmi_gen);

	if (!gen || this_cpu_read(nmi_seen) == gen)
		return NMI_DONE;
	/* Pairs with the smp_mb() before the NMI is sent. */
	smp_store_release(this_cpu_ptr(&nmi_seen), gen);
	return NMI_HANDLED;
}

static bool nmi_all_acked(unsigned long gen)
{
	return count_flag(&nmi_seen, gen) == num_online_cpus() - 1;
}

static int round_nmi(struct run *r, u64 *out)
{
	static unsigned long gen;
	unsigned long flags;
	bool ok;
	u64 t0;

	local_irq_save(flags);
	WRITE_ONCE(nmi_gen, ++gen);
	smp_mb();	/* nmi_gen before the NMI */
	t0 = ktime_get_ns();
	apic->send_IPI_allbutself(NMI_VECTOR);
	ok = wait_until(nmi_all_acked, gen, t0);
	*out = ktime_get_ns() - t0;
	/* Other mechanisms' NMIs may come next: leave them alone. */
	WRITE_ONCE(nmi_gen, 0);
	local_irq_restore(flags);
	if (!ok)
		r->timeout++;
	return ok ? 0 : -ETIMEDOUT;
}

/* -- hold_all: the kgdb roundup shape -- */

static unsigned long hold_release;		/* the round released */
static DEFINE_PER_CPU(unsigned long, hold_in);	/* the round acknowledged */
static DEFINE_PER_CPU(unsigned long, hold_out);	/* the round left */

static void hold_fn(void *info)
{
	unsigned long gen = (unsigned long)info;

	/* Our arrival, for count_flag() on the monarch. */
	smp_store_release(this_cpu_ptr(&hold_in), gen);
	/*
	 * Until this round or a later one is released (a late arrival);
	 * pairs with the release store of the monarch.
	 */
	while ((long)(smp_load_acquire(&hold_release) - gen) < 0)
		cpu_relax();
	/* We left, for count_flag() on the monarch. */
	smp_store_release(this_cpu_ptr(&hold_out), gen);
}

static bool hold_all_in(unsigned long gen)
{
	return count_flag(&hold_in, gen) == num_online_cpus() - 1;
}

static bool hold_all_out(unsigned long gen)
{
	return count_flag(&hold_out, gen) == num_online_cpus() - 1;
}

static int round_hold(struct run *r, u64 *gather, u64 *rtt, u64 *release)
{
	static unsigned long gen;
	bool ok;
	u64 t0, t1;

	gen++;
	preempt_disable();
	t0 = ktime_get_ns();
	smp_call_function(hold_fn, (void *)gen, 0);
	ok = wait_until(hold_all_in, gen, t0);
	t1 = ktime_get_ns();
	*gather = t1 - t0;
	/* On a timeout, release the CPUs that made it all the same. */
	smp_store_release(&hold_release, gen);
	if (ok)
		ok = wait_until(hold_all_out, gen, t0);
	*rtt = ktime_get_ns() - t0;
	*release = t0 + *rtt - t1;
	preempt_enable();
	if (!ok)
		r->timeout++;
	return ok ? 0 : -ETIMEDOUT;
}

/* -- crash_stop -- */

static int round_crash_stop(struct run *r, bool nmi, u64 *gather, u64 *rtt,
			    u64 *release)
{
	struct crash_stop_args args = {
		.callback = noop_crash_stop,
		.mode = CRASH_STOP_RESUME,
		.reason = CRASH_STOP_REASON_TEST,
		.ipi_wait_ms = nmi ? r->ipi_ms : 0,
	};
	struct crash_stop_result res;
	u64 t0, t1, wait = nmi ? (u64)r->ipi_ms * NSEC_PER_MSEC : 0;
	int ret;

	memset(&res, 0, sizeof(res));
	t0 = ktime_get_ns();
	ret = crash_stop(&args, &res);
	t1 = ktime_get_ns();
	if (ret < 0) {
		r->fail++;
		return ret;
	}
	if (res.nr_missing)
		r->missing++;
	if (nmi && !res.nr_nmi)
		r->not_nmi++;
	if (!nmi && res.nr_escalated)
		r->escalated++;
	*gather = res.gather_ns > wait ? res.gather_ns - wait : 0;
	*rtt = t1 - t0 > wait ? t1 - t0 - wait : 0;
	*release = t1 - READ_ONCE(callback_end_ns);
	return 0;
}

/* One round of @r's mechanism; stores one value per series. */
static int one_round(struct run *r, u64 *v)
{
	u64 t0;

	if (!strcmp(r->mech, "smp_call_function")) {
		t0 = ktime_get_ns();
		smp_call_function(noop_ipi, NULL, 1);
		v[0] = ktime_get_ns() - t0;
		return 0;
	}
	if (!strcmp(r->mech, "nmi_ack"))
		return round_nmi(r, &v[0]);
	if (!strcmp(r->mech, "two_waves")) {
		u64 nmi;
		int ret;

		t0 = ktime_get_ns();
		smp_call_function(noop_ipi, NULL, 1);
		ret = round_nmi(r, &nmi);
		v[0] = ktime_get_ns() - t0;
		return ret;
	}
	if (!strcmp(r->mech, "stop_machine")) {
		int ret;

		t0 = ktime_get_ns();
		ret = stop_machine(noop_stop, NULL, NULL);
		v[0] = ktime_get_ns() - t0;
		if (ret)
			r->fail++;
		return ret;
	}
	if (!strcmp(r->mech, "hold_all"))
		return round_hold(r, &v[1], &v[0], &v[2]);
	if (!strcmp(r->mech, "crash_stop"))
		return round_crash_stop(r, false, &v[1], &v[0], &v[2]);
	if (!strcmp(r->mech, "crash_stop_nmi"))
		return round_crash_stop(r, true, &v[1], &v[0], &v[2]);
	return -EINVAL;
}

/*
 * The series of each mechanism: [0] the headline, [1] the gather and [2]
 * the release if any.
 */
static const struct {
	const char *mech;
	const char *series[3];
} mechs[] = {
	{ "smp_call_function", { "smp_call_function" } },
	{ "nmi_ack", { "nmi_ack" } },
	{ "two_waves", { "two_waves" } },
	{ "stop_machine", { "stop_machine" } },
	{ "hold_all", { "hold_all", "hold_all_gather", "hold_all_release" } },
	{ "crash_stop", { "crash_stop", "crash_stop_gather", "crash_stop_release" } },
	{ "crash_stop_nmi", { "crash_stop_nmi", "crash_stop_nmi_gather",
			      "crash_stop_nmi_release" } },
};

/* The mechanisms of one run, their rounds interleaved (see bench()). */
struct batch {
	struct run r[MAX_MECHS];
	unsigned int n;
};

static bool batch_has(const struct batch *b, const char *mech)
{
	unsigned int j;

	for (j = 0; j < b->n; j++)
		if (!strcmp(b->r[j].mech, mech))
			return true;
	return false;
}

static long run_on_cpu(void *data)
{
	struct batch *b = data;
	bool nmi = batch_has(b, "nmi_ack") || batch_has(b, "two_waves");
	unsigned int i, j, k;
	u64 v[3];
	int ret = 0;

	if (nmi) {
		ret = register_nmi_handler(NMI_LOCAL, bench_nmi, 0, "cs_bench");
		if (ret)
			return ret;
	}
	/* One warm-up round, then the measured ones. */
	for (i = 0; i <= b->r[0].rounds && !ret; i++) {
		for (j = 0; j < b->n && !ret; j++) {
			struct run *r = &b->r[j];

			v[0] = v[1] = v[2] = 0;
			ret = one_round(r, v);
			if (ret || i == 0)
				continue;
			for (k = 0; k < r->nr_series; k++)
				r->s[k].ns[r->s[k].n++] = v[k];
		}
		cond_resched();
	}
	if (nmi)
		unregister_nmi_handler(NMI_LOCAL, "cs_bench");
	return ret;
}

static int cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

/* Append one BENCH_RESULT line for @s to the result buffer. */
static void summarize(struct run *r, struct series *s, bool notes)
{
	size_t room = RESULT_SIZE - result_len;
	int len;

	if (!s->n) {
		len = scnprintf(result + result_len, room,
				"BENCH_RESULT mech=%s rounds=0", s->name);
	} else {
		sort(s->ns, s->n, sizeof(*s->ns), cmp_u64, NULL);
		/* p90: the nearest rank, ceil(0.9 n). */
		len = scnprintf(result + result_len, room,
				"BENCH_RESULT mech=%s rounds=%u min=%llu median=%llu p90=%llu max=%llu",
				s->name, s->n, s->ns[0], s->ns[s->n / 2],
				s->ns[DIV_ROUND_UP(s->n * 9, 10) - 1],
				s->ns[s->n - 1]);
	}
	result_len += len;
	if (notes) {
		static const char *const names[] = {
			"escalated", "not_nmi", "missing", "timeout", "fail",
		};
		unsigned int counts[] = {
			r->escalated, r->not_nmi, r->missing, r->timeout, r->fail,
		};
		unsigned int i;

		for (i = 0; i < ARRAY_SIZE(counts); i++)
			if (counts[i])
				result_len += scnprintf(result + result_len,
							RESULT_SIZE - result_len,
							" %s=%u", names[i], counts[i]);
	}
	result_len += scnprintf(result + result_len, RESULT_SIZE - result_len, "\n");
}

/*
 * Runs the comma-separated mechanisms of @list, one round of each in turn
 * (so that a change of the host's load affects all of them alike), and
 * leaves one summary line per quantity in the result buffer.
 */
static int bench(char *list, unsigned int rounds, unsigned int ipi_ms)
{
	struct batch *b;
	char *name;
	unsigned int i, j, k;
	long ret = 0;

	if (num_online_cpus() < 2 || !cpu_online(0))
		return -ENODEV;
	b = kzalloc_obj(*b);
	if (!b)
		return -ENOMEM;
	while ((name = strsep(&list, ","))) {
		struct run *r = &b->r[b->n];

		for (i = 0; i < ARRAY_SIZE(mechs); i++)
			if (!strcmp(mechs[i].mech, name))
				break;
		if (i == ARRAY_SIZE(mechs) || b->n == MAX_MECHS ||
		    batch_has(b, name) ||
		    (!strcmp(name, "crash_stop_nmi") && !ipi_ms)) {
			ret = -EINVAL;
			goto out;
		}
		r->mech = mechs[i].mech;
		r->rounds = rounds;
		r->ipi_ms = ipi_ms;
		b->n++;
		for (k = 0; k < ARRAY_SIZE(r->s) && mechs[i].series[k]; k++) {
			r->s[k].name = mechs[i].series[k];
			r->s[k].ns = vmalloc_array(rounds, sizeof(u64));
			if (!r->s[k].ns) {
				ret = -ENOMEM;
				goto out;
			}
			r->nr_series++;
		}
	}
	if (!b->n) {
		ret = -EINVAL;
		goto out;
	}
	pr_info("%u mechanisms, %u rounds each on CPU 0, %u CPUs online\n",
		b->n, rounds, num_online_cpus());
	ret = work_on_cpu(0, run_on_cpu, b);
	result_len = 0;
	for (j = 0; j < b->n; j++) {
		for (k = 0; k < b->r[j].nr_series; k++)
			summarize(&b->r[j], &b->r[j].s[k], k == 0);
		if (ret)
			pr_warn("%s: stopped after %u rounds: %ld\n",
				b->r[j].mech, b->r[j].s[0].n, ret);
	}
out:
	for (j = 0; j < MAX_MECHS; j++)
		for (k = 0; k < ARRAY_SIZE(b->r[j].s); k++)
			vfree(b->r[j].s[k].ns);
	kfree(b);
	return ret;
}

/* ---- debugfs ----------------------------------------------------------------- */

static ssize_t run_write(struct file *file, const char __user *ubuf,
			 size_t count, loff_t *ppos)
{
	char buf[160], *p = buf, *word, mech[96] = "";
	unsigned int rounds = 0, ipi_ms = 0;
	int ret;

	if (count >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, count))
		return -EFAULT;
	buf[count] = '\0';
	while ((word = strsep(&p, " \t\n"))) {
		if (!*word)
			continue;
		if (str_has_prefix(word, "mech=")) {
			if (strscpy(mech, word + 5, sizeof(mech)) < 0)
				return -EINVAL;
		} else if (str_has_prefix(word, "rounds=")) {
			if (kstrtouint(word + 7, 10, &rounds))
				return -EINVAL;
		} else if (str_has_prefix(word, "ipi_ms=")) {
			if (kstrtouint(word + 7, 10, &ipi_ms))
				return -EINVAL;
		} else {
			return -EINVAL;
		}
	}
	if (!*mech || rounds < 1 || rounds > MAX_ROUNDS ||
	    ipi_ms > CRASH_STOP_IPI_WAIT_MAX_MS)
		return -EINVAL;
	mutex_lock(&bench_lock);
	ret = bench(mech, rounds, ipi_ms);
	mutex_unlock(&bench_lock);
	return ret ? ret : count;
}

static ssize_t run_read(struct file *file, char __user *ubuf, size_t count,
			loff_t *ppos)
{
	ssize_t ret;

	mutex_lock(&bench_lock);
	ret = simple_read_from_buffer(ubuf, count, ppos, result, result_len);
	mutex_unlock(&bench_lock);
	return ret;
}

static const struct file_operations run_fops = {
	.owner = THIS_MODULE,
	.write = run_write,
	.read = run_read,
	.llseek = default_llseek,
};

static struct dentry *dir;

static int __init bench_init(void)
{
	dir = debugfs_create_dir("crash_stop_bench", NULL);
	debugfs_create_file("run", 0600, dir, NULL, &run_fops);
	return 0;
}

static void __exit bench_exit(void)
{
	debugfs_remove(dir);
}

module_init(bench_init);
module_exit(bench_exit);
MODULE_DESCRIPTION("Latency of smp_call_function, NMI, stop_machine, hold-all and crash_stop");
MODULE_LICENSE("GPL");
