"""End-to-end tests of the ways devices log in and send.

APOP and CRAM-MD5 run with real clients (poplib, smtplib, curl). Devices
send without AUTH from trusted addresses and after POP3 logins. Failed
logins are throttled per address, and many devices share one mailbox.
The sender and charset fix-ups are checked on the bytes the SMTP double
received.

Source addresses 127.0.0.1 and 127.0.0.2 stand for two devices; both
reach the product's listeners on 127.0.0.1.
"""

import base64
import hashlib
import hmac
import poplib
import smtplib
import socket
import subprocess
import threading
import time

from harness import MAILBOX, ProductTest, Raw, b64, wait_for

OTHER = "127.0.0.2"	# a second device address

MESSAGE = (b"From: Scanner 2F <scanner@example.net>\r\n"
           b"To: <office@example.org>\r\n"
           b"Subject: scan\r\n"
           b"\r\n"
           b"page one\r\n"
           b"From: not a header\r\n")


class RawFrom(Raw):
    """A Raw client whose connection starts at a chosen source address."""

    def __init__(self, port, source, timeout=30):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout,
                                             source_address=(source, 0))
        self.buf = b""


def cram_reply(login, password, challenge_b64):
    """Return the base64 CRAM-MD5 response (RFC 2195) to a challenge."""
    if isinstance(password, str):
        password = password.encode()
    challenge = base64.b64decode(challenge_b64)
    digest = hmac.new(password, challenge, hashlib.md5).hexdigest()
    return b64(login.encode() + b" " + digest.encode())


class DeviceAuthTest(ProductTest):
    """Common steps: settings changes, user settings, SMTP sends."""

    def restart(self, extra):
        """Rewrite the settings with EXTRA appended and restart serve."""
        self.product.stop()
        self.product.write_conf(extra=extra)
        self.product.serve()

    def user_set(self, *pairs):
        login, _ = self.login()
        proc = self.product.run("user", "set", login, *pairs)
        self.assertEqual(proc.returncode, 0,
                         proc.stderr.decode("utf-8", "replace"))
        # The command sends users_changed to the running serve over the
        # control channel, so the change applies without waiting.
        self.assertNotIn(b"warning", proc.stderr)

    def wait_log(self, text):
        """Wait until the log contains TEXT; return the log."""
        wait_for(lambda: text in self.product.log())
        return self.product.log()

    def send_plain(self, raw, sender, data, rcpt="office@example.org"):
        """MAIL, RCPT and DATA on a logged-in Raw; return the last reply."""
        reply = raw.cmd("MAIL FROM:<%s>" % sender).decode()
        self.assertTrue(reply.startswith("250"), reply)
        reply = raw.cmd("RCPT TO:<%s>" % rcpt).decode()
        self.assertTrue(reply.startswith("250"), reply)
        self.assertEqual(raw.cmd("DATA")[:3], b"354")
        raw.send(data + b".\r\n")
        return raw.smtp_reply()[-1]

    def last_message(self):
        st = self.doubles.state()
        self.assertTrue(st["smtp_messages"], "the SMTP double got nothing")
        return st["smtp_messages"][-1], self.doubles.get("/smtp/raw")


