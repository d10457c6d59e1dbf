"""State shared by the doubles of Microsoft's services, and TLS set-up.

All doubles run in one process and share one State: tokens the identity
double issues are the tokens the POP3 and SMTP doubles accept, and mail the
SMTP double receives lands in the POP3 double's mailboxes. Every field is
guarded by State.lock.
"""

import base64
import hashlib
import json
import os
import secrets
import socket
import ssl
import subprocess
import threading
import time
import uuid

PERSONAL_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"
WORK_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
POP_SCOPE = "https://outlook.office.com/POP.AccessAsUser.All"
SMTP_SCOPE = "https://outlook.office.com/SMTP.Send"

LINE_MAX = 512			# Exchange's command line limit
SASL_LINE_MAX = 65536		# longest XOAUTH2 continuation line accepted
BODY_MAX = 1024 * 1024		# longest HTTP request body accepted

DEFAULT_CONFIG = {
    # identity platform
    "client_id": "",			# "" accepts any GUID
    "access_token_length": 1800,
    "refresh_token_length": 1100,
    "expires_in": 3599,
    "device_interval": 5,
    "device_expires_in": 900,
    "code_lifetime": 600,
    "refresh_token_idle": 90 * 86400,	# unused refresh tokens die (700082)
    "require_proxy": False,		# drop token requests not via the proxy
    # POP3
    "pop3_size_delta": 17,		# LIST/STAT sizes are estimates
    "pop3_max_auth_failures": 3,
    "pop3_idle_timeout": 1800,
    "pop3_greeting_delay": 0,		# seconds before the greeting
    "pop3_trickle": False,		# send RETR/TOP replies in tiny writes
    "pop3_continuation": "+ ",		# XOAUTH2 prompt: "+ ", "+" or "+ text"
    # SMTP
    "smtp_size": 157286400,		# advertised in EHLO
    "smtp_max_message": 157286400,	# enforced at the final dot
    "smtp_line_limit": False,		# reject command lines over 512 octets
    "smtp_json_challenge": False,	# 334 <base64 JSON> before 535
    "smtp_continuation": "334 ",	# XOAUTH2 prompt: "334 " or "334"
    "smtp_max_sessions": 3,		# concurrent sessions per mailbox
    "smtp_tls_max": "",			# "1.1": STARTTLS offers TLS 1.0-1.1 only
    "reject_bare_lf": True,
    "tls_cert": "good",			# POP3 and SMTP: "good", "untrusted"
                                        # or "wrongname"
    "identity_tls_cert": "good",
}


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def random_text(length, alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijkl"
                "mnopqrstuvwxyz0123456789-_"):
    return "".join(secrets.choice(alphabet) for _ in range(length))


class Account:
    def __init__(self, mailbox, name=None, personal=False):
        self.mailbox = mailbox
        self.name = name or mailbox.split("@")[0]
        self.personal = personal
        self.oid = str(uuid.uuid4())
        self.tid = PERSONAL_TENANT if personal else WORK_TENANT
        self.pop_enabled = True
        self.smtp_auth_error = ""	# a 535 5.7.139 text, "" when enabled
        self.smtp_token_rejected = False	# answer XOAUTH2 with 535 5.7.3
        self.send_as = set()		# extra From addresses allowed

    def to_json(self):
        return {"mailbox": self.mailbox, "name": self.name,
                "personal": self.personal, "oid": self.oid,
                "tid": self.tid, "pop_enabled": self.pop_enabled,
                "smtp_auth_error": self.smtp_auth_error,
                "smtp_token_rejected": self.smtp_token_rejected,
                "send_as": sorted(self.send_as)}


class Message:
    def __init__(self, data, uid=None):
        self.data = bytes(data)
        self.uid = uid or "AQHZ" + random_text(20)
        self.sha256 = hashlib.sha256(self.data).hexdigest()


