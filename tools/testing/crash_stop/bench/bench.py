#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Host side of scripts/bench.sh.

bench.py vm DIR TIMEOUT QEMU-COMMAND...
    Run QEMU (its ttyS1, the results port, on stdout: "-serial
    chardev:..." with "-chardev stdio,..."), kill it after TIMEOUT
    seconds.  Copies the results port to DIR/results.log, shows the
    guest's BENCH_PROGRESS lines on the console as they come, samples
    the QEMU process's CPU time (utime + stime of /proc/PID/stat) every
    100 ms into DIR/cpu.samples ("host seconds<TAB>CPU seconds"), and at
    each "BENCH_MARK NAME GUEST_UPTIME" line records the host time and
    the CPU time of QEMU and of each of its threads in DIR/marks.txt.
    Exits with QEMU's status (124 after the timeout).

bench.py report OUT ROUNDS HOLD_SMP VMDIR...
    From each VMDIR/results.log (VMDIR named smp-N): OUT/bench.csv (one
    row per vCPU count and quantity: min, median, p90, max in ns,
    rounds), OUT/table.md (medians, p90 and ratios to
    smp_call_function; crash_stop()'s round trip against two_waves),
    OUT/check.tap (one "ok" per vCPU count and
    quantity with ROUNDS rounds of numbers; when HOLD_SMP is not 0, one
    per window, idle and held, of that boot measured) and, from the
    hold/idle marks, OUT/hold.csv (cores used = QEMU CPU seconds / wall
    seconds, held vs idle).  Prints the tables.

bench.py plot OUT
    OUT/bench.png from OUT/bench.csv: median latency (log scale)
    against vCPUs, one line per quantity, the p90 as a mark.
"""
import csv
import datetime
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

# The quantities, in table order; the first is the reference of the ratios.
QUANTITIES = [
    ("smp_call_function", "smp_call_function(wait=1), no-op"),
    ("nmi_ack", "NMI to all others, acknowledged"),
    ("two_waves", "smp_call_function, then nmi_ack (two confirmed waves)"),
    ("stop_machine", "stop_machine(), no-op"),
    ("hold_all_gather", "hold-all (kgdb roundup shape): gather"),
    ("hold_all", "hold-all: round trip"),
    ("hold_all_release", "hold-all: release"),
    ("crash_stop_gather", "crash_stop(): gather"),
    ("crash_stop", "crash_stop(): round trip"),
    ("crash_stop_release", "crash_stop(): release (callback end to return)"),
    ("crash_stop_spin_gather", "crash_stop(), spinning hold (crash_stop.halt=0): gather"),
    ("crash_stop_spin", "crash_stop(), spinning hold: round trip"),
    ("crash_stop_spin_release", "crash_stop(), spinning hold: release"),
    ("crash_stop_nmi_gather", "crash_stop(), IRQ-off spinner: gather after the NMI escalation"),
    ("crash_stop_nmi", "crash_stop(), IRQ-off spinner: round trip after the escalation"),
]
REFERENCE = QUANTITIES[0][0]
# The windows of the hold measurement (guest.sh): idle, every CPU held by
# crash_stop (IPI-stopped CPUs halted), and held with crash_stop.halt=0.
HOLD_STATES = ("idle", "held", "held_spin")
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---- vm ---------------------------------------------------------------------

def proc_ticks(path):
    """utime + stime of a /proc/.../stat file, in clock ticks."""
    with open(path) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])


def thread_ticks(pid):
    """{tid: (comm, ticks)} of every thread of pid."""
    out = {}
    base = "/proc/%d/task" % pid
    for tid in os.listdir(base):
        try:
            with open("%s/%s/comm" % (base, tid)) as f:
                comm = f.read().strip()
            out[tid] = (comm, proc_ticks("%s/%s/stat" % (base, tid)))
        except OSError:
            pass
    return out


def vm(outdir, timeout, cmd):
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE,
                            stderr=open(os.path.join(outdir, "qemu.log"), "wb"))
    timed_out = threading.Event()

    def kill():
        timed_out.set()
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()

    timer = threading.Timer(timeout, kill)
    timer.daemon = True
    timer.start()
    stop = threading.Event()

    def sampler():
        with open(os.path.join(outdir, "cpu.samples"), "w") as f:
            while not stop.is_set():
                try:
                    ticks = proc_ticks("/proc/%d/stat" % proc.pid)
                except (OSError, IndexError):
                    break
                f.write("%.3f\t%.2f\n" % (time.monotonic() - t0, ticks / CLK_TCK))
                f.flush()
                stop.wait(0.1)

    threading.Thread(target=sampler, daemon=True).start()
    res = open(os.path.join(outdir, "results.log"), "wb", buffering=0)
    marks = open(os.path.join(outdir, "marks.txt"), "w")
    booted = False
    for line in proc.stdout:
        now = time.monotonic() - t0
        res.write(line)
        text = line.decode("utf-8", "replace").strip()
        if text.startswith("BENCH_CPUS") and not booted:
            booted = True
            say("booted in %.0f s;" % now)
        elif text.startswith("BENCH_PROGRESS "):
            say(text.split(" ", 1)[1] + ",")
        elif text.startswith("BENCH_ERROR "):
            say("[%s]" % text)
        elif text.startswith("BENCH_MARK "):
            try:
                threads = thread_ticks(proc.pid)
                total = proc_ticks("/proc/%d/stat" % proc.pid)
            except (OSError, IndexError):
                continue
            parts = text.split()
            marks.write("%s\t%s\t%.3f\t%d\t%s\n" % (
                parts[1], parts[2] if len(parts) > 2 else "-", now, total,
                " ".join("%s:%s:%d" % (tid, comm.replace(" ", "_"), t)
                         for tid, (comm, t) in sorted(threads.items()))))
            marks.flush()
    rc = proc.wait()
    stop.set()
    timer.cancel()
    res.close()
    marks.close()
    if timed_out.is_set():
        say("killed after %d s," % timeout)
        return 124
    return rc


def say(text):
    sys.stdout.write(" " + text)
    sys.stdout.flush()


# ---- report -----------------------------------------------------------------

RESULT = re.compile(r"^BENCH_RESULT mech=(\S+) rounds=(\d+)(.*)$")


def parse_results(path):
    """(vcpus, {quantity: {min, median, p90, max, rounds, notes}})."""
    vcpus, rows = None, {}
    with open(path, "rb") as f:
        for raw in f:
            line = raw.decode("utf-8", "replace").strip()
            if line.startswith("BENCH_CPUS "):
                vcpus = int(line.split()[1])
            if line.startswith("BENCH_REWAKES "):
                sent, wakes = (int(x) for x in line.split()[1:3])
                rows["rewakes"] = (sent, wakes)
            m = RESULT.match(line)
            if not m:
                continue
            row = {"rounds": int(m.group(2)), "notes": []}
            for word in m.group(3).split():
                k, _, v = word.partition("=")
                if k in ("min", "median", "p90", "max"):
                    row[k] = int(v)
                else:
                    row["notes"].append(word)
            rows[m.group(1)] = row
    return vcpus, rows


def fmt_ns(ns):
    if ns >= 10_000_000:
        return "%.0f ms" % (ns / 1e6)
    if ns >= 1_000_000:
        return "%.1f ms" % (ns / 1e6)
    if ns >= 10_000:
        return "%.0f µs" % (ns / 1e3)
    return "%.1f µs" % (ns / 1e3)


def host_line():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return "%s (%s, %d CPUs)" % (socket.gethostname(), model, os.cpu_count())


def load_line(outdir):
    """The host's 1-minute load average over the run: OUT/load.txt has one
    taken at each boot's start and end (scripts/bench.sh)."""
    vals = []
    try:
        with open(os.path.join(outdir, "load.txt")) as f:
            vals = [float(line.split()[0]) for line in f if line.strip()]
    except (OSError, ValueError, IndexError):
        pass
    if not vals:
        return "host load average unknown"
    return "host load average (1 min) %.1f–%.1f during the run" % (min(vals), max(vals))


def hold_monarch(vmdir, state):
    """The monarch CPU of the hold STATE (its "BENCH_HOLD_LAST STATE" line),
    or None."""
    try:
        with open(os.path.join(vmdir, "results.log"), "rb") as f:
            for raw in f:
                m = re.search(rb"^BENCH_HOLD_LAST (\S+) .*\bmonarch=(\d+)", raw)
                if m and m.group(1).decode() == state:
                    return int(m.group(2))
    except OSError:
        pass
    return None


def hold_report(vmdir):
    """[(state, host wall s, guest wall s, QEMU CPU s, cores, cores of the
    vCPU threads, of the monarch's vCPU thread (held only, else None))]."""
    path = os.path.join(vmdir, "marks.txt")
    if not os.path.exists(path):
        return []
    marks = {}
    with open(path) as f:
        for line in f:
            name, guest, host, total, threads = (line.rstrip("\n").split("\t") + [""])[:5]
            per = {}
            for item in threads.split():
                tid, comm, t = item.rsplit(":", 2)
                per[tid] = (comm, int(t))
            marks[name] = (float(guest), float(host), int(total), per)
    out = []
    for state in HOLD_STATES:
        monarch = hold_monarch(vmdir, state)
        b, e = marks.get(state + "_begin"), marks.get(state + "_end")
        if not b or not e:
            continue
        wall = e[1] - b[1]
        if wall <= 0:
            continue

        def cores(pick):
            return sum(t - b[3][tid][1] for tid, (comm, t) in e[3].items()
                       if tid in b[3] and pick(comm)) / CLK_TCK / wall

        # QEMU names its vCPU threads "CPU N/TCG" (-name debug-threads=on).
        vcpu = cores(lambda c: c.startswith("CPU_"))
        mon = None
        if monarch is not None:
            mon = cores(lambda c: c.split("/")[0] == "CPU_%d" % monarch)
        out.append((state, wall, e[0] - b[0], (e[2] - b[2]) / CLK_TCK,
                    (e[2] - b[2]) / CLK_TCK / wall, vcpu, mon))
    return out


def unknown_nmis(vmdir):
    """Kernel log lines of a boot reporting an NMI nobody claimed, or None
    when the boot left no console log."""
    try:
        with open(os.path.join(vmdir, "console.log"), "rb") as f:
            return sum(1 for line in f if b"NMI received for unknown reason" in line)
    except OSError:
        return None


def report(outdir, want_rounds, hold_smp, vmdirs):
    data = {}
    holds = []
    for d in vmdirs:
        path = os.path.join(d, "results.log")
        if not os.path.exists(path):
            continue
        vcpus, rows = parse_results(path)
        if vcpus is None:
            m = re.search(r"(\d+)$", os.path.basename(d.rstrip("/")))
            vcpus = int(m.group(1)) if m else 0
        data[vcpus] = rows
        for h in hold_report(d):
            holds.append((vcpus,) + h)
    # The vCPU counts asked for, from the directory names (smp-N).
    counts = sorted({int(re.search(r"(\d+)$", d.rstrip("/")).group(1)) for d in vmdirs})

    with open(os.path.join(outdir, "bench.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["vcpus", "mechanism", "min_ns", "median_ns", "p90_ns", "max_ns", "rounds"])
        for n in counts:
            for q, _ in QUANTITIES:
                r = data.get(n, {}).get(q)
                if r and r["rounds"] > 0:
                    w.writerow([n, q, r["min"], r["median"], r["p90"], r["max"], r["rounds"]])

    ok = 0
    hold_states = HOLD_STATES if hold_smp else ()
    total = len(counts) * len(QUANTITIES) + len(hold_states) + len(vmdirs)
    with open(os.path.join(outdir, "check.tap"), "w") as f:
        f.write("1..%d\n" % total)
        i = 0
        for state in hold_states:
            i += 1
            # The host timestamps a mark when it arrives: a mark still in
            # the guest's UART when the hold began arrives after it.
            good = any(h[0] == hold_smp and h[1] == state and h[2] > 0
                       and abs(h[2] - h[3]) <= 0.1 * h[3] for h in holds)
            ok += good
            f.write("%s %d - %d vCPUs: QEMU CPU use, %s%s\n" % (
                "ok" if good else "not ok", i, hold_smp, state,
                "" if good else " # not measured, or host and guest disagree on its length"))
        for n in counts:
            for q, _ in QUANTITIES:
                i += 1
                r = data.get(n, {}).get(q)
                good = (r is not None and r["rounds"] == want_rounds
                        and all(k in r for k in ("min", "median", "p90", "max"))
                        and 0 < r["min"] <= r["median"] <= r["p90"] <= r["max"])
                ok += good
                why = "" if good else (" # no numbers" if not r else
                                       " # %d rounds" % r["rounds"])
                f.write("%s %d - %d vCPUs: %s%s\n" % ("ok" if good else "not ok", i, n, q, why))
        # Every NMI crash_stop sends (escalation, wake-up) must be claimed.
        for d in vmdirs:
            i += 1
            bad = unknown_nmis(d)
            good = bad == 0
            ok += good
            f.write("%s %d - %s: no NMI reported as unknown%s\n" % (
                "ok" if good else "not ok", i, os.path.basename(d.rstrip("/")),
                "" if good else (" # no console log" if bad is None else " # %d" % bad)))

    # When the last boot ended (a report made again later keeps its date).
    ends = [os.path.getmtime(os.path.join(d, "results.log")) for d in vmdirs
            if os.path.exists(os.path.join(d, "results.log"))]
    when = datetime.datetime.fromtimestamp(max(ends)) if ends else datetime.datetime.now()
    stamp = when.strftime("%Y-%m-%d %H:%M")
    lines = []
    lines.append("Measured %s on %s, %s; QEMU TCG, %d rounds each. Median "
                 "(p90) and the median's ratio to smp_call_function."
                 % (stamp, host_line(), load_line(outdir), want_rounds))
    lines.append("")
    lines.append("| mechanism | " + " | ".join("%d vCPUs" % n for n in counts) + " |")
    lines.append("|---|" + "---|" * len(counts))
    for q, desc in QUANTITIES:
        cells = []
        for n in counts:
            r = data.get(n, {}).get(q)
            ref = data.get(n, {}).get(REFERENCE)
            if not r or r["rounds"] == 0:
                cells.append("—")
                continue
            c = "%s (%s)" % (fmt_ns(r["median"]), fmt_ns(r["p90"]))
            if ref and ref.get("median"):
                c += " ×%.1f" % (r["median"] / ref["median"])
            if r["notes"]:
                c += " [%s]" % " ".join(r["notes"])
            cells.append(c)
        lines.append("| %s | %s |" % (desc, " | ".join(cells)))
    # Fewer NMIs than rounds (negative) when two of them merged.
    rewakes = ["%d of %d at %d vCPUs" % (data[n]["rewakes"] + (n,))
               for n in counts if "rewakes" in data.get(n, {})]
    if any(data[n]["rewakes"][0] < 0 for n in counts if "rewakes" in data.get(n, {})):
        rewakes.append("a negative count: NMIs that merged with another one")
    if rewakes:
        lines.append("")
        lines.append("smp_call_function, nmi_ack, two_waves and crash_stop() ran a "
                     "round of each in turn. Wake-up NMIs crash_stop() sent again (a first one "
                     "that landed just before the halt): " + ", ".join(rewakes) + ".")
    # crash_stop() stops by IPI and releases by NMI: two waves, confirmed.
    floor = []
    for n in counts:
        cs, tw = data.get(n, {}).get("crash_stop"), data.get(n, {}).get("two_waves")
        if cs and tw and cs.get("median") and tw.get("median"):
            floor.append("×%.2f at %d vCPUs" % (cs["median"] / tw["median"], n))
    if floor:
        lines.append("")
        lines.append("crash_stop() round trip against two_waves, the same two waves "
                     "without the protocol (medians): " + ", ".join(floor) + ".")
    if holds:
        lines.append("")
        lines.append("QEMU process CPU use (utime + stime) while crash_stop holds every "
                     "CPU vs idle; cores = CPU seconds / wall seconds (host):")
        lines.append("")
        lines.append("| vCPUs | state | wall (host) | wall (guest) | QEMU CPU | cores "
                     "| vCPU threads | the monarch's vCPU thread |")
        lines.append("|---|---|---|---|---|---|---|---|")
        for n, state, wall, gwall, cpu, cores, vcores, mon in holds:
            lines.append("| %d | %s | %.2f s | %.2f s | %.2f s | %.2f | %.2f | %s |"
                         % (n, state, wall, gwall, cpu, cores, vcores,
                            "—" if mon is None else "%.2f" % mon))
    table = "\n".join(lines) + "\n"
    with open(os.path.join(outdir, "table.md"), "w") as f:
        f.write(table)
    if holds:
        with open(os.path.join(outdir, "hold.csv"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["vcpus", "state", "host_wall_s", "guest_wall_s", "qemu_cpu_s",
                        "cores", "vcpu_thread_cores", "monarch_vcpu_cores"])
            for h in holds:
                w.writerow([h[0], h[1]] + ["%.3f" % x for x in h[2:7]]
                           + ["" if h[7] is None else "%.3f" % h[7]])
    print(table, end="")
    print("%d of %d checks: every quantity has %d rounds of numbers%s, no unknown NMI"
          % (ok, total, want_rounds, ", the hold was measured" if hold_states else ""))
    return 0 if ok == total else 1


# ---- plot -------------------------------------------------------------------

def plot(outdir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    rows = {}
    with open(os.path.join(outdir, "bench.csv")) as f:
        for r in csv.DictReader(f):
            rows.setdefault(r["mechanism"], []).append(
                (int(r["vcpus"]), int(r["median_ns"]), int(r["p90_ns"])))
    fig, ax = plt.subplots(figsize=(10, 7.5), dpi=110)
    # One colour and one marker per quantity (there are 15).
    markers = "osD^v<>ph*XPd8H"
    colours = plt.get_cmap("tab20").colors
    for i, (q, desc) in enumerate(QUANTITIES):
        pts = sorted(rows.get(q, []))
        if not pts:
            continue
        xs = [p[0] for p in pts]
        med = [p[1] for p in pts]
        p90 = [p[2] for p in pts]
        style = "--" if q.endswith("_gather") else ":" if q.endswith("_release") else "-"
        line, = ax.plot(xs, med, marker=markers[i % len(markers)], label=desc,
                        color=colours[i % len(colours)], linestyle=style)
        ax.scatter(xs, p90, marker="_", s=260, linewidths=2,
                   color=line.get_color(), zorder=3)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(
        lambda v, _: fmt_ns(v).replace(".0 ", " ")))
    xs = sorted({x for pts in rows.values() for x, _, _ in pts})
    ax.set_xscale("log", base=2)
    ax.set_xticks(xs)
    ax.set_xticklabels([str(x) for x in xs])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xlabel("vCPUs (QEMU TCG)")
    ax.set_ylabel("latency: median (line), p90 (bar)")
    ax.grid(True, which="major", alpha=0.4)
    ax.grid(True, which="minor", axis="y", alpha=0.15)
    ax.set_title("Reaching every other CPU: latency against vCPUs\n%s, %s"
                 % (host_line(), datetime.date.today().isoformat()), fontsize=10)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2)
    fig.tight_layout()
    fig.savefig(os.path.join(outdir, "bench.png"))
    print("wrote %s" % os.path.join(outdir, "bench.png"))


def main(argv):
    if len(argv) >= 4 and argv[1] == "vm":
        return vm(argv[2], int(argv[3]), argv[4:])
    if len(argv) >= 5 and argv[1] == "report":
        return report(argv[2], int(argv[3]), int(argv[4]), argv[5:])
    if len(argv) == 3 and argv[1] == "plot":
        plot(argv[2])
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main(sys.argv))
