#!/usr/bin/env python3
"""Cold MTA-STS lookups with postfix-mta-sts-resolver (pmsr), the Python anchor. Run it with the venv's python:

  DIR/venv/bin/python Benchmarks/pmsr/cold_lookups.py --dns 127.0.0.1:5400 --ca WORLD/ca.pem \
      --count 1000 --concurrency 16 [--prefix d] [--phase sts|nosts] [--no-uvloop]

It drives pmsr's own resolver, `postfix_mta_sts_resolver.resolver.STSResolver.resolve(domain)` (what the daemon
calls on a cache miss: TXT query via aiodns, then HTTPS GET via aiohttp, then parse and validate), for COUNT
distinct domains with at most CONCURRENCY in flight, on uvloop like the daemon, and prints one JSON line.

  --phase sts    domains <prefix>0.bench.test ... : ok = VALID result with id bench1, mode enforce,
                 mx ['*.mx.bench.test'], max_age 86400
  --phase nosts  domains n0.nosts.bench.test ... (_mta-sts TXT is NXDOMAIN): ok = STSFetchResult.NONE

cpu_s is this process's user+sys (resource.getrusage(RUSAGE_SELF), all threads, including c-ares' event thread)
over the lookup phase only (imports, setup and the preflight probe excluded). Exit status 1 unless ok == count.

How pmsr is pointed at the bench world (pmsr has no option for either):
  * DNS: pmsr builds `aiodns.DNSResolver(timeout=..., loop=...)` itself, and aiohttp resolves the policy host with
    its own shared `aiodns.DNSResolver(loop=...)` (aiohttp's DefaultResolver is AsyncResolver when aiodns has
    getaddrinfo). Both take the system's /etc/resolv.conf. We wrap `aiodns.DNSResolver.__init__` so that a
    resolver built without nameservers gets `--dns` ("127.0.0.1:5400"; pycares 5 / c-ares take host:port in
    ares_set_servers_csv). Both resolvers are otherwise created and used exactly as pmsr and aiohttp do.
  * HTTPS trust: SSL_CERT_FILE=--ca is set before aiohttp is imported; aiohttp builds its verifying SSLContext
    at import with ssl.create_default_context(), whose default verify paths honour SSL_CERT_FILE.
"""

