"""Helpers for the end-to-end tests: the doubles, the product, clients.

Each test gets a temporary folder, its own doubles process (see
tests/doubles/microsoft.py) and a settings file for the binary named by the
environment variable EXO_BIN. Cleanup stops every process the test started
and scans the log file and the product's stderr for secrets.
"""

import base64
import glob
import http.client
import json
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DOUBLES = os.path.join(ROOT, "tests", "doubles", "microsoft.py")
CLIENT_ID = "3f1b6d2e-8c4a-4e57-9d1a-2b6c7e8f9a01"
MAILBOX = "mfp@example.com"
POP_SCOPE = "https://outlook.office.com/POP.AccessAsUser.All"
SMTP_SCOPE = "https://outlook.office.com/SMTP.Send"
SMTP_HOSTNAME = "exoconnect.test"
START_TIMEOUT = 20	# seconds for a process to open its ports


def ephemeral_range():
    """Return (low, high) of the system's ports for outgoing connections."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
            return low, high
    except (OSError, ValueError):
        return 32768, 60999


def free_ports(count):
    """Return COUNT distinct free TCP ports on 127.0.0.1.

    The ports come from below the range the system hands out to outgoing
    connections: a port taken from that range by bind(0) and closed can
    be reused as the source port of a client connection before the
    listener for it starts, and that listener then fails with "address
    in use". Below the range only another listener can take it.
    """
    low, _high = ephemeral_range()
    first = 10000 if low > 12000 else 1024
    rng = random.SystemRandom()
    ports = []
    socks = []
    try:
        for _ in range(count * 50):
            if len(ports) == count:
                break
            port = rng.randrange(first, low)
            if port in ports:
                continue
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                s.close()
                continue
            socks.append(s)
            ports.append(port)
        while len(ports) < count:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
        return ports
    finally:
        for s in socks:
            s.close()


def wait_port(port, proc=None, timeout=START_TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def wait_for(predicate, timeout=10, step=0.05):
    """Poll PREDICATE until it returns a true value or TIMEOUT passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(step)


