"""SMTP device side and the upstream submission session against the double."""

import base64
import hashlib
import os
import random
import time

from harness import (MAILBOX, SMTP_HOSTNAME, ProductTest, Raw, b64)

SIZE_35MB = 35 * 1024 * 1024


class SmtpTest(ProductTest):

    def authed(self):
        raw = self.smtp_connect()
        reply = self.smtp_auth_plain(raw)
        self.assertEqual(reply, "235 2.7.0 Authentication successful")
        return raw

    def send_message(self, raw, data, mail_from=MAILBOX, rcpt=MAILBOX):
        """Run one transaction with DATA bytes sent as they are."""
        self.assertEqual(raw.cmd("MAIL FROM:<%s>" % mail_from)[:3], b"250")
        self.assertEqual(raw.cmd("RCPT TO:<%s>" % rcpt)[:3], b"250")
        self.assertEqual(raw.cmd("DATA")[:3], b"354")
        raw.send(data)
        return raw.smtp_reply()

    def test_ehlo_lists_auth_and_size(self):
        raw = self.smtp_connect()
        auth = [l for l in raw.ehlo if l[4:].upper().startswith("AUTH ")]
        self.assertEqual(len(auth), 1)
        mechanisms = auth[0][4:].split()[1:]
        self.assertIn("PLAIN", mechanisms)
        self.assertIn("LOGIN", mechanisms)
        self.assertIn("250-SIZE %d" % SIZE_35MB, raw.ehlo)

    def test_auth_login_inline_user(self):
        login, password = self.login()
        raw = self.smtp_connect()
        self.assertEqual(raw.cmd("AUTH LOGIN " + b64(login)),
                         b"334 UGFzc3dvcmQ6\r\n")
        self.extra_secrets.append(b64(password))
        self.assertEqual(raw.cmd(b64(password)).rstrip(b"\r\n"),
                         b"235 2.7.0 Authentication successful")

    def test_login_prompts_exact(self):
        login, password = self.login()
        raw = self.smtp_connect()
        prompt = raw.cmd("AUTH LOGIN")
        self.assertEqual(prompt, b"334 VXNlcm5hbWU6\r\n")
        self.assertEqual(base64.b64decode(prompt[4:]), b"Username:")
        prompt = raw.cmd(b64(login))
        self.assertEqual(prompt, b"334 UGFzc3dvcmQ6\r\n")
        self.assertEqual(base64.b64decode(prompt[4:]), b"Password:")
        self.extra_secrets.append(b64(password))
        self.assertEqual(raw.cmd(b64(password)).rstrip(b"\r\n"),
                         b"235 2.7.0 Authentication successful")

    def test_auth_plain_prompt_and_padding(self):
        login, password = self.login()
        raw = self.smtp_connect()
        self.assertEqual(raw.cmd("AUTH PLAIN"), b"334 \r\n")
        payload = b64("\0%s\0%s" % (login, password))
        self.extra_secrets.append(payload)
        self.assertEqual(raw.cmd(payload).rstrip(b"\r\n"),
                         b"235 2.7.0 Authentication successful")
        raw = self.smtp_connect()
        unpadded = b64("\0%s\0%s!" % (login, password)).rstrip("=")
        self.extra_secrets.append(unpadded)
        # A wrong password whose base64 needs padding: 535, not 501, shows
        # that the unpadded form decoded.
        self.assertNotEqual(len(unpadded) % 4, 0)
        reply = raw.cmd("AUTH PLAIN " + unpadded).decode()
        self.assertTrue(reply.startswith("535 5.7.8"), reply)
        raw = self.smtp_connect()
        unpadded = b64("\0%s\0%s" % (login, password)).rstrip("=")
        self.extra_secrets.append(unpadded)
        self.assertEqual(raw.cmd("AUTH PLAIN " + unpadded).rstrip(b"\r\n"),
                         b"235 2.7.0 Authentication successful")

    def test_auth_failures_allow_retry(self):
        login, password = self.login()
        raw = self.smtp_connect()
        raw.cmd("AUTH LOGIN")
        self.assertEqual(raw.cmd("*").rstrip(b"\r\n"),
                         b"501 5.7.0 Authentication cancelled")
        self.assertEqual(raw.cmd("AUTH PLAIN %%%").rstrip(b"\r\n"),
                         b"501 5.5.2 Invalid base64 data")
        bad = b64("\0%s\0wrong-password-3" % login)
        self.extra_secrets.append(bad)
        self.assertEqual(raw.cmd("AUTH PLAIN " + bad).rstrip(b"\r\n"),
                         b"535 5.7.8 Authentication credentials invalid")
        self.assertEqual(self.doubles.state()["smtp_sessions"], [])
        self.assertEqual(self.smtp_auth_plain(raw),
                         "235 2.7.0 Authentication successful")

    def test_helo_then_auth(self):
        login, password = self.login()
        raw = self.smtp_connect(ehlo=False)
        reply = raw.cmd("helo mfp").decode().rstrip("\r\n")
        self.assertTrue(reply.startswith("250 "), reply)
        raw.send(b"auth login\r\n")
        self.assertEqual(raw.line(), b"334 VXNlcm5hbWU6\r\n")
        raw.cmd(b64(login))
        self.extra_secrets.append(b64(password))
        self.assertEqual(raw.cmd(b64(password)).rstrip(b"\r\n"),
                         b"235 2.7.0 Authentication successful")
        reply = self.send_message(raw, b"From: <mfp@example.com>\r\n\r\n"
                                  b"hi\r\n.\r\n")
        self.assertTrue(reply[-1].startswith("250 2.0.0 OK"), reply)
        ehlo = self.doubles.state()["smtp_sessions"][-1]["ehlo"]
        self.assertTrue(ehlo)
        self.assertEqual(set(ehlo), {SMTP_HOSTNAME})

    def test_mail_without_auth_rejected(self):
        raw = self.smtp_connect()
        self.assertEqual(raw.cmd("MAIL FROM:<mfp@example.com>")
                         .rstrip(b"\r\n"),
                         b"530 5.7.0 Authentication required")
        self.assertEqual(self.doubles.state()["smtp_sessions"], [])
        self.assertEqual(self.smtp_auth_plain(raw),
                         "235 2.7.0 Authentication successful")
        self.assertEqual(raw.cmd("MAIL FROM:<mfp@example.com>")[:3], b"250")
        self.assertIn("127.0.0.1", self.product.log())

    def test_bare_line_feeds_repaired(self):
        raw = self.authed()
        data = (b"Subject: scan\nFrom: mfp@example.com\n\nline one\n.\n"
                b"line two\rline three\r\n.\r\n")
        reply = self.send_message(raw, data)
        self.assertTrue(reply[-1].startswith("250 2.0.0 OK"), reply)
        stored = self.doubles.state()["smtp_messages"]
        self.assertEqual(len(stored), 1)
        expected = (b"Subject: scan\r\nFrom: mfp@example.com\r\n\r\n"
                    b"line one\r\n.\r\nline two\r\nline three\r\n")
        self.assertFalse(stored[0]["bare_lf"])
        self.assertFalse(stored[0]["bare_cr"])
        self.assertEqual(stored[0]["sha256"],
                         hashlib.sha256(expected).hexdigest())

    def test_lf_dot_lf_is_data(self):
        raw = self.authed()
        data = b"Subject: x\r\n\r\na\n.\nb\n.\r\nc\r.\rd\r\n.\r\n"
        reply = self.send_message(raw, data)
        self.assertTrue(reply[-1].startswith("250 "), reply)
        stored = self.doubles.state()["smtp_messages"]
        self.assertEqual(len(stored), 1)
        expected = b"Subject: x\r\n\r\na\r\n.\r\nb\r\n.\r\nc\r\n.\r\nd\r\n"
        self.assertEqual(stored[0]["sha256"],
                         hashlib.sha256(expected).hexdigest())
        self.assertTrue(raw.cmd("NOOP").startswith(b"250"))

    def test_long_lines_relayed_whole(self):
        raw = self.authed()
        long_line = b"x" * 5000
        data = b"Subject: long\r\n\r\n" + long_line + b"\r\nend\r\n"
        reply = self.send_message(raw, data + b".\r\n")
        self.assertTrue(reply[-1].startswith("250 "), reply)
        stored = self.doubles.state()["smtp_messages"][-1]
        self.assertEqual(stored["sha256"], hashlib.sha256(data).hexdigest())

    def test_size_above_limit_rejected_at_once(self):
        raw = self.authed()
        reply = raw.cmd("MAIL FROM:<%s> SIZE=%d" % (MAILBOX, SIZE_35MB + 1))
        self.assertEqual(reply.rstrip(b"\r\n"),
                         b"552 5.3.4 Message size exceeds fixed maximum "
                         b"message size")

    def test_size_above_upstream_limit_rejected(self):
        self.doubles.config(smtp_size=1024 * 1024)
        raw = self.authed()
        reply = raw.cmd("MAIL FROM:<%s> SIZE=%d" % (MAILBOX, 2 * 1024 * 1024))
        self.assertEqual(reply.rstrip(b"\r\n"),
                         b"552 5.3.4 Message size exceeds fixed maximum "
                         b"message size")
        reply = raw.cmd("MAIL FROM:<%s> SIZE=1000" % MAILBOX)
        self.assertEqual(reply[:3], b"250")

    def test_configured_size_advertised(self):
        self.product.stop()
        self.product.write_conf(max_message_size="10 MB")
        self.product.serve()
        raw = self.smtp_connect()
        self.assertIn("250-SIZE %d" % (10 * 1024 * 1024), raw.ehlo)

    def test_upstream_552_relayed(self):
        self.doubles.script("smtp", on="DATA-END",
                            reply="552 5.3.4 Message size exceeds fixed "
                            "maximum message size")
        raw = self.authed()
        reply = self.send_message(raw, b"Subject: x\r\n\r\nbig\r\n.\r\n")
        self.assertEqual(reply, ["552 5.3.4 Message size exceeds fixed "
                                 "maximum message size"])

    def test_message_after_upstream_451(self):
        self.doubles.script("smtp", on="DATA-END",
                            reply="451 4.7.500 Server busy. Please try "
                            "again later")
        raw = self.authed()
        reply = self.send_message(raw, b"Subject: one\r\n\r\nx\r\n.\r\n")
        self.assertEqual(reply, ["451 4.7.500 Server busy. Please try "
                                 "again later"])
        reply = self.send_message(raw, b"Subject: two\r\n\r\nx\r\n.\r\n")
        self.assertTrue(reply[-1].startswith("250 2.0.0 OK"), reply)
        st = self.doubles.state()
        self.assertEqual([m["result"] for m in st["smtp_messages"]],
                         ["451 4.7.500 Server busy. Please try again later",
                          "250"])
        sessions = [x for x in st["smtp_sessions"] if x["mailbox"]]
        self.assertEqual(len(sessions), 1)
        commands = sessions[0]["commands"]
        first_data = commands.index("DATA")
        self.assertIn("RSET", commands[first_data:])
        self.assertLess(commands.index("RSET", first_data),
                        commands.index("DATA", first_data + 1))

    def test_message_after_local_552(self):
        self.product.stop()
        self.product.write_conf(max_message_size="1 MB")
        self.product.serve()
        raw = self.authed()
        big = b"Subject: big\r\n\r\n" + (b"y" * 998 + b"\r\n") * 1100
        reply = self.send_message(raw, big + b".\r\n")
        self.assertEqual(reply, ["552 5.3.4 Message size exceeds fixed "
                                 "maximum message size"])
        reply = self.send_message(raw, b"Subject: two\r\n\r\nx\r\n.\r\n")
        self.assertTrue(reply[-1].startswith("250 2.0.0 OK"), reply)
        st = self.doubles.state()
        self.assertEqual(len([x for x in st["smtp_sessions"]
                              if x["mailbox"]]), 2)
        self.assertEqual([m["result"] for m in st["smtp_messages"]], ["250"])

    def test_send_as_denied_relayed(self):
        raw = self.authed()
        self.assertEqual(raw.cmd("MAIL FROM:<scanner@example.net>")[:3],
                         b"250")
        self.assertEqual(raw.cmd("RCPT TO:<a@example.org>")[:3], b"250")
        self.assertEqual(raw.cmd("DATA")[:3], b"354")
        raw.send(b"From: Scanner 2F <scanner@example.net>\r\n\r\nx\r\n.\r\n")
        reply = raw.smtp_reply()
        self.assertEqual(len(reply), 1)
        self.assertTrue(reply[0].startswith("554 5.2.252 SendAsDenied; "
                                            "mfp@example.com not allowed "
                                            "to send as scanner@example.net"),
                        reply[0][:80])
        self.assertLessEqual(len(reply[0]) + 2, 512)


