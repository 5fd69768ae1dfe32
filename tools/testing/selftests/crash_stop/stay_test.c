// SPDX-License-Identifier: GPL-2.0
/*
 * stay_test: a crash stop in CRASH_STOP_STAY mode, which parks every other
 * CPU for good. Only for a disposable VM, as the last thing it does:
 * afterwards only CPU 0 runs.
 *
 * Usage: stay_test [-s] [-p]
 *   -s  strict: a missing interface fails the tests instead of skipping
 *   -p  then print "CRASH_STOP_GUEST_END rc=N" and power the machine off
 *
 * It moves every task and interrupt it can to CPU 0 and pins itself there,
 * starts a busy loop pinned to each other CPU, stops with mode=stay, and
 * checks that the loops froze while CPU 0 goes on. Nothing after the stop
 * may need another CPU: no fork, no exit of the loops, no sleeping tasks
 * woken elsewhere.
 */
#include <dirent.h>
#include <termios.h>
#include <sys/reboot.h>

#include "crash_stop_util.h"

static struct cs_last last;

/* Best effort: run every task (thread) and interrupt on CPU 0 only. */
static void everything_to_cpu0(void)
{
	struct dirent *p, *t;
	cpu_set_t set;
	DIR *procs, *tasks;
	char path[300];
	int moved = 0, irqs = 0;

	CPU_ZERO(&set);
	CPU_SET(0, &set);
	procs = opendir("/proc");
	while (procs && (p = readdir(procs))) {
		if (p->d_name[0] < '1' || p->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/task", p->d_name);
		tasks = opendir(path);
		while (tasks && (t = readdir(tasks))) {
			if (t->d_name[0] < '1' || t->d_name[0] > '9')
				continue;
			if (!sched_setaffinity(atoi(t->d_name), sizeof(set),
					       &set))
				moved++;
		}
		if (tasks)
			closedir(tasks);
	}
	if (procs)
		closedir(procs);
	cs_write_str("/proc/irq/default_smp_affinity", "1");
	procs = opendir("/proc/irq");
	while (procs && (p = readdir(procs))) {
		if (p->d_name[0] < '0' || p->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/irq/%s/smp_affinity",
			 p->d_name);
		if (!cs_write_str(path, "1"))
			irqs++;
	}
	if (procs)
		closedir(procs);
	/* An x86 IRQ moves at its next interrupt: make the console's. */
	ksft_print_msg("moved %d tasks and %d irqs to cpu 0\n", moved, irqs);
	cs_sleep_ms(200);
}

static const char * const names[] = {
	"- stay_stop", "- stay_table", "- stay_frozen"
};

static void result(bool ok, int i)
{
	ksft_test_result_code(ok ? KSFT_PASS : KSFT_FAIL, names[i], NULL);
}

int main(int argc, char **argv)
{
	static unsigned long c0[CS_MAX_CPUS], c1[CS_MAX_CPUS];
	static bool online[CS_MAX_CPUS], others[CS_MAX_CPUS];
	static pid_t pids[CS_MAX_CPUS];
	bool strict = false, poweroff = false, ok_stop, ok_table, ok_frozen;
	unsigned long *counters;
	const char *why = NULL;
	int opt, cpu, nr_online, nr_others, err = -1, rc;

	while ((opt = getopt(argc, argv, "sp")) != -1) {
		if (opt == 's') {
			strict = true;
		} else if (opt == 'p') {
			poweroff = true;
		} else {
			fprintf(stderr, "Usage: %s [-s] [-p]\n", argv[0]);
			return KSFT_FAIL;
		}
	}
	ksft_print_header();
	ksft_set_plan(3);

	cs_mount_debugfs();
	nr_online = cs_cpulist(CS_CPU_SYSFS "/online", online, NULL);
	memcpy(others, online, sizeof(others));
	others[0] = false;
	nr_others = nr_online - 1;
	counters = cs_counters_map();
	if (geteuid())
		why = "must be run as root";
	else if (access(CS_DIR "/stop", F_OK))
		why = "no " CS_DIR " (CONFIG_CRASH_STOP_TEST=y?)";
	else if (nr_others < 1)
		why = "needs 2 online CPUs";
	else if (!online[0] || cs_pin(0))
		why = "cannot run on cpu 0";
	else if (!counters)
		why = "cannot map the counters";
	if (why) {
		ksft_print_msg("%s\n", why);
		for (cpu = 0; cpu < 3; cpu++) {
			if (strict)
				result(false, cpu);
			else
				ksft_test_result_code(KSFT_SKIP, names[cpu],
						      "%s", why);
		}
		goto out;
	}

	everything_to_cpu0();
	if (cs_loads_start(counters, others, pids)) {
		ksft_print_msg("cannot start the loads\n");
		err = -ECHILD;
		goto stop;
	}
	for (cpu = 0; cpu < CS_MAX_CPUS; cpu++)
		c0[cpu] = cs_counter(counters, cpu);
	cs_sleep_ms(200);
	for (cpu = 0; cpu < CS_MAX_CPUS; cpu++) {
		if (others[cpu] && cs_counter(counters, cpu) == c0[cpu]) {
			ksft_print_msg("load on cpu %d does not run\n", cpu);
			err = -ECHILD;
			goto stop;
		}
	}
	ksft_print_msg("loads running on %d CPUs; stop mode=stay from cpu 0\n",
		       nr_others);
	err = cs_ctl("stop", "mode=stay ipi_ms=1000 nmi_ms=2000");
	/* From here on, only CPU 0 runs. */
stop:
	ksft_print_msg("stop mode=stay: %s\n", err ? strerror(-err) : "ok");
	if (!err)
		err = cs_read_last(&last);
	for (cpu = 0; cpu < CS_MAX_CPUS; cpu++)
		c0[cpu] = cs_counter(counters, cpu);
	cs_sleep_ms(1000);
	for (cpu = 0; cpu < CS_MAX_CPUS; cpu++)
		c1[cpu] = cs_counter(counters, cpu);

	ok_stop = !err && last.ret == nr_others;
	if (!ok_stop)
		ksft_print_msg("ret=%lld, expected %d\n", last.ret, nr_others);
	result(ok_stop, 0);

	ok_table = !err && last.monarch == 0 && last.stopped == nr_others &&
		   last.missing == 0 && last.parked == 0 &&
		   last.nr_rows > nr_others;
	for (cpu = 0; !err && cpu < last.nr_rows; cpu++) {
		const char *how = last.row[cpu].how;
		bool ok;

		if (cpu == 0)
			ok = !strcmp(how, "monarch");
		else if (others[cpu])
			ok = !strcmp(how, "ipi") || !strcmp(how, "nmi");
		else
			ok = !strcmp(how, "offline");
		if (!ok) {
			ksft_print_msg("cpu %d how=%s\n", cpu, how);
			ok_table = false;
		}
	}
	if (!err)
		cs_print_last(&last);
	result(ok_table, 1);

	ok_frozen = !err;
	for (cpu = 0; cpu < CS_MAX_CPUS; cpu++) {
		if (!others[cpu])
			continue;
		ksft_print_msg("load on cpu %d: %lu, %lu 1 s later\n", cpu,
			       c0[cpu], c1[cpu]);
		if (!c0[cpu] || c1[cpu] != c0[cpu])
			ok_frozen = false;
	}
	result(ok_frozen, 2);

out:
	ksft_print_cnts();
	rc = ksft_get_fail_cnt() ? KSFT_FAIL : KSFT_PASS;
	if (!poweroff)
		return rc;
	/* The init script's own end line may never come: say it here. */
	printf("CRASH_STOP_GUEST_END rc=%d\n", rc ? 1 : 0);
	fflush(stdout);
	tcdrain(STDOUT_FILENO);
	cs_sleep_ms(500);
	sync();
	reboot(RB_POWER_OFF);
	ksft_perror("reboot(RB_POWER_OFF)");
	return rc;
}
