"""End-to-end tests of TLS toward the devices.

Covered: STLS and STARTTLS on the plain ports, implicit TLS (POP3S,
SMTPS) on the second listeners, require_tls, the self-signed certificate
made at the first start and legacy TLS for old devices. The log lines
that tell the admin how to fix a device set to the wrong kind of TLS are
checked too. Clients: python's poplib and smtplib, curl, openssl s_client
and raw sockets.
"""

import fcntl
import ipaddress
import os
import poplib
import re
import shutil
import smtplib
import socket
import ssl
import stat
import struct
import subprocess
import time

from harness import MAILBOX, ProductTest, Raw, b64, free_ports, wait_for, \
    wait_port

MESSAGE = (b"From: <" + MAILBOX.encode() + b">\r\n"
           b"To: <office@example.org>\r\n"
           b"Subject: scan over TLS\r\n"
           b"\r\n"
           b"page one\r\n")


def tls_settings(pop3s, smtps, pop3="", smtp=""):
    """Return settings lines that turn on STARTTLS and both TLS ports."""
    return ("[pop3]\nstarttls = yes\ntls_port = %d\n%s"
            "[smtp]\nstarttls = yes\ntls_port = %d\n%s"
            % (pop3s, pop3, smtps, smtp))


def local_addresses():
    """Return the machine's non-loopback, non-link-local addresses.

    IPv4: the first address of each interface (SIOCGIFADDR). IPv6: every
    address of /proc/net/if_inet6 with global or site scope.
    """
    found = set()
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for _, name in socket.if_nameindex():
            try:
                packed = fcntl.ioctl(probe.fileno(), 0x8915,  # SIOCGIFADDR
                                     struct.pack("256s", name[:15].encode()))
            except OSError:
                continue
            addr = ipaddress.ip_address(packed[20:24])
            if not addr.is_loopback:
                found.add(addr)
    finally:
        probe.close()
    try:
        with open("/proc/net/if_inet6") as f:
            for line in f:
                fields = line.split()
                addr = ipaddress.ip_address(bytes.fromhex(fields[0]))
                if not addr.is_loopback and not addr.is_link_local:
                    found.add(addr)
    except OSError:
        pass
    return found


def certificate_names(path):
    """Return (DNS names, IP addresses) of a certificate's SANs."""
    out = subprocess.run(["openssl", "x509", "-noout", "-text", "-in", path],
                         stdout=subprocess.PIPE, check=True).stdout.decode()
    dns = set(re.findall(r"DNS:([^,\s]+)", out))
    ips = {ipaddress.ip_address(a)
           for a in re.findall(r"IP Address:([0-9A-Fa-f:.]+)", out)}
    return dns, ips


class TlsTest(ProductTest):
    """Starts serve with STARTTLS and implicit-TLS ports on both servers."""

    SERVE = False
    EXTRA_POP3 = ""
    EXTRA_SMTP = ""

    def setUp(self):
        super().setUp()
        self.pop3s_port, self.smtps_port = free_ports(2)
        self.start(tls_settings(self.pop3s_port, self.smtps_port,
                                self.EXTRA_POP3, self.EXTRA_SMTP))

    def start(self, extra, **options):
        self.product.stop()
        self.product.write_conf(extra=extra, **options)
        self.product.serve()
        for port in (self.pop3s_port, self.smtps_port):
            self.assertTrue(wait_port(port, self.product.serve_proc),
                            "no TLS listener on %d: %s"
                            % (port, self.product.serve_stderr()))

    @property
    def cert_file(self):
        return os.path.join(self.product.dir, "device-cert.pem")

    def context(self):
        """A client context that trusts only the device certificate."""
        return ssl.create_default_context(cafile=self.cert_file)

    def wait_log(self, text):
        """Wait for text in the log; fail when it does not come."""
        wait_for(lambda: text in self.product.log())
        log = self.product.log()
        self.assertIn(text, log)
        return log

    def capa(self, raw):
        reply = raw.cmd("CAPA")
        self.assertTrue(reply.startswith(b"+OK"), reply)
        return raw.multiline()

    def send_with_smtplib(self, smtp):
        login, password = self.login()
        self.extra_secrets.append(password)
        smtp.login(login, password)
        refused = smtp.sendmail(MAILBOX, ["office@example.org"], MESSAGE)
        self.assertEqual(refused, {})
        st = self.doubles.state()
        self.assertTrue(st["smtp_messages"], "the SMTP double got nothing")


