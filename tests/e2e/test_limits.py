"""Limits on devices that have not logged in, and sessions that the
administrator or a stop ends."""

import json
import os
import re
import signal
import subprocess
import time

from harness import MAILBOX, ProductTest, Raw, wait_for


class PreauthDeadlineTest(ProductTest):
    PRODUCT_OPTIONS = {"preauth_timeout": 2}

    def drip(self, port, data):
        """Send DATA one byte every 0.25 s until the product closes the
        connection. Returns (seconds until the close, bytes received)."""
        raw = Raw(port, timeout=30)
        self.addCleanup(raw.close)
        start = time.monotonic()
        raw.sock.settimeout(0.25)
        i = 0
        while time.monotonic() - start < 20:
            try:
                raw.sock.sendall(data[i % len(data):i % len(data) + 1])
            except OSError:
                break
            i += 1
            try:
                chunk = raw.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not chunk:
                break
            raw.buf += chunk
        return time.monotonic() - start, raw.buf

    def test_pop3_noop_drip_closed(self):
        elapsed, received = self.drip(self.product.pop3_port, b"NOOP\r\n")
        self.assertLess(elapsed, 6)
        self.assertIn(b"-ERR Connection timed out", received)
        self.assertIn("no login within preauth_timeout", self.product.log())

    def test_pop3_partial_line_closed(self):
        elapsed, received = self.drip(self.product.pop3_port, b"CAPAxxxx")
        self.assertLess(elapsed, 6)
        self.assertIn(b"-ERR Connection timed out", received)

    def test_smtp_noop_drip_closed(self):
        elapsed, received = self.drip(self.product.smtp_port, b"NOOP\r\n")
        self.assertLess(elapsed, 6)
        self.assertIn(b"421 4.4.2", received)

    def test_login_lifts_deadline(self):
        raw, reply = self.pop3_login()
        self.assertEqual(reply[:3], "+OK")
        time.sleep(3)
        self.assertTrue(raw.cmd("NOOP").startswith(b"+OK"))
        self.assertTrue(raw.cmd("QUIT").startswith(b"+OK"))


class UserDeleteTest(ProductTest):

    def delete_user(self):
        login, _ = self.login()
        proc = self.product.run("user", "delete", login)
        self.assertEqual(proc.returncode, 0, proc.stderr)

    def test_pop3_session_told_why(self):
        raw, reply = self.pop3_login()
        self.assertEqual(reply[:3], "+OK")
        self.delete_user()
        raw.sock.settimeout(15)
        self.assertEqual(raw.text(), "-ERR [SYS/PERM] this user was deleted "
                         "by the administrator")
        self.assertTrue(raw.closed())
        login, _ = self.login()
        log = self.product.log()
        self.assertIn("ended: user deleted user=" + login, log)
        self.assertNotIn("ended: device closed user=" + login, log)

    def test_smtp_mid_data_nothing_sent(self):
        raw = self.smtp_connect()
        self.assertEqual(self.smtp_auth_plain(raw)[:3], "235")
        self.assertEqual(raw.cmd("MAIL FROM:<mfp@example.com>")[:3], b"250")
        self.assertEqual(raw.cmd("RCPT TO:<a@example.org>")[:3], b"250")
        self.assertEqual(raw.cmd("DATA")[:3], b"354")
        raw.send(b"Subject: half\r\n\r\nfirst part\r\n")
        self.delete_user()
        raw.sock.settimeout(15)
        self.assertTrue(raw.text().startswith(
            "421 4.7.0 This user was deleted by the administrator"))
        self.assertTrue(raw.closed())
        self.assertEqual(self.doubles.state()["smtp_messages"], [])
        self.assertIn("ended: user deleted during DATA", self.product.log())


