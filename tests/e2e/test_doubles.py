"""Checks of the doubles themselves with Python's own clients.

These run without the product, so a failure here points at the doubles
and not at exoconnect.
"""

import base64
import hashlib
import http.client
import json
import poplib
import secrets
import shutil
import smtplib
import ssl
import tempfile
import unittest
import urllib.parse

from harness import (CLIENT_ID, POP_SCOPE, SMTP_SCOPE, Doubles,
                     https_get_location, xoauth2_b64)

SCOPE = "%s %s offline_access openid profile email" % (POP_SCOPE, SMTP_SCOPE)


class DoublesTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="exo-doubles-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.doubles = Doubles(self.dir)
        self.addCleanup(self.doubles.stop)
        self.ctx = ssl.create_default_context(cafile=self.doubles.ca_file)

    def post(self, endpoint, form, tunnel=False):
        port = self.doubles.ports["identity"]
        if tunnel:
            conn = http.client.HTTPSConnection(
                "127.0.0.1", self.doubles.ports["proxy"], context=self.ctx,
                timeout=10)
            conn.set_tunnel("localhost", port)
            # The certificate names localhost, so check that name.
            conn.host = "localhost"
        else:
            conn = http.client.HTTPSConnection("localhost", port,
                                               context=self.ctx, timeout=10)
        body = urllib.parse.urlencode(form)
        conn.request("POST", "/common/oauth2/v2.0/" + endpoint, body,
                     {"Content-Type": "application/x-www-form-urlencoded"})
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, json.loads(data)

    def device_tokens(self, mailbox="mfp@example.com"):
        status, dc = self.post("devicecode", {"client_id": CLIENT_ID,
                                              "scope": SCOPE})
        self.assertEqual(status, 200)
        grant = {"grant_type": "urn:ietf:params:oauth:grant-type:device_code",
                 "client_id": CLIENT_ID, "device_code": dc["device_code"]}
        status, body = self.post("token", grant)
        self.assertEqual(status, 400)
        self.assertEqual(body["error"], "authorization_pending")
        self.assertEqual(body["error_codes"], [70016])
        self.doubles.post("/device/approve", {"user_code": dc["user_code"],
                                              "mailbox": mailbox})
        status, body = self.post("token", grant)
        self.assertEqual(status, 200)
        self.assertEqual(list(body)[:5], ["token_type", "scope", "expires_in",
                                          "ext_expires_in", "access_token"])
        return body

    def pop3(self):
        return poplib.POP3_SSL("localhost", self.doubles.ports["pop3"],
                               context=self.ctx, timeout=10)

    def test_device_code_and_pop3_xoauth2(self):
        tokens = self.device_tokens()
        payload = json.loads(base64.urlsafe_b64decode(
            tokens["id_token"].split(".")[1] + "=="))
        self.assertEqual(payload["preferred_username"], "mfp@example.com")
        pop = self.pop3()
        self.assertIn(b"[", pop.getwelcome())
        self.assertEqual(pop._shortcmd("AUTH XOAUTH2"), b"+ ")
        reply = pop._shortcmd(xoauth2_b64("mfp@example.com",
                                          tokens["access_token"]))
        self.assertEqual(reply, b"+OK User successfully authenticated.")
        self.assertEqual(pop.stat(), (0, 0))
        pop.quit()

    def test_pop3_one_line_xoauth2_closes(self):
        tokens = self.device_tokens()
        pop = self.pop3()
        with self.assertRaises(poplib.error_proto) as caught:
            pop._shortcmd("AUTH XOAUTH2 " + xoauth2_b64(
                "mfp@example.com", tokens["access_token"]))
        self.assertIn(b"Protocol error. Connection is closed. 10",
                      caught.exception.args[0])

    def test_smtp_send_then_pop3_retrieve(self):
        tokens = self.device_tokens()
        smtp = smtplib.SMTP("localhost", self.doubles.ports["smtp"],
                            timeout=10)
        smtp.ehlo("test")
        self.assertNotIn("auth", smtp.esmtp_features)
        smtp.starttls(context=self.ctx)
        smtp.ehlo("test")
        self.assertEqual(smtp.esmtp_features["auth"].strip(),
                         "LOGIN XOAUTH2")
        code, _ = smtp.docmd("AUTH", "XOAUTH2")
        self.assertEqual(code, 334)
        code, text = smtp.docmd(xoauth2_b64("mfp@example.com",
                                            tokens["access_token"]))
        self.assertEqual(code, 235, text)
        message = (b"From: <mfp@example.com>\r\nSubject: t\r\n\r\n"
                   b".leading dot\r\nbody\r\n")
        smtp.sendmail("mfp@example.com", ["mfp@example.com"], message)
        with self.assertRaises(smtplib.SMTPDataError) as caught:
            smtp.sendmail("other@example.net", ["mfp@example.com"],
                          b"From: <other@example.net>\r\n\r\nx\r\n")
        self.assertEqual(caught.exception.smtp_code, 554)
        self.assertIn(b"5.2.252 SendAsDenied", caught.exception.smtp_error)
        smtp.quit()

        pop = self.pop3()
        pop._shortcmd("AUTH XOAUTH2")
        pop._shortcmd(xoauth2_b64("mfp@example.com", tokens["access_token"]))
        _, lines, _ = pop.retr(1)
        self.assertEqual(b"\r\n".join(lines) + b"\r\n", message)
        pop.dele(1)
        pop.quit()
        self.assertEqual(self.doubles.mailbox("mfp@example.com"), [])

    def test_smtp_bare_lf_and_line_limit(self):
        tokens = self.device_tokens()
        self.doubles.config(smtp_line_limit=True)
        smtp = smtplib.SMTP("localhost", self.doubles.ports["smtp"],
                            timeout=10)
        smtp.starttls(context=self.ctx)
        smtp.ehlo("test")
        line = xoauth2_b64("mfp@example.com", tokens["access_token"])
        code, text = smtp.docmd("AUTH", "XOAUTH2 " + line)
        self.assertEqual((code, text), (500, b"5.5.2 Line too long"))
        smtp.docmd("AUTH", "XOAUTH2")
        code, _ = smtp.docmd(line)
        self.assertEqual(code, 235)
        smtp.mail("mfp@example.com")
        smtp.rcpt("a@example.org")
        code, _ = smtp.docmd("DATA")
        self.assertEqual(code, 354)
        smtp.send(b"Subject: x\nbare\r\n.\r\n")
        code, text = smtp.getreply()
        self.assertEqual(code, 550)
        self.assertTrue(text.startswith(b"5.6.11"), text)
        smtp.quit()

    def test_refresh_rotation_and_reuse(self):
        tokens = self.device_tokens()
        rt1 = tokens["refresh_token"]
        form = {"client_id": CLIENT_ID, "grant_type": "refresh_token",
                "refresh_token": rt1}
        status, body = self.post("token", form)
        self.assertEqual(status, 400)
        self.assertEqual(body["error_codes"], [900144])
        form["scope"] = SCOPE
        status, body = self.post("token", form)
        self.assertEqual(status, 200)
        self.assertNotEqual(body["refresh_token"], rt1)
        status, body = self.post("token", form)
        self.assertEqual(status, 400)
        self.assertEqual(body["error"], "invalid_grant")
        form["refresh_token"] = "x"
        form["client_secret"] = ""
        status, body = self.post("token", form)
        self.assertEqual(body["error_codes"], [700025])

    def test_authorization_code_pkce(self):
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(
            verifier.encode()).digest()).rstrip(b"=").decode()
        self.doubles.post("/authorize", {"mailbox": "mfp@example.com"})
        query = urllib.parse.urlencode({
            "client_id": CLIENT_ID, "response_type": "code",
            "redirect_uri": "http://localhost:5000", "scope": SCOPE,
            "state": "s1", "code_challenge": challenge,
            "code_challenge_method": "S256"})
        location = https_get_location(
            "https://localhost:%d/common/oauth2/v2.0/authorize?%s"
            % (self.doubles.ports["identity"], query), self.doubles.ca_file)
        params = dict(urllib.parse.parse_qsl(
            urllib.parse.urlsplit(location).query))
        self.assertTrue(location.startswith("http://localhost:5000/?"))
        self.assertEqual(params["state"], "s1")
        self.assertIn("session_state", params)
        form = {"client_id": CLIENT_ID, "grant_type": "authorization_code",
                "code": params["code"], "redirect_uri":
                "http://localhost:5000", "code_verifier": "wrong",
                "scope": SCOPE}
        status, body = self.post("token", form)
        self.assertEqual(status, 400)
        self.assertEqual(body["error_codes"], [501481])
        # A code is spent by its first redemption, even a failed one.
        form["code_verifier"] = verifier
        status, body = self.post("token", form)
        self.assertEqual(body["error_codes"], [54005])

    def test_connect_proxy_tunnel(self):
        self.doubles.config(require_proxy=True)
        status, _ = self.post("devicecode", {"client_id": CLIENT_ID,
                                             "scope": SCOPE}, tunnel=True)
        self.assertEqual(status, 200)
        with self.assertRaises((ConnectionError, ssl.SSLError, OSError)):
            self.post("devicecode", {"client_id": CLIENT_ID, "scope": SCOPE})
        requests = self.doubles.state()["proxy_requests"]
        self.assertEqual(requests[0]["method"], "CONNECT")
        self.assertEqual(requests[0]["target"], "localhost:%d"
                         % self.doubles.ports["identity"])

    def test_scripted_token_errors(self):
        self.doubles.script("token", status=502, html=True)
        self.doubles.script("token", status=429, retry_after=2,
                            error="temporarily_unavailable")
        conn = http.client.HTTPSConnection(
            "localhost", self.doubles.ports["identity"], context=self.ctx)
        conn.request("POST", "/common/oauth2/v2.0/token", "grant_type=x",
                     {"Content-Type": "application/x-www-form-urlencoded"})
        resp = conn.getresponse()
        self.assertEqual(resp.status, 502)
        self.assertTrue(resp.getheader("Content-Type").startswith(
            "text/html"))
        resp.read()
        conn.close()
        status, body = self.post("token", {"grant_type": "x"})
        self.assertEqual(status, 429)
        self.assertEqual(body["error"], "temporarily_unavailable")


if __name__ == "__main__":
    unittest.main()
