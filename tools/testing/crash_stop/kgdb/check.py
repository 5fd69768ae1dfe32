#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Checks of one kgdb case run by vm.py, for scripts/kgdb.sh.

check.py CASE DIR MAP [--peer DIR] [--row FILE] [--kgdbts-log FILE]

CASE is the case name (gdb, kdb, kdb-ss, wedge, stop30, cbbp, kgdbts,
kgdbts-F, kgdbts-S, with "-upstream" for the crash_stop.kgdb=0 run), DIR
its build/vm/ directory, MAP the kernel's System.map.  --peer is the
directory of the same case on the other path: a failure that the upstream
run shows identically is reported as skipped, not failed.  One line per
check on stdout:

    PASS text
    FAIL text
    SKIP text # reason
    NOTE text            (information only)

--row FILE gets the case's row of the A/B table (key=value lines);
--kgdbts-log FILE gets the kgdbts lines of the kernel log and the per-test
verdicts.
"""
import argparse
import bisect
import os
import re
import sys

IDLE_RE = re.compile(r"^(pv_native_safe_halt|native_safe_halt|default_idle|"
                     r"default_idle_call|arch_cpu_idle|cpu_idle_poll|do_idle|"
                     r"mwait_idle|acpi_idle_do_entry|acpi_safe_halt|intel_idle|"
                     r"cpuidle_enter_state)$")
ENTRY_RE = re.compile(r"^(kgdb_breakpoint|__handle_sysrq|sysrq_handle_dbg|"
                      r"write_sysrq_trigger)$")
USER_MAX = 0x0000800000000000


class Out:
    def __init__(self, case):
        self.case = case
        self.lines = []
        # Set when the case hung the way the upstream run hangs too: the
        # failures that follow from the hang are skipped with this reason.
        self.known = None

    def _emit(self, kind, text, reason=None):
        line = "%s %s: %s" % (kind, self.case, text)
        if reason:
            line += " # " + reason
        self.lines.append(line)
        print(line)

    def check(self, cond, text):
        if not cond and self.known:
            self._emit("SKIP", text, self.known)
            return cond
        self._emit("PASS" if cond else "FAIL", text)
        return cond

    def skip(self, text, reason):
        self._emit("SKIP", text, reason)

    def note(self, text):
        self._emit("NOTE", text)


def read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().replace("\r", "")
    except OSError:
        return ""


class SymMap:
    def __init__(self, path):
        self.addrs, self.names = [], []
        rows = []
        for line in read(path).splitlines():
            p = line.split()
            if len(p) >= 3 and p[1] in "TtWw":
                rows.append((int(p[0], 16), p[2]))
        rows.sort()
        self.addrs = [a for a, _ in rows]
        self.names = [n for _, n in rows]

    def sym(self, addr):
        """(name, offset) of addr, or None outside kernel text."""
        if addr < 0xffffffff80000000 or not self.addrs:
            return None
        i = bisect.bisect_right(self.addrs, addr) - 1
        if i < 0:
            return None
        return self.names[i], addr - self.addrs[i]

    def fmt(self, addr):
        s = self.sym(addr)
        if s:
            return "%s+0x%x" % s
        return "0x%x%s" % (addr, " (user)" if addr < USER_MAX else "")


class Run:
    """What one case's run left in its directory."""

    def __init__(self, d):
        self.dir = d
        self.results = read(os.path.join(d, "results.log")).splitlines()
        self.console = read(os.path.join(d, "console.log"))
        self.kdb = read(os.path.join(d, "kdb.log"))
        self.gdb = read(os.path.join(d, "gdb.log"))
        self.times = {}
        self.problems = []
        for line in read(os.path.join(d, "times.txt")).splitlines():
            k, _, v = line.partition("=")
            if k == "problem":
                self.problems.append(v)
            else:
                self.times[k] = v

    def res(self, key):
        """Every value of "KEY value" lines of the results port."""
        out = []
        for line in self.results:
            if line == key or line.startswith(key + " "):
                out.append(line[len(key):].strip())
        return out

    def res1(self, key, default=None):
        v = self.res(key)
        return v[0] if v else default

    def t(self, key):
        try:
            return float(self.times[key])
        except (KeyError, ValueError):
            return None

    def guest_rc(self):
        """The scenario's exit status: init's CRASH_STOP_GUEST_END line, or
        0 from the scenario's own last line (KGDB_END, after which the
        scenario exits 0) when init's line did not make it out before the
        power-off."""
        for line in self.results:
            m = re.match(r"CRASH_STOP_GUEST_END rc=(\d+)", line)
            if m:
                return int(m.group(1))
        if "KGDB_END" in self.results and self.times.get("qemu_rc") == "0":
            return 0
        # A case of a boot that runs several (kgdb.sh --short): the
        # guest went on to the next one.
        if self.segment_done() and self.shared_boot():
            return 0
        return None

    def segment_done(self):
        return any(line.startswith("KGDB_SEG_END ") for line in self.results)

    def shared_boot(self):
        """The boot's directory when the case ran in a boot with others."""
        b = read(os.path.join(self.dir, "boot")).strip()
        return b or None

    def stalled_port(self):
        return "results port (ttyS1) did not drain" in self.console

    def param(self):
        """'1', '0', None (no crash_stop.kgdb parameter) or '?' (the
        guest did not say)."""
        v = self.res1("KGDB_PARAM", "?")
        if v == "none":
            return None
        if v == "?":
            return v
        v = v.partition("=")[2]
        return {"Y": "1", "N": "0"}.get(v, v)

    def online(self):
        v = self.res1("KGDB_CPUS")
        if v:
            return parse_cpulist(v.partition("=")[2])
        m = re.search(r"smp: Brought up \d+ nodes?, (\d+) CPUs", self.console)
        return set(range(int(m.group(1)))) if m else {0}

    def klog(self):
        """The kernel console from the break-in on (the console has it
        all; the guest's ring buffer may have wrapped), printk times
        dropped."""
        out, on = [], False
        for line in self.console.splitlines():
            if not on and re.search(r"kgdb-test: KGDB_BREAK|sysrq: DEBUG|kgdbts:RUN", line):
                on = True
            if on:
                out.append(re.sub(r"^\[\s*[0-9.]+\]\s*", "", line))
        return out

    def cslines(self):
        """crash_stop's kgdb roundup lines, from the console."""
        return re.findall(r"crash_stop: kgdb: generation \d+:.*", self.console)

    def kdb_cmds(self):
        """[(command, output)] of the kdb transcript; the banner is
        command ''."""
        out = []
        parts = re.split(r"^\[\+[0-9.]+\] (?:>>> (.*)|\(host: .*\)|\(guest: .*\))$",
                         self.kdb, flags=re.M)
        out.append(("", parts[0]))
        for i in range(1, len(parts), 2):
            if parts[i] is not None:
                out.append((parts[i], parts[i + 1]))
            elif out:
                out[-1] = (out[-1][0], out[-1][1] + parts[i + 1])
        return out