class LargeMessageTest(ProductTest):

    def test_30mb_message_both_ways(self):
        rng = random.Random(1)
        body = base64.encodebytes(os.urandom(22 * 1024 * 1024)).replace(
            b"\n", b"\r\n")
        message = (b"From: <mfp@example.com>\r\nTo: <mfp@example.com>\r\n"
                   b"Subject: scan\r\nMIME-Version: 1.0\r\nContent-Type: "
                   b"application/pdf\r\nContent-Transfer-Encoding: base64"
                   b"\r\n\r\n" + body)
        self.assertGreater(len(message), 30 * 1000 * 1000)
        raw = self.smtp_connect()
        self.assertEqual(self.smtp_auth_plain(raw),
                         "235 2.7.0 Authentication successful")
        self.assertEqual(raw.cmd("MAIL FROM:<%s> SIZE=%d"
                                 % (MAILBOX, len(message)))[:3], b"250")
        self.assertEqual(raw.cmd("RCPT TO:<%s>" % MAILBOX)[:3], b"250")
        self.assertEqual(raw.cmd("DATA")[:3], b"354")
        payload = message + b".\r\n"
        # Uneven chunks: one ends between CR and LF, one right before the
        # final ".\r\n".
        cuts = {message.index(b"\r\n", 1000) + 1, len(message)}
        pos = 0
        while pos < len(payload):
            size = rng.randint(1, 4096)
            end = min(len(payload), pos + size)
            for cut in cuts:
                if pos < cut < end:
                    end = cut
            raw.send(payload[pos:end])
            pos = end
        raw.sock.settimeout(120)
        reply = raw.smtp_reply()
        self.assertTrue(reply[-1].startswith("250 2.0.0 OK"), reply)
        stored = self.doubles.state()["smtp_messages"]
        digest = hashlib.sha256(message).hexdigest()
        self.assertEqual(stored[-1]["sha256"], digest)

        pop = Raw(self.product.pop3_port, timeout=120)
        self.addCleanup(pop.close)
        pop.text()
        login, password = self.login()
        pop.cmd("USER " + login)
        self.assertTrue(pop.cmd("PASS " + password).startswith(b"+OK"))
        start = time.monotonic()
        self.assertEqual(pop.cmd("RETR 1"), b"+OK\r\n")
        data = pop.multiline()[:-3]
        data = data.replace(b"\r\n..", b"\r\n.")
        self.assertEqual(hashlib.sha256(data).hexdigest(), digest)
        self.assertLess(time.monotonic() - start, 60)
        # Streaming keeps the service's memory far below the message size.
        peak_kb = self.peak_memory_kb(self.product.serve_proc.pid)
        self.assertLess(peak_kb, 24 * 1024, "serve peaked at %d KB" % peak_kb)

    def peak_memory_kb(self, pid):
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        self.fail("no VmHWM in /proc/%d/status" % pid)


