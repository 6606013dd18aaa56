#!/usr/bin/env python3
"""HTTPS MTA-STS policy host for the benchmark world (Python stdlib + `cryptography`).

  policyserver.py ca --dir DIR
      Create DIR/ca.pem + DIR/ca.key: a throwaway P-256 test CA (30 days).

  policyserver.py serve --dir DIR [--listen 127.0.1.4] [--port 443] [--premint N] [--ready FILE]
      Serve HTTPS. For every SNI name `mta-sts.<x>.bench.test` it presents a leaf certificate for exactly
      that name (P-256, SAN = the name, signed by DIR's CA), minted on first use and cached in memory and under
      DIR/certs/<name>.pem. `--premint N` mints `mta-sts.d0..d{N-1}.bench.test` before listening, so a benchmark
      does not pay for minting. Any other SNI (or none) gets the certificate of `default.bench.test`.

      GET /.well-known/mta-sts.txt with Host `mta-sts.<x>.bench.test` -> 200 `Content-Type: text/plain`, a valid
      CRLF policy (enforce, mx *.mx.bench.test, max_age 86400); everything else -> 404. One thread per connection
      (TLS handshake included), `Connection: close`.

The pidfile-style FILE given to --ready is written (atomically, our PID) once we listen.
"""

import argparse
import datetime
import os
import signal
import socketserver
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ZONE = ".bench.test"
POLICY_PATH = "/.well-known/mta-sts.txt"
POLICY = b"version: STSv1\r\nmode: enforce\r\nmx: *.mx.bench.test\r\nmax_age: 86400\r\n"
DEFAULT_NAME = "default.bench.test"
IO_TIMEOUT = 10.0


def log(msg):
    sys.stderr.write("%s policyserver: %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def is_policy_host(name):
    """mta-sts.<one or more labels>.bench.test (lower case, no trailing dot)."""
    return (name is not None and name.startswith("mta-sts.") and name.endswith(ZONE)
            and len(name) > len("mta-sts.") + len(ZONE) and ".." not in name and "/" not in name
            and len(name) <= 253)


# ------------------------------------------------------------------------------------------------ PKI

def make_ca(directory):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "MTA-STS bench CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256()))
    write_private(os.path.join(directory, "ca.key"), key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    write_atomic(os.path.join(directory, "ca.pem"), cert.public_bytes(serialization.Encoding.PEM))


def write_atomic(path, data, mode=0o644):
    tmp = "%s.tmp.%d.%d" % (path, os.getpid(), threading.get_ident())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.rename(tmp, path)


def write_private(path, data):
    write_atomic(path, data, 0o600)


class Minter:
    """Mints (and caches) one server SSLContext per host name."""

    def __init__(self, directory):
        self.certdir = os.path.join(directory, "certs")
        os.makedirs(self.certdir, exist_ok=True)
        with open(os.path.join(directory, "ca.pem"), "rb") as f:
            self.ca_pem = f.read()
        self.ca_cert = x509.load_pem_x509_certificate(self.ca_pem)
        with open(os.path.join(directory, "ca.key"), "rb") as f:
            self.ca_key = serialization.load_pem_private_key(f.read(), password=None)
        self.aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca_key.public_key())
        self.contexts = {}
        self.lock = threading.Lock()
        self.minted = 0

    def context(self, name):
        ctx = self.contexts.get(name)
        if ctx is not None:
            return ctx
        with self.lock:  # one minter at a time; a second thread asking for the same name waits, then finds it
            ctx = self.contexts.get(name)
            if ctx is None:
                ctx = self._load_or_mint(name)
                self.contexts[name] = ctx
            return ctx

    def _load_or_mint(self, name):
        path = os.path.join(self.certdir, name + ".pem")  # key + leaf + CA, in one file
        if not os.path.exists(path):
            key = ec.generate_private_key(ec.SECP256R1())
            now = datetime.datetime.now(datetime.timezone.utc)
            cert = (x509.CertificateBuilder()
                    .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                    .issuer_name(self.ca_cert.subject).public_key(key.public_key())
                    .serial_number(x509.random_serial_number())
                    .not_valid_before(now - datetime.timedelta(days=1))
                    .not_valid_after(now + datetime.timedelta(days=30))
                    .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
                    .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                    .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                                 key_encipherment=False, data_encipherment=False,
                                                 key_agreement=False, key_cert_sign=False, crl_sign=False,
                                                 encipher_only=False, decipher_only=False), critical=True)
                    .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                    .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                    .add_extension(self.aki, critical=False)
                    .sign(self.ca_key, hashes.SHA256()))
            write_private(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption())
                          + cert.public_bytes(serialization.Encoding.PEM) + self.ca_pem)
            self.minted += 1
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(path)
        return ctx


