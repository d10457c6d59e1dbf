"""The curses screen of exoconnect.exe on wine's console, in tmux.

wine draws a console program's screen on the Unix terminal it runs in
and turns the terminal's input into console key events. "東" arrives as
a key event with character U+6771 and virtual key 0. Escape arrives as
virtual key VK_ESCAPE with character 0. Stock ncurses 6.4 read only the
ANSI character of such events; third_party/patches/ncurses makes it read
the Unicode one, which this test needs to see Japanese text typed.

wine must run in the terminal's foreground process group to read it, so
the script uses `timeout --foreground`: without it, timeout starts wine
in a process group of its own, and wine never receives a key.
"""

import os
import re
import shlex
import shutil
import subprocess
import time
import unittest

from harness import MAILBOX, ProductTest, wait_for

SESSION = "exo"
WAIT = 30               # seconds for the screen to show an expected text
RUN_TIMEOUT = 300       # seconds the program may run in the pane
NAME = "\u6771\u4eac\u00fc"     # 東京ü: two double-width characters, one Latin


@unittest.skipIf(shutil.which("tmux") is None, "tmux is not installed")
class WineScreenTest(ProductTest):
    """No user yet; the screen opens on the settings of the test."""

    USERS = []
    SERVE = False

    def setUp(self):
        super().setUp()
        self.exe = os.environ.get("EXO_WINE_EXE", "")
        self.assertTrue(os.path.isfile(self.exe), "EXO_WINE_EXE is not set")
        self.socket = "exo-wine-tui-%d" % os.getpid()
        script = os.path.join(self.product.dir, "screen.sh")
        names = ("WINEPREFIX", "WINEDEBUG", "WINEDLLOVERRIDES")
        with open(script, "w", encoding="utf-8") as f:
            f.write("#!/bin/sh\nunset DISPLAY\nexport LANG=C.UTF-8\n")
            for name in names:
                f.write("export %s=%s\n" % (name,
                                            shlex.quote(os.environ[name])))
            f.write("export EXO_TEST_CLOCK_FILE=%s\n"
                    % shlex.quote(self.product.clock_file))
            f.write("timeout --foreground -k 5 %d wine %s -c %s 2>>%s\n"
                    "rc=$?\necho\necho EXIT=$rc\nsleep 600\n" % (
                        RUN_TIMEOUT, shlex.quote(self.exe),
                        shlex.quote(self.product.conf),
                        shlex.quote(os.path.join(self.product.dir,
                                                 "screen.err"))))
        os.chmod(script, 0o755)
        self.tmux("new-session", "-d", "-s", SESSION, "-x", "80", "-y", "24",
                  script)
        self.addCleanup(self.tmux, "kill-server")

    def tmux(self, *args):
        return subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null"]
                              + list(args), capture_output=True,
                              timeout=10)

    def keys(self, *keys, literal=False):
        for key in keys:
            args = ["send-keys", "-t", SESSION]
            if literal:
                args.append("-l")
            self.tmux(*(args + [key]))
            time.sleep(0.3)

    def text(self):
        out = self.tmux("capture-pane", "-p", "-t", SESSION).stdout
        return out.decode("utf-8", "replace")

    def wait(self, pattern):
        found = wait_for(lambda: re.search(pattern, self.text(), re.M),
                         WAIT, 0.2)
        if not found:
            self.fail("the screen never showed %r; it shows:\n%s"
                      % (pattern, self.text()))
        return found

    def test_add_start_type_japanese_quit(self):
        self.wait(r"Users \(0\)")
        self.assertIn("10Quit", self.text())

        # Add a user by device code.
        self.keys("a")
        self.wait("Login name for the devices")
        self.keys("Enter")
        self.wait("Mailbox address")
        self.keys("Enter")
        self.wait("device code")
        self.keys("Enter")
        code = self.wait(r"enter the code:  ([A-Z0-9-]+)").group(1)
        self.doubles.post("/device/approve",
                          {"user_code": code, "mailbox": MAILBOX})
        password = self.wait(r"Login password:  (\S+)").group(1)
        self.extra_secrets.append(password)
        self.keys("Enter")
        self.wait(r"^mfp +mfp@example\.com +valid")

        # Start both servers.
        self.keys("t")
        self.wait("Which server")
        self.keys("Enter")
        self.wait(r"^POP3 +running +127\.0\.0\.1:%d" % self.product.pop3_port)
        self.wait(r"^SMTP +running +127\.0\.0\.1:%d" % self.product.smtp_port)

        # Type Japanese into a field. Escape, which wine sends as a
        # virtual key with character 0, closes the dialog.
        self.keys("a")
        self.wait("Login name for the devices")
        self.keys(NAME, literal=True)
        self.wait(re.escape(NAME))
        self.keys("BSpace")
        self.wait(re.escape(NAME[:2]) + r" +\u2502")
        self.keys("Escape")
        self.assertTrue(wait_for(lambda: "Login name for the devices"
                                 not in self.text(), WAIT, 0.2),
                        "Escape did not close the dialog:\n" + self.text())

        self.keys("q")
        self.wait(r"EXIT=0")
        self.assertEqual(self.product.run("user", "list", "--json")
                         .returncode, 0)
