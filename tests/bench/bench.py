#!/usr/bin/env python3
"""Measure exoconnect against the test doubles on 127.0.0.1.

Usage: python3 tests/bench/bench.py --bin build/exoconnect
           [--floor build/bench/tls-floor] [--runs 5] [--mb 30]
           [--sessions 100,1000] [--json OUT]

Every figure is measured side by side in one run, against one doubles
process (tests/doubles/microsoft.py), and printed as a table of medians
with the ratio to the direct path:

- POP3 RETR of one large message through exoconnect, against the same
  RETR straight from the POP3 double with XOAUTH2 over TLS;
- SMTP DATA of one large message, likewise;
- login latency (connect to +OK after PASS, token cached), against the
  double's own XOAUTH2 login;
- exoconnect's CPU time per GB relayed, beside BearSSL's record layer
  alone (tls-floor);
- RSS, threads and descriptors idle, with N idle logged-in sessions, and
  after they close;
- start-up time to listening, and the binary's size.

The doubles' own CPU use is shown too: a direct path whose double is busy
close to a whole core means the double, not exoconnect, sets the pace.
Figures only: nothing here passes or fails.
"""

import argparse
import base64
import concurrent.futures
import json
import os
import platform
import resource
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

from harness import Doubles, Product, wait_port  # noqa: E402

MAILBOX = "mfp@example.com"
RCPT = "archive@example.com"
POP_SCOPE = "https://outlook.office.com/POP.AccessAsUser.All"
SMTP_SCOPE = "https://outlook.office.com/SMTP.Send"
LOGIN_RUNS = 21		# logins timed per path (a median of many is stable)
STARTUP_RUNS = 5
LOGIN_THREADS = 8	# devices logging in at once while sessions open
SETTLE_SECONDS = 3	# wait for threads to end after sessions close
RECV = 1 << 20


# ---- process figures from /proc ----

def proc_cpu_ns(pid):
    """CPU time of every live thread of PID, in nanoseconds."""
    total = 0
    task_dir = "/proc/%d/task" % pid
    for tid in os.listdir(task_dir):
        try:
            with open("%s/%s/schedstat" % (task_dir, tid)) as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def proc_cpu_ticks_s(pid):
    """User plus system CPU seconds of PID, threads that ended included."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_status(pid):
    """Return (RSS in KB, threads, open descriptors) of PID."""
    rss = threads = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    fds = len(os.listdir("/proc/%d/fd" % pid))
    return rss, threads, fds


def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {"cpu": model, "cores": os.cpu_count(),
            "memory_gb": round(mem_kb / 1048576, 1),
            "kernel": platform.release(),
            "python": platform.python_version()}


# ---- clients ----

class Conn:
    """A line client on a plain or TLS socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        self.sock.sendall(data)

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed, after %r" % self.buf[-200:])
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line + b"\n"

    def cmd(self, text):
        self.send(text.encode() + b"\r\n")
        return self.line()

    def smtp_reply(self):
        while True:
            line = self.line()
            if len(line) < 4 or line[3:4] != b"-":
                return line

    def smtp_cmd(self, text):
        self.send(text.encode() + b"\r\n")
        return self.smtp_reply()

    def multiline(self):
        """Read a POP3 multi-line body; return the bytes read."""
        got = len(self.buf)
        tail = self.buf[-5:]
        if (b"\r\n" + self.buf).endswith(b"\r\n.\r\n"):
            self.buf = b""
            return got
        self.buf = b""
        view = bytearray(RECV)
        while True:
            n = self.sock.recv_into(view)
            if n == 0:
                raise ConnectionError("closed inside a multi-line reply")
            got += n
            tail = (tail + bytes(view[max(0, n - 5):n]))[-5:]
            if tail.endswith(b"\r\n.\r\n"):
                return got


def expect(reply, prefix, what):
    if not reply.startswith(prefix):
        raise RuntimeError("%s: unexpected reply %r" % (what, reply[:300]))
    return reply


def tls_context(ca_file):
    ctx = ssl.create_default_context(cafile=ca_file)
    return ctx


def xoauth2(token):
    raw = "user=%s\x01auth=Bearer %s\x01\x01" % (MAILBOX, token)
    return base64.b64encode(raw.encode()).decode()


