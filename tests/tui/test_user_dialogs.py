"""The user dialogs of the screen, driven in tmux: User settings,
Password and Test, in English and in Japanese.
"""

import os
import re
import shutil
import unittest

import harness
from test_screen import Screen


def users_conf(product):
    with open(os.path.join(product.dir, "users.conf")) as f:
        return f.read()


@unittest.skipIf(shutil.which("tmux") is None, "tmux is not installed")
class UserDialogTests(harness.ProductTest):
    SERVE = False

    def open_screen(self, **options):
        screen = Screen(self.product, **options)
        self.addCleanup(screen.close)
        screen.wait(r"^mfp +mfp@example\.com")
        return screen

    def test_user_settings_show_and_flip(self):
        proc = self.product.run("user", "set", "mfp",
                                "encode_utf8_headers=yes",
                                "relabel_iso2022jp=yes")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        screen = self.open_screen()
        screen.keys("u")
        screen.wait("Choose one to change")
        text = screen.text()
        self.assertRegex(text, r"encode_utf8_headers +yes")
        self.assertRegex(text, r"relabel_iso2022jp +yes")
        self.assertRegex(text, r"accept_legacy_charset +no")

        # A yes/no setting flips without a text field.
        screen.keys("4")
        screen.wait("Set encode_utf8_headers of mfp")
        self.assertRegex(users_conf(self.product),
                         r"encode_utf8_headers = (no|0)")
        screen.keys("u")
        screen.wait("Choose one to change")
        self.assertRegex(screen.text(), r"encode_utf8_headers +no")
        screen.keys("5")
        screen.wait("Set relabel_iso2022jp of mfp")
        self.assertNotRegex(users_conf(self.product),
                            r"relabel_iso2022jp = (yes|1)")
        screen.keys("u")
        screen.wait("Choose one to change")
        screen.keys("2")
        screen.wait("Set sender of mfp")
        self.assertIn("sender_policy = rewrite", users_conf(self.product))
        screen.keys("q")
        screen.wait("EXIT=0")

    def test_password_title_in_japanese(self):
        screen = self.open_screen(extra_env={"LANG": "ja_JP.UTF-8"})
        screen.keys("p")
        screen.wait("ログインパスワード")
        self.assertNotRegex(screen.text(), r"─ PW ")
        screen.keys("Escape", "q")
        screen.wait("EXIT=0")

    def test_test_steps_in_japanese(self):
        screen = self.open_screen(extra_env={"LANG": "ja_JP.UTF-8"})
        screen.keys("e")
        screen.wait("SMTP XOAUTH2 ログイン: ok", timeout=60)
        text = screen.text()
        self.assertIn("トークン更新: ok", text)
        self.assertNotIn("token refresh", text)
        screen.keys("Enter", "q")
        screen.wait("EXIT=0")


if __name__ == "__main__":
    unittest.main()
