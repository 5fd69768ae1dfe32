#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Check, on a built vmlinux, that kprobes are kept off crash_stop's stopping path.

usage: nokprobe-check.py VMLINUX SYSTEM.MAP

A CPU being stopped runs crash_stop's Rust entry points in NMI (or IPI)
context on top of whatever it interrupted. They are on the kprobe blacklist
(NOKPROBE_SYMBOL() in rust/crash_stop/glue.c), and the protocol code they
run is meant to be inlined into them: an out-of-line Rust function or
closure, or a C helper, that they call would be probe-able. For each entry
point this reads its direct calls and jumps to other functions
(objdump -d) and checks each target against what the kernel will refuse to
probe: the NOKPROBE_SYMBOL() entries (the _kprobe_blacklist table in the
image), and the .kprobes.text, .noinstr.text and entry text areas
(kernel/kprobes.c, arch/x86/kernel/kprobes/core.c). The targets' own calls
are not followed: they are kernel functions like any NMI handler's.

Prints TAP, one line per entry point; exits non-zero if one fails.
"""

import re
import struct
import subprocess
import sys

ENTRY_POINTS = ("crash_stop_handle_nmi", "crash_stop_handle_ipi", "crash_stop_poll")
AREAS = (
    ("__kprobes_text_start", "__kprobes_text_end"),
    ("__noinstr_text_start", "__noinstr_text_end"),
    ("__entry_text_start", "__entry_text_end"),
)


def read_map(path):
    by_name, by_addr = {}, {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 3:
                continue
            addr = int(parts[0], 16)
            by_name[parts[2]] = addr
            by_addr.setdefault(addr, []).append(parts[2])
    return by_name, by_addr


def read_words(vmlinux, start, end):
    """The 64-bit little-endian words of [start, end) of the image."""
    with open(vmlinux, "rb") as f:
        elf = f.read()
    if elf[:5] != b"\x7fELF\x02" or elf[5] != 1:
        raise SystemExit("%s: not a little-endian ELF64 file" % vmlinux)
    shoff, = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", elf, 0x3a)
    for i in range(shnum):
        (_, sh_type, _, sh_addr, sh_offset, sh_size) = struct.unpack_from(
            "<IIQQQQ", elf, shoff + i * shentsize)
        # SHT_PROGBITS sections that hold the whole range
        if sh_type == 1 and sh_addr <= start and end <= sh_addr + sh_size:
            off = sh_offset + start - sh_addr
            n = (end - start) // 8
            return struct.unpack_from("<%dQ" % n, elf, off)
    raise SystemExit("%s: no section holds %#x-%#x" % (vmlinux, start, end))


def targets(vmlinux, func):
    """The functions that func calls or jumps to (direct branches only)."""
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn",
                          "--disassemble=" + func, vmlinux],
                         check=True, capture_output=True, text=True).stdout
    if "<%s>:" % func not in out:
        return None
    found = set()
    # "call ffffffff81233c24 <crash_stop_arch_relax>"; a branch inside a
    # function is shown as <name+0x..> and is not a call of another one.
    for m in re.finditer(r"\b(?:call|jmp)\s+([0-9a-f]+) <([^>+]+)>", out):
        if m.group(2) != func:
            found.add((int(m.group(1), 16), m.group(2)))
    return sorted(found, key=lambda t: t[1])


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    vmlinux, sysmap = argv[1], argv[2]
    by_name, by_addr = read_map(sysmap)
    for name in ("__start_kprobe_blacklist", "__stop_kprobe_blacklist") + sum(AREAS, ()):
        if name not in by_name:
            print("1..0 # SKIP %s has no %s (no CONFIG_KPROBES?)" % (sysmap, name))
            return 0
    listed = set(read_words(vmlinux, by_name["__start_kprobe_blacklist"],
                            by_name["__stop_kprobe_blacklist"]))
    areas = [(by_name[a], by_name[b]) for a, b in AREAS]

    def refused(addr):
        return addr in listed or any(a <= addr < b for a, b in areas)

    print("1..%d" % len(ENTRY_POINTS))
    bad = 0
    for i, func in enumerate(ENTRY_POINTS, 1):
        calls = targets(vmlinux, func)
        if calls is None:
            print("not ok %d - %s: not in %s" % (i, func, vmlinux))
            bad += 1
            continue
        probeable = [name for addr, name in calls if not refused(addr)]
        if func in by_name and not refused(by_name[func]):
            probeable.insert(0, func + " itself")
        if probeable:
            bad += 1
            print("not ok %d - %s: probe-able: %s" % (i, func, ", ".join(probeable)))
        else:
            print("ok %d - %s and the %d functions it calls are kept off kprobes" % (
                i, func, len(calls)))
        for addr, name in calls:
            why = ("NOKPROBE_SYMBOL" if addr in listed else
                   "in a blacklisted area" if refused(addr) else "PROBE-ABLE")
            print("#   %s -> %s (%s)" % (func, name, why))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
