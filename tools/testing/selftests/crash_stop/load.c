// SPDX-License-Identifier: GPL-2.0
/*
 * load: a user-space busy loop pinned to one CPU, for the crash_stop demo
 * and for trying crash stops by hand.
 *
 * Usage: load [-t SECONDS] CPU
 *
 * Spins on CPU until told to end (SIGTERM, SIGINT) or for SECONDS, then prints
 * how many iterations it made. The selftests run the same loop
 * (cs_load_loop()) in processes they fork themselves.
 */
#include "crash_stop_util.h"

static int done;

static void on_signal(int sig)
{
	(void)sig;
	__atomic_store_n(&done, 1, __ATOMIC_RELAXED);
}

int main(int argc, char **argv)
{
	unsigned long count = 0;
	unsigned int secs = 0;
	sigset_t set;
	double t0;
	char *end;
	int opt, cpu;

	while ((opt = getopt(argc, argv, "t:")) != -1) {
		if (opt != 't')
			goto usage;
		secs = strtoul(optarg, &end, 10);
		if (*end || end == optarg)
			goto usage;
	}
	if (optind != argc - 1)
		goto usage;
	cpu = strtol(argv[optind], &end, 10);
	if (*end || end == argv[optind] || cpu < 0)
		goto usage;
	if (cs_pin(cpu)) {
		fprintf(stderr, "load: cannot run on cpu %d: %s\n", cpu,
			strerror(errno));
		return 1;
	}
	prctl(PR_SET_NAME, "cs_load");
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	/* A shell may start us with signals blocked: take them. */
	sigemptyset(&set);
	sigprocmask(SIG_SETMASK, &set, NULL);
	t0 = cs_now();
	while (!__atomic_load_n(&done, __ATOMIC_RELAXED)) {
		count++;
		/* The time limit, checked every million iterations. */
		if (secs && !(count % 1000000) && cs_now() - t0 >= secs)
			break;
	}
	printf("load: cpu %d: %lu iterations in %.1f s\n", cpu, count,
	       cs_now() - t0);
	return 0;

usage:
	fprintf(stderr, "Usage: %s [-t SECONDS] CPU\n", argv[0]);
	return 2;
}
