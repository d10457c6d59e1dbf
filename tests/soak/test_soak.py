"""Soak and fault tests: many sessions, vanishing peers, floods, kill -9.

Each test runs serve (EXO_BIN, the build with test seams) against the
doubles on 127.0.0.1, like the end-to-end tests. EXO_SOAK=long scales the
load up to the full run (1,000 sessions over 10 minutes); the default is
a short pass for make check. The checks are about correctness: no crash,
no hang, no leaked thread or descriptor, and no success reply for a
message the upstream did not accept. Timings and sizes are printed as
figures and never decide a result.
"""

import concurrent.futures
import hashlib
import json
import os
import random
import socket
import sys
import threading
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))

from harness import MAILBOX, ProductTest, Raw, b64, wait_for  # noqa: E402

LONG = os.environ.get("EXO_SOAK") == "long"
SESSIONS = 1000 if LONG else 80		# device sessions in the mixed run
DURATION = 600 if LONG else 20		# seconds over which they start
WORKERS = 60 if LONG else 16		# devices connected at once, at most
SLOW_DELAY = 1.0 if LONG else 0.05	# seconds between a slow device's bytes
KILLS = 30 if LONG else 6		# kill -9 rounds
SOCKET_TIMEOUT = 60			# a device waiting longer counts as a hang
SETTLE = 20				# seconds for threads to end after load
EXPIRED = 4000				# seconds: past an access token's life
RCPT = "archive@example.com"
BIG = 2 * 1024 * 1024			# the large message in the mailbox
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:")


def figure(name, value):
    """Print one measured figure; the runner shows it with the results."""
    print("figure %s: %s" % (name, value), file=sys.stderr, flush=True)


def proc_counts(pid):
    """Return (threads, descriptors, RSS in KB) of PID."""
    threads = rss = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Threads:"):
                threads = int(line.split()[1])
            elif line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return threads, len(os.listdir("/proc/%d/fd" % pid)), rss


def patch_conf(product, **limits):
    """Set keys of the [limits] section, and raise the per-mailbox limit
    of upstream SMTP sessions, in the harness's settings file."""
    with open(product.conf) as f:
        text = f.read()
    lines = "".join("%s = %s\n" % kv for kv in limits.items())
    text = text.replace("[limits]\n", "[limits]\n" + lines, 1)
    text = text.replace("[smtp]\n", "[smtp]\nmax_upstream_per_mailbox = "
                        "100\n", 1)
    with open(product.conf, "w") as f:
        f.write(text)


