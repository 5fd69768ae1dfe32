#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The A/B table of scripts/kgdb.sh (build/vm/kgdb/ab.txt).

abtable.py ROWS_DIR BUILD_INFO CASE...

ROWS_DIR holds one file per case, key=value lines written by
check.py --row; the table has a line per CASE, in the order given.
"""
import os
import sys
import time

COLS = [("case", "case"), ("path", "path"), ("b2p", "break"), ("s2p", "sysrq"),
        ("cpus_seen", "CPUs seen by the debugger"), ("cond", "condition"),
        ("roundup", "crash_stop roundup (how each CPU stopped)"),
        ("too_long", "long"), ("timed_out", "tmout"), ("fails", "failed")]


def main():
    rows_dir, build_info, cases = sys.argv[1], sys.argv[2], sys.argv[3:]
    built = "-"
    if os.path.exists(build_info):
        for line in open(build_info):
            if line.startswith("built: "):
                built = line[len("built: "):].strip()
    rows = []
    for name in cases:
        path = os.path.join(rows_dir, name)
        if os.path.exists(path):
            rows.append(dict(line.rstrip("\n").split("=", 1)
                             for line in open(path) if "=" in line))
    table = [[h for _, h in COLS]]
    for r in rows:
        row = [r.get(k) or "-" for k, _ in COLS]
        if r.get("kgdbts"):
            row[4] = r["kgdbts"]
        table.append(row)
    widths = [max(len(t[i]) for t in table) for i in range(len(COLS))]
    print("kgdb roundup A/B: %s, kernel built %s" % (
        time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()), built))
    print("QEMU TCG, 4 vCPUs, busy loops on the CPUs, sysrq-g on CPU 0.  break, sysrq: host seconds")
    print("from the guest's break-in marker, and from the console's \"sysrq: DEBUG\", to the first kdb")
    print("prompt on ttyS2.  path: crash_stop = crash_stop.kgdb=1, upstream = crash_stop.kgdb=0 (the NMI")
    print("roundup), upstream* = the kernel has no crash_stop.kgdb (no CONFIG_CRASH_STOP_KGDB).")
    print()
    for t in table:
        print("  ".join(c.ljust(w) for c, w in zip(t, widths)).rstrip())
    print()
    print("long: kernel log lines \"NMI handler (...) took too long\" after the break-in (a CPU held")
    print("in NMI); tmout: \"Timed out waiting for secondary CPUs\" (kgdb's 1 s wait for the roundup);")
    print("failed: failed checks of the case.")


if __name__ == "__main__":
    main()
