// SPDX-License-Identifier: GPL-2.0
/*
 * vmcore_head [FILE]   (default /proc/vmcore)
 *
 * Run in a kdump capture kernel: write to stdout the prefix of the ELF
 * core file that holds its ELF header, its program headers and every
 * PT_NOTE segment (NT_PRSTATUS of each CPU, VMCOREINFO, ...).  The result
 * is a valid ELF core file whose PT_LOAD segments point past its end: a
 * few pages instead of the whole memory image, small enough to send over
 * a serial port.
 *
 * Prints one line to stderr: the size written and the number of notes
 * segments.  Exit status 1 with a message on any error.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_HEAD (64UL << 20)	/* refuse absurd note extents */

static void die(const char *fmt, const char *arg)
{
	fprintf(stderr, "vmcore_head: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	exit(1);
}

static void read_at(int fd, void *buf, size_t len, off_t off, const char *what)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done, off + done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("read error: %s", strerror(errno));
		if (n == 0)
			die("short file while reading the %s", what);
		done += n;
	}
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "/proc/vmcore";
	Elf64_Ehdr eh;
	Elf64_Phdr *ph;
	uint64_t end, phend;
	unsigned int i, notes = 0;
	char *buf;
	size_t done = 0;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		die("cannot open %s", path);
	read_at(fd, &eh, sizeof(eh), 0, "ELF header");
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64)
		die("%s is not an ELF64 file", path);
	if (eh.e_type != ET_CORE)
		die("%s is not an ELF core file", path);
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
	    eh.e_phnum == PN_XNUM)
		die("%s: unexpected program header table", path);

	phend = eh.e_phoff + (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr);
	if (phend > MAX_HEAD)
		die("%s: program headers beyond the limit", path);
	ph = calloc(eh.e_phnum, sizeof(*ph));
	if (!ph)
		die("%s", "out of memory");
	read_at(fd, ph, (size_t)eh.e_phnum * sizeof(*ph), eh.e_phoff,
		"program headers");

	end = phend > sizeof(eh) ? phend : sizeof(eh);
	for (i = 0; i < eh.e_phnum; i++) {
		uint64_t e;

		if (ph[i].p_type != PT_NOTE)
			continue;
		notes++;
		e = ph[i].p_offset + ph[i].p_filesz;
		if (e < ph[i].p_offset || e > MAX_HEAD)
			die("%s: a PT_NOTE segment beyond the limit", path);
		if (e > end)
			end = e;
	}
	if (!notes)
		die("%s has no PT_NOTE segment", path);

	buf = malloc(end);
	if (!buf)
		die("%s", "out of memory");
	read_at(fd, buf, end, 0, "notes");
	while (done < end) {
		ssize_t n = write(STDOUT_FILENO, buf + done, end - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("write error: %s", strerror(errno));
		done += n;
	}
	fprintf(stderr, "vmcore_head: %s: wrote %llu bytes (%u program headers, %u PT_NOTE)\n",
		path, (unsigned long long)end, eh.e_phnum, notes);
	return 0;
}