def parse_cpulist(s):
    cpus = set()
    for part in s.strip().split(","):
        if not part:
            continue
        a, _, b = part.partition("-")
        cpus.update(range(int(a), int(b or a) + 1))
    return cpus


def parse_kdb_cpus(text):
    """{cpu: state} from kdb's "Available cpus: 0, 1(-), 2-3(D)" (' ' and
    '-' answer kdb, 'D' does not, 'F' is offline)."""
    m = re.search(r"Available cpus: (.*)", text)
    if not m:
        return None
    states = {}
    for part in m.group(1).split(","):
        part = part.strip()
        pm = re.fullmatch(r"(\d+)(?:-(\d+))?(?:\((.)\))?", part)
        if not pm:
            continue
        a, b = int(pm.group(1)), int(pm.group(2) or pm.group(1))
        for c in range(a, b + 1):
            states[c] = pm.group(3) or " "
    return states


def fmt_states(states):
    return " ".join("%d%s" % (c, "" if s == " " else "(%s)" % s)
                    for c, s in sorted(states.items()))


def rd_ip(text):
    m = re.search(r"\bip: ([0-9a-f]{16})", text)
    return int(m.group(1), 16) if m else None


def cs_hows(line):
    """{cpu: how} from a crash_stop kgdb line."""
    return {int(c): h for c, h in re.findall(r"cpu(\d+)=(\w+)", line)}


# ---- checks every case shares ------------------------------------------

BAD_LOG = [
    ("soft lockup", r"soft lockup"),
    ("hard LOCKUP", r"hard LOCKUP"),
    ("RCU stall", r"rcu.*stall|self-detected stall|rcu: INFO"),
    ("clocksource", r"clocksource.*unstable|Marking clocksource|timekeeping watchdog|skew is too large"),
    ("NMI for unknown reason", r"NMI received for unknown reason"),
    ("workqueue lockup", r"workqueue lockup"),
    ("hung task", r"blocked for more than"),
    ("BUG/Oops/panic", r"BUG:|Oops|Kernel panic"),
]


