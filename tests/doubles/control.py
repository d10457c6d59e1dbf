"""Control API of the doubles: plain HTTP on 127.0.0.1, JSON in and out.

POST bodies are JSON objects; every reply is JSON except /smtp/raw.

  GET  /state                  config, accounts, sessions, requests, counts
  POST /config {key: value}    change DEFAULT_CONFIG keys (see common.py)
  POST /account {mailbox, name, personal, pop_enabled, smtp_auth_error,
                 send_as}      add or change an account
  POST /authorize {mailbox} | {error, description}
                               what the next /authorize redirect carries
  POST /device/approve {user_code, mailbox}
  POST /device/decline {user_code}
  POST /script/KIND {...}      queue a script; KIND is token, devicecode,
                               authorize, conn, pop3 or smtp
  POST /script/KIND/clear
  POST /clock {offset} | {advance}   the doubles' clock, in seconds
  POST /expire {mailbox?}      expire issued access tokens now
  POST /mailbox {mailbox, messages: [base64], uids?: [..], replace?}
  GET  /mailbox?mailbox=M      [{uid, size, sha256}]
  GET  /smtp/raw?index=N       the bytes of received message N
  POST /proxy {mode, user, password}
  POST /identity/listen {on}   close or reopen the identity listener

A script applies to the next matching request or command, "count" times
(default 1, -1 until cleared):

  token, devicecode, authorize: {grant?, delay?, status?, error?, code?,
      description?, suberror?, retry_after?, html?, body?, content_type?,
      truncate?, drop?, omit_refresh_token?}. Without "status" the request
      gets its normal response, after "delay" seconds.
  conn: {action: "close" | "garbage" | "stall", seconds?} for the next
      TCP connection to the identity double, before TLS.
  pop3: {on: "auth" | VERB | "QUIT-COMMIT" | "any", mailbox?, reply?,
      close?}. "auth" replaces the reply to a good XOAUTH2 login;
      "QUIT-COMMIT" replaces the commit at QUIT; no reply sends nothing.
  smtp: {on: VERB | "DATA-END" | "any", mailbox?, reply, close?}.
"""

import base64
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from common import Account, Message, bind_listener


def state_json(st):
    with st.lock:
        def strip(session):
            return {k: v for k, v in session.items() if k != "data"}
        return {
            "config": st.config,
            "clock_offset": st.clock_offset,
            "accounts": [a.to_json() for a in st.accounts.values()],
            "token_requests": st.token_requests,
            "grant_counts": st.grant_counts,
            "device_codes": [
                {"user_code": d["user_code"], "state": d["state"],
                 "polls": d["polls"], "expires_at": d["expires_at"]}
                for d in st.device_codes.values()],
            "auth_codes": [{"mailbox": c["mailbox"], "used": c["used"],
                            "redirect_uri": c["redirect_uri"]}
                           for c in st.auth_codes.values()],
            "refresh_tokens": [
                {"token": t, "mailbox": r["mailbox"], "used": r["used"],
                 "seq": r["seq"]} for t, r in st.refresh_tokens.items()],
            "access_tokens": [
                {"token": t, "mailbox": a["mailbox"],
                 "expires_at": a["expires_at"], "scopes": a["scopes"]}
                for t, a in st.access_tokens.items()],
            "pop3_sessions": st.pop3_sessions,
            "smtp_sessions": st.smtp_sessions,
            "smtp_messages": [strip(m) for m in st.smtp_messages],
            "smtp_active": st.smtp_active,
            "proxy_requests": st.proxy_requests,
            "scripts": st.scripts,
            "now": st.now(),
        }


