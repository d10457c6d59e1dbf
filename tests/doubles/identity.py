"""Double of Microsoft's identity platform (v2.0 endpoints) over HTTPS.

Serves /{tenant}/oauth2/v2.0/devicecode, /token and /authorize as the real
service does for a public client: device code with authorization_pending
until a test approves the code, authorization code with PKCE (S256) and
single-use codes, and refresh tokens that rotate on every use and are
rejected once used. Tests script failures per request through the control
API (see control.py).
"""

import datetime
import hashlib
import json
import re
import ssl
import time
import urllib.parse
import uuid

from common import BODY_MAX, b64url, random_text, send_all, server_context

PATH_RE = re.compile(r"^/([^/]+)/oauth2/v2\.0/(devicecode|token|authorize)$")
GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
HEAD_MAX = 16384

ERROR_TEXTS = {
    50076: "Due to a configuration change made by your administrator, or "
           "because you moved to a new location, you must use multi-factor "
           "authentication to access the resource.",
    54005: "OAuth2 Authorization code was already redeemed, please retry "
           "with a new valid code or use an existing refresh token.",
    70000: "The provided value for the 'refresh_token' is not valid.",
    70016: "OAuth 2.0 device flow error. Authorization is pending. "
           "Continue polling.",
    70043: "The refresh token has expired or is invalid due to sign-in "
           "frequency checks by conditional access.",
    700082: "The refresh token has expired due to inactivity.",
    700025: "Client is public so neither 'client_assertion' nor "
            "'client_secret' should be presented.",
    700016: "Application with identifier was not found in the directory.",
    900144: "The request body must contain the following parameter: "
            "'scope'.",
    9002313: "Invalid request. Request is malformed or invalid.",
    501481: "The Code_Verifier does not match the code_challenge supplied "
            "in the authorization request.",
    50148: "The code_verifier does not match the code_challenge supplied "
           "in the authorization request for PKCE.",
    70008: "The provided authorization code or refresh token has expired "
           "due to inactivity.",
    50011: "The redirect URI specified in the request does not match the "
           "redirect URIs configured for the application.",
    7000218: "The request body must contain the following parameter: "
             "'client_assertion' or 'client_secret'.",
    70019: "Verification code expired.",
}


def error_body(error, code=None, description=None, suberror=None):
    """Return Microsoft's error JSON, in the service's field order."""
    trace = str(uuid.uuid4())
    corr = str(uuid.uuid4())
    stamp = datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M:%SZ")
    text = description or ERROR_TEXTS.get(code, "The request failed.")
    obj = {"error": error}
    if code:
        obj["error_description"] = ("AADSTS%d: %s\r\nTrace ID: %s\r\n"
                                    "Correlation ID: %s\r\nTimestamp: %s"
                                    % (code, text, trace, corr, stamp))
        obj["error_codes"] = [code]
    else:
        obj["error_description"] = text
    obj["timestamp"] = stamp
    obj["trace_id"] = trace
    obj["correlation_id"] = corr
    if code:
        obj["error_uri"] = ("https://login.microsoftonline.com/error?code=%d"
                            % code)
    if suberror:
        obj["suberror"] = suberror
    return obj


class Reply:
    def __init__(self, status, body=b"", ctype="application/json; "
                 "charset=utf-8", headers=None):
        self.status = status
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.body = body
        self.ctype = ctype
        self.headers = headers or []