# ------------------------------------------------------------------------------------------------ HTTPS

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def version_string(self):
        return "bench-policyserver"

    def do_GET(self):
        host = (self.headers.get("Host") or "").split(":", 1)[0].lower().rstrip(".")
        if self.path == POLICY_PATH and is_policy_host(host):
            self.reply(200, POLICY)
        else:
            self.reply(404, b"not found\r\n")

    def reply(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, *args):  # no access log: it would cost CPU during a run
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512
    allow_reuse_address = True

    def __init__(self, addr, minter):
        self.minter = minter
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.minimum_version = ssl.TLSVersion.TLSv1_2
        default = os.path.join(minter.certdir, DEFAULT_NAME + ".pem")
        minter.context(DEFAULT_NAME)
        self.tls.load_cert_chain(default)
        self.tls.sni_callback = self.pick_certificate
        self.errors = 0
        super().__init__(addr, Handler)

    def pick_certificate(self, sslobj, name, _ctx):
        if name is not None:
            name = name.lower().rstrip(".")
        if is_policy_host(name):
            try:
                sslobj.context = self.minter.context(name)
            except Exception as e:  # noqa: BLE001 - a failed mint must not kill the thread silently
                log("minting %s failed: %s" % (name, e))
                return ssl.ALERT_DESCRIPTION_INTERNAL_ERROR
        return None

    # The TLS handshake runs in the connection's own thread (not in accept(), which would serialize them).
    def finish_request(self, request, client_address):
        request.settimeout(IO_TIMEOUT)
        try:
            tls = self.tls.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError) as e:
            self.errors += 1
            if self.errors <= 20:
                log("%s:%d handshake: %s" % (client_address[0], client_address[1], e))
            return
        try:
            Handler(tls, client_address, self)
        except (OSError, ssl.SSLError):
            pass
        finally:
            try:
                tls.close()
            except OSError:
                pass

    def server_bind(self):
        # HTTPServer.server_bind would call socket.getfqdn(), a reverse lookup through the system resolver.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address):
        self.errors += 1
        if self.errors <= 20:
            log("%s:%d error: %s" % (client_address[0], client_address[1], sys.exc_info()[1]))


def serve(args):
    directory = os.path.abspath(args.dir)
    minter = Minter(directory)
    t0 = time.monotonic()
    for i in range(args.premint):
        minter.context("mta-sts.d%d.bench.test" % i)
    if args.premint:
        log("preminted %d names in %.1f s (%d new)" % (args.premint, time.monotonic() - t0, minter.minted))
    server = Server((args.listen, args.port), minter)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    if args.ready:
        write_atomic(args.ready, b"%d\n" % os.getpid())
    log("listening on %s:%d" % (args.listen, args.port))
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    ca = sub.add_parser("ca", help="create DIR/ca.pem and DIR/ca.key")
    ca.add_argument("--dir", required=True)
    sv = sub.add_parser("serve", help="run the HTTPS policy host")
    sv.add_argument("--dir", required=True, help="world directory with ca.pem/ca.key; certs go to DIR/certs")
    sv.add_argument("--listen", default="127.0.1.4")
    sv.add_argument("--port", type=int, default=443)
    sv.add_argument("--premint", type=int, default=0, help="mint mta-sts.d0..d{N-1}.bench.test before listening")
    sv.add_argument("--ready", help="file to write our PID into once listening")
    args = ap.parse_args()
    if args.cmd == "ca":
        make_ca(os.path.abspath(args.dir))
    else:
        serve(args)


if __name__ == "__main__":
    main()