class Control:
    def __init__(self, state, identity_restart):
        self.state = state
        self.identity_restart = identity_restart

    def post(self, path, body):
        st = self.state
        if path == "/config":
            with st.lock:
                for key, value in body.items():
                    if key not in st.config:
                        return 400, {"error": "unknown config key " + key}
                    st.config[key] = value
            return 200, st.config
        if path == "/account":
            acct = st.account(body["mailbox"], create=True)
            with st.lock:
                for key in ("name", "personal", "pop_enabled",
                            "smtp_auth_error", "smtp_token_rejected"):
                    if key in body:
                        setattr(acct, key, body[key])
                if "personal" in body:
                    fresh = Account(acct.mailbox, personal=body["personal"])
                    acct.tid = fresh.tid
                if "send_as" in body:
                    acct.send_as = set(body["send_as"])
            return 200, acct.to_json()
        if path == "/authorize":
            with st.lock:
                st.authorize_choice = body
            return 200, body
        if path in ("/device/approve", "/device/decline"):
            with st.lock:
                for info in st.device_codes.values():
                    if info["user_code"] == body.get("user_code"):
                        if path.endswith("approve"):
                            info["state"] = "approved"
                            info["mailbox"] = body["mailbox"]
                        else:
                            info["state"] = "declined"
                        return 200, {"ok": True}
            return 404, {"error": "no such user code"}
        if path.startswith("/script/"):
            kind = path.split("/")[2]
            if kind not in st.scripts:
                return 400, {"error": "unknown script kind " + kind}
            with st.lock:
                if path.endswith("/clear"):
                    st.scripts[kind].clear()
                else:
                    st.scripts[kind].append(body)
            return 200, {"queued": len(st.scripts[kind])}
        if path == "/clock":
            with st.lock:
                if "offset" in body:
                    st.clock_offset = float(body["offset"])
                st.clock_offset += float(body.get("advance", 0))
            return 200, {"offset": st.clock_offset}
        if path == "/expire":
            with st.lock:
                for info in st.access_tokens.values():
                    if not body.get("mailbox") or \
                            info["mailbox"].lower() == body["mailbox"].lower():
                        info["expires_at"] = st.now() - 1
            return 200, {"ok": True}
        if path == "/mailbox":
            key = body["mailbox"].lower()
            uids = body.get("uids") or []
            msgs = [Message(base64.b64decode(m), uids[i] if i < len(uids)
                            else None)
                    for i, m in enumerate(body.get("messages", []))]
            with st.lock:
                box = st.mailboxes.setdefault(key, [])
                if body.get("replace"):
                    box.clear()
                box.extend(msgs)
            return 200, {"count": len(box)}
        if path == "/proxy":
            with st.lock:
                st.proxy.update(body)
            return 200, st.proxy
        if path == "/identity/listen":
            self.identity_restart(bool(body.get("on")))
            return 200, {"on": bool(body.get("on"))}
        return 404, {"error": "unknown path " + path}

    def get(self, path, query):
        st = self.state
        if path == "/state":
            return 200, state_json(st)
        if path == "/mailbox":
            key = query.get("mailbox", "").lower()
            with st.lock:
                box = list(st.mailboxes.get(key, []))
            return 200, [{"uid": m.uid, "size": len(m.data),
                          "sha256": m.sha256} for m in box]
        return 404, {"error": "unknown path " + path}


def start_control(control):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):
            pass

        def answer(self, status, obj, raw=None):
            data = raw if raw is not None else json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream"
                             if raw is not None else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(url.query))
            if url.path == "/smtp/raw":
                with control.state.lock:
                    msgs = control.state.smtp_messages
                    index = int(query.get("index", "-1"))
                    data = msgs[index].get("data") if msgs else None
                if data is None:
                    self.answer(404, {"error": "no stored message"})
                else:
                    self.answer(200, None, data)
                return
            status, obj = control.get(url.path, query)
            self.answer(status, obj)

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length) if length else b"{}"
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                self.answer(400, {"error": "body is not JSON"})
                return
            try:
                status, obj = control.post(self.path, body)
            except (KeyError, TypeError, ValueError) as exc:
                status, obj = 400, {"error": repr(exc)}
            self.answer(status, obj)

    listener = bind_listener()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler,
                                 bind_and_activate=False)
    server.socket.close()
    server.socket = listener
    server.server_address = listener.getsockname()
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]