class CertificateTest(TlsTest):
    def test_generated_cert_and_key_files(self):
        mode = os.stat(os.path.join(self.product.dir,
                                    "device-key.pem")).st_mode
        self.assertEqual(stat.S_IMODE(mode) & 0o077, 0)
        out = subprocess.run(["openssl", "x509", "-noout", "-fingerprint",
                              "-sha256", "-in", self.cert_file],
                             stdout=subprocess.PIPE, check=True)
        fingerprint = out.stdout.decode().strip().split("=", 1)[1]
        log = self.wait_log("Made a self-signed certificate for devices")
        self.assertIn(fingerprint, log)

    def test_generated_cert_names_host_and_addresses(self):
        dns, ips = certificate_names(self.cert_file)
        self.assertIn(socket.gethostname(), dns)
        self.assertIn("localhost", dns)
        self.assertIn(ipaddress.ip_address("127.0.0.1"), ips)
        self.assertIn(ipaddress.ip_address("::1"), ips)
        local = local_addresses()
        self.assertTrue(local, "this machine has no address besides "
                        "loopback to check")
        for addr in local:
            self.assertIn(addr, ips)
        for addr in ips:
            self.assertFalse(addr.is_link_local, addr)

    def test_cert_reused_after_restart(self):
        with open(self.cert_file, "rb") as f:
            first = f.read()
        self.start(tls_settings(self.pop3s_port, self.smtps_port))
        with open(self.cert_file, "rb") as f:
            self.assertEqual(f.read(), first)
        self.wait_log("uses the device certificate")

    def test_configured_cert_files_are_used(self):
        cert = os.path.join(self.dir, "mine-cert.pem")
        key = os.path.join(self.dir, "mine-key.pem")
        shutil.copy(self.cert_file, cert)
        shutil.copy(os.path.join(self.product.dir, "device-key.pem"), key)
        os.remove(self.cert_file)
        self.start(tls_settings(self.pop3s_port, self.smtps_port) +
                   "[tls]\ncertificate = %s\nkey = %s\n" % (cert, key))
        self.assertFalse(os.path.exists(self.cert_file))
        ctx = ssl.create_default_context(cafile=cert)
        pop = poplib.POP3_SSL("127.0.0.1", self.pop3s_port, context=ctx,
                              timeout=30)
        self.addCleanup(pop.close)
        self.assertTrue(pop.getwelcome().startswith(b"+OK"))


