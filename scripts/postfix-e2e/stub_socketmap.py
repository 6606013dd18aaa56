#!/usr/bin/env python3
"""Stand-in Postfix socketmap server (netstrings) for scripts/postfix-e2e.sh. Test use only; stdlib only.

    stub_socketmap.py [--listen 127.0.0.1:8461] [--map postfix] [--default 'NOTFOUND ']
                      [--log FILE] [--ready FILE] DOMAIN=REPLY ...

Each DOMAIN=REPLY gives the full reply for one key, for example
    enforce-good.test=OK secure match=mx1.enforce-good.test servername=hostname
Keys are compared in lower case. Every other key (including Postfix's parent-domain probes such as ".test")
gets --default. A request for another map name gets "PERM unknown map name".

Protocol (socketmap_table(5)): request "<len>:<map> <key>,", reply "<len>:<STATUS> <data>,". Postfix keeps a
connection open and sends several requests on it, and several smtp processes may connect at once, so each
connection gets a thread that answers requests in order until EOF. Each request is logged to --log as
    HH:MM:SS.mmm request 'postfix enforce-good.test' -> 'OK secure match=...'
--ready FILE is written (with the PID) once the socket listens.
"""
import argparse
import os
import signal
import socketserver
import sys
import threading
import time

MAX_QUERY = 10000  # Postfix never sends longer queries (socketmap_max_query_size)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--listen", default="127.0.0.1:8461", help="HOST:PORT (default 127.0.0.1:8461)")
    p.add_argument("--map", default="postfix", help="map name Postfix puts before the key (default postfix)")
    p.add_argument("--default", default="NOTFOUND ", help="reply for keys not in the table (default 'NOTFOUND ')")
    p.add_argument("--log", default="-", help="request log file ('-' = stderr)")
    p.add_argument("--ready", help="file to write the PID to once listening")
    p.add_argument("entries", nargs="*", metavar="DOMAIN=REPLY")
    a = p.parse_args()
    table = {}
    for e in a.entries:
        key, sep, reply = e.partition("=")
        if not sep or not key or not reply:
            p.error(f"bad entry {e!r}: want DOMAIN=REPLY")
        table[key.strip().lower()] = reply
    host, _, port = a.listen.rpartition(":")
    if not host or not port.isdigit():
        p.error(f"bad --listen {a.listen!r}: want HOST:PORT")
    return a, table, (host, int(port))


ARGS, TABLE, LISTEN = parse_args()
LOG_LOCK = threading.Lock()
LOG_FILE = sys.stderr if ARGS.log == "-" else open(ARGS.log, "a", buffering=1)


def log(msg):
    t = time.time()
    stamp = time.strftime("%H:%M:%S", time.localtime(t)) + f".{int(t * 1000) % 1000:03d}"
    with LOG_LOCK:
        LOG_FILE.write(f"{stamp} {msg}\n")
        LOG_FILE.flush()


class NetstringError(Exception):
    pass


def read_netstring(rfile):
    """One netstring's payload, or None at EOF before its first byte."""
    digits = b""
    while True:
        c = rfile.read(1)
        if not c:
            if digits:
                raise NetstringError("EOF inside the length")
            return None
        if c == b":":
            break
        if not c.isdigit() or len(digits) >= 5:
            raise NetstringError(f"bad length {digits + c!r}")
        digits += c
    if not digits:
        raise NetstringError("empty length")
    n = int(digits)
    if n > MAX_QUERY:
        raise NetstringError(f"query too long ({n} bytes)")
    data = rfile.read(n)
    if len(data) != n:
        raise NetstringError("EOF inside the payload")
    if rfile.read(1) != b",":
        raise NetstringError("missing ','")
    return data


def netstring(s):
    b = s.encode()
    return str(len(b)).encode() + b":" + b + b","


def answer(req):
    name, _, key = req.decode("utf-8", "replace").partition(" ")
    if name != ARGS.map:
        return "PERM unknown map name"
    return TABLE.get(key.lower(), ARGS.default)


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        peer = f"{self.client_address[0]}:{self.client_address[1]}"
        log(f"connect {peer}")
        while True:
            try:
                req = read_netstring(self.rfile)
            except NetstringError as e:
                log(f"protocol error from {peer}: {e}; closing")
                return
            except OSError as e:
                log(f"read error from {peer}: {e}")
                return
            if req is None:
                log(f"close {peer}")
                return
            reply = answer(req)
            log(f"request {req.decode('utf-8', 'replace')!r} -> {reply!r}")
            try:
                self.wfile.write(netstring(reply))
                self.wfile.flush()
            except OSError as e:
                log(f"write error to {peer}: {e}")
                return


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with Server(LISTEN, Handler) as srv:
        log(f"listening on {LISTEN[0]}:{LISTEN[1]} pid {os.getpid()}; table {TABLE!r}; default {ARGS.default!r}")
        if ARGS.ready:
            with open(ARGS.ready + ".tmp", "w") as f:
                f.write(f"{os.getpid()}\n")
            os.replace(ARGS.ready + ".tmp", ARGS.ready)
        try:
            srv.serve_forever()
        finally:
            log("exiting")


if __name__ == "__main__":
    main()
