#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""One QEMU run of a kgdb case, with the debugger client on the host.

vm.py --dir DIR --kernel BZIMAGE --initrd CPIO --append CMDLINE
      [--smp 4] [--mem 512] [--timeout S] [--client none|kdb|gdb]
      [--kdb 'cmd|cmd|...'] [--vmlinux FILE] [--gdb-timeout S]

The guest gets three serial ports, all on loopback TCP:
  ttyS0  the kernel console: QEMU connects to a socket of this program,
         which writes DIR/console.log (raw) and DIR/console.ts (each line
         with the host's monotonic time since the start, in seconds)
  ttyS1  the results port: DIR/results.log and DIR/results.ts, the same way
  ttyS2  the debugger port (kgdboc=ttyS2): QEMU listens
         (-serial tcp:127.0.0.1:PORT,server=on,wait=off) and the client
         below connects

Clients (connected to ttyS2 from the start; they act on the first kdb
prompt):
  kdb   wait for the kdb prompt, then send each command of --kdb, each
        time waiting for the next prompt; "sleep N" waits N seconds on the
        host; after "go" it waits for the guest's "KGDB_RESUMED" (and
        says "go" again when kdb asks for a second one: with a CPU that
        never entered the debugger, kdb calls the state catastrophic).  The
        transcript is DIR/kdb.log ("[+T] " before each command sent, T in
        seconds since the prompt), the raw stream DIR/debugger.ts.
  gdb   wait for the kdb prompt, let go of the port and run
        gdb -batch -nx VMLINUX -ex 'target remote 127.0.0.1:PORT'
        -ex 'info threads' -ex 'thread apply all bt 3' -ex detach
        (kdb hands the port over to the gdb stub when gdb connects):
        DIR/gdb.log
  none  nothing (kgdbts runs without a debugger port)