def message(tag, size=0):
    body = b"Subject: %s\r\nFrom: <%s>\r\n\r\n" % (tag.encode(),
                                                   MAILBOX.encode())
    line = b"JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFI+PgpzdHJl\r\n"
    body += line * (size // len(line)) + b"..leading dot\r\nend\r\n"
    return body


class SoakBase(ProductTest):
    DOUBLE_CONFIG = {"smtp_max_sessions": 10000,
                     "pop3_max_auth_failures": 100000}

    def setUp(self):
        # Devices that vanish leave sockets for the collector to close.
        warnings.simplefilter("ignore", ResourceWarning)
        super().setUp()
        self.addCleanup(self.check_sanitizers)

    def check_sanitizers(self):
        """Fail on a sanitizer report of serve, when EXO_BIN is the
        sanitizer build; leaks are reported when serve exits."""
        self.product.stop()
        text = self.product.serve_stderr()
        for mark in SANITIZER_MARKS:
            if mark in text:
                start = text.index(mark)
                self.fail("serve: " + text[start:start + 3000])

    def restart(self, **limits):
        self.product.stop()
        self.product.write_conf(pop3_idle=30, smtp_idle=30,
                                preauth_timeout=limits.pop(
                                    "preauth_timeout", 10))
        patch_conf(self.product, **limits)
        self.product.serve()
        return self.product.serve_proc.pid

    def device_pop3(self, timeout=SOCKET_TIMEOUT):
        login, password = self.login()
        raw = Raw(self.product.pop3_port, timeout=timeout)
        greeting = raw.text()
        if not greeting.startswith("+OK"):
            raw.close()
            return None, greeting
        raw.cmd("USER " + login)
        reply = raw.cmd("PASS " + password).decode("utf-8", "replace")
        return raw, reply.rstrip("\r\n")

    def device_smtp(self, timeout=SOCKET_TIMEOUT):
        login, password = self.login()
        raw = Raw(self.product.smtp_port, timeout=timeout)
        raw.smtp_reply()
        if raw.cmd("EHLO soak")[3:4] == b"-":
            raw.smtp_reply()
        payload = b64("\0%s\0%s" % (login, password))
        self.extra_secrets.append(payload)
        return raw, raw.cmd("AUTH PLAIN " + payload).decode().rstrip("\r\n")

    def settle(self, pid, baseline):
        """Wait until threads and descriptors are back at baseline; return
        the last counts."""
        counts = wait_for(lambda: (lambda c: c if c[:2] <= baseline[:2]
                                   else None)(proc_counts(pid)),
                          timeout=SETTLE, step=0.2)
        return counts or proc_counts(pid)


class MixedLoadTest(SoakBase):
    """Devices of every kind at once, with faults on both sides."""

    KINDS = ("pop3_ok", "smtp_ok", "slow_pop3", "slow_smtp", "vanish_pop3",
             "vanish_smtp", "drop_retr", "drop_data")

    def setUp(self):
        super().setUp()
        self.pid = self.restart(max_connections=2 * WORKERS + 50,
                                max_preauth_per_address=2 * WORKERS + 50)
        self.doubles.seed(MAILBOX, [message("small-1"), message("big",
                                                                  BIG)])
        raw, reply = self.device_pop3()
        self.assertTrue(reply.startswith("+OK"), reply)
        raw.cmd("QUIT")
        raw.close()
        time.sleep(0.5)
        self.baseline = proc_counts(self.pid)
        self.lock = threading.Lock()
        self.outcomes = {}		# kind -> {outcome: count}
        self.device_accepted = []	# tags the proxy answered 250 for
        self.hangs = 0

    def note(self, kind, outcome):
        with self.lock:
            per = self.outcomes.setdefault(kind, {})
            per[outcome] = per.get(outcome, 0) + 1

    def run_one(self, n, kind):
        try:
            getattr(self, "dev_" + kind)(n)
        except socket.timeout:
            with self.lock:
                self.hangs += 1
            self.note(kind, "timed out")
        except (OSError, ConnectionError, AssertionError) as exc:
            self.note(kind, "connection error: " + type(exc).__name__)

    # ---- device kinds ----

    def dev_pop3_ok(self, n):
        raw, reply = self.device_pop3()
        if raw is None or not reply.startswith("+OK"):
            self.note("pop3_ok", "login: " + reply[:40])
            return
        reply = raw.cmd("RETR 2").decode("latin-1")
        if reply.startswith("+OK"):
            body = raw.multiline()
            self.note("pop3_ok", "retrieved" if len(body) >= BIG else
                      "short body")
        else:
            self.note("pop3_ok", "RETR: " + reply[:40])
        raw.cmd("QUIT")
        raw.close()

    def smtp_send(self, kind, raw, tag, cut=False):
        if not raw.cmd("MAIL FROM:<%s>" % MAILBOX).startswith(b"250"):
            self.note(kind, "MAIL refused")
            return
        raw.cmd("RCPT TO:<%s>" % RCPT)
        reply = raw.cmd("DATA")
        if not reply.startswith(b"354"):
            self.note(kind, "DATA: " + reply[:40].decode("latin-1"))
            return
        data = message(tag, 64 * 1024)
        if cut:
            raw.send(data[:len(data) // 2])
            raw.close()
            self.note(kind, "vanished mid-DATA")
            return
        raw.send(data + b".\r\n")
        final = raw.smtp_reply()[-1]
        if final.startswith("250"):
            # The double records the SHA-256 of the message it accepted,
            # without the dot-stuffing.
            plain = data.replace(b"\r\n..", b"\r\n.")
            with self.lock:
                self.device_accepted.append(
                    (tag, hashlib.sha256(plain).hexdigest()))
        self.note(kind, "final reply " + final[:3])
        try:
            raw.cmd("QUIT")
        except OSError:
            pass		# closed after a 421, as RFC 5321 allows
        raw.close()

    def dev_smtp_ok(self, n):
        raw, reply = self.device_smtp()
        if not reply.startswith("235"):
            self.note("smtp_ok", "AUTH: " + reply[:40])
            return
        self.smtp_send("smtp_ok", raw, "soak-%d" % n)

    def slow_send(self, raw, text):
        for ch in text.encode():
            raw.send(bytes([ch]))
            time.sleep(SLOW_DELAY)

    def dev_slow_pop3(self, n):
        login, password = self.login()
        raw = Raw(self.product.pop3_port, timeout=SOCKET_TIMEOUT)
        raw.text()
        self.slow_send(raw, "USER %s\r\n" % login)
        raw.line()
        self.slow_send(raw, "PASS %s\r\n" % password)
        reply = raw.text()
        self.slow_send(raw, "STAT\r\n")
        raw.line()
        raw.cmd("QUIT")
        raw.close()
        self.note("slow_pop3", "login " + reply[:3])

    def dev_slow_smtp(self, n):
        login, password = self.login()
        raw = Raw(self.product.smtp_port, timeout=SOCKET_TIMEOUT)
        raw.smtp_reply()
        self.slow_send(raw, "EHLO slow\r\n")
        raw.smtp_reply()
        payload = b64("\0%s\0%s" % (login, password))
        self.extra_secrets.append(payload)
        self.slow_send(raw, "AUTH PLAIN %s\r\n" % payload)
        reply = raw.text()
        self.note("slow_smtp", "AUTH " + reply[:3])
        if reply.startswith("235"):
            self.smtp_send("slow_smtp", raw, "slow-%d" % n)

    def dev_vanish_pop3(self, n):
        raw, reply = self.device_pop3()
        if raw is None or not reply.startswith("+OK"):
            self.note("vanish_pop3", "login: " + reply[:40])
            return
        if n % 2:
            raw.send(b"RET")		# gone in the middle of a command
        else:
            raw.send(b"RETR 2\r\n")	# gone in the middle of a reply
            raw.line()
        raw.close()
        self.note("vanish_pop3", "vanished")

    def dev_vanish_smtp(self, n):
        raw, reply = self.device_smtp()
        if not reply.startswith("235"):
            self.note("vanish_smtp", "AUTH: " + reply[:40])
            return
        self.smtp_send("vanish_smtp", raw, "vanish-%d" % n, cut=True)

    def dev_drop_retr(self, n):
        # The double sends the status and part of the body, then closes.
        self.doubles.script("pop3", on="RETR",
                            reply="+OK\r\nSubject: cut\r\n\r\nhalf a li",
                            close=True)
        raw, reply = self.device_pop3()
        if raw is None or not reply.startswith("+OK"):
            self.note("drop_retr", "login: " + reply[:40])
            return
        reply = raw.cmd("RETR 1").decode("latin-1")
        try:
            raw.multiline()
            # A whole body: another session took the script.
            self.note("drop_retr", "whole body")
        except AssertionError:
            self.note("drop_retr", "closed without an end line")
        raw.close()

    def dev_drop_data(self, n):
        # The double replies 354 to DATA and closes.
        self.doubles.script("smtp", on="DATA", reply="354 Start mail input; "
                            "end with <CRLF>.<CRLF>", close=True)
        raw, reply = self.device_smtp()
        if not reply.startswith("235"):
            self.note("drop_data", "AUTH: " + reply[:40])
            return
        self.smtp_send("drop_data", raw, "drop-%d" % n)

    # ---- the run ----

    def test_mixed_sessions_with_faults(self):
        rng = random.Random(7)
        kinds = [self.KINDS[i % len(self.KINDS)] for i in range(SESSIONS)]
        rng.shuffle(kinds)
        gap = DURATION / SESSIONS
        started = time.monotonic()
        peak = self.baseline
        with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
            futures = []
            for n, kind in enumerate(kinds):
                futures.append(pool.submit(self.run_one, n, kind))
                time.sleep(gap)
                if n % 20 == 0:
                    counts = proc_counts(self.pid)
                    peak = tuple(max(a, b) for a, b in zip(peak, counts))
            for f in futures:
                f.result()
        elapsed = time.monotonic() - started
        self.doubles.post("/script/pop3/clear")
        self.doubles.post("/script/smtp/clear")

        self.assertIsNone(self.product.serve_proc.poll(), "serve exited: "
                          + self.product.serve_stderr()[-2000:])
        after = self.settle(self.pid, self.baseline)
        accepted_upstream = {m["sha256"] for m in
                             self.doubles.state()["smtp_messages"]
                             if m.get("result") == "250"}
        wrongly = [tag for tag, digest in self.device_accepted
                   if digest not in accepted_upstream]

        figure("sessions", "%d in %.0f s, %d at once at most"
               % (SESSIONS, elapsed, WORKERS))
        for kind in sorted(self.outcomes):
            figure("outcome " + kind, self.outcomes[kind])
        figure("threads/fds/RSS KB baseline", self.baseline)
        figure("threads/fds/RSS KB peak", peak)
        figure("threads/fds/RSS KB after", after)
        self.assertEqual(self.hangs, 0, "devices waited over %d s"
                         % SOCKET_TIMEOUT)
        self.assertEqual(wrongly, [], "250 sent for messages the upstream "
                         "did not accept")
        self.assertLessEqual(after[0], self.baseline[0], "threads leaked")
        self.assertLessEqual(after[1], self.baseline[1],
                             "descriptors leaked")


class FloodTest(SoakBase):
    """A flood of connections against the connection cap."""

    CAP = 20
    FLOOD = 400 if LONG else 150
    PREAUTH = 3

    def test_cap_holds_and_devices_get_in(self):
        pid = self.restart(max_connections=self.CAP,
                           max_preauth_per_address=10000,
                           preauth_timeout=self.PREAUTH)
        baseline = proc_counts(pid)
        socks, greeted, refused, silent = [], 0, 0, 0
        for _ in range(self.FLOOD):
            s = socket.create_connection(("127.0.0.1",
                                          self.product.pop3_port), 10)
            socks.append(s)
        for s in socks:
            s.settimeout(5)
            try:
                first = s.recv(200)
            except socket.timeout:
                silent += 1
                continue
            except OSError:
                refused += 1
                continue
            if first.startswith(b"+OK"):
                greeted += 1
            else:
                refused += 1
        peak = proc_counts(pid)

        # The flood takes every slot until the pre-login timeout ends it.
        # Then a real device gets in.
        started = time.monotonic()
        reply = ""
        while time.monotonic() - started < 10 * self.PREAUTH + 30:
            raw, reply = self.device_pop3(timeout=10)
            if raw is not None and reply.startswith("+OK"):
                raw.cmd("QUIT")
                raw.close()
                break
            time.sleep(0.2)
        waited = time.monotonic() - started
        for s in socks:
            s.close()
        after = self.settle(pid, baseline)

        figure("flood", "%d connections: %d greeted, %d refused, %d silent"
               % (self.FLOOD, greeted, refused, silent))
        figure("device admitted after", "%.1f s (pre-login timeout %d s)"
               % (waited, self.PREAUTH))
        figure("threads/fds/RSS KB baseline, peak, after",
               (baseline, peak, after))
        self.assertLessEqual(greeted, self.CAP)
        self.assertGreater(refused, 0)
        self.assertTrue(reply.startswith("+OK"), "no device admitted "
                        "after the flood: " + reply)
        self.assertIsNone(self.product.serve_proc.poll())
        self.assertLessEqual(after[0], baseline[0], "threads leaked")
        self.assertLessEqual(after[1], baseline[1], "descriptors leaked")


class KillTest(SoakBase):
    """kill -9 at random moments during token refreshes, store saves and
    settings saves.

    The identity double accepts each refresh token once, while Microsoft
    keeps the previous one valid for a while. A kill after the double
    issued a new token and before serve saved it therefore loses the grant
    here but not in production. Such rounds are counted, checked to have
    sent exactly the token that preceded the lost one, and signed in again.
    """

    def user_set(self, value):
        login = self.login()[0]
        return self.product.popen("user", "set", login,
                                  "sender_policy=" + value)

    def chain(self):
        """Refresh tokens the double issued for the mailbox, oldest first."""
        tokens = [t for t in self.doubles.state()["refresh_tokens"]
                  if t["mailbox"].lower() == MAILBOX]
        return sorted(tokens, key=lambda t: t["seq"])

    def sign_in_again(self):
        proc = self.product.popen("user", "signin", self.login()[0],
                                  "--device-code", "--json")
        first = json.loads(proc.stdout.readline().decode())
        self.doubles.post("/device/approve", {"user_code": first["user_code"],
                                              "mailbox": MAILBOX})
        status, _, err = self.product.finish(proc)
        self.assertEqual(status, 0, err)

    def check_round(self):
        """Log in after a restart; return "kept" or "lost in flight"."""
        self.product.advance(EXPIRED)
        raw, reply = self.device_pop3()
        if raw is not None:
            raw.cmd("QUIT")
            raw.close()
        if reply.startswith("+OK"):
            return "kept"
        last = self.doubles.refresh_requests()[-1]
        chain = self.chain()
        self.assertGreaterEqual(len(chain), 2, reply)
        self.assertEqual(last["form"]["refresh_token"], chain[-2]["token"],
                         "serve sent neither the newest refresh token nor "
                         "the one before it: " + reply)
        self.assertFalse(chain[-1]["used"], reply)
        self.sign_in_again()
        return "lost in flight"

    def test_kill9_keeps_tokens_and_files(self):
        rng = random.Random(11)
        login = self.login()[0]
        rounds = {}
        for _ in range(KILLS):
            # A refresh in flight: the token expired and the endpoint is
            # slow, so the kill lands before, during or after the save.
            self.product.advance(EXPIRED)
            self.doubles.script("token", grant="refresh_token",
                                delay=rng.uniform(0, 0.3))
            device = threading.Thread(target=self.quiet_login)
            device.start()
            saver = self.user_set(rng.choice(["pass", "rewrite"]))
            time.sleep(rng.uniform(0, 0.5))
            saver.kill()
            saver.communicate()
            self.product.kill()
            device.join(SOCKET_TIMEOUT)
            self.doubles.post("/script/token/clear")

            self.product.serve()
            proc = self.product.run("user", "list", "--json")
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertIn(login.lower(), proc.stdout.decode().lower())
            outcome = self.check_round()
            rounds[outcome] = rounds.get(outcome, 0) + 1

        figure("kill -9 rounds", rounds)
        self.assertEqual(sum(rounds.values()), KILLS)

    def test_kill9_during_signin(self):
        # A new sign-in leaves the old grant unused, so whatever moment
        # the kill lands on, one of the two grants must still work.
        rng = random.Random(13)
        login = self.login()[0]
        rounds = KILLS // 2
        for _ in range(rounds):
            proc = self.product.popen("user", "signin", login,
                                      "--device-code", "--json")
            first = json.loads(proc.stdout.readline().decode())
            self.doubles.post("/device/approve",
                              {"user_code": first["user_code"],
                               "mailbox": MAILBOX})
            time.sleep(rng.uniform(0, 1.5))
            proc.kill()
            self.product.finish(proc)

            listed = self.product.run("user", "list", "--json")
            self.assertEqual(listed.returncode, 0, listed.stderr)
            self.product.advance(EXPIRED)
            raw, reply = self.device_pop3()
            self.assertTrue(reply.startswith("+OK"), reply)
            raw.cmd("QUIT")
            raw.close()
        figure("kill -9 during sign-in", "%d rounds" % rounds)

    def test_kill9_during_settings_save(self):
        # The screen saves settings through serve's control channel.
        # Saves killed at random moments must leave a settings file that
        # parses and contains either the old or the new value.
        from test_control import Channel
        rng = random.Random(17)
        path = os.path.join(self.product.dir, "control.sock")
        folder = os.path.dirname(self.product.conf)
        old = self.hostname_in_file()
        outcomes = {}
        for n in range(KILLS * 2):
            new = "soak-%d.example.lan" % n
            wait_for(lambda: os.path.exists(path), timeout=10)
            channel = Channel(path)
            try:
                channel.send({"op": "settings_save", "s.smtp.hostname": new})
                time.sleep(rng.uniform(0, 0.02))
            finally:
                self.product.kill()
                channel.close()

            now = self.hostname_in_file()
            self.assertIn(now, (old, new))
            outcome = "new" if now == new else "old"
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            self.product.serve()
            listed = self.product.run("user", "list", "--json")
            self.assertEqual(listed.returncode, 0, listed.stderr)
            old = now
        left = [name for name in os.listdir(folder) if name.startswith(
            os.path.basename(self.product.conf) + ".")]
        figure("kill -9 during settings saves", "%s; %d temporary files "
               "left" % (outcomes, len(left)))

    def hostname_in_file(self):
        """The [smtp] hostname in the settings file, which must parse."""
        with open(self.product.conf) as f:
            text = f.read()
        section = None
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("["):
                section = line
            elif section == "[smtp]" and line.startswith("hostname"):
                return line.split("=", 1)[1].strip()
        self.fail("no [smtp] hostname in the settings file:\n" + text)

    def quiet_login(self):
        try:
            raw, _ = self.device_pop3(timeout=10)
            if raw is not None:
                raw.close()
        except (OSError, ConnectionError):
            pass


class FullDiskTest(SoakBase):
    """Saving tokens on a full disk (the EXO_TEST_WRITE_FAIL seam)."""

    def test_token_save_fails_old_file_stays(self):
        raw, reply = self.device_pop3()
        self.assertTrue(reply.startswith("+OK"), reply)
        raw.cmd("QUIT")
        raw.close()
        self.product.stop()
        before = self.product.secrets_files()
        self.assertTrue(before)

        env = dict(self.product.env)
        env["EXO_TEST_WRITE_FAIL"] = "secrets"
        self.product.serve(env=env)
        self.product.advance(EXPIRED)
        raw, reply = self.device_pop3()
        figure("login while the secrets file cannot be written", reply)
        if raw is not None:
            raw.close()
        wait_for(lambda: "secrets" in self.product.log(), timeout=5)
        self.product.stop()
        after = self.product.secrets_files()

        self.assertEqual(after, before, "secrets file changed on a full "
                         "disk")
        leftovers = [p for p in after if not p.endswith("secrets.dat")]
        self.assertEqual(leftovers, [], "partial files left behind")
        log = self.product.log()
        self.assertRegex(log, r"(?i)(write|save|disk).*(fail|error)|"
                         r"(fail|error).*(write|save|disk)")

        # With room again, serve uses the token of the old file. The
        # double accepts a refresh token once (Microsoft keeps the old one
        # valid for a while), so the check is which token serve sends.
        used = self.doubles.refresh_requests()[-1]["form"]["refresh_token"]
        self.product.serve()
        self.product.advance(EXPIRED)
        raw, reply = self.device_pop3()
        if raw is not None:
            raw.close()
        figure("login after the disk has room again", reply[:60])
        last = self.doubles.refresh_requests()[-1]
        self.assertEqual(last["form"]["refresh_token"], used)


class TokenFaultTest(SoakBase):
    """Token endpoint failures while many devices log in at once."""

    DEVICES = 200 if LONG else 40
    FAULTS = [("500", {"status": 500, "count": -1}),
              ("truncated body", {"status": 200, "content_type":
                                  "application/json", "truncate": True,
                                  "body": json.dumps({"access_token": "x" *
                                                      64}), "count": -1}),
              ("dropped request", {"drop": True, "count": -1})]

    def test_faults_keep_tokens_and_back_off(self):
        raw, reply = self.device_pop3()
        self.assertTrue(reply.startswith("+OK"), reply)
        raw.close()
        login = self.login()[0]
        for name, spec in self.FAULTS:
            self.product.advance(EXPIRED)
            before = self.product.secrets_files()
            requests = len(self.doubles.refresh_requests())
            self.doubles.script("token", grant="refresh_token", **spec)
            with concurrent.futures.ThreadPoolExecutor(16) as pool:
                replies = list(pool.map(lambda _: self.device_pop3()[1],
                                        range(self.DEVICES)))
            sent = len(self.doubles.refresh_requests()) - requests
            users = json.loads(self.product.run("user", "list",
                                                "--json").stdout)
            state = [u for u in users if u["login"] == login][0]
            self.doubles.post("/script/token/clear")

            figure("%s: refresh requests for %d logins" % (name,
                                                            self.DEVICES),
                   sent)
            figure("%s: state shown" % name, (state.get("state"),
                                               state.get("state_reason",
                                                         "")[:80]))
            self.assertTrue(all(r.startswith("-ERR [SYS/TEMP]")
                                for r in replies), set(replies))
            self.assertEqual(self.product.secrets_files(), before)
            self.assertLess(sent, self.DEVICES, "no shared refresh or "
                            "back-off")
            # A transient failure leaves the stored state alone. serve
            # shows it as "retrying" with the reason and logs a warning.
            self.assertEqual(state.get("state"), "retrying", state)
            self.assertIn("next try", state.get("state_reason", ""))
            self.assertRegex(self.product.log(),
                             r"(?i)token refresh for %s failed" % login)

            # Past the back-off, the kept refresh token still works.
            self.product.advance(EXPIRED)
            self.assertTrue(wait_for(lambda: self.device_pop3()[1]
                                     .startswith("+OK"), timeout=30),
                            "no login after " + name)
