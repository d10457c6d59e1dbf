"""Double of a company's HTTP proxy that serves CONNECT tunnels.

It tunnels only to the doubles in this process (the 127.0.0.1 ports it was
given), whatever host name the request names, so a test can never
make it reach another machine. Modes: "ok", "407" (authentication
required unless the configured user and password came), "502" (an HTML
error page).
"""

import base64
import select
import socket
import time

from common import send_all

HEAD_MAX = 16384


class HttpProxy:
    def __init__(self, state, allowed_ports):
        self.state = state
        self.allowed_ports = allowed_ports	# dict name -> port

    def handle(self, sock, peer):
        st = self.state
        sock.settimeout(30)
        buf = b""
        while b"\r\n\r\n" not in buf and len(buf) < HEAD_MAX:
            try:
                chunk = sock.recv(4096)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk

        head, _, rest = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, _, target = lines[0].partition(" ")
        target = target.rsplit(" ", 1)[0]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        record = {"time": time.time(), "method": method, "target": target,
                  "host_header": headers.get("host", ""),
                  "proxy_authorization": headers.get("proxy-authorization",
                                                     "")}
        with st.lock:
            st.proxy_requests.append(record)
            mode = dict(st.proxy)

        if method != "CONNECT":
            record["result"] = "not CONNECT"
            send_all(sock, b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0"
                     b"\r\nConnection: close\r\n\r\n")
            return
        expected = ""
        if mode["user"]:
            expected = "Basic " + base64.b64encode(
                ("%s:%s" % (mode["user"], mode["password"])).encode()).decode()
        if mode["mode"] == "407" or (expected and
                                     record["proxy_authorization"] !=
                                     expected):
            record["result"] = "407"
            send_all(sock, b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                     b"Proxy-Authenticate: Basic realm=\"proxy\"\r\n"
                     b"Content-Length: 0\r\nConnection: close\r\n\r\n")
            return
        if mode["mode"] == "502":
            record["result"] = "502"
            page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
            send_all(sock, b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: "
                     b"text/html\r\nContent-Length: %d\r\nConnection: close"
                     b"\r\n\r\n" % len(page) + page)
            return

        host, _, port = target.rpartition(":")
        if host not in ("localhost", "127.0.0.1") or not port.isdigit() or \
                int(port) not in self.allowed_ports.values():
            record["result"] = "target not allowed"
            send_all(sock, b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n"
                     b"Connection: close\r\n\r\n")
            return
        # The identity double distinguishes tunnels from direct connections
        # by their source port, so register it before connecting.
        upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        upstream.bind(("127.0.0.1", 0))
        with st.lock:
            st.proxy_ports.add(upstream.getsockname()[1])
        try:
            upstream.settimeout(10)
            upstream.connect(("127.0.0.1", int(port)))
        except OSError:
            upstream.close()
            record["result"] = "connect failed"
            send_all(sock, b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0"
                     b"\r\n\r\n")
            return
        record["result"] = "tunnel"
        try:
            send_all(sock, b"HTTP/1.1 200 Connection established\r\n\r\n")
            if rest:
                upstream.sendall(rest)
            record["bytes"] = pipe(sock, upstream)
        finally:
            upstream.close()


def pipe(a, b):
    """Copy bytes both ways until either side closes; return bytes moved."""
    moved = 0
    a.settimeout(None)
    b.settimeout(None)
    socks = [a, b]
    while True:
        ready, _, _ = select.select(socks, [], [], 60)
        if not ready:
            return moved
        for s in ready:
            try:
                data = s.recv(65536)
            except OSError:
                return moved
            if not data:
                return moved
            other = b if s is a else a
            if not send_all(other, data):
                return moved
            moved += len(data)
