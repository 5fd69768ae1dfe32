// SPDX-License-Identifier: GPL-2.0
/*
 * crash_stop selftest: drives the debugfs test interface of
 * CONFIG_CRASH_STOP_TEST (see DEBUGFS.md) and checks the table of the last
 * crash stop. Run as root in a disposable VM: some tests hold every CPU
 * for seconds, wedge a CPU in NMI context or take a CPU offline.
 *
 * Usage: crash_stop_test [-s] [-c CYCLES] [-H HOLD_MS] [-r ROUNDS] [TEST...]
 *   -s  strict: a missing interface fails the tests instead of skipping
 *   TEST is a test name, "quick" (the default) or "all" (quick, hold and
 *   cycles; "crash" runs only when named, it oopses the kernel).
 */
#include <ctype.h>
#include <sys/syscall.h>

#include "crash_stop_util.h"

/*
 * A table row of a demo module in the kernel log: after the "module: "
 * prefix, a CPU number and how it stopped ("0    monarch ...",
 * "cpu 1 Ipi ...", "cpu=2 how=nmi ...").
 */
#define ROW_RE ": +(cpu[ =]?)?([0-9]+)[ =]+(how=)?" \
	"(monarch|ipi|nmi|caller|missing|offline|parked|none)([^a-z_]|$)"

static struct cs_last last;
static bool online[CS_MAX_CPUS];
static int nr_online, nr_cpu_ids;
static int self_cpu;
static const char *want[CS_MAX_CPUS];
static char skip_reason[256];

static unsigned int opt_cycles = 10000;
static unsigned int opt_hold_ms = 30000;
static unsigned int opt_rounds = 1000;

