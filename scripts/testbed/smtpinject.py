#!/usr/bin/env python3
"""A scripted SMTP server for `mta-sts check` tests: it offers STARTTLS and, after its `220` to STARTTLS,
sends one more line in the same write (the STARTTLS command-injection pattern, CVE-2011-0411 class), then
closes. A sender must abort instead of starting TLS. Writes --ready once it listens."""
import argparse
import os
import socket
import threading

ap = argparse.ArgumentParser()
ap.add_argument("--listen", required=True)
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--name", default="inject.bad.chk.test")
ap.add_argument("--ready", required=True)
args = ap.parse_args()


def serve(conn):
    try:
        conn.sendall(f"220 {args.name} ESMTP scripted\r\n".encode())
        f = conn.makefile("rb")
        for raw in f:
            cmd = raw.strip().upper()
            if cmd.startswith(b"EHLO") or cmd.startswith(b"HELO"):
                conn.sendall(f"250-{args.name}\r\n250-PIPELINING\r\n250 STARTTLS\r\n".encode())
            elif cmd == b"STARTTLS":
                conn.sendall(b"220 2.0.0 Ready to start TLS\r\n250 injected after STARTTLS\r\n")
                break
            elif cmd == b"QUIT":
                conn.sendall(b"221 2.0.0 Bye\r\n")
                break
            else:
                conn.sendall(b"502 5.5.2 Error: command not recognized\r\n")
    except OSError:
        pass
    finally:
        conn.close()


s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((args.listen, args.port))
s.listen(64)
with open(args.ready, "w") as r:
    r.write(str(os.getpid()))
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
