/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the crash_stop selftests: the debugfs test interface
 * (see DEBUGFS.md), the parser of its "last" table, the kernel log, the
 * CPU lists in sysfs, and pinned user-space busy loops.
 */
#ifndef CRASH_STOP_UTIL_H
#define CRASH_STOP_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/klog.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "kselftest.h"

#ifndef CS_DIR
#define CS_DIR		"/sys/kernel/debug/crash_stop"
#endif
#define CS_PARAMS	"/sys/module/crash_stop/parameters"
#define CS_CPU_SYSFS	"/sys/devices/system/cpu"
#define CS_MAX_CPUS	1024

/* Kernel log patterns that must not appear after a crash stop. */
#define CS_SPLAT_RE	"rcu_.*stall|self-detected stall|soft lockup|" \
			"hard LOCKUP|Marking clocksource|"		\
			"clocksource.*unstable|timekeeping watchdog|"	\
			"WARNING:|BUG:|blocked for more than|"		\
			"NMI received for unknown reason"

/* One row of the "last" table. */
struct cs_row {
	int cpu;
	char how[16];
	long long late;
	long long pid;
	char comm[64];
	long long irqs_off;
	long long user;
	long long stop_us;
	char ip[192];
};

/* The whole "last" file: its first line and one row per CPU id. */
struct cs_last {
	long long gen;
	long long ret;
	long long monarch;
	long long stopped;
	long long nmi;
	long long escalated;
	long long missing;
	long long late;
	long long offline;
	long long parked;
	long long gather_us;
	long long nested_ret;
	long long cpufn_runs;
	long long cpufn_done;
	long long cpufn_regs_ok;
	long long cpufn_after_return;
	long long poked;
	long long cycles;
	char monarch_trace[192];
	int nr_rows;
	struct cs_row row[CS_MAX_CPUS];
};

static inline double cs_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline void cs_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static inline int cs_pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) ? -errno : 0;
}

/* Mount debugfs where the tests expect it, if it is not there yet. */
static inline void cs_mount_debugfs(void)
{
	if (access(CS_DIR, F_OK))
		mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
}

/* Write @s to @path in one write(); 0 or -errno. */
static inline int cs_write_str(const char *path, const char *s)
{
	size_t len = strlen(s);
	ssize_t n;
	int fd, err = 0;

	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	n = write(fd, s, len);
	if (n < 0)
		err = -errno;
	else if ((size_t)n != len)
		err = -EIO;
	close(fd);
	return err;
}

/*
 * Write a command line (with a trailing newline, as echo(1) does) to
 * CS_DIR/@file; 0 or -errno.
 */
static inline __printf(2, 3) int cs_ctl(const char *file, const char *fmt, ...)
{
	char path[256], cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd) - 1, fmt, ap);
	va_end(ap);
	strcat(cmd, "\n");
	snprintf(path, sizeof(path), "%s/%s", CS_DIR, file);
	return cs_write_str(path, cmd);
}

