#!/usr/bin/env python3
"""Write the seed corpora of the fuzz targets into tests/fuzz/corpus/.

Usage: python3 tests/fuzz/seeds.py

Each seed is a transcript or message in the shapes Exchange Online, the
identity platform and office devices use. Run it again after changing a
seed. The files are committed, so make fuzz does not need this script.
"""

import base64
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def client_hello(version, suites, versions=()):
    """A TLS ClientHello record, with supported_versions when given."""
    body = (version.to_bytes(2, "big") + bytes(32) + b"\x00" +
            (2 * len(suites)).to_bytes(2, "big") +
            b"".join(x.to_bytes(2, "big") for x in suites) + b"\x01\x00")
    if versions:
        listed = b"".join(v.to_bytes(2, "big") for v in versions)
        ext = (b"\x00\x2b" + (len(listed) + 1).to_bytes(2, "big") +
               bytes([len(listed)]) + listed)
        body += len(ext).to_bytes(2, "big") + ext
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + len(hs).to_bytes(2, "big") + hs


def jwt(claims):
    head = b64url(b'{"typ":"JWT","alg":"RS256","kid":"abc"}')
    return head + "." + b64url(json.dumps(claims).encode()) + ".c2ln"


ID_TOKEN = jwt({"preferred_username": "mfp@example.com",
                "email": "mfp@example.com", "name": "Scanner \u00e9tage 2",
                "tid": "9188040d-6c67-4c5b-b112-36a304b66dad",
                "oid": "00000000-0000-0000-66f3-3332eca7ea81"})
TOKEN_OK = json.dumps({"token_type": "Bearer",
                       "scope": "https://outlook.office.com/POP.AccessAsUser"
                       ".All", "expires_in": 3599, "ext_expires_in": 3599,
                       "access_token": "EwBwA8l6" + "A" * 300,
                       "refresh_token": "M.C105_BAY.0.U.-" + "B" * 200,
                       "id_token": ID_TOKEN})
TOKEN_ERR = json.dumps({"error": "invalid_grant", "error_description":
                        "AADSTS70000: The provided value for the 'refresh_"
                        "token' is not valid.\r\nTrace ID: 1\r\nCorrelation"
                        " ID: 2\r\nTimestamp: 2024-10-10 22:49:55Z",
                        "error_codes": [70000], "timestamp": "2024-10-10",
                        "trace_id": "1", "correlation_id": "2"})
DEVICE = json.dumps({"user_code": "YZMYLD4K", "device_code": "DAQABAAEAAA",
                     "verification_uri": "https://microsoft.com/devicelogin",
                     "expires_in": 900, "interval": 5, "message": "To sign "
                     "in, use a web browser to open the page."})