def common(o, run, case, peer):
    up = case.endswith("-upstream")
    base = case[:-len("-upstream")] if up else case
    param = run.param()
    fail = run.res1("KGDB_FAIL")
    if fail:
        o.check(False, "the scenario could not go on: " + fail)
    rc = run.guest_rc()
    boot = run.shared_boot()
    if not any(line.startswith("CRASH_STOP_GUEST_END") for line in run.results) and rc == 0 \
            and "KGDB_END" in run.results:
        o.note("init's CRASH_STOP_GUEST_END line did not leave the guest before the power-off; "
               "the scenario's own KGDB_END did")
    if run.stalled_port() or "KGDB_END" in run.results or run.segment_done():
        o.check(not run.stalled_port(),
                "the results port (ttyS1) sent all its output (tcdrain within 20 s at the end)")
    o.check(rc == 0 and not run.problems,
            "the guest ran to its end and powered off (guest rc=%s, qemu rc=%s)%s"
            % (rc, run.times.get("qemu_rc", "-"),
               "; " + "; ".join(run.problems) if run.problems else "")
            if not boot else
            "the case ran to its end in the shared boot %s (KGDB_SEG_END: %s, qemu rc=%s)%s"
            % (boot, "yes" if run.segment_done() else "no", run.times.get("qemu_rc", "-"),
               "; " + "; ".join(run.problems) if run.problems else ""))

    if run.res1("KGDB_TO_KDB") is not None:
        back = run.t("kdb_back")
        o.check(back is not None and not any("'$3#33'" in p or "after 'go'" in p for p in run.problems),
                "after %s (gdb's protocol), sysrq-g entered gdb's stub and '$3#33' brought "
                "kdb's prompt back (%s), 'go' resumed" % (
                    "kgdbts" if base.startswith("kgdbts") else "gdb's detach",
                    "%.1f s after the guest's KGDB_TO_KDB" % back if back is not None else "no prompt"))

    count = run.res1("KGDB_LOADS_COUNT")
    if count is None:
        o.check(False, "every busy loop kept counting after the resume: no count (the guest did not get there)")
    else:
        o.check(count.startswith("ok "),
                "every busy loop kept counting after the resume (1 s): %s" % count.partition(" ")[2])

    # The kernel log from the break-in on.
    log = run.klog()
    got_end = bool(log)
    found = []
    for what, rx in BAD_LOG:
        hits = [line for line in log if re.search(rx, line)]
        if what == "clocksource":
            # "Watchdog remote CPU ... read timed out" happens on every
            # TCG boot; anything else about the clocksource is a finding.
            hits = [h for h in hits if "read timed out" not in h]
        if hits:
            found.append("%s (%d): %s" % (what, len(hits), hits[0]))
    warn = [line for line in log if "WARNING:" in line]
    if base.startswith("kgdbts"):
        # kgdbts' eprintk() is a WARN_ON(1): counted by the kgdbts checks.
        warn = [w for w in warn if "kgdbts" not in w]
    if warn:
        found.append("WARNING (%d): %s" % (len(warn), warn[0]))
    if not got_end:
        o.check(False, "kernel log after the break-in: no break-in on the console")
    else:
        o.check(not found, "kernel log after the break-in: no %s%s" % (
            ", ".join(w for w, _ in BAD_LOG) + ", WARNING",
            ": " + " | ".join(found) if found else ""))
    timed = [line for line in log if "Timed out waiting for secondary CPUs" in line]
    too_long = [line for line in log if "took too long" in line]
    remote = [line for line in log if "read timed out" in line]
    if base == "cbbp" and timed:
        # A breakpoint inside a crash stop: kgdb falls back to its NMI
        # roundup, which a CPU crash_stop holds in NMI context (stopped by
        # NMI) cannot take until it is released; kgdb's 1 s wait then ends.
        o.note("kgdb timed out waiting for a CPU held in NMI context by the crash stop "
               "(%d \"Timed out waiting for secondary CPUs\")" % len(timed))
    elif base != "wedge":
        o.check(not timed, "kgdb did not time out waiting for the other CPUs%s" % (
            " (%d \"Timed out waiting for secondary CPUs\")" % len(timed) if timed else ""))
    else:
        o.note("\"Timed out waiting for secondary CPUs\": %d" % len(timed))
    handlers = sorted(set(re.sub(r".*NMI handler \((\w+)\).*", r"\1", line) for line in too_long))
    o.note("NMI handlers that \"took too long\": %d lines (%s)%s" % (
        len(too_long), ", ".join(handlers) or "none",
        "; clocksource \"read timed out\" (TCG): %d" % len(remote) if remote else ""))

    # crash_stop's own account of the roundups.
    cs = run.cslines()
    if param == "?":
        o.check(False, "the guest reported crash_stop.kgdb (no KGDB_PARAM line on the results port)")
        return
    if param is None:
        o.skip("crash_stop kgdb lines", "the kernel has no crash_stop.kgdb parameter "
               "(no CONFIG_CRASH_STOP_KGDB): both runs take the upstream roundup")
        return
    if up:
        o.check(param == "0" and not cs,
                "crash_stop.kgdb=%s: no crash_stop kgdb line, the upstream NMI roundup (%d lines)"
                % (param, len(cs)))
        return
    if not o.check(param == "1", "crash_stop.kgdb=%s (the default is 1)" % param):
        return
    if base.startswith("kgdbts"):
        gens = [int(g) for g in re.findall(r"generation (\d+):", " ".join(cs))]
        o.check(len(cs) > 0, "crash_stop rounded up the CPUs for kgdbts: %d crash_stop kgdb lines%s"
                % (len(cs), ", generations %d..%d" % (min(gens), max(gens)) if gens else ""))
        bad = [c for c in cs if re.search(r"=(missing|none)", c)]
        nmi = [c for c in cs if "=nmi" in c]
        # A vCPU thread of an overloaded TCG host can be off the host CPU
        # for longer than the NMI wait: reported, not failed.
        o.note("kgdbts roundups with a CPU missing: %d%s; with a CPU by NMI: %d" % (
            len(bad), " (" + " | ".join(bad[:2]) + ")" if bad else "", len(nmi)))
        return
    # One roundup per entry into the debugger: the break-in, and each
    # single step that came back (kgdb lets the other CPUs go for the
    # step and rounds them up again at the trap, upstream too: nothing
    # sets kgdb_single_step), and gdb's second break-in after its
    # continue.  Switching CPUs ("cpu N") is no entry.  The kernel logs a
    # roundup that needed an NMI or missed a CPU always, the others rate
    # limited (10 per 5 s): a line per entry at most, and the generations
    # of the lines within the entries'.
    steps = [out for c, out in run.kdb_cmds() if c == "ss" and re.search(r"\[\d+\]kdb>", out)]
    again = 1 if base == "gdb" and len(run.res("KGDB_RESUMED")) >= 2 else 0
    tokdb = 1 if run.t("kdb_back") is not None else 0
    want = 1 + len(steps) + again + tokdb
    parts = ["the break-in"]
    if steps:
        parts.append("%d single step%s" % (len(steps), "s" if len(steps) > 1 else ""))
    if again:
        parts.append("the break-in after gdb's continue")
    if tokdb:
        parts.append("the break-in back to kdb")
    gens = [int(g) for g in re.findall(r"generation (\d+):", " ".join(cs))]
    what = "one crash_stop kgdb roundup per debugger entry (%d: %s)" % (want, ", ".join(parts))
    o.check(1 <= len(cs) <= want and (not gens or max(gens) - min(gens) < want),
            "%s: found %d line%s%s" % (what, len(cs), "" if len(cs) == 1 else "s",
                                        ": " + " | ".join(cs[:3]) if cs else ""))
    if len(cs) < want:
        o.note("%d of %d roundups logged (the kernel rate-limits the lines of roundups without an NMI)"
               % (len(cs), want))
    if not cs:
        return
    hows = cs_hows(cs[0])
    online = run.online()
    o.check(hows.get(0) == "monarch", "the break-in CPU 0 is the monarch: %s" % cs[0])
    # Which CPU must be stopped how: the spinner only by NMI, the wedged
    # CPU not at all; the others answer the IPI.  An idle or busy CPU
    # stopped by NMI is a vCPU thread that the host did not run within
    # crash_stop's IPI wait (100 ms; TCG on a crowded host): noted, not
    # failed; missing, it fails.
    special = {"gdb": (2, "nmi", "the IRQ-off spinner (CPU 2) by NMI"),
               "kdb": (2, "nmi", "the IRQ-off spinner (CPU 2) by NMI"),
               "wedge": (3, "missing", "the wedged CPU 3 missing")}.get(base)
    allhow = " ".join("cpu%d=%s" % kv for kv in sorted(hows.items()))
    others = {c: h for c, h in hows.items() if c != 0 and (not special or c != special[0])}
    late = sorted(c for c, h in others.items() if h == "nmi")
    text = "%s%s: %s" % (special[2] + ", " if special else "no spinner: ",
                         "the other CPUs by IPI", allhow)
    if late:
        text += " (CPU %s by NMI: not running within the IPI wait)" % ",".join(map(str, late))
    o.check((not special or hows.get(special[0]) == special[1])
            and all(h in ("ipi", "nmi") for h in others.values())
            and set(hows) == online, text)
    # A CPU held in kgdb's handler reports the whole session (seconds);
    # under TCG on a loaded host a vCPU thread preempted by the host makes
    # any handler "take" a few ms, which says nothing about who held it.
    kgdb_nmi = [line for line in too_long if "kgdb_nmi_handler" in line]
    held = [line for line in kgdb_nmi if nmi_ms(line) is None or nmi_ms(line) >= HELD_MS]
    if base == "cbbp":
        # The breakpoints' entries (inside a crash_stop generation) take
        # kgdb's NMI roundup: their sessions hold CPUs in kgdb's handler,
        # the break-in's (through crash_stop) must not.
        cut = next((i for i, line in enumerate(log) if "kgdb-test: KGDB_CBSTOP " in line), len(log))
        early = [line for line in log[:cut] if line in held]
        o.check(not early, "no CPU held in kgdb's own NMI handler in the break-in's session "
                "(kgdb_nmi_handler \"took too long\" %d ms or more: %d)" % (HELD_MS, len(early)))
        o.note("after the breakpoints (kgdb's NMI roundup) kgdb_nmi_handler \"took too long\" "
               "%d ms or more: %d lines%s" % (HELD_MS, len(held) - len(early), (
                   " (%s ms)" % ", ".join("%.0f" % nmi_ms(line) for line in held[len(early):]
                                          if nmi_ms(line) is not None)) if len(held) > len(early) else ""))
    elif base != "wedge":
        o.check(not held, "no CPU held in kgdb's own NMI handler (kgdb_nmi_handler \"took too long\""
                " %d ms or more: %d%s)" % (HELD_MS, len(held), ", %d shorter" % (len(kgdb_nmi) - len(held))
                                           if len(kgdb_nmi) > len(held) else ""))


