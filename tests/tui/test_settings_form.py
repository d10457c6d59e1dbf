"""The Settings form of the screen, driven in tmux: checks while typing,
the device certificate fingerprint, and the language.
"""

import re
import shutil
import unittest

import harness
from test_screen import Screen


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


if __name__ == "__main__":
    unittest.main()
