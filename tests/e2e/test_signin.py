"""Sign-in: device code, browser flow with PKCE, settings checks."""

import json
import signal
import time
import urllib.parse

from harness import CLIENT_ID, MAILBOX, POP_SCOPE, SMTP_SCOPE, ProductTest


class DeviceCodeTest(ProductTest):
    USERS = []
    SERVE = False

    def test_device_code_adds_user(self):
        first, second, status, err = self.product.add_user_device(MAILBOX)
        self.assertEqual(status, 0, err)
        for key in ("verification_uri", "user_code", "expires_in",
                    "message"):
            self.assertIn(key, first)
        self.assertEqual(first["verification_uri"],
                         "https://microsoft.com/devicelogin")
        self.assertIn(first["user_code"], first["message"])
        self.assertIsNotNone(second)
        self.extra_secrets.append(second["password"])
        self.assertEqual(second["mailbox"], MAILBOX)
        self.assertEqual(second["login"], "mfp")
        self.assertFalse(second["personal"])
        self.assertGreaterEqual(len(second["password"]), 8)

        users = self.product.users()
        self.assertEqual(len(users), 1)
        for key in ("login", "mailbox", "personal", "state", "state_code",
                    "state_reason", "last_pop3", "last_smtp",
                    "last_refresh"):
            self.assertIn(key, users[0])
        self.assertEqual(users[0]["mailbox"], MAILBOX)
        self.assertEqual(self.product.run("user", "list", "--check")
                         .returncode, 0)

        polls = [r for r in self.doubles.state()["token_requests"]
                 if r["grant_type"].endswith("device_code")]
        self.assertGreaterEqual(len(polls), 1)
        request = self.doubles.state()["token_requests"][0]
        self.assertEqual(request["path"], "/common/oauth2/v2.0/devicecode")
        scopes = request["form"]["scope"].split()
        for scope in (POP_SCOPE, SMTP_SCOPE, "offline_access"):
            self.assertIn(scope, scopes)
        self.assertNotIn("client_secret", polls[-1]["form"])

    def test_personal_account_flagged(self):
        self.doubles.post("/account", {"mailbox": "scan@outlook.com",
                                       "personal": True})
        _, second, status, err = self.product.add_user_device(
            "scan@outlook.com")
        self.assertEqual(status, 0, err)
        self.extra_secrets.append(second["password"])
        self.assertTrue(second["personal"])

    def test_device_code_declined(self):
        proc = self.product.popen("user", "add", "--device-code", "--json")
        first = json.loads(proc.stdout.readline())
        self.doubles.post("/device/decline", {"user_code":
                                              first["user_code"]})
        status, out, err = self.product.finish(proc, timeout=30)
        self.assertNotEqual(status, 0)
        self.assertEqual(self.product.users(), [])
        polls_after = [r for r in self.doubles.state()["token_requests"]
                       if r.get("error") == "authorization_declined"]
        self.assertEqual(len(polls_after), 1)

    def test_device_code_slow_down_and_expiry(self):
        # Virtual time: each sleep of the product moves its clock instead.
        self.doubles.config(device_interval=5, device_expires_in=60)
        grant = "urn:ietf:params:oauth:grant-type:device_code"
        self.doubles.script("token", grant=grant, status=400,
                            error="authorization_pending", code=70016)
        self.doubles.script("token", grant=grant, status=400,
                            error="authorization_pending", code=70016)
        self.doubles.script("token", grant=grant, status=400,
                            error="slow_down")
        env = dict(self.product.env, EXO_TEST_FAST_SLEEP="1")
        proc = self.product.popen("user", "add", "--device-code", "--json",
                                  env=env)
        status, out, err = self.product.finish(proc, timeout=60)
        self.assertNotEqual(status, 0)
        polls = [r for r in self.doubles.state()["token_requests"]
                 if r["grant_type"] == grant]
        # Polls at 5, 10, 15 (slow_down), then every 10 s: 25 ... 55, and
        # none after 60 s. Ignoring slow_down would give 12 polls.
        self.assertGreaterEqual(len(polls), 6)
        self.assertLessEqual(len(polls), 8)
        self.assertIn("expire", (out + err).lower())

    def test_device_code_cancel(self):
        proc = self.product.popen("user", "add", "--device-code", "--json")
        json.loads(proc.stdout.readline())
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        start = time.monotonic()
        status, out, err = self.product.finish(proc, timeout=10)
        self.assertLess(time.monotonic() - start, 5)
        self.assertNotEqual(status, 0)
        self.assertEqual(self.product.users(), [])

    def polls(self, grant):
        return len([r for r in self.doubles.state()["token_requests"]
                    if r["grant_type"] == grant])

    def test_device_code_ending_errors(self):
        grant = "urn:ietf:params:oauth:grant-type:device_code"
        for error in ("expired_token", "bad_verification_code"):
            with self.subTest(error=error):
                before = self.polls(grant)
                self.doubles.script("token", grant=grant, status=400,
                                    error=error, code=70019)
                proc = self.product.popen("user", "add", "--device-code",
                                          "--json")
                json.loads(proc.stdout.readline())
                status, out, err = self.product.finish(proc, timeout=30)
                self.assertNotEqual(status, 0)
                self.assertTrue(err.strip() or out.strip())
                time.sleep(1.5)
                self.assertEqual(self.polls(grant), before + 1,
                                 "polled again after %s" % error)
        self.assertEqual(self.product.users(), [])

    def test_mailbox_override(self):
        _, second, status, err = self.product.add_user_device(
            MAILBOX, extra=("--mailbox", "shared@example.com"))
        self.assertEqual(status, 0, err)
        self.extra_secrets.append(second["password"])
        self.assertEqual(second["mailbox"], "shared@example.com")
        self.assertEqual(self.product.users()[0]["mailbox"],
                         "shared@example.com")

    def test_public_client_hint(self):
        self.doubles.script("devicecode", status=400, error="invalid_client",
                            code=7000218)
        proc = self.product.popen("user", "add", "--device-code", "--json")
        status, out, err = self.product.finish(proc, timeout=30)
        self.assertNotEqual(status, 0)
        self.assertIn("public client", (out + err).lower())