# "took too long" of a CPU that waited in a handler for a debugger session.
HELD_MS = 100


def nmi_ms(line):
    """The duration of an "NMI handler (...) took too long to run: X msecs"
    line, in ms, or None."""
    m = re.search(r"took too long to run: ([0-9.]+) msecs", line)
    return float(m.group(1)) if m else None


# ---- the debugger clients -----------------------------------------------

def prompt_check(o, run):
    b2p, s2p = run.t("break_to_prompt"), run.t("sysrq_to_prompt")
    return o.check(b2p is not None,
                   "break-in (sysrq-g) to the kdb prompt: %s s (from the console's \"sysrq: DEBUG\": %s s)"
                   % ("%.3f" % b2p if b2p is not None else "no prompt",
                      "%.3f" % s2p if s2p is not None else "-"))


def check_gdb(o, run, smap):
    if not prompt_check(o, run):
        return {}
    g = run.gdb
    o.check(run.t("gdb_rc") == 0 or run.times.get("gdb_rc") == "0",
            "gdb ran and detached (status %s, %s s)" % (run.times.get("gdb_rc", "-"),
                                                        run.times.get("gdb_secs", "-")))
    shadow = {}
    for m in re.finditer(r"^\*?\s+\d+\s+Thread \d+ \(shadowCPU(\d+)\)\s+(0x[0-9a-f]+) in (\S+) \(\)",
                         g, re.M):
        shadow[int(m.group(1))] = (int(m.group(2), 16), m.group(3))
    online = run.online()
    o.check(set(shadow) == online,
            "one gdb thread per online CPU: %s (online %s)" % (
                " ".join("shadowCPU%d" % c for c in sorted(shadow)) or "none",
                ",".join(map(str, sorted(online)))))
    places = []
    for c in sorted(shadow):
        addr, fn = shadow[c]
        places.append("cpu%d %s" % (c, fn if fn != "??" else smap.fmt(addr)))
    o.note("gdb frames: " + "; ".join(places))
    sp = shadow.get(2)
    o.check(sp is not None and sp[1] == "crash_stop_test_spin",
            "CPU 2 (the IRQ-off spinner) is in crash_stop_test_spin: %s" % (sp[1] if sp else "no thread"))
    e = shadow.get(0)
    o.check(e is not None and ENTRY_RE.match(e[1]) is not None,
            "the break-in CPU 0 is in kgdb_breakpoint/sysrq: %s" % (e[1] if e else "no thread"))
    odd = []
    for c in sorted(shadow):
        if c in (0, 2):
            continue
        addr, fn = shadow[c]
        if IDLE_RE.match(fn) or addr < USER_MAX or fn != "??":
            continue
        odd.append("cpu%d 0x%x" % (c, addr))
    o.check(not odd and len(shadow) > 2,
            "the other CPUs at plausible places (idle loop, the user-space busy loop, kernel text): %s"
            % "; ".join(p for p in places if not p.startswith(("cpu0 ", "cpu2 "))))
    bt = re.search(r"^Thread \d+ \(Thread \d+ \(cs_spin/2\)\):\n#0 .* in (\S+) \(\)", g, re.M)
    o.check(bt is not None and bt.group(1) == "crash_stop_test_spin",
            "bt 3 of the spinner task cs_spin/2: in crash_stop_test_spin")
    # continue: gdb waits while the machine runs (the guest ends the
    # spinner, every busy loop must count), the guest's next sysrq-g
    # stops it again in gdb, which then detaches.
    cont = run.res1("KGDB_LOADS_CONTINUE")
    o.check(cont is not None and cont.startswith("ok "),
            "gdb 'continue' resumed the machine: every busy loop counted while gdb waited (1 s): %s"
            % (cont.partition(" ")[2] if cont else "no count (the guest did not get there)"))
    after = g.split("[host: continue]", 1)[1] if "[host: continue]" in g else ""
    stop = re.search(r"^(Thread \d+ .*received signal \w+|Program received signal \w+).*", after, re.M)
    o.check(stop is not None and "detached]" in after and len(run.res("KGDB_RESUMED")) >= 2,
            "the next sysrq-g stopped the machine in gdb (%s), gdb detached and the machine ran on"
            % (stop.group(0).rstrip(".,") if stop else "no stop after 'continue'"))
    return {"cpus_seen": "%d/%d threads" % (len(shadow), len(online))}


