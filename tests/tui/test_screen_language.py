"""End-to-end tests of the screen in Japanese, driven in tmux: the log pane
renders events with their phrases translated, while the log file keeps
the same events in English.
"""

import re
import shutil
import unittest

import harness
import test_settings_form
from test_screen import Screen

# Kana and the CJK ideographs: any of them in the log is a translation.
CJK_RE = re.compile("[\u3040-\u30ff\u4e00-\u9fff]")

# English phrases that events carry as parameters; the Japanese screen
# shows none of them.
ENGLISH_PHRASES = ("an unknown command", "device closed", ": quit",
                   " sent ", " ended")


@unittest.skipIf(shutil.which("tmux") is None, "tmux is not installed")
class JapaneseScreenTests(harness.ProductTest):
    USERS = []
    SERVE = False

    def test_log_pane_translates_event_phrases(self):
        screen = Screen(self.product, cols=160, rows=48,
                        extra_env={"LANG": "ja_JP.UTF-8", "LC_ALL": "",
                                   "LC_MESSAGES": ""})
        self.addCleanup(screen.close)
        screen.wait(r"ユーザー \(0\)")
        screen.keys("t")
        screen.wait("どのサーバーですか")
        screen.keys("2")
        screen.wait(r"(?m)^POP3 +実行中")

        device = harness.Raw(self.product.pop3_port)
        self.addCleanup(device.close)
        self.assertTrue(device.text().startswith("+OK"))
        self.assertTrue(device.cmd("FOO").startswith(b"-ERR"))
        self.assertTrue(device.cmd("QUIT").startswith(b"+OK"))

        screen.wait("デバイス 127.0.0.1 が 不明なコマンド を送信しました")
        screen.wait("終了しました: QUIT を受信")
        pane = screen.text()
        for phrase in ENGLISH_PHRASES:
            self.assertNotIn(phrase, pane)

        log = self.product.log()
        self.assertIn("sent an unknown command", log)
        self.assertIn("ended: quit", log)
        self.assertIsNone(CJK_RE.search(log), log)
        screen.keys("q")
        screen.wait("EXIT=0")


    def test_phrases_follow_language_change(self):
        """Log lines already shown are translated again, phrases too."""
        screen = Screen(self.product)
        self.addCleanup(screen.close)
        screen.wait(r"Users \(0\)")
        screen.keys("t")
        screen.wait("Which server")
        screen.keys("2")
        screen.wait(r"(?m)^POP3 +running")
        device = harness.Raw(self.product.pop3_port)
        self.addCleanup(device.close)
        self.assertTrue(device.text().startswith("+OK"))
        self.assertTrue(device.cmd("FOO").startswith(b"-ERR"))
        self.assertTrue(device.cmd("QUIT").startswith(b"+OK"))
        screen.wait("sent an unknown command")

        screen.keys("s")
        screen.wait(r"^Settings: ")
        test_settings_form.SettingsFormTests.select_setting(
            self, screen, "[ui] language")
        screen.keys("Enter", *(["BSpace"] * 10))
        screen.keys("de", "Enter")
        screen.wait(r"^>\[ui\] language +de")
        screen.keys("F2")
        found = screen.wait(r"Eingabetaste|Server neu starten")
        if found.group(0) != "Eingabetaste":
            screen.keys("n")
            screen.wait(r"Eingabetaste")
        screen.keys("Escape")
        screen.wait(r"Benutzer \(0\)")
        screen.wait("hat einen unbekannten Befehl gesendet")
        screen.wait("beendet: QUIT empfangen")
        self.assertNotIn("an unknown command", screen.text())
        screen.keys("q")
        screen.wait("EXIT=0")


if __name__ == "__main__":
    unittest.main()