def pop3_direct_login(port, ctx, token):
    raw = socket.create_connection(("127.0.0.1", port), timeout=60)
    c = Conn(ctx.wrap_socket(raw, server_hostname="localhost"))
    expect(c.line(), b"+OK", "direct greeting")
    expect(c.cmd("AUTH XOAUTH2"), b"+", "direct AUTH")
    expect(c.cmd(xoauth2(token)), b"+OK", "direct XOAUTH2")
    return c


def pop3_proxy_login(port, login, password):
    c = Conn(socket.create_connection(("127.0.0.1", port), timeout=60))
    expect(c.line(), b"+OK", "proxy greeting")
    expect(c.cmd("USER " + login), b"+OK", "proxy USER")
    expect(c.cmd("PASS " + password), b"+OK", "proxy PASS")
    return c


def retr(c):
    """RETR 1; return (seconds, bytes)."""
    t0 = time.perf_counter()
    c.send(b"RETR 1\r\n")
    expect(c.line(), b"+OK", "RETR")
    n = c.multiline()
    return time.perf_counter() - t0, n


def smtp_direct_login(port, ctx, token):
    raw = socket.create_connection(("127.0.0.1", port), timeout=60)
    c = Conn(raw)
    expect(c.smtp_reply(), b"220", "direct banner")
    expect(c.smtp_cmd("EHLO bench"), b"250", "direct EHLO")
    expect(c.smtp_cmd("STARTTLS"), b"220", "direct STARTTLS")
    c.sock = ctx.wrap_socket(raw, server_hostname="localhost")
    expect(c.smtp_cmd("EHLO bench"), b"250", "direct EHLO after TLS")
    expect(c.smtp_cmd("AUTH XOAUTH2"), b"334", "direct AUTH")
    expect(c.smtp_cmd(xoauth2(token)), b"235", "direct XOAUTH2")
    return c


def smtp_proxy_login(port, login, password):
    c = Conn(socket.create_connection(("127.0.0.1", port), timeout=60))
    expect(c.smtp_reply(), b"220", "proxy banner")
    expect(c.smtp_cmd("EHLO bench"), b"250", "proxy EHLO")
    plain = base64.b64encode(("\0%s\0%s" % (login, password)).encode())
    expect(c.smtp_cmd("AUTH PLAIN " + plain.decode()), b"235",
           "proxy AUTH PLAIN")
    return c


def smtp_send(c, stuffed):
    """One message; return (seconds from the DATA line to 250, bytes)."""
    expect(c.smtp_cmd("MAIL FROM:<%s>" % MAILBOX), b"250", "MAIL")
    expect(c.smtp_cmd("RCPT TO:<%s>" % RCPT), b"250", "RCPT")
    t0 = time.perf_counter()
    expect(c.smtp_cmd("DATA"), b"354", "DATA")
    c.send(stuffed)
    expect(c.smtp_reply(), b"250", "end of DATA")
    return time.perf_counter() - t0, len(stuffed)


