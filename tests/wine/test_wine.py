"""exoconnect.exe under wine: sign-in, serve, mail both ways, its files.

tests/run.py runs these with EXO_BIN set to a wrapper that starts the
Windows test build (EXO_WINE_EXE) under wine in the run's prefix. So the
end-to-end harness drives the .exe as it drives the Linux binary, with the
same doubles on 127.0.0.1 and the same settings file. Unix paths work inside wine
because its drive Z: is the Unix root.
"""

import hashlib
import json
import os
import poplib
import re
import smtplib
import ssl
import struct
import subprocess

from harness import MAILBOX, Product, ProductTest

# A DPAPI blob from Windows starts with version 1 and the provider GUID
# df9d8cd0-1501-11d1-8c7a-00c04fc297eb, little-endian. wine 8.0 writes
# its own format instead, version 1 and the text "Wine Crypt32 ok".
DPAPI_MAGIC = bytes.fromhex("01000000d08c9ddf0115d1118c7a00c04fc297eb")
WINE_DPAPI_MAGIC = b"\x01\x00\x00\x00Wine Crypt32 ok\x00"

# The current user's ROOT certificates in the registry; the system's ROOT
# store includes them.
USER_ROOTS_KEY = (r"HKCU\Software\Microsoft\SystemCertificates\Root"
                  r"\Certificates")
# The Internet Options connection settings of the current user.
CONNECTIONS_KEY = (r"HKCU\Software\Microsoft\Windows\CurrentVersion"
                   r"\Internet Settings\Connections")
# CERT_CERT_PROP_ID: the property of a serialized certificate that
# contains its DER encoding.
CERT_CERT_PROP_ID = 32

MESSAGE = (b"From: <mfp@example.com>\r\nTo: <mfp@example.com>\r\n"
           b"Subject: wine\r\n\r\nsent through exoconnect.exe\r\n"
           b".a line starting with a dot\r\n")


class WineServeTest(ProductTest):
    """One user signed in by device code, and `serve` running."""

    def test_smtp_send_pop3_fetch(self):
        login, password = self.login()
        smtp = smtplib.SMTP("127.0.0.1", self.product.smtp_port,
                            timeout=30)
        smtp.login(login, password)
        rejected = smtp.sendmail(MAILBOX, [MAILBOX], MESSAGE)
        smtp.quit()
        self.assertEqual(rejected, {})
        stored = self.doubles.state()["smtp_messages"]
        self.assertEqual(len(stored), 1)
        self.assertEqual(stored[0]["result"], "250")

        pop = poplib.POP3("127.0.0.1", self.product.pop3_port, timeout=30)
        pop.user(login)
        pop.pass_(password)
        count, _ = pop.stat()
        self.assertEqual(count, 1)
        _, lines, _ = pop.retr(1)
        pop.quit()
        self.assertEqual(b"\r\n".join(lines) + b"\r\n", MESSAGE)

    def test_wrong_password_rejected(self):
        login, password = self.login()
        wrong = password[:-1] + ("x" if password[-1] != "x" else "y")
        self.extra_secrets.append(wrong)

        pop = poplib.POP3("127.0.0.1", self.product.pop3_port, timeout=30)
        pop.user(login)
        with self.assertRaises(poplib.error_proto) as caught:
            pop.pass_(wrong)
        self.assertTrue(str(caught.exception).startswith("b'-ERR"),
                        caught.exception)
        pop.close()

        smtp = smtplib.SMTP("127.0.0.1", self.product.smtp_port,
                            timeout=30)
        with self.assertRaises(smtplib.SMTPAuthenticationError) as caught:
            smtp.login(login, wrong)
        self.assertEqual(caught.exception.smtp_code, 535)
        smtp.close()
        self.assertEqual(self.doubles.state()["smtp_messages"], [])

    def test_files_created_secrets_protected(self):
        login, password = self.login()
        users_conf = os.path.join(self.product.dir, "users.conf")
        secrets = os.path.join(self.product.dir, "secrets.dat")
        self.assertTrue(os.path.isfile(users_conf))
        self.assertTrue(os.path.isfile(secrets))
        with open(users_conf, "rb") as f:
            conf_text = f.read()
        with open(secrets, "rb") as f:
            sealed = f.read()

        # wine keeps no ACLs on Unix files; it maps the DACL given at
        # creation to the Unix mode. The secrets DACL (user, SYSTEM,
        # Administrators) grants nothing to others, unlike the default.
        self.assertEqual(os.stat(secrets).st_mode & 0o007, 0)
        self.assertNotEqual(os.stat(users_conf).st_mode & 0o004, 0)

        self.assertIn(login.encode(), conf_text)
        self.assertTrue(sealed.startswith(DPAPI_MAGIC) or
                        sealed.startswith(WINE_DPAPI_MAGIC), sealed[:32])
        self.assertNotIn(password.encode(), sealed)
        self.assertNotIn(b"exoconnect secrets", sealed)
        for token in self.doubles.secrets():
            self.assertNotIn(token.encode(), sealed)
            self.assertNotIn(token.encode(), conf_text)