class LongTokenSmtpTest(ProductTest):
    DOUBLE_CONFIG = {"access_token_length": 2500, "smtp_line_limit": True}

    def test_two_step_xoauth2_long_token(self):
        raw = self.smtp_connect()
        self.assertEqual(self.smtp_auth_plain(raw),
                         "235 2.7.0 Authentication successful")
        session = self.doubles.state()["smtp_sessions"][-1]
        self.assertEqual([a["form"] for a in session["auth"]], ["two-step"])
        self.assertEqual(session["auth"][0]["result"], "ok")
        self.assertGreater(session["auth"][0]["line_length"], 3000)
        self.assertEqual(session["tls"], "TLSv1.2")
        self.assertEqual(session.get("sni"), "localhost")

    def test_bare_334_continuation(self):
        self.doubles.config(smtp_continuation="334")
        raw = self.smtp_connect()
        self.assertEqual(self.smtp_auth_plain(raw),
                         "235 2.7.0 Authentication successful")

    def test_json_challenge_answered_empty(self):
        self.doubles.config(smtp_json_challenge=True)
        self.doubles.post("/account", {"mailbox": MAILBOX,
                                       "smtp_token_rejected": True})
        raw = self.smtp_connect()
        reply = self.smtp_auth_plain(raw)
        self.assertTrue(reply.startswith("454 4.7.0 "), reply)
        sessions = [s for s in self.doubles.state()["smtp_sessions"]
                    if s["auth"]]
        self.assertTrue(sessions)
        for session in sessions:
            self.assertEqual(session["auth"][0]["after_challenge"], "")