class TrustedDevicesTest(ProductTest):
    SERVE = False

    def test_everyone_refused(self):
        with open(self.product.conf) as f:
            text = f.read()
        text = text.replace("idle_timeout = 300\n", "idle_timeout = 300\n"
                            "trusted_devices = 192.0.2.9, ::/0\n"
                            "trusted_user = mfp\n")
        with open(self.product.conf, "w") as f:
            f.write(text)
        proc = self.product.run("user", "list")
        self.assertEqual(proc.returncode, 1)
        err = proc.stderr.decode()
        self.assertIn("exoconnect.conf:", err)
        self.assertIn("::/0 covers every address", err)

    def test_wide_network_logged(self):
        with open(self.product.conf) as f:
            text = f.read()
        text = text.replace("idle_timeout = 300\n", "idle_timeout = 300\n"
                            "trusted_devices = 10.0.0.0/8\n"
                            "trusted_user = mfp\n")
        with open(self.product.conf, "w") as f:
            f.write(text)
        self.product.serve()
        # The warning follows the listeners, which serve() waits for.
        wanted = "contains 10.0.0.0/8, so every host in it can send"
        wait_for(lambda: wanted in self.product.log())
        self.assertIn(wanted, self.product.log())


class CommandLineTest(ProductTest):
    SERVE = False

    def test_user_set_help_lists_keys(self):
        proc = self.product.run("user", "set", "--help")
        self.assertEqual(proc.returncode, 0)
        text = proc.stdout.decode() + proc.stderr.decode()
        for key in ("mailbox=", "sender=", "accept_legacy_charset=",
                    "encode_utf8_headers=", "relabel_iso2022jp="):
            self.assertIn(key, text)

    def test_list_after_secrets_deleted(self):
        os.remove(os.path.join(self.product.dir, "secrets.dat"))
        proc = self.product.run("user", "list", "--json")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        users = json.loads(proc.stdout)
        self.assertEqual(len(users), 1)
        self.assertNotEqual(users[0]["state"], "valid")
        self.assertEqual(users[0]["state_code"], "no-token")
        self.assertIn("secrets.dat", users[0]["state_reason"])
        proc = self.product.run("user", "list", "--check")
        self.assertEqual(proc.returncode, 1)

    def test_user_set_exit_statuses(self):
        login, _ = self.login()
        self.assertEqual(self.product.run("user", "set", login,
                                          "bogus=1").returncode, 2)
        self.assertEqual(self.product.run("user", "set", login,
                                          "sender=maybe").returncode, 2)
        self.assertEqual(self.product.run("user", "set", "nosuch",
                                          "sender=pass").returncode, 1)
        self.assertEqual(self.product.run("user", "set", login,
                                          "sender=pass").returncode, 0)


class SetPasswordTest(ProductTest):

    def test_set_password_rejects_nul(self):
        login, _ = self.login()
        proc = subprocess.run(
            [self.product.bin, "-c", self.product.conf, "user",
             "set-password", login], input=b"ab\0cd\n",
            capture_output=True, timeout=60, env=self.product.env)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("NUL byte", proc.stderr.decode())
        raw, reply = self.pop3_login(password="ab")
        self.assertTrue(reply.startswith("-ERR"), reply)


class StopGraceTest(ProductTest):

    def test_pop3_quit_within_grace_commits(self):
        message = (b"From: <a@example.org>\r\nSubject: one\r\n\r\n"
                   b"first message\r\n")
        self.doubles.seed(MAILBOX, [message])
        raw, reply = self.pop3_login()
        self.assertEqual(reply[:3], "+OK")
        self.assertTrue(raw.cmd("DELE 1").startswith(b"+OK"))
        self.product.serve_proc.send_signal(signal.SIGTERM)
        time.sleep(1.5)
        self.assertTrue(raw.cmd("NOOP").startswith(b"+OK"))
        self.assertTrue(raw.cmd("QUIT").startswith(b"+OK"))
        self.assertEqual(self.doubles.mailbox(MAILBOX), [])

    def test_pop3_login_refused_while_stopping(self):
        raw = Raw(self.product.pop3_port)
        self.addCleanup(raw.close)
        self.assertTrue(raw.text().startswith("+OK"))
        self.product.serve_proc.send_signal(signal.SIGTERM)
        time.sleep(1.5)
        self.assertEqual(raw.cmd("USER x").rstrip(b"\r\n"),
                         b"-ERR [SYS/TEMP] exoconnect is stopping")


