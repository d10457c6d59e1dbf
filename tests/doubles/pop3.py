"""Double of Exchange Online's POP3 service (implicit TLS, XOAUTH2 only).

Reply texts are Exchange's. XOAUTH2 works only in two steps; the one-line
form is a protocol error that closes the connection. Deletions are
committed only at QUIT. Tests script per-command replies (such as
"-ERR Server Unavailable. 21" followed by a close) through the control API.
"""

import base64
import binascii
import ssl
import time

from common import (LINE_MAX, SASL_LINE_MAX, LineReader, send_all,
                    server_context, tls_close)

GREETING_HOST = "HE1PR0101CA0007.eurprd01.prod.exchangelabs.com"
AUTH_FAILED = b"-ERR Authentication failure: unknown user name or bad " \
    b"password.\r\n"
NOT_IN_STATE = b"-ERR Command is not valid in this state.\r\n"
OUT_OF_RANGE = b"-ERR The specified message is out of range.\r\n"
BAD_ARGUMENT = b"-ERR Protocol error. 14\r\n"
SIGN_OFF = b"+OK Microsoft Exchange Server 2016 POP3 server signing off.\r\n"


def parse_xoauth2(line):
    """Return (user, token) from a base64 XOAUTH2 response, or None."""
    try:
        raw = base64.b64decode(line, validate=True)
    except (binascii.Error, ValueError):
        return None
    if not raw.endswith(b"\x01\x01"):
        return None
    fields = raw[:-2].split(b"\x01")
    user = token = None
    for field in fields:
        if field.startswith(b"user="):
            user = field[5:].decode("utf-8", "replace")
        elif field.startswith(b"auth=Bearer "):
            token = field[12:].decode("utf-8", "replace")
    if user is None or token is None or len(fields) != 2:
        return None
    return user, token


def stuff(data):
    """Dot-stuff DATA and end it with CRLF.CRLF, without a per-line loop."""
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    if data.startswith(b"."):
        data = b"." + data
    return data.replace(b"\r\n.", b"\r\n..") + b".\r\n"