/* Print a diagnostic unless @ok; 1 if it failed, for "fails += check()". */
static __printf(2, 3) int check(bool ok, const char *fmt, ...)
{
	va_list ap;

	if (ok)
		return 0;
	va_start(ap, fmt);
	printf("# FAIL: ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	return 1;
}

static __printf(1, 2) int skip(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(skip_reason, sizeof(skip_reason), fmt, ap);
	va_end(ap);
	return KSFT_SKIP;
}

static int refresh_cpus(void)
{
	bool possible[CS_MAX_CPUS];
	int last_possible = -1;

	nr_online = cs_cpulist(CS_CPU_SYSFS "/online", online, NULL);
	if (cs_cpulist(CS_CPU_SYSFS "/possible", possible, &last_possible) < 0)
		return -1;
	nr_cpu_ids = last_possible + 1;
	return nr_online > 0 ? 0 : -1;
}

/* Online CPUs other than the monarch, lowest first; how many. */
static int other_cpus(int *cpus, int max)
{
	int cpu, n = 0;

	for (cpu = 0; cpu < nr_cpu_ids && n < max; cpu++)
		if (online[cpu] && cpu != self_cpu)
			cpus[n++] = cpu;
	return n;
}

/* Expected table: the monarch, IPI for the other online CPUs. */
static void want_default(void)
{
	int cpu;

	for (cpu = 0; cpu < CS_MAX_CPUS; cpu++) {
		if (cpu == self_cpu)
			want[cpu] = "monarch";
		else if (cpu < nr_cpu_ids && online[cpu])
			want[cpu] = "ipi";
		else
			want[cpu] = "offline";
	}
}

/*
 * Write @args to "stop", time it, and read "last". 0 or -errno; the time
 * taken in *@secs.
 */
static int run_stop(const char *args, double *secs)
{
	double t0 = cs_now(), dt;
	int err;

	err = cs_ctl("stop", "%s", args);
	dt = cs_now() - t0;
	if (secs)
		*secs = dt;
	printf("# stop %s: %s in %.3f s\n", args,
	       err ? strerror(-err) : "ok", dt);
	if (err)
		return err;
	err = cs_read_last(&last);
	if (err)
		printf("# reading last: %s\n", strerror(-err));
	return err;
}

static bool is_stopped_how(const char *how)
{
	return !strcmp(how, "monarch") || !strcmp(how, "ipi") ||
	       !strcmp(how, "nmi") || !strcmp(how, "caller");
}

/*
 * Check "last" against want[]: the rows, the counts in line 1 and their
 * consistency with the rows, and that every stopped kernel-mode context
 * has a symbolic ip. Prints the table when anything is wrong.
 */
static int check_table(long long gen_before)
{
	long long n_ipi = 0, n_nmi = 0, n_caller = 0, n_missing = 0;
	long long n_offline = 0, n_parked = 0;
	int cpu, fails = 0;

	fails += check(last.nr_rows == nr_cpu_ids,
		       "last has %d CPU rows, nr_cpu_ids is %d",
		       last.nr_rows, nr_cpu_ids);
	fails += check(last.gen > gen_before, "gen=%lld, was %lld before",
		       last.gen, gen_before);
	fails += check(last.monarch == self_cpu, "monarch=%lld, expected %d",
		       last.monarch, self_cpu);
	for (cpu = 0; cpu < last.nr_rows; cpu++) {
		const struct cs_row *r = &last.row[cpu];

		fails += check(!strcmp(r->how, want[cpu]),
			       "cpu %d how=%s, expected %s", cpu, r->how,
			       want[cpu]);
		if (is_stopped_how(r->how) && !r->user)
			fails += check(cs_ip_is_symbol(r->ip),
				       "cpu %d ip=%s is not a kernel symbol",
				       cpu, r->ip);
		if (is_stopped_how(r->how) && r->user)
			printf("# cpu %d was stopped in user mode at %s\n",
			       cpu, r->ip);
		n_ipi += !strcmp(r->how, "ipi");
		n_nmi += !strcmp(r->how, "nmi");
		n_caller += !strcmp(r->how, "caller");
		n_missing += !strcmp(r->how, "missing");
		n_offline += !strcmp(r->how, "offline");
		n_parked += !strcmp(r->how, "parked");
	}
	fails += check(last.stopped == n_ipi + n_nmi + n_caller,
		       "stopped=%lld, rows say %lld", last.stopped,
		       n_ipi + n_nmi + n_caller);
	fails += check(last.ret == last.stopped, "ret=%lld but stopped=%lld",
		       last.ret, last.stopped);
	fails += check(last.nmi == n_nmi, "nmi=%lld, rows say %lld",
		       last.nmi, n_nmi);
	fails += check(last.escalated >= last.nmi + n_missing,
		       "escalated=%lld < nmi + missing = %lld",
		       last.escalated, last.nmi + n_missing);
	fails += check(last.missing == n_missing, "missing=%lld, rows say %lld",
		       last.missing, n_missing);
	fails += check(last.offline == n_offline, "offline=%lld, rows say %lld",
		       last.offline, n_offline);
	fails += check(last.parked == n_parked, "parked=%lld, rows say %lld",
		       last.parked, n_parked);
	if (fails)
		cs_print_last(&last);
	return fails;
}

/* "gen" of the last stop run, -1 if "last" cannot be read. */
static long long last_gen(void)
{
	if (cs_read_last(&last))
		return -1;
	return last.gen;
}

/* A plain stop from an idle machine: everybody answers the IPI. */
static int stop_all_ipi(const char *args)
{
	long long gen = last_gen();
	int fails = 0, err;

	want_default();
	err = run_stop(args, NULL);
	fails += check(!err, "stop %s failed: %s", args, strerror(-err));
	if (!err)
		fails += check_table(gen);
	return fails;
}

/* 9b: the module parameters, at boot and at run time. */
static int test_params(void)
{
	static const struct {
		const char *name;
		long long def, max;
		const char *bad[6];
		const char *good;
	} p[] = {
		{ "ipi_wait_ms", 100, 10000,
		  { "abc", "-5", "0", "10001", "99999999999", NULL }, "250" },
		{ "nmi_wait_ms", 1000, 60000,
		  { "abc", "-1", "0", "60001", "1x", NULL }, "2500" },
	};
	char *cmdline = cs_read_file("/proc/cmdline");
	int fails = 0;
	unsigned int i;

	if (access(CS_PARAMS, F_OK))
		return skip("no %s", CS_PARAMS);
	for (i = 0; i < ARRAY_SIZE(p); i++) {
		char path[256], key[64], re[256];
		long long val = -1, expect = p[i].def, v = -1;
		bool bad_boot = false;
		const char *s;
		char *end;
		int j, err;

		snprintf(path, sizeof(path), "%s/%s", CS_PARAMS, p[i].name);
		snprintf(key, sizeof(key), "crash_stop.%s=", p[i].name);
		s = cmdline ? strstr(cmdline, key) : NULL;
		if (s) {
			s += strlen(key);
			errno = 0;
			v = strtoll(s, &end, 10);
			if (!errno && end != s && (!*end || isspace(*end)) &&
			    v >= 1 && v <= p[i].max)
				expect = v;
			else
				bad_boot = true;
		}
		err = cs_read_ll(path, &val);
		fails += check(!err, "cannot read %s: %s", path,
			       strerror(-err));
		if (err)
			continue;
		fails += check(val == expect, "%s=%lld, expected %lld%s",
			       p[i].name, val, expect,
			       bad_boot ? " (bad boot value ignored)" : "");
		if (bad_boot) {
			snprintf(re, sizeof(re),
				 "%s.*(invalid|reject|range|large|bad|ignor)|(invalid|reject|range|large|bad|ignor).*%s",
				 p[i].name, p[i].name);
			fails += check(cs_dmesg_grep(re, "command line",
						     "boot") > 0,
				       "no kernel message about the bad boot value of %s",
				       p[i].name);
		}
		for (j = 0; p[i].bad[j]; j++) {
			err = cs_write_str(path, p[i].bad[j]);
			fails += check(err == -EINVAL,
				       "writing '%s' to %s: %s, expected EINVAL",
				       p[i].bad[j], p[i].name,
				       err ? strerror(-err) : "accepted");
			err = cs_read_ll(path, &v);
			fails += check(!err && v == expect,
				       "%s=%lld after writing '%s', expected %lld",
				       p[i].name, v, p[i].bad[j], expect);
		}
		err = cs_write_str(path, p[i].good);
		fails += check(!err, "writing %s to %s: %s", p[i].good,
			       p[i].name, strerror(-err));
		err = cs_read_ll(path, &v);
		fails += check(!err && v == atoll(p[i].good),
			       "%s=%lld after writing %s", p[i].name, v,
			       p[i].good);
		snprintf(key, sizeof(key), "%lld", expect);
		err = cs_write_str(path, key);
		fails += check(!err, "restoring %s=%s: %s", p[i].name, key,
			       strerror(-err));
	}
	free(cmdline);
	return fails ? KSFT_FAIL : KSFT_PASS;
}

/* 9: malformed and out-of-range writes change nothing. */
static int test_badinput(void)
{
	/* Rejected by every file: unknown words and keys, bad values. */
	static const char * const common[] = {
		"xyz", "mode=sideways", "ipi_ms=-1", "ipi_ms=99999999999",
		"nmi_ms=60001", "repeat=0", "cpu=9999",
	};
	static const struct {
		const char *file;
		const char *args;
	} extra[] = {
		{ "stop", "ipi_ms=10001" }, { "stop", "ipi_ms=" },
		{ "stop", "ipi_ms=abc" }, { "stop", "ipi_ms=1x" },
		{ "stop", "nmi_ms=-1" }, { "stop", "hold_ms=60001" },
		{ "stop", "nest=2" }, { "stop", "cpufn=2" },
		{ "stop", "repeat=100001" }, { "stop", "mode=resume xyz" },
		{ "stop", "cpufn_ms=10" }, { "stop", "poke=1" },
		{ "stop", "handoff=1" }, { "stop", "cpufn=1 handoff=1" },
		{ "stop", "cpufn=1 cpufn_ms=10 handoff=1 mode=stay" },
		{ "stop", "cpufn=1 cpufn_ms=10001" },
		{ "stop", "cpufn=1 cpufn_cpu=9999" },
		{ "spin", "cpu=1 irqs=on regloop=1" },
		{ "panic", "a=1" }, { "panic", "a=1 b=1" },
		{ "panic", "a=0 b=9999" }, { "panic", "" },
		{ "stop", "mode=resume repeat=0" }, { "stop", "rounds=1" },
		{ "spin", "" }, { "spin", "cpu=" }, { "spin", "cpu=-1" },
		{ "spin", "cpu=1 irqs=sideways" }, { "spin", "cpu=1 ms=0" },
		{ "spin", "cpu=1 ms=120001" }, { "spin", "cpu=1 xyz" },
		{ "spin", "irqs=off ms=10" },
		{ "wedge", "" }, { "wedge", "cpu=9999 ms=10" },
		{ "wedge", "cpu=-1 ms=10" }, { "wedge", "cpu=1 ms=0" },
		{ "wedge", "cpu=1 ms=10001" },
		{ "wedge", "cpu=1 ms=99999999999" }, { "wedge", "cpu=1 ms=x" },
		{ "wedge", "cpu=1 ms=10 xyz" },
		{ "race", "" }, { "race", "rounds=0" },
		{ "race", "rounds=100001" }, { "race", "rounds=99999999999" },
		{ "race", "rounds=10 ipi_ms=10001" },
		{ "race", "rounds=10 nmi_ms=-1" },
		{ "race", "rounds=10 hold_ms=1" },
	};
	static const char * const files[] = { "stop", "spin", "wedge", "race" };
	char *race0, *race1;
	long long gen0, gen1;
	unsigned int i, j;
	int err, fails = 0;

	gen0 = last_gen();
	race0 = cs_read_file(CS_DIR "/race_result");
	for (i = 0; i < ARRAY_SIZE(files); i++) {
		for (j = 0; j < ARRAY_SIZE(common); j++) {
			err = cs_ctl(files[i], "%s", common[j]);
			fails += check(err == -EINVAL,
				       "%s '%s': %s, expected EINVAL",
				       files[i], common[j],
				       err ? strerror(-err) : "accepted");
		}
	}
	for (i = 0; i < ARRAY_SIZE(extra); i++) {
		err = cs_ctl(extra[i].file, "%s", extra[i].args);
		fails += check(err == -EINVAL, "%s '%s': %s, expected EINVAL",
			       extra[i].file, extra[i].args,
			       err ? strerror(-err) : "accepted");
	}
	/* In case a bad spin command was taken after all. */
	cs_ctl("spin", "stop");
	gen1 = last_gen();
	fails += check(gen0 >= 0 && gen1 == gen0,
		       "last gen=%lld after the bad writes, was %lld",
		       gen1, gen0);
	race1 = cs_read_file(CS_DIR "/race_result");
	fails += check(race0 && race1 && !strcmp(race0, race1),
		       "race_result changed: '%s' -> '%s'",
		       race0 ? race0 : "?", race1 ? race1 : "?");
	free(race0);
	free(race1);
	return fails ? KSFT_FAIL : KSFT_PASS;
}

/* 1: every idle CPU stops at the IPI, in a symbolised kernel context. */
static int test_idle(void)
{
	int fails = 0;

	if (nr_online < 2)
		return skip("needs 2 online CPUs");
	fails += stop_all_ipi("ipi_ms=2000 nmi_ms=1000 cpufn=1");
	fails += check(last.cpufn_runs == last.stopped,
		       "cpufn_runs=%lld, stopped=%lld", last.cpufn_runs,
		       last.stopped);
	fails += check(last.nmi == 0 && last.escalated == 0 &&
		       last.missing == 0,
		       "nmi=%lld escalated=%lld missing=%lld", last.nmi,
		       last.escalated, last.missing);
	return fails ? KSFT_FAIL : KSFT_PASS;
}

/* 2: CPUs spinning with interrupts off are stopped by NMI. */
static int test_spin(int n)
{
	int cpus[CS_MAX_CPUS], i, err, fails = 0;
	long long gen;

	if (other_cpus(cpus, n) < n)
		return skip("needs %d online CPUs", n + 1);
	gen = last_gen();
	want_default();
	for (i = 0; i < n; i++) {
		err = cs_ctl("spin", "cpu=%d irqs=off ms=20000", cpus[i]);
		fails += check(!err, "spin cpu=%d: %s", cpus[i],
			       strerror(-err));
		want[cpus[i]] = "nmi";
	}
	if (!fails) {
		err = run_stop("ipi_ms=100 nmi_ms=2000", NULL);
		fails += check(!err, "stop failed: %s", strerror(-err));
	}
	err = cs_ctl("spin", "stop");
	fails += check(!err, "spin stop: %s", strerror(-err));
	if (fails)
		return KSFT_FAIL;
	fails += check_table(gen);
	for (i = 0; i < n && cpus[i] < last.nr_rows; i++) {
		const struct cs_row *r = &last.row[cpus[i]];

		fails += check(!strncmp(r->ip, "crash_stop_test_spin+", 21),
			       "spinning cpu %d stopped at ip=%s", cpus[i],
			       r->ip);
		fails += check(r->irqs_off == 1,
			       "spinning cpu %d has irqs_off=%lld", cpus[i],
			       r->irqs_off);
		fails += check(r->stop_us >= 90000,
			       "spinning cpu %d stopped after %lld us, before the 100 ms IPI wait",
			       cpus[i], r->stop_us);
	}
	fails += check(last.nmi == n, "nmi=%lld, expected %d", last.nmi, n);
	fails += check(last.escalated >= n, "escalated=%lld, expected >= %d",
		       last.escalated, n);
	fails += check(last.missing == 0, "missing=%lld", last.missing);
	if (fails)
		cs_print_last(&last);
	return fails ? KSFT_FAIL : KSFT_PASS;
}

/* 4: crash_stop() from the callback fails with -EDEADLK. */
static int test_nest(void)
{
	int fails = 0;

	if (nr_online < 2)
		return skip("needs 2 online CPUs");
	fails += stop_all_ipi("nest=1");
	fails += check(last.nested_ret == -EDEADLK,
		       "nested_ret=%lld, expected %d", last.nested_ret,
		       -EDEADLK);
	fails += check(last.ret >= 0, "ret=%lld", last.ret);
	return fails ? KSFT_FAIL : KSFT_PASS;
}

/* 3: all CPUs call crash_stop() at once, round after round. */
static int test_race(void)
{
	long long rounds, calls, ok, busy, deadlk, other, gens, dup;
	double t0, dt;
	char *res;
	int err, fails = 0;

	if (nr_online < 2)
		return skip("needs 2 online CPUs");
	printf("# race rounds=%u on %d CPUs ...\n", opt_rounds, nr_online);
	t0 = cs_now();
	err = cs_ctl("race", "rounds=%u", opt_rounds);
	dt = cs_now() - t0;
	printf("# race: %s in %.3f s\n", err ? strerror(-err) : "ok", dt);
	fails += check(!err, "race rounds=%u: %s", opt_rounds, strerror(-err));
	res = cs_read_file(CS_DIR "/race_result");
	if (!res) {
		check(0, "cannot read race_result");
		return KSFT_FAIL;
	}
	printf("# race_result: %s", res);
	if (!cs_key_ll(res, "aborted", &other) && other)
		fails += check(0, "the race was aborted (a round timed out)");
	if (cs_key_ll(res, "rounds", &rounds) ||
	    cs_key_ll(res, "calls", &calls) || cs_key_ll(res, "ok", &ok) ||
	    cs_key_ll(res, "busy", &busy) ||
	    cs_key_ll(res, "deadlk", &deadlk) ||
	    cs_key_ll(res, "other", &other) || cs_key_ll(res, "gens", &gens) ||
	    cs_key_ll(res, "dup_monarch", &dup)) {
		free(res);
		check(0, "cannot parse race_result");
		return KSFT_FAIL;
	}
	free(res);
	fails += check(rounds == opt_rounds, "rounds=%lld, expected %u",
		       rounds, opt_rounds);
	fails += check(calls == (long long)nr_online * opt_rounds,
		       "calls=%lld, expected %d * %u", calls, nr_online,
		       opt_rounds);
	fails += check(ok + busy + deadlk + other == calls,
		       "ok + busy + deadlk + other = %lld, calls=%lld",
		       ok + busy + deadlk + other, calls);
	fails += check(ok >= rounds, "ok=%lld < rounds=%lld", ok, rounds);
	fails += check(other == 0, "other=%lld", other);
	fails += check(deadlk == 0, "deadlk=%lld", deadlk);
	fails += check(dup == 0, "dup_monarch=%lld", dup);
	fails += check(gens == ok, "gens=%lld, ok=%lld", gens, ok);
	/* And the machine still stops normally afterwards. */
	fails += stop_all_ipi("ipi_ms=2000");
	return fails ? KSFT_FAIL : KSFT_PASS;
}

/* 5: a CPU wedged in NMI context is reported missing, in bounded time. */
static int test_wedge(void)
{
	int cpus[CS_MAX_CPUS], n, cpu, i, err, fails = 0;
	long long gen;
	double dt;

	n = other_cpus(cpus, CS_MAX_CPUS);
	if (n < 1)
		return skip("needs 2 online CPUs");
	cpu = cpus[0];
	for (i = 0; i < n; i++)
		if (cpus[i] == 2)
			cpu = 2;
	cs_dmesg_clear();
	gen = last_gen();
	want_default();
	want[cpu] = "missing";
	err = cs_ctl("wedge", "cpu=%d ms=3000", cpu);
	if (err) {
		check(0, "wedge cpu=%d: %s", cpu, strerror(-err));
		return KSFT_FAIL;
	}
	err = run_stop("ipi_ms=50 nmi_ms=500", &dt);
	fails += check(!err, "stop with cpu %d wedged: %s", cpu,
		       strerror(-err));
	fails += check(dt < 2.0, "stop took %.3f s with cpu %d wedged", dt,
		       cpu);
	if (!err) {
		fails += check_table(gen);
		fails += check(last.missing == 1, "missing=%lld, expected 1",
			       last.missing);
		fails += check(last.gather_us >= 500000,
			       "gather_us=%lld, less than the 550 ms of waits",
			       last.gather_us);
	}
	/* The wedge ends after 3 s; then the CPU must answer again. */
	cs_sleep_ms(4000);
	fails += stop_all_ipi("ipi_ms=2000");
	fails += check(cs_dmesg_grep(CS_SPLAT_RE, NULL, "dmesg") == 0,
		       "kernel log complains after the wedge");
	return fails ? KSFT_FAIL : KSFT_PASS;
}

static int set_online(int cpu, int on)
{
	char path[128];

	snprintf(path, sizeof(path), CS_CPU_SYSFS "/cpu%d/online", cpu);
	return cs_write_str(path, on ? "1" : "0");
}

/* 10: an offline CPU is reported offline and not waited for. */
static int test_hotplug(void)
{
	int cpus[CS_MAX_CPUS], n, cpu, i, err, fails = 0;
	long long gen;
	double dt;
	char path[128];

	n = other_cpus(cpus, CS_MAX_CPUS);
	if (n < 1)
		return skip("needs 2 online CPUs");
	cpu = cpus[n - 1];
	for (i = 0; i < n; i++)
		if (cpus[i] == 3)
			cpu = 3;
	snprintf(path, sizeof(path), CS_CPU_SYSFS "/cpu%d/online", cpu);
	if (access(path, W_OK))
		return skip("cpu %d cannot be taken offline", cpu);
	err = set_online(cpu, 0);
	if (err) {
		check(0, "offlining cpu %d: %s", cpu, strerror(-err));
		return KSFT_FAIL;
	}
	refresh_cpus();
	gen = last_gen();
	want_default();
	err = run_stop("ipi_ms=1000 nmi_ms=2000", &dt);
	fails += check(!err, "stop with cpu %d offline: %s", cpu,
		       strerror(-err));
	if (!err) {
		fails += check_table(gen);
		fails += check(last.offline >= 1, "offline=%lld",
			       last.offline);
	}
	fails += check(dt < 0.9, "stop took %.3f s with cpu %d offline", dt,
		       cpu);
	err = set_online(cpu, 1);
	fails += check(!err, "onlining cpu %d: %s", cpu, strerror(-err));
	refresh_cpus();
	fails += check(online[cpu], "cpu %d is not online again", cpu);
	fails += stop_all_ipi("ipi_ms=2000");
	return fails ? KSFT_FAIL : KSFT_PASS;
}

/* Names of the loaded modules: " name1 name2 ... ". */
static char *module_names(void)
{
	char *mods = cs_read_file("/proc/modules"), *names, *line, *save;

	if (!mods)
		return strdup(" ");
	names = calloc(1, strlen(mods) + 3);
	if (!names) {
		free(mods);
		return NULL;
	}
	names[0] = ' ';
	for (line = strtok_r(mods, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		strncat(names, line, strcspn(line, " "));
		strcat(names, " ");
	}
	free(mods);
	return names;
}

/*
 * Mark in @seen the CPUs that have a table row in the kernel log; the
 * number of rows.
 */
static int log_rows(bool *seen)
{
	char *buf = cs_dmesg(), *line, *save = NULL;
	regmatch_t m[3];
	regex_t rx;
	int n = 0;

	memset(seen, 0, CS_MAX_CPUS * sizeof(*seen));
	if (!buf || regcomp(&rx, ROW_RE, REG_EXTENDED | REG_ICASE)) {
		free(buf);
		return 0;
	}
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		int cpu;

		if (regexec(&rx, line, 3, m, 0) || m[2].rm_so < 0)
			continue;
		cpu = atoi(line + m[2].rm_so);
		if (cpu >= 0 && cpu < CS_MAX_CPUS)
			seen[cpu] = true;
		n++;
	}
	regfree(&rx);
	free(buf);
	return n;
}

/* The demo modules: load, one table row per CPU in the log, unload. */
static int test_demo(const char *ko)
{
	char *before, *after, *p, name[64] = "";
	int fd, err = 0, rows, cpu, fails = 0;
	bool seen[CS_MAX_CPUS];

	if (access(ko, R_OK))
		return skip("%s not found", ko);
	before = module_names();
	cs_dmesg_clear();
	fd = open(ko, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || syscall(SYS_finit_module, fd, "", 0))
		err = -errno;
	if (fd >= 0)
		close(fd);
	fails += check(!err, "loading %s: %s", ko, strerror(-err));
	cs_dmesg_grep(".", NULL, "log");
	rows = log_rows(seen);
	for (cpu = 0; cpu < nr_cpu_ids; cpu++)
		if (online[cpu])
			fails += check(seen[cpu], "no table row for cpu %d in the log",
				       cpu);
	fails += check(rows >= nr_online,
		       "%d table rows in the log, expected one per CPU (%d)",
		       rows, nr_online);
	fails += check(cs_dmesg_grep(CS_SPLAT_RE, NULL, "splat") == 0,
		       "kernel log complains");
	after = module_names();
	/* The name of the module that appeared. */
	for (p = after ? strtok(after, " ") : NULL; p; p = strtok(NULL, " ")) {
		char key[80];

		snprintf(key, sizeof(key), " %s ", p);
		if (before && !strstr(before, key)) {
			snprintf(name, sizeof(name), "%s", p);
			break;
		}
	}
	free(after);
	if (!err) {
		fails += check(name[0], "no new module in /proc/modules");
		if (name[0] && syscall(SYS_delete_module, name, O_NONBLOCK))
			fails += check(0, "unloading %s: %s", name,
				       strerror(errno));
	}
	free(before);
	return fails ? KSFT_FAIL : KSFT_PASS;
}

static int test_demo_c(void)
{
	return test_demo("/modules/crash_stop_demo.ko");
}

static int test_demo_rust(void)
{
	return test_demo("/modules/rust_crash_stop_demo.ko");
}

/* 6: holding every CPU for a long time trips no detector. */
static int test_hold(void)
{
	char args[64];
	double dt;
	long long gen;
	int err, fails = 0;

	if (nr_online < 2)
		return skip("needs 2 online CPUs");
	cs_dmesg_clear();
	gen = last_gen();
	want_default();
	snprintf(args, sizeof(args), "hold_ms=%u ipi_ms=2000", opt_hold_ms);
	err = run_stop(args, &dt);
	fails += check(!err, "stop %s: %s", args, strerror(-err));
	if (!err)
		fails += check_table(gen);
	/* Loosely: the hold busy-waits with mdelay(), calibrated under TCG. */
	fails += check(dt >= opt_hold_ms / 2000.0,
		       "stop %s returned after %.3f s", args, dt);
	/* Give the lockup, stall and clocksource watchdogs time to run. */
	cs_sleep_ms(5000);
	fails += check(cs_dmesg_grep(CS_SPLAT_RE, NULL, "dmesg") == 0,
		       "kernel log complains after holding the CPUs for %u ms",
		       opt_hold_ms);
	return fails ? KSFT_FAIL : KSFT_PASS;
}

/* 7: many stop/resume cycles under a user-space load on every CPU. */
static int test_cycles(void)
{
	static unsigned long c0[CS_MAX_CPUS], c1[CS_MAX_CPUS];
	static pid_t pids[CS_MAX_CPUS];
	unsigned long *counters = cs_counters_map();
	long long gen;
	char args[96];
	double dt;
	int cpu, err, fails = 0;

	if (nr_online < 2)
		return skip("needs 2 online CPUs");
	if (!counters) {
		check(0, "mmap: %s", strerror(errno));
		return KSFT_FAIL;
	}
	err = cs_loads_start(counters, online, pids);
	if (err) {
		check(0, "starting the loads: %s", strerror(-err));
		cs_loads_stop(pids);
		return KSFT_FAIL;
	}
	cs_dmesg_clear();
	gen = last_gen();
	for (cpu = 0; cpu < nr_cpu_ids; cpu++)
		c0[cpu] = cs_counter(counters, cpu);
	snprintf(args, sizeof(args), "repeat=%u ipi_ms=2000 nmi_ms=2000",
		 opt_cycles);
	printf("# %u cycles with a load on each of %d CPUs ...\n",
	       opt_cycles, nr_online);
	err = run_stop(args, &dt);
	for (cpu = 0; cpu < nr_cpu_ids; cpu++)
		c1[cpu] = cs_counter(counters, cpu);
	printf("# %u cycles in %.3f s, %.0f us per cycle\n", opt_cycles, dt,
	       dt * 1e6 / opt_cycles);
	fails += check(!err, "stop %s: %s", args, strerror(-err));
	if (!err) {
		fails += check(last.cycles == opt_cycles,
			       "cycles=%lld, expected %u", last.cycles,
			       opt_cycles);
		fails += check(last.gen >= gen + opt_cycles,
			       "gen=%lld, was %lld before %u cycles",
			       last.gen, gen, opt_cycles);
		fails += check(last.ret >= 0 && last.missing == 0 &&
			       last.stopped == nr_online - 1,
			       "last cycle: ret=%lld stopped=%lld missing=%lld",
			       last.ret, last.stopped, last.missing);
	}
	cs_sleep_ms(1000);
	for (cpu = 0; cpu < nr_cpu_ids; cpu++) {
		unsigned long c2 = cs_counter(counters, cpu);

		if (!online[cpu])
			continue;
		printf("# load on cpu %d: %lu before, %lu after the cycles, %lu 1 s later\n",
		       cpu, c0[cpu], c1[cpu], c2);
		if (cpu != self_cpu)
			fails += check(c1[cpu] > c0[cpu],
				       "load on cpu %d made no progress during the cycles",
				       cpu);
		fails += check(c2 > c1[cpu],
			       "load on cpu %d made no progress after the cycles",
			       cpu);
	}
	cs_loads_stop(pids);
	munmap(counters, CS_MAX_CPUS * CS_SLOT_WORDS * sizeof(long));
	fails += check(cs_dmesg_grep(CS_SPLAT_RE, NULL, "dmesg") == 0,
		       "kernel log complains after the cycles");
	return fails ? KSFT_FAIL : KSFT_PASS;
}

/*
 * The callback oopses (crash=1): the writer dies, and the die notifier
 * must let the other CPUs go on; crash_stop works again afterwards.
 */
static int test_crash(void)
{
	static pid_t pids[CS_MAX_CPUS];
	static unsigned long c0[CS_MAX_CPUS];
	unsigned long *counters = cs_counters_map();
	bool others[CS_MAX_CPUS];
	int cpu, status = 0, err, fails = 0;
	pid_t child, w = 0;
	double t0;

	if (nr_online < 2)
		return skip("needs 2 online CPUs");
	if (!counters) {
		check(0, "mmap: %s", strerror(errno));
		return KSFT_FAIL;
	}
	memcpy(others, online, sizeof(others));
	others[self_cpu] = false;
	err = cs_loads_start(counters, others, pids);
	if (err) {
		check(0, "starting the loads: %s", strerror(-err));
		cs_loads_stop(pids);
		return KSFT_FAIL;
	}
	cs_dmesg_clear();
	fflush(stdout);
	child = fork();
	if (child == 0) {
		/* Killed by the oops; if not, say how it went. */
		err = cs_ctl("stop", "crash=1");
		_exit(err ? 3 : 2);
	}
	fails += check(child > 0, "fork: %s", strerror(errno));
	t0 = cs_now();
	while (child > 0 && cs_now() - t0 < 30) {
		w = waitpid(child, &status, WNOHANG);
		if (w)
			break;
		cs_sleep_ms(50);
	}
	printf("# the writer %s after %.1f s\n",
	       w <= 0 ? "did not end" :
	       WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) :
	       WEXITSTATUS(status) == 2 ? "returned success" :
	       "returned an error", cs_now() - t0);
	fails += check(w == child && WIFSIGNALED(status),
		       "the writer of crash=1 was not killed by the oops");
	for (cpu = 0; cpu < nr_cpu_ids; cpu++)
		c0[cpu] = cs_counter(counters, cpu);
	cs_sleep_ms(1000);
	for (cpu = 0; cpu < nr_cpu_ids; cpu++)
		if (others[cpu])
			fails += check(cs_counter(counters, cpu) > c0[cpu],
				       "load on cpu %d stands still after the oops",
				       cpu);
	cs_loads_stop(pids);
	munmap(counters, CS_MAX_CPUS * CS_SLOT_WORDS * sizeof(long));
	cs_dmesg_grep("crash_stop|Oops|BUG:|RIP:", NULL, "dmesg");
	fails += check(cs_dmesg_grep("crashing inside the callback", NULL,
				     NULL) > 0,
		       "the callback did not say it crashes");
	fails += check(cs_dmesg_grep("Oops|BUG:", NULL, NULL) > 0,
		       "no oops in the kernel log");
	/* crash_stop itself is usable again. */
	fails += stop_all_ipi("ipi_ms=2000");
	return fails ? KSFT_FAIL : KSFT_PASS;
}