class WineSigninTest(ProductTest):
    """No user yet and no `serve`: the commands that set users up."""

    USERS = []
    SERVE = False

    def test_device_code_json(self):
        first, second, status, err = self.product.add_user_device()
        self.assertEqual(status, 0, err)
        self.assertTrue(first["user_code"])
        self.assertEqual(first["verification_uri"],
                         "https://microsoft.com/devicelogin")
        self.assertIsNotNone(second, "user add printed no user JSON")
        self.extra_secrets.append(second["password"])
        self.assertEqual(second["mailbox"], MAILBOX)
        self.assertTrue(second["login"])
        self.assertGreaterEqual(len(second["password"]), 8)
        self.assertEqual(self.product.user(second["login"])["mailbox"],
                         MAILBOX)

    def test_non_ascii_settings_folder(self):
        # Arguments reach the program through wmain as UTF-16; a lost
        # conversion would turn the folder name into question marks.
        folder = os.path.join(self.dir, "B\u00fcro \u00e9t\u00e9 \u6771")
        os.makedirs(folder)
        product = Product(folder, self.doubles, self.bin)
        self.addCleanup(product.stop)
        first, second, status, err = product.add_user_device()
        self.assertEqual(status, 0, err)
        self.extra_secrets.append(second["password"])
        self.assertTrue(os.path.isfile(os.path.join(folder, "users.conf")))
        self.assertTrue(os.path.isfile(os.path.join(folder,
                                                    "secrets.dat")))

    def test_windows_path_in_log_and_stderr(self):
        # The data folder as a Windows path holds "\test-folder", which
        # reads as the escape "\t": the log file doubles that backslash
        # and no other, and stderr shows the path as typed.
        folder = os.path.join(self.dir, "test-folder")
        os.makedirs(folder)
        product = Product(folder, self.doubles, self.bin)
        self.addCleanup(product.stop)
        unix_conf = product.conf
        product.conf = "Z:" + unix_conf.replace("/", "\\")
        product.serve()
        product.stop()
        data_dir = "Z:" + folder.replace("/", "\\")
        escaped = re.sub(r'\\(?=[\\rntx"]|$)', r"\\\\", data_dir)
        self.assertIn("\\\\test-folder", escaped)
        self.assertIn("with data folder " + data_dir + " event=",
                      product.serve_stderr())
        self.assertIn("with data folder " + escaped + " event=",
                      product.log())

    def test_damaged_secrets_ask_for_signin(self):
        # Data from another machine or user fails to decrypt the same way
        # as a blob with a damaged signature, which ends the blob in
        # Windows' format and in wine's: CryptUnprotectData rejects it.
        # (wine 8.0 crashes on damaged lengths, so only the end changes.)
        first, second, status, err = self.product.add_user_device()
        self.assertEqual(status, 0, err)
        self.extra_secrets.append(second["password"])
        secrets = os.path.join(self.product.dir, "secrets.dat")
        with open(secrets, "rb") as f:
            sealed = bytearray(f.read())
        sealed[-1] ^= 0xFF
        with open(secrets, "wb") as f:
            f.write(sealed)

        proc = self.product.run("user", "list", "--json")
        err = proc.stderr.decode("utf-8", "replace")
        self.assertEqual(proc.returncode, 1, err)
        self.assertIn("cannot be decrypted", err)
        self.assertIn("sign each mailbox in again", err)

    def test_proxy_from_winhttp_settings(self):
        # With [network] proxy empty and no HTTPS_PROXY, the program reads
        # the WinHTTP settings. wine's WinHttpGetDefaultProxyConfiguration returns the
        # http_proxy variable when its registry sets no proxy, and
        # exoconnect itself never reads http_proxy.
        self.doubles.config(require_proxy=True)
        env = dict(self.product.env)
        env["http_proxy"] = "127.0.0.1:%d" % self.doubles.ports["proxy"]
        proc = self.product.popen("user", "add", "--device-code", "--json",
                                  env=env)
        line = proc.stdout.readline().decode("utf-8", "replace")
        self.product.stderr_texts.append(line)
        if line.startswith("{"):
            first = json.loads(line)
            self.doubles.post("/device/approve",
                              {"user_code": first["user_code"],
                               "mailbox": MAILBOX})
        status, out, err = self.product.finish(proc)
        self.assertEqual(status, 0, line + out + err)
        for text in out.splitlines():
            if text.startswith("{"):
                self.extra_secrets.append(json.loads(text)["password"])
        requests = self.doubles.state()["proxy_requests"]
        self.assertTrue(requests, "no request reached the proxy double")
        self.assertEqual(requests[0]["method"], "CONNECT")
        self.assertEqual(requests[0]["target"], "localhost:%d"
                         % self.doubles.ports["identity"])

    def wine_reg(self, *args):
        proc = subprocess.run(["timeout", "60", "wine", "reg"] + list(args),
                              stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=90)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)

    def test_trust_from_windows_root_store(self):
        # Without ca_file the doubles' CA must come from the Windows ROOT
        # store. A registry certificate blob is a list of properties, each
        # with its id, the value 1 and its length before the data.
        with open(self.doubles.ca_file) as f:
            der = ssl.PEM_cert_to_DER_cert(f.read())
        conf = open(self.product.conf).read()
        with open(self.product.conf, "w") as f:
            f.write(conf.replace("ca_file = " + self.doubles.ca_file,
                                 "ca_file ="))

        proc = self.product.run("user", "add", "--device-code", "--json")
        self.assertEqual(proc.returncode, 1, "signed in without the CA")
        self.assertIn("unknown CA", proc.stderr.decode("utf-8", "replace"))

        key = USER_ROOTS_KEY + "\\" + hashlib.sha1(der).hexdigest().upper()
        blob = struct.pack("<III", CERT_CERT_PROP_ID, 1, len(der)) + der
        self.wine_reg("add", key, "/v", "Blob", "/t", "REG_BINARY", "/d",
                      blob.hex(), "/f")
        self.addCleanup(self.wine_reg, "delete", key, "/f")
        first, second, status, err = self.product.add_user_device()
        self.assertEqual(status, 0, err)
        self.extra_secrets.append(second["password"])

    def set_internet_options_proxy(self, proxy, bypass):
        # The Internet Options proxy of the current user, in the binary
        # format wine 8.0 reads: magic 0x46, a counter, the flags (1
        # direct, 2 proxy), then the proxy and its exceptions list, each
        # as a length and ANSI text, and an empty PAC address.
        blob = struct.pack("<III", 0x46, 1, 3)
        for text in (proxy.encode(), bypass.encode(), b""):
            blob += struct.pack("<I", len(text)) + text
        blob += b"\0" * 32
        self.wine_reg("add", CONNECTIONS_KEY, "/v",
                      "DefaultConnectionSettings", "/t", "REG_BINARY",
                      "/d", blob.hex(), "/f")
        self.addCleanup(self.wine_reg, "delete", CONNECTIONS_KEY, "/v",
                        "DefaultConnectionSettings", "/f")

    def test_proxy_from_internet_options(self):
        self.doubles.config(require_proxy=True)
        proxy = "127.0.0.1:%d" % self.doubles.ports["proxy"]
        self.set_internet_options_proxy(
            "http=127.0.0.1:9;https=" + proxy, "<local>.example;*.test")
        first, second, status, err = self.product.add_user_device()
        self.assertEqual(status, 0, err)
        self.extra_secrets.append(second["password"])
        requests = self.doubles.state()["proxy_requests"]
        self.assertTrue(requests, "no request reached the proxy double")
        self.assertEqual(requests[0]["method"], "CONNECT")

    def test_proxy_exceptions_list(self):
        # "LOCALH*" matches the identity double's host name "localhost",
        # ignoring case, so the sign-in goes direct.
        proxy = "127.0.0.1:%d" % self.doubles.ports["proxy"]
        self.set_internet_options_proxy(proxy, "*.example;LOCALH*")
        first, second, status, err = self.product.add_user_device()
        self.assertEqual(status, 0, err)
        self.extra_secrets.append(second["password"])
        self.assertEqual(self.doubles.state()["proxy_requests"], [])