def make_message(size):
    """A scanner's mail: headers and a base64 PDF in 76-column lines."""
    head = ("From: <%s>\r\nTo: <%s>\r\nSubject: Scan 0001\r\n"
            "MIME-Version: 1.0\r\nContent-Type: application/pdf\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n"
            % (MAILBOX, RCPT)).encode()
    line = base64.b64encode(os.urandom(57)) + b"\r\n"
    body = line * ((size - len(head)) // len(line) + 1)
    return (head + body)[:size - 2] + b"\r\n"


# ---- the measurements ----

class Bench:
    def __init__(self, args):
        self.args = args
        self.dir = tempfile.mkdtemp(prefix="exo-bench-")
        self.doubles = Doubles(os.path.join(self.dir, "doubles"))
        self.doubles.config(device_interval=1, pop3_size_delta=0,
                            smtp_max_sessions=100000,
                            access_token_length=1800)
        self.ctx = tls_context(self.doubles.ca_file)
        self.message = make_message(args.mb * 1024 * 1024)
        self.up = dict(self.doubles.ports)	# the upstream POP3 and SMTP
        self.up_name = "Python doubles"
        self.fast = None
        if args.fast_double:
            self.start_fast_double()
        os.makedirs(os.path.join(self.dir, "product"))
        self.product = Product(os.path.join(self.dir, "product"),
                               self.doubles, args.bin)
        self.configure()
        first, second, status, err = self.product.add_user_device(MAILBOX)
        if status != 0 or second is None:
            raise RuntimeError("user add failed: " + err)
        self.login = second["login"]
        self.password = second["password"]
        self.results = {"machine": machine(), "bin": args.bin,
                        "runs": args.runs, "mb": args.mb}

    def start_fast_double(self):
        """Start tests/bench/bench-double.c with the doubles' certificate
        and the message, as the upstream POP3 and SMTP servers."""
        pki = os.path.join(self.dir, "doubles", "pki")
        path = os.path.join(self.dir, "message.eml")
        with open(path, "wb") as f:
            f.write(self.message)
        self.fast = subprocess.Popen([self.args.fast_double,
                                      os.path.join(pki, "good.pem"),
                                      os.path.join(pki, "good.key"), path],
                                     stdout=subprocess.PIPE)
        fields = dict(kv.split("=") for kv in
                      self.fast.stdout.readline().decode().split())
        self.up = {"pop3": int(fields["pop3"]), "smtp": int(fields["smtp"]),
                   "pid": self.fast.pid}
        self.up_name = "C double (tests/bench/bench-double.c)"

    def configure(self):
        # The harness writes a debug-level log; a service logs at info.
        self.product.write_conf()
        with open(self.product.conf) as f:
            text = f.read()
        text = text.replace("level = debug", "level = info")
        for proto in ("pop3", "smtp"):
            text = text.replace("localhost:%d" % self.doubles.ports[proto],
                                "localhost:%d" % self.up[proto])
        text = text.replace("[limits]\n", "[limits]\nmax_connections = "
                            "5000\nmax_preauth_per_address = 5000\n")
        with open(self.product.conf, "w") as f:
            f.write(text)

    def close(self):
        self.product.stop()
        if self.fast is not None:
            self.fast.kill()
            self.fast.wait()
        self.doubles.stop()
        shutil.rmtree(self.dir, True)

    def token(self, scope):
        best = None
        for t in self.doubles.state()["access_tokens"]:
            if t["mailbox"].lower() == MAILBOX and scope in t["scopes"]:
                if best is None or t["expires_at"] > best["expires_at"]:
                    best = t
        if best is None:
            raise RuntimeError("the double issued no token for " + scope)
        return best["token"]

    def serve(self):
        self.product.serve()
        return self.product.serve_proc.pid

    def pop3(self, pid, message):
        self.doubles.seed(MAILBOX, [message])
        ports = self.up
        dpid = ports["pid"]
        # One proxied login first, so the token is cached.
        pop3_proxy_login(self.product.pop3_port, self.login,
                         self.password).close()
        token = self.token(POP_SCOPE)
        direct, proxy, cpu_ns, nbytes, dcpu = [], [], 0, 0, []
        for _ in range(self.args.runs):
            c = pop3_direct_login(ports["pop3"], self.ctx, token)
            d0 = proc_cpu_ticks_s(dpid)
            secs, n = retr(c)
            dcpu.append((proc_cpu_ticks_s(dpid) - d0) / secs)
            direct.append(n / secs)
            c.close()
            c = pop3_proxy_login(self.product.pop3_port, self.login,
                                 self.password)
            c0 = proc_cpu_ns(pid)
            secs, n = retr(c)
            cpu_ns += proc_cpu_ns(pid) - c0
            nbytes += n
            proxy.append(n / secs)
            c.close()
        return {"direct_mb_s": med(direct) / 1e6,
                "proxy_mb_s": med(proxy) / 1e6,
                "cpu_s_per_gb": cpu_ns / 1e9 / (nbytes / 1e9),
                "double_cpu_share": med(dcpu)}

    def smtp(self, pid, message):
        ports = self.up
        dpid = ports["pid"]
        stuffed = message.replace(b"\r\n.", b"\r\n..") + b".\r\n"
        smtp_proxy_login(self.product.smtp_port, self.login,
                         self.password).close()
        token = self.token(SMTP_SCOPE)
        direct, proxy, cpu_ns, nbytes, dcpu = [], [], 0, 0, []
        for _ in range(self.args.runs):
            c = smtp_direct_login(ports["smtp"], self.ctx, token)
            d0 = proc_cpu_ticks_s(dpid)
            secs, n = smtp_send(c, stuffed)
            dcpu.append((proc_cpu_ticks_s(dpid) - d0) / secs)
            direct.append(n / secs)
            c.close()
            c = smtp_proxy_login(self.product.smtp_port, self.login,
                                 self.password)
            c0 = proc_cpu_ns(pid)
            secs, n = smtp_send(c, stuffed)
            cpu_ns += proc_cpu_ns(pid) - c0
            nbytes += n
            proxy.append(n / secs)
            c.close()
        # Drop the stored copies, so the double's memory stays flat.
        self.doubles.seed(RCPT, [])
        return {"direct_mb_s": med(direct) / 1e6,
                "proxy_mb_s": med(proxy) / 1e6,
                "cpu_s_per_gb": cpu_ns / 1e9 / (nbytes / 1e9),
                "double_cpu_share": med(dcpu)}

    def login_latency(self):
        ports = self.up
        self.doubles.seed(MAILBOX, [b"Subject: x\r\n\r\nx\r\n"])
        token = self.token(POP_SCOPE)
        direct, proxy = [], []
        for _ in range(LOGIN_RUNS):
            t0 = time.perf_counter()
            c = pop3_direct_login(ports["pop3"], self.ctx, token)
            direct.append(time.perf_counter() - t0)
            c.close()
            t0 = time.perf_counter()
            c = pop3_proxy_login(self.product.pop3_port, self.login,
                                 self.password)
            proxy.append(time.perf_counter() - t0)
            c.close()
        return {"direct_ms": med(direct) * 1e3, "proxy_ms": med(proxy) * 1e3}

    def memory(self, pid):
        self.doubles.seed(MAILBOX, [b"Subject: x\r\n\r\nx\r\n"])
        out = {"idle": proc_status(pid)}
        for count in self.args.sessions:
            with concurrent.futures.ThreadPoolExecutor(LOGIN_THREADS) as ex:
                conns = list(ex.map(lambda _: pop3_proxy_login(
                    self.product.pop3_port, self.login, self.password),
                    range(count)))
            time.sleep(0.5)
            out["open_%d" % count] = proc_status(pid)
            for c in conns:
                c.send(b"QUIT\r\n")
                c.close()
            time.sleep(SETTLE_SECONDS)
            out["closed_%d" % count] = proc_status(pid)
        return out

    def python_direct(self, message):
        """Direct transfers from the Python doubles, to show their pace."""
        self.doubles.seed(MAILBOX, [message])
        ports = self.doubles.ports
        stuffed = message.replace(b"\r\n.", b"\r\n..") + b".\r\n"
        pop3, smtp = [], []
        for _ in range(self.args.runs):
            c = pop3_direct_login(ports["pop3"], self.ctx,
                                  self.token(POP_SCOPE))
            secs, n = retr(c)
            pop3.append(n / secs)
            c.close()
            c = smtp_direct_login(ports["smtp"], self.ctx,
                                  self.token(SMTP_SCOPE))
            secs, n = smtp_send(c, stuffed)
            smtp.append(n / secs)
            c.close()
        self.doubles.seed(RCPT, [])
        return {"pop3_mb_s": med(pop3) / 1e6, "smtp_mb_s": med(smtp) / 1e6}

    def startup(self):
        times = []
        for _ in range(STARTUP_RUNS):
            t0 = time.perf_counter()
            proc = subprocess.Popen([self.product.bin, "-c",
                                     self.product.conf, "serve"],
                                    stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL,
                                    env=self.product.env)
            while True:
                try:
                    socket.create_connection(("127.0.0.1",
                                              self.product.pop3_port),
                                             timeout=1).close()
                    break
                except OSError:
                    if proc.poll() is not None or \
                            time.perf_counter() - t0 > 20:
                        raise RuntimeError("serve did not start")
                    time.sleep(0.001)
            times.append(time.perf_counter() - t0)
            proc.terminate()
            proc.wait(30)
        return {"ms": med(times) * 1e3}

    def floor(self):
        if not self.args.floor:
            return None
        out = subprocess.run([self.args.floor, "512"], capture_output=True,
                             check=True, timeout=600)
        return json.loads(out.stdout)

    def suite(self):
        """Name the suite the upstream picks from those BearSSL offers."""
        ctx = tls_context(self.doubles.ca_file)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        # exoconnect's client offers these in this order on a CPU with
        # AES-NI and PCLMUL (tls_suites_gcm_first in src/stream-tls.c).
        ctx.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256:"
                        "ECDHE-RSA-AES128-GCM-SHA256:"
                        "ECDHE-ECDSA-AES256-GCM-SHA384:"
                        "ECDHE-RSA-AES256-GCM-SHA384:"
                        "ECDHE-ECDSA-CHACHA20-POLY1305:"
                        "ECDHE-RSA-CHACHA20-POLY1305")
        raw = socket.create_connection(("127.0.0.1", self.up["pop3"]), 10)
        s = ctx.wrap_socket(raw, server_hostname="localhost")
        name = s.cipher()[0]
        s.close()
        return name

    def run(self):
        r = self.results
        r["load_before"] = load_average()
        r["upstream"] = self.up_name
        message = self.message
        r["binary_bytes"] = os.path.getsize(self.args.bin)
        r["startup"] = self.startup()
        pid = self.serve()
        r["memory"] = self.memory(pid)
        r["login"] = self.login_latency()
        r["pop3"] = self.pop3(pid, message)
        r["smtp"] = self.smtp(pid, message)
        r["memory_after_transfers"] = proc_status(pid)
        r["suite"] = self.suite()
        r["floor"] = self.floor()
        if self.fast is not None:
            r["python_direct"] = self.python_direct(message)
        r["load_after"] = load_average()
        return r