/*
 * 11: the contract callers rely on. Every stopped CPU's cpu_callback has
 * returned when the monarch's callback starts, and it was handed the live
 * frame its row was copied from.
 */
static int test_order(void)
{
	int fails = 0;

	if (nr_online < 2)
		return skip("needs 2 online CPUs");
	fails += stop_all_ipi("ipi_ms=2000 cpufn=1 cpufn_ms=50");
	fails += check(last.cpufn_done == last.stopped,
		       "cpufn_done=%lld when the monarch's callback began, stopped=%lld",
		       last.cpufn_done, last.stopped);
	fails += check(last.cpufn_runs == last.stopped,
		       "cpufn_runs=%lld, stopped=%lld", last.cpufn_runs,
		       last.stopped);
	fails += check(last.cpufn_regs_ok == last.stopped,
		       "cpufn_regs_ok=%lld, stopped=%lld: a cpu_callback was not handed the frame of its row",
		       last.cpufn_regs_ok, last.stopped);
	fails += check(last.cpufn_after_return == 0,
		       "cpufn_after_return=%lld", last.cpufn_after_return);
	return fails ? KSFT_FAIL : KSFT_PASS;
}

/*
 * 12: a cpu_callback longer than the old 1 s release bound: crash_stop()
 * waits for it, and no CPU touches the caller's memory after it returned.
 */