/* Read a whole (small or seq_file) file; malloc()ed, NUL-terminated. */
static inline char *cs_read_file(const char *path)
{
	size_t size = 4096, len = 0;
	char *buf = malloc(size);
	ssize_t n;
	int fd;

	if (!buf)
		return NULL;
	fd = open(path, O_RDONLY);
	if (fd < 0) {
		free(buf);
		return NULL;
	}
	for (;;) {
		if (size - len < 2048) {
			char *nbuf = realloc(buf, size * 2);

			if (!nbuf)
				break;
			buf = nbuf;
			size *= 2;
		}
		n = read(fd, buf + len, size - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += n;
	}
	close(fd);
	buf[len] = '\0';
	return buf;
}

/* Read a file holding one integer; 0 or -errno. */
static inline int cs_read_ll(const char *path, long long *val)
{
	char *buf = cs_read_file(path), *end;
	int err = 0;

	if (!buf)
		return -errno ? -errno : -ENOMEM;
	errno = 0;
	*val = strtoll(buf, &end, 10);
	if (errno || end == buf)
		err = -EPROTO;
	free(buf);
	return err;
}

/* The value after "key=" where key starts @line or follows a space. */
static inline char *cs_find_key(const char *line, const char *key)
{
	size_t n = strlen(key);
	char *p = (char *)line;

	while ((p = strstr(p, key))) {
		if ((p == line || p[-1] == ' ') && p[n] == '=')
			return p + n + 1;
		p += n;
	}
	return NULL;
}

/* Integer value of "key=" in @line (up to its end); 0 or -EPROTO. */
static inline int cs_key_ll(const char *line, const char *key, long long *val)
{
	const char *v = cs_find_key(line, key);
	char *end;

	if (!v)
		return -EPROTO;
	errno = 0;
	*val = strtoll(v, &end, 10);
	if (errno || end == v || (*end && *end != ' ' && *end != '\n'))
		return -EPROTO;
	return 0;
}

/* Copy the word after "key=" (up to @stop, a space or the end) to @dst. */
static inline int cs_key_str(const char *line, const char *key,
			     const char *stop, char *dst, size_t size)
{
	const char *v = cs_find_key(line, key), *e;
	size_t n;

	if (!v)
		return -EPROTO;
	e = stop ? strstr(v, stop) : NULL;
	if (!e)
		e = v + strcspn(v, stop ? "\n" : "\n ");
	n = e - v;
	if (n >= size)
		n = size - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
	return 0;
}

/*
 * A row: "cpu=C how=H late=0|1", and for a stopped CPU (monarch, ipi, nmi,
 * caller) also "pid=P comm=NAME irqs_off=0|1 user=0|1 stop_us=T ip=SYMBOL".
 */
static inline int cs_parse_row(const char *line, struct cs_row *r)
{
	long long cpu;

	memset(r, 0, sizeof(*r));
	if (cs_key_ll(line, "cpu", &cpu) ||
	    cs_key_str(line, "how", NULL, r->how, sizeof(r->how)) ||
	    cs_key_ll(line, "late", &r->late))
		return -EPROTO;
	r->cpu = cpu;
	if (strcmp(r->how, "monarch") && strcmp(r->how, "ipi") &&
	    strcmp(r->how, "nmi") && strcmp(r->how, "caller"))
		return 0;
	if (cs_key_ll(line, "pid", &r->pid) ||
	    cs_key_str(line, "comm", " irqs_off=", r->comm, sizeof(r->comm)) ||
	    cs_key_ll(line, "irqs_off", &r->irqs_off) ||
	    cs_key_ll(line, "user", &r->user) ||
	    cs_key_ll(line, "stop_us", &r->stop_us) ||
	    cs_key_str(line, "ip", "\n", r->ip, sizeof(r->ip)))
		return -EPROTO;
	return 0;
}

/*
 * Read and parse CS_DIR/last into @l. On a format error, print the
 * offending line as a diagnostic and return -EPROTO.
 */
static inline int cs_read_last(struct cs_last *l)
{
	static const char * const keys[] = {
		"gen", "ret", "monarch", "stopped", "nmi", "escalated",
		"missing", "late", "offline", "parked", "gather_us",
		"nested_ret", "cpufn_runs", "cpufn_done", "cpufn_regs_ok",
		"cpufn_after_return", "poked", "cycles",
	};
	long long *vals[] = {
		&l->gen, &l->ret, &l->monarch, &l->stopped, &l->nmi,
		&l->escalated, &l->missing, &l->late, &l->offline, &l->parked,
		&l->gather_us, &l->nested_ret, &l->cpufn_runs, &l->cpufn_done,
		&l->cpufn_regs_ok, &l->cpufn_after_return, &l->poked,
		&l->cycles,
	};
	char *buf, *line, *save = NULL;
	unsigned int i;
	int err = 0;

	memset(l, 0, sizeof(*l));
	buf = cs_read_file(CS_DIR "/last");
	if (!buf)
		return -errno ? -errno : -ENOMEM;
	line = strtok_r(buf, "\n", &save);
	if (!line || (!cs_key_ll(line, "gen", &l->gen) && !l->gen)) {
		/* Nothing ran yet: "gen=0 ret=0". */
		free(buf);
		return 0;
	}
	for (i = 0; i < ARRAY_SIZE(keys); i++) {
		if (cs_key_ll(line, keys[i], vals[i])) {
			printf("# last: no %s= in line 1: %s\n", keys[i], line);
			err = -EPROTO;
		}
	}
	if (cs_key_str(line, "monarch_trace", NULL, l->monarch_trace,
		       sizeof(l->monarch_trace))) {
		printf("# last: no monarch_trace= in line 1: %s\n", line);
		err = -EPROTO;
	}
	while (!err && (line = strtok_r(NULL, "\n", &save))) {
		struct cs_row *r = &l->row[l->nr_rows];

		if (l->nr_rows >= CS_MAX_CPUS || cs_parse_row(line, r)) {
			printf("# last: bad row %d: %s\n", l->nr_rows, line);
			err = -EPROTO;
			break;
		}
		if (r->cpu != l->nr_rows) {
			printf("# last: row %d is for cpu %d\n", l->nr_rows,
			       r->cpu);
			err = -EPROTO;
			break;
		}
		l->nr_rows++;
	}
	free(buf);
	return err;
}

/* Print the table as diagnostics. */
static inline void cs_print_last(const struct cs_last *l)
{
	int i;

	printf("# last: gen=%lld ret=%lld monarch=%lld stopped=%lld nmi=%lld escalated=%lld missing=%lld late=%lld offline=%lld parked=%lld gather_us=%lld nested_ret=%lld cpufn_runs=%lld cpufn_done=%lld cpufn_regs_ok=%lld cpufn_after_return=%lld poked=%lld cycles=%lld monarch_trace=%s\n",
	       l->gen, l->ret, l->monarch, l->stopped, l->nmi, l->escalated,
	       l->missing, l->late, l->offline, l->parked, l->gather_us,
	       l->nested_ret, l->cpufn_runs, l->cpufn_done, l->cpufn_regs_ok,
	       l->cpufn_after_return, l->poked, l->cycles, l->monarch_trace);
	for (i = 0; i < l->nr_rows; i++) {
		const struct cs_row *r = &l->row[i];

		if (!r->comm[0]) {
			printf("#   cpu=%d how=%s late=%lld\n", r->cpu, r->how,
			       r->late);
			continue;
		}
		printf("#   cpu=%d how=%s pid=%lld comm=%s irqs_off=%lld user=%lld stop_us=%lld ip=%s\n",
		       r->cpu, r->how, r->pid, r->comm, r->irqs_off, r->user,
		       r->stop_us, r->ip);
	}
}

/* An ip= that %pS resolved to a symbol, not a raw address. */
static inline bool cs_ip_is_symbol(const char *ip)
{
	return strstr(ip, "+0x") && strncmp(ip, "0x", 2) != 0;
}

/*
 * Parse a sysfs CPU list ("0-3,5") into @mask; the number of CPUs, or
 * -errno. *@last gets the highest CPU listed (if @last is not NULL).
 */
static inline int cs_cpulist(const char *path, bool *mask, int *last)
{
	char *buf = cs_read_file(path), *p;
	int n = 0;

	if (!buf)
		return -errno ? -errno : -ENOMEM;
	memset(mask, 0, CS_MAX_CPUS * sizeof(*mask));
	if (last)
		*last = -1;
	for (p = buf; *p && *p != '\n';) {
		char *end;
		long a = strtol(p, &end, 10), b = a, c;

		if (end == p)
			break;
		p = end;
		if (*p == '-') {
			b = strtol(p + 1, &end, 10);
			p = end;
		}
		for (c = a; c <= b && c < CS_MAX_CPUS; c++) {
			if (!mask[c])
				n++;
			mask[c] = true;
			if (last && c > *last)
				*last = c;
		}
		if (*p == ',')
			p++;
	}
	free(buf);
	return n;
}

/* The kernel log (like dmesg); malloc()ed, NUL-terminated. */
static inline char *cs_dmesg(void)
{
	int size = klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0);
	char *buf;
	int n;

	if (size <= 0)
		size = 1 << 20;
	buf = malloc(size + 1);
	if (!buf)
		return NULL;
	n = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf, size);
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	return buf;
}

