// SPDX-License-Identifier: GPL-2.0
/*
 * kexec_crash_load KERNEL INITRD CMDLINE
 *
 * Load a capture kernel for kdump with kexec_file_load(2) and
 * KEXEC_FILE_ON_CRASH: the kernel runs it when the running kernel panics
 * (or crash_kexec() is called).  Debian's kexec binary is dynamically
 * linked; this one is built "gcc -static" for a busybox initramfs.  The
 * running kernel needs CONFIG_KEXEC_FILE ("Function not implemented"
 * otherwise).
 *
 * Exit status 0 when loaded (and prints "loaded"), 1 with one line naming
 * the failing step otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef KEXEC_FILE_ON_CRASH
#define KEXEC_FILE_ON_CRASH 0x00000002
#endif

static int open_or_die(const char *what, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "kexec_crash_load: cannot open %s %s: %s\n",
			what, path, strerror(errno));
		exit(1);
	}
	return fd;
}

static const char *hint(int err)
{
	switch (err) {
	case EPERM:
		return " (not root, kexec_load_disabled, or lockdown)";
	case EINVAL:
		return " (no crash kernel memory reserved: boot with crashkernel=, or a bad image)";
	case ENOMEM:
		return " (the images do not fit in the crashkernel= reservation)";
	case ENOEXEC:
		return " (not a bzImage this kernel can load)";
	case EKEYREJECTED:
	case EBADMSG:
		return " (signature check: CONFIG_KEXEC_SIG)";
	case EBUSY:
		return " (a crash kernel is being loaded or is running)";
	default:
		return "";
	}
}

int main(int argc, char **argv)
{
	int kfd, ifd;
	const char *cmdline;
	long ret;

	if (argc != 4) {
		fprintf(stderr, "usage: %s KERNEL INITRD CMDLINE\n", argv[0]);
		return 1;
	}
	kfd = open_or_die("kernel", argv[1]);
	ifd = open_or_die("initrd", argv[2]);
	cmdline = argv[3];

	ret = syscall(SYS_kexec_file_load, kfd, ifd, strlen(cmdline) + 1,
		      cmdline, (unsigned long)KEXEC_FILE_ON_CRASH);
	if (ret != 0) {
		int err = errno;

		fprintf(stderr,
			"kexec_crash_load: kexec_file_load(%s, %s, KEXEC_FILE_ON_CRASH) failed: %s (errno %d)%s\n",
			argv[1], argv[2], strerror(err), err, hint(err));
		return 1;
	}
	printf("kexec_crash_load: loaded %s with %s, cmdline \"%s\"\n",
	       argv[1], argv[2], cmdline);
	return 0;
}
