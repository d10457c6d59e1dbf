"""The Settings form of the screen, driven in tmux: checks while typing,
the device certificate fingerprint, and the language.
"""

import base64
import hashlib
import os
import re
import shutil
import unittest

import harness
from test_screen import Screen


def cert_fingerprint(path):
    """The SHA-256 fingerprint of the PEM certificate at PATH, AB:CD:..."""
    with open(path) as f:
        pem = f.read()
    body = pem.split("-----BEGIN CERTIFICATE-----")[1].split("-----END")[0]
    digest = hashlib.sha256(base64.b64decode(body)).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def shown_fingerprint(text):
    """The fingerprint the Settings form shows, its rows joined."""
    joined = re.sub(r"\s+", "", text)
    found = re.search(r"\(SHA-256\):((?:[0-9A-F]{2}:){31}[0-9A-F]{2})",
                      joined)
    return found.group(1) if found else None


def enable_starttls(product):
    with open(product.conf) as f:
        text = f.read()
    with open(product.conf, "w") as f:
        f.write(text.replace("[pop3]\n", "[pop3]\nstarttls = yes\n", 1))


@unittest.skipIf(shutil.which("tmux") is None, "tmux is not installed")
class SettingsFormTests(harness.ProductTest):
    USERS = []
    SERVE = False

    def open_screen(self, **options):
        screen = Screen(self.product, **options)
        self.addCleanup(screen.close)
        return screen

    def select_setting(self, screen, label):
        for _ in range(80):
            if re.search(r"^>" + re.escape(label) + " ", screen.text(),
                         re.M):
                return
            screen.keys("Down")
        self.fail("no setting %s in the form:\n%s" % (label, screen.text()))

    def test_client_id_checked_while_typing(self):
        self.product.write_conf(client_id="")
        screen = self.open_screen()
        screen.wait(r"^Settings: ")
        screen.wait(r"^>\[microsoft\] client_id")
        screen.keys("Enter")
        screen.keys("not a guid")
        screen.wait(r"client_id = not a guid in \[microsoft\] of")
        screen.wait(r"is not a GUID")
        screen.keys("Enter")
        # The field stays open: the value was not taken.
        self.assertIn("Enter accepts the value", screen.text())
        screen.keys(*(["BSpace"] * 10))
        screen.keys(harness.CLIENT_ID)
        screen.keys("Enter")
        screen.wait(r"^>\[microsoft\] client_id +%s" %
                    re.escape(harness.CLIENT_ID))
        self.assertNotIn("not a GUID", screen.text())
        screen.keys("F2")

        def saved():
            with open(self.product.conf) as f:
                return "client_id = %s" % harness.CLIENT_ID in f.read()
        self.assertTrue(harness.wait_for(saved, 10))
        screen.keys("Escape")
        screen.wait(r"Users \(0\)")
        screen.keys("q")
        screen.wait("EXIT=0")

    def test_fingerprint_shown(self):
        enable_starttls(self.product)
        screen = self.open_screen()
        screen.wait(r"Users \(0\)")
        screen.keys("t")
        screen.wait("Which server")
        screen.keys("2")
        screen.wait(r"^POP3 +running")
        screen.keys("s")
        screen.wait(r"^Settings: ")
        screen.wait(r"Device certificate fingerprint")
        cert = os.path.join(self.product.dir, "device-cert.pem")
        self.assertEqual(shown_fingerprint(screen.text()),
                         cert_fingerprint(cert), screen.text())
        screen.keys("Escape", "q")
        screen.wait("EXIT=0")

    def test_language_applies_at_once(self, screen=None):
        if screen is None:
            screen = self.open_screen()
            screen.wait(r"Users \(0\)")
            screen.keys("t")
            screen.wait("Which server")
            screen.keys("2")
        screen.wait(r"POP3 server listening")
        screen.keys("s")
        screen.wait(r"^Settings: ")
        self.select_setting(screen, "[ui] language")
        screen.keys("Enter", *(["BSpace"] * 10))
        screen.keys("de", "Enter")
        screen.wait(r"^>\[ui\] language +de")
        screen.keys("F2")
        # The form and then the main screen redraw in German; with
        # servers running, the restart question comes in German first.
        found = screen.wait(r"Eingabetaste|Server neu starten")
        if found.group(0) != "Eingabetaste":
            screen.keys("n")
            screen.wait(r"Eingabetaste")
        screen.keys("Escape")
        screen.wait(r"Benutzer \(0\)")
        # Log lines from before the change are in German too.
        screen.wait(r"POP3-Server lauscht auf 127\.0\.0\.1 Port %d" %
                    self.product.pop3_port)
        self.assertNotIn("POP3 server listening", screen.text())
        screen.keys("q")
        screen.wait("EXIT=0")


@unittest.skipIf(shutil.which("tmux") is None, "tmux is not installed")
class AttachedSettingsTests(harness.ProductTest):
    USERS = []
    SERVE = False
    select_setting = SettingsFormTests.select_setting

    def test_fingerprint_from_serve(self):
        enable_starttls(self.product)
        self.product.serve()
        cert = os.path.join(self.product.dir, "device-cert.pem")
        want = cert_fingerprint(cert)
        # The serve's own value arrives over the control channel, even
        # when the file beside the settings is gone.
        os.rename(cert, cert + ".moved")
        screen = Screen(self.product)
        self.addCleanup(screen.close)
        screen.wait(r"^POP3 +running +\S+ +STLS")
        screen.keys("s")
        screen.wait(r"Device certificate fingerprint")
        self.assertEqual(shown_fingerprint(screen.text()), want,
                         screen.text())
        screen.keys("Escape", "q")
        screen.wait("EXIT=0")

    def test_language_applies_at_once(self):
        self.product.serve()
        screen = Screen(self.product)
        self.addCleanup(screen.close)
        screen.wait(r"^POP3 +running")
        SettingsFormTests.test_language_applies_at_once(self, screen)


if __name__ == "__main__":
    unittest.main()