class BrowserTest(ProductTest):
    USERS = []
    SERVE = False

    def test_browser_flow_adds_user(self):
        url, location, second, status, err = \
            self.product.add_user_browser(MAILBOX)
        self.assertEqual(status, 0, err)
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
        self.assertEqual(query["client_id"], CLIENT_ID)
        self.assertEqual(query["response_type"], "code")
        self.assertEqual(query["code_challenge_method"], "S256")
        self.assertTrue(query["state"])
        redirect = urllib.parse.urlsplit(query["redirect_uri"])
        self.assertEqual(redirect.scheme, "http")
        self.assertIn(redirect.hostname, ("localhost", "127.0.0.1"))
        self.assertIn("offline_access", query["scope"].split())
        self.assertIsNotNone(second)
        self.extra_secrets.append(second["password"])
        self.assertEqual(second["mailbox"], MAILBOX)
        self.assertEqual(self.product.users()[0]["mailbox"], MAILBOX)
        self.assertEqual(self.doubles.grant_count("authorization_code"), 1)

    def test_browser_access_denied(self):
        _, location, second, status, err = self.product.add_user_browser(
            MAILBOX, choice={"error": "access_denied"})
        self.assertIn("error=access_denied", location)
        self.assertNotEqual(status, 0)
        self.assertEqual(self.product.users(), [])
        self.assertEqual(self.doubles.grant_count("authorization_code"), 0)


class SettingsCheckTest(ProductTest):
    USERS = []
    SERVE = False

    def check_rejected(self, setting, **options):
        self.product.write_conf(**options)
        proc = self.product.popen("user", "add", "--device-code", "--json")
        status, out, err = self.product.finish(proc, timeout=30)
        self.assertNotEqual(status, 0)
        self.assertIn(setting, out + err)
        self.assertEqual(self.doubles.state()["token_requests"], [])

    def test_client_id_not_guid(self):
        self.check_rejected("client_id", client_id="your-client-id")

    def test_client_id_empty(self):
        self.check_rejected("client_id", client_id="")

    def test_authority_not_https(self):
        self.check_rejected("authority", authority="http://localhost:%d"
                            % self.doubles.ports["identity"])

    def test_tenant_empty(self):
        self.check_rejected("tenant", tenant="")