class UpstreamRejectsSmtpTest(ProductTest):

    def warm_up(self):
        """Log in once so serve caches an access token."""
        raw = self.smtp_connect()
        self.assertEqual(self.smtp_auth_plain(raw),
                         "235 2.7.0 Authentication successful")
        raw.cmd("QUIT")
        # serve reuses a token refreshed less than 10 s ago instead of
        # refreshing again, so let the cached token age first.
        self.product.advance(60)
        return len(self.doubles.refresh_requests())

    def test_smtp_auth_disabled_5_7_139(self):
        line = ("535 5.7.139 Authentication unsuccessful, "
                "SmtpClientAuthentication is disabled for the Tenant. Visit "
                "https://aka.ms/smtp_auth_disabled for more information.")
        refreshes = self.warm_up()
        self.doubles.post("/account", {"mailbox": MAILBOX,
                                       "smtp_auth_error": line})
        before = self.product.secrets_files()
        raw = self.smtp_connect()
        self.assertEqual(self.smtp_auth_plain(raw),
                         "454 4.7.0 Upstream authentication failed, see "
                         "proxy log")
        self.assertEqual(len(self.doubles.refresh_requests()), refreshes)
        self.assertIn(line, self.product.log())
        user = self.product.user(self.login()[0])
        self.assertIn("5.7.139", user["state_code"] + user["state_reason"])
        self.assertEqual(self.product.secrets_files(), before)

    def test_token_rejected_5_7_3(self):
        refreshes = self.warm_up()
        self.doubles.post("/account", {"mailbox": MAILBOX,
                                       "smtp_token_rejected": True})
        raw = self.smtp_connect()
        self.assertEqual(self.smtp_auth_plain(raw),
                         "454 4.7.0 Upstream authentication failed, see "
                         "proxy log")
        self.assertEqual(len(self.doubles.refresh_requests()), refreshes + 1)
        attempts = [s for s in self.doubles.state()["smtp_sessions"]
                    if s["auth"]]
        # The warm-up, then the cached token and one retry after a refresh.
        self.assertEqual(len(attempts), 3)
        log = self.product.log()
        self.assertIn("SMTP.Send", log)
        self.assertIn("535 5.7.3 Authentication unsuccessful [", log)
        self.assertTrue(self.product.secrets_files())