class PopAuthTest(DeviceAuthTest):
    def test_apop_with_poplib(self):
        login, password = self.login()
        self.doubles.seed(MAILBOX, [b"Subject: one\r\n\r\nbody\r\n"])
        pop = poplib.POP3("127.0.0.1", self.product.pop3_port, timeout=30)
        self.addCleanup(pop.close)
        self.assertIsNotNone(pop.timestamp.search(pop.getwelcome()))
        self.assertTrue(pop.apop(login, password).startswith(b"+OK"))
        self.assertEqual(pop.stat()[0], 1)
        pop.quit()

    def test_apop_wrong_digest_then_user_pass(self):
        login, password = self.login()
        raw = Raw(self.product.pop3_port)
        self.addCleanup(raw.close)
        greeting = raw.text()
        self.assertRegex(greeting, r"^\+OK .*<\d+\.\d+@[^>]+>$")
        reply = raw.cmd("APOP %s %s" % (login, "0" * 32)).decode()
        self.assertEqual(reply.rstrip("\r\n"),
                         "-ERR [AUTH] Invalid user name or password")
        self.assertTrue(raw.cmd("USER " + login).startswith(b"+OK"))
        self.assertEqual(raw.cmd("PASS " + password).rstrip(b"\r\n"),
                         b"+OK Logged in")

    def test_apop_off_no_timestamp(self):
        self.restart("[pop3]\napop = no\n")
        login, password = self.login()
        raw = Raw(self.product.pop3_port)
        self.addCleanup(raw.close)
        self.assertEqual(raw.text(), "+OK exoconnect POP3 ready")
        reply = raw.cmd("APOP %s %s" % (login, "0" * 32)).decode()
        self.assertTrue(reply.startswith("-ERR"), reply)

    def test_cram_md5_pop3(self):
        login, password = self.login()
        raw = Raw(self.product.pop3_port)
        self.addCleanup(raw.close)
        raw.text()
        capa = raw.cmd("CAPA")
        while not capa.endswith(b".\r\n"):
            capa += raw.line()
        self.assertIn(b"SASL PLAIN LOGIN CRAM-MD5\r\n", capa)
        prompt = raw.cmd("AUTH CRAM-MD5").decode().rstrip("\r\n")
        self.assertTrue(prompt.startswith("+ "), prompt)
        answer = cram_reply(login, password, prompt[2:])
        self.extra_secrets.append(answer)
        self.assertEqual(raw.cmd(answer).rstrip(b"\r\n"), b"+OK Logged in")

    def test_curl_pop3_cram_md5(self):
        login, password = self.login()
        self.doubles.seed(MAILBOX, [b"Subject: one\r\n\r\nbody\r\n"])
        proc = subprocess.run(
            ["curl", "-sS", "--max-time", "30", "--login-options",
             "AUTH=CRAM-MD5", "--user", "%s:%s" % (login, password),
             "pop3://127.0.0.1:%d/" % self.product.pop3_port],
            capture_output=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertRegex(proc.stdout.decode(), r"^1 \d+")


class SmtpAuthTest(DeviceAuthTest):
    def test_cram_md5_with_smtplib(self):
        login, password = self.login()
        smtp = smtplib.SMTP("127.0.0.1", self.product.smtp_port, timeout=30)
        self.addCleanup(smtp.close)
        smtp.ehlo("mfp")
        self.assertIn("CRAM-MD5", smtp.esmtp_features["auth"].split())
        smtp.user, smtp.password = login, password
        code, _ = smtp.auth("CRAM-MD5", smtp.auth_cram_md5,
                            initial_response_ok=False)
        self.assertEqual(code, 235)
        smtp.sendmail(MAILBOX, ["office@example.org"],
                      MESSAGE.replace(b"scanner@example.net",
                                      MAILBOX.encode()))
        smtp.quit()
        record, _ = self.last_message()
        self.assertEqual(record["result"], "250")

    def test_cram_md5_cancel_and_wrong(self):
        login, password = self.login()
        raw = self.smtp_connect()
        self.assertTrue(raw.cmd("AUTH CRAM-MD5").startswith(b"334 "))
        self.assertEqual(raw.cmd("*").rstrip(b"\r\n"),
                         b"501 5.7.0 Authentication cancelled")
        prompt = raw.cmd("AUTH CRAM-MD5").decode().rstrip("\r\n")
        answer = cram_reply(login, password + "x", prompt[4:])
        self.assertEqual(raw.cmd(answer).rstrip(b"\r\n"),
                         b"535 5.7.8 Authentication credentials invalid")
        prompt = raw.cmd("AUTH CRAM-MD5").decode().rstrip("\r\n")
        challenge = base64.b64decode(prompt[4:]).decode()
        self.assertRegex(challenge, r"^<\d+\.\d+@exoconnect\.test>$")
        answer = cram_reply(login, password, prompt[4:])
        self.extra_secrets.append(answer)
        self.assertEqual(raw.cmd(answer).rstrip(b"\r\n"),
                         b"235 2.7.0 Authentication successful")

    def test_cram_md5_off(self):
        self.restart("[smtp]\ncram_md5 = no\n")
        raw = self.smtp_connect()
        auth = [l for l in raw.ehlo if l[4:].startswith("AUTH ")]
        self.assertEqual(auth[0][4:], "AUTH PLAIN LOGIN")
        self.assertEqual(raw.cmd("AUTH CRAM-MD5")[:3], b"504")

    def test_curl_smtp_cram_md5(self):
        login, password = self.login()
        data = MESSAGE.replace(b"scanner@example.net", MAILBOX.encode())
        proc = subprocess.run(
            ["curl", "-sS", "--max-time", "30", "--login-options",
             "AUTH=CRAM-MD5", "--user", "%s:%s" % (login, password),
             "--mail-from", MAILBOX, "--mail-rcpt", "office@example.org",
             "-T", "-", "smtp://127.0.0.1:%d/mfp" % self.product.smtp_port],
            input=data, capture_output=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        record, raw = self.last_message()
        self.assertEqual(record["result"], "250")
        self.assertIn(b"page one\r\n", raw)

    def test_legacy_charset_cram_md5(self):
        """C31: a CRAM-MD5 digest over the ISO-8859-1 password."""
        login, _ = self.login()
        proc = subprocess.run(
            [self.bin, "-c", self.product.conf, "user", "set-password",
             login], input="p\u00e4ssw\u00f6rd\n".encode(),
            capture_output=True, env=self.product.env, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.extra_secrets.append("p\u00e4ssw\u00f6rd")
        latin1 = "p\u00e4ssw\u00f6rd".encode("latin-1")

        def attempt():
            raw = self.smtp_connect()
            prompt = raw.cmd("AUTH CRAM-MD5").decode().rstrip("\r\n")
            answer = cram_reply(login, latin1, prompt[4:])
            return raw.cmd(answer).decode().rstrip("\r\n")

        self.assertEqual(attempt(),
                         "535 5.7.8 Authentication credentials invalid")
        self.user_set("accept_legacy_charset=yes")
        self.assertEqual(attempt(), "235 2.7.0 Authentication successful")
        self.assertNotIn("p\u00e4ssw", self.product.log())


class WithoutAuthTest(DeviceAuthTest):
    """C13 variant and POP-before-SMTP: sending without AUTH."""

    def test_trusted_device_sends_as_user(self):
        login, _ = self.login()
        self.restart("[smtp]\ntrusted_devices = 192.0.2.0/24, %s\n"
                     "trusted_user = %s\n" % (OTHER, login))
        dev = RawFrom(self.product.smtp_port, OTHER)
        self.addCleanup(dev.close)
        dev.smtp_reply()
        self.assertEqual(dev.cmd("HELO mfp")[:3], b"250")
        reply = self.send_plain(dev, MAILBOX, MESSAGE.replace(
            b"scanner@example.net", MAILBOX.encode()))
        self.assertTrue(reply.startswith("250"), reply)
        record, _ = self.last_message()
        self.assertEqual(record["mailbox"].lower(), MAILBOX)

        # Another address still has to log in.
        raw = self.smtp_connect()
        self.assertEqual(raw.cmd("MAIL FROM:<%s>" % MAILBOX).rstrip(b"\r\n"),
                         b"530 5.7.0 Authentication required")
        self.assertIn("method=trusted_devices",
                      self.wait_log("method=trusted_devices"))

    def test_pop_before_smtp(self):
        self.restart("[smtp]\npop_before_smtp = 10\n")
        raw = self.smtp_connect()
        self.assertEqual(raw.cmd("MAIL FROM:<%s>" % MAILBOX)[:3], b"530")
        pop, reply = self.pop3_login()
        self.assertEqual(reply, "+OK Logged in")
        pop.cmd("QUIT")

        raw = self.smtp_connect()
        reply = self.send_plain(raw, MAILBOX, MESSAGE.replace(
            b"scanner@example.net", MAILBOX.encode()))
        self.assertTrue(reply.startswith("250"), reply)
        other = RawFrom(self.product.smtp_port, OTHER)
        self.addCleanup(other.close)
        other.smtp_reply()
        self.assertEqual(other.cmd("HELO mfp")[:3], b"250")
        self.assertEqual(other.cmd("MAIL FROM:<%s>" % MAILBOX)[:3], b"530")

        # A session whose AUTH failed must not fall back to the POP3 login.
        self.extra_secrets.append("wrong-pbs")
        raw = self.smtp_connect()
        token = base64.b64encode(b"\0nobody\0wrong-pbs").decode()
        self.assertEqual(raw.cmd("AUTH PLAIN " + token)[:3], b"535")
        self.assertEqual(raw.cmd("MAIL FROM:<%s>" % MAILBOX)[:3], b"530")

        # Eleven minutes later the address must log in again.
        self.product.advance(11 * 60)
        raw = self.smtp_connect()
        self.assertEqual(raw.cmd("MAIL FROM:<%s>" % MAILBOX)[:3], b"530")


class ThrottleTest(DeviceAuthTest):
    def test_burst_from_one_address(self):
        login, password = self.login()
        self.extra_secrets.append("wrong-burst")
        raw = Raw(self.product.pop3_port)
        self.addCleanup(raw.close)
        raw.text()
        for _ in range(5):
            self.assertTrue(raw.cmd("USER " + login).startswith(b"+OK"))
            reply = raw.cmd("PASS wrong-burst").decode().rstrip("\r\n")
            if reply.startswith("-ERR [AUTH]"):
                continue
            self.fail("unexpected reply " + reply)

        # The right password from the same address is delayed and refused,
        # while the other address logs in at once.
        result = {}

        def blocked_attempt():
            start = time.monotonic()
            dev = Raw(self.product.pop3_port)
            dev.text()
            dev.cmd("USER " + login)
            result["reply"] = dev.cmd("PASS " + password).decode()
            result["seconds"] = time.monotonic() - start
            dev.close()

        worker = threading.Thread(target=blocked_attempt)
        worker.start()
        time.sleep(0.3)
        start = time.monotonic()
        dev = RawFrom(self.product.pop3_port, OTHER)
        self.addCleanup(dev.close)
        dev.text()
        dev.cmd("USER " + login)
        self.assertEqual(dev.cmd("PASS " + password).rstrip(b"\r\n"),
                         b"+OK Logged in")
        self.assertLess(time.monotonic() - start, 1.5)
        worker.join(30)
        self.assertTrue(result["reply"].startswith("-ERR [LOGIN-DELAY]"),
                        result)
        self.assertGreaterEqual(result["seconds"], 2.5)

        # SMTP from the blocked address is refused too.
        smtp = self.smtp_connect()
        self.assertEqual(self.smtp_auth_plain(smtp)[:9], "454 4.7.0")
        log = self.wait_log("auth.blocked")
        lines = [l for l in log.splitlines() if "auth.blocked" in l]
        self.assertEqual(len(lines), 1, log[-2000:])
        self.assertIn("failed logins from 127.0.0.1", lines[0])


class ManyDevicesTest(DeviceAuthTest):
    DOUBLE_CONFIG = {"smtp_max_sessions": 3}

    def test_ten_clients_one_mailbox(self):
        login, password = self.login()
        data = MESSAGE.replace(b"scanner@example.net", MAILBOX.encode())
        errors = []

        def device(n):
            try:
                smtp = smtplib.SMTP("127.0.0.1", self.product.smtp_port,
                                    timeout=60)
                smtp.login(login, password)
                smtp.sendmail(MAILBOX, ["office@example.org"],
                              data + b"device %d\r\n" % n)
                time.sleep(0.2)
                smtp.quit()
            except (smtplib.SMTPException, OSError) as exc:
                errors.append("device %d: %r" % (n, exc))

        threads = [threading.Thread(target=device, args=(n,))
                   for n in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(errors, [])
        results = [m["result"] for m in self.doubles.state()["smtp_messages"]]
        self.assertEqual(results, ["250"] * 10)


class SenderTest(DeviceAuthTest):
    def auth_raw(self):
        raw = self.smtp_connect()
        self.assertEqual(self.smtp_auth_plain(raw),
                         "235 2.7.0 Authentication successful")
        return raw

    def test_pass_gets_send_as_denied(self):
        raw = self.auth_raw()
        reply = self.send_plain(raw, "scanner@example.net", MESSAGE)
        self.assertTrue(reply.startswith("554 5.2.252"), reply)
        self.assertIn("sender=rewrite", self.wait_log("sender=rewrite"))

    def test_rewrite_envelope_and_from(self):
        self.user_set("sender=rewrite")
        raw = self.auth_raw()
        folded = MESSAGE.replace(b"From: Scanner 2F <",
                                 b"From: Scanner 2F\r\n <")
        reply = self.send_plain(raw, "scanner@example.net", folded)
        self.assertTrue(reply.startswith("250"), reply)
        record, data = self.last_message()
        self.assertEqual(record["mail_from"], MAILBOX)
        self.assertEqual(data, folded.replace(b"<scanner@example.net>",
                                              b"<" + MAILBOX.encode() + b">"))
        self.assertIn(b"From: not a header\r\n", data)
        log = self.wait_log("smtp.sender_rewritten")
        self.assertEqual(log.count("smtp.sender_rewritten"), 1)
        self.assertIn("scanner@example.net", log)

    def test_rewrite_applies_at_once(self):
        # A login just before makes the serve's copy of the users fresh,
        # so only the command's message can make it read them again now.
        raw = self.auth_raw()
        self.assertEqual(raw.cmd("QUIT")[:3], b"221")
        self.user_set("sender=rewrite")
        raw = self.auth_raw()
        reply = self.send_plain(raw, "scanner@example.net", MESSAGE)
        self.assertTrue(reply.startswith("250"), reply)
        record, _ = self.last_message()
        self.assertEqual(record["mail_from"], MAILBOX)

    def test_rewrite_drops_address_as_name(self):
        self.user_set("sender=rewrite")
        raw = self.auth_raw()
        msg = MESSAGE.replace(b"Scanner 2F <",
                              b"scanner@example.net <")
        reply = self.send_plain(raw, "scanner@example.net", msg)
        self.assertTrue(reply.startswith("250"), reply)
        _, data = self.last_message()
        self.assertTrue(data.startswith(b"From: <%s>\r\n"
                                        % MAILBOX.encode()), data[:80])

    def test_charset_fixups_off_by_default(self):
        raw = self.auth_raw()
        msg = (b"From: <" + MAILBOX.encode() + b">\r\n"
               b"Subject: \xe3\x82\xb9\xe3\x82\xad\r\n"
               b"Content-Type: text/plain; charset=ISO-2022-JP-2\r\n\r\n"
               b"\x1b$B%9\x1b(B\r\n")
        reply = self.send_plain(raw, MAILBOX, msg)
        self.assertTrue(reply.startswith("250"), reply)
        _, data = self.last_message()
        self.assertEqual(data, msg)

    def test_charset_fixups_on(self):
        self.user_set("encode_utf8_headers=yes", "relabel_iso2022jp=yes")
        raw = self.auth_raw()
        msg = (b"From: <" + MAILBOX.encode() + b">\r\n"
               b"Subject: \xe3\x82\xb9\xe3\x82\xad\xe3\x83\xa3\xe3\x83\xb3\r\n"
               b"Content-Type: text/plain; charset=ISO-2022-JP-2\r\n\r\n"
               b"\x1b$B%9%-%c%s\x1b(B\r\n")
        reply = self.send_plain(raw, MAILBOX, msg)
        self.assertTrue(reply.startswith("250"), reply)
        _, data = self.last_message()
        self.assertIn(b"Subject: =?UTF-8?B?44K544Kt44Oj44Oz?=\r\n", data)
        self.assertIn(b"charset=ISO-2022-JP\r\n", data)
        self.assertTrue(data.endswith(b"\r\n\x1b$B%9%-%c%s\x1b(B\r\n"))