DIR/times.txt gets "key=value" lines: port, break (host time of the
guest's "kgdb-test: KGDB_BREAK" marker on the console), sysrq (the
console's "sysrq: DEBUG" line), prompt (the
first kdb prompt), resumed, end, qemu_rc, and the derived
break_to_prompt and sysrq_to_prompt (seconds).  Every wait has a limit;
the whole run is killed after --timeout seconds.  Exit status 0 when the
guest powered off by itself and the client did what it was asked.
"""
import argparse
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
    """The client end of ttyS2: a byte buffer with timestamps."""

    def __init__(self, port, path, deadline):
        self.buf = b""
        self.cond = threading.Condition()
        self.ts = open(path, "w", encoding="utf-8")
        self.sock = None
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
                self.buf += chunk
                self.ts.write("%.3f\t%r\n" % (t, chunk))
                self.ts.flush()
                self.cond.notify_all()

    def send(self, data):
        self.ts.write("%.3f\tSEND %r\n" % (now(), data))
        self.ts.flush()
        self.sock.sendall(data)

    def wait_prompt(self, start, deadline):
        """(t, end offset, cpu) of the first prompt at or after start;
        "more>" pages are answered with a space.  None at the deadline."""
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
                    return now(), m.end(), cpu
                left = deadline - now()
                if left <= 0 or self.closed:
                    return None
                self.cond.wait(min(left, 0.5))

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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--initrd", required=True)
    ap.add_argument("--append", default="")
    ap.add_argument("--smp", type=int, default=4)
    ap.add_argument("--mem", type=int, default=512)
    ap.add_argument("--timeout", type=int, default=300)
    ap.add_argument("--client", choices=("none", "kdb", "gdb"), default="none")
    ap.add_argument("--kdb", default="")
    ap.add_argument("--vmlinux", default="")
    ap.add_argument("--gdb-timeout", type=int, default=240)
    ap.add_argument("--cmd-timeout", type=int, default=90)
    ap.add_argument("--boot-timeout", type=int, default=180)
    a = ap.parse_args()

    d = a.dir
    os.makedirs(d, exist_ok=True)
    times = {}
    problems = []
    deadline = a.timeout - 5  # the client gives up before QEMU is killed

    con_l, res_l = listen(), listen()
    console = Lines(os.path.join(d, "console.log"), os.path.join(d, "console.ts"))
    results = Lines(os.path.join(d, "results.log"), os.path.join(d, "results.ts"))
    port = free_port() if a.client != "none" else 0
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
    times["port"] = port
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
    try:
        if a.client != "none":
            dbg = Debugger(port, os.path.join(d, "debugger.ts"), min(60, deadline))
        # A TCG guest on a crowded host now and then hangs in early boot
        # (seen: at the switch to tsc-early): no scenario line for minutes.
        if not results.wait(r".", min(deadline, now() + a.boot_timeout)):
            problems.append("the guest did not boot within %d s (no output on the results port)"
                            % a.boot_timeout)
        elif a.client != "none":
            # The prompt comes when the guest breaks in; the guest may
            # also end or fail first.
            first = None
            while now() < deadline:
                first = dbg.wait_prompt(0, min(deadline, now() + 1))
                if first or results.wait(r"^(CRASH_STOP_GUEST_END|KGDB_FAIL)", 0):
                    break
            mark(console, times)
            if first:
                client(a, dbg, first, port, d, times, problems, results, deadline)
            else:
                problems.append("no kdb prompt on the debugger port%s" % (
                    " within %.0f s of the break-in" % (now() - times["break"])
                    if "break" in times else " (the guest did not break in)"))
                with open(os.path.join(d, "kdb.log"), "w") as f:
                    f.write(text(dbg.buf))
        if problems:
            # The client failed: the guest will not end by itself.  Give
            # the console a few seconds (warnings), then stop QEMU.
            time.sleep(5)
            proc.terminate()
        else:
            # The guest ends by itself: CRASH_STOP_GUEST_END, power off.
            end = results.wait(r"^CRASH_STOP_GUEST_END", deadline)
            if end:
                times["end"] = end[0]
            else:
                # init's line may not leave the guest before the power-off:
                # the scenario's own last line will do.
                end = results.wait(r"^KGDB_END", 0)
                if end and proc.wait() == 0:
                    times["end"] = end[0]
            if a.client == "none":
                mark(console, times)
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
    times["qemu_rc"] = rc
    if rc in (124, 137):
        problems.append("QEMU killed after %d s (timeout)" % a.timeout)
    sysrq = console.wait(r"sysrq: DEBUG", 0)
    if sysrq:
        times["sysrq"] = sysrq[0]
    if "break" in times and "prompt" in times:
        times["break_to_prompt"] = times["prompt"] - times["break"]
    if "sysrq" in times and "prompt" in times:
        times["sysrq_to_prompt"] = times["prompt"] - times["sysrq"]
    with open(os.path.join(d, "times.txt"), "w") as f:
        for k, v in times.items():
            f.write("%s=%s\n" % (k, ("%.3f" % v) if isinstance(v, float) else v))
        for p in problems:
            f.write("problem=%s\n" % p)
    for p in problems:
        print("vm.py: %s" % p, file=sys.stderr)
    print("vm.py: %s" % " ".join("%s=%s" % (k, ("%.3f" % v) if isinstance(v, float) else v)
                                 for k, v in times.items()))
    return 1 if problems or "end" not in times else 0


def mark(console, times):
    """The host time of the guest's break-in marker on the console (the
    scenario writes it to /dev/kmsg just before sysrq-g: the console
    prints it synchronously, unlike a tty that the stop may freeze with
    bytes still in its buffer)."""
    m = console.wait(r"kgdb-test: KGDB_BREAK", now() + 2)
    if m:
        times["break"] = m[0]


def client(a, dbg, first, port, d, times, problems, results, deadline):
    times["prompt"], off, cpu = first
    times["prompt_cpu"] = cpu
    if a.client == "kdb":
        kdb_session(a, dbg, off, d, times, problems, results, deadline)
    else:
        gdb_session(a, dbg, port, d, times, problems, results, deadline)


def kdb_session(a, dbg, off, d, times, problems, results, deadline):
    log = open(os.path.join(d, "kdb.log"), "w")
    log.write(text(dbg.buf[:off]))
    t_prompt = times["prompt"]
    for cmd in [c.strip() for c in a.kdb.split("|") if c.strip()]:
        m = re.fullmatch(r"sleep (\d+)", cmd)
        if m:
            log.write("\n[+%.3f] (host: sleep %s s)\n" % (now() - t_prompt, m.group(1)))
            time.sleep(int(m.group(1)))
            continue
        log.write("\n[+%.3f] >>> %s\n" % (now() - t_prompt, cmd))
        log.flush()
        start = len(dbg.buf)
        dbg.send(cmd.encode() + b"\r")
        if cmd == "go":
            # With a CPU that never entered the debugger, kdb calls the
            # state catastrophic and wants "go" twice.
            limit = min(deadline, now() + a.cmd_timeout)
            res, again = None, False
            while now() < limit:
                res = results.wait(r"^KGDB_RESUMED", min(limit, now() + 0.5))
                if res:
                    break
                if not again and b"go a second time" in dbg.buf[start:]:
                    again = True
                    times["go_twice"] = 1
                    log.write(text(dbg.buf[start:]))
                    log.write("\n[+%.3f] >>> go (kdb asked for a second go)\n"
                              % (now() - t_prompt))
                    start = len(dbg.buf)
                    dbg.send(b"go\r")
            time.sleep(0.2)
            log.write(text(dbg.buf[start:]))
            if res:
                times["resumed"] = res[0]
                log.write("\n[+%.3f] (guest: KGDB_RESUMED)\n" % (res[0] - t_prompt))
            else:
                problems.append("the guest did not resume after 'go'")
            break
        p = dbg.wait_prompt(start + len(cmd), min(deadline, now() + a.cmd_timeout))
        if not p:
            log.write(text(dbg.buf[start:]))
            problems.append("no kdb prompt after '%s' within %d s" % (cmd, a.cmd_timeout))
            break
        log.write(text(dbg.buf[start:p[1]]))
        log.flush()
    log.write("\n")
    log.close()


def gdb_session(a, dbg, port, d, times, problems, results, deadline):
    with open(os.path.join(d, "kdb.log"), "w") as f:
        f.write(text(dbg.buf))
    dbg.close()
    time.sleep(0.3)
    gdb = ["timeout", "-k", "5", str(a.gdb_timeout), "gdb", "-batch", "-nx",
           "-ex", "set pagination off", "-ex", "set confirm off",
           "-ex", "set remotetimeout 30",
           "-ex", "target remote 127.0.0.1:%d" % port,
           "-ex", "info threads", "-ex", "thread apply all bt 3",
           "-ex", "detach", a.vmlinux]
    t = now()
    with open(os.path.join(d, "gdb.log"), "w") as f:
        f.write("$ %s\n" % " ".join(
            "'%s'" % x if " " in x else x for x in gdb[4:]))
        f.flush()
        rc = subprocess.call(gdb, stdin=subprocess.DEVNULL, stdout=f,
                             stderr=subprocess.STDOUT)
        f.write("[gdb exit status %d after %.1f s]\n" % (rc, now() - t))
    times["gdb_rc"] = rc
    times["gdb_secs"] = now() - t
    if rc != 0:
        problems.append("gdb exited with status %d" % rc)
    res = results.wait(r"^KGDB_RESUMED", min(deadline, now() + a.cmd_timeout))
    if res:
        times["resumed"] = res[0]
    else:
        problems.append("the guest did not resume after gdb's detach")


if __name__ == "__main__":
    sys.exit(main())
