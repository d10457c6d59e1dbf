"""OAuth tokens: refresh, rotation, shared refreshes, failures, HTTP proxy."""

import base64
import json
import os
import socket
import threading
import time

from harness import (MAILBOX, POP_SCOPE, SMTP_SCOPE, ProductTest, Raw, b64,
                     wait_for)

EXPIRED = 4000		# seconds: more than the access token's 3599
PAST_BACKOFF = 700	# seconds: more than the longest back-off (10 min)


class TokenTest(ProductTest):

    def warm_up(self):
        """Log in once so serve caches an access token; return the reply."""
        raw, reply = self.pop3_login()
        self.assertEqual(reply[:3], "+OK", reply)
        raw.cmd("QUIT")
        return reply

    def smtp_auth(self):
        raw = self.smtp_connect()
        return self.smtp_auth_plain(raw)

    def refreshes(self):
        return self.doubles.refresh_requests()

    def test_refresh_request_fields(self):
        self.warm_up()
        self.product.advance(EXPIRED)
        self.warm_up()
        request = self.refreshes()[-1]
        self.assertEqual(request["path"], "/common/oauth2/v2.0/token")
        self.assertTrue(request["content_type"].startswith(
            "application/x-www-form-urlencoded"), request["content_type"])
        form = request["form"]
        self.assertEqual(form["grant_type"], "refresh_token")
        self.assertEqual(form["client_id"], self.product_client_id())
        self.assertTrue(form["refresh_token"])
        self.assertNotIn("client_secret", form)
        scopes = form["scope"].split()
        for scope in (POP_SCOPE, SMTP_SCOPE, "offline_access"):
            self.assertIn(scope, scopes)
        self.assertIn("scope=https%3A%2F%2Foutlook.office.com%2F",
                      request["body"])

    def product_client_id(self):
        with open(self.product.conf) as f:
            for line in f:
                if line.startswith("client_id"):
                    return line.split("=", 1)[1].strip()
        return ""

    def test_rotation_survives_restarts(self):
        for _ in range(3):
            self.product.advance(EXPIRED)
            self.warm_up()
            self.assertEqual(self.product.stop(), 0)
            self.product.serve()
        tokens = [t for t in self.doubles.state()["refresh_tokens"]
                  if t["mailbox"] == MAILBOX]
        refreshes = self.refreshes()
        self.assertGreaterEqual(len(refreshes), 3)
        for request in refreshes:
            self.assertEqual(request["status"], 200, request.get("error"))
        newest = max(tokens, key=lambda t: t["seq"])
        self.assertFalse(newest["used"])
        self.assertTrue(all(t["used"] for t in tokens if t is not newest))
        # Each refresh spent the token the previous one returned.
        spent = [r["form"]["refresh_token"] for r in refreshes]
        self.assertEqual(len(set(spent)), len(spent))

    def test_secrets_readable_by_owner_only(self):
        self.warm_up()
        files = self.product.secrets_files()
        self.assertTrue(files)
        for path in files:
            mode = os.stat(path).st_mode & 0o777
            self.assertEqual(mode & 0o077, 0, "%s has mode %o" % (path, mode))

    def test_reply_without_refresh_token_keeps_old(self):
        self.warm_up()
        self.product.advance(EXPIRED)
        self.doubles.script("token", grant="refresh_token",
                            omit_refresh_token=True)
        self.warm_up()
        kept = self.refreshes()[-1]["form"]["refresh_token"]
        self.product.advance(EXPIRED)
        self.warm_up()
        last = self.refreshes()[-1]
        self.assertEqual(last["form"]["refresh_token"], kept)
        self.assertEqual(last["status"], 200)

    def test_disk_full_withholds_new_token(self):
        # A rotated refresh token that cannot be saved must not lead to a
        # login with its access token, and the old store stays complete.
        self.product.stop()
        env = dict(self.product.env, EXO_TEST_WRITE_FAIL="secrets")
        self.product.serve(env=env)
        before = self.product.secrets_files()
        raw, reply = self.pop3_login()
        self.assertTrue(reply.startswith("-ERR [SYS/TEMP] "), reply)
        self.assertEqual(len(self.refreshes()), 1)
        self.assertEqual([s for s in self.doubles.state()["pop3_sessions"]
                          if s.get("auth")], [])
        self.assertEqual(self.product.secrets_files(), before)
        log = self.product.log().lower()
        self.assertTrue("disk" in log or "space" in log)

    def test_new_token_on_disk_before_upstream_login(self):
        self.warm_up()
        self.doubles.config(pop3_greeting_delay=30)
        self.product.advance(EXPIRED)
        count = len(self.refreshes())
        login, password = self.login()
        sock = socket.create_connection(("127.0.0.1",
                                         self.product.pop3_port))
        self.addCleanup(sock.close)
        sock.sendall(("USER %s\r\nPASS %s\r\n" % (login, password)).encode())
        self.assertTrue(wait_for(lambda: len(self.refreshes()) > count,
                                 timeout=20))
        time.sleep(0.5)
        self.product.kill()
        issued = [t for t in self.doubles.state()["refresh_tokens"]
                  if not t["used"]]
        self.assertEqual(len(issued), 1)
        self.doubles.config(pop3_greeting_delay=0)
        self.product.serve()
        self.product.advance(EXPIRED)
        self.warm_up()
        last = self.refreshes()[-1]
        self.assertEqual(last["status"], 200, last.get("error"))
        self.assertEqual(last["form"]["refresh_token"], issued[0]["token"])

    def test_concurrent_logins_share_refresh(self):
        self.warm_up()
        self.product.advance(EXPIRED)
        count = len(self.refreshes())
        self.doubles.script("token", grant="refresh_token", delay=0.3)
        login, password = self.login()
        payload = b64("\0%s\0%s" % (login, password))
        self.extra_secrets.append(payload)
        barrier = threading.Barrier(10)
        results = [None] * 10

        def pop3(i):
            raw = Raw(self.product.pop3_port)
            try:
                raw.text()
                raw.cmd("USER " + login)
                barrier.wait(10)
                results[i] = raw.cmd("PASS " + password).decode()
            finally:
                raw.close()

        def smtp(i):
            raw = Raw(self.product.smtp_port)
            try:
                raw.smtp_reply()
                if raw.cmd("EHLO mfp")[3:4] == b"-":
                    raw.smtp_reply()
                barrier.wait(10)
                results[i] = raw.cmd("AUTH PLAIN " + payload).decode()
            finally:
                raw.close()

        threads = [threading.Thread(target=pop3 if i % 2 else smtp,
                                    args=(i,)) for i in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        for reply in results:
            self.assertIsNotNone(reply)
            self.assertTrue(reply.startswith("+OK") or reply.startswith(
                "235 "), reply)
        self.assertEqual(len(self.refreshes()), count + 1)

    def test_concurrent_logins_share_failure(self):
        self.warm_up()
        self.product.advance(EXPIRED)
        count = len(self.doubles.state()["token_requests"])
        self.doubles.script("token", grant="refresh_token", delay=0.3,
                            status=503)
        login, password = self.login()
        barrier = threading.Barrier(6)
        results = [None] * 6

        def pop3(i):
            raw = Raw(self.product.pop3_port)
            try:
                raw.text()
                raw.cmd("USER " + login)
                barrier.wait(10)
                results[i] = raw.cmd("PASS " + password).decode()
            finally:
                raw.close()

        threads = [threading.Thread(target=pop3, args=(i,))
                   for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        for reply in results:
            self.assertIsNotNone(reply)
            self.assertTrue(reply.startswith("-ERR [SYS/TEMP] "), reply)
        self.assertEqual(len(self.doubles.state()["token_requests"]),
                         count + 1)

    def slow_refresh_logins(self):
        """Start two logins 0.5 s apart while the refresh takes 45 s.

        Returns [(reply, seconds)] of the login that started the refresh
        and of the one that waited for it.
        """
        self.warm_up()
        self.product.advance(EXPIRED)
        self.doubles.script("token", grant="refresh_token", delay=45)
        login, password = self.login()
        results = [None, None]

        def pop3(i):
            raw = Raw(self.product.pop3_port, timeout=60)
            try:
                raw.text()
                raw.cmd("USER " + login)
                start = time.monotonic()
                reply = raw.cmd("PASS " + password).decode()
                results[i] = (reply, time.monotonic() - start)
            finally:
                raw.close()

        threads = []
        for i in range(2):
            threads.append(threading.Thread(target=pop3, args=(i,)))
            threads[-1].start()
            time.sleep(0.5)
        for t in threads:
            t.join(90)
        return results

    def test_waiter_gives_up_after_20_seconds(self):
        results = self.slow_refresh_logins()
        reply, seconds = results[1]
        self.assertTrue(reply.startswith("-ERR [SYS/TEMP] "), reply)
        self.assertGreater(seconds, 15)
        self.assertLess(seconds, 25)

    def test_first_login_replies_before_device_timeout(self):
        # Devices give up after 30 s at the least, so the login that
        # started the slow refresh must get its reply before that too.
        results = self.slow_refresh_logins()
        reply, seconds = results[0]
        self.assertTrue(reply.startswith("-ERR [SYS/TEMP] "), reply)
        self.assertLess(seconds, 25)

    def test_backoff_doubles_after_failures(self):
        self.warm_up()
        self.product.advance(EXPIRED)
        self.doubles.script("token", grant="refresh_token", status=503,
                            count=-1)
        expected = len(self.refreshes())
        # Attempts at 0 s, 5 s later, then 10 s later: each gap is a
        # back-off of 5 s doubling.
        for gap in (5, 10, 20):
            raw, reply = self.pop3_login()
            expected += 1
            self.assertEqual(len(self.refreshes()), expected)
            self.product.advance(gap - 1)
            raw, reply = self.pop3_login()
            self.assertTrue(reply.startswith("-ERR [SYS/TEMP] "), reply)
            self.assertEqual(len(self.refreshes()), expected,
                             "refresh sent before a back-off of %d s" % gap)
            self.product.advance(2)

    def test_retry_after_honoured(self):
        self.warm_up()
        self.product.advance(EXPIRED)
        self.doubles.script("token", grant="refresh_token", status=429,
                            retry_after=300, body="Too Many Requests")
        raw, reply = self.pop3_login()
        self.assertTrue(reply.startswith("-ERR [SYS/TEMP] "), reply)
        count = len(self.refreshes())
        self.product.advance(200)
        raw, reply = self.pop3_login()
        self.assertTrue(reply.startswith("-ERR [SYS/TEMP] "), reply)
        self.assertEqual(len(self.refreshes()), count)
        self.product.advance(150)
        raw, reply = self.pop3_login()
        self.assertEqual(reply[:3], "+OK", reply)
        self.assertEqual(len(self.refreshes()), count + 1)

    def test_idle_account_refreshed_in_background(self):
        self.warm_up()
        count = len(self.refreshes())
        self.product.advance(8 * 24 * 3600)
        # A request is listed when it arrives and gets its status when
        # answered, so wait for the answer.
        self.assertTrue(wait_for(lambda: len(self.refreshes()) > count and
                                 "status" in self.refreshes()[-1],
                                 timeout=15),
                        "no background refresh after 8 idle days")
        self.assertEqual(self.refreshes()[-1]["status"], 200)

    def test_refresh_token_dies_after_90_idle_days(self):
        self.warm_up()
        self.product.stop()
        # Stopped, so no background refresh keeps the token alive.
        self.product.advance(91 * 86400)
        self.product.serve()
        raw, reply = self.pop3_login()
        self.assertTrue(reply.startswith("-ERR [SYS/TEMP] "), reply)
        self.assertIn(MAILBOX, reply)
        user = self.product.user(self.login()[0])
        self.assertIn("700082", user["state_code"])
        self.assertEqual(self.product.run("user", "list", "--check")
                         .returncode, 1)

    def test_transient_failures_keep_tokens(self):
        self.warm_up()
        self.product.advance(EXPIRED)
        before = self.product.secrets_files()
        self.assertTrue(before)
        truncated = json.dumps({"token_type": "Bearer", "scope": POP_SCOPE,
                                "expires_in": 3599, "access_token": "x" * 64})
        steps = [
            ("connection refused", None, None),
            ("TLS failure", "conn", {"action": "garbage"}),
            ("connection dropped", "conn", {"action": "close"}),
            ("503", "token", {"status": 503}),
            ("429", "token", {"status": 429, "retry_after": 2,
                              "body": "Too Many Requests"}),
            ("502 HTML", "token", {"status": 502, "html": True}),
            ("temporarily_unavailable", "token",
             {"status": 400, "error": "temporarily_unavailable"}),
            ("truncated body", "token", {"status": 200, "body": truncated,
                                         "content_type": "application/json",
                                         "truncate": True}),
            ("dropped request", "token", {"drop": True}),
        ]
        for name, kind, spec in steps:
            with self.subTest(failure=name):
                if kind is None:
                    self.doubles.post("/identity/listen", {"on": False})
                else:
                    self.doubles.post("/script/" + kind, spec)
                try:
                    self.check_transient_failure(kind, before)
                finally:
                    self.doubles.post("/identity/listen", {"on": True})
                    self.doubles.post("/script/token/clear")
                    self.doubles.post("/script/conn/clear")
                    self.product.advance(PAST_BACKOFF)
        self.assertEqual(self.warm_up()[:3], "+OK")

    def test_admin_sees_refresh_and_retry(self):
        # The state shown to the admin names the token manager's current
        # work and why the last refresh failed.
        self.warm_up()
        self.assertEqual(self.product.user(self.login(MAILBOX)[0])["state"],
                         "valid")
        login, secret = self.login(MAILBOX)
        self.product.advance(EXPIRED)
        replies = []

        def device():
            raw = Raw(self.product.pop3_port)
            try:
                raw.text()
                raw.cmd("USER " + login)
                replies.append(raw.cmd("PASS " + secret).decode())
            finally:
                raw.close()

        # A refresh that the token endpoint completes after 2 s.
        self.doubles.post("/script/token", {"delay": 2})
        thread = threading.Thread(target=device)
        thread.start()
        try:
            seen = wait_for(lambda: self.product.user(login)["state"] ==
                            "refreshing", timeout=5, step=0.1)
        finally:
            thread.join(30)
        self.assertTrue(seen, "no refreshing state while the refresh ran")
        self.assertEqual(replies[0][:3], "+OK", replies)
        self.assertEqual(self.product.user(login)["state"], "valid")

        # The endpoint fails with 500: retrying, with the reason.
        self.product.advance(EXPIRED)
        self.doubles.post("/script/token", {"status": 500})
        raw, reply = self.pop3_login()
        self.assertTrue(reply.startswith("-ERR [SYS/TEMP] "), reply)
        user = self.product.user(login)
        self.assertEqual(user["state"], "retrying", user)
        self.assertIn("token endpoint returned status 500",
                      user["state_reason"])
        self.assertRegex(user["state_reason"], r"\(next try in [1-5] s\)$")
        text = self.product.run("user", "list").stdout.decode()
        self.assertIn("retrying", text)
        self.assertIn("token endpoint returned status 500", text)

        # After the backoff a refresh works again, and the state is valid.
        self.product.advance(PAST_BACKOFF)
        self.assertEqual(self.warm_up()[:3], "+OK")
        self.assertEqual(self.product.user(login)["state"], "valid")

    def check_transient_failure(self, kind, secrets_before):
        raw, reply = self.pop3_login()
        self.assertTrue(reply.startswith("-ERR [SYS/TEMP] "), reply)
        reply = self.smtp_auth()
        self.assertTrue(reply.startswith("454 4.7.0 "), reply)
        if kind is not None:
            self.assertEqual(self.doubles.state()["scripts"][kind], [],
                             "the product sent no request")
        self.assertEqual(self.product.secrets_files(), secrets_before)

    def test_smtp_temporary_reply_text(self):
        self.warm_up()
        self.product.advance(EXPIRED)
        self.doubles.script("token", status=503)
        self.assertEqual(self.smtp_auth(), "454 4.7.0 Temporary "
                         "authentication failure")

    def test_valid_token_used_while_refresh_fails(self):
        self.warm_up()
        count = len(self.refreshes())
        self.product.advance(3599 - 100)
        self.doubles.script("token", status=503, count=-1)
        self.assertEqual(self.warm_up()[:3], "+OK")
        self.assertEqual(self.smtp_auth(), "235 2.7.0 Authentication "
                         "successful")
        self.assertGreaterEqual(len(self.doubles.state()["token_requests"]),
                                count)

    def check_signin_required(self, code):
        self.warm_up()
        login = self.login()[0]
        healthy = self.product.user(login)["state"]
        self.product.advance(EXPIRED)
        self.doubles.script("token", grant="refresh_token", status=400,
                            error="invalid_grant", code=code,
                            suberror="token_expired")
        raw, reply = self.pop3_login()
        self.assertTrue(reply.startswith("-ERR [SYS/TEMP] "), reply)
        self.assertIn(MAILBOX, reply)
        self.assertTrue(self.smtp_auth().startswith("454 4.7.0 "))
        user = self.product.user(login)
        self.assertNotEqual(user["state"], healthy)
        self.assertIn(str(code), user["state_code"])
        self.assertTrue(user["state_reason"])
        self.assertEqual(self.product.run("user", "list", "--check")
                         .returncode, 1)
        count = len(self.refreshes())
        self.product.advance(3600)
        raw, reply = self.pop3_login()
        self.assertTrue(reply.startswith("-ERR [SYS/TEMP] "), reply)
        self.assertEqual(len(self.refreshes()), count)
        self.assertIn(str(code), self.product.log())
        return user

    def test_signin_required_mfa_70043(self):
        self.check_signin_required(70043)
        # Other accounts carry on.
        self.add_user("second@example.com")
        raw, reply = self.pop3_login("second@example.com")
        self.assertEqual(reply[:3], "+OK", reply)

    def test_signin_required_logins_counted(self):
        self.check_signin_required(50076)
        before = len(self.product.log().splitlines())
        for _ in range(6):
            raw, reply = self.pop3_login()
            self.assertTrue(reply.startswith("-ERR [SYS/TEMP] "), reply)
            raw.close()
        time.sleep(0.5)
        lines = self.product.log().splitlines()[before:]
        about = [line for line in lines if "50076" in line or
                 "sign" in line.lower()]
        self.assertLess(len(about), 6, "\n".join(about))

    def test_signin_required_expired_700082(self):
        self.check_signin_required(700082)

    def test_consent_required_65001(self):
        self.check_signin_required(65001)

    def test_missing_scope_is_settings_error(self):
        self.warm_up()
        self.product.advance(EXPIRED)
        self.doubles.script("token", grant="refresh_token", status=400,
                            error="invalid_request", code=900144)
        raw, reply = self.pop3_login()
        self.assertTrue(reply.startswith("-ERR [SYS/TEMP] "), reply)
        user = self.product.user(self.login()[0])
        self.assertIn("900144", user["state_code"] + user["state_reason"])


class TwoAccountsTest(ProductTest):
    USERS = [MAILBOX, "second@example.com"]

    def refreshes(self):
        return self.doubles.refresh_requests()

    def test_two_accounts_refresh_at_once(self):
        boxes = list(self.logins)
        for box in boxes:
            raw, reply = self.pop3_login(box)
            self.assertEqual(reply[:3], "+OK", reply)
        for _ in range(2):
            self.product.advance(EXPIRED)
            self.doubles.script("token", grant="refresh_token", delay=0.3,
                                count=2)
            results = {}

            def login(box):
                raw, reply = self.pop3_login(box)
                results[box] = reply

            threads = [threading.Thread(target=login, args=(box,))
                       for box in boxes]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            for box in boxes:
                self.assertEqual(results[box][:3], "+OK", results[box])
        for request in self.refreshes():
            self.assertEqual(request["status"], 200, request.get("error"))


class HttpProxyTest(ProductTest):
    USERS = []
    SERVE = False

    def use_proxy(self, proxy_url):
        self.product.write_conf(proxy=proxy_url)
        self.doubles.config(require_proxy=True)

    def test_token_requests_use_connect(self):
        port = self.doubles.ports["proxy"]
        self.use_proxy("http://127.0.0.1:%d" % port)
        self.add_user(MAILBOX)
        requests = self.doubles.state()["proxy_requests"]
        self.assertTrue(requests)
        for request in requests:
            self.assertEqual(request["method"], "CONNECT")
            self.assertEqual(request["target"], "localhost:%d"
                             % self.doubles.ports["identity"])
        self.product.serve()
        raw, reply = self.pop3_login()
        self.assertEqual(reply[:3], "+OK", reply)
        raw.cmd("QUIT")

        self.doubles.post("/proxy", {"mode": "407"})
        self.product.advance(EXPIRED)
        before = self.product.secrets_files()
        raw, reply = self.pop3_login()
        self.assertTrue(reply.startswith("-ERR [SYS/TEMP] "), reply)
        self.assertIn("requires authentication", self.product.log())
        self.assertEqual(self.product.secrets_files(), before)

        self.doubles.post("/proxy", {"mode": "502"})
        self.product.advance(PAST_BACKOFF)
        raw, reply = self.pop3_login()
        self.assertTrue(reply.startswith("-ERR [SYS/TEMP] "), reply)
        self.assertEqual(self.product.secrets_files(), before)

        self.doubles.post("/proxy", {"mode": "ok"})
        self.product.advance(PAST_BACKOFF)
        raw, reply = self.pop3_login()
        self.assertEqual(reply[:3], "+OK", reply)

    def test_mail_failure_names_proxy_scope(self):
        # Mail connections never use the HTTP proxy; when one fails with a
        # proxy set, the log says the proxy serves token requests only.
        port = self.doubles.ports["proxy"]
        self.use_proxy("http://127.0.0.1:%d" % port)
        self.add_user(MAILBOX)
        self.product.serve()
        self.doubles.config(tls_cert="untrusted")
        before = len(self.product.log().splitlines())
        raw, reply = self.pop3_login()
        self.assertTrue(reply.startswith("-ERR [SYS/TEMP] "), reply)
        time.sleep(0.5)
        lines = self.product.log().splitlines()[before:]
        self.assertTrue([line for line in lines if "proxy" in line.lower()],
                        "\n".join(lines))

    def test_proxy_password_sent_not_logged(self):
        port = self.doubles.ports["proxy"]
        self.doubles.post("/proxy", {"user": "puser",
                                     "password": "Pr0xyS3cretWord"})
        self.extra_secrets += ["Pr0xyS3cretWord",
                               b64("puser:Pr0xyS3cretWord")]
        self.use_proxy("http://puser:Pr0xyS3cretWord@127.0.0.1:%d" % port)
        self.add_user(MAILBOX)
        request = self.doubles.state()["proxy_requests"][0]
        self.assertEqual(request["proxy_authorization"], "Basic " + base64.
                         b64encode(b"puser:Pr0xyS3cretWord").decode())

    def test_https_proxy_environment(self):
        port = self.doubles.ports["proxy"]
        self.doubles.config(require_proxy=True)
        self.product.env["HTTPS_PROXY"] = "http://127.0.0.1:%d" % port
        self.add_user(MAILBOX)
        self.assertTrue(self.doubles.state()["proxy_requests"])
        self.product.env["NO_PROXY"] = "localhost"
        self.doubles.config(require_proxy=False)
        count = len(self.doubles.state()["proxy_requests"])
        self.add_user("second@example.com")
        self.assertEqual(len(self.doubles.state()["proxy_requests"]), count)


class TokenRecoveryTest(ProductTest):
    """Settings faults, the admin's test and per-protocol refusals."""

    def refreshes(self):
        return self.doubles.refresh_requests()

    def expire_and_fail(self, status, error, code):
        raw, reply = self.pop3_login()
        self.assertEqual(reply[:3], "+OK", reply)
        raw.cmd("QUIT")
        self.product.advance(EXPIRED)
        self.doubles.post("/expire", {})
        self.doubles.script("token", grant="refresh_token", status=status,
                            error=error, code=code)
        raw, reply = self.pop3_login()
        self.assertTrue(reply.startswith("-ERR [SYS/TEMP] "), reply)
        return reply

    def test_settings_error_keeps_refresh_token(self):
        # C28: invalid_client is a settings fault, not a rejected token:
        # after a restart the same refresh token works again.
        self.expire_and_fail(401, "invalid_client", 7000218)
        login = self.login()[0]
        user = self.product.user(login)
        self.assertIn("7000218", user["state_code"] + user["state_reason"])
        count = len(self.refreshes())
        raw, reply = self.pop3_login()
        self.assertTrue(reply.startswith("-ERR [SYS/TEMP] "), reply)
        self.assertEqual(len(self.refreshes()), count)
        self.assertEqual(self.product.stop(), 0)
        self.product.serve()
        raw, reply = self.pop3_login()
        self.assertEqual(reply[:3], "+OK", reply)
        self.assertEqual(len(self.refreshes()), count + 1)
        self.assertEqual(self.refreshes()[-1]["status"], 200)

    def test_user_test_sends_flagged_token(self):
        # The "Fix:" of user list: `user test` asks the token service
        # even for a flagged refresh token, and a success clears it.
        self.expire_and_fail(400, "invalid_grant", 50076)
        login = self.login()[0]
        count = len(self.refreshes())
        self.doubles.script("token", grant="refresh_token", status=400,
                            error="invalid_grant", code=50076)
        proc = self.product.run("user", "test", login)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("50076", proc.stdout.decode() + proc.stderr.decode())
        self.assertEqual(len(self.refreshes()), count + 1)
        proc = self.product.run("user", "test", login)
        self.assertEqual(proc.returncode, 0,
                         proc.stdout.decode() + proc.stderr.decode())
        self.assertEqual(len(self.refreshes()), count + 2)
        # serve looks at the store at most once a second.
        time.sleep(1.5)
        raw, reply = self.pop3_login()
        self.assertEqual(reply[:3], "+OK", reply)
        # serve refreshes once more, with the token the test stored.
        self.assertEqual(len(self.refreshes()), count + 3)
        self.assertEqual(self.refreshes()[-1]["status"], 200)

    def test_pop3_refusal_leaves_smtp_alone(self):
        # M3: a mailbox with POP3 disabled still sends mail over SMTP.
        raw, reply = self.pop3_login()
        self.assertEqual(reply[:3], "+OK", reply)
        raw.cmd("QUIT")
        self.doubles.post("/account", {"mailbox": MAILBOX,
                                       "pop_enabled": False})
        raw, reply = self.pop3_login()
        self.assertTrue(reply.startswith("-ERR [SYS/TEMP] "), reply)
        raw = self.smtp_connect()
        reply = self.smtp_auth_plain(raw)
        self.assertTrue(reply.startswith("235 "), reply)

    def test_invalid_proxy_refused_at_start(self):
        self.assertEqual(self.product.stop(), 0)
        self.product.write_conf(proxy="socks5://127.0.0.1:1")
        proc = self.product.run("user", "list")
        text = proc.stdout.decode() + proc.stderr.decode()
        self.assertNotEqual(proc.returncode, 0, text)
        self.assertIn("[network] proxy", text)
        self.assertIn(self.product.conf, text)
