#!/usr/bin/env python3
"""Start the doubles of Microsoft's services on 127.0.0.1.

Usage: python3 tests/doubles/microsoft.py --state-dir DIR

Creates a test CA and a certificate for "localhost" in DIR/pki, starts the
identity platform (HTTPS), Exchange POP3 (implicit TLS), Exchange SMTP
submission (STARTTLS), an HTTP CONNECT proxy and the control API, each on a
free port, and writes DIR/ports.json:

  {"identity": P, "pop3": P, "smtp": P, "proxy": P, "control": P,
   "ca_file": PATH, "pid": PID}

The file appears only when every listener accepts connections. The process
runs until it is killed.
"""

import argparse
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import State, bind_listener, make_pki, serve_forever  # noqa
from control import Control, start_control  # noqa
from identity import Identity  # noqa
from pop3 import Pop3  # noqa
from proxy import HttpProxy  # noqa
from smtp import Smtp  # noqa


def main():
    parser = argparse.ArgumentParser(description="Doubles of Microsoft's "
                                     "identity platform, Exchange POP3 and "
                                     "SMTP for end-to-end tests.")
    parser.add_argument("--state-dir", required=True,
                        help="folder for the test CA and ports.json")
    args = parser.parse_args()
    os.makedirs(args.state_dir, exist_ok=True)

    state = State(args.state_dir)
    pki = make_pki(args.state_dir)
    ports = {}

    identity = Identity(state, pki, ports)
    listeners = {"identity": bind_listener()}
    ports["identity"] = listeners["identity"].getsockname()[1]
    serve_forever(listeners["identity"], identity.handle, "identity")

    lock = threading.Lock()

    def identity_listen(on):
        """Close the identity listener (connections are refused) or reopen
        it on the same port."""
        with lock:
            if not on and listeners["identity"] is not None:
                # shutdown() wakes the thread blocked in accept(); close()
                # alone would leave the socket listening until then.
                try:
                    listeners["identity"].shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                listeners["identity"].close()
                listeners["identity"] = None
            elif on and listeners["identity"] is None:
                listeners["identity"] = bind_listener(ports["identity"])
                serve_forever(listeners["identity"], identity.handle,
                              "identity")
            with state.lock:
                state.identity_listening = on

    for name, double in (("pop3", Pop3(state, pki)),
                         ("smtp", Smtp(state, pki))):
        listener = bind_listener()
        ports[name] = listener.getsockname()[1]
        serve_forever(listener, double.handle, name)

    proxy_listener = bind_listener()
    ports["proxy"] = proxy_listener.getsockname()[1]
    allowed = {"identity": ports["identity"]}
    serve_forever(proxy_listener, HttpProxy(state, allowed).handle, "proxy")

    ports["control"] = start_control(Control(state, identity_listen))
    ports["ca_file"] = pki["ca"]
    ports["pid"] = os.getpid()

    path = os.path.join(args.state_dir, "ports.json")
    with open(path + ".tmp", "w") as f:
        json.dump(ports, f)
    os.replace(path + ".tmp", path)
    print("doubles ready: " + json.dumps(ports), flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