def cmd_out(cmds, name, nth=0):
    seen = 0
    for c, out in cmds:
        if c == name:
            if seen == nth:
                return out
            seen += 1
    return None


def check_kdb(o, run, smap, base, peer, upstream=False):
    if not prompt_check(o, run):
        return {}
    cmds = run.kdb_cmds()
    online = run.online()
    row = {}
    cpu_out = cmd_out(cmds, "cpu")
    states = parse_kdb_cpus(cpu_out or "")
    if states is None:
        o.check(False, "kdb 'cpu' lists the CPUs: no 'Available cpus' line")
        return row
    avail = {c for c, s in states.items() if s in " -"}
    row["cpus_seen"] = "%d/%d (%s)" % (len(avail & online), len(online), fmt_states(states))
    if base == "wedge":
        o.check(states.get(3) == "D" and avail == online - {3},
                "kdb 'cpu': the wedged CPU 3 is not available, the others are: %s" % fmt_states(states))
        if run.times.get("go_twice"):
            o.note("kdb called the state catastrophic (a CPU never entered the debugger) "
                   "and took 'go' twice")
        later = cmd_out(cmds, "cpu", 1)
        st2 = parse_kdb_cpus(later or "")
        if st2 is not None:
            o.note("kdb 'cpu' after the wedge ended: %s" % fmt_states(st2))
    else:
        o.check(avail == online, "kdb 'cpu': every online CPU is available: %s" % fmt_states(states))
    if base == "kdb":
        btc = cmd_out(cmds, "btc") or ""
        blocks = re.split(r"^Stack traceback for pid ", btc, flags=re.M)[1:]
        by_cpu = {}
        for b in blocks:
            m = re.search(r"^CPU: (\d+) ", b, re.M)
            if m:
                by_cpu[int(m.group(1))] = b
        o.check(set(by_cpu) == online, "kdb 'btc': one stack per CPU: CPUs %s"
                % ",".join(map(str, sorted(by_cpu))))
        sp = by_cpu.get(2, "")
        o.check("crash_stop_test_spin" in sp,
                "kdb 'btc': CPU 2's stack is in the spinner (crash_stop_test_spin)")
        idle = by_cpu.get(1, "")
        rip = re.search(r"^RIP: 0010:(\S+)", idle, re.M)
        o.note("kdb 'btc': CPU 1 (idle) RIP %s" % (rip.group(1) if rip else "-"))
        out = cmd_out(cmds, "cpu 2") or ""
        rd = cmd_out(cmds, "rd") or ""
        ip = rd_ip(rd)
        o.check("[2]kdb>" in out and ip is not None and smap.sym(ip) is not None
                and smap.sym(ip)[0] == "crash_stop_test_spin",
                "kdb 'cpu 2', 'rd': the spinner's RIP %s" % (smap.fmt(ip) if ip is not None else "-"))
        ss_check(o, run, smap, cmds, 0, peer, base, upstream)
    elif base == "kdb-ss":
        ss_check(o, run, smap, cmds, 1, peer, base, upstream)
    if run.times.get("go_entry_cpu"):
        o.note("kdb's 'go' wanted the entry CPU %s (the CPU that took the single step): "
               "the host switched there and said 'go' again" % run.times["go_entry_cpu"])
    if base == "stop30":
        held = None
        if run.t("resumed") is not None and run.t("prompt") is not None:
            held = run.t("resumed") - run.t("prompt")
        o.check(held is not None and held >= 30,
                "the debugger held the machine %s s (prompt to resume), 30 s asked"
                % ("%.1f" % held if held is not None else "-"))
    return row