static int test_slowcpufn(void)
{
	int cpus[CS_MAX_CPUS], cpu, fails = 0, err;
	long long gen;
	double dt;
	char args[128];

	if (other_cpus(cpus, 1) < 1)
		return skip("needs 2 online CPUs");
	cpu = cpus[0];
	gen = last_gen();
	want_default();
	snprintf(args, sizeof(args), "cpufn=1 cpufn_ms=1500 cpufn_cpu=%d", cpu);
	err = run_stop(args, &dt);
	fails += check(!err, "stop %s: %s", args, strerror(-err));
	if (err)
		return KSFT_FAIL;
	fails += check_table(gen);
	fails += check(dt >= 1.5, "stop returned after %.3f s, before the 1.5 s callback", dt);
	fails += check(last.cpufn_after_return == 0,
		       "cpufn_after_return=%lld: a cpu_callback ran on after crash_stop() returned",
		       last.cpufn_after_return);
	fails += check(last.cpufn_done == last.stopped,
		       "cpufn_done=%lld, stopped=%lld", last.cpufn_done,
		       last.stopped);
	return fails ? KSFT_FAIL : KSFT_PASS;
}

/*
 * 12b: CRASH_STOP_HANDOFF: the CPUs are handed to their cpu_callback: it
 * runs after they reported stopped, on after crash_stop() returned, with
 * the frame their row was taken from.
 */
