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


if __name__ == "__main__":
    unittest.main()
