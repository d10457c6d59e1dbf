"""End-to-end tests of the curses screen, driven in tmux.

Each test runs the binary named by EXO_BIN with no command inside a
private tmux server (its own socket), types keys with send-keys and reads
the screen text with capture-pane, against the doubles that
tests/e2e/harness.py starts. The checks read text, not colours.
"""

import os
import poplib
import re
import shlex
import shutil
import smtplib
import subprocess
import time
import unittest

import harness

SESSION = "exo"
WAIT = 20		# seconds for the screen to show an expected text


class Screen:
    """One tmux server with the product running in its only window."""

    def __init__(self, product, cols=80, rows=24, extra_env=None):
        self.socket = "exo-tui-%d-%d" % (os.getpid(), id(self))
        script = os.path.join(product.dir, "screen.sh")
        env = {name: product.env[name] for name in
               ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME",
                "EXO_TEST_CLOCK_FILE")}
        env.update(extra_env or {})
        env.setdefault("LANG", "C.UTF-8")
        with open(script, "w") as f:
            f.write("#!/bin/sh\n")
            for name, value in env.items():
                f.write("export %s=%s\n" % (name, shlex.quote(value)))
            f.write("export ASAN_OPTIONS=detect_leaks=0\n")
            f.write("%s -c %s 2>>%s\necho EXIT=$?\nsleep 600\n" % (
                shlex.quote(product.bin), shlex.quote(product.conf),
                shlex.quote(os.path.join(product.dir, "screen.err"))))
        os.chmod(script, 0o755)
        self.tmux("new-session", "-d", "-s", SESSION, "-x", str(cols),
                  "-y", str(rows), script)

    def tmux(self, *args):
        return subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null"]
                              + list(args), capture_output=True,
                              timeout=10)

    def close(self):
        self.tmux("kill-server")

    def keys(self, *keys):
        for key in keys:
            self.tmux("send-keys", "-t", SESSION, key)
            time.sleep(0.15)

    def text(self):
        out = self.tmux("capture-pane", "-p", "-t", SESSION).stdout
        return out.decode("utf-8", "replace")

    def wait(self, pattern, timeout=WAIT):
        """Wait until the screen matches PATTERN; return the match."""
        found = harness.wait_for(
            lambda: re.search(pattern, self.text(), re.M), timeout, 0.1)
        if not found:
            raise AssertionError("the screen never showed %r; it shows:\n%s"
                                 % (pattern, self.text()))
        return found

    def resize(self, cols, rows):
        self.tmux("resize-window", "-t", SESSION, "-x", str(cols),
                  "-y", str(rows))