class State:
    def __init__(self, state_dir):
        self.lock = threading.RLock()
        self.state_dir = state_dir
        self.config = dict(DEFAULT_CONFIG)
        self.clock_offset = 0.0
        self.accounts = {}		# lower-case mailbox -> Account
        self.authorize_choice = None	# {"mailbox": ..} or {"error": ..}
        self.auth_codes = {}		# code -> dict
        self.device_codes = {}		# device_code -> dict
        self.access_tokens = {}		# token -> dict
        self.refresh_tokens = {}	# token -> dict
        self.scripts = {"token": [], "devicecode": [], "authorize": [],
                        "conn": [],
                        "pop3": [], "smtp": []}
        self.token_requests = []	# every identity request, in order
        self.grant_counts = {}
        self.mailboxes = {}		# lower-case mailbox -> [Message]
        self.pop3_sessions = []
        self.smtp_sessions = []
        self.smtp_messages = []
        self.smtp_active = {}		# lower-case mailbox -> open sessions
        self.proxy = {"mode": "ok", "user": "", "password": ""}
        self.proxy_requests = []
        self.proxy_ports = set()	# local ports of tunnels to identity
        self.identity_listening = True

    def now(self):
        return time.time() + self.clock_offset

    def account(self, mailbox, create=False):
        key = (mailbox or "").lower()
        with self.lock:
            acct = self.accounts.get(key)
            if acct is None and create:
                acct = Account(mailbox)
                self.accounts[key] = acct
            return acct

    def take_script(self, kind, match):
        """Pop the first script of KIND for which MATCH(spec) is true.

        A script with "count" applies that many times (-1: until cleared).
        """
        with self.lock:
            queue = self.scripts[kind]
            for i, spec in enumerate(queue):
                if not match(spec):
                    continue
                count = spec.get("count", 1)
                if count > 0:
                    count -= 1
                    spec["count"] = count
                    if count == 0:
                        del queue[i]
                return dict(spec)
        return None

    def token_valid(self, token, mailbox, scope):
        """Return "" when TOKEN may open MAILBOX for SCOPE, else why not."""
        with self.lock:
            info = self.access_tokens.get(token)
            if info is None:
                return "unknown token"
            if info["expires_at"] <= self.now():
                return "expired token"
            if info["mailbox"].lower() != (mailbox or "").lower():
                return "token belongs to " + info["mailbox"]
            if scope not in info["scopes"]:
                return "token lacks scope " + scope
        return ""

    def deliver(self, mailbox, data):
        with self.lock:
            self.mailboxes.setdefault(mailbox.lower(), []).append(
                Message(data))