import argparse
import json
import os
import resource
import sys
import time


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def percentile(sorted_values, q):
    if not sorted_values:
        return None
    i = min(len(sorted_values) - 1, max(0, int(round(q * (len(sorted_values) - 1)))))
    return sorted_values[i]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dns", required=True, help="HOST:PORT of the bench world's NSD")
    ap.add_argument("--ca", required=True, help="the bench world's CA certificate (PEM)")
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--prefix", default="d", help="sts phase: domains <prefix><i>.bench.test")
    ap.add_argument("--phase", choices=("sts", "nosts"), default="sts")
    ap.add_argument("--no-uvloop", action="store_true", help="plain asyncio loop (pmsr's --disable-uvloop)")
    ap.add_argument("--timeout", type=float, default=None, help="pmsr resolver timeout (default: pmsr's, 4 s)")
    args = ap.parse_args()
    if args.count < 1 or args.concurrency < 1:
        ap.error("--count and --concurrency must be positive")
    if not os.path.isfile(args.ca):
        ap.error("no CA file %s" % args.ca)

    # HTTPS trust: before aiohttp (imported by pmsr) builds its default SSLContext.
    os.environ["SSL_CERT_FILE"] = os.path.abspath(args.ca)
    # pmsr honours https_proxy from the environment; a proxy would change what is measured.
    for k in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        os.environ.pop(k, None)

    import asyncio
    import importlib.metadata
    import warnings

    import aiodns
    import aiohttp.connector
    from postfix_mta_sts_resolver import defaults
    from postfix_mta_sts_resolver.resolver import STSFetchResult, STSResolver

    # aiodns 4 warns on every pmsr query() call (deprecated API); it is ignored by default, keep it so.
    warnings.filterwarnings("ignore", category=DeprecationWarning)

    # DNS: every aiodns resolver built without explicit nameservers uses ours.
    dns_servers = [args.dns]
    created = []
    original_init = aiodns.DNSResolver.__init__

    def bench_init(self, nameservers=None, loop=None, **kwargs):
        original_init(self, nameservers or dns_servers, loop=loop, **kwargs)
        created.append(list(self._channel.servers))

    aiodns.DNSResolver.__init__ = bench_init

    use_uvloop = False
    if not args.no_uvloop:
        try:
            import uvloop
            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
            use_uvloop = True
        except ImportError:
            pass

    if args.phase == "sts":
        domains = ["%s%d.bench.test" % (args.prefix, i) for i in range(args.count)]
    else:
        domains = ["n%d.nosts.bench.test" % i for i in range(args.count)]

    outcomes = {}
    latencies = []
    ok = 0

    def judge(status, payload):
        if args.phase == "nosts":
            return status is STSFetchResult.NONE and payload is None
        if status is not STSFetchResult.VALID or payload is None:
            return False
        sts_id, pol = payload
        return (sts_id == "bench1" and pol.get("version") == "STSv1" and pol.get("mode") == "enforce"
                and pol.get("mx") == ["*.mx.bench.test"] and pol.get("max_age") == 86400)

    async def run():
        nonlocal ok
        loop = asyncio.get_running_loop()
        timeout = args.timeout if args.timeout is not None else defaults.TIMEOUT
        resolver = STSResolver(loop=loop, timeout=timeout)  # as pmsr's responder builds it

        # Preflight (not timed): our NSD answers through the redirected resolver, and the CA is trusted.
        probe = await resolver._resolver.query("_mta-sts.preflight.bench.test", "TXT")
        if [r.text for r in probe] not in (["v=STSv1; id=bench1;"], [b"v=STSv1; id=bench1;"]):
            raise SystemExit("preflight: unexpected TXT answer %r (is the bench world up at %s?)" % (probe, args.dns))
        if args.phase == "sts":
            status, payload = await resolver.resolve("preflight.bench.test")
            if status is not STSFetchResult.VALID:
                raise SystemExit("preflight: pmsr could not fetch the policy of preflight.bench.test: %s" % status)

        next_index = 0

        async def worker():
            nonlocal next_index, ok
            while next_index < len(domains):
                domain = domains[next_index]
                next_index += 1
                t = time.perf_counter()
                try:
                    status, payload = await resolver.resolve(domain)
                except Exception as e:  # noqa: BLE001 - count it, do not stop the run
                    status, payload = "exception:%s" % type(e).__name__, None
                latencies.append(time.perf_counter() - t)
                name = status.name if isinstance(status, STSFetchResult) else str(status)
                outcomes[name] = outcomes.get(name, 0) + 1
                if judge(status, payload):
                    ok += 1

        cpu0, wall0 = cpu_seconds(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(min(args.concurrency, len(domains)))))
        wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
        return wall, cpu, resolver

    wall, cpu, resolver = asyncio.run(run())
    latencies.sort()
    servers = sorted({s for lst in created for s in lst})
    result = {
        "tool": "pmsr",
        "phase": args.phase,
        "count": args.count,
        "concurrency": args.concurrency,
        "ok": ok,
        "failed": args.count - ok,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "cpu_ms_per_lookup": round(1000 * cpu / args.count, 3),
        "lookups_per_s": round(args.count / wall, 1),
        "latency_ms_p50": round(1000 * percentile(latencies, 0.50), 2),
        "latency_ms_p99": round(1000 * percentile(latencies, 0.99), 2),
        "outcomes": outcomes,
        "loop": "uvloop" if use_uvloop else "asyncio",
        "pmsr_version": importlib.metadata.version("postfix-mta-sts-resolver"),
        "aiodns_resolvers_created": len(created),
        "dns_servers_used": servers,
    }
    print(json.dumps(result), flush=True)
    return 0 if ok == args.count and servers == [args.dns] else 1


if __name__ == "__main__":
    sys.exit(main())
