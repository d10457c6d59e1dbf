"""`user test` and `user reset-password` output: the steps in the
chosen language, with a server name on every step, and the login as
stored.
"""

import re

from harness import ProductTest


class UserCommandTest(ProductTest):
    SERVE = False

    def run_in(self, language, *args):
        env = dict(self.product.env)
        env["LC_ALL"] = language
        env["LANG"] = language
        return self.product.run(*args, env=env)

    def test_test_steps_name_server(self):
        proc = self.product.run("user", "test", "mfp")
        out = proc.stdout.decode()
        self.assertEqual(proc.returncode, 0, out + proc.stderr.decode())
        self.assertIn("token refresh: ok, mailbox mfp@example.com", out)
        self.assertRegex(out, r"(?m)^POP3 connect \S+ with TLS: ok$")
        self.assertRegex(out, r"(?m)^SMTP connect \S+: ok$")
        self.assertRegex(out, r"(?m)^SMTP STARTTLS and TLS 1\.2 "
                         r"handshake: ok$")
        self.assertRegex(out, r"(?m)^SMTP XOAUTH2 login: ok$")
        # Every step names its server, except the token refresh.
        for line in out.splitlines():
            if line.startswith("  ") or not line.strip():
                continue
            if line.startswith("token refresh") or ":" not in line:
                continue
            self.assertRegex(line, r"^(POP3|SMTP)", out)

    def test_test_steps_translated(self):
        proc = self.run_in("de_DE.UTF-8", "user", "test", "mfp")
        out = proc.stdout.decode()
        self.assertEqual(proc.returncode, 0, out + proc.stderr.decode())
        self.assertNotIn("token refresh", out)
        self.assertNotIn("handshake: ok", out)
        self.assertIn("Token-Erneuerung: ok, Postfach mfp@example.com", out)
        self.assertRegex(out, r"(?m)^SMTP: ok$")

    def test_reset_password_prints_stored_login(self):
        proc = self.product.run("user", "reset-password", "MFP")
        out = proc.stdout.decode()
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        password = re.search(r"(?m)^Login password: (\S+)$", out).group(1)
        self.extra_secrets.append(password)
        self.assertRegex(out, r"(?m)^Login username: mfp$")
        proc = self.product.run("user", "reset-password", "--json", "MFP")
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        self.assertIn('"login":"mfp"', proc.stdout.decode().replace(" ", ""))
        password = re.search(r'"password": *"([^"]+)"',
                             proc.stdout.decode()).group(1)
        self.extra_secrets.append(password)


class HelpLanguageTest(ProductTest):
    USERS = []
    SERVE = False

    def test_help_follows_settings_language(self):
        self.product.write_conf(extra="[ui]\nlanguage = de\n")
        proc = self.product.run("--help")
        self.assertEqual(proc.returncode, 0)
        self.assertIn("Aufruf: exoconnect", proc.stdout.decode())
        proc = self.product.run("user", "list", "--help")
        self.assertEqual(proc.returncode, 0)
        self.assertNotIn("Usage:", proc.stdout.decode())

    def test_help_auto_follows_system(self):
        self.product.write_conf(extra="[ui]\nlanguage = auto\n")
        proc = self.product.run("--help")
        self.assertIn("Usage: exoconnect", proc.stdout.decode())
