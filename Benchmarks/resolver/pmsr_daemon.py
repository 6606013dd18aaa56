#!/usr/bin/env python3
"""Run postfix-mta-sts-resolver's daemon (`mta-sts-daemon`) with its DNS sent to the bench world's NSD.

  BENCH_DNS=127.0.0.1:5400 SSL_CERT_FILE=WORLD/ca.pem VENV/bin/python pmsr_daemon.py -c pmsr.yml -v warn

pmsr has no option for its DNS server: it builds `aiodns.DNSResolver(timeout=..., loop=...)` itself, and aiohttp
resolves the policy host through its own aiodns resolver; both read /etc/resolv.conf. As in
Benchmarks/pmsr/cold_lookups.py, `aiodns.DNSResolver.__init__` is wrapped so that a resolver built without
nameservers gets BENCH_DNS (c-ares takes "host:port"); everything else is pmsr's own `daemon.main()`, unchanged.
HTTPS trust: SSL_CERT_FILE, which aiohttp's default SSLContext (built at import) honours.
"""
import os
import sys

dns = os.environ.get("BENCH_DNS")
if not dns:
    sys.exit("pmsr_daemon.py: set BENCH_DNS=HOST:PORT")
for k in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
    os.environ.pop(k, None)

import aiodns  # noqa: E402

_original_init = aiodns.DNSResolver.__init__


def _bench_init(self, nameservers=None, loop=None, **kwargs):
    _original_init(self, nameservers or [dns], loop=loop, **kwargs)


aiodns.DNSResolver.__init__ = _bench_init

from postfix_mta_sts_resolver.daemon import main  # noqa: E402

sys.argv[0] = "mta-sts-daemon"
sys.exit(main())
