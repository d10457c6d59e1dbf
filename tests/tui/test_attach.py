"""The screen attached to a running `serve`, driven in tmux.

The serve runs in its own process. The screen opened on the same settings
attaches to it over the control channel: it shows the serve's servers,
counters and users and acts on them. Quitting the screen leaves the serve
running.
"""

import poplib
import shutil
import unittest

import harness
import test_screen
from test_screen import Screen, WAIT, server_row


@unittest.skipIf(shutil.which("tmux") is None, "tmux is not installed")
class AttachTests(harness.ProductTest):
    SERVE = True

    def open_screen(self):
        screen = Screen(self.product)
        self.addCleanup(screen.close)
        return screen

    def sessions(self, screen, name):
        row = server_row(screen.text(), name)
        return int(row[5]) if len(row) >= 7 and row[5].isdigit() else -1

    def test_screen_shows_serve_and_quit_leaves_it(self):
        screen = self.open_screen()
        screen.wait(r"^mfp +mfp@example\.com +valid")
        screen.wait(r"^POP3 +running +127\.0\.0\.1:%d" %
                    self.product.pop3_port)
        screen.wait(r"^SMTP +running +127\.0\.0\.1:%d" %
                    self.product.smtp_port)
        self.assertTrue(harness.wait_for(
            lambda: self.sessions(screen, "POP3") >= 0, WAIT))
        before = self.sessions(screen, "POP3")

        # A device session of the serve moves the screen's counters.
        login, password = self.login()
        pop = poplib.POP3("127.0.0.1", self.product.pop3_port, timeout=20)
        pop.user(login)
        pop.pass_(password)
        self.assertTrue(harness.wait_for(
            lambda: self.sessions(screen, "POP3") == before + 1, WAIT),
            screen.text())

        # The serve's log reaches the log pane.
        screen.wait(r"mfp logged in from 127\.0\.0\.1")

        # Quitting does not ask about the open session and keeps it.
        screen.keys("q")
        screen.wait("EXIT=0")
        self.assertIsNone(self.product.serve_proc.poll())
        self.assertEqual(pop.stat()[0], 0)
        pop.quit()
        self.assertTrue(harness.wait_port(self.product.pop3_port))

    def test_stop_on_screen_stops_serve_server(self):
        screen = self.open_screen()
        screen.wait(r"^SMTP +running")
        screen.keys("o")
        screen.wait("Which server")
        screen.keys("3")
        screen.wait(r"^SMTP +stopped")
        self.assertFalse(harness.wait_port(self.product.smtp_port,
                                           timeout=1))
        screen.keys("t")
        screen.wait("Which server")
        screen.keys("3")
        screen.wait(r"^SMTP +running")
        self.assertTrue(harness.wait_port(self.product.smtp_port))
        screen.keys("q")
        screen.wait("EXIT=0")
        self.assertIsNone(self.product.serve_proc.poll())


@unittest.skipIf(shutil.which("tmux") is None, "tmux is not installed")
class AttachedDialogTests(harness.ProductTest):
    """The user dialogs of the screen, acting on a running serve."""

    SERVE = True

    dialogs = test_screen.UserDialogTests
    open_screen = dialogs.open_screen
    test_test_shows_each_step = dialogs.test_test_shows_each_step
    test_resign_in_keeps_password = dialogs.test_resign_in_keeps_password
    test_cancel_add_stores_nothing = dialogs.test_cancel_add_stores_nothing


@unittest.skipIf(shutil.which("tmux") is None, "tmux is not installed")
class AttachedAddTests(harness.ProductTest):
    """A user added on the attached screen logs in through the serve."""

    USERS = []
    SERVE = True

    def test_add_user_then_login(self):
        screen = Screen(self.product)
        self.addCleanup(screen.close)
        screen.wait(r"Users \(0\)")
        add_user = test_screen.ScreenTests.add_user_on_screen
        password = add_user(self, screen)
        pop = poplib.POP3("127.0.0.1", self.product.pop3_port, timeout=20)
        pop.user("mfp")
        pop.pass_(password)
        pop.quit()
        screen.keys("q")
        screen.wait("EXIT=0")
        self.assertIsNone(self.product.serve_proc.poll())


if __name__ == "__main__":
    unittest.main()