class Pop3Session:
    def __init__(self, double, sock, peer):
        self.double = double
        self.state = double.state
        self.sock = sock
        self.peer = peer
        self.mailbox = None
        self.messages = None	# snapshot at login: list of Message
        self.deleted = set()
        self.failures = 0
        self.log = {"peer": peer[1], "start": time.time(), "commands": [],
                    "auth": [], "mailbox": None, "quit": False,
                    "committed": 0, "closed_by": "", "max_line": 0}

    def send(self, data):
        if not send_all(self.sock, data):
            raise ConnectionError("client went away")

    def send_multiline(self, data):
        """Send a multi-line reply, in 1-7 byte writes when trickling, so
        "\r\n." and "\r\n" of the end mark arrive in separate reads."""
        with self.state.lock:
            trickle = self.state.config["pop3_trickle"]
        if not trickle or len(data) > 65536:
            self.send(data)
            return
        pos = 0
        step = 1
        while pos < len(data):
            self.send(data[pos:pos + step])
            pos += step
            step = step % 7 + 1
            time.sleep(0.002)

    def send_scripted(self, script):
        """Send a script's reply line; a script without one sends nothing."""
        if script.get("reply") is not None:
            self.send(script["reply"].encode() + b"\r\n")

    def script_for(self, phase, verb):
        mailbox = self.mailbox

        def match(spec):
            if spec.get("mailbox") and mailbox and \
                    spec["mailbox"].lower() != mailbox.lower():
                return False
            on = spec.get("on", "any")
            if phase == "auth":
                return on == "auth"
            return on in ("any", verb)
        return self.state.take_script("pop3", match)

    def run(self):
        st = self.state
        with st.lock:
            st.pop3_sessions.append(self.log)
            idle = st.config["pop3_idle_timeout"]
        self.sock.settimeout(idle)
        with st.lock:
            delay = st.config["pop3_greeting_delay"]
        if delay:
            time.sleep(delay)
        host = base64.b64encode(GREETING_HOST.encode("utf-16-le")).decode()
        self.send(("+OK The Microsoft Exchange POP3 service is ready. "
                   "[%s]\r\n" % host).encode())
        reader = LineReader(self.sock)
        self.reader = reader
        while True:
            try:
                # An over-long AUTH line is the one-line XOAUTH2 form, which
                # gets Exchange's protocol error below, not a length error.
                line, too_long = reader.readline(SASL_LINE_MAX)
                if line is not None and len(line) > LINE_MAX and \
                        not line[:5].upper() == b"AUTH ":
                    too_long = True
            except TimeoutError:
                self.send(b"-ERR Connection is closed. 12\r\n")
                self.log["closed_by"] = "timeout"
                return
            if line is None:
                self.log["closed_by"] = "client"
                return
            if too_long:
                self.log["commands"].append("<line of %d octets>"
                                            % len(line))
                self.send(BAD_ARGUMENT)
                continue
            text = line.decode("latin-1")
            verb, _, arg = text.partition(" ")
            verb = verb.upper()
            self.log["commands"].append(verb if verb in ("PASS", "AUTH")
                                        else text)
            if self.mailbox is not None:
                script = self.script_for("command", verb)
                if script:
                    self.send_scripted(script)
                    if script.get("close"):
                        self.log["closed_by"] = "script"
                        return
                    continue
            if not self.command(verb, arg):
                return

    def command(self, verb, arg):
        """Run one command; return False when the connection must close."""
        if verb == "CAPA":
            self.send(b"+OK\r\nTOP\r\nUIDL\r\nSASL PLAIN XOAUTH2\r\nUSER\r\n"
                      b".\r\n")
            return True
        if verb == "NOOP":
            self.send(b"+OK\r\n" if self.mailbox else NOT_IN_STATE)
            return True
        if verb == "QUIT":
            return self.quit()
        if self.mailbox is None:
            return self.authorization(verb, arg)
        handler = TRANSACTION.get(verb)
        if handler is None:
            self.send(NOT_IN_STATE if verb in ("USER", "PASS", "AUTH",
                                               "STLS", "APOP")
                      else b"-ERR Protocol error. 19\r\n")
            return True
        handler(self, arg)
        return True

    def authorization(self, verb, arg):
        if verb == "AUTH":
            mech, _, initial = arg.partition(" ")
            if mech.upper() != "XOAUTH2":
                return self.auth_failed()
            if initial:
                self.log["auth"].append({"form": "one-line"})
                self.send(b"-ERR Protocol error. Connection is closed. 10"
                          b"\r\n")
                self.log["closed_by"] = "one-line XOAUTH2"
                return False
            with self.state.lock:
                prompt = self.state.config["pop3_continuation"]
            self.send(prompt.encode() + b"\r\n")
            line, too_long = self.reader.readline(SASL_LINE_MAX)
            if line is None:
                return False
            entry = {"form": "two-step", "line_length": len(line)}
            self.log["auth"].append(entry)
            parsed = None if too_long else parse_xoauth2(line)
            if parsed is None:
                entry["result"] = "malformed"
                return self.auth_failed()
            user, token = parsed
            entry["user"] = user
            acct = self.state.account(user)
            why = self.state.token_valid(
                token, user, "https://outlook.office.com/POP.AccessAsUser.All")
            if not why and (acct is None or not acct.pop_enabled):
                why = "POP3 disabled for the mailbox"
            entry["result"] = why or "ok"
            entry["token_prefix"] = token[:6]
            entry["token_length"] = len(token)
            if why:
                return self.auth_failed()
            self.mailbox = acct.mailbox
            self.log["mailbox"] = acct.mailbox
            script = self.script_for("auth", "AUTH")
            if script:
                self.send_scripted(script)
                if script.get("close"):
                    self.log["closed_by"] = "script"
                    return False
                self.mailbox = None
                return True
            with self.state.lock:
                self.messages = list(self.state.mailboxes.get(
                    self.mailbox.lower(), []))
            self.send(b"+OK User successfully authenticated.\r\n")
            return True
        if verb in ("USER", "PASS"):
            if verb == "USER":
                self.send(b"+OK\r\n")
                return True
            return self.auth_failed()
        if verb in ("STAT", "LIST", "UIDL", "RETR", "TOP", "DELE", "RSET",
                    "STLS"):
            self.send(NOT_IN_STATE)
            return True
        self.send(b"-ERR Protocol error. 19\r\n")
        return True

    def auth_failed(self):
        self.failures += 1
        self.send(AUTH_FAILED)
        with self.state.lock:
            limit = self.state.config["pop3_max_auth_failures"]
        if self.failures >= limit:
            self.send(b"-ERR Connection is closed. 21\r\n")
            self.log["closed_by"] = "auth failures"
            return False
        return True

    def quit(self):
        self.log["quit"] = True
        if self.mailbox is not None and self.deleted:
            script = self.script_for("command", "QUIT-COMMIT")
            if script:
                self.send_scripted(script)
                self.log["closed_by"] = "script"
                return False
            gone = {id(self.messages[i]) for i in self.deleted}
            with self.state.lock:
                box = self.state.mailboxes.get(self.mailbox.lower(), [])
                box[:] = [m for m in box if id(m) not in gone]
            self.log["committed"] = len(gone)
        self.send(SIGN_OFF)
        self.log["closed_by"] = "quit"
        return False

    # ---- transaction state ----

    def message_arg(self, arg):
        """Return the index of the message named by ARG, or None (replied)."""
        try:
            num = int(arg.split()[0])
        except (ValueError, IndexError):
            self.send(BAD_ARGUMENT)
            return None
        if num < 1 or num > len(self.messages) or (num - 1) in self.deleted:
            self.send(OUT_OF_RANGE)
            return None
        return num - 1

    def estimate(self, msg):
        with self.state.lock:
            return len(msg.data) + self.state.config["pop3_size_delta"]

    def live(self):
        return [(i, m) for i, m in enumerate(self.messages)
                if i not in self.deleted]

    def cmd_stat(self, arg):
        live = self.live()
        self.send(b"+OK %d %d\r\n" % (len(live),
                                      sum(self.estimate(m) for _, m in live)))

    def cmd_list(self, arg):
        if arg.strip():
            i = self.message_arg(arg)
            if i is not None:
                self.send(b"+OK %d %d\r\n" % (i + 1,
                                              self.estimate(self.messages[i])))
            return
        live = self.live()
        out = [b"+OK %d %d\r\n" % (len(live), sum(self.estimate(m)
                                                  for _, m in live))]
        out += [b"%d %d\r\n" % (i + 1, self.estimate(m)) for i, m in live]
        self.send(b"".join(out) + b".\r\n")

    def cmd_uidl(self, arg):
        if arg.strip():
            i = self.message_arg(arg)
            if i is not None:
                self.send(b"+OK %d %s\r\n" % (i + 1,
                                              self.messages[i].uid.encode()))
            return
        out = [b"+OK\r\n"]
        out += [b"%d %s\r\n" % (i + 1, m.uid.encode()) for i, m in self.live()]
        self.send(b"".join(out) + b".\r\n")

    def cmd_retr(self, arg):
        i = self.message_arg(arg)
        if i is None:
            return
        self.send_multiline(b"+OK\r\n" + stuff(self.messages[i].data))
        with self.state.lock:
            self.log.setdefault("retrieved", []).append(i + 1)

    def cmd_top(self, arg):
        parts = arg.split()
        if len(parts) != 2 or not parts[1].isdigit():
            self.send(BAD_ARGUMENT)
            return
        i = self.message_arg(parts[0])
        if i is None:
            return
        data = self.messages[i].data
        head, sep, body = data.partition(b"\r\n\r\n")
        lines = body.split(b"\r\n")[:int(parts[1])] if sep else []
        part = head + sep + b"\r\n".join(lines)
        if sep and lines and not part.endswith(b"\r\n"):
            part += b"\r\n"
        self.send_multiline(b"+OK\r\n" + stuff(part))

    def cmd_dele(self, arg):
        i = self.message_arg(arg)
        if i is None:
            return
        self.deleted.add(i)
        self.log.setdefault("dele", []).append(i + 1)
        self.send(b"+OK\r\n")

    def cmd_rset(self, arg):
        self.deleted.clear()
        self.log["rset"] = True
        self.send(b"+OK\r\n")