def server_row(text, name):
    """Return the words of the servers pane row of NAME ("POP3")."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return line.split()
    return []


def start_servers(screen, choice="Enter"):
    """Start both servers, or "2" POP3 only, "3" SMTP only."""
    screen.keys("t")
    screen.wait("Which server")
    screen.keys(choice)


@unittest.skipIf(shutil.which("tmux") is None, "tmux is not installed")
class ScreenTests(harness.ProductTest):
    USERS = []
    SERVE = False

    def open_screen(self, **options):
        screen = Screen(self.product, **options)
        self.addCleanup(screen.close)
        return screen

    def add_user_on_screen(self, screen):
        screen.keys("a")
        screen.wait("Login name for the devices")
        screen.keys("Enter")
        screen.wait("Mailbox address")
        screen.keys("Enter")
        screen.wait("device code")
        screen.keys("Enter")
        code = screen.wait(r"enter the code:  ([A-Z0-9-]+)").group(1)
        screen.wait(r"The code expires in 1[45]:\d\d")
        self.doubles.post("/device/approve",
                          {"user_code": code, "mailbox": harness.MAILBOX})
        password = screen.wait(r"Login password:  (\S+)").group(1)
        text = screen.text()
        self.assertIn("Mailbox:         " + harness.MAILBOX, text)
        self.assertIn("Login username:  mfp", text)
        self.assertIn("shown only once", text)
        self.extra_secrets.append(password)
        screen.keys("Enter")
        screen.wait(r"^mfp +mfp@example\.com +valid")
        return password

    def wait_counters(self, screen, name, sessions, messages):
        def ok():
            row = server_row(screen.text(), name)
            return len(row) >= 7 and row[5] == str(sessions) and \
                row[6] == str(messages)
        self.assertTrue(harness.wait_for(ok, WAIT),
                        "%s counters did not reach %d sessions, %d "
                        "messages:\n%s" % (name, sessions, messages,
                                           screen.text()))

    def select_setting(self, screen, label):
        for _ in range(80):
            if re.search(r"^>" + re.escape(label) + " ", screen.text(),
                         re.M):
                return
            screen.keys("Down")
        self.fail("no setting %s in the form:\n%s" % (label, screen.text()))

    def use_servers(self, password, smtp_port):
        self.doubles.seed(harness.MAILBOX, [b"Subject: one\r\n\r\nbody\r\n"])
        pop = poplib.POP3("127.0.0.1", self.product.pop3_port, timeout=20)
        pop.user("mfp")
        pop.pass_(password)
        self.assertEqual(pop.stat()[0], 1)
        pop.retr(1)
        pop.quit()
        smtp = smtplib.SMTP("127.0.0.1", smtp_port, timeout=20)
        smtp.login("mfp", password)
        smtp.sendmail(harness.MAILBOX, ["printer@example.org"],
                      "Subject: scan\r\n\r\nscan\r\n")
        smtp.quit()

    def test_whole_admin_session(self):
        screen = self.open_screen()
        screen.wait(r"Users \(0\)")
        self.assertIn("1Help", screen.text())
        self.assertIn("10Quit", screen.text())

        password = self.add_user_on_screen(screen)

        screen.keys("t")
        screen.wait("Which server")
        screen.keys("Enter")
        screen.wait(r"^POP3 +running +127\.0\.0\.1:%d" %
                    self.product.pop3_port)
        screen.wait(r"^SMTP +running +127\.0\.0\.1:%d" %
                    self.product.smtp_port)

        self.use_servers(password, self.product.smtp_port)
        self.wait_counters(screen, "POP3", 1, 1)
        self.wait_counters(screen, "SMTP", 1, 1)
        screen.wait(r"^mfp +mfp@example\.com +valid +\d\d-\d\d \d\d:\d\d "
                    r"\d\d-\d\d \d\d:\d\d")

        # A port changed while the servers run applies after a restart.
        new_port = harness.free_ports(1)[0]
        screen.keys("s")
        screen.wait(r"^Settings: ")
        self.select_setting(screen, "[smtp] port")
        screen.keys("Enter", *(["BSpace"] * 6))
        screen.keys("x")
        screen.wait("port = x is not")
        screen.keys("BSpace", str(new_port), "Enter")
        screen.wait(r"^>\[smtp\] port +%d" % new_port)
        screen.keys("F2")
        screen.wait("Restart the running servers now")
        screen.keys("y")
        with open(self.product.conf) as f:
            self.assertIn("port = %d" % new_port, f.read())
        screen.keys("Escape")
        screen.wait(r"^SMTP +running +127\.0\.0\.1:%d" % new_port)
        smtp = smtplib.SMTP("127.0.0.1", new_port, timeout=20)
        self.assertEqual(smtp.noop()[0], 250)
        smtp.quit()

        screen.keys("o")
        screen.wait("Which server")
        screen.keys("Enter")
        screen.wait(r"^POP3 +stopped")
        screen.wait(r"^SMTP +stopped")

        screen.keys("d")
        screen.wait(r"Delete the user mfp \(mfp@example\.com\)")
        screen.keys("y")
        screen.wait(r"Users \(0\)")
        proc = self.product.run("user", "list", "--json")
        self.assertEqual(proc.stdout.strip(), b"[]")

        screen.keys("q")
        screen.wait("EXIT=0")

    def test_start_failure_shows_fix(self):
        port_holder = harness.socket.socket()
        port_holder.bind(("127.0.0.1", self.product.pop3_port))
        port_holder.listen(1)
        self.addCleanup(port_holder.close)
        screen = self.open_screen()
        screen.wait(r"Users \(0\)")
        screen.keys("t")
        screen.wait("Which server")
        screen.keys("2")
        screen.wait("The POP3 server could not start")
        screen.wait("already in use: stop the program listening")
        screen.keys("Enter")
        screen.wait(r"^POP3 +failed +address 127\.0\.0\.1:%d is already" %
                    self.product.pop3_port)
        screen.keys("q")
        screen.wait("EXIT=0")

    def test_first_run_opens_settings(self):
        self.product.write_conf(client_id="")
        screen = self.open_screen()
        screen.wait(r"^Settings: ")
        text = screen.text()
        self.assertIn("client_id", text)
        self.assertRegex(text, r"(?m)^>\[microsoft\] client_id")
        self.assertIn("App registrations", text)
        screen.keys("Escape")
        screen.wait(r"Users \(0\)")
        screen.keys("q")
        screen.wait("EXIT=0")

    def test_missing_file_written_then_settings(self):
        os.remove(self.product.conf)
        screen = self.open_screen()
        screen.wait(r"^Settings: ")
        self.assertRegex(screen.text(), r"(?m)^>\[microsoft\] client_id")
        self.assertTrue(os.path.exists(self.product.conf))
        screen.keys("Escape")
        screen.keys("q")
        screen.wait("EXIT=0")

    def test_invalid_file_shown_until_fixed(self):
        with open(self.product.conf) as f:
            good = f.read()
        with open(self.product.conf, "w") as f:
            f.write("[imap]\n")
        screen = self.open_screen()
        screen.wait("could not open its settings")
        screen.wait(r"exoconnect\.conf:1: unknown section \[imap\]")
        with open(self.product.conf, "w") as f:
            f.write(good)
        screen.keys("r")
        screen.wait(r"Users \(0\)")
        screen.keys("q")
        screen.wait("EXIT=0")

    def test_unknown_term_and_monochrome(self):
        for term in ("no-such-terminal", "vt100"):
            screen = Screen(self.product, extra_env={"TERM": term})
            try:
                screen.wait(r"Users \(0\)")
                screen.keys("h")
                screen.wait("Keys \\(function key or letter\\)")
                screen.keys("Escape", "q")
                screen.wait("EXIT=0")
            finally:
                screen.close()

    def test_dumb_terminal_refused(self):
        screen = self.open_screen(extra_env={"TERM": "dumb"})
        screen.wait("EXIT=1")
        with open(os.path.join(self.product.dir, "screen.err")) as f:
            self.assertIn("this terminal (TERM=dumb) cannot show the "
                          "screen", f.read())

    def test_small_terminal_message(self):
        screen = self.open_screen(cols=70, rows=20)
        screen.wait("needs a terminal of at least 80x24; this one is 70x20")
        screen.resize(80, 24)
        screen.wait(r"Users \(0\)")
        screen.keys("Escape")
        screen.keys("q")
        screen.wait("EXIT=0")

    def test_autostart_resumes_servers(self):
        self.product.write_conf(extra="[ui]\nautostart = yes\n")
        screen = self.open_screen()
        screen.wait(r"Users \(0\)")
        start_servers(screen, "2")
        screen.wait(r"^POP3 +running")
        screen.keys("q")
        screen.wait("EXIT=0")
        screen.close()

        screen = self.open_screen()
        screen.wait(r"^POP3 +running")
        self.assertRegex(screen.text(), r"(?m)^SMTP +stopped")
        screen.keys("q")
        screen.wait("EXIT=0")

    def test_quit_asks_while_sessions_open(self):
        screen = self.open_screen()
        screen.wait(r"Users \(0\)")
        start_servers(screen, "2")
        screen.wait(r"^POP3 +running")
        device = harness.Raw(self.product.pop3_port)
        self.addCleanup(device.close)
        self.assertTrue(device.text().startswith("+OK"))
        screen.wait(r"^POP3 +running +\S+ +\S+ +1 ")
        screen.keys("q")
        screen.wait("1 device sessions are open")
        screen.keys("n")
        screen.wait(r"^POP3 +running")
        screen.keys("q")
        screen.wait("device sessions are open")
        screen.keys("y")
        screen.wait("EXIT=0", timeout=40)
        self.assertTrue(device.closed())

    def test_no_terminal_prints_help(self):
        proc = subprocess.run([self.bin, "-c", self.product.conf],
                              stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=30,
                              env=self.product.env)
        self.assertEqual(proc.returncode, 2)
        self.assertIn(b"Usage: exoconnect", proc.stderr)


if __name__ == "__main__":
    unittest.main()


@unittest.skipIf(shutil.which("tmux") is None, "tmux is not installed")
class UserDialogTests(harness.ProductTest):
    """The dialogs on an existing user, added with `user add`."""

    SERVE = False

    def open_screen(self):
        screen = Screen(self.product)
        self.addCleanup(screen.close)
        screen.wait(r"^mfp +mfp@example\.com +valid")
        return screen

    def test_password_generate_then_login(self):
        screen = self.open_screen()
        start_servers(screen, "2")
        screen.wait(r"^POP3 +running")
        screen.keys("p")
        screen.wait("Generate a new password")
        screen.keys("1")
        password = screen.wait(r"Login password:  (\S+)").group(1)
        self.extra_secrets.append(password)
        self.assertNotEqual(password, self.login()[1])
        self.assertIn("shown only once", screen.text())
        screen.keys("Enter")
        screen.wait("mfp has a new password")
        raw, reply = self.pop3_login(password=password)
        self.assertTrue(reply.startswith("+OK"), reply)
        raw.close()
        screen.keys("q")
        screen.wait("EXIT=0")

    def test_token_retry_shown_in_state(self):
        # A transient token failure shows as "retrying" with its reason.
        screen = self.open_screen()
        start_servers(screen, "2")
        screen.wait(r"^POP3 +running")
        self.doubles.post("/script/token", {"status": 500})
        raw, reply = self.pop3_login()
        self.assertTrue(reply.startswith("-ERR [SYS/TEMP] "), reply)
        raw.close()
        screen.wait(r"^mfp +mfp@example\.com +retrying ")
        screen.wait(r"^mfp: +the token endpoint returned status 500")
        screen.keys("q")
        screen.wait("EXIT=0")

    def test_test_shows_each_step(self):
        screen = self.open_screen()
        screen.keys("e")
        screen.wait("Every step passed", timeout=60)
        text = screen.text()
        self.assertRegex(text, r"POP3|pop3")
        self.assertRegex(text, r"SMTP|smtp")
        screen.keys("Enter")
        screen.keys("q")
        screen.wait("EXIT=0")

    def test_resign_in_keeps_password(self):
        screen = self.open_screen()
        screen.keys("r")
        screen.wait("device code")
        screen.keys("1")
        code = screen.wait(r"enter the code:  ([A-Z0-9-]+)").group(1)
        self.doubles.post("/device/approve",
                          {"user_code": code, "mailbox": harness.MAILBOX})
        screen.wait("mfp signed in again as mfp@example.com")
        self.assertEqual(self.product.user("mfp")["state"], "valid")
        screen.keys("q")
        screen.wait("EXIT=0")

    def test_cancel_add_stores_nothing(self):
        screen = self.open_screen()
        screen.keys("a", "Enter", "Enter", "1")
        screen.wait(r"enter the code:  [A-Z0-9]")
        screen.keys("Escape")
        screen.wait("Sign-in cancelled; nothing was stored")
        self.assertEqual(len(self.product.users()), 1)
        screen.keys("q")
        screen.wait("EXIT=0")

    def test_log_view_search(self):
        screen = self.open_screen()
        start_servers(screen, "3")
        screen.wait(r"^SMTP +running")
        screen.keys("l")
        screen.wait(r"^Log: \d+ lines")
        screen.keys("/")
        screen.wait("Text to find")
        screen.keys("SMTP server listening", "Enter")
        screen.wait(r"^Search: SMTP server listening$")
        self.assertIn("SMTP server listening on 127.0.0.1", screen.text())
        screen.keys("/")
        screen.wait("Text to find")
        screen.keys(*(["BSpace"] * 25))
        screen.keys("nothing-like-this", "Enter")
        screen.wait(r"\(not found\)")
        screen.keys("Escape")
        screen.wait(r"Users \(1\)")
        screen.keys("F10")
        screen.wait("EXIT=0")
