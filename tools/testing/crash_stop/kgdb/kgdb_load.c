// SPDX-License-Identifier: GPL-2.0
/*
 * kgdb_load: user-space busy loops pinned to CPUs, for the kgdb tests
 * (scripts/kgdb.sh).  Each loop counts in a shared file, so that a later,
 * fresh process can tell whether every loop kept running after the
 * debugger let the machine go.
 *
 *   kgdb_load start FILE CPU...  fork one detached loop per CPU, pinned
 *                                there; return once every one counts
 *   kgdb_load read FILE          print "cpuN=COUNT ..." of every loop
 *   kgdb_load check FILE MS      read, wait MS milliseconds, read again:
 *                                print "cpuN=+DELTA ..."; status 1 when
 *                                some loop did not advance
 *   kgdb_load stop FILE          kill every loop
 *   kgdb_load drain              wait until the terminal on stdout has sent
 *                                all its output (tcdrain): the results port
 *                                before a break-in stops the machine
 *   kgdb_load outq               print how many bytes the terminal on stdout
 *                                still has to send (TIOCOUTQ)
 *
 * The loops run at nice 19: the scenario's shell shares a CPU with one.
 * Built static (gcc -static) by scripts/kgdb.sh; runs in the test VM.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>

#define MAX_LOOPS	64

/* One loop per 64-byte line, so that the loops do not share lines. */
struct slot {
	unsigned long count;
	int cpu;
	int pid;
	char pad[64 - sizeof(unsigned long) - 2 * sizeof(int)];
};

struct table {
	int n;
	char pad[60];
	struct slot s[MAX_LOOPS];
};

static struct table *map_table(const char *path, int create)
{
	int fd = open(path, create ? O_RDWR | O_CREAT | O_TRUNC : O_RDWR, 0600);
	struct table *t;

	if (fd < 0) {
		fprintf(stderr, "kgdb_load: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	if (create && ftruncate(fd, sizeof(*t))) {
		fprintf(stderr, "kgdb_load: ftruncate: %s\n", strerror(errno));
		exit(2);
	}
	t = mmap(NULL, sizeof(*t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (t == MAP_FAILED) {
		fprintf(stderr, "kgdb_load: mmap: %s\n", strerror(errno));
		exit(2);
	}
	close(fd);
	return t;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static unsigned long count_of(struct table *t, int i)
{
	return __atomic_load_n(&t->s[i].count, __ATOMIC_RELAXED);
}

static _Noreturn void loop(unsigned long *c)
{
	unsigned long v = 0;

	for (;;)
		__atomic_store_n(c, ++v, __ATOMIC_RELAXED);
}

static int start(const char *path, int argc, char **argv)
{
	struct table *t = map_table(path, 1);
	double t0;
	int i;

	if (argc > MAX_LOOPS) {
		fprintf(stderr, "kgdb_load: at most %d loops\n", MAX_LOOPS);
		return 2;
	}
	for (i = 0; i < argc; i++) {
		char *end;
		long cpu = strtol(argv[i], &end, 10);
		pid_t pid;

		if (*end || end == argv[i] || cpu < 0 || cpu >= CPU_SETSIZE) {
			fprintf(stderr, "kgdb_load: bad CPU '%s'\n", argv[i]);
			return 2;
		}
		t->s[i].cpu = cpu;
		t->n = i + 1;
		pid = fork();
		if (pid < 0) {
			fprintf(stderr, "kgdb_load: fork: %s\n", strerror(errno));
			return 1;
		}
		if (pid == 0) {
			cpu_set_t set;
			int fd = open("/dev/null", O_RDWR);

			if (fd >= 0) {
				dup2(fd, 0);
				dup2(fd, 1);
				dup2(fd, 2);
				if (fd > 2)
					close(fd);
			}
			setsid();
			prctl(PR_SET_NAME, "kgdb_load");
			/* The shell that drives the test shares CPU 0. */
			setpriority(PRIO_PROCESS, 0, 19);
			CPU_ZERO(&set);
			CPU_SET(cpu, &set);
			if (sched_setaffinity(0, sizeof(set), &set))
				_exit(1);
			loop(&t->s[i].count);
		}
		t->s[i].pid = pid;
	}
	t0 = now();
	for (i = 0; i < t->n; i++) {
		while (!count_of(t, i)) {
			if (now() - t0 > 30) {
				fprintf(stderr, "kgdb_load: the busy loop on cpu %d did not begin\n",
					t->s[i].cpu);
				return 1;
			}
			sleep_ms(10);
		}
	}
	return 0;
}

static int check(const char *path, long ms)
{
	struct table *t = map_table(path, 0);
	unsigned long before[MAX_LOOPS];
	int i, bad = 0;

	for (i = 0; i < t->n; i++)
		before[i] = count_of(t, i);
	sleep_ms(ms);
	for (i = 0; i < t->n; i++) {
		unsigned long d = count_of(t, i) - before[i];

		printf("%scpu%d=+%lu", i ? " " : "", t->s[i].cpu, d);
		if (!d)
			bad = 1;
	}
	printf("\n");
	return bad;
}

int main(int argc, char **argv)
{
	struct table *t;
	int i;

	if (argc >= 4 && !strcmp(argv[1], "start"))
		return start(argv[2], argc - 3, argv + 3);
	if (argc == 4 && !strcmp(argv[1], "check"))
		return check(argv[2], strtol(argv[3], NULL, 10));
	if (argc == 3 && !strcmp(argv[1], "read")) {
		t = map_table(argv[2], 0);
		for (i = 0; i < t->n; i++)
			printf("%scpu%d=%lu", i ? " " : "", t->s[i].cpu,
			       count_of(t, i));
		printf("\n");
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "drain")) {
		if (isatty(STDOUT_FILENO) && tcdrain(STDOUT_FILENO)) {
			fprintf(stderr, "kgdb_load: tcdrain: %s\n", strerror(errno));
			return 1;
		}
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "outq")) {
		int n = -1;

		if (ioctl(STDOUT_FILENO, TIOCOUTQ, &n)) {
			fprintf(stderr, "kgdb_load: TIOCOUTQ: %s\n", strerror(errno));
			return 1;
		}
		fprintf(stderr, "%d\n", n);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "stop")) {
		t = map_table(argv[2], 0);
		for (i = 0; i < t->n; i++)
			if (t->s[i].pid > 0)
				kill(t->s[i].pid, SIGKILL);
		return 0;
	}
	fprintf(stderr,
		"usage: kgdb_load start FILE CPU... | read FILE | check FILE MS | stop FILE | drain | outq\n");
	return 2;
}