static int test_handoff(void)
{
	int fails = 0;

	if (nr_online < 2)
		return skip("needs 2 online CPUs");
	fails += stop_all_ipi("ipi_ms=2000 cpufn=1 cpufn_ms=300 handoff=1");
	fails += check(last.cpufn_done == 0,
		       "cpufn_done=%lld when the monarch's callback began, expected 0 (still handed off)",
		       last.cpufn_done);
	fails += check(last.cpufn_after_return == last.stopped,
		       "cpufn_after_return=%lld, stopped=%lld: handed-off callbacks end after crash_stop() returns",
		       last.cpufn_after_return, last.stopped);
	fails += check(last.cpufn_regs_ok == last.stopped,
		       "cpufn_regs_ok=%lld, stopped=%lld", last.cpufn_regs_ok,
		       last.stopped);
	/* And a normal stop right after: nobody is left behind. */
	fails += stop_all_ipi("ipi_ms=2000");
	return fails ? KSFT_FAIL : KSFT_PASS;
}

/* Gaps of a heartbeat loop, in shared memory. */
#define HB_GAPS		64
struct heartbeat {
	long long beats;
	int n;
	double gap[HB_GAPS][2];
};

/* Count, and note every stretch of over 100 ms in which it did not run. */
static __noreturn void heartbeat_loop(struct heartbeat *hb)
{
	double prev = cs_now(), now;
	int n = 0;

	for (;;) {
		now = cs_now();
		if (now - prev > 0.1 && n < HB_GAPS) {
			hb->gap[n][0] = prev;
			hb->gap[n][1] = now;
			__atomic_store_n(&hb->n, ++n, __ATOMIC_RELEASE);
		}
		prev = now;
		__atomic_add_fetch(&hb->beats, 1, __ATOMIC_RELAXED);
	}
}

