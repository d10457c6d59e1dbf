"""End-to-end tests of the languages: command output follows LANG, and the
log file stays in English whatever the language.
"""

import json
import re
import unittest

import harness

# Kana and the CJK ideographs: any of them in the log is a translation.
CJK_RE = re.compile("[\u3040-\u30ff\u4e00-\u9fff]")


def language_env(product, lang):
    """The product's environment with LANG set and nothing overriding it."""
    env = dict(product.env)
    env.pop("LC_ALL", None)
    env.pop("LC_MESSAGES", None)
    env["LANG"] = lang
    return env


class CommandLanguageTest(harness.ProductTest):
    USERS = []
    SERVE = False

    def test_error_in_german(self):
        proc = self.product.run("user", "delete", "nosuch",
                                env=language_env(self.product,
                                                 "de_DE.UTF-8"))
        err = proc.stderr.decode("utf-8")
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn('kein Benutzer namens "nosuch"', err)
        self.assertNotIn("no user named", err)

        # The harness's C.UTF-8 is English.
        proc = self.product.run("user", "delete", "nosuch")
        self.assertIn('no user named "nosuch"', proc.stderr.decode("utf-8"))

    def test_wrapped_error_in_french(self):
        """A settings error with its file and line is French throughout."""
        with open(self.product.conf, "a") as f:
            f.write("[smtp]\nenabled = maybe\n")
        proc = self.product.run("user", "list",
                                env=language_env(self.product,
                                                 "fr_FR.UTF-8"))
        err = proc.stderr.decode("utf-8")
        self.assertNotEqual(proc.returncode, 0)
        self.assertRegex(err, r"exoconnect\.conf:\d+: enabled = maybe ")
        self.assertIn("n'est pas une valeur oui/non", err)
        self.assertNotIn("is not a yes/no value", err)

    def test_signin_advice_in_german(self):
        proc = self.product.popen("user", "add", "--device-code", "--json",
                                  env=language_env(self.product,
                                                   "de_DE.UTF-8"))
        first = json.loads(proc.stdout.readline())
        self.doubles.post("/device/decline",
                          {"user_code": first["user_code"]})
        status, out, err = self.product.finish(proc, timeout=30)
        self.assertNotEqual(status, 0)
        self.assertIn("Starten Sie die Anmeldung erneut und stimmen Sie "
                      "ihr zu.", err)
        self.assertNotIn("Start the sign-in again", err)


class LogLanguageTest(harness.ProductTest):
    SERVE = False

    def test_log_english_when_japanese(self):
        self.product.serve(env=language_env(self.product, "ja_JP.UTF-8"))
        raw = harness.Raw(self.product.pop3_port)
        self.addCleanup(raw.close)
        self.assertTrue(raw.text().startswith("+OK"))
        self.assertTrue(raw.cmd("FOO").startswith(b"-ERR"))
        self.assertTrue(raw.cmd("QUIT").startswith(b"+OK"))
        self.assertTrue(harness.wait_for(
            lambda: "ended: quit" in self.product.log()))
        log = self.product.log()
        self.assertIn("sent an unknown command", log)
        self.assertIsNone(CJK_RE.search(log), log)


if __name__ == "__main__":
    unittest.main()
