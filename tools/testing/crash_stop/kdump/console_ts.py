#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Host-side timestamps of a guest's serial console, for scripts/kdump.sh.

console_ts.py record DIR
    Copy stdin (QEMU's console on stdio) to DIR/console.log unchanged and
    to DIR/console.ts with each line prefixed by the host's monotonic time
    in seconds since the start ("12.345<TAB>line", carriage returns
    dropped).  Each line is written as soon as it is complete.

console_ts.py times DIR/console.ts
    Print "crash=T1 stopped=TS capture=T2 delta=D" (seconds, delta =
    T2 - T1): T1 is the host time of
    the first kernel's first crash line (the sysrq crash, an oops or BUG,
    or "Kernel panic - not syncing"), T2 the time of the capture kernel's
    first line (the line holding its "Linux version" banner, or the first
    line after the crash that has a printk time of 0.000000).  A missing
    one is "-".
"""
import os
import re
import sys
import time

CRASH = re.compile(r"sysrq: Trigger a crash|Kernel panic - not syncing|"
                   r"BUG: |Oops: |general protection fault")
BANNER = re.compile(r"Linux version \d")
STOPPED = re.compile(r"crash_stop: kdump: generation \d+:")
TIME0 = re.compile(r"^\[\s*0\.000000\]")


def record(outdir):
    t0 = time.monotonic()
    raw = open(os.path.join(outdir, "console.log"), "wb", buffering=0)
    ts = open(os.path.join(outdir, "console.ts"), "w", encoding="utf-8")
    inp = sys.stdin.buffer.raw
    pending = b""
    while True:
        chunk = inp.read(65536)
        if not chunk:
            break
        now = time.monotonic() - t0
        raw.write(chunk)
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            text = line.replace(b"\r", b"").decode("utf-8", "replace")
            ts.write("%.3f\t%s\n" % (now, text))
        ts.flush()
    if pending:
        text = pending.replace(b"\r", b"").decode("utf-8", "replace")
        ts.write("%.3f\t%s\n" % (time.monotonic() - t0, text))
    ts.close()
    raw.close()


def times(path):
    crash = capture = stopped = None
    banners = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            stamp, _, text = line.rstrip("\n").partition("\t")
            if BANNER.search(text):
                banners += 1
                if banners >= 2 and capture is None:
                    capture = float(stamp)
                    break
                continue
            if crash is not None and stopped is None and STOPPED.search(text):
                stopped = float(stamp)
            if crash is None and CRASH.search(text):
                crash = float(stamp)
            elif crash is not None and TIME0.search(text):
                capture = float(stamp)
                break

    def fmt(v):
        return "-" if v is None else "%.3f" % v

    delta = None
    if crash is not None and capture is not None:
        delta = capture - crash
    print("crash=%s stopped=%s capture=%s delta=%s" % (
        fmt(crash), fmt(stopped), fmt(capture), fmt(delta)))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "record":
        record(sys.argv[2])
    elif len(sys.argv) == 3 and sys.argv[1] == "times":
        times(sys.argv[2])
    else:
        sys.exit("usage: console_ts.py record DIR | times FILE")


if __name__ == "__main__":
    main()