/*
 * 13: a CPU that answers after it was given up on is held until the
 * release like the others, and is reported late.
 */
static int test_late(void)
{
	int cpus[CS_MAX_CPUS], n, cpu, i, err, fails = 0;
	struct heartbeat *hb;
	double t0, t1, hb_end = 0;
	long long gen;
	pid_t pid;

	n = other_cpus(cpus, CS_MAX_CPUS);
	if (n < 1)
		return skip("needs 2 online CPUs");
	cpu = cpus[n - 1];
	hb = mmap(NULL, sizeof(*hb), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (hb == MAP_FAILED) {
		check(0, "mmap: %s", strerror(errno));
		return KSFT_FAIL;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		prctl(PR_SET_NAME, "cs_heartbeat");
		if (cs_pin(cpu))
			_exit(1);
		heartbeat_loop(hb);
	}
	for (i = 0; i < 200 && !__atomic_load_n(&hb->beats, __ATOMIC_RELAXED); i++)
		cs_sleep_ms(10);
	fails += check(pid > 0 && __atomic_load_n(&hb->beats, __ATOMIC_RELAXED),
		       "heartbeat on cpu %d did not start", cpu);
	cs_sleep_ms(200);
	gen = last_gen();
	want_default();
	want[cpu] = "missing";
	if (!fails) {
		err = cs_ctl("wedge", "cpu=%d ms=600", cpu);
		fails += check(!err, "wedge cpu=%d: %s", cpu, strerror(-err));
	}
	if (!fails) {
		t0 = cs_now();
		err = run_stop("ipi_ms=100 nmi_ms=300 hold_ms=2000", NULL);
		t1 = cs_now();
		fails += check(!err, "stop: %s", strerror(-err));
		cs_sleep_ms(300);
		if (!err) {
			fails += check_table(gen);
			fails += check(last.row[cpu].late == 1,
				       "cpu %d late=%lld, expected 1", cpu,
				       last.row[cpu].late);
			fails += check(last.late == 1, "late=%lld, expected 1",
				       last.late);
		}
		/* The heartbeat's gap that covers the start of the stop. */
		for (i = 0; i < __atomic_load_n(&hb->n, __ATOMIC_ACQUIRE); i++)
			if (hb->gap[i][0] <= t0 && hb->gap[i][1] >= t0)
				hb_end = hb->gap[i][1];
		printf("# stop from %.3f to %.3f; heartbeat on cpu %d stood still until %.3f\n",
		       t0, t1, cpu, hb_end);
		/*
		 * Released no earlier than the 2 s hold after the gather; a
		 * late CPU running free would beat on after its 0.6 s wedge.
		 * (Not against t1: on a loaded host the monarch's return can
		 * lag the release by more than the hold's margin.)
		 */
		fails += check(hb_end >= t0 + 2.0,
			       "the heartbeat on cpu %d ran again at %.3f, %.3f s into the 2 s hold",
			       cpu, hb_end, hb_end - t0);
	}
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	munmap(hb, sizeof(*hb));
	return fails ? KSFT_FAIL : KSFT_PASS;
}

/*
 * 14: the monarch's row describes the function that called crash_stop()
 * (the test interface's stop_write()), and the kernel's unwinder walks on
 * from there into the write(2) path.
 */
static int test_monarch_regs(void)
{
	const struct cs_row *r;
	int fails = 0;

	fails += stop_all_ipi("ipi_ms=2000");
	if (fails)
		return KSFT_FAIL;
	r = &last.row[self_cpu];
	fails += check(!strncmp(r->ip, "stop_write+", 11),
		       "monarch ip=%s, expected stop_write+...", r->ip);
	fails += check(!strncmp(last.monarch_trace, "stop_write<", 11) &&
		       strstr(last.monarch_trace, "vfs_write") &&
		       !strstr(last.monarch_trace, "error"),
		       "monarch_trace=%s, expected stop_write<...vfs_write...",
		       last.monarch_trace);
	printf("# monarch ip=%s trace=%s\n", r->ip, last.monarch_trace);
	return fails ? KSFT_FAIL : KSFT_PASS;
}

/*
 * 15: a cpu_callback's register frame is live: writing it changes what the
 * CPU resumes with. A CPU spins with interrupts off in a loop that only a
 * write to its saved %rax ends; the callback writes it.
 */
static int test_poke(void)
{
	int cpus[CS_MAX_CPUS], cpu, tries, err, fails = 0;
	char re[128];
	bool poked = false;

	if (other_cpus(cpus, 1) < 1)
		return skip("needs 2 online CPUs");
	cpu = cpus[0];
	snprintf(re, sizeof(re), "regloop on CPU%d ended by a write to its saved registers", cpu);
	for (tries = 0; tries < 3 && !poked && !fails; tries++) {
		cs_dmesg_clear();
		err = cs_ctl("spin", "cpu=%d irqs=off regloop=1 ms=20000", cpu);
		fails += check(!err, "spin cpu=%d regloop=1: %s", cpu, strerror(-err));
		if (err)
			break;
		err = run_stop("ipi_ms=50 nmi_ms=2000 cpufn=1 poke=1", NULL);
		fails += check(!err, "stop: %s", strerror(-err));
		if (!err) {
			fails += check(!strcmp(last.row[cpu].how, "nmi"),
				       "cpu %d how=%s, expected nmi", cpu, last.row[cpu].how);
			poked = last.poked == 1;
			if (!poked)
				printf("# the NMI caught cpu %d outside the loop (ip=%s), again\n",
				       cpu, last.row[cpu].ip);
		}
		if (poked) {
			int i;

			for (i = 0; i < 50 && cs_dmesg_grep(re, NULL, NULL) < 1; i++)
				cs_sleep_ms(100);
			fails += check(cs_dmesg_grep(re, NULL, "dmesg") >= 1,
				       "the poked loop on cpu %d did not end", cpu);
		}
		cs_ctl("spin", "stop");
	}
	fails += check(poked, "no cpu_callback found cpu %d in the loop", cpu);
	return fails ? KSFT_FAIL : KSFT_PASS;
}

/* The per-CPU counts of the /proc/interrupts line @label, by CPU. */
static int read_irq_line(const char *label, long long *count)
{
	char *buf = cs_read_file("/proc/interrupts"), *line, *save = NULL;
	int col2cpu[CS_MAX_CPUS], ncol = 0, cpu, ret = -1;

	for (cpu = 0; cpu < CS_MAX_CPUS; cpu++)
		count[cpu] = -1;
	if (!buf)
		return -1;
	line = strtok_r(buf, "\n", &save);
	for (char *p = line; p && (p = strstr(p, "CPU")); p += 3)
		if (ncol < CS_MAX_CPUS)
			col2cpu[ncol++] = atoi(p + 3);
	while ((line = strtok_r(NULL, "\n", &save))) {
		char *p = line, *end;
		int col;

		while (*p == ' ')
			p++;
		if (strncmp(p, label, strlen(label)))
			continue;
		p += strlen(label);
		for (col = 0; col < ncol; col++) {
			long long v = strtoll(p, &end, 10);

			if (end == p)
				break;
			count[col2cpu[col]] = v;
			p = end;
		}
		ret = col == ncol ? 0 : -1;
	}
	free(buf);
	return ret;
}

/* The per-CPU CSP counts of /proc/interrupts, by CPU; -1 if absent. */
static int read_csp(long long *count)
{
	return read_irq_line("CSP:", count);
}

/* 16: the crash_stop IPI is counted in /proc/interrupts ("CSP"). */
static int test_interrupts(void)
{
	static long long before[CS_MAX_CPUS], after[CS_MAX_CPUS];
	int cpu, fails = 0;

	if (nr_online < 2)
		return skip("needs 2 online CPUs");
	fails += check(read_csp(before) == 0, "no CSP line in /proc/interrupts");
	fails += stop_all_ipi("ipi_ms=2000");
	fails += check(read_csp(after) == 0, "no CSP line in /proc/interrupts");
	if (fails)
		return KSFT_FAIL;
	for (cpu = 0; cpu < last.nr_rows; cpu++)
		if (!strcmp(last.row[cpu].how, "ipi"))
			fails += check(after[cpu] > before[cpu],
				       "cpu %d stopped by IPI, CSP count %lld -> %lld",
				       cpu, before[cpu], after[cpu]);
	return fails ? KSFT_FAIL : KSFT_PASS;
}

/*
 * One stop of every CPU by IPI (no escalation) with crash_stop.halt=@halt;
 * fails unless each CPU stopped by the IPI took NMIs as expected: at least
 * the one wake-up NMI of its halted hold (another one every REWAKE_NS while
 * it has not left), or none when it spins. Performance-monitoring
 * interrupts (the "PMI" line: perf, the perf hard-lockup detector) are NMIs
 * too and are not counted.
 */
static int halt_round(int halt)
{
	static long long before[CS_MAX_CPUS], after[CS_MAX_CPUS];
	static long long pmi0[CS_MAX_CPUS], pmi1[CS_MAX_CPUS];
	int cpu, fails = 0, n = 0;

	if (cs_write_str(CS_PARAMS "/halt", halt ? "1" : "0"))
		return check(0, "cannot write %s/halt", CS_PARAMS);
	/* No PMI line (no such interrupts): both read -1, a difference of 0. */
	read_irq_line("PMI:", pmi0);
	fails += check(read_irq_line("NMI:", before) == 0, "no NMI line in /proc/interrupts");
	fails += stop_all_ipi("ipi_ms=2000 hold_ms=200");
	fails += check(read_irq_line("NMI:", after) == 0, "no NMI line in /proc/interrupts");
	read_irq_line("PMI:", pmi1);
	if (fails)
		return fails;
	for (cpu = 0; cpu < last.nr_rows; cpu++) {
		long long got = after[cpu] - before[cpu] - (pmi1[cpu] - pmi0[cpu]);

		if (strcmp(last.row[cpu].how, "ipi"))
			continue;
		n++;
		fails += check(halt ? got >= 1 : got == 0,
			       "halt=%d: cpu %d stopped by IPI took %lld NMIs, expected %s",
			       halt, cpu, got, halt ? "1 or more" : "none");
	}
	printf("# halt=%d: %d CPUs stopped by IPI, %s\n", halt, n,
	       fails ? "NMI counts wrong" : "NMI counts as expected");
	return fails + check(n > 0, "halt=%d: no CPU was stopped by IPI", halt);
}

/*
 * 18: held CPUs stopped by the IPI wait halted and are woken by NMIs
 * (crash_stop.halt=1, the default), or spin and take none
 * (crash_stop.halt=0); no NMI is reported as unknown.
 */
static int test_halt(void)
{
	char *was;
	bool on;
	int fails = 0;

	if (nr_online < 2)
		return skip("needs 2 online CPUs");
	if (access(CS_PARAMS "/halt", W_OK))
		return skip("no %s/halt", CS_PARAMS);
	/* A bool parameter reads "Y" or "N"; put it back as it was. */
	was = cs_read_file(CS_PARAMS "/halt");
	on = was && was[0] == 'Y';
	free(was);
	cs_dmesg_clear();
	fails += halt_round(1);
	fails += halt_round(0);
	fails += halt_round(1);
	cs_write_str(CS_PARAMS "/halt", on ? "1" : "0");
	fails += check(!cs_dmesg_grep("unknown reason", NULL, "unknown NMI"),
		       "an NMI was reported as unknown");
	return fails ? KSFT_FAIL : KSFT_PASS;
}

/* 17: the NMI path is on the kprobe blacklist. */
static int test_nokprobe(void)
{
	static const char * const names[] = {
		"crash_stop_nmi", "crash_stop_handle_nmi", "crash_stop_handle_ipi",
		"crash_stop_arch_relax", "crash_stop_arch_now_ns",
		"crash_stop_arch_send_nmi", "crash_stop_arch_park",
		"crash_stop_arch_regs_irqs_off", "crash_stop_arch_regs_user",
		"crash_stop_task_info", "crash_stop_cpu_resumed",
		"crash_stop_arch_halt_while", "crash_stop_arch_may_halt",
		"crash_stop_halt_enabled", "rust_helper_raw_smp_processor_id",
	};
	char *list = cs_read_file("/sys/kernel/debug/kprobes/blacklist");
	unsigned int i;
	int fails = 0;

	if (!list)
		return skip("no /sys/kernel/debug/kprobes/blacklist (CONFIG_KPROBES?)");
	for (i = 0; i < ARRAY_SIZE(names); i++) {
		char word[80];

		snprintf(word, sizeof(word), "\t%s\n", names[i]);
		fails += check(strstr(list, word) != NULL,
			       "%s is not on the kprobe blacklist", names[i]);
	}
	free(list);
	return fails ? KSFT_FAIL : KSFT_PASS;
}

static int test_spin1(void)
{
	return test_spin(1);
}

static int test_spin3(void)
{
	return test_spin(3);
}

/* Which tests "quick" and "all" select; the others only by name. */
enum { QUICK, LONG, ALONE };

static const struct {
	const char *name;
	int (*fn)(void);
	int set;
} tests[] = {
	{ "params", test_params, QUICK },
	{ "badinput", test_badinput, QUICK },
	{ "idle", test_idle, QUICK },
	{ "spin1", test_spin1, QUICK },
	{ "spin3", test_spin3, QUICK },
	{ "nest", test_nest, QUICK },
	{ "race", test_race, QUICK },
	{ "wedge", test_wedge, QUICK },
	{ "hotplug", test_hotplug, QUICK },
	{ "demo_c", test_demo_c, QUICK },
	{ "demo_rust", test_demo_rust, QUICK },
	{ "order", test_order, QUICK },
	{ "slowcpufn", test_slowcpufn, QUICK },
	{ "handoff", test_handoff, QUICK },
	{ "late", test_late, QUICK },
	{ "monarch_regs", test_monarch_regs, QUICK },
	{ "halt", test_halt, QUICK },
	{ "poke", test_poke, QUICK },
	{ "interrupts", test_interrupts, QUICK },
	{ "nokprobe", test_nokprobe, QUICK },
	{ "hold", test_hold, LONG },
	{ "cycles", test_cycles, LONG },
	{ "crash", test_crash, ALONE },
};

/*
 * Wait (up to 10 s) while the kernel may still switch from tsc-early to
 * tsc, about 2 s after boot: the switch is a stop_machine(), which waits
 * for an IRQ-off spinner of a test to end and then stalls the next test.
 */
static void clocksource_settled(void)
{
	int i;

	for (i = 0; i < 100; i++) {
		char *cs = cs_read_file("/sys/devices/system/clocksource/clocksource0/current_clocksource");
		bool early = cs && !strncmp(cs, "tsc-early", 9);

		free(cs);
		if (!early)
			return;
		cs_sleep_ms(100);
	}
}

/* NULL if the interface is there, else why not. */
static const char *precheck(void)
{
	if (geteuid())
		return "must be run as root";
	clocksource_settled();
	cs_mount_debugfs();
	if (access(CS_DIR "/stop", F_OK))
		return "no " CS_DIR " (CONFIG_CRASH_STOP_TEST=y?)";
	if (refresh_cpus())
		return "cannot read the CPU lists in " CS_CPU_SYSFS;
	if (cs_pin(self_cpu))
		return "cannot pin to CPU 0";
	return NULL;
}

static void usage(const char *prog)
{
	unsigned int i;

	fprintf(stderr,
		"Usage: %s [-s] [-c CYCLES] [-H HOLD_MS] [-r ROUNDS] [TEST...]\n"
		"  -s  fail instead of skipping when the interface is missing\n"
		"tests: quick (default), all,", prog);
	for (i = 0; i < ARRAY_SIZE(tests); i++)
		fprintf(stderr, " %s", tests[i].name);
	fprintf(stderr, "\n");
	exit(KSFT_FAIL);
}

static unsigned int parse_uint(const char *s, const char *prog)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || !v || v > 1000000)
		usage(prog);
	return v;
}

