#!/usr/bin/env python3
"""Hostile HTTPS policy host for the MTA-STS testbed (stdlib only).

Serves the fetch faults nginx cannot produce. It listens on one address (127.0.1.2:443 in the testbed),
picks the certificate by SNI from the testbed's CA-signed leaves (CERTDIR/<label>.chain.pem + <label>.key),
handles each connection in its own thread, and routes by SNI name (or the Host header when no SNI was sent):

  mta-sts.noct.t.test        200, valid policy, no Content-Type header at all
  mta-sts.bigchunked.t.test  200 text/plain, chunked, 100000-byte body, no Content-Length
  mta-sts.slowhead.t.test    nothing at all for 30 s after the TLS handshake, then a valid policy
  mta-sts.slowbody.t.test    200 text/plain, Content-Length 200, then 1 body byte every 2 s

Only GET /.well-known/mta-sts.txt is served; other paths and unknown names get 404 (unknown SNI: the
default.t.test certificate). Bodies are read from WWWDIR/<label>.txt.
"""

import argparse
import os
import signal
import socket
import ssl
import sys
import threading
import time

POLICY_PATH = "/.well-known/mta-sts.txt"
SUFFIX = ".t.test"
ROUTES = ("noct", "bigchunked", "slowhead", "slowbody")
SLOWHEAD_DELAY = 30.0
SLOWBODY_INTERVAL = 2.0
IO_TIMEOUT = 10.0


def log(msg):
    sys.stderr.write("%s faultserver: %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def label_of(name):
    """mta-sts.noct.t.test -> noct; anything else -> None."""
    if not name:
        return None
    name = name.lower().rstrip(".")
    if name.startswith("mta-sts.") and name.endswith(SUFFIX):
        label = name[len("mta-sts."):-len(SUFFIX)]
        if label in ROUTES:
            return label
    return None


def make_context(certdir, label):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(os.path.join(certdir, label + ".chain.pem"), os.path.join(certdir, label + ".key"))
    return ctx


class Server:
    def __init__(self, args):
        self.wwwdir = args.www
        self.contexts = {label: make_context(args.certs, label) for label in ROUTES}
        self.default = make_context(args.certs, "default")
        self.default.sni_callback = self.pick_certificate
        self.sni = {}  # id(ssl socket) -> server name sent by the client
        self.lock = threading.Lock()

    def pick_certificate(self, sslsock, name, _ctx):
        with self.lock:
            self.sni[id(sslsock)] = name
        label = label_of(name)
        if label is not None:
            sslsock.context = self.contexts[label]
        return None

    def body(self, label):
        with open(os.path.join(self.wwwdir, label + ".txt"), "rb") as f:
            return f.read()

    def serve(self, listener):
        while True:
            conn, peer = listener.accept()
            threading.Thread(target=self.handle, args=(conn, peer), daemon=True).start()

    def handle(self, conn, peer):
        conn.settimeout(IO_TIMEOUT)
        tls = None
        try:
            tls = self.default.wrap_socket(conn, server_side=True)
            handshake_done = time.monotonic()
            with self.lock:
                sni = self.sni.pop(id(tls), None)
            method, path, host = read_request(tls)
            name = sni or host
            label = label_of(name)
            log("%s:%d sni=%s host=%s %s %s -> %s" % (peer[0], peer[1], sni, host, method, path, label))
            if label is None or method != "GET" or path != POLICY_PATH:
                send_simple(tls, 404, b"not found\n")
            elif label == "noct":
                body = self.body(label)
                tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
            elif label == "bigchunked":
                body = self.body(label)
                tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
                for i in range(0, len(body), 8192):
                    chunk = body[i:i + 8192]
                    tls.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                tls.sendall(b"0\r\n\r\n")
            elif label == "slowhead":
                remaining = SLOWHEAD_DELAY - (time.monotonic() - handshake_done)
                if remaining > 0:
                    time.sleep(remaining)
                body = self.body(label)
                tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                            b"Connection: close\r\n\r\n" % len(body) + body)
            elif label == "slowbody":
                body = self.body(label)
                tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                            b"Connection: close\r\n\r\n" % len(body))
                for i in range(len(body)):
                    time.sleep(SLOWBODY_INTERVAL)
                    tls.sendall(body[i:i + 1])
            try:
                tls.unwrap()
            except (OSError, ssl.SSLError, ValueError):
                pass
        except (OSError, ssl.SSLError, ValueError) as e:
            log("%s:%d %s" % (peer[0], peer[1], e))
        finally:
            if tls is not None:
                with self.lock:
                    self.sni.pop(id(tls), None)
            try:
                (tls or conn).close()
            except OSError:
                pass


def read_request(tls):
    """Reads the request head; returns (method, path, host without port)."""
    data = b""
    while b"\r\n\r\n" not in data and b"\n\n" not in data:
        chunk = tls.recv(4096)
        if not chunk:
            break
        data += chunk
        if len(data) > 65536:
            break
    lines = data.decode("latin-1").splitlines()
    parts = lines[0].split() if lines else []
    method = parts[0] if len(parts) > 0 else ""
    path = parts[1] if len(parts) > 1 else ""
    host = None
    for line in lines[1:]:
        if line.lower().startswith("host:"):
            host = line.split(":", 1)[1].strip()
            if host.startswith("["):
                host = host.split("]", 1)[0] + "]"
            else:
                host = host.split(":", 1)[0]
            break
    return method, path, host


def send_simple(tls, status, body):
    reason = {404: "Not Found"}.get(status, "Error")
    tls.sendall(b"HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                % (status, reason.encode(), len(body)) + body)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listen", default="127.0.1.2")
    ap.add_argument("--port", type=int, default=443)
    ap.add_argument("--certs", required=True, help="directory with <label>.chain.pem and <label>.key")
    ap.add_argument("--www", required=True, help="directory with <label>.txt bodies")
    ap.add_argument("--ready", help="file to write our PID into once listening")
    args = ap.parse_args()

    server = Server(args)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((args.listen, args.port))
    listener.listen(64)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    if args.ready:
        tmp = args.ready + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % os.getpid())
        os.rename(tmp, args.ready)
    log("listening on %s:%d" % (args.listen, args.port))
    try:
        server.serve(listener)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
