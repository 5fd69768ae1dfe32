#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""One QEMU boot of kgdb cases, with the debugger client on the host.

vm.py --dir DIR --kernel BZIMAGE --initrd CPIO --append CMDLINE
      --seg 'NAME|SEGDIR|CLIENT|CMD_TIMEOUT|KDB_CMDS' [--seg ...]
      [--smp 4] [--mem 512] [--timeout S] [--vmlinux FILE] [--gdb-timeout S]

A boot runs one or more segments, each a case of scripts/kgdb.sh: the
guest says "KGDB_SEG NAME" on the results port (and "kgdb-test: KGDB_SEG
NAME" on the console) when one begins and "KGDB_SEG_END NAME" when it is
done; the host drives the debugger for it as its --seg says.  Every
scenario of the full set is a boot with one segment; "kgdb.sh --short"
runs several per boot.

The guest gets three serial ports, all on loopback TCP:
  ttyS0  the kernel console: QEMU connects to a socket of this program,
         which writes DIR/console.log (raw) and DIR/console.ts (each line
         with the host's monotonic time since the start, in seconds)
  ttyS1  the results port: DIR/results.log and DIR/results.ts, the same way
  ttyS2  the debugger port (kgdboc=ttyS2, or configured at run time):
         QEMU listens (-serial tcp:127.0.0.1:PORT,server=on,wait=off) and
         this program stays connected from the start to the end, so that
         no debugger output is lost between two clients
         (DIR/debugger.ts, everything that went either way)

Clients (per segment; they act on the segment's first kdb prompt):
  kdb   send each command of KDB_CMDS ("cmd | cmd | ..."), each time
        waiting for the next prompt (at most CMD_TIMEOUT seconds); "sleep
        N" waits N seconds on the host; after "go" it waits for the
        guest's next "KGDB_RESUMED" (and says "go" again when kdb asks for
        a second one: with a CPU that never entered the debugger, kdb calls
        the state catastrophic); the session ends at a "go" that is the
        last command.  "await" (sent to no one) waits, at most CMD_TIMEOUT
        seconds, for kdb's next prompt after the last "go": the guest
        entered the debugger again (a breakpoint): times awaitN, awaitN_cpu
        and, from the guest's Nth "KGDB_CBSTOP" line, awaitN_from_guest.
        The transcript is SEGDIR/kdb.log ("[+T] " before each command
        sent, T in seconds since the prompt).
  gdb   on the kdb prompt, run gdb -batch -nx VMLINUX with: target remote
        (a local port of this program that relays to ttyS2; kdb hands the
        port over to the gdb stub when gdb connects), info threads, bt 3
        of every CPU's thread and of the spinner's task, continue (the
        guest checks that the machine runs, then breaks in again: gdb's
        continue returns), detach: SEGDIR/gdb.log
  none  nothing (kgdbts)

SEGDIR/times.txt gets "key=value" lines: port, break (host time of the
segment's first "kgdb-test: KGDB_BREAK" marker on the console), sysrq
(its first "sysrq: DEBUG" line), prompt (its first kdb prompt), resumed,
end (the guest's KGDB_SEG_END), qemu_rc, and the derived break_to_prompt
and sysrq_to_prompt (seconds), and "problem=" lines.  When SEGDIR is not
DIR, SEGDIR also gets the segment's part of console.log/.ts and
results.log/.ts (the results port's lines before the first segment come
first in each: the guest's KGDB_PARAM, KGDB_CPUS lines).  DIR/times.txt
has the boot's: port, end, qemu_rc, segs, every problem (merged with the
segment's when SEGDIR is DIR).  Every wait has a limit; a client that
fails stops the boot (the guest would wait for it); the whole run is
killed after --timeout seconds.  Exit status 0 when the guest powered off
by itself and every client did what it was asked.
"""
import argparse
import bisect
import os
import re
import socket
import subprocess
import sys
import threading
import time

T0 = time.monotonic()
PROMPT = re.compile(rb"\[(\d+)\]kdb> |(?<![\]\w])kdb> ")
MORE = re.compile(rb"more> ")


def now():
    return time.monotonic() - T0


class Lines:
    """A byte stream from the guest, recorded raw and line by line with
    host timestamps; waitable."""

    def __init__(self, raw_path, ts_path):
        self.raw = open(raw_path, "wb", buffering=0)
        self.ts = open(ts_path, "w", encoding="utf-8")
        self.lines = []  # (t, text)
        self.pending = b""
        self.cond = threading.Condition()
        self.closed = False

    def feed(self, chunk):
        t = now()
        self.raw.write(chunk)
        with self.cond:
            self.pending += chunk
            *done, self.pending = self.pending.split(b"\n")
            for line in done:
                text = line.replace(b"\r", b"").decode("utf-8", "replace")
                self.lines.append((t, text))
                self.ts.write("%.3f\t%s\n" % (t, text))
            self.ts.flush()
            self.cond.notify_all()

    def close(self):
        with self.cond:
            if self.pending:
                text = self.pending.replace(b"\r", b"").decode("utf-8", "replace")
                self.lines.append((now(), text))
                self.ts.write("%.3f\t%s\n" % (now(), text))
                self.pending = b""
            self.closed = True
            self.cond.notify_all()
        self.ts.close()
        self.raw.close()

    def wait(self, regex, deadline, start=0):
        """(t, text, index) of the first line from index start that
        matches regex, or None at the deadline or at the end of the
        stream."""
        rx = re.compile(regex)
        i = start
        with self.cond:
            while True:
                while i < len(self.lines):
                    t, text = self.lines[i]
                    if rx.search(text):
                        return t, text, i
                    i += 1
                left = deadline - now()
                if left <= 0 or self.closed:
                    return None
                self.cond.wait(min(left, 1.0))


def serve_one(listener, stream):
    """Accept QEMU's connection on listener and copy it into stream."""
    try:
        conn, _ = listener.accept()
    except OSError:
        stream.close()
        return
    listener.close()
    with conn:
        while True:
            try:
                chunk = conn.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            stream.feed(chunk)
    stream.close()


def listen():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    s.settimeout(60)
    return s


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port



class Debugger:
    """The one connection to ttyS2: a byte buffer with the host time of
    each chunk; a relay to a local client (gdb) while one is attached."""

    def __init__(self, port, path, deadline):
        self.buf = b""
        self.offs, self.times = [], []  # chunk start offsets, arrival times
        self.cond = threading.Condition()
        self.ts = open(path, "w", encoding="utf-8")
        self.sock = None
        self.tap = None
        self.closed = False
        while now() < deadline:
            try:
                self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                time.sleep(0.05)
        if self.sock is None:
            raise RuntimeError("could not connect to the debugger port %d" % port)
        self.sock.settimeout(None)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                chunk = b""
            t = now()
            with self.cond:
                if not chunk:
                    self.closed = True
                    self.cond.notify_all()
                    return
                self.offs.append(len(self.buf))
                self.times.append(t)
                self.buf += chunk
                self.ts.write("%.3f\t%r\n" % (t, chunk))
                self.ts.flush()
                tap = self.tap
                self.cond.notify_all()
            if tap is not None:
                try:
                    tap.sendall(chunk)
                except OSError:
                    pass

    def time_at(self, off):
        """Arrival time of the byte before offset off."""
        with self.cond:
            i = bisect.bisect_right(self.offs, max(0, off - 1)) - 1
            return self.times[i] if i >= 0 else now()

    def send(self, data, who="SEND"):
        self.ts.write("%.3f\t%s %r\n" % (now(), who, data))
        self.ts.flush()
        self.sock.sendall(data)

    def wait_prompt(self, start, deadline):
        """(t, end offset, cpu) of the first prompt at or after start, t
        its arrival time; "more>" pages are answered with a space.  None
        at the deadline."""
        with self.cond:
            while True:
                m = PROMPT.search(self.buf, start)
                mm = MORE.search(self.buf, start)
                if mm and (not m or mm.start() < m.start()):
                    start = mm.end()
                    self.cond.release()
                    try:
                        self.send(b" ")
                    finally:
                        self.cond.acquire()
                    continue
                if m:
                    cpu = m.group(1).decode() if m.group(1) else "?"
                    self.cond.release()
                    try:
                        t = self.time_at(m.end())
                    finally:
                        self.cond.acquire()
                    return t, m.end(), cpu
                left = deadline - now()
                if left <= 0 or self.closed:
                    return None
                self.cond.wait(min(left, 0.5))

    def relay(self, conn):
        """Relay between a local client conn (gdb) and ttyS2 until conn
        closes."""
        with self.cond:
            self.tap = conn
        try:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    break
                if not data:
                    break
                try:
                    self.send(data, "GDB")
                except OSError:
                    break
        finally:
            with self.cond:
                self.tap = None

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.thread.join(5)
        self.ts.close()


def text(b):
    return b.replace(b"\r", b"").decode("utf-8", "replace")


class Seg:
    """One segment: its client, and what happened."""

    def __init__(self, spec):
        p = spec.split("|", 4)
        if len(p) != 5 or p[2] not in ("none", "kdb", "gdb"):
            raise SystemExit("vm.py: bad --seg %r (NAME|DIR|none/kdb/gdb|TIMEOUT|CMDS)" % spec)
        self.name, self.dir, self.client = p[0], p[1], p[2]
        self.cmd_timeout = int(p[3] or 90)
        self.cmds = p[4]
        self.times = {}
        self.problems = []
        self.ri = None  # index of its KGDB_SEG line on the results port
        os.makedirs(self.dir, exist_ok=True)


ENDS = r"^(KGDB_SEG_END|KGDB_FAIL|KGDB_END|CRASH_STOP_GUEST_END)"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--initrd", required=True)
    ap.add_argument("--append", default="")
    ap.add_argument("--seg", action="append", default=[])
    ap.add_argument("--smp", type=int, default=4)
    ap.add_argument("--mem", type=int, default=512)
    ap.add_argument("--timeout", type=int, default=300)
    ap.add_argument("--vmlinux", default="")
    ap.add_argument("--gdb-timeout", type=int, default=180)
    ap.add_argument("--boot-timeout", type=int, default=180)
    a = ap.parse_args()

    d = a.dir
    os.makedirs(d, exist_ok=True)
    segs = [Seg(s) for s in a.seg]
    if not segs:
        raise SystemExit("vm.py: no --seg")
    by_name = {s.name: s for s in segs}
    boot = {}
    problems = []  # the boot's own (no boot, QEMU killed, a stray segment)
    deadline = a.timeout - 5  # the client gives up before QEMU is killed

    con_l, res_l = listen(), listen()
    console = Lines(os.path.join(d, "console.log"), os.path.join(d, "console.ts"))
    results = Lines(os.path.join(d, "results.log"), os.path.join(d, "results.ts"))
    need_port = any(s.client != "none" for s in segs)
    port = free_port() if need_port else 0
    cmdline = "console=ttyS0 panic=-1" + (" " + a.append if a.append else "")
    with open(os.path.join(d, "cmdline"), "w") as f:
        f.write(cmdline + "\n")
    qemu = ["timeout", "-k", "5", str(a.timeout), "qemu-system-x86_64",
            "-accel", "tcg", "-cpu", "max", "-smp", str(a.smp), "-m", str(a.mem),
            "-nographic", "-nodefaults", "-no-reboot", "-monitor", "none",
            "-serial", "tcp:127.0.0.1:%d" % con_l.getsockname()[1],
            "-serial", "tcp:127.0.0.1:%d" % res_l.getsockname()[1]]
    if port:
        qemu += ["-serial", "tcp:127.0.0.1:%d,server=on,wait=off" % port]
    qemu += ["-kernel", a.kernel, "-initrd", a.initrd, "-append", cmdline]
    boot["port"] = port
    qlog = open(os.path.join(d, "qemu.log"), "w")
    qlog.write(" ".join(qemu) + "\n")
    qlog.flush()
    proc = subprocess.Popen(qemu, stdin=subprocess.DEVNULL, stdout=qlog,
                            stderr=subprocess.STDOUT)
    readers = [threading.Thread(target=serve_one, args=(con_l, console), daemon=True),
               threading.Thread(target=serve_one, args=(res_l, results), daemon=True)]
    for r in readers:
        r.start()

    dbg = None
    started = []
    ctx = {"dbg_off": 0}
    try:
        if need_port:
            dbg = Debugger(port, os.path.join(d, "debugger.ts"), min(60, deadline))
        # A TCG guest on a crowded host now and then hangs in early boot
        # (seen: at the switch to tsc-early): no scenario line for minutes.
        if not results.wait(r".", min(deadline, now() + a.boot_timeout)):
            problems.append("the guest did not boot within %d s (no output on the results port)"
                            % a.boot_timeout)
        ri = 0
        while not problems:
            m = results.wait(r"^(KGDB_SEG \S+$|KGDB_END|CRASH_STOP_GUEST_END)", deadline, ri)
            if not m:
                break
            ri = m[2] + 1
            if not m[1].startswith("KGDB_SEG "):
                break
            seg = by_name.get(m[1].split()[1])
            if seg is None or seg.ri is not None:
                problems.append("the guest began an unknown or repeated segment: %s" % m[1])
                break
            seg.ri = m[2]
            started.append(seg)
            run_segment(a, seg, dbg, results, ctx, deadline)
            if seg.problems:
                break
        stopped = problems or any(s.problems for s in started)
        if stopped:
            # A client failed: the guest will not end by itself.  Give
            # the console a few seconds (warnings), then stop QEMU.
            time.sleep(3)
            proc.terminate()
        else:
            # The guest ends by itself: CRASH_STOP_GUEST_END, power off.
            end = results.wait(r"^CRASH_STOP_GUEST_END", deadline)
            if end:
                boot["end"] = end[0]
            else:
                # init's line may not leave the guest before the power-off:
                # the scenario's own last line will do.
                end = results.wait(r"^KGDB_END", 0)
                if end and proc.wait() == 0:
                    boot["end"] = end[0]
    finally:
        if dbg:
            dbg.close()
        try:
            rc = proc.wait(max(1, a.timeout + 10 - now()))
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        for r in readers:
            r.join(5)
    boot["qemu_rc"] = rc
    if rc in (124, 137):
        problems.append("QEMU killed after %d s (timeout)" % a.timeout)
    boot["segs"] = ",".join(s.name for s in started) or "-"
    # The boot's problems belong to the segment that was running.
    if started:
        started[-1].problems.extend(problems)
    finish(d, segs, started, boot, problems, console, results)
    allp = problems + [p for s in started for p in s.problems]
    for p in dict.fromkeys(allp):
        print("vm.py: %s" % p, file=sys.stderr)
    for s in started:
        print("vm.py: %s: %s" % (s.name, " ".join(
            "%s=%s" % (k, fmt(v)) for k, v in s.times.items())))
    print("vm.py: boot: %s" % " ".join("%s=%s" % (k, fmt(v)) for k, v in boot.items()))
    return 1 if allp or "end" not in boot else 0


def fmt(v):
    return ("%.3f" % v) if isinstance(v, float) else str(v)


PROMPT_WAIT = 60  # seconds from the guest's KGDB_BREAK line to a kdb prompt


def run_segment(a, seg, dbg, results, ctx, deadline):
    if seg.client == "none":
        back_to_kdb(seg, dbg, results, ctx, deadline)
        return
    # The prompt comes when the guest breaks in; the guest may also end
    # the segment or fail first.
    first = None
    why = "the guest did not break in"
    while now() < deadline:
        first = dbg.wait_prompt(ctx["dbg_off"], min(deadline, now() + 1))
        if first:
            break
        if results.wait(ENDS, 0, seg.ri + 1):
            why = "the segment ended without one"
            break
        br = results.wait(r"^KGDB_BREAK", 0, seg.ri + 1)
        if br and now() - br[0] > PROMPT_WAIT:
            why = "none within %d s of the break-in" % PROMPT_WAIT
            break
    if not first:
        seg.problems.append("no kdb prompt on the debugger port (%s)" % why)
        with open(os.path.join(seg.dir, "kdb.log"), "w") as f:
            f.write(text(dbg.buf[ctx["dbg_off"]:]))
        return
    seg.times["prompt"], off, cpu = first
    seg.times["prompt_cpu"] = cpu
    if seg.client == "kdb":
        kdb_session(seg, dbg, ctx["dbg_off"], off, results, deadline)
    else:
        gdb_session(a, seg, dbg, ctx["dbg_off"], off, results, deadline)
    ctx["dbg_off"] = len(dbg.buf)
    if not seg.problems:
        back_to_kdb(seg, dbg, results, ctx, deadline)


def back_to_kdb(seg, dbg, results, ctx, deadline):
    """Wait for the segment's end; on the guest's KGDB_TO_KDB (after
    kgdbts or gdb, kgdb talks gdb's protocol) bring kdb back first."""
    m = results.wait(ENDS + "|^KGDB_TO_KDB$", deadline, seg.ri + 1)
    if m and m[1] == "KGDB_TO_KDB" and dbg:
        to_kdb(seg, dbg, results, ctx, deadline, m[2])


def to_kdb(seg, dbg, results, ctx, deadline, ri):
    """After kgdbts (a gdb client) or gdb, kgdb talks gdb's protocol:
    the guest breaks in once more, the stub says "KGDB or $3#33 for KDB"
    on the console, and "$3#33" on the port must give kdb's prompt back;
    then go.  The transcript is SEGDIR/kdb.log."""
    start = ctx["dbg_off"]
    t0 = now()
    limit = min(deadline, t0 + PROMPT_WAIT)
    p = None
    while now() < limit and not p:
        # The stub polls the port once the machine is stopped; a byte sent
        # before may go to the tty instead: say it again.
        time.sleep(0.5)
        dbg.send(b"$3#33")
        p = dbg.wait_prompt(start, min(limit, now() + 3))
    log = open(os.path.join(seg.dir, "kdb.log"), "a")
    log.write("\n[host: after the guest's KGDB_TO_KDB, sent '$3#33' until a kdb prompt came]\n")
    log.write(text(dbg.buf[start:p[1] if p else len(dbg.buf)]))
    if not p:
        seg.problems.append("no kdb prompt after '$3#33' within %d s" % PROMPT_WAIT)
        log.close()
        return
    seg.times["kdb_back"] = p[0] - results.lines[ri][0]
    at = len(dbg.buf)
    log.write("\n>>> go\n")
    dbg.send(b"go\r")
    res = results.wait(r"^KGDB_RESUMED", min(deadline, now() + seg.cmd_timeout), ri + 1)
    time.sleep(0.2)
    log.write(text(dbg.buf[at:]) + "\n")
    log.close()
    if not res:
        seg.problems.append("the guest did not resume after 'go'")
    ctx["dbg_off"] = len(dbg.buf)


def kdb_session(seg, dbg, start0, off, results, deadline):
    log = open(os.path.join(seg.dir, "kdb.log"), "w")
    log.write(text(dbg.buf[start0:off]))
    t_prompt = seg.times["prompt"]
    cmds = [c.strip() for c in seg.cmds.split("|") if c.strip()]
    ri = seg.ri + 1  # the results port's lines not yet looked at by "go"
    go_at = off  # where the debugger's output after the last "go" begins
    awaits = 0
    for k, cmd in enumerate(cmds):
        m = re.fullmatch(r"sleep (\d+)", cmd)
        if m:
            log.write("\n[+%.3f] (host: sleep %s s)\n" % (now() - t_prompt, m.group(1)))
            time.sleep(int(m.group(1)))
            continue
        if cmd == "await":
            # The guest enters the debugger again by itself (a breakpoint
            # hit after the last "go"): its prompt, nothing sent.
            awaits += 1
            log.write("\n[+%.3f] >>> await\n(host: nothing sent; the next kdb prompt after 'go')\n"
                      % (now() - t_prompt))
            log.flush()
            p = dbg.wait_prompt(go_at, min(deadline, now() + seg.cmd_timeout))
            if not p:
                log.write(text(dbg.buf[go_at:]))
                seg.problems.append("no kdb prompt within %d s of the guest's resume (await %d)"
                                    % (seg.cmd_timeout, awaits))
                break
            log.write(text(dbg.buf[go_at:p[1]]))
            log.flush()
            seg.times["await%d" % awaits] = p[0]
            seg.times["await%d_cpu" % awaits] = p[2]
            n = 0
            for i in range(seg.ri + 1, len(results.lines)):
                if results.lines[i][1].startswith("KGDB_CBSTOP "):
                    n += 1
                    if n == awaits:
                        seg.times["await%d_from_guest" % awaits] = p[0] - results.lines[i][0]
                        break
            continue
        log.write("\n[+%.3f] >>> %s\n" % (now() - t_prompt, cmd))
        log.flush()
        start = len(dbg.buf)
        dbg.send(cmd.encode() + b"\r")
        if cmd == "go":
            # With a CPU that never entered the debugger, kdb calls the
            # state catastrophic and wants "go" twice.
            limit = min(deadline, now() + seg.cmd_timeout)
            res, again, moved = None, False, False
            while now() < limit:
                res = results.wait(r"^KGDB_RESUMED", min(limit, now() + 0.5), ri)
                if res:
                    break
                # After a single step on a switched-to CPU, that CPU is
                # the entry CPU: kdb says which one resumes.
                m = re.search(rb'go must execute on the entry cpu, please use "cpu (\d+)"',
                              dbg.buf[start:])
                if m and not moved:
                    moved = True
                    seg.times["go_entry_cpu"] = m.group(1).decode()
                    p = dbg.wait_prompt(m.end(), min(limit, now() + 5))
                    log.write(text(dbg.buf[start:p[1] if p else len(dbg.buf)]))
                    for c in (b"cpu " + m.group(1), b"go"):
                        log.write("\n[+%.3f] >>> %s (kdb: go on the entry CPU)\n"
                                  % (now() - t_prompt, c.decode()))
                        start = len(dbg.buf)
                        dbg.send(c + b"\r")
                        if c != b"go":
                            p = dbg.wait_prompt(start + len(c), min(limit, now() + seg.cmd_timeout))
                            log.write(text(dbg.buf[start:p[1] if p else len(dbg.buf)]))
                    continue
                if not again and b"go a second time" in dbg.buf[start:]:
                    again = True
                    seg.times["go_twice"] = 1
                    log.write(text(dbg.buf[start:]))
                    log.write("\n[+%.3f] >>> go (kdb asked for a second go)\n"
                              % (now() - t_prompt))
                    start = len(dbg.buf)
                    dbg.send(b"go\r")
            go_at = start
            time.sleep(0.2)
            if k == len(cmds) - 1:
                log.write(text(dbg.buf[start:]))
            else:
                # The debugger may have entered again already: its banner
                # (which begins a line) goes with the "await" after.
                buf = dbg.buf
                cut = buf.find(b"Entering kdb", start)
                if cut < 0:
                    cut = buf.rfind(b"\n", start) + 1 or start
                log.write(text(buf[start:cut]))
                go_at = cut
            if res:
                seg.times["resumed"] = res[0]
                log.write("\n[+%.3f] (guest: KGDB_RESUMED)\n" % (res[0] - t_prompt))
                ri = res[2] + 1
            else:
                seg.problems.append("the guest did not resume after 'go'")
            # More commands after a "go": the guest enters kdb again
            # ("await").
            if not res or k == len(cmds) - 1:
                break
            continue
        p = dbg.wait_prompt(start + len(cmd), min(deadline, now() + seg.cmd_timeout))
        if not p:
            log.write(text(dbg.buf[start:]))
            seg.problems.append("no kdb prompt after '%s' within %d s" % (cmd, seg.cmd_timeout))
            break
        log.write(text(dbg.buf[start:p[1]]))
        log.flush()
    log.write("\n")
    log.close()


GDB_SCRIPT = """set pagination off
set confirm off
set remotetimeout 30
target remote 127.0.0.1:%(port)d
info threads
thread apply 1-%(smp)d bt 3
python
spin = %(spin)d
for t in sorted(gdb.selected_inferior().threads(), key=lambda t: t.num):
    if spin and spin in t.ptid[1:]:
        gdb.execute("thread apply %%d bt 3" %% t.num)
end
echo [host: continue]\n
continue
echo [host: detach]\n
detach
"""


def gdb_session(a, seg, dbg, start0, off, results, deadline):
    with open(os.path.join(seg.dir, "kdb.log"), "w") as f:
        f.write(text(dbg.buf[start0:off]))
    # The spinner's task (the guest said its pid before breaking in).
    spin = 0
    for i in range(seg.ri + 1, len(results.lines)):
        m = re.match(r"KGDB_SPINNER cpu=\d+ pid=(\d+)", results.lines[i][1])
        if m:
            spin = int(m.group(1))
    lst = listen()
    lport = lst.getsockname()[1]
    script = os.path.join(seg.dir, "gdb.cmds")
    with open(script, "w") as f:
        f.write(GDB_SCRIPT % {"port": lport, "smp": a.smp, "spin": spin})

    def serve():
        try:
            conn, _ = lst.accept()
        except OSError:
            return
        with conn:
            dbg.relay(conn)

    relay = threading.Thread(target=serve, daemon=True)
    relay.start()
    gdb = ["timeout", "-k", "5", str(a.gdb_timeout), "gdb", "-batch", "-nx",
           "-x", script, a.vmlinux]
    t = now()
    with open(os.path.join(seg.dir, "gdb.log"), "w") as f:
        f.write("$ gdb -batch -nx -x gdb.cmds VMLINUX   # gdb.cmds:\n")
        with open(script) as s:
            f.write("".join("#   " + x for x in s))
        f.flush()
        rc = subprocess.call(gdb, stdin=subprocess.DEVNULL, stdout=f,
                             stderr=subprocess.STDOUT)
        f.write("[gdb exit status %d after %.1f s]\n" % (rc, now() - t))
    lst.close()
    relay.join(5)
    seg.times["gdb_rc"] = rc
    seg.times["gdb_secs"] = now() - t
    if rc != 0:
        seg.problems.append("gdb exited with status %d" % rc)
    # Resumed twice: by gdb's continue, and by its detach after the
    # guest's second break-in.
    res2 = None
    res = results.wait(r"^KGDB_RESUMED", min(deadline, now() + seg.cmd_timeout), seg.ri + 1)
    if res:
        seg.times["resumed"] = res[0]
        res2 = results.wait(r"^KGDB_RESUMED", min(deadline, now() + seg.cmd_timeout), res[2] + 1)
        if res2:
            seg.times["resumed2"] = res2[0]
    if not res or not res2:
        seg.problems.append("the guest did not resume after gdb's %s" % (
            "continue" if not res else "detach"))


def seg_bounds(started, results, console):
    """Per started segment: (results start, end), (console start, end)."""
    rl, cl = results.lines, console.lines
    cstarts = []
    for s in started:
        ci = None
        for i, (_, txt) in enumerate(cl):
            if txt.endswith("kgdb-test: KGDB_SEG %s" % s.name):
                ci = i
                break
        if ci is None:  # the marker did not make it: by time
            t0 = rl[s.ri][0] - 0.5
            ci = next((i for i, (t, _) in enumerate(cl) if t >= t0), len(cl))
        cstarts.append(ci)
    out = []
    for k, s in enumerate(started):
        r0 = s.ri if k else 0
        r1 = started[k + 1].ri if k + 1 < len(started) else len(rl)
        c0 = cstarts[k] if k else 0
        c1 = cstarts[k + 1] if k + 1 < len(started) else len(cl)
        out.append(((r0, r1), (c0, max(c0, c1))))
    return out


def finish(d, segs, started, boot, problems, console, results):
    rl, cl = results.lines, console.lines
    header = rl[:started[0].ri] if started else []
    for s, ((r0, r1), (c0, c1)) in zip(started, seg_bounds(started, results, console)):
        t = s.times
        part = cl[c0:c1]
        br = next((x for x in part if "kgdb-test: KGDB_BREAK" in x[1]), None)
        sq = next((x for x in part if "sysrq: DEBUG" in x[1]), None)
        if br:
            t["break"] = br[0]
        if sq:
            t["sysrq"] = sq[0]
        e = next((x for x in rl[r0:r1] if x[1] == "KGDB_SEG_END %s" % s.name), None)
        if e:
            t["end"] = e[0]
        t["qemu_rc"] = boot["qemu_rc"]
        if "break" in t and "prompt" in t:
            t["break_to_prompt"] = t["prompt"] - t["break"]
        if "sysrq" in t and "prompt" in t:
            t["sysrq_to_prompt"] = t["prompt"] - t["sysrq"]
        if os.path.realpath(s.dir) != os.path.realpath(d):
            res = (header if r0 else []) + rl[r0:r1]
            for name, lines in (("console", part), ("results", res)):
                with open(os.path.join(s.dir, name + ".log"), "w") as f:
                    f.write("".join(x + "\n" for _, x in lines))
                with open(os.path.join(s.dir, name + ".ts"), "w") as f:
                    f.write("".join("%.3f\t%s\n" % x for x in lines))
            with open(os.path.join(d, "cmdline")) as f, \
                    open(os.path.join(s.dir, "cmdline"), "w") as g:
                g.write(f.read())
            with open(os.path.join(s.dir, "boot"), "w") as f:
                f.write(os.path.basename(os.path.normpath(d)) + "\n")
            write_times(os.path.join(s.dir, "times.txt"), dict(port=boot["port"], **t),
                        s.problems)
    # The boot's own times.txt (merged with its segment's when they share
    # the directory).
    own = dict(boot)
    allp = list(problems)
    for s in started:
        if os.path.realpath(s.dir) == os.path.realpath(d):
            own.update(s.times)
            own["end"] = boot.get("end", s.times.get("end"))
            if "end" not in boot:
                del own["end"]
            allp += s.problems
        else:
            allp += ["%s: %s" % (s.name, p) for p in s.problems]
    write_times(os.path.join(d, "times.txt"), own, list(dict.fromkeys(allp)))


def write_times(path, times, problems):
    with open(path, "w") as f:
        for k, v in times.items():
            f.write("%s=%s\n" % (k, fmt(v)))
        for p in problems:
            f.write("problem=%s\n" % p)


if __name__ == "__main__":
    sys.exit(main())