def make_pki(state_dir):
    """Create a test CA and server certificates for localhost with openssl.

    Returns a dict of paths: ca (the CA certificate for the product's
    ca_file), good (cert, key) under the CA, wrongname (under the CA but for
    another name) and untrusted (self-signed for localhost).
    """
    pki = os.path.join(state_dir, "pki")
    os.makedirs(pki, exist_ok=True)

    def path(name):
        return os.path.join(pki, name)

    def run(*args):
        subprocess.run(["openssl"] + list(args), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    key_args = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes"]
    run("req", "-x509", *key_args, "-keyout", path("ca.key"),
        "-out", path("ca.pem"), "-days", "30",
        "-subj", "/CN=exoconnect test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    for name, dns in (("good", "localhost"), ("wrongname", "wrong.example")):
        with open(path(name + ".ext"), "w") as f:
            f.write("subjectAltName=DNS:%s\nbasicConstraints=CA:FALSE\n"
                    "keyUsage=digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth\n" % dns)
        run("req", *key_args, "-keyout", path(name + ".key"),
            "-out", path(name + ".csr"), "-subj", "/CN=" + dns)
        run("x509", "-req", "-in", path(name + ".csr"), "-CA", path("ca.pem"),
            "-CAkey", path("ca.key"), "-CAcreateserial", "-days", "30",
            "-out", path(name + ".pem"), "-extfile", path(name + ".ext"))
    run("req", "-x509", *key_args, "-keyout", path("untrusted.key"),
        "-out", path("untrusted.pem"), "-days", "30", "-subj", "/CN=localhost",
        "-addext", "subjectAltName=DNS:localhost")
    return {"ca": path("ca.pem"),
            "good": (path("good.pem"), path("good.key")),
            "wrongname": (path("wrongname.pem"), path("wrongname.key")),
            "untrusted": (path("untrusted.pem"), path("untrusted.key"))}


_contexts = {}
_contexts_lock = threading.Lock()


def _record_sni(sock, name, context):
    sock.exo_sni = name


def server_context(pki, which="good", tls_max=""):
    """Return the TLS server context for the certificate WHICH.

    One context serves every connection with the same certificate and
    versions, so its session cache lets a client resume the session of an
    earlier connection, as Exchange Online may. OpenSSL keeps only the
    sessions of connections closed with tls_close. The server name the
    client sent ends up in the socket's exo_sni attribute."""
    cert, key = pki[which]
    with _contexts_lock:
        ctx = _contexts.get((cert, tls_max))
        if ctx is not None:
            return ctx
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.sni_callback = _record_sni
        if tls_max == "1.1":
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        else:
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(cert, key)
        _contexts[(cert, tls_max)] = ctx
        return ctx


def tls_close(tls):
    """Send close_notify without waiting for the reply, then close TLS.

    OpenSSL drops the session of a connection freed without close_notify,
    so only connections closed this way can be resumed."""
    try:
        tls.settimeout(0)
        tls.unwrap()
    except (OSError, ssl.SSLError, ValueError):
        pass
    try:
        tls.close()
    except OSError:
        pass


class LineReader:
    """Buffered reader of CRLF lines and dot-terminated data on a socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.eof = False

    def fill(self):
        try:
            chunk = self.sock.recv(262144)
        except (OSError, ssl.SSLError):
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def readline(self, limit):
        """Return (line without CRLF, too_long), or (None, False) at EOF.

        A line longer than LIMIT is read to its end and reported as too
        long, so the session stays in step with the client.
        """
        start = 0
        while True:
            pos = self.buf.find(b"\n", start)
            if pos >= 0:
                line = bytes(self.buf[:pos])
                del self.buf[:pos + 1]
                if line.endswith(b"\r"):
                    line = line[:-1]
                return line, len(line) > limit
            start = len(self.buf)
            if not self.fill():
                return None, False

    def read_data(self):
        """Return the bytes of a DATA body up to CRLF.CRLF, or None at EOF.

        The result keeps the dot-stuffing and its last CRLF.
        """
        # The terminator's first CRLF may be the end of the DATA line.
        self.buf[0:0] = b"\r\n"
        start = 0
        while True:
            pos = self.buf.find(b"\r\n.\r\n", start)
            if pos >= 0:
                data = bytes(self.buf[2:pos + 2]) if pos > 0 else b""
                del self.buf[:pos + 5]
                return data
            start = max(0, len(self.buf) - 4)
            if not self.fill():
                return None

    def take_buffered(self):
        data = bytes(self.buf)
        self.buf.clear()
        return data


def send_all(sock, data):
    try:
        sock.sendall(data)
        return True
    except (OSError, ssl.SSLError):
        return False


def json_dumps(obj):
    return json.dumps(obj, separators=(",", ":"))


def bind_listener(port=0):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    return sock


def serve_forever(listener, handler, name):
    """Accept connections on LISTENER and run HANDLER(sock, peer) in threads."""
    def loop():
        while True:
            try:
                sock, peer = listener.accept()
            except OSError:
                return
            t = threading.Thread(target=run_handler, args=(sock, peer),
                                 name=name, daemon=True)
            t.start()

    def run_handler(sock, peer):
        try:
            handler(sock, peer)
        except Exception as exc:	# a double must outlive any client
            print("%s: handler failed: %r" % (name, exc), flush=True)
        finally:
            try:
                sock.close()
            except OSError:
                pass

    t = threading.Thread(target=loop, name=name + "-accept", daemon=True)
    t.start()
    return t