class Doubles:
    """The doubles process of one test, and its control API."""

    def __init__(self, state_dir):
        self.state_dir = state_dir
        os.makedirs(state_dir, exist_ok=True)
        self.out = open(os.path.join(state_dir, "doubles.out"), "wb")
        self.proc = subprocess.Popen(
            [sys.executable, DOUBLES, "--state-dir", state_dir],
            stdout=self.out, stderr=subprocess.STDOUT)
        path = os.path.join(state_dir, "ports.json")
        if not wait_for(lambda: os.path.exists(path), START_TIMEOUT):
            self.stop()
            raise RuntimeError("the doubles did not start; see "
                               + self.out.name)
        with open(path) as f:
            self.ports = json.load(f)
        self.ca_file = self.ports["ca_file"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.out.close()

    def request(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            "http://127.0.0.1:%d%s" % (self.ports["control"], path),
            data=data, method=method,
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
        if path.startswith("/smtp/raw"):
            return raw
        return json.loads(raw)

    def post(self, path, body=None):
        return self.request("POST", path, body or {})

    def get(self, path):
        return self.request("GET", path)

    def state(self):
        return self.get("/state")

    def config(self, **values):
        return self.post("/config", values)

    def script(self, kind, **spec):
        return self.post("/script/" + kind, spec)

    def grant_count(self, grant):
        return self.state()["grant_counts"].get(grant, 0)

    def refresh_requests(self):
        return [r for r in self.state()["token_requests"]
                if r.get("grant_type") == "refresh_token"]

    def seed(self, mailbox, messages, uids=None, replace=True):
        body = {"mailbox": mailbox, "replace": replace,
                "messages": [base64.b64encode(m).decode() for m in messages]}
        if uids:
            body["uids"] = uids
        return self.post("/mailbox", body)

    def mailbox(self, mailbox):
        return self.get("/mailbox?mailbox=" + urllib.parse.quote(mailbox))

    def secrets(self):
        """Return every token the identity double issued."""
        st = self.state()
        return [t["token"] for t in st["access_tokens"]] + \
            [t["token"] for t in st["refresh_tokens"]]


class Product:
    """The exoconnect binary with one settings file in a temporary folder."""

    def __init__(self, test_dir, doubles, bin_path, **options):
        self.dir = test_dir
        self.doubles = doubles
        self.bin = bin_path
        self.conf = os.path.join(test_dir, "exoconnect.conf")
        self.log_file = os.path.join(test_dir, "exoconnect.log")
        self.clock_file = os.path.join(test_dir, "clock")
        self.pop3_port, self.smtp_port = free_ports(2)
        self.stderr_texts = []		# stderr of every command, for scans
        self.serve_proc = None
        self.serve_err = None
        self.clock = 0
        self.set_clock(0)
        self.write_conf(**options)
        self.env = dict(os.environ)
        for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY",
                     "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY",
                     "all_proxy"):
            self.env.pop(name, None)
        self.env["HOME"] = test_dir
        self.env["XDG_CONFIG_HOME"] = os.path.join(test_dir, "xdg-config")
        self.env["XDG_DATA_HOME"] = os.path.join(test_dir, "xdg-data")
        self.env["EXO_TEST_CLOCK_FILE"] = self.clock_file
        self.env["TERM"] = "dumb"
        # Tests compare English command output, whatever the caller's
        # language; the product translates from LC_ALL, LC_MESSAGES, LANG.
        self.env.pop("LC_MESSAGES", None)
        self.env["LC_ALL"] = "C.UTF-8"
        self.env["LANG"] = "C.UTF-8"

    def write_conf(self, client_id=CLIENT_ID, tenant="common",
                   authority=None, proxy="", pop3_idle=600, smtp_idle=300,
                   preauth_timeout=60, max_message_size="35 MB",
                   extra=""):
        ports = self.doubles.ports
        if authority is None:
            authority = "https://localhost:%d" % ports["identity"]
        text = """; written by the end-to-end tests
[microsoft]
client_id = {client_id}
tenant = {tenant}
authority = {authority}

[pop3]
listen = 127.0.0.1
port = {pop3_port}
upstream = localhost:{up_pop3}
idle_timeout = {pop3_idle}

[smtp]
listen = 127.0.0.1
port = {smtp_port}
upstream = localhost:{up_smtp}
upstream_personal = localhost:{up_smtp}
hostname = {hostname}
max_message_size = {max_message_size}
idle_timeout = {smtp_idle}

[tls]
ca_file = {ca_file}

[network]
proxy = {proxy}

[limits]
preauth_timeout = {preauth_timeout}

[log]
file = {log_file}
level = debug
{extra}""".format(client_id=client_id, tenant=tenant, authority=authority,
                  pop3_port=self.pop3_port, up_pop3=ports["pop3"],
                  pop3_idle=pop3_idle, smtp_port=self.smtp_port,
                  up_smtp=ports["smtp"], hostname=SMTP_HOSTNAME,
                  max_message_size=max_message_size, smtp_idle=smtp_idle,
                  ca_file=self.doubles.ca_file, proxy=proxy,
                  preauth_timeout=preauth_timeout, log_file=self.log_file,
                  extra=extra)
        with open(self.conf, "w") as f:
            f.write(text)

    def set_clock(self, seconds):
        """Set the product's clock offset (seconds added to real time)."""
        self.clock = seconds
        with open(self.clock_file + ".tmp", "w") as f:
            f.write("%d\n" % seconds)
        os.replace(self.clock_file + ".tmp", self.clock_file)

    def advance(self, seconds):
        """Move the product's and the doubles' clocks forward together."""
        self.set_clock(self.clock + seconds)
        self.doubles.post("/clock", {"advance": seconds})

    # ---- commands ----

    def run(self, *args, timeout=60, env=None):
        proc = subprocess.run([self.bin, "-c", self.conf] + list(args),
                              capture_output=True, timeout=timeout,
                              env=env or self.env)
        self.stderr_texts.append(proc.stderr.decode("utf-8", "replace"))
        self.stderr_texts.append(proc.stdout.decode("utf-8", "replace"))
        return proc

    def popen(self, *args, env=None):
        return subprocess.Popen([self.bin, "-c", self.conf] + list(args),
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env or self.env)

    def finish(self, proc, timeout=60):
        """Wait for PROC; return (exit status, stdout lines, stderr)."""
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        err = err.decode("utf-8", "replace")
        out = out.decode("utf-8", "replace")
        self.stderr_texts.extend([err, out])
        return proc.returncode, out, err

    def add_user_device(self, mailbox=MAILBOX, extra=(), approve=True):
        """Add a user with `user add --device-code --json`.

        Returns (first JSON object, second JSON object or None, status,
        stderr).
        """
        proc = self.popen("user", "add", "--device-code", "--json", *extra)
        first_line = proc.stdout.readline().decode("utf-8", "replace")
        self.stderr_texts.append(first_line)
        try:
            first = json.loads(first_line)
        except ValueError:
            status, out, err = self.finish(proc)
            raise AssertionError("user add --device-code printed no JSON "
                                 "line: %r, status %s, stderr %s"
                                 % (first_line + out, status, err))
        if approve:
            self.doubles.post("/device/approve",
                              {"user_code": first["user_code"],
                               "mailbox": mailbox})
        status, out, err = self.finish(proc)
        second = None
        for line in out.splitlines():
            if line.strip().startswith("{"):
                second = json.loads(line)
        return first, second, status, err

    def add_user_browser(self, mailbox=MAILBOX, choice=None):
        """Add a user with `user add --browser --no-open --json`.

        Returns (authorize URL, Location of the redirect, second JSON object
        or None, status, stderr).
        """
        self.doubles.post("/authorize", choice or {"mailbox": mailbox})
        proc = self.popen("user", "add", "--browser", "--no-open", "--json")
        first_line = proc.stdout.readline().decode("utf-8", "replace")
        self.stderr_texts.append(first_line)
        url = json.loads(first_line)["authorize_url"]
        location = https_get_location(url, self.doubles.ca_file)
        parsed = urllib.parse.urlsplit(location)
        loopback = parsed._replace(netloc="127.0.0.1:%d" % parsed.port)
        try:
            with urllib.request.urlopen(urllib.parse.urlunsplit(loopback),
                                        timeout=30) as resp:
                resp.read()
        except urllib.error.HTTPError as exc:
            exc.read()
        status, out, err = self.finish(proc)
        second = None
        for line in out.splitlines():
            if line.strip().startswith("{"):
                second = json.loads(line)
        return url, location, second, status, err

    def users(self):
        proc = self.run("user", "list", "--json")
        if proc.returncode != 0:
            raise AssertionError("user list --json failed: "
                                 + proc.stderr.decode("utf-8", "replace"))
        return json.loads(proc.stdout)

    def user(self, login):
        for u in self.users():
            if u["login"].lower() == login.lower():
                return u
        raise AssertionError("user %s is not listed" % login)

    # ---- the service ----

    def serve(self, env=None):
        self.serve_err = open(os.path.join(self.dir, "serve.err"), "ab")
        self.serve_proc = subprocess.Popen(
            [self.bin, "-c", self.conf, "serve"], stdin=subprocess.DEVNULL,
            stdout=self.serve_err, stderr=self.serve_err, env=env or self.env)
        for port in (self.pop3_port, self.smtp_port):
            if not wait_port(port, self.serve_proc):
                self.stop()
                raise AssertionError("serve did not open port %d; stderr: %s"
                                     % (port, self.serve_stderr()))

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Stop serve; return its exit status (None when not running)."""
        proc = self.serve_proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.serve_proc = None
        self.serve_err.close()
        return proc.returncode

    def kill(self):
        return self.stop(signal.SIGKILL)

    def serve_stderr(self):
        path = os.path.join(self.dir, "serve.err")
        if not os.path.exists(path):
            return ""
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log(self):
        text = ""
        for path in sorted(glob.glob(self.log_file + "*")):
            with open(path, "rb") as f:
                text += f.read().decode("utf-8", "replace")
        return text

    def secrets_files(self):
        """Return {path: bytes} of every secrets.dat under the test folder."""
        found = {}
        for base, _, files in os.walk(self.dir):
            for name in files:
                if name.startswith("secrets"):
                    path = os.path.join(base, name)
                    with open(path, "rb") as f:
                        found[path] = f.read()
        return found


def https_get_location(url, ca_file):
    """GET URL over HTTPS without following redirects; return Location."""
    parsed = urllib.parse.urlsplit(url)
    ctx = ssl.create_default_context(cafile=ca_file)
    conn = http.client.HTTPSConnection(parsed.hostname, parsed.port,
                                       context=ctx, timeout=30)
    path = parsed.path + ("?" + parsed.query if parsed.query else "")
    conn.request("GET", path)
    resp = conn.getresponse()
    resp.read()
    conn.close()
    if resp.status != 302:
        raise AssertionError("authorize returned %d, not 302" % resp.status)
    return resp.getheader("Location")


class Raw:
    """A line-oriented client on a plain TCP connection, for byte checks."""

    def __init__(self, port, timeout=30):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def cmd(self, line):
        """Send LINE plus CRLF and return the reply's first line."""
        self.send(line.encode() + b"\r\n" if isinstance(line, str)
                  else line + b"\r\n")
        return self.line()

    def line(self):
        """Return the next line with its CRLF, or b"" at end of stream."""
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                rest, self.buf = self.buf, b""
                return rest
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line + b"\n"

    def text(self):
        return self.line().decode("utf-8", "replace").rstrip("\r\n")

    def multiline(self):
        """Read a POP3 multi-line body up to ".\\r\\n"; return its bytes."""
        while b"\r\n.\r\n" not in b"\r\n" + self.buf:
            chunk = self.sock.recv(262144)
            if not chunk:
                raise AssertionError("connection closed inside a multi-line "
                                     "reply: %r" % self.buf[-200:])
            self.buf += chunk
        data = b"\r\n" + self.buf
        end = data.index(b"\r\n.\r\n")
        body = data[2:end + 2]
        self.buf = data[end + 5:]
        return body + b".\r\n"

    def smtp_reply(self):
        """Read an SMTP reply; return its lines without CRLF."""
        lines = []
        while True:
            line = self.text()
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return lines

    def closed(self, timeout=10):
        """Return True when the peer closes within TIMEOUT seconds."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except socket.timeout:
            return False
        except OSError:
            return True


def b64(text):
    if isinstance(text, str):
        text = text.encode()
    return base64.b64encode(text).decode()


def xoauth2_b64(mailbox, token):
    return b64("user=%s\x01auth=Bearer %s\x01\x01" % (mailbox, token))


class ProductTest(unittest.TestCase):
    """Base class: doubles, a settings file, and one signed-in user.

    Subclasses set USERS (mailboxes to add by device code before each
    test), SERVE (start `serve` in setUp) and DOUBLE_CONFIG (doubles'
    settings applied before anything else).
    """

    USERS = [MAILBOX]
    SERVE = True
    DOUBLE_CONFIG = {}
    PRODUCT_OPTIONS = {}

    def setUp(self):
        self.bin = os.environ.get("EXO_BIN", "")
        if not self.bin or not os.access(self.bin, os.X_OK):
            self.fail("EXO_BIN is not an executable: %r" % self.bin)
        self.dir = tempfile.mkdtemp(prefix="exo-e2e-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.extra_secrets = []		# passwords and AUTH lines used
        self.doubles = Doubles(os.path.join(self.dir, "doubles"))
        self.addCleanup(self.doubles.stop)
        config = {"device_interval": 1}
        config.update(self.DOUBLE_CONFIG)
        self.doubles.config(**config)
        product_dir = os.path.join(self.dir, "product")
        os.makedirs(product_dir)
        self.product = Product(product_dir, self.doubles, self.bin,
                               **self.PRODUCT_OPTIONS)
        self.addCleanup(self.scan_secrets)
        self.addCleanup(self.product.stop)
        self.logins = {}		# mailbox -> (login, password)
        for mailbox in self.USERS:
            self.add_user(mailbox)
        if self.SERVE:
            self.product.serve()

    def add_user(self, mailbox):
        first, second, status, err = self.product.add_user_device(mailbox)
        self.assertEqual(status, 0, "user add --device-code failed: " + err)
        self.assertIsNotNone(second, "user add printed no user JSON")
        self.extra_secrets.append(second["password"])
        self.logins[mailbox] = (second["login"], second["password"])
        return second

    def login(self, mailbox=MAILBOX):
        return self.logins[mailbox]

    def scan_secrets(self):
        """Fail when a secret appears in the log file or the product's
        output (stderr of serve and of every command)."""
        try:
            tokens = self.doubles.secrets()
        except OSError:
            tokens = []
        texts = {"log file": self.product.log(),
                 "serve stderr": self.product.serve_stderr(),
                 "command output": "\n".join(self.product.stderr_texts)}
        # Passwords are printed once by `user add --json` on stdout, so
        # command output is checked for tokens and AUTH payloads only.
        # Any leaked run of 63 or more characters of a token or an XOAUTH2
        # line contains one of these aligned 32-character pieces.
        pieces = []
        for token in tokens:
            lines = [token] + [xoauth2_b64(mailbox, token)
                               for mailbox in self.logins]
            for line in lines:
                pieces += [(line[i:i + 32], token[:8])
                           for i in range(0, max(1, len(line) - 31), 32)]
        problems = []
        for where, text in texts.items():
            for piece, name in pieces:
                if piece in text:
                    problems.append("%s contains a token or XOAUTH2 line "
                                    "(token %s...)" % (where, name))
            for secret in self.extra_secrets:
                if where == "command output":
                    continue
                if secret and secret in text:
                    problems.append("%s contains the secret %s..."
                                    % (where, secret[:3]))
        if problems:
            self.fail("; ".join(sorted(set(problems))))

    # ---- device-side clients ----

    def pop3_login(self, mailbox=MAILBOX, password=None):
        """Open a raw POP3 connection and log in with USER/PASS.

        Returns (Raw, reply to PASS).
        """
        login, secret = self.login(mailbox)
        raw = Raw(self.product.pop3_port)
        self.addCleanup(raw.close)
        greeting = raw.text()
        self.assertTrue(greeting.startswith("+OK"), greeting)
        reply = raw.cmd("USER " + login).decode("utf-8", "replace")
        self.assertTrue(reply.startswith("+OK"), reply)
        reply = raw.cmd("PASS " + (password if password is not None
                                   else secret)).decode("utf-8", "replace")
        return raw, reply.rstrip("\r\n")

    def smtp_connect(self, ehlo=True):
        raw = Raw(self.product.smtp_port)
        self.addCleanup(raw.close)
        banner = raw.smtp_reply()
        self.assertTrue(banner[-1].startswith("220"), banner)
        if ehlo:
            lines = [raw.cmd("EHLO mfp").decode().rstrip("\r\n")]
            if lines[0][3:4] == "-":
                lines += raw.smtp_reply()
            self.assertTrue(lines[-1].startswith("250"), lines)
            raw.ehlo = lines
        return raw

    def smtp_auth_plain(self, raw, mailbox=MAILBOX, password=None):
        login, secret = self.login(mailbox)
        payload = b64("\0%s\0%s" % (login, password if password is not None
                                    else secret))
        self.extra_secrets.append(payload)
        return raw.cmd("AUTH PLAIN " + payload).decode().rstrip("\r\n")