/* Like dmesg -c >/dev/null. */
static inline void cs_dmesg_clear(void)
{
	klogctl(5 /* SYSLOG_ACTION_CLEAR */, NULL, 0);
}

/*
 * Count the kernel log lines that match the extended regex @re and do not
 * contain @exclude (if not NULL), printing each as a diagnostic with @tag
 * (if not NULL).
 */
static inline int cs_dmesg_grep(const char *re, const char *exclude,
				const char *tag)
{
	char *buf = cs_dmesg(), *line, *save = NULL;
	regex_t rx;
	int n = 0;

	if (!buf)
		return 0;
	if (regcomp(&rx, re, REG_EXTENDED | REG_NOSUB)) {
		free(buf);
		return 0;
	}
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (exclude && strstr(line, exclude))
			continue;
		if (!regexec(&rx, line, 0, NULL, 0)) {
			if (tag && n < 60)
				printf("# %s: %s\n", tag, line);
			n++;
		}
	}
	regfree(&rx);
	free(buf);
	return n;
}

/* Counters of the busy loops, one per cache line, in shared memory. */
#define CS_SLOT_WORDS	8

static inline unsigned long *cs_counters_map(void)
{
	void *p = mmap(NULL, CS_MAX_CPUS * CS_SLOT_WORDS * sizeof(long),
		       PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		       -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static inline unsigned long cs_counter(unsigned long *counters, int cpu)
{
	return __atomic_load_n(&counters[cpu * CS_SLOT_WORDS],
			       __ATOMIC_RELAXED);
}

/* The user-space load: spin on @cpu incrementing its counter forever. */
static inline __noreturn void
cs_load_loop(unsigned long *counters, int cpu)
{
	unsigned long *c = &counters[cpu * CS_SLOT_WORDS], v = 0;

	for (;;)
		__atomic_store_n(c, ++v, __ATOMIC_RELAXED);
}

/*
 * Fork one load process pinned to each CPU in @mask (pids in @pids, 0 for
 * the others), and wait until every one has started counting. 0 or -errno.
 */
static inline int cs_loads_start(unsigned long *counters, const bool *mask,
				 pid_t *pids)
{
	double t0;
	int cpu;

	memset(pids, 0, CS_MAX_CPUS * sizeof(*pids));
	fflush(stdout);
	for (cpu = 0; cpu < CS_MAX_CPUS; cpu++) {
		if (!mask[cpu])
			continue;
		pids[cpu] = fork();
		if (pids[cpu] < 0) {
			pids[cpu] = 0;
			return -errno;
		}
		if (pids[cpu] == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			prctl(PR_SET_NAME, "cs_load");
			if (cs_pin(cpu))
				_exit(1);
			cs_load_loop(counters, cpu);
		}
	}
	t0 = cs_now();
	for (cpu = 0; cpu < CS_MAX_CPUS; cpu++) {
		while (mask[cpu] && !cs_counter(counters, cpu)) {
			if (cs_now() - t0 > 20) {
				printf("# load on cpu %d did not start\n", cpu);
				return -ETIMEDOUT;
			}
			cs_sleep_ms(10);
		}
	}
	return 0;
}

static inline void cs_loads_stop(pid_t *pids)
{
	int cpu;

	for (cpu = 0; cpu < CS_MAX_CPUS; cpu++) {
		if (pids[cpu] > 0) {
			kill(pids[cpu], SIGKILL);
			waitpid(pids[cpu], NULL, 0);
			pids[cpu] = 0;
		}
	}
}

#endif /* CRASH_STOP_UTIL_H */
