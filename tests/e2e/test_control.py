"""End-to-end tests of the control channel of a running `serve`.

This test is a second process that speaks the channel's JSON lines over
the Unix socket, as the screen does. It reads the serve's counters and
users, adds a user by device code and receives events. When it sends
junk, the serve drops that connection only. No token may travel on the
channel.
"""

import json
import os
import poplib
import socket
import stat
import unittest

import harness

SOCKET_NAME = "control.sock"
TIMEOUT = 30		# seconds for one response of the serve


class Channel:
    """One connection to the control socket of a serve."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect(path)
        self.reader = self.sock.makefile("rb")
        self.received = b""		# every byte, for the token scan

    def close(self):
        self.reader.close()
        self.sock.close()

    def send(self, obj):
        self.sock.sendall(json.dumps(obj).encode("utf-8") + b"\n")

    def read(self):
        line = self.reader.readline()
        if not line:
            raise EOFError("the serve closed the control connection")
        self.received += line
        return json.loads(line)

    def call(self, op, on_progress=None, **args):
        """Send one request; return (progress messages, final message)."""
        request = {"op": op}
        request.update(args)
        self.send(request)
        progress = []
        while True:
            msg = self.read()
            if msg.get("t") == "done":
                return progress, msg
            progress.append(msg)
            if on_progress is not None:
                on_progress(msg)


class ControlTests(harness.ProductTest):

    def setUp(self):
        # The .exe under wine serves a named pipe, which the wine unit
        # tests of test-control.c cover.
        if os.environ.get("EXO_WINE_EXE"):
            self.skipTest("the Windows binary has a named pipe, not a "
                          "Unix socket")
        super().setUp()
        self.path = os.path.join(self.product.dir, SOCKET_NAME)
        self.assertTrue(harness.wait_for(lambda: os.path.exists(self.path)),
                        "serve opened no control socket")
        self.channels = []

    def tearDown(self):
        tokens = self.doubles.secrets()
        for ch in self.channels:
            text = ch.received.decode("utf-8", "replace")
            for token in tokens:
                self.assertNotIn(token[:32], text,
                                 "a token travelled on the channel")
            ch.close()

    def attach(self):
        ch = Channel(self.path)
        self.channels.append(ch)
        return ch

    def server_info(self, ch, kind):
        _, info = ch.call("server_info", kind=kind)
        self.assertEqual(info["rc"], 0, info)
        return info

    def test_socket_owner_only(self):
        mode = os.stat(self.path).st_mode
        self.assertTrue(stat.S_ISSOCK(mode))
        self.assertEqual(stat.S_IMODE(mode), 0o600)

    def test_hello_names_serve(self):
        _, hello = self.attach().call("hello")
        self.assertEqual(hello["rc"], 0)
        self.assertEqual(hello["protocol"], "1")
        self.assertEqual(hello["pid"], self.product.serve_proc.pid)
        self.assertEqual(os.path.realpath(hello["config_path"]),
                         os.path.realpath(self.product.conf))

    def test_counters_and_users_of_serve(self):
        ch = self.attach()
        info = self.server_info(ch, "POP3")
        self.assertEqual(info["state"], 2)		# running
        self.assertEqual(info["port"], self.product.pop3_port)
        # The harness's port check was the first session.
        before = info["sessions"]

        login, password = self.login()
        self.doubles.seed(harness.MAILBOX, [b"Subject: a\r\n\r\nbody\r\n"])
        pop = poplib.POP3("127.0.0.1", self.product.pop3_port, timeout=20)
        pop.user(login)
        pop.pass_(password)
        pop.quit()
        self.assertTrue(harness.wait_for(
            lambda: self.server_info(ch, "POP3")["logins"] == 1))
        self.assertTrue(harness.wait_for(
            lambda: self.server_info(ch, "POP3")["active"] == 0))
        info = self.server_info(ch, "POP3")
        self.assertEqual(info["sessions"], before + 1)

        users, done = ch.call("user_list")
        self.assertEqual(done["rc"], 0)
        self.assertEqual([u["login"] for u in users], [login])
        self.assertEqual(users[0]["mailbox"], harness.MAILBOX)
        self.assertNotIn("password", users[0])
        self.assertNotIn(password, ch.received.decode("utf-8"))

    def test_stop_and_start_act_on_serve(self):
        ch = self.attach()
        _, done = ch.call("server_stop", kind="SMTP")
        self.assertEqual(done["rc"], 0)
        self.assertFalse(harness.wait_port(self.product.smtp_port,
                                           timeout=1))
        _, done = ch.call("server_start", kind="SMTP")
        self.assertEqual(done["rc"], 0, done)
        self.assertTrue(harness.wait_port(self.product.smtp_port))
        self.assertIsNone(self.product.serve_proc.poll())

    def test_user_add_by_device_code(self):
        ch = self.attach()

        def approve(msg):
            if msg["t"] == "device_code":
                self.doubles.post("/device/approve",
                                  {"user_code": msg["code"],
                                   "mailbox": "second@example.com"})

        progress, done = ch.call("user_add", on_progress=approve, method=0)
        self.assertEqual(done["rc"], 0, done)
        self.assertEqual(progress[0]["t"], "device_code")
        self.assertTrue(progress[0]["uri"].startswith("https://"))
        self.assertEqual(done["mailbox"], "second@example.com")
        self.extra_secrets.append(done["password"])

        # The serve's users now include it, and its devices can log in.
        pop = poplib.POP3("127.0.0.1", self.product.pop3_port, timeout=20)
        pop.user(done["login"])
        pop.pass_(done["password"])
        pop.quit()

    def test_events_reach_subscriber(self):
        ch = self.attach()
        _, done = ch.call("subscribe")
        self.assertEqual(done["rc"], 0)
        pop = poplib.POP3("127.0.0.1", self.product.pop3_port, timeout=20)
        pop.user("nobody")
        with self.assertRaises(poplib.error_proto):
            pop.pass_("wrong password")
        pop.close()
        seen = []
        while not any(e["level"] >= 2 and e["conn"] > 0 for e in seen):
            seen.append(ch.read())
        event = seen[-1]
        self.assertEqual(event["t"], "event")
        self.assertIn("{", event["text"])
        names = [event["n%d" % i] for i in range(event["np"])]
        self.assertTrue(names)

    def test_junk_drops_only_that_client(self):
        good = self.attach()
        bad = self.attach()
        bad.sock.sendall(b"this is not json\n")
        self.assertEqual(bad.reader.readline(), b"")
        info = self.server_info(good, "POP3")
        self.assertEqual(info["state"], 2)
        self.assertIsNone(self.product.serve_proc.poll())

    def test_socket_removed_at_stop(self):
        self.assertEqual(self.product.stop(), 0)
        self.assertFalse(os.path.exists(self.path))


if __name__ == "__main__":
    unittest.main()