class BadInputTest(ProductTest):

    def test_bad_input_logged_once(self):
        raw = Raw(self.product.pop3_port)
        self.addCleanup(raw.close)
        self.assertTrue(raw.text().startswith("+OK"))
        self.assertEqual(raw.cmd(b"A" * 600).rstrip(b"\r\n"),
                         b"-ERR Line too long")
        self.assertEqual(raw.cmd(b"NO\0OP").rstrip(b"\r\n"),
                         b"-ERR NUL byte in command")
        self.assertTrue(raw.cmd("QUIT").startswith(b"+OK"))
        smtp = self.smtp_connect(ehlo=False)
        self.assertTrue(smtp.cmd(b"\x01\x02junk")[:3] == b"500")
        self.assertTrue(smtp.cmd(b"B" * 600)[:3] == b"500")
        self.assertTrue(smtp.cmd("QUIT").startswith(b"221"))
        log = self.product.log()
        self.assertEqual(log.count("sent a command line over 512 bytes"), 1)
        self.assertNotIn("sent a NUL byte", log)
        self.assertEqual(log.count("sent an unknown command"), 1)


class BusyCountTest(ProductTest):
    SERVE = False

    def test_rejections_counted(self):
        with open(self.product.conf) as f:
            text = f.read()
        text = text.replace("preauth_timeout = 60\n", "preauth_timeout = 60\n"
                            "max_preauth_per_address = 2\n")
        with open(self.product.conf, "w") as f:
            f.write(text)
        self.product.serve()
        time.sleep(1)  # the start-up probes release their slots
        open_conns = [Raw(self.product.pop3_port) for _ in range(2)]
        for raw in open_conns:
            self.addCleanup(raw.close)
            self.assertTrue(raw.text().startswith("+OK"))
        for _ in range(3):
            raw = Raw(self.product.pop3_port)
            self.assertIn(b"Too many connections", raw.line())
            raw.close()
        for raw in open_conns:
            raw.close()
        self.product.stop()
        counts = [int(n) for n in re.findall(
            r"since the last report: (\d+);", self.product.log())]
        self.assertEqual(sum(counts), 3, self.product.log())


class MissingSettingsTest(ProductTest):
    """A -c path whose folder exists but whose settings file does not."""

    USERS = []
    SERVE = False

    def run_with(self, conf, *args):
        proc = subprocess.run([self.bin, "-c", conf] + list(args),
                              stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=60,
                              env=self.product.env)
        err = proc.stderr.decode("utf-8", "replace")
        self.product.stderr_texts.append(err)
        return proc.returncode, err

    def test_only_creating_commands_write_file(self):
        folder = os.path.join(self.dir, "empty")
        os.makedirs(folder)
        conf = os.path.join(folder, "exoconnect.conf")
        for args in (("user", "list"), ("user", "delete", "someone"),
                     ("user", "test", "someone"), ("consent-url",),
                     ("help",), ("--help",)):
            status, err = self.run_with(conf, *args)
            self.assertFalse(os.path.exists(conf), args)
            if args[0] in ("help", "--help"):
                self.assertEqual(status, 0, err)
                continue
            self.assertEqual(status, 1, err)
            self.assertIn("not found", err, args)
            self.assertIn("exoconnect user add", err, args)

        status, err = self.run_with(conf, "serve")
        self.assertEqual(status, 1, err)
        self.assertIn("created the settings file", err)
        self.assertTrue(os.path.isfile(conf))

    def test_folder_given_as_settings_file(self):
        folder = os.path.join(self.dir, "folder")
        os.makedirs(folder)
        status, err = self.run_with(folder, "user", "list")
        self.assertEqual(status, 1, err)
        self.assertIn("is a folder, not a file", err)
        self.assertEqual(os.listdir(folder), [])