TRANSACTION = {
    "STAT": Pop3Session.cmd_stat,
    "LIST": Pop3Session.cmd_list,
    "UIDL": Pop3Session.cmd_uidl,
    "RETR": Pop3Session.cmd_retr,
    "TOP": Pop3Session.cmd_top,
    "DELE": Pop3Session.cmd_dele,
    "RSET": Pop3Session.cmd_rset,
}


class Pop3:
    def __init__(self, state, pki):
        self.state = state
        self.pki = pki

    def handle(self, sock, peer):
        with self.state.lock:
            which = self.state.config["tls_cert"]
        try:
            tls = server_context(self.pki, which).wrap_socket(
                sock, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            with self.state.lock:
                self.state.pop3_sessions.append({"peer": peer[1],
                                                 "tls_error": str(exc)})
            return
        session = Pop3Session(self, tls, peer)
        session.log["sni"] = getattr(tls, "exo_sni", None)
        session.log["tls"] = tls.version()
        session.log["resumed"] = tls.session_reused
        try:
            session.run()
        except (ConnectionError, OSError, ssl.SSLError):
            session.log["closed_by"] = session.log["closed_by"] or "error"
        finally:
            session.log["end"] = time.time()
            # A scripted drop stays abrupt; an orderly end can be resumed.
            if session.log["closed_by"] in ("quit", "client"):
                tls_close(tls)