int main(int argc, char **argv)
{
	bool sel[ARRAY_SIZE(tests)] = { false }, any = false, strict = false;
	const char *why;
	unsigned int i, plan = 0;
	int opt, rc;

	while ((opt = getopt(argc, argv, "sc:H:r:h")) != -1) {
		switch (opt) {
		case 's':
			strict = true;
			break;
		case 'c':
			opt_cycles = parse_uint(optarg, argv[0]);
			break;
		case 'H':
			opt_hold_ms = parse_uint(optarg, argv[0]);
			break;
		case 'r':
			opt_rounds = parse_uint(optarg, argv[0]);
			break;
		default:
			usage(argv[0]);
		}
	}
	for (; optind < argc; optind++) {
		bool found = false;

		for (i = 0; i < ARRAY_SIZE(tests); i++) {
			if ((!strcmp(argv[optind], "all") &&
			     tests[i].set != ALONE) ||
			    (!strcmp(argv[optind], "quick") &&
			     tests[i].set == QUICK) ||
			    !strcmp(argv[optind], tests[i].name)) {
				sel[i] = true;
				found = true;
			}
		}
		if (!found)
			usage(argv[0]);
		any = true;
	}
	for (i = 0; i < ARRAY_SIZE(tests); i++) {
		if (!any)
			sel[i] = tests[i].set == QUICK;
		plan += sel[i];
	}

	ksft_print_header();
	ksft_set_plan(plan);
	why = precheck();
	if (why)
		ksft_print_msg("%s\n", why);
	else
		ksft_print_msg("%d of %d CPUs online, testing from cpu %d\n",
			       nr_online, nr_cpu_ids, self_cpu);
	for (i = 0; i < ARRAY_SIZE(tests); i++) {
		char name[64];
		double t0;

		if (!sel[i])
			continue;
		snprintf(name, sizeof(name), "- %s", tests[i].name);
		skip_reason[0] = '\0';
		if (why && strict) {
			ksft_test_result_code(KSFT_FAIL, name, NULL);
			continue;
		}
		if (why) {
			ksft_test_result_code(KSFT_SKIP, name, "%s", why);
			continue;
		}
		ksft_print_msg("%s ...\n", tests[i].name);
		t0 = cs_now();
		refresh_cpus();
		rc = tests[i].fn();
		ksft_print_msg("%s: %.1f s\n", tests[i].name, cs_now() - t0);
		if (rc == KSFT_SKIP)
			ksft_test_result_code(rc, name, "%s", skip_reason);
		else
			ksft_test_result_code(rc, name, NULL);
	}
	ksft_finished();
}