def med(values):
    return statistics.median(values)


FLOOR_SUITES = (("AES128", "AES-128-GCM"), ("AES256", "AES-256-GCM"),
                ("CHACHA20", "ChaCha20-Poly1305"))


def floor_for(results, suite):
    """Return (name, figures) of the floor for the OpenSSL suite name."""
    floor = results.get("floor")
    if not floor:
        return None
    for part, name in FLOOR_SUITES:
        if part in suite:
            return name, floor[name]
    return None


def load_average():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def targets(r):
    """Lines saying which of the targets this run met."""
    def verdict(ok):
        return "met" if ok else "missed"

    lines = ["targets (figures of this run, not a test result):"]
    for proto in ("pop3", "smtp"):
        ratio = r[proto]["proxy_mb_s"] / r[proto]["direct_mb_s"]
        lines.append("  %s throughput >= 0.8 of direct: %.2f, %s"
                     % (proto.upper(), ratio, verdict(ratio >= 0.8)))
    added = r["login"]["proxy_ms"] - r["login"]["direct_ms"]
    lines.append("  added login latency < 2 ms: %.2f ms, %s"
                 % (added, verdict(added < 2)))
    mem = r["memory"]
    if "open_1000" in mem:
        rss = mem["open_1000"][0] / 1024
        lines.append("  1,000 idle sessions < 100 MB RSS: %.1f MB, %s"
                     % (rss, verdict(rss < 100)))
    closed = [k for k in mem if k.startswith("closed_")]
    if closed:
        idle, after = mem["idle"], mem[closed[-1]]
        back = after[1] == idle[1] and after[2] == idle[2] and \
            after[0] <= idle[0] * 1.5 + 512
        lines.append("  back to idle after close: %.1f MB vs %.1f MB idle, "
                     "%d/%d threads, %d/%d fds, %s"
                     % (after[0] / 1024, idle[0] / 1024, after[1], idle[1],
                        after[2], idle[2], verdict(back)))
    return lines


