"""The log of the screen, driven in tmux: the full log view wraps long
lines, and a screen attached to a serve starts with its recent events.
"""

import re
import shutil
import socket
import unittest

import harness
from test_screen import Screen


@unittest.skipIf(shutil.which("tmux") is None, "tmux is not installed")
class LogViewTests(harness.ProductTest):
    USERS = []
    SERVE = False

    def test_long_lines_wrap(self):
        holder = socket.socket()
        holder.bind(("127.0.0.1", self.product.pop3_port))
        holder.listen(1)
        self.addCleanup(holder.close)
        screen = Screen(self.product)
        self.addCleanup(screen.close)
        screen.wait(r"Users \(0\)")
        screen.keys("t")
        screen.wait("Which server")
        screen.keys("2")
        screen.wait("The POP3 server could not start")
        screen.keys("Enter", "l")
        screen.wait(r"^Log: \d+ lines")
        text = screen.text()
        # The title ends on its second row, and the failure's fix is
        # on the rows below its time.
        joined = re.sub(r"\s+", " ", text)
        self.assertIn("Esc returns", joined)
        self.assertIn("stop the program listening there or choose "
                      "another port", joined)
        self.assertRegex(text, r"(?m)^\d\d:\d\d:\d\d The POP3 server could")
        self.assertRegex(text, r"(?m)^ {9}\S")
        screen.keys("Escape", "q")
        screen.wait("EXIT=0")


@unittest.skipIf(shutil.which("tmux") is None, "tmux is not installed")
class AttachedLogTests(harness.ProductTest):
    SERVE = True

    def test_log_starts_with_serve_events(self):
        login, password = self.login()
        raw, reply = self.pop3_login()
        self.assertTrue(reply.startswith("+OK"), reply)
        raw.cmd("QUIT")
        raw.close()
        screen = Screen(self.product)
        self.addCleanup(screen.close)
        screen.wait(r"^POP3 +running")
        # The pane shows the newest events from before the screen opened.
        screen.wait(r"%s logged in from 127\.0\.0\.1" % login)
        # The full log has those of the serve's start too, in order.
        screen.keys("l")
        screen.wait(r"^Log: \d+ lines")
        screen.keys("Home")
        screen.wait(r"POP3 server listening on 127\.0\.0\.1 port %d" %
                    self.product.pop3_port)
        text = screen.text()
        self.assertLess(text.index("POP3 server listening"),
                        text.index("logged in from"), text)
        screen.keys("Escape", "q")
        screen.wait("EXIT=0")


if __name__ == "__main__":
    unittest.main()