REASONS = {200: "OK", 302: "Found", 400: "Bad Request", 401: "Unauthorized",
           404: "Not Found", 405: "Method Not Allowed", 429:
           "Too Many Requests", 500: "Internal Server Error", 502:
           "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


def json_error(status, error, code=None, description=None, suberror=None):
    return Reply(status, error_body(error, code, description, suberror))


class Identity:
    def __init__(self, state, pki, port_holder):
        self.state = state
        self.pki = pki
        self.port_holder = port_holder	# dict with "identity" port

    # ---- connection handling ----

    def handle(self, sock, peer):
        st = self.state
        sock.settimeout(120)
        with st.lock:
            require_proxy = st.config["require_proxy"]
            via_proxy = peer[1] in st.proxy_ports
        conn_script = st.take_script("conn", lambda s: True)
        if require_proxy and not via_proxy:
            with st.lock:
                st.token_requests.append({"direct_refused": True,
                                          "time": time.time()})
            return

        if conn_script:
            action = conn_script.get("action")
            if action == "close":
                return
            if action == "garbage":
                send_all(sock, b"HTTP/1.1 200 OK\r\n\r\nnot TLS at all\r\n")
                return
            if action == "stall":
                time.sleep(conn_script.get("seconds", 60))
                return
        with st.lock:
            which = st.config["identity_tls_cert"]
        try:
            tls = server_context(self.pki, which).wrap_socket(
                sock, server_side=True)
        except (ssl.SSLError, OSError):
            return
        request = read_request(tls)
        if request is None:
            return
        method, target, headers, body = request
        reply = self.dispatch(method, target, headers, body)
        if reply is None:		# scripted drop
            return
        write_reply(tls, reply)
        try:
            tls.unwrap()
        except (ssl.SSLError, OSError):
            pass

    def dispatch(self, method, target, headers, body):
        st = self.state
        url = urllib.parse.urlsplit(target)
        m = PATH_RE.match(url.path)
        form = {}
        if method == "POST":
            form = dict(urllib.parse.parse_qsl(body.decode("utf-8",
                                                           "replace"),
                                               keep_blank_values=True))
        elif method == "GET":
            form = dict(urllib.parse.parse_qsl(url.query,
                                               keep_blank_values=True))
        record = {"time": time.time(), "clock": st.now(), "method": method,
                  "path": url.path, "endpoint": m.group(2) if m else "",
                  "tenant": m.group(1) if m else "",
                  "content_type": headers.get("content-type", ""),
                  "form": form, "grant_type": form.get("grant_type", ""),
                  "body": body.decode("utf-8", "replace")}
        with st.lock:
            st.token_requests.append(record)
            key = record["grant_type"] or record["endpoint"]
            st.grant_counts[key] = st.grant_counts.get(key, 0) + 1
        if m is None:
            record["status"] = 404
            return Reply(404, "not found", "text/plain")
        endpoint = m.group(2)

        grant = form.get("grant_type", "")
        script = st.take_script(
            "token" if endpoint == "token" else endpoint,
            lambda s: s.get("grant", grant) == grant)
        if script:
            if script.get("delay"):
                time.sleep(script["delay"])
            reply = self.scripted(script)
            if reply is not False:
                record["status"] = reply.status if reply else "dropped"
                record["scripted"] = True
                return reply

        if endpoint == "authorize":
            reply = self.authorize(method, form)
        elif method != "POST":
            reply = Reply(405, "method not allowed", "text/plain")
        elif not headers.get("content-type", "").startswith(
                "application/x-www-form-urlencoded"):
            reply = json_error(400, "invalid_request", 900144,
                               "The request body must contain the "
                               "following parameter: 'grant_type'.")
        elif endpoint == "devicecode":
            reply = self.devicecode(form, m.group(1))
        else:
            omit = bool(script and script.get("omit_refresh_token"))
            reply = self.token(form, omit)
        record["status"] = reply.status
        if reply.status >= 400 and reply.ctype.startswith("application/json"):
            try:
                record["error"] = json.loads(reply.body)["error"]
            except (ValueError, KeyError):
                pass
        return reply

    def scripted(self, spec):
        """Return the Reply a script requests, None to drop, False for none."""
        if spec.get("drop"):
            return None
        status = spec.get("status")
        if status is None:
            return False		# a pure delay: answer normally
        headers = []
        if "retry_after" in spec:
            headers.append(("Retry-After", str(spec["retry_after"])))
        if spec.get("html"):
            page = ("<html><head><title>%d %s</title></head><body><h1>%s"
                    "</h1><p>The proxy server received an invalid response "
                    "from an upstream server.</p></body></html>"
                    % (status, REASONS.get(status, ""),
                       REASONS.get(status, "")))
            reply = Reply(status, page, "text/html", headers)
        elif spec.get("error"):
            reply = Reply(status, error_body(spec["error"], spec.get("code"),
                                             spec.get("description"),
                                             spec.get("suberror")),
                          headers=headers)
        elif "body" in spec:
            reply = Reply(status, spec["body"], spec.get("content_type",
                                                         "text/plain"),
                          headers)
        else:
            reply = Reply(status, "", "text/plain", headers)
        reply.truncate = bool(spec.get("truncate"))
        return reply

    # ---- endpoints ----

    def check_client(self, form, allow_secret=False):
        """Return an error Reply for a bad client_id or secret, or None."""
        st = self.state
        client_id = form.get("client_id", "")
        with st.lock:
            expected = st.config["client_id"]
        if not GUID_RE.match(client_id) or (expected and
                                            client_id != expected):
            return json_error(400, "unauthorized_client", 700016,
                              "Application with identifier '%s' was not "
                              "found in the directory." % client_id[:64])
        if "client_secret" in form and not allow_secret:
            return json_error(401, "invalid_client", 700025)
        return None

    def devicecode(self, form, tenant="common"):
        st = self.state
        bad = self.check_client(form)
        if bad:
            return bad
        if not form.get("scope"):
            return json_error(400, "invalid_request", 900144)
        user_code = random_text(8, "ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        device_code = "DAQABAAEAAAD" + random_text(180)
        with st.lock:
            interval = st.config["device_interval"]
            expires_in = st.config["device_expires_in"]
            st.device_codes[device_code] = {
                "user_code": user_code, "state": "pending", "mailbox": None,
                "expires_at": st.now() + expires_in,
                "scope": form["scope"], "polls": []}
        # Personal accounts are sent to another page.
        uri = "https://www.microsoft.com/link" if tenant == "consumers" \
            else "https://microsoft.com/devicelogin"
        return Reply(200, {
            "user_code": user_code, "device_code": device_code,
            "verification_uri": uri, "expires_in": expires_in,
            "interval": interval,
            "message": "To sign in, use a web browser to open the page %s "
                       "and enter the code %s to authenticate."
                       % (uri, user_code)})

    def authorize(self, method, query):
        st = self.state
        if method != "GET":
            return Reply(405, "method not allowed", "text/plain")
        redirect = query.get("redirect_uri", "")
        parsed = urllib.parse.urlsplit(redirect)
        if (parsed.scheme != "http" or parsed.hostname not in
                ("localhost", "127.0.0.1") or
                query.get("client_id") is None or
                not GUID_RE.match(query.get("client_id", ""))):
            return Reply(400, "<html><body>AADSTS50011: %s</body></html>"
                         % ERROR_TEXTS[50011], "text/html")
        if not parsed.path:
            redirect += "/"
        params = {}
        with st.lock:
            choice = st.authorize_choice
        if query.get("response_type") != "code":
            params = {"error": "unsupported_response_type",
                      "error_description": "AADSTS900144: response_type"}
        elif (query.get("code_challenge_method") != "S256" or
              not query.get("code_challenge")):
            params = {"error": "invalid_request",
                      "error_description": "AADSTS501491: Invalid size of "
                      "Code_Challenge parameter or method not S256."}
        elif not query.get("scope"):
            params = {"error": "invalid_request",
                      "error_description": "AADSTS900144: scope"}
        elif choice is None:
            return Reply(200, "<html><body>Pick an account (no test chose "
                         "one through the control API)</body></html>",
                         "text/html")
        elif choice.get("error"):
            params = {"error": choice["error"], "error_description":
                      choice.get("description", "AADSTS65004: User "
                                 "declined to consent to access the app.")}
        else:
            acct = st.account(choice["mailbox"], create=True)
            code = "0.AX" + random_text(400)
            with st.lock:
                st.auth_codes[code] = {
                    "mailbox": acct.mailbox,
                    "challenge": query["code_challenge"],
                    "redirect_uri": query["redirect_uri"],
                    "client_id": query["client_id"],
                    "scope": query["scope"], "used": False,
                    "expires_at": st.now() + st.config["code_lifetime"]}
            params = {"code": code}
            if "state" in query:
                params["state"] = query["state"]
            if not acct.personal:
                params["session_state"] = str(uuid.uuid4())
            location = redirect + "?" + urllib.parse.urlencode(params)
            return Reply(302, "", "text/html",
                         [("Location", location)])
        if "state" in query:
            params["state"] = query["state"]
        location = redirect + "?" + urllib.parse.urlencode(params)
        return Reply(302, "", "text/html", [("Location", location)])

    def token(self, form, omit_refresh_token=False):
        grant = form.get("grant_type", "")
        if grant == "refresh_token":
            return self.grant_refresh(form, omit_refresh_token)
        if grant == "authorization_code":
            return self.grant_code(form)
        if grant == "urn:ietf:params:oauth:grant-type:device_code":
            return self.grant_device(form)
        return json_error(400, "unsupported_grant_type", 70003,
                          "The app requested an unsupported grant type "
                          "'%s'." % grant[:64])

    def grant_refresh(self, form, omit_refresh_token=False):
        """Redeem a refresh token. With OMIT_REFRESH_TOKEN the reply has no
        refresh_token and the old one stays valid, as the service may do."""
        st = self.state
        bad = self.check_client(form)
        if bad:
            return bad
        if not form.get("scope"):
            return json_error(400, "invalid_request", 900144)
        rt = form.get("refresh_token", "")
        with st.lock:
            info = st.refresh_tokens.get(rt)
            if info is None:
                return json_error(400, "invalid_grant", 9002313)
            if info["used"]:
                return json_error(400, "invalid_grant", 70000,
                                  "The provided value for the "
                                  "'refresh_token' is not valid: it was "
                                  "already used.")
            if st.now() - info["issued"] > st.config["refresh_token_idle"]:
                return json_error(400, "invalid_grant", 700082)
            info["used"] = not omit_refresh_token
            mailbox = info["mailbox"]
        return self.issue(mailbox, form["scope"], info["client_id"],
                          not omit_refresh_token)

    def grant_code(self, form):
        st = self.state
        bad = self.check_client(form)
        if bad:
            return bad
        code = form.get("code", "")
        with st.lock:
            info = st.auth_codes.get(code)
            if info is None or info["expires_at"] <= st.now():
                return json_error(400, "invalid_grant", 70008)
            if info["used"]:
                return json_error(400, "invalid_grant", 54005)
            info["used"] = True
        if form.get("redirect_uri") != info["redirect_uri"]:
            return json_error(400, "invalid_grant", 50011)
        verifier = form.get("code_verifier", "").encode()
        if b64url(hashlib.sha256(verifier).digest()) != info["challenge"]:
            return json_error(400, "invalid_grant", 501481)
        if not form.get("scope"):
            return json_error(400, "invalid_request", 900144)
        return self.issue(info["mailbox"], form["scope"], form["client_id"])

    def grant_device(self, form):
        st = self.state
        bad = self.check_client(form)
        if bad:
            return bad
        with st.lock:
            info = st.device_codes.get(form.get("device_code", ""))
            if info is None:
                return json_error(400, "bad_verification_code", 70000)
            info["polls"].append(st.now())
            if info["state"] == "redeemed":
                return json_error(400, "invalid_grant", 54005)
            if info["expires_at"] <= st.now():
                return json_error(400, "expired_token", 70019)
            if info["state"] == "declined":
                return json_error(400, "authorization_declined", 70000,
                                  "The user declined the authorization.")
            if info["state"] == "pending":
                return json_error(400, "authorization_pending", 70016)
            info["state"] = "redeemed"
            mailbox = info["mailbox"]
            scope = info["scope"]
        return self.issue(mailbox, scope, form["client_id"])

    # ---- tokens ----

    def issue(self, mailbox, scope, client_id, with_refresh_token=True):
        st = self.state
        acct = st.account(mailbox, create=True)
        with st.lock:
            at_len = st.config["access_token_length"]
            rt_len = st.config["refresh_token_length"]
            expires_in = st.config["expires_in"]
        scopes = scope.split()
        granted = [s for s in scopes if s.startswith("https://")]
        if acct.personal:
            access = "EwB" + random_text(max(at_len - 3, 16))
        else:
            access = make_jwt({"aud": "https://outlook.office.com",
                               "upn": acct.mailbox, "scp": " ".join(
                                   s.rsplit("/", 1)[-1] for s in granted)},
                              at_len)
        body = {"token_type": "Bearer",
                "scope": " ".join(granted),
                "expires_in": expires_in, "ext_expires_in": expires_in,
                "access_token": access}
        with st.lock:
            st.access_tokens[access] = {
                "mailbox": acct.mailbox, "scopes": granted,
                "expires_at": st.now() + expires_in, "issued": st.now()}
            if "offline_access" in scopes and with_refresh_token:
                seq = sum(1 for r in st.refresh_tokens.values()
                          if r["mailbox"] == acct.mailbox) + 1
                rt = "M.C%d_RT%d." % (len(st.refresh_tokens), seq) + \
                    random_text(max(rt_len - 12, 16))
                st.refresh_tokens[rt] = {"mailbox": acct.mailbox,
                                         "used": False, "seq": seq,
                                         "client_id": client_id,
                                         "issued": st.now()}
                body["refresh_token"] = rt
        if "openid" in scopes:
            claims = {"aud": client_id, "iss": "https://login."
                      "microsoftonline.com/%s/v2.0" % acct.tid,
                      "iat": int(st.now()), "nbf": int(st.now()),
                      "exp": int(st.now()) + 3600, "name": acct.name,
                      "oid": acct.oid, "preferred_username": acct.mailbox,
                      "sub": random_text(43), "tid": acct.tid,
                      "ver": "2.0"}
            if "email" in scopes:
                claims["email"] = acct.mailbox
            body["id_token"] = make_jwt(claims, 0)
        return Reply(200, body)


def make_jwt(claims, min_length):
    """Return an unsigned JWT with CLAIMS, padded to MIN_LENGTH bytes."""
    header = b64url(json.dumps({"typ": "JWT", "alg": "RS256",
                                "kid": "test"}).encode())
    payload = b64url(json.dumps(claims).encode())
    sig_len = max(86, min_length - len(header) - len(payload) - 2)
    return header + "." + payload + "." + random_text(sig_len)


def read_request(sock):
    """Read one HTTP request: (method, target, headers, body) or None."""
    buf = bytearray()
    while b"\r\n\r\n" not in buf:
        try:
            chunk = sock.recv(65536)
        except (OSError, ssl.SSLError):
            return None
        if not chunk:
            return None
        buf += chunk
        if len(buf) > HEAD_MAX + BODY_MAX:
            return None
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    if len(head) > HEAD_MAX:
        return None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        return None
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        return None
    if length < 0 or length > BODY_MAX:
        return None
    body = bytearray(rest)
    while len(body) < length:
        try:
            chunk = sock.recv(65536)
        except (OSError, ssl.SSLError):
            return None
        if not chunk:
            return None
        body += chunk
    return parts[0], parts[1], headers, bytes(body[:length])


def write_reply(sock, reply):
    lines = ["HTTP/1.1 %d %s" % (reply.status, REASONS.get(reply.status,
                                                           "Status")),
             "Content-Type: " + reply.ctype,
             "Cache-Control: no-store, no-cache",
             "Content-Length: %d" % len(reply.body),
             "Connection: close"]
    for name, value in reply.headers:
        lines.append("%s: %s" % (name, value))
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + reply.body
    if getattr(reply, "truncate", False):
        # Promise the whole body but send only half of it, then close.
        data = data[:len(data) - max(1, len(reply.body) // 2)]
    send_all(sock, data)