def ss_step(cmds, cpu):
    """(ip before, ip after, ss output, why) of 'cpu N?', 'rd', 'ss', 'rd'."""
    seq = [c for c, _ in cmds]
    try:
        i = seq.index("ss")
    except ValueError:
        return None, None, None, "no 'ss' in the transcript"
    before = after = None
    for j in range(i - 1, 0, -1):
        if seq[j] == "rd":
            before = rd_ip(cmds[j][1])
            break
    ss_out = cmds[i][1]
    if i + 1 < len(seq) and seq[i + 1] == "rd":
        after = rd_ip(cmds[i + 1][1])
    why = None
    if "[%d]kdb>" % cpu not in ss_out:
        why = "no kdb prompt on CPU %d after 'ss'" % cpu
    return before, after, ss_out, why


# A failure that the run on the other roundup shows identically is not the
# roundup's doing (an upstream kgdb/kdb limit): skipped, with this reason.
SAME = "fails identically with the other roundup (crash_stop.kgdb=1 and =0)"


# With the NMI roundup a switched-to CPU's frame is an NMI's, and on x86-64
# an NMI returns to a copy of its frame: the trace flag kdb sets for "ss"
# is lost, the CPU runs on, and kdb never prompts again. Not a crash_stop
# failure: the A/B result that crash_stop's IPI frames make "ss" work.
NMI_FRAME = ("the upstream NMI roundup cannot single-step a switched-to CPU: "
             "x86-64 NMIs return to a copy of the frame, the trace flag is lost")


def ss_check(o, run, smap, cmds, cpu, peer, base, upstream=False):
    before, after, ss_out, why = ss_step(cmds, cpu)
    if cpu != 0:
        sw = cmd_out(cmds, "cpu %d" % cpu) or ""
        if "[%d]kdb>" % cpu not in sw:
            why = why or "'cpu %d' did not switch" % cpu
        o.note("CPU %d before the step: %s" % (cpu, smap.fmt(before) if before is not None else "-"))
    ok = why is None and before is not None and after is not None and after != before
    text = "kdb 'ss' on %s CPU %d: RIP %s -> %s" % (
        "the entry" if cpu == 0 else "the switched-to idle", cpu,
        smap.fmt(before) if before is not None else "-",
        smap.fmt(after) if after is not None else "-")
    if not ok:
        text += " (%s)" % (why or "the RIP did not advance")
        if upstream and cpu != 0 and why and "no kdb prompt" in why:
            o.skip(text, NMI_FRAME)
            o.known = "follows from the lost single step of the NMI roundup"
            return
        if peer is not None:
            pb, pa, _, pwhy = ss_step(peer.kdb_cmds(), cpu)
            pok = pwhy is None and pb is not None and pa is not None and pa != pb
            if not pok and (pwhy or "") == (why or ""):
                o.skip(text, "%s (%s)" % (SAME, pwhy or "no step"))
                if why and "no kdb prompt" in why:
                    o.known = "follows from the 'ss' hang, which both roundups show"
                return
    o.check(ok, text)


# ---- a breakpoint inside a crash_stop callback (cbbp) ---------------------

# Seconds from the guest's stop write (its KGDB_CBSTOP line on the results
# port) to kdb's prompt at the breakpoint: the stop itself takes
# milliseconds, kgdb's wait for the roundup at most 1 s.
CBBP_PROMPT_MAX = 15.0

# (callback, what, CPU of the breakpoint: the writer's, CPU 0, is the
# monarch; the per-CPU callback runs on every other CPU)
CBBP_STOPS = [("stop_callback", "the monarch's callback", lambda c: c == 0),
              ("stop_cpu_callback", "the per-CPU callback", lambda c: c != 0)]


def kdb_entry(out):
    """(cpu, reason, address) of kdb's "Entering kdb ... on processor N
    due to REASON @ ADDR" banner in out, or None."""
    m = re.search(r"Entering kdb \(.*?\)\s*on processor (\d+) due to (.+?) @ (0x[0-9a-f]+)",
                  out or "")
    if not m:
        return None
    return int(m.group(1)), m.group(2).strip(), int(m.group(3), 16)


