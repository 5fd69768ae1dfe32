#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Print the CPU notes of a kdump ELF core header, one row per NT_PRSTATUS.

notes.py VMCORE SYSTEM_MAP [CONSOLE_LOG] [--absent CPU,...]

VMCORE is the ELF header and notes of a capture kernel's /proc/vmcore
(tools/testing/crash_stop/kdump/vmcore_head.c), SYSTEM_MAP the crashed
kernel's System.map (no KASLR), CONSOLE_LOG the serial console of the
first kernel (and the capture kernel after it; only the part before the
capture kernel's banner is read).

Output: "# key=value" lines, then a header and one row per NT_PRSTATUS note:

    cpu  pid  rip  symbol+0xoff  how

cpu: the notes are in the order of the kernel's crash_notes, that is CPU
id order; a CPU that saved no registers has no note, so when there are
fewer notes than CPUs the ids come from the crash_stop line (CPUs it names
missing or offline are the ones without a note), else from --absent (the
CPUs the scenario made unable to save, e.g. the wedged one; cpu_map says
"assumed"), else "?".  how: the CPU's
entry of the first kernel's last line

    crash_stop: kdump: generation G: cpu0=monarch cpu1=ipi cpu2=nmi ...

or "upstream" when there is no such line (crash_stop.kdump=0, or a kernel
without it: the upstream nmi_shootdown_cpus() path).

Keys: notes (NT_PRSTATUS count), vmcoreinfo (0/1), osrelease, map_check
(ok, mismatch or none: the SYMBOL()s of VMCOREINFO against SYSTEM_MAP),
cpu_map (how note ids were found: all, crash_stop, assumed, unknown),
cs_lines (number of crash_stop kdump lines), cs_line (the last one),
cpus (online CPUs of the first kernel), panic_cpu, panic_pid, panic_comm
(the first "CPU: N ... PID: P Comm: C" line after the crash started).
"""
import argparse
import bisect
import re
import struct
import sys

PT_NOTE = 4
NT_PRSTATUS = 1
PR_PID = 32          # struct elf_prstatus: pr_pid
PR_REG = 112         # pr_reg (struct user_regs_struct)
REGS = ("r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi "
        "orig_rax rip cs eflags rsp ss fs_base gs_base ds es fs gs").split()

CS_LINE = re.compile(r"crash_stop: kdump: generation (\d+): (.*\S)")
CRASH = re.compile(r"sysrq: Trigger a crash|Kernel panic - not syncing|"
                   r"BUG: |Oops: |general protection fault")
TASK = re.compile(r"\bCPU: (\d+) (?:UID: \d+ )?PID: (\d+) Comm: (\S+)")
BROUGHT_UP = re.compile(r"smp: Brought up \d+ nodes?, (\d+) CPUs?")
BANNER = re.compile(r"Linux version \d")


def read_notes(path):
    data = open(path, "rb").read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise SystemExit("%s: not a little-endian ELF64 file" % path)
    e_type, = struct.unpack_from("<H", data, 16)
    if e_type != 4:
        raise SystemExit("%s: not an ELF core file (e_type %d)" % (path, e_type))
    e_phoff, = struct.unpack_from("<Q", data, 32)
    e_phentsize, e_phnum = struct.unpack_from("<HH", data, 54)
    notes = []
    for i in range(e_phnum):
        p_type, _, p_offset, _, _, p_filesz = struct.unpack_from(
            "<IIQQQQ", data, e_phoff + i * e_phentsize)
        if p_type != PT_NOTE:
            continue
        off, end = p_offset, p_offset + p_filesz
        if end > len(data):
            raise SystemExit("%s: PT_NOTE at %d+%d is past the end of the file"
                             % (path, p_offset, p_filesz))
        while off + 12 <= end:
            namesz, descsz, ntype = struct.unpack_from("<III", data, off)
            off += 12
            name = data[off:off + namesz].rstrip(b"\0").decode("ascii", "replace")
            off += (namesz + 3) & ~3
            desc = data[off:off + descsz]
            off += (descsz + 3) & ~3
            notes.append((name, ntype, desc))
    return notes


class SymbolMap:
    def __init__(self, path):
        syms = []
        self.by_name = {}
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) < 3:
                    continue
                addr, kind, name = int(parts[0], 16), parts[1], parts[2]
                self.by_name.setdefault(name, addr)
                if kind in "tTwW":
                    syms.append((addr, name))
        syms.sort()
        self.addrs = [a for a, _ in syms]
        self.names = [n for _, n in syms]

    def lookup(self, addr):
        i = bisect.bisect_right(self.addrs, addr) - 1
        if i < 0 or addr == 0:
            return "0x%x" % addr
        off = addr - self.addrs[i]
        if off > 0x100000:
            return "0x%x" % addr
        return "%s+0x%x" % (self.names[i], off)


def first_kernel(console):
    """The first kernel's part of the console log (before the 2nd banner)."""
    lines = console.replace("\r", "").split("\n")
    banners = 0
    for i, line in enumerate(lines):
        if BANNER.search(line):
            banners += 1
            if banners == 2:
                return lines[:i]
    return lines


def main():
    ap = argparse.ArgumentParser(description="One row per NT_PRSTATUS note.")
    ap.add_argument("vmcore")
    ap.add_argument("system_map")
    ap.add_argument("console", nargs="?")
    ap.add_argument("--absent", default="",
                    help="CPUs expected without a note (comma separated)")
    args = ap.parse_args()
    notes = read_notes(args.vmcore)
    smap = SymbolMap(args.system_map)
    lines = []
    if args.console:
        with open(args.console, encoding="utf-8", errors="replace") as f:
            lines = first_kernel(f.read())
    absent = {int(c) for c in args.absent.split(",") if c.strip()}

    info = {}
    prstatus = [d for n, t, d in notes if n == "CORE" and t == NT_PRSTATUS]
    vmcoreinfo = [d for n, t, d in notes if n == "VMCOREINFO"]
    info["notes"] = len(prstatus)
    info["vmcoreinfo"] = 1 if vmcoreinfo else 0
    info["osrelease"] = "-"
    info["map_check"] = "none"
    if vmcoreinfo:
        text = vmcoreinfo[0].rstrip(b"\0").decode("ascii", "replace")
        checked = bad = 0
        for kv in text.split("\n"):
            if kv.startswith("OSRELEASE="):
                info["osrelease"] = kv.split("=", 1)[1]
            m = re.match(r"SYMBOL\((\w+)\)=([0-9a-f]+)$", kv)
            # mem_section's entry is the pointer's value, not its address.
            if m and m.group(1) in smap.by_name and m.group(1) != "mem_section":
                checked += 1
                if smap.by_name[m.group(1)] != int(m.group(2), 16):
                    bad += 1
        if checked:
            info["map_check"] = "mismatch" if bad else "ok"

    # crash_stop's kdump lines, the CPU count, the panicking task.
    cs = []
    cpus = None
    crashed = False
    panic = None
    for line in lines:
        m = CS_LINE.search(line)
        if m:
            cs.append(m)
        m = BROUGHT_UP.search(line)
        if m and cpus is None:
            cpus = int(m.group(1))
        if not crashed and CRASH.search(line):
            crashed = True
        if crashed and panic is None:
            m = TASK.search(line)
            if m:
                panic = m
    how = {}
    if cs:
        for word in cs[-1].group(2).split():
            m = re.match(r"cpu(\d+)=(\w+)$", word)
            if m:
                how[int(m.group(1))] = m.group(2)
    info["cs_lines"] = len(cs)
    info["cs_line"] = cs[-1].group(0) if cs else "-"
    info["cpus"] = cpus if cpus is not None else "-"
    info["panic_cpu"] = panic.group(1) if panic else "-"
    info["panic_pid"] = panic.group(2) if panic else "-"
    info["panic_comm"] = panic.group(3) if panic else "-"

    # Note index -> CPU id.
    ids = None
    info["cpu_map"] = "unknown"
    if cpus is not None and len(prstatus) == cpus:
        ids = list(range(cpus))
        info["cpu_map"] = "all"
    elif how:
        saved = [c for c in sorted(how) if how[c] not in ("missing", "offline")]
        if len(saved) == len(prstatus):
            ids = saved
            info["cpu_map"] = "crash_stop"
    elif cpus is not None and absent:
        saved = [c for c in range(cpus) if c not in absent]
        if len(saved) == len(prstatus):
            ids = saved
            info["cpu_map"] = "assumed"

    for k, v in info.items():
        print("# %s=%s" % (k, v))
    print("%-4s %-6s %-18s %-40s %s" % ("cpu", "pid", "rip", "symbol", "how"))
    for i, desc in enumerate(prstatus):
        pid, = struct.unpack_from("<i", desc, PR_PID)
        rip, = struct.unpack_from("<Q", desc, PR_REG + 8 * REGS.index("rip"))
        cpu = ids[i] if ids is not None else None
        h = "upstream" if not cs else how.get(cpu, "?")
        print("%-4s %-6d %016x   %-40s %s" % ("?" if cpu is None else cpu, pid,
                                               rip, smap.lookup(rip), h))


if __name__ == "__main__":
    main()
