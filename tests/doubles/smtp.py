"""Double of Exchange Online's SMTP submission service (STARTTLS, XOAUTH2).

EHLO before TLS offers STARTTLS and no AUTH; after TLS it offers
"AUTH LOGIN XOAUTH2". Received messages are checked as Exchange does
(sender must be the token's mailbox, no bare line feeds, size limit),
stored with their envelope for the control API, and delivered to the POP3
double's mailboxes of the recipients.
"""

import datetime
import hashlib
import re
import ssl
import time

from common import (LINE_MAX, SASL_LINE_MAX, LineReader, Message,
                    random_text, send_all, server_context,
                    tls_close)
from pop3 import parse_xoauth2

HOST = "LO4P302CA0005.outlook.office365.com"
FRONT_END = "AM0PR06CA0126.eurprd06.prod.outlook.com"
SIZE_RE = re.compile(r"\bSIZE=(\d+)", re.I)
ADDR_RE = re.compile(r"^\s*:\s*<?([^<>\s]*)>?\s*(.*)$")
LINE_TOO_LONG = b"500 5.5.2 Line too long\r\n"


def reply(code, lines):
    """Format a reply, repeating the code (and enhanced code) per line."""
    out = []
    for i, text in enumerate(lines):
        sep = "-" if i < len(lines) - 1 else " "
        out.append("%d%s%s\r\n" % (code, sep, text))
    return "".join(out).encode()


def header_from(data):
    """Return the address in the From: header of DATA (unfolded), or ""."""
    head = data.split(b"\r\n\r\n", 1)[0]
    head = re.sub(rb"\r\n[ \t]+", b" ", head)
    for line in head.split(b"\r\n"):
        if line[:5].lower() == b"from:":
            value = line[5:].decode("utf-8", "replace")
            m = re.search(r"<([^<>]*)>", value)
            if m:
                return m.group(1).strip()
            m = re.search(r"[^\s<>\"]+@[^\s<>\"]+", value)
            return m.group(0) if m else value.strip()
    return ""


def send_as_denied(mailbox, sender):
    text = ("5.2.252 SendAsDenied; %s not allowed to send as %s; "
            "STOREDRV.Submission.Exception:SendAsDeniedException."
            "MapiExceptionSendAsDenied; Failed to process message due to a "
            "permanent exception with message [BeginDiagnosticData]Cannot "
            "submit message. " % (mailbox, sender))
    detail = ("0.35250:0A006C86, 1.36674:0A000000, 1.61250:00000000, "
              "1.45378:02000000, 1.44866:00000000, 1.36674:0E000000, "
              "1.61250:00000000, 1.45378:13000000, 1.44866:10010000, ")
    while len(text) < 1400:
        text += detail
    text += ("[EndDiagnosticData] [Hostname=LO4P302MB0005.GBRP302.PROD."
             "OUTLOOK.COM]")
    return ("554 " + text + "\r\n").encode()