def check_cbbp(o, run, smap, upstream):
    if not prompt_check(o, run):
        return {}
    cmds = run.kdb_cmds()
    online = run.online()
    row = {"cond": "bp in a crash_stop callback"}
    seen = []
    for n, (fn, what, cpu_ok) in enumerate(CBBP_STOPS, 1):
        stop = run.res1("KGDB_CBSTOP %d" % n) or "-"
        out = cmd_out(cmds, "await", n - 1)
        t = run.t("await%d_from_guest" % n)
        ent = kdb_entry(out)
        where = smap.fmt(ent[2]) if ent else "-"
        sym = smap.sym(ent[2]) if ent else None
        ok = (ent is not None and ent[1] == "Breakpoint" and sym is not None and sym[0] == fn
              and cpu_ok(ent[0]) and t is not None and t <= CBBP_PROMPT_MAX)
        o.check(ok, "stop %d (%s): a breakpoint in %s (bp %s) gave kdb's prompt %s: %s" % (
            n, stop.split(" cpu=")[0], what, fn,
            "%.3f s after the guest's write (at most %.0f s)" % (t, CBBP_PROMPT_MAX)
            if t is not None else "never (the guest's write hung or kdb did not prompt)",
            "CPU %d, due to %s @ %s" % (ent[0], ent[1], where) if ent else
            "no \"Entering kdb ... due to\" banner"))
        if out is None:
            continue
        states = parse_kdb_cpus(cmd_out(cmds, "cpu", n - 1) or "")
        if states is None:
            o.check(False, "stop %d: kdb 'cpu' lists the CPUs: no 'Available cpus' line" % n)
        else:
            avail = {c for c, st in states.items() if st in " -"}
            seen.append("%d/%d" % (len(avail & online), len(online)))
            missing = sorted(online - avail)
            o.check(avail == online,
                    "stop %d: kdb 'cpu': every online CPU entered the debugger "
                    "(kgdb's NMI roundup, crash_stop holding them): %s%s" % (
                        n, fmt_states(states),
                        "; not available: CPU %s" % ",".join(map(str, missing)) if missing else ""))
        # kdb's own frames first, then the trapped kernel frame ("RIP:
        # 0010:FN+0x0") and its callers.
        bt = cmd_out(cmds, "bt", n - 1) or ""
        m = re.search(r"^RIP: 0010:(\S+)\+0x[0-9a-f]+/.*$", bt, re.M)
        frames = []
        if m:
            frames.append(m.group(1))
            for line in bt[m.end():].splitlines():
                fm = re.match(r"^ ([A-Za-z_][\w.]*)\+0x", line)
                if fm:
                    name = fm.group(1)
                    if name.startswith("_R"):
                        name = "run_full (rust)" if "run_full" in name else "(rust)"
                    frames.append(name)
                elif line.startswith("RIP: ") or "</TASK>" in line:
                    break
        o.check(bool(frames) and frames[0] == fn,
                "stop %d: kdb 'bt': the trapped frame is %s: %s" % (
                    n, fn, " < ".join(frames[:8]) or "no \"RIP: 0010:\" frame"))
        # The stop went on after "bc *; go": the write returned, and the
        # machine runs.
        rc = run.res1("KGDB_CBSTOP_RC %d" % n)
        last = run.res1("KGDB_CBSTOP_LAST %d" % n) or ""
        kv = dict(re.findall(r"(\w+)=(\S+)", last))
        o.check(rc is not None and rc.startswith("rc=0 ") and kv.get("ret", "-").lstrip("-").isdigit()
                and int(kv["ret"]) >= 0,
                "stop %d: after 'bc *' and 'go' the stop finished and the write returned: %s; "
                "last: ret=%s stopped=%s nmi=%s missing=%s late=%s cpufn_runs=%s gather_us=%s" % (
                    n, rc or "no return", kv.get("ret", "-"), kv.get("stopped", "-"),
                    kv.get("nmi", "-"), kv.get("missing", "-"), kv.get("late", "-"),
                    kv.get("cpufn_runs", "-"), kv.get("gather_us", "-")))
        if kv.get("missing", "0") != "0" or kv.get("late", "0") != "0":
            hows = [re.sub(r" pid=.*ip=", " ip=", line) for line in run.res("KGDB_CBSTOP_LAST %d" % n)
                    if line.startswith("cpu=") and re.search(r"how=(missing|nmi)|late=1", line)]
            o.note("stop %d: the debugger session outlasted crash_stop's waits (IPI, then NMI): "
                   "the CPUs it stopped by NMI or gave up on (late: answered after the give-up "
                   "and waited for the release): %s" % (n, " | ".join(hows) or "-"))
        loads = run.res1("KGDB_CBSTOP_LOADS %d" % n)
        o.check(loads is not None and loads.startswith("ok "),
                "stop %d: every busy loop counted after the stop (1 s): %s" % (
                    n, loads.partition(" ")[2] if loads else "no count (the guest did not get there)"))
    row["cpus_seen"] = " ".join(seen) or "-"
    t1, t2 = run.t("await1_from_guest"), run.t("await2_from_guest")
    row["cond"] = "bp in callback: prompt %s s, %s s" % (
        "%.2f" % t1 if t1 is not None else "-", "%.2f" % t2 if t2 is not None else "-")
    if not upstream:
        # The breakpoints' entries cannot go through crash_stop (the CPU
        # is inside a generation): no crash_stop kgdb line of theirs.
        cs = run.cslines()
        o.note("crash_stop kgdb roundup lines: %d (the break-in's; the breakpoints' entries "
               "fall back to kgdb's NMI roundup)" % len(cs))
    return row


# ---- kgdbts -------------------------------------------------------------

def kgdbts_tests(run):
    """[(test, [error lines], finished)] from the kernel console."""
    tests = []
    cur = None
    for line in run.console.splitlines():
        text = re.sub(r"^\[\s*[0-9.]+\]\s*", "", line)
        m = re.match(r"kgdbts:RUN (.*)", text)
        if m:
            name = m.group(1)
            if re.match(r"singlestep \[\d+/\d+\]|\.\.\. \d+ remaining", name):
                continue
            name = re.sub(r" \d+ iterations$", "", name)
            name = re.sub(r" for \d+ breakpoints$", "", name)
            cur = [name, [], False]
            tests.append(cur)
            continue
        if cur is not None and re.match(r"kgdbts: (ERROR|SingleStep failed|BP mismatch|failed)", text):
            cur[1].append(text if len(text) < 110 else text[:100] + "...")
        if cur is not None and "Unregistered I/O driver kgdbts" in text:
            cur[2] = True
    return tests


def is_hw(name):
    """kgdbts' hardware breakpoint tests (RUN lines "hw breakpoint test",
    "hw write breakpoint test", "access write breakpoint test")."""
    return name.startswith("hw ") or name.startswith("access write")