SEEDS = {
    "base64": {
        "plain": b64("\0scanner1\0secret"),
        "xoauth2": b64("user=mfp@example.com\x01auth=Bearer tok\x01\x01"),
        "nopad": "dXNlcm5hbWU",
        "url": b64url(b'{"a":"\xff\xfe"}'),
        "prompt": "VXNlcm5hbWU6",
    },
    "sasl": {
        "plain": b64("\0scanner1\0secret"),
        "plain-authzid": b64("scanner1\0scanner1\0secret"),
        "login-user": b64("scanner1"),
        "cancel": "*\r\n",
        "xoauth2-parts": "mfp@example.com\0EwBwA8l6AAAA",
        "latin1": b64(b"\0scanner1\0p\xe4ssw\xf6rd"),
    },
    "http": {
        "token-200": "\x07HTTP/1.1 200 OK\r\nCache-Control: no-store\r\n"
        "Content-Type: application/json; charset=utf-8\r\n"
        "Content-Length: %d\r\n\r\n%s" % (len(TOKEN_OK), TOKEN_OK),
        "token-400-chunked": "\x03HTTP/1.1 400 Bad Request\r\n"
        "Content-Type: application/json; charset=utf-8\r\n"
        "Transfer-Encoding: chunked\r\n\r\n%x;ext=1\r\n%s\r\n0\r\n"
        "X-Trailer: 1\r\n\r\n" % (len(TOKEN_ERR), TOKEN_ERR),
        "retry-after": "\x01HTTP/1.1 503 Service Unavailable\r\n"
        "Retry-After: 30\r\nContent-Length: 0\r\n\r\n",
        "close-delimited": "\x0fHTTP/1.0 500 Internal Server Error\r\n"
        "Content-Type: text/html\r\n\r\n<html>error</html>",
        "proxy-407": "\x05HTTP/1.1 407 Proxy Authentication Required\r\n"
        "Proxy-Authenticate: Basic realm=\"x\"\r\nContent-Length: 5\r\n\r\n"
        "abcde",
        "url": "\x00https://login.microsoftonline.com:443/common/oauth2/v2.0"
        "/token?x=1#frag",
        "proxy-url": "\x00http://user:p%40ss@[::1]:3128/",
    },
    "token": {
        "success": "\x00" + TOKEN_OK,
        "invalid-grant": "\x01" + TOKEN_ERR,
        "pending": "\x01" + json.dumps({"error": "authorization_pending",
                                        "error_codes": [70016]}),
        "html-503": "\x86<html><body>Service Unavailable</body></html>",
        "device": "\x00" + DEVICE,
        "id-token": ID_TOKEN,
    },
    "json": {
        "success": TOKEN_OK,
        "error": TOKEN_ERR,
        "device": DEVICE,
        "escapes": '{"a":"\\u00e9\\ud83d\\ude00\\n","expires_in":"3599",'
        '"error_codes":[1,2,70000],"n":{"x":[true,false,null]}}',
    },
    "config": {
        "default": """; exoconnect settings
[microsoft]
client_id = 3f1b6d2e-8c4a-4e57-9d1a-2b6c7e8f9a01
tenant = common
authority = https://login.microsoftonline.com

[pop3]
listen = 0.0.0.0
port = 110
upstream = outlook.office365.com:995
idle_timeout = 600

[smtp]
listen = 0.0.0.0
port = 25
upstream = smtp.office365.com:587
upstream_personal = smtp-mail.outlook.com:587
hostname = exoconnect.example
max_message_size = 35 MB
idle_timeout = 300

[tls]
ca_file =

[network]
proxy = http://proxy.example:3128

[limits]
preauth_timeout = 60

[log]
file = exoconnect.log
level = info
""",
    },
    "reply": {
        "pop3-greeting-retr": "+OK The Microsoft Exchange POP3 service is "
        "ready. [SABFADEAUABSADAAMQA=]\r\nReceived: x\r\n..dot\r\n\r\nbody"
        "\r\n.\r\n",
        "pop3-err": "-ERR Authentication failure: unknown user name or bad "
        "password.\r\n",
        "smtp-ehlo": "250-LO4P302CA0005.outlook.office365.com Hello\r\n",
        "smtp-535": "535 5.7.139 Authentication unsuccessful, "
        "SmtpClientAuthentication is disabled for the Tenant.\r\n",
        "smtp-334": "334 \r\n",
        "pop3-uidl": "+OK\r\n1 AQAAAA==\r\n2 AgAAAA==\r\n.\r\n",
    },
    "smtp-data": {
        "crlf": "\x03From: mfp@example.com\r\nSubject: scan\r\n\r\n..dot"
        "\r\nbody\r\n.\r\n",
        "bare-lf": "\x01From: a\nSubject: b\n\n.\nbody\n.\n",
        "bare-cr": "\x05a\rb\r.\r\n.\r\n",
        "iso-2022-jp": b"\x02Subject: \x1b$B%9%-%c%s\x1b(B\r\n\r\n\x80\xff"
        b"\r\n.\r\n",
        "empty": "\x00.\r\n",
    },
    "pop3-session": {
        "user-pass": "CAPA\r\nUSER scanner1\r\nPASS secret\r\nSTAT\r\n"
        "QUIT\r\n",
        "bad-pass": "user scanner1\r\npass wrong\r\nUSER x\r\nPASS y\r\n"
        "NOOP\r\nQUIT\r\n",
        "auth-plain": "AUTH PLAIN\r\n%s\r\nQUIT\r\n" % b64("\0scanner1\0"
                                                         "secret"),
        "auth-login": "AUTH LOGIN\r\n%s\r\n%s\r\n" % (b64("scanner1"),
                                                      b64("secret")),
        "auth-cancel": "AUTH\r\nAUTH PLAIN\r\n*\r\nAUTH XOAUTH2\r\nSTLS\r\n"
        "APOP scanner1 c4c9334bac560ecc979e58001b3e22fb\r\nQUIT\r\n",
        "relayed": "USER scanner1\r\nPASS secret\r\nSTAT\r\nLIST\r\n"
        "LIST 1\r\nUIDL\r\nUIDL 2\r\nTOP 1 5\r\nRETR 2\r\nDELE 1\r\n"
        "RSET\r\nNOOP\r\nCAPA\r\nLAST\r\nQUIT\r\n",
        "relayed-junk": "USER scanner1\r\nPASS secret\r\nTOP 1\r\n"
        "RETR\r\nLIST 1 2 3\r\nDELE x\r\nretr 99999999999\r\n"
        "TOP 2 -1\r\nUIDL \r\nNOOP\x00\r\n" + "X" * 600 + "\r\n",
        "lf-only": "USER scanner1\nPASS secret\nLIST\nRETR 1\nDELE 1\n"
        "QUIT\n",
    },
    "smtp-session": {
        "ehlo-auth-plain": "EHLO mfp\r\nAUTH PLAIN %s\r\nMAIL FROM:<mfp@"
        "example.com>\r\nRCPT TO:<a@example.com>\r\nDATA\r\nSubject: x\r\n"
        "\r\nbody\r\n.\r\nQUIT\r\n" % b64("\0scanner1\0secret"),
        "two-messages": "EHLO mfp\r\nAUTH PLAIN %s\r\nMAIL FROM:<mfp@"
        "example.com> SIZE=120\r\nRCPT TO:<a@example.com>\r\nRCPT TO:<b@"
        "example.org>\r\nDATA\r\nFrom: Scanner <scan@example.net>\r\n"
        "Subject: =?UTF-8?B?w6k=?=\r\n\r\n.lead\r\n..stuffed\r\nbare\n"
        ".\nlone\rcr\r\n.\r\nMAIL FROM:<mfp@example.com>\r\nRCPT TO:"
        "<a@example.com>\r\nDATA\r\n\r\n.\r\nRSET\r\nNOOP\r\nQUIT\r\n"
        % b64("\0scanner1\0secret"),
        "auth-login": "EHLO mfp\r\nAUTH LOGIN\r\n%s\r\n%s\r\nQUIT\r\n"
        % (b64("scanner1"), b64("secret")),
        "auth-login-inline": "ehlo mfp\r\nauth login %s\r\n%s\r\n"
        % (b64("scanner1"), b64("wrong")),
        "helo-mail": "HELO mfp\r\nMAIL FROM: <a@example.com> SIZE=1000 "
        "BODY=8BITMIME\r\nRCPT TO:b@example.com\r\nDATA\r\nRSET\r\nNOOP\r\n"
        "VRFY x\r\nSTARTTLS\r\nBDAT 10\r\nQUIT\r\n",
        "auth-cancel": "EHLO mfp\r\nAUTH PLAIN\r\n*\r\nAUTH CRAM-MD5\r\n"
        "AUTH XOAUTH2\r\nQUIT\r\n",
    },
    "tls-hello": {
        "tls10-rsa": client_hello(0x0301, [0x002f, 0x0035, 0x000a]),
        "tls12-mixed": client_hello(0x0303, [0xc02f, 0xc013, 0x009c]),
        "tls13": client_hello(0x0303, [0x1301, 0xc02f],
                              [0x0a0a, 0x0304, 0x0303]),
        "ssl30": client_hello(0x0300, [0x002f, 0x0004]),
        "sslv2": bytes([0x80, 0x1f, 0x01, 0x03, 0x01, 0x00, 0x06, 0x00,
                        0x00, 0x00, 0x10, 0x07, 0x00, 0xc0, 0x00, 0x00,
                        0x2f]) + bytes(16),
    },
}


def main():
    count = 0
    for target, seeds in SEEDS.items():
        folder = os.path.join(CORPUS, target)
        os.makedirs(folder, exist_ok=True)
        for name, data in seeds.items():
            if isinstance(data, str):
                data = data.encode("utf-8")
            with open(os.path.join(folder, name), "wb") as f:
                f.write(data)
            count += 1
    print("wrote %d seeds under %s" % (count, CORPUS))


if __name__ == "__main__":
    main()
