"""Limits on devices that have not logged in, and sessions that the
administrator or a stop ends."""

import time

from harness import ProductTest, Raw


class PreauthDeadlineTest(ProductTest):
    PRODUCT_OPTIONS = {"preauth_timeout": 2}

    def drip(self, port, data):
        """Send DATA one byte every 0.25 s until the product closes the
        connection. Returns (seconds until the close, bytes received)."""
        raw = Raw(port, timeout=30)
        self.addCleanup(raw.close)
        start = time.monotonic()
        raw.sock.settimeout(0.25)
        i = 0
        while time.monotonic() - start < 20:
            try:
                raw.sock.sendall(data[i % len(data):i % len(data) + 1])
            except OSError:
                break
            i += 1
            try:
                chunk = raw.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not chunk:
                break
            raw.buf += chunk
        return time.monotonic() - start, raw.buf

    def test_pop3_noop_drip_closed(self):
        elapsed, received = self.drip(self.product.pop3_port, b"NOOP\r\n")
        self.assertLess(elapsed, 6)
        self.assertIn(b"-ERR Connection timed out", received)
        self.assertIn("no login within preauth_timeout", self.product.log())

    def test_pop3_partial_line_closed(self):
        elapsed, received = self.drip(self.product.pop3_port, b"CAPAxxxx")
        self.assertLess(elapsed, 6)
        self.assertIn(b"-ERR Connection timed out", received)

    def test_smtp_noop_drip_closed(self):
        elapsed, received = self.drip(self.product.smtp_port, b"NOOP\r\n")
        self.assertLess(elapsed, 6)
        self.assertIn(b"421 4.4.2", received)

    def test_login_lifts_deadline(self):
        raw, reply = self.pop3_login()
        self.assertEqual(reply[:3], "+OK")
        time.sleep(3)
        self.assertTrue(raw.cmd("NOOP").startswith(b"+OK"))
        self.assertTrue(raw.cmd("QUIT").startswith(b"+OK"))
