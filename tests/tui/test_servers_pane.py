"""The servers pane of the screen, Start and restart, driven in tmux.

The columns, the failures that Start and a restart after Settings
report, and the check that keeps the two servers off one port.
"""

import os
import re
import shutil
import socket
import unittest

import harness
from test_screen import Screen, server_row


def hold_port(test, port):
    """Listen on 127.0.0.1:PORT until the test ends."""
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", port))
    holder.listen(1)
    test.addCleanup(holder.close)
    return holder


@unittest.skipIf(shutil.which("tmux") is None, "tmux is not installed")
class ServersPaneTests(harness.ProductTest):
    USERS = []
    SERVE = False

    def open_screen(self, **options):
        screen = Screen(self.product, **options)
        self.addCleanup(screen.close)
        return screen

    def write_tls(self, pop3_tls, smtp_tls):
        """Settings with implicit TLS ports of five digits."""
        text = open(self.product.conf).read()
        text = text.replace(
            "[pop3]\n", "[pop3]\nstarttls = yes\ntls_port = %d\n"
            "legacy_tls = yes\n" % pop3_tls, 1)
        text = text.replace(
            "[smtp]\n", "[smtp]\nstarttls = no\ntls_port = %d\n"
            % smtp_tls, 1)
        with open(self.product.conf, "w") as f:
            f.write(text)

    def test_tls_column_shows_whole_port(self):
        pop3_tls, smtp_tls = 49541, 41383
        self.write_tls(pop3_tls, smtp_tls)
        for cols in (80, 160):
            screen = Screen(self.product, cols=cols, rows=24)
            try:
                screen.wait(r"^POP3 ")
                text = screen.text()
                self.assertIn("STLS+TLS:%d!" % pop3_tls,
                              server_row(text, "POP3"), text)
                self.assertIn("TLS:%d" % smtp_tls,
                              server_row(text, "SMTP"), text)
                # The counters keep their columns under their headings.
                self.assertRegex(text, r"(?m)^Server +State +Address +TLS "
                                 r"+Active +Sess\S* +Mess", text)
                self.assertNotIn("TLS 1.0 and 1.1 are on", text)
                screen.keys("q")
                screen.wait("EXIT=0")
            finally:
                screen.close()

    def select_setting(self, screen, label):
        for _ in range(80):
            if re.search(r"^>" + re.escape(label) + " ", screen.text(),
                         re.M):
                return
            screen.keys("Down")
        self.fail("no setting %s in the form:\n%s" % (label, screen.text()))

    def type_setting(self, screen, label, value):
        """Select LABEL in the Settings form and type VALUE over it."""
        self.select_setting(screen, label)
        screen.keys("Enter", *(["BSpace"] * 40))
        screen.keys(value)

    def test_start_both_shows_both_failures(self):
        hold_port(self, self.product.pop3_port)
        hold_port(self, self.product.smtp_port)
        screen = self.open_screen()
        screen.wait(r"Users \(0\)")
        screen.keys("t")
        screen.wait("Which server")
        screen.keys("Enter")
        screen.wait("The POP3 server could not start")
        screen.wait("The SMTP server could not start")
        # One dialog contains both failures.
        screen.keys("Enter")
        screen.wait(r"^POP3 +failed")
        screen.wait(r"^SMTP +failed")
        self.assertNotIn("Press Enter to close", screen.text())
        screen.keys("q")
        screen.wait("EXIT=0")

    def test_restart_starts_failed_server(self):
        holder = hold_port(self, self.product.smtp_port)
        screen = self.open_screen(cols=100)
        screen.wait(r"Users \(0\)")
        screen.keys("t")
        screen.wait("Which server")
        screen.keys("Enter")
        screen.wait("The SMTP server could not start")
        screen.keys("Enter")
        screen.wait(r"^POP3 +running")
        screen.wait(r"^SMTP +failed")
        holder.close()

        # A change saved while POP3 runs waits for the restart, which
        # starts the failed SMTP server too.
        screen.keys("s")
        screen.wait(r"^Settings: ")
        self.type_setting(screen, "[pop3] idle_timeout", "900")
        screen.keys("Enter")
        screen.wait(r"^>\[pop3\] idle_timeout +900")
        screen.keys("F2")
        screen.wait("Restart the running servers now")
        screen.keys("y")
        screen.keys("Escape")
        screen.wait(r"^SMTP +running +127\.0\.0\.1:%d" %
                    self.product.smtp_port)
        screen.wait(r"^POP3 +running")
        self.assertTrue(harness.wait_port(self.product.smtp_port))
        screen.keys("q")
        screen.wait("EXIT=0")

    def test_restart_names_server_still_failed(self):
        screen = self.open_screen(cols=100)
        screen.wait(r"Users \(0\)")
        screen.keys("t")
        screen.wait("Which server")
        screen.keys("Enter")
        screen.wait(r"^SMTP +running")
        taken = harness.free_ports(1)[0]
        hold_port(self, taken)
        screen.keys("s")
        screen.wait(r"^Settings: ")
        self.type_setting(screen, "[smtp] port", str(taken))
        screen.keys("Enter")
        screen.keys("F2")
        screen.wait("Restart the running servers now")
        screen.keys("y", "Escape")
        screen.wait("The SMTP server could not start")
        screen.wait("already in use")
        screen.keys("Enter")
        screen.wait(r"^SMTP +failed")
        self.assertNotIn("The servers restarted", screen.text())
        screen.wait(r"^POP3 +running")
        screen.keys("q")
        screen.wait("EXIT=0")

    def test_form_refuses_same_port(self):
        screen = self.open_screen()
        screen.wait(r"Users \(0\)")
        screen.keys("s")
        screen.wait(r"^Settings: ")
        self.type_setting(screen, "[smtp] port", str(self.product.pop3_port))
        screen.wait(r"port in \[pop3\] and port in \[smtp\] are both "
                    r"port %d" % self.product.pop3_port)
        screen.keys("Enter")
        # Enter keeps the field open while the value is refused.
        self.assertRegex(screen.text(), r"Enter accepts the value")
        screen.keys("Escape")
        screen.wait(r"^>\[smtp\] port +%d" % self.product.smtp_port)
        screen.keys("Escape", "q")
        screen.wait("EXIT=0")

    def test_own_port_named_in_failure(self):
        # 127.1 is 127.0.0.1 spelled so the settings check cannot tell.
        text = open(self.product.conf).read()
        text = text.replace("[smtp]\nlisten = 127.0.0.1\nport = %d" %
                            self.product.smtp_port,
                            "[smtp]\nlisten = 127.1\nport = %d" %
                            self.product.pop3_port)
        with open(self.product.conf, "w") as f:
            f.write(text)
        screen = self.open_screen()
        screen.wait(r"Users \(0\)")
        screen.keys("t")
        screen.wait("Which server")
        screen.keys("Enter")
        screen.wait("The SMTP server could not start")
        screen.wait("already in use by the POP3 server of this exoconnect")
        self.assertNotIn("stop the program listening", screen.text())
        screen.keys("Enter", "q")
        screen.wait("EXIT=0")


if __name__ == "__main__":
    unittest.main()