class SmtpSession:
    def __init__(self, double, sock, peer):
        self.double = double
        self.state = double.state
        self.sock = sock
        self.peer = peer
        self.tls = False
        self.mailbox = None
        self.slot = 0
        self.mail_from = None
        self.rcpts = []
        self.body_param = ""
        self.log = {"peer": peer[1], "start": time.time(), "commands": [],
                    "auth": [], "mailbox": None, "tls": False,
                    "closed_by": "", "ehlo": []}

    def send(self, data):
        if not send_all(self.sock, data):
            raise ConnectionError("client went away")

    def script_for(self, verb):
        mailbox = self.mailbox

        def match(spec):
            if spec.get("mailbox") and (not mailbox or spec["mailbox"].lower()
                                        != mailbox.lower()):
                return False
            return spec.get("on", "any") in ("any", verb)
        return self.state.take_script("smtp", match)

    def run(self):
        st = self.state
        with st.lock:
            st.smtp_sessions.append(self.log)
        self.sock.settimeout(600)
        stamp = datetime.datetime.utcnow().strftime(
            "%a, %d %b %Y %H:%M:%S +0000")
        self.send(("220 %s Microsoft ESMTP MAIL Service ready at %s "
                   "[08DCE8B62813AB2B]\r\n" % (HOST, stamp)).encode())
        self.reader = LineReader(self.sock)
        try:
            while True:
                with st.lock:
                    limit = LINE_MAX if st.config["smtp_line_limit"] \
                        else SASL_LINE_MAX
                line, too_long = self.reader.readline(limit)
                if line is None:
                    self.log["closed_by"] = self.log["closed_by"] or "client"
                    return
                if too_long:
                    self.log["commands"].append("<line of %d octets>"
                                                % len(line))
                    self.send(LINE_TOO_LONG)
                    continue
                text = line.decode("utf-8", "replace")
                verb, _, arg = text.partition(" ")
                verb = verb.upper()
                self.log["commands"].append(
                    text[:len("AUTH XOAUTH2")] + (" <%d octets>"
                                                  % len(text))
                    if verb == "AUTH" else text)
                script = self.script_for(verb)
                if script:
                    self.send(script["reply"].encode() + b"\r\n")
                    if script.get("close"):
                        self.log["closed_by"] = "script"
                        return
                    continue
                handler = COMMANDS.get(verb)
                if handler is None:
                    self.send(("500 5.3.3 Unrecognized command '%s'\r\n"
                               % verb[:32]).encode())
                    continue
                if handler(self, arg) is False:
                    return
        finally:
            if self.mailbox:
                with st.lock:
                    key = self.mailbox.lower()
                    st.smtp_active[key] = st.smtp_active.get(key, 1) - 1

    def cmd_ehlo(self, arg):
        self.log["ehlo"].append(arg)
        with self.state.lock:
            size = self.state.config["smtp_size"]
        lines = ["%s Hello [127.0.0.1]" % HOST, "SIZE %d" % size,
                 "PIPELINING", "DSN", "ENHANCEDSTATUSCODES"]
        lines.append("AUTH LOGIN XOAUTH2" if self.tls else "STARTTLS")
        lines += ["8BITMIME", "BINARYMIME", "CHUNKING", "SMTPUTF8"]
        self.reset_transaction()
        self.send(reply(250, lines))

    def cmd_helo(self, arg):
        self.log["ehlo"].append("HELO " + arg)
        self.send(("250 %s Hello [127.0.0.1]\r\n" % HOST).encode())

    def cmd_starttls(self, arg):
        if self.tls:
            self.send(b"503 5.5.1 Bad sequence of commands\r\n")
            return True
        with self.state.lock:
            tls_max = self.state.config["smtp_tls_max"]
            which = self.state.config["tls_cert"]
        self.send(b"220 2.0.0 SMTP server ready\r\n")
        self.reader.take_buffered()
        try:
            ctx = server_context(self.double.pki, which, tls_max)
            self.sock = ctx.wrap_socket(self.sock, server_side=True)
            self.log["sni"] = getattr(self.sock, "exo_sni", None)
        except (ssl.SSLError, OSError) as exc:
            self.log["tls_error"] = str(exc)
            self.log["closed_by"] = "tls"
            return False
        self.tls = True
        self.log["tls"] = self.sock.version()
        self.reader = LineReader(self.sock)
        self.reset_transaction()
        return True

    def cmd_auth(self, arg):
        parts = arg.split()
        mech = parts[0].upper() if parts else ""
        if not self.tls:
            self.send(b"504 5.7.4 Unrecognized authentication type\r\n")
            return True
        if self.mailbox:
            self.send(b"503 5.5.1 Bad sequence of commands\r\n")
            return True
        if mech == "LOGIN":
            self.send(b"535 5.7.139 Authentication unsuccessful, basic "
                      b"authentication is disabled.\r\n")
            return True
        if mech != "XOAUTH2":
            self.send(b"504 5.7.4 Unrecognized authentication type\r\n")
            return True
        entry = {"form": "one-line" if len(parts) > 1 else "two-step"}
        self.log["auth"].append(entry)
        if len(parts) > 1:
            line = parts[1].encode()
        else:
            with self.state.lock:
                prompt = self.state.config["smtp_continuation"]
            self.send(prompt.encode() + b"\r\n")
            line, too_long = self.reader.readline(SASL_LINE_MAX)
            if line is None:
                return False
            if too_long:
                self.send(LINE_TOO_LONG)
                return True
        entry["line_length"] = len(line)
        parsed = parse_xoauth2(line)
        if parsed is None:
            entry["result"] = "malformed"
            self.send(b"501 5.5.2 Cannot Decode response\r\n")
            return True
        user, token = parsed
        entry["user"] = user
        acct = self.state.account(user)
        why = self.state.token_valid(token, user,
                                     "https://outlook.office.com/SMTP.Send")
        if not why and acct.smtp_token_rejected:
            why = "token rejected for the mailbox"
        entry["result"] = why or "ok"
        if why:
            return self.auth_rejected()
        if acct.smtp_auth_error:
            entry["result"] = "smtp auth disabled"
            self.send(acct.smtp_auth_error.encode() + b"\r\n")
            return True
        self.mailbox = acct.mailbox
        self.log["mailbox"] = acct.mailbox
        with self.state.lock:
            key = acct.mailbox.lower()
            self.state.smtp_active[key] = self.state.smtp_active.get(
                key, 0) + 1
            self.slot = self.state.smtp_active[key]
        self.send(b"235 2.7.0 Authentication successful\r\n")
        return True

    def auth_rejected(self):
        with self.state.lock:
            challenge = self.state.config["smtp_json_challenge"]
        if challenge:
            self.send(b"334 eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIiwi"
                      b"c2NvcGUiOiJodHRwczovL291dGxvb2sub2ZmaWNlLmNvbS8ifQ=="
                      b"\r\n")
            line, _ = self.reader.readline(SASL_LINE_MAX)
            if line is None:
                return False
            self.log["auth"][-1]["after_challenge"] = line.decode(
                "latin-1")[:64]
        stamp = datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%S.%f")
        self.send(("535 5.7.3 Authentication unsuccessful [%s %sZ "
                   "08DC2D372B4C3DED]\r\n" % (FRONT_END, stamp[:23])).encode())
        return True

    def reset_transaction(self):
        self.mail_from = None
        self.rcpts = []
        self.body_param = ""

    def cmd_mail(self, arg):
        if not self.mailbox:
            self.send(b"530 5.7.57 Client not authenticated to send mail.\r\n")
            return True
        with self.state.lock:
            max_sessions = self.state.config["smtp_max_sessions"]
            max_size = self.state.config["smtp_size"]
        if self.slot > max_sessions:
            self.send(b"432 4.3.2 STOREDRV.ClientSubmit; sender thread limit "
                      b"exceeded [Hostname=LO4P302MB0005.GBRP302.PROD.OUTLOOK."
                      b"COM]\r\n")
            return True
        if self.mail_from is not None:
            self.send(b"503 5.5.1 Sender already specified\r\n")
            return True
        if not arg.upper().startswith("FROM"):
            self.send(b"501 5.5.4 Invalid arguments\r\n")
            return True
        m = ADDR_RE.match(arg[4:])
        if not m:
            self.send(b"501 5.1.7 Invalid address\r\n")
            return True
        size = SIZE_RE.search(m.group(2))
        if size and int(size.group(1)) > max_size:
            self.send(b"552 5.3.4 Message size exceeds fixed maximum message "
                      b"size\r\n")
            return True
        self.mail_from = m.group(1)
        self.body_param = m.group(2)
        self.send(b"250 2.1.0 Sender OK\r\n")
        return True

    def cmd_rcpt(self, arg):
        if self.mail_from is None:
            self.send(b"503 5.5.1 Bad sequence of commands\r\n")
            return True
        m = ADDR_RE.match(arg[2:]) if arg.upper().startswith("TO") else None
        if not m or "@" not in m.group(1):
            self.send(b"501 5.1.3 Invalid address\r\n")
            return True
        self.rcpts.append(m.group(1))
        self.send(b"250 2.1.5 Recipient OK\r\n")
        return True

    def cmd_data(self, arg):
        if not self.rcpts:
            self.send(b"503 5.5.1 Bad sequence of commands\r\n")
            return True
        self.send(b"354 Start mail input; end with <CRLF>.<CRLF>\r\n")
        stuffed = self.reader.read_data()
        if stuffed is None:
            self.log["closed_by"] = "client during DATA"
            return False
        data = stuffed.replace(b"\r\n..", b"\r\n.")
        if data.startswith(b".."):
            data = data[1:]
        self.send(self.accept(data, stuffed))
        self.reset_transaction()
        return True

    def accept(self, data, stuffed):
        """Check and store one message; return the reply to the final dot."""
        st = self.state
        record = {"mailbox": self.mailbox, "mail_from": self.mail_from,
                  "rcpts": list(self.rcpts), "params": self.body_param,
                  "size": len(data),
                  "sha256": hashlib.sha256(data).hexdigest(),
                  "stuffed_sha256": hashlib.sha256(stuffed).hexdigest(),
                  "bare_lf": data.count(b"\n") != data.count(b"\r\n"),
                  "bare_cr": data.count(b"\r") != data.count(b"\r\n"),
                  "from_header": header_from(data), "time": time.time()}
        acct = st.account(self.mailbox)
        with st.lock:
            max_message = st.config["smtp_max_message"]
            reject_bare_lf = st.config["reject_bare_lf"]
            st.smtp_messages.append(record)
        script = self.script_for("DATA-END")
        if script:
            record["result"] = script["reply"]
            return script["reply"].encode() + b"\r\n"
        if len(data) > max_message:
            record["result"] = "552"
            return b"552 5.3.4 Message size exceeds fixed maximum message " \
                b"size\r\n"
        if reject_bare_lf and (record["bare_lf"] or record["bare_cr"]):
            record["result"] = "550"
            return b"550 5.6.11 SMTPSEND.BareLinefeedsAreIllegal; message " \
                b"contains bare linefeeds, which cannot be sent via DATA " \
                b"and receiving system does not support BDAT\r\n"
        allowed = {self.mailbox.lower()} | {a.lower() for a in acct.send_as}
        for sender in (self.mail_from, record["from_header"]):
            if sender and sender.lower() not in allowed:
                record["result"] = "554"
                return send_as_denied(self.mailbox, sender)
        record["result"] = "250"
        with st.lock:
            record["data"] = data
            for rcpt in self.rcpts:
                st.mailboxes.setdefault(rcpt.lower(), []).append(
                    Message(data))
        msg_id = "<%s@%s>" % (random_text(24), "LO4P302MB0005.GBRP302."
                              "PROD.OUTLOOK.COM")
        return ("250 2.0.0 OK %s [Hostname=LO4P302MB0005.GBRP302.PROD."
                "OUTLOOK.COM]\r\n" % msg_id).encode()

    def cmd_rset(self, arg):
        self.reset_transaction()
        self.send(b"250 2.0.0 Resetting\r\n")

    def cmd_noop(self, arg):
        self.send(b"250 2.0.0 OK\r\n")

    def cmd_quit(self, arg):
        self.send(b"221 2.0.0 Service closing transmission channel\r\n")
        self.log["closed_by"] = "quit"
        return False


COMMANDS = {
    "EHLO": SmtpSession.cmd_ehlo,
    "HELO": SmtpSession.cmd_helo,
    "STARTTLS": SmtpSession.cmd_starttls,
    "AUTH": SmtpSession.cmd_auth,
    "MAIL": SmtpSession.cmd_mail,
    "RCPT": SmtpSession.cmd_rcpt,
    "DATA": SmtpSession.cmd_data,
    "RSET": SmtpSession.cmd_rset,
    "NOOP": SmtpSession.cmd_noop,
    "QUIT": SmtpSession.cmd_quit,
}


class Smtp:
    def __init__(self, state, pki):
        self.state = state
        self.pki = pki

    def handle(self, sock, peer):
        session = SmtpSession(self, sock, peer)
        try:
            session.run()
        except (ConnectionError, OSError, ssl.SSLError):
            session.log["closed_by"] = session.log["closed_by"] or "error"
        finally:
            session.log["end"] = time.time()
            if session.sock is not sock and \
                    session.log["closed_by"] in ("quit", "client"):
                # An orderly end can be resumed; a scripted drop stays
                # abrupt.
                tls_close(session.sock)
            elif session.sock is not sock:
                try:
                    session.sock.close()
                except OSError:
                    pass