def kgdbts_verdicts(run):
    """{test: (ok, why)} and the test list of a kgdbts run."""
    rep = run.res1("KGDBTS_REPEAT")
    cfg = run.res1("KGDBTS_CONFIG", "-")
    repeated = "kernel_clone" if "F" in cfg else "sys_open" if "S" in cfg else None
    tests = kgdbts_tests(run)
    last = tests[-1][0] if tests else None
    out = {}
    for name, errors, _ in tests:
        finished = not (name == last and run.guest_rc() != 0)
        if repeated and name.startswith(repeated):
            finished = finished and rep is not None and "unregistered=1" in rep
        ok = not errors and finished
        why = "; ".join(errors[:2]) if errors else ("did not finish" if not finished else "")
        out[name] = (ok, why)
    return out, tests, repeated


def norm(why):
    return re.sub(r"[0-9a-f]{8,}", "X", why)


def check_kgdbts(o, run, case, peer, logfile):
    cfg = run.res1("KGDBTS_CONFIG", "-")
    wr = run.res1("KGDBTS_WRITE", "-")
    rep = run.res1("KGDBTS_REPEAT")
    lines = ["kgdbts %s (%s): write %s%s" % (cfg, case, wr, "; " + rep if rep else "")]
    o.check(wr.startswith("rc=0"), "echo %s > /sys/module/kgdbts/parameters/kgdbts: %s" % (cfg, wr))
    peer_v = kgdbts_verdicts(peer)[0] if peer is not None else {}
    verdicts, tests, repeated = kgdbts_verdicts(run)
    if not tests:
        o.check(False, "kgdbts ran: no 'kgdbts:RUN' line in the kernel log")
    for name, _, _ in tests:
        ok, why = verdicts[name]
        verdict = "passed" if ok else "FAILED: " + why
        lines.append("  %-36s %s" % (name, verdict))
        text = "kgdbts %s: %s" % (name, verdict)
        if ok:
            o.check(True, text)
        elif is_hw(name):
            o.skip(text, "hardware breakpoints fail under TCG (emulation limit)")
        elif name in peer_v and not peer_v[name][0] and norm(peer_v[name][1]) == norm(why):
            o.skip(text, SAME)
        else:
            o.check(False, text)
    if repeated and not any(t[0].startswith(repeated) for t in tests):
        o.check(False, "kgdbts %s test: never started" % repeated)
    if logfile:
        with open(logfile, "a") as f:
            f.write("\n".join(lines) + "\n")
    failed = [t[0] for t in tests if not verdicts[t[0]][0]]
    # The time from the write to the end: of the repeated test when there
    # is one (KGDBTS_REPEAT counts from the write too).
    secs = re.search(r"secs=(\d+)", rep or wr)
    return {"cond": "kgdbts %s %ss" % (cfg, secs.group(1) if secs else "-"),
            "kgdbts": "%d/%d tests passed%s" % (
                len(tests) - len(failed), len(tests),
                "; failed: " + ", ".join("hw" if is_hw(f) else f for f in failed)
                if failed else "")}


# ---- main ---------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("case")
    ap.add_argument("dir")
    ap.add_argument("map")
    ap.add_argument("--peer")
    ap.add_argument("--row")
    ap.add_argument("--kgdbts-log")
    a = ap.parse_args()
    case = a.case
    base = case[:-len("-upstream")] if case.endswith("-upstream") else case
    run = Run(a.dir)
    peer = Run(a.peer) if a.peer and os.path.isdir(a.peer) else None
    smap = SymMap(a.map)
    o = Out(case)
    if not run.results and not run.console:
        o.check(False, "no output from the run in %s" % a.dir)
        return 0
    row = {}
    if base == "gdb":
        row = check_gdb(o, run, smap)
    elif base in ("kdb", "kdb-ss", "wedge", "stop30"):
        row = check_kdb(o, run, smap, base, peer, case.endswith("-upstream"))
    elif base == "cbbp":
        row = check_cbbp(o, run, smap, case.endswith("-upstream"))
    elif base.startswith("kgdbts"):
        row = check_kgdbts(o, run, case, peer, a.kgdbts_log)
    common(o, run, case, peer)
    if a.row:
        param = run.param()
        path = "upstream" if case.endswith("-upstream") or param is None else "crash_stop"
        if param is None:
            path = "upstream*"
        cs = run.cslines()
        log = run.klog()
        if base.startswith("kgdbts"):
            roundup = "%d roundups, %d with NMI, %d with a CPU missing" % (
                len(cs), sum("=nmi" in c for c in cs), sum("=missing" in c for c in cs)) \
                if cs else "-"
        else:
            roundup = " | ".join(re.sub(r".*generation \d+: ", "", c) for c in cs[:2]) \
                if cs else "-"
        spin = run.res1("KGDB_SPINNER")
        wedge = run.res1("KGDB_WEDGED")
        if "cond" not in row:
            row["cond"] = ("spinner cpu%s" % spin.split()[0][4:] if spin else
                           "wedged cpu%s %ss" % (wedge.split()[0][4:],
                                                 int(wedge.split()[1][3:]) // 1000) if wedge else
                           "none")
        row.update({
            "case": case,
            "path": path,
            "b2p": run.times.get("break_to_prompt", "-"),
            "s2p": run.times.get("sysrq_to_prompt", "-"),
            "roundup": roundup,
            "too_long": str(sum("took too long" in x for x in log)),
            "timed_out": str(sum("Timed out waiting" in x for x in log)),
            "fails": str(sum(line.startswith("FAIL") for line in o.lines)),
        })
        with open(a.row, "w") as f:
            for k, v in row.items():
                f.write("%s=%s\n" % (k, v))
    return 0


if __name__ == "__main__":
    sys.exit(main())