class UpstreamTlsTest(ProductTest):

    def auth_reply(self):
        raw = self.smtp_connect()
        return self.smtp_auth_plain(raw)

    def test_starttls_421_old_tls(self):
        line = ("421 4.7.66 TLS 1.0 and 1.1 are not supported. Please "
                "upgrade/update your client to support TLS 1.2.")
        self.doubles.script("smtp", on="STARTTLS", reply=line, close=True)
        reply = self.auth_reply()
        self.assertTrue(reply.startswith("4"), reply)
        self.assertIn("4.7.66", self.product.log())

    def test_upstream_offers_only_tls11(self):
        self.doubles.config(smtp_tls_max="1.1")
        reply = self.auth_reply()
        self.assertTrue(reply.startswith("4"), reply)
        self.assertIn("1.2", self.product.log())
        sessions = self.doubles.state()["smtp_sessions"]
        self.assertTrue(sessions)
        self.assertTrue(all(s.get("tls") is False or "tls_error" in s
                            for s in sessions), sessions)

    def test_untrusted_certificate_rejected(self):
        self.doubles.config(tls_cert="untrusted")
        reply = self.auth_reply()
        self.assertTrue(reply.startswith("4"), reply)
        self.assertIn("certificate", self.product.log().lower())
        raw, reply = self.pop3_login()
        self.assertTrue(reply.startswith("-ERR [SYS/TEMP]"), reply)
        self.assertFalse([s for s in self.doubles.state()["pop3_sessions"]
                          if s.get("auth")])

    def test_wrong_name_certificate_rejected(self):
        self.doubles.config(tls_cert="wrongname")
        reply = self.auth_reply()
        self.assertTrue(reply.startswith("4"), reply)
        raw, reply = self.pop3_login()
        self.assertTrue(reply.startswith("-ERR [SYS/TEMP]"), reply)
