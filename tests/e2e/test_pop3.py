"""POP3 device side and the upstream POP3 session against the double."""

import base64
import poplib
import subprocess
import time

from harness import MAILBOX, ProductTest, Raw, b64

MESSAGE_A = (b"From: <a@example.org>\r\nTo: <mfp@example.com>\r\n"
             b"Subject: one\r\n\r\nfirst message\r\n")
MESSAGE_B = (b"From: <b@example.org>\r\nTo: <mfp@example.com>\r\n"
             b"Subject: two\r\n\r\nsecond message\r\n")
DOTTED = (b"From: <a@example.org>\r\nSubject: dots\r\n\r\n"
          b"first\r\n.\r\n.dot\r\n.02 test\r\n...\r\nlast\r\n")


def pop3_stuffed(data):
    out = data.replace(b"\r\n.", b"\r\n..")
    if out.startswith(b"."):
        out = b"." + out
    return out + b".\r\n"


class Pop3Test(ProductTest):

    def connect(self):
        raw = Raw(self.product.pop3_port)
        self.addCleanup(raw.close)
        self.assertTrue(raw.text().startswith("+OK"))
        return raw

    def pass_login(self, raw):
        login, password = self.login()
        self.assertTrue(raw.cmd("USER " + login).startswith(b"+OK"))
        return raw.cmd("PASS " + password).decode().rstrip("\r\n")

    def capa(self, raw):
        self.assertTrue(raw.cmd("CAPA").startswith(b"+OK"))
        return raw.multiline().decode().split("\r\n")[:-2]

    def upstream_sessions(self):
        return [s for s in self.doubles.state()["pop3_sessions"]
                if "commands" in s]

    def test_send_with_curl_then_retrieve(self):
        login, password = self.login()
        message = (b"From: <mfp@example.com>\r\nTo: <mfp@example.com>\r\n"
                   b"Subject: curl\r\n\r\nsent with curl\r\n.starts "
                   b"with a dot\r\n")
        path = self.dir + "/mail.eml"
        with open(path, "wb") as f:
            f.write(message)
        proc = subprocess.run(
            ["curl", "-sS", "--url", "smtp://127.0.0.1:%d"
             % self.product.smtp_port, "--mail-from", MAILBOX,
             "--mail-rcpt", MAILBOX, "--upload-file", path,
             "--user", "%s:%s" % (login, password)],
            capture_output=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        stored = self.doubles.state()["smtp_messages"]
        self.assertEqual(len(stored), 1)
        self.assertEqual(stored[0]["result"], "250")

        proc = subprocess.run(
            ["curl", "-sS", "pop3://127.0.0.1:%d/1" % self.product.pop3_port,
             "--user", "%s:%s" % (login, password)],
            capture_output=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout, message)

        pop = poplib.POP3("127.0.0.1", self.product.pop3_port, timeout=30)
        pop.user(login)
        pop.pass_(password)
        _, lines, _ = pop.retr(1)
        self.assertEqual(b"\r\n".join(lines) + b"\r\n", message)
        pop.quit()

    def test_wrong_password_rejected(self):
        raw = self.connect()
        login, _ = self.login()
        raw.cmd("USER " + login)
        self.extra_secrets.append("wrong-password-1")
        reply = raw.cmd("PASS wrong-password-1").decode().rstrip("\r\n")
        self.assertEqual(reply, "-ERR [AUTH] Invalid user name or password")
        self.assertEqual(self.upstream_sessions(), [])
        self.assertEqual(self.doubles.refresh_requests(), [])
        # The connection is still usable after the failure.
        self.assertEqual(self.pass_login(raw)[:3], "+OK")

    def test_auth_plain_continuation(self):
        login, password = self.login()
        raw = self.connect()
        raw.send(b"AUTH PLAIN\r\n")
        self.assertEqual(raw.line(), b"+ \r\n")
        payload = b64("\0%s\0%s" % (login, password))
        self.extra_secrets.append(payload)
        self.assertTrue(raw.cmd(payload).startswith(b"+OK"))

        raw = self.connect()
        self.assertTrue(raw.cmd("AUTH PLAIN " + payload).startswith(b"+OK"))

    def test_auth_failures_keep_authorization_state(self):
        login, password = self.login()
        raw = self.connect()
        raw.send(b"AUTH PLAIN\r\n")
        self.assertEqual(raw.line(), b"+ \r\n")
        self.assertEqual(raw.cmd("*").rstrip(b"\r\n"),
                         b"-ERR Authentication cancelled")
        raw.send(b"AUTH PLAIN\r\n")
        self.assertEqual(raw.line(), b"+ \r\n")
        self.assertTrue(raw.cmd("!!not base64!!").startswith(b"-ERR"))
        bad = b64("\0%s\0wrong-password-2" % login)
        self.extra_secrets.append(bad)
        self.assertEqual(raw.cmd("AUTH PLAIN " + bad).rstrip(b"\r\n"),
                         b"-ERR [AUTH] Invalid user name or password")
        self.assertEqual(self.pass_login(raw)[:3], "+OK")

    def test_auth_login_prompts(self):
        login, password = self.login()
        raw = self.connect()
        raw.send(b"AUTH LOGIN\r\n")
        prompt = raw.line()
        self.assertEqual(prompt, b"+ VXNlcm5hbWU6\r\n")
        self.assertEqual(base64.b64decode(prompt[2:]), b"Username:")
        self.assertEqual(raw.cmd(b64(login)), b"+ UGFzc3dvcmQ6\r\n")
        self.extra_secrets.append(b64(password))
        self.assertTrue(raw.cmd(b64(password)).startswith(b"+OK"))

    def test_cram_md5_challenge_form(self):
        raw = self.connect()
        sasl = [line for line in self.capa(raw) if line.startswith("SASL ")]
        if "CRAM-MD5" not in sasl[0].split():
            self.skipTest("CAPA offers no CRAM-MD5")
        raw.send(b"AUTH CRAM-MD5\r\n")
        line = raw.line()
        self.assertTrue(line.startswith(b"+ "), line)
        challenge = base64.b64decode(line[2:].strip())
        self.assertTrue(challenge.startswith(b"<") and
                        challenge.endswith(b">"), challenge)
        self.assertIn(b"@", challenge)
        self.assertEqual(raw.cmd("*").rstrip(b"\r\n"),
                         b"-ERR Authentication cancelled")

    def test_stls_without_certificate(self):
        raw = self.connect()
        self.assertNotIn("STLS", self.capa(raw))
        self.assertEqual(raw.cmd("STLS").rstrip(b"\r\n"),
                         b"-ERR TLS not available")
        self.assertEqual(self.pass_login(raw)[:3], "+OK")
        self.assertTrue(raw.cmd("STLS").startswith(b"-ERR"))
        self.assertTrue(raw.cmd("NOOP").startswith(b"+OK"))
        for session in self.upstream_sessions():
            self.assertNotIn("STLS", session["commands"])
        self.assertTrue([line for line in self.product.log().splitlines()
                         if "STLS" in line and "certificate" in line])

    def test_bare_auth_lists_mechanisms(self):
        raw = self.connect()
        sasl = [line for line in self.capa(raw) if line.startswith("SASL ")]
        self.assertEqual(len(sasl), 1)
        mechanisms = sasl[0].split()[1:]
        for command in ("AUTH", "auth  "):
            self.assertEqual(raw.cmd(command).rstrip(b"\r\n"), b"+OK")
            listed = raw.multiline().decode().split("\r\n")[:-2]
            self.assertEqual(listed, mechanisms)
        # Listing mechanisms is no failed login: many in a row change
        # nothing.
        for _ in range(12):
            self.assertEqual(raw.cmd("AUTH").rstrip(b"\r\n"), b"+OK")
            raw.multiline()
        self.assertTrue(raw.cmd("AUTH FOO").startswith(b"-ERR"))
        self.assertTrue(raw.cmd("CAPA").startswith(b"+OK"))
        raw.multiline()
        self.assertEqual(self.pass_login(raw)[:3], "+OK")
        self.assertTrue(raw.cmd("AUTH").startswith(b"-ERR"))
        self.assertTrue(raw.cmd("AUTH PLAIN").startswith(b"-ERR"))
        self.assertTrue(raw.cmd("NOOP").startswith(b"+OK"))

    def test_dot_stuffed_lines_relayed(self):
        self.doubles.seed(MAILBOX, [DOTTED])
        raw = self.connect()
        self.assertEqual(self.pass_login(raw)[:3], "+OK")
        raw.send(b"TOP 1 10\r\n")
        self.assertEqual(raw.line(), b"+OK\r\n")
        self.assertEqual(raw.multiline(), pop3_stuffed(DOTTED))
        self.assertEqual(raw.cmd("NOOP").rstrip(b"\r\n"), b"+OK")
        raw.send(b"RETR 1\r\n")
        self.assertEqual(raw.line(), b"+OK\r\n")
        self.assertEqual(raw.multiline(), pop3_stuffed(DOTTED))
        self.assertEqual(raw.cmd("NOOP").rstrip(b"\r\n"), b"+OK")

    def test_dot_stuffing_across_read_boundaries(self):
        self.doubles.config(pop3_trickle=True)
        self.test_dot_stuffed_lines_relayed()

    def test_uidl_relayed_unchanged(self):
        self.doubles.seed(MAILBOX, [MESSAGE_A, MESSAGE_B],
                          uids=["AAA1", "BBB2"])
        raw = self.connect()
        capa = self.capa(raw)
        self.assertIn("UIDL", capa)
        self.assertIn("TOP", capa)
        self.assertEqual(self.pass_login(raw)[:3], "+OK")
        capa = self.capa(raw)
        self.assertIn("UIDL", capa)
        self.assertIn("TOP", capa)
        self.assertTrue(raw.cmd("UIDL").startswith(b"+OK"))
        self.assertEqual(raw.multiline(), b"1 AAA1\r\n2 BBB2\r\n.\r\n")
        self.assertEqual(raw.cmd("DELE 1").rstrip(b"\r\n")[:3], b"+OK")
        self.assertEqual(raw.cmd("UIDL 1").rstrip(b"\r\n"),
                         b"-ERR The specified message is out of range.")
        self.assertTrue(raw.cmd("QUIT").startswith(b"+OK"))

        commands = self.upstream_sessions()[0]["commands"]
        self.assertIn("UIDL", commands)
        self.assertIn("UIDL 1", commands)

        raw = self.connect()
        self.assertEqual(self.pass_login(raw)[:3], "+OK")
        self.assertTrue(raw.cmd("UIDL").startswith(b"+OK"))
        self.assertEqual(raw.multiline(), b"1 BBB2\r\n.\r\n")

    def test_disconnect_without_quit_keeps_mail(self):
        self.doubles.seed(MAILBOX, [MESSAGE_A])
        raw = self.connect()
        self.assertEqual(self.pass_login(raw)[:3], "+OK")
        self.assertTrue(raw.cmd("DELE 1").startswith(b"+OK"))
        raw.close()
        session = self.wait_upstream_closed()
        self.assertEqual(session["dele"], [1])
        self.assertFalse(session["quit"])
        self.assertEqual(len(self.doubles.mailbox(MAILBOX)), 1)
        self.assertTrue(self.wait_log(
            "device closed without QUIT; 1 deletion not committed"))

    def test_rset_relayed_before_quit(self):
        self.doubles.seed(MAILBOX, [MESSAGE_A])
        raw = self.connect()
        self.assertEqual(self.pass_login(raw)[:3], "+OK")
        self.assertTrue(raw.cmd("DELE 1").startswith(b"+OK"))
        self.assertTrue(raw.cmd("RSET").startswith(b"+OK"))
        self.assertTrue(raw.cmd("QUIT").startswith(b"+OK"))
        self.assertEqual(len(self.doubles.mailbox(MAILBOX)), 1)
        self.assertTrue(self.upstream_sessions()[-1].get("rset"))

    def test_quit_reply_comes_from_upstream(self):
        self.doubles.seed(MAILBOX, [MESSAGE_A])
        self.doubles.script("pop3", on="QUIT-COMMIT",
                            reply="-ERR some deleted messages not removed")
        raw = self.connect()
        self.assertEqual(self.pass_login(raw)[:3], "+OK")
        self.assertTrue(raw.cmd("DELE 1").startswith(b"+OK"))
        self.assertEqual(raw.cmd("QUIT").rstrip(b"\r\n"),
                         b"-ERR some deleted messages not removed")

    def test_quit_upstream_closed_before_reply(self):
        self.doubles.seed(MAILBOX, [MESSAGE_A])
        self.doubles.script("pop3", on="QUIT-COMMIT", reply=None)
        raw = self.connect()
        self.assertEqual(self.pass_login(raw)[:3], "+OK")
        self.assertTrue(raw.cmd("DELE 1").startswith(b"+OK"))
        self.assertEqual(raw.cmd("QUIT").rstrip(b"\r\n"),
                         b"-ERR Upstream closed before confirming deletions")

    def test_server_unavailable_mid_session(self):
        self.doubles.script("pop3", on="STAT",
                            reply="-ERR Server Unavailable. 21", close=True)
        raw = self.connect()
        self.assertEqual(self.pass_login(raw)[:3], "+OK")
        self.assertEqual(raw.cmd("STAT").rstrip(b"\r\n"),
                         b"-ERR Server Unavailable. 21")
        self.assertTrue(raw.closed())
        self.assertEqual(len(self.upstream_sessions()), 1)
        user = self.product.user(self.login()[0])
        self.assertEqual(self.product.run("user", "list", "--check")
                         .returncode, 0, user)
        self.assertTrue(self.wait_log("Server Unavailable. 21"))
        self.assertIn("poll less often", self.product.log())
        # The service survives and serves the next login.
        raw = self.connect()
        self.assertEqual(self.pass_login(raw)[:3], "+OK")

    def test_server_unavailable_during_pass(self):
        self.doubles.script("pop3", on="auth",
                            reply="-ERR Server Unavailable. 21", close=True)
        raw = self.connect()
        self.assertEqual(self.pass_login(raw),
                         "-ERR [SYS/TEMP] Server Unavailable. 21")
        # The proxy does not reconnect or retry by itself.
        time.sleep(0.5)
        self.assertEqual(len([s for s in self.upstream_sessions()
                              if s["auth"]]), 1)

    def test_upstream_closes_without_reply(self):
        self.doubles.script("pop3", on="STAT", reply=None, close=True)
        raw = self.connect()
        self.assertEqual(self.pass_login(raw)[:3], "+OK")
        self.assertEqual(raw.cmd("STAT").rstrip(b"\r\n"),
                         b"-ERR [SYS/TEMP] Upstream connection closed")
        self.assertTrue(raw.closed())

    def wait_upstream_closed(self):
        def closed():
            sessions = self.upstream_sessions()
            if sessions and "end" in sessions[-1]:
                return sessions[-1]
            return None
        session = self.wait(closed)
        self.assertIsNotNone(session, "the upstream POP3 session stayed open")
        return session

    def wait_log(self, text, timeout=5):
        return self.wait(lambda: text in self.product.log(), timeout)

    def wait(self, predicate, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value or time.monotonic() > deadline:
                return value
            time.sleep(0.05)


class Pop3IdleTest(ProductTest):
    PRODUCT_OPTIONS = {"pop3_idle": 2}

    def test_idle_timeout_keeps_mail(self):
        self.doubles.seed(MAILBOX, [MESSAGE_A])
        raw, reply = self.pop3_login()
        self.assertEqual(reply[:3], "+OK")
        self.assertTrue(raw.cmd("DELE 1").startswith(b"+OK"))
        self.assertTrue(raw.closed(timeout=15))
        sessions = [s for s in self.doubles.state()["pop3_sessions"]
                    if s.get("dele")]
        self.assertEqual(len(sessions), 1)
        self.assertFalse(sessions[0]["quit"])
        self.assertEqual(len(self.doubles.mailbox(MAILBOX)), 1)


class Pop3XOAuth2Test(ProductTest):
    DOUBLE_CONFIG = {"access_token_length": 3000}

    def test_two_step_xoauth2_long_token(self):
        raw, reply = self.pop3_login()
        self.assertEqual(reply[:3], "+OK")
        session = [s for s in self.doubles.state()["pop3_sessions"]
                   if "auth" in s][-1]
        self.assertEqual(len(session["auth"]), 1)
        auth = session["auth"][0]
        self.assertEqual(auth["form"], "two-step")
        self.assertEqual(auth["user"], MAILBOX)
        self.assertEqual(auth["token_length"], 3000)
        self.assertEqual(auth["result"], "ok")
        self.assertGreater(auth["line_length"], 4000)
        self.assertEqual(session["sni"], "localhost")
        self.assertEqual(session["tls"], "TLSv1.2")

    def test_second_login_resumes_upstream_tls(self):
        # exoconnect keeps the TLS session of each server name and offers
        # it on the next connection, which then skips the key exchange.
        # Here every double is "localhost" with one certificate, so even
        # the first login may resume the token endpoint's session.
        for _ in range(2):
            raw, reply = self.pop3_login()
            self.assertEqual(reply[:3], "+OK")
            raw.cmd("QUIT")
            raw.close()
        deadline = time.time() + 10
        while time.time() < deadline:
            sessions = self.doubles.state()["pop3_sessions"]
            if len([s for s in sessions if s.get("end")]) >= 2:
                break
            time.sleep(0.05)
        self.assertEqual(len(sessions), 2)
        self.assertTrue(sessions[-1]["resumed"], sessions)

    def test_continuation_variants(self):
        for prompt in ("+", "+ go ahead"):
            with self.subTest(prompt=prompt):
                self.doubles.config(pop3_continuation=prompt)
                self.product.advance(4000)
                raw, reply = self.pop3_login()
                self.assertEqual(reply[:3], "+OK", reply)
                raw.cmd("QUIT")

    def auth_sessions(self):
        return [s for s in self.doubles.state()["pop3_sessions"]
                if s.get("auth")]

    def test_rejected_token_temporary_reply(self):
        # A first login leaves a cached access token in serve.
        raw, reply = self.pop3_login()
        self.assertEqual(reply[:3], "+OK")
        raw.cmd("QUIT")
        # serve reuses a token refreshed less than 10 s ago instead of
        # refreshing again, so let the cached token age first.
        self.product.advance(60)
        sessions = len(self.auth_sessions())
        refreshes = len(self.doubles.refresh_requests())
        self.doubles.post("/account", {"mailbox": MAILBOX,
                                       "pop_enabled": False})
        raw, reply = self.pop3_login()
        self.assertTrue(reply.startswith("-ERR [SYS/TEMP] "), reply)
        self.assertIn(MAILBOX, reply)
        # The cached token, one refresh, one retry on a new connection.
        self.assertEqual(len(self.auth_sessions()), sessions + 2)
        self.assertEqual(len(self.doubles.refresh_requests()), refreshes + 1)
        user = self.product.user(self.login()[0])
        self.assertNotEqual(user["state_reason"], "")
        self.assertIn("POP", self.product.log())

        log = self.product.log()
        self.assertIn("POP.AccessAsUser.All", log)
        self.assertIn("Authentication failure: unknown user name or bad "
                      "password.", log)

        # During the back-off: same reply, no token request, no upstream.
        raw, reply = self.pop3_login()
        self.assertTrue(reply.startswith("-ERR [SYS/TEMP] "), reply)
        self.assertEqual(len(self.auth_sessions()), sessions + 2)
        self.assertEqual(len(self.doubles.refresh_requests()), refreshes + 1)

        # The back-off is 60 s, then 120 s after the next rejection.
        self.product.advance(61)
        raw, reply = self.pop3_login()
        self.assertTrue(reply.startswith("-ERR [SYS/TEMP] "), reply)
        attempts = len(self.auth_sessions())
        self.assertGreater(attempts, sessions + 2)
        self.product.advance(61)
        raw, reply = self.pop3_login()
        self.assertTrue(reply.startswith("-ERR [SYS/TEMP] "), reply)
        self.assertEqual(len(self.auth_sessions()), attempts)
        self.product.advance(60)
        raw, reply = self.pop3_login()
        self.assertGreater(len(self.auth_sessions()), attempts)

        # Once Exchange accepts the token again, logins work.
        self.doubles.post("/account", {"mailbox": MAILBOX,
                                       "pop_enabled": True})
        self.product.advance(300)
        raw, reply = self.pop3_login()
        self.assertEqual(reply[:3], "+OK", reply)

    def test_expired_access_token_refreshed(self):
        raw, reply = self.pop3_login()
        self.assertEqual(reply[:3], "+OK")
        raw.cmd("QUIT")
        refreshes = len(self.doubles.refresh_requests())
        self.product.advance(4000)
        raw, reply = self.pop3_login()
        self.assertEqual(reply[:3], "+OK")
        self.assertEqual(len(self.doubles.refresh_requests()), refreshes + 1)
        results = [a["result"] for s in self.auth_sessions()
                   for a in s["auth"]]
        self.assertEqual(results, ["ok", "ok"])
        self.assertNotEqual(self.product.user(self.login()[0])
                            ["last_refresh"], 0)