def report(r):
    m = r["machine"]
    lines = ["machine: %s, %d cores, %.1f GB, Linux %s, Python %s"
             % (m["cpu"], m["cores"], m["memory_gb"], m["kernel"],
                m["python"]),
             "binary: %s, %d bytes; medians of %d runs, %d MB messages"
             % (r["bin"], r["binary_bytes"], r["runs"], r["mb"]), ""]
    rows = [("figure", "exoconnect", "direct", "ratio")]

    def add(name, proxy, direct, fmt="%.1f"):
        ratio = "%.2f" % (proxy / direct) if direct else "-"
        rows.append((name, fmt % proxy, fmt % direct if direct else "-",
                     ratio))

    add("POP3 RETR, MB/s", r["pop3"]["proxy_mb_s"], r["pop3"]["direct_mb_s"])
    add("SMTP DATA, MB/s", r["smtp"]["proxy_mb_s"], r["smtp"]["direct_mb_s"])
    add("POP3 login, ms", r["login"]["proxy_ms"], r["login"]["direct_ms"],
        "%.2f")
    floor = floor_for(r, r["suite"])
    if floor:
        add("CPU s per GB, POP3 (floor: open)", r["pop3"]["cpu_s_per_gb"],
            floor[1]["open_s_per_gb"], "%.3f")
        add("CPU s per GB, SMTP (floor: seal)", r["smtp"]["cpu_s_per_gb"],
            floor[1]["seal_s_per_gb"], "%.3f")
    else:
        add("CPU s per GB, POP3", r["pop3"]["cpu_s_per_gb"], 0, "%.3f")
        add("CPU s per GB, SMTP", r["smtp"]["cpu_s_per_gb"], 0, "%.3f")
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        lines.append("  ".join(row[i].ljust(widths[i]) if i == 0 else
                               row[i].rjust(widths[i]) for i in range(4)))
    lines.append("")
    lines.append("added login latency: %.2f ms"
                 % (r["login"]["proxy_ms"] - r["login"]["direct_ms"]))
    lines.append("upstream: %s" % r["upstream"])
    if r.get("python_direct"):
        lines.append("direct from the Python doubles instead: POP3 %.1f "
                     "MB/s, SMTP %.1f MB/s"
                     % (r["python_direct"]["pop3_mb_s"],
                        r["python_direct"]["smtp_mb_s"]))
    lines.append("TLS suite with the upstream: %s%s" % (r["suite"], (
        "; floor measured for " + floor[0]) if floor else ""))
    lines.append("upstream's CPU share during direct transfers (1.0 = "
                 "one whole core): POP3 %.2f, SMTP %.2f"
                 % (r["pop3"]["double_cpu_share"],
                    r["smtp"]["double_cpu_share"]))
    lines.append("start-up to listening: %.1f ms" % r["startup"]["ms"])
    lines.append("load average before and after: %s; %s"
                 % (r["load_before"], r["load_after"]))
    lines.append("")
    lines.append("memory         RSS MB  threads  fds")
    mem = r["memory"]
    for key in ["idle"] + [k for k in mem if k != "idle"]:
        rss, threads, fds = mem[key]
        lines.append("%-14s %6.1f  %7d  %3d" % (key.replace("_", " "),
                                                 rss / 1024, threads, fds))
    rss, threads, fds = r["memory_after_transfers"]
    lines.append("%-14s %6.1f  %7d  %3d" % ("after bench", rss / 1024,
                                             threads, fds))
    lines.append("")
    lines += targets(r)
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description="Benchmark exoconnect "
                                     "against the doubles on 127.0.0.1.")
    parser.add_argument("--bin", required=True, help="exoconnect binary")
    parser.add_argument("--floor", help="tls-floor program")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mb", type=int, default=30,
                        help="message size in MB")
    parser.add_argument("--sessions", default="100,1000",
                        help="idle session counts, comma-separated")
    parser.add_argument("--json", help="write the figures here too")
    parser.add_argument("--fast-double", help="bench-double program: "
                        "the upstream POP3 and SMTP server for transfers, "
                        "logins and idle sessions")
    args = parser.parse_args()
    args.sessions = [int(n) for n in args.sessions.split(",") if n]
    args.bin = os.path.abspath(args.bin)
    if args.floor:
        args.floor = os.path.abspath(args.floor)
    if args.fast_double:
        args.fast_double = os.path.abspath(args.fast_double)

    # Each idle session uses one socket here. The doubles and exoconnect
    # inherit this limit, and exoconnect raises its own at start.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, 4 * max(args.sessions + [1]) + 256))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    bench = Bench(args)
    try:
        results = bench.run()
    finally:
        bench.close()
    print(report(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