class Pop3TlsTest(TlsTest):
    def test_poplib_stls_then_login(self):
        login, password = self.login()
        self.doubles.seed(MAILBOX, [b"Subject: one\r\n\r\nbody\r\n"])
        pop = poplib.POP3("127.0.0.1", self.product.pop3_port, timeout=30)
        self.addCleanup(pop.close)
        self.assertIn("STLS", pop.capa())
        self.assertTrue(pop.stls(self.context()).startswith(b"+OK"))
        self.assertNotIn("STLS", pop.capa())
        pop.user(login)
        self.assertTrue(pop.pass_(password).startswith(b"+OK"))
        self.assertEqual(pop.stat()[0], 1)
        pop.quit()

    def test_poplib_pop3s_login(self):
        login, password = self.login()
        pop = poplib.POP3_SSL("127.0.0.1", self.pop3s_port,
                              context=self.context(), timeout=30)
        self.addCleanup(pop.close)
        self.assertNotIn("STLS", pop.capa())
        pop.user(login)
        self.assertTrue(pop.pass_(password).startswith(b"+OK"))
        pop.quit()

    def test_curl_pop3s_and_ssl_reqd(self):
        login, password = self.login()
        self.doubles.seed(MAILBOX, [b"Subject: one\r\n\r\nbody\r\n"])
        for url, extra in (
                ("pop3s://127.0.0.1:%d/" % self.pop3s_port, []),
                ("pop3://127.0.0.1:%d/" % self.product.pop3_port,
                 ["--ssl-reqd"])):
            out = subprocess.run(
                ["curl", "-sS", "--max-time", "30", "--cacert",
                 self.cert_file, "-u", "%s:%s" % (login, password), url] +
                extra, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertRegex(out.stdout.decode(), r"^1 \d+\r?\n")

    def test_stls_discards_pipelined_bytes(self):
        raw = Raw(self.product.pop3_port)
        self.addCleanup(raw.close)
        raw.text()
        # One write: the CAPA after STLS arrives in plain text and must
        # get no reply.
        raw.send(b"STLS\r\nCAPA\r\n")
        self.assertEqual(raw.text(), "+OK Begin TLS negotiation")
        self.assertEqual(raw.buf, b"")
        sock = self.context().wrap_socket(raw.sock,
                                          server_hostname="127.0.0.1")
        tls = Raw.__new__(Raw)
        tls.sock, tls.buf = sock, b""
        self.assertEqual(tls.cmd("NOOP").rstrip(b"\r\n"), b"+OK")
        self.assertEqual(tls.cmd("STLS").rstrip(b"\r\n"),
                         b"-ERR TLS already active")
        self.assertNotIn(b"STLS", self.capa(tls))

    def test_stls_after_login_is_rejected(self):
        raw, reply = self.pop3_login()
        self.assertTrue(reply.startswith("+OK"), reply)
        self.assertTrue(raw.cmd("STLS").startswith(b"-ERR"))
        self.assertTrue(raw.cmd("NOOP").startswith(b"+OK"))

    def test_tls_hello_on_plain_port_is_logged(self):
        sock = socket.create_connection(("127.0.0.1",
                                         self.product.pop3_port), 30)
        with self.assertRaises((ssl.SSLError, OSError)):
            self.context().wrap_socket(sock, server_hostname="127.0.0.1")
        sock.close()
        log = self.wait_log("sent a TLS handshake to the plain POP3 port")
        self.assertIn("this device uses SSL/TLS on port %d; set the device "
                      "to STARTTLS or use port %d"
                      % (self.product.pop3_port, self.pop3s_port), log)

    def test_plain_text_on_pop3s_port_is_logged(self):
        self.start(tls_settings(self.pop3s_port, self.smtps_port),
                   preauth_timeout=2)
        raw = Raw(self.pop3s_port)
        self.addCleanup(raw.close)
        # A plain client waits for the greeting that never comes.
        self.assertTrue(raw.closed(timeout=15))
        log = self.wait_log("TLS handshake with device 127.0.0.1 on POP3 "
                            "port %d failed" % self.pop3s_port)
        self.assertIn("probably speaks plain text", log)


    def test_plain_command_on_pop3s_port_is_logged(self):
        raw = Raw(self.pop3s_port)
        self.addCleanup(raw.close)
        raw.send(b"USER scanner\r\n")
        self.assertTrue(raw.closed())
        log = self.wait_log("probably speaks plain text on port %d"
                            % self.pop3s_port)
        self.assertNotIn("legacy_tls = yes", log)


class SmtpTlsTest(TlsTest):
    def test_smtplib_starttls_then_send(self):
        smtp = smtplib.SMTP("127.0.0.1", self.product.smtp_port, timeout=30)
        self.addCleanup(smtp.close)
        smtp.ehlo("mfp")
        self.assertTrue(smtp.has_extn("starttls"))
        code, _ = smtp.starttls(context=self.context())
        self.assertEqual(code, 220)
        smtp.ehlo("mfp")
        self.assertFalse(smtp.has_extn("starttls"))
        self.assertTrue(smtp.has_extn("auth"))
        self.send_with_smtplib(smtp)
        smtp.quit()

    def test_smtplib_smtps_send(self):
        smtp = smtplib.SMTP_SSL("127.0.0.1", self.smtps_port,
                                context=self.context(), timeout=30)
        self.addCleanup(smtp.close)
        smtp.ehlo("mfp")
        self.assertFalse(smtp.has_extn("starttls"))
        self.send_with_smtplib(smtp)
        smtp.quit()

    def test_curl_smtps_and_ssl_reqd(self):
        login, password = self.login()
        path = os.path.join(self.dir, "mail.txt")
        with open(path, "wb") as f:
            f.write(MESSAGE)
        for url, extra in (
                ("smtps://127.0.0.1:%d/mfp" % self.smtps_port, []),
                ("smtp://127.0.0.1:%d/mfp" % self.product.smtp_port,
                 ["--ssl-reqd"])):
            out = subprocess.run(
                ["curl", "-sS", "--max-time", "30", "--cacert",
                 self.cert_file, "-u", "%s:%s" % (login, password),
                 "--mail-from", MAILBOX, "--mail-rcpt",
                 "office@example.org", "-T", path, url] + extra,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(len(self.doubles.state()["smtp_messages"]), 2)

    def test_starttls_discards_injected_ehlo(self):
        raw = self.smtp_connect()
        self.assertIn("250-STARTTLS", raw.ehlo)
        raw.send(b"STARTTLS\r\nEHLO injected\r\n")
        self.assertEqual(raw.text(), "220 2.0.0 Ready to start TLS")
        self.assertEqual(raw.buf, b"")
        sock = self.context().wrap_socket(raw.sock,
                                          server_hostname="127.0.0.1")
        tls = Raw.__new__(Raw)
        tls.sock, tls.buf = sock, b""
        # The injected EHLO got no reply, so MAIL still needs one.
        self.assertEqual(tls.cmd("MAIL FROM:<a@example.net>")[:9],
                         b"503 5.5.1")
        tls.send(b"EHLO mfp\r\n")
        ehlo = tls.smtp_reply()
        self.assertNotIn("250-STARTTLS", ehlo)
        self.assertTrue(ehlo[-1].startswith("250 AUTH"), ehlo)
        self.assertEqual(tls.cmd("STARTTLS").rstrip(b"\r\n"),
                         b"503 5.5.1 TLS already active")
        self.assertEqual(self.smtp_auth_plain(tls)[:3], "235")

    def test_tls_hello_on_plain_smtp_port_is_logged(self):
        sock = socket.create_connection(("127.0.0.1",
                                         self.product.smtp_port), 30)
        with self.assertRaises((ssl.SSLError, OSError)):
            self.context().wrap_socket(sock, server_hostname="127.0.0.1")
        sock.close()
        log = self.wait_log("sent a TLS handshake to the plain SMTP port")
        self.assertIn("use port %d" % self.smtps_port, log)


class RequireTlsTest(TlsTest):
    EXTRA_POP3 = "require_tls = yes\n"
    EXTRA_SMTP = "require_tls = yes\n"

    def test_pop3_no_login_before_stls(self):
        login, password = self.login()
        raw = Raw(self.product.pop3_port)
        self.addCleanup(raw.close)
        raw.text()
        capa = self.capa(raw)
        self.assertIn(b"STLS\r\n", capa)
        self.assertNotIn(b"USER", capa)
        self.assertNotIn(b"SASL", capa)
        for line in ("USER " + login, "AUTH PLAIN",
                     "APOP %s %s" % (login, "0" * 32)):
            self.assertEqual(raw.cmd(line).rstrip(b"\r\n"),
                             b"-ERR [SYS/PERM] TLS required: use STLS")
        self.wait_log("tried to log in without TLS")

        pop = poplib.POP3("127.0.0.1", self.product.pop3_port, timeout=30)
        self.addCleanup(pop.close)
        pop.stls(self.context())
        capa = pop.capa()
        self.assertIn("USER", capa)
        self.assertIn("SASL", capa)
        pop.user(login)
        self.assertTrue(pop.pass_(password).startswith(b"+OK"))

    def test_smtp_no_auth_before_starttls(self):
        raw = self.smtp_connect()
        self.assertFalse([l for l in raw.ehlo if "AUTH" in l], raw.ehlo)
        self.assertEqual(self.smtp_auth_plain(raw),
                         "530 5.7.0 Must issue a STARTTLS command first")
        smtp = smtplib.SMTP("127.0.0.1", self.product.smtp_port, timeout=30)
        self.addCleanup(smtp.close)
        smtp.starttls(context=self.context())
        self.send_with_smtplib(smtp)

    def test_require_tls_without_tls_is_an_error(self):
        self.product.stop()
        self.product.write_conf(extra="[pop3]\nrequire_tls = yes\n")
        proc = self.product.run("serve", timeout=30)
        self.assertNotEqual(proc.returncode, 0)
        err = proc.stderr.decode()
        self.assertIn("require_tls = yes needs starttls = yes or a "
                      "tls_port", err)


class NoCertificateTest(ProductTest):
    """Default settings: no device-side TLS and no certificate."""

    def test_stls_without_certificate(self):
        login, password = self.login()
        raw = Raw(self.product.pop3_port)
        self.addCleanup(raw.close)
        raw.text()
        self.assertNotIn(b"STLS", raw.cmd("CAPA") + raw.multiline())
        for _ in range(2):
            self.assertEqual(raw.cmd("STLS").rstrip(b"\r\n"),
                             b"-ERR TLS not available")
        self.assertTrue(raw.cmd("USER " + login).startswith(b"+OK"))
        self.assertEqual(raw.cmd("PASS " + password).rstrip(b"\r\n"),
                         b"+OK Logged in")
        log = self.product.log()
        self.assertEqual(log.count("device sent STLS but this listener has "
                                   "no certificate"), 1)
        self.assertFalse(os.path.exists(os.path.join(self.product.dir,
                                                     "device-cert.pem")))

    def test_starttls_without_certificate(self):
        raw = self.smtp_connect()
        self.assertNotIn("250-STARTTLS", raw.ehlo)
        self.assertEqual(raw.cmd("STARTTLS").rstrip(b"\r\n"),
                         b"454 4.7.0 TLS not available")
        self.assertEqual(self.smtp_auth_plain(raw)[:3], "235")


class UserDeleteTlsTest(TlsTest):
    """Deleting a user while its device has a TLS session open."""

    def tls_raw(self, raw):
        """Wrap RAW's socket in TLS that trusts the device certificate."""
        raw.sock = self.context().wrap_socket(raw.sock,
                                              server_hostname="127.0.0.1")
        return raw

    def delete_user(self):
        login, _ = self.login()
        proc = self.product.run("user", "delete", login)
        self.assertEqual(proc.returncode, 0, proc.stderr)

    def test_pop3s_session_told_why(self):
        login, password = self.login()
        raw = Raw(self.pop3s_port)
        self.addCleanup(raw.close)
        self.tls_raw(raw)
        self.assertTrue(raw.text().startswith("+OK"))
        self.assertTrue(raw.cmd("USER " + login).startswith(b"+OK"))
        self.assertTrue(raw.cmd("PASS " + password).startswith(b"+OK"))
        self.delete_user()
        raw.sock.settimeout(15)
        self.assertEqual(raw.text(), "-ERR [SYS/PERM] this user was deleted "
                         "by the administrator")
        self.assertTrue(raw.closed())
        self.assertIn("ended: user deleted user=" + login, self.product.log())

    def test_smtp_starttls_session_told_why(self):
        raw = self.smtp_connect()
        self.assertEqual(raw.cmd("STARTTLS")[:3], b"220")
        self.tls_raw(raw)
        self.assertEqual(raw.cmd("EHLO mfp")[:3], b"250")
        raw.smtp_reply()
        self.assertEqual(self.smtp_auth_plain(raw)[:3], "235")
        self.delete_user()
        raw.sock.settimeout(15)
        self.assertEqual(raw.text(), "421 4.7.0 This user was deleted by "
                         "the administrator")
        self.assertTrue(raw.closed())


def client_hello(version, suites, record_version=None):
    """Return a TLS ClientHello record offering version and suites."""
    body = (version.to_bytes(2, "big") + bytes(32) + b"\x00" +
            len(suites * 2).to_bytes(2, "big") +
            b"".join(x.to_bytes(2, "big") for x in suites) + b"\x01\x00")
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    rv = version if record_version is None else record_version
    return b"\x16" + rv.to_bytes(2, "big") + len(hs).to_bytes(2, "big") + hs


class LegacyTlsTest(TlsTest):
    """legacy_tls on the POP3 listeners only; SMTP keeps TLS 1.2."""

    EXTRA_POP3 = "legacy_tls = yes\n"

    def s_client(self, port, *args):
        """Run openssl s_client offering TLS 1.0 with RSA key exchange."""
        if not args:
            args = ("-tls1", "-cipher", "AES128-SHA:@SECLEVEL=0")
        proc = subprocess.run(
            ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
             "-ign_eof"] + list(args), input=b"QUIT\r\n",
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        return proc

    def refused_log(self, port, text):
        """Wait for the refused handshake on port and its explanation."""
        self.wait_log("TLS handshake with device 127.0.0.1 on SMTP "
                      "port %d failed" % port)
        return self.wait_log(text)

    def test_tls10_rsa_on_legacy_listener(self):
        self.wait_log("accepts TLS 1.0 and 1.1 from devices")
        proc = self.s_client(self.pop3s_port)
        # -ign_eof keeps reading after QUIT until the server closes.
        self.assertIn(b"+OK exoconnect POP3 ready", proc.stdout, proc.stderr)
        self.assertIn(b"+OK Bye", proc.stdout)
        self.assertRegex(proc.stdout, rb"Protocol *: TLSv1\n")
        self.assertIn(b"Cipher is AES128-SHA", proc.stdout)

    def test_tls10_on_default_listener_fails(self):
        proc = self.s_client(self.smtps_port)
        self.assertNotIn(b"220 ", proc.stdout)
        log = self.refused_log(self.smtps_port, "device 127.0.0.1 offers "
                               "only TLS 1.0 with RSA key exchange; set "
                               "[smtp] legacy_tls = yes for it")
        self.assertNotIn("(TLS 1.2)", log)

    def test_tls12_rsa_kx_on_legacy_listener(self):
        proc = self.s_client(self.pop3s_port, "-tls1_2", "-cipher",
                             "AES128-GCM-SHA256")
        self.assertIn(b"+OK exoconnect POP3 ready", proc.stdout, proc.stderr)
        self.assertIn(b"Cipher is AES128-GCM-SHA256", proc.stdout)

    def test_tls12_rsa_kx_on_default_listener_fails(self):
        proc = self.s_client(self.smtps_port, "-tls1_2", "-cipher",
                             "AES128-GCM-SHA256")
        self.assertNotIn(b"220 ", proc.stdout)
        self.refused_log(self.smtps_port, "device 127.0.0.1 offers TLS 1.2 "
                         "but only with RSA key exchange; set [smtp] "
                         "legacy_tls = yes for it")

    def test_tls12_ecdhe_cbc_sha1_on_default_listener_fails(self):
        proc = self.s_client(self.smtps_port, "-tls1_2", "-cipher",
                             "ECDHE-RSA-AES128-SHA")
        self.assertNotIn(b"220 ", proc.stdout)
        self.refused_log(self.smtps_port, "device 127.0.0.1 offers TLS 1.2 "
                         "but only with old cipher suites")

    def test_tls12_ecdhe_gcm_on_default_listener(self):
        proc = self.s_client(self.smtps_port, "-tls1_2", "-cipher",
                             "ECDHE-RSA-AES128-GCM-SHA256")
        self.assertIn(b"220 ", proc.stdout, proc.stderr)
        self.assertIn(b"Cipher is ECDHE-RSA-AES128-GCM-SHA256", proc.stdout)

    def test_ssl30_on_legacy_listener_is_named(self):
        # TLS_RSA_WITH_AES_128_CBC_SHA, which legacy_tls would accept.
        with socket.create_connection(("127.0.0.1", self.pop3s_port),
                                      timeout=30) as sock:
            sock.sendall(client_hello(0x0300, [0x002f]))
            try:
                while sock.recv(4096):
                    pass
            except OSError:
                pass
        log = self.wait_log("device 127.0.0.1 offers only SSL 3.0, which "
                            "exoconnect never accepts")
        self.assertNotIn("(TLS 1.2)", log)
        self.assertNotIn("legacy_tls = yes for it", log)
