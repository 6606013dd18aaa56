#!/usr/bin/env python3
"""Writes synthetic SMTP TLS reports (RFC 8460 §4) for the issue 13 import/summary benchmark.

    generate.py OUTDIR [--count 10000] [--domains 100] [--days 365] [--start 2025-12-01] [--seed 8460]
                       [--plain-share 0.2]

Every report is one organization's report for one day and names 1-3 policies (the policy domain's sts or
no-policy-found policy, often a tlsa policy beside it, now and then a second domain that shares the MX). The
shapes follow what real senders send (see /work/shared/realworld/tlsrpt/, which is not copied here):

- Google: compact JSON, report-id "<start>_<domain>", mx-host as an array (erratum 6241 form), no-policy-found
  for a domain without a policy; Microsoft: compact, report-id "<digits>+<domain>", no mx-host, sts + tlsa with
  the TLSA records as one JSON-encoded string; Mail.ru: pretty-printed with sorted keys, end-datetime the next
  day 00:00:00Z, failures with failure-reason-code and no IPs; Mimecast: hex report-id, "failure-details": [];
  two smaller senders (compact, pretty) with the RFC 8460 example's fields (additional-information).
- Most policies have only successful sessions; about one in five has failure details (1-4 of them) with the
  RFC 8460 §4.3 result types, weighted towards certificate, validation and policy-fetch failures (the ones the
  real samples show), each with sending-mta-ip, receiving-ip and receiving-mx-hostname where the sender's style
  has them.

The output is deterministic for a seed: the same files, byte for byte (gzip mtime 0). The file names follow
the RFC 8460 §5.3 mail attachment form "<sender>!<policy-domain>!<begin>!<end>!<id>.json[.gz]". A share of
the files is plain JSON, the rest gzip. Prints one JSON line: what was written, and the totals the stores must
add up to (the runner checks `reports summary --json` against them).
"""
import argparse
import datetime as dt
import gzip
import hashlib
import json
import os
import random
import sys

RESULT_TYPES = [  # (type, weight): RFC 8460 §4.3 plus one sender-specific name (005.json's "Testing")
    ("certificate-host-mismatch", 20), ("certificate-expired", 12), ("certificate-not-trusted", 14),
    ("validation-failure", 16), ("sts-policy-fetch-error", 14), ("starttls-not-supported", 8),
    ("sts-policy-invalid", 4), ("sts-webpki-invalid", 4), ("tlsa-invalid", 3), ("dnssec-invalid", 2),
    ("dane-required", 1), ("Testing", 1),
]
REASON_CODES = ["bad https response code: 404", "bad https response code: 500", "connection timed out",
                "certificate verify failed: unable to get local issuer certificate", "tls handshake failure"]


def lognormal_count(rng, median, sigma=1.3, cap=200_000):
    return max(1, min(cap, int(rng.lognormvariate(0, sigma) * median)))


class World:
    """The 100 policy domains: each with its MX hosts, their IPs, and whether it publishes MTA-STS and DANE."""

    def __init__(self, rng, count):
        self.domains = []
        for i in range(count):
            name = f"domain{i:03d}.example"
            mx_count = rng.choice([1, 2, 2, 3])
            hosted = rng.random() < 0.3  # MX at a provider, as nrgtechservices.com's outlook.com MX
            if hosted:
                mx = [f"{name.replace('.', '-')}.mail.protection.example.net"]
            else:
                mx = [f"mx{j + 1}.{name}" for j in range(mx_count)]
            self.domains.append({
                "name": name, "mx": mx,
                "ips": {h: f"192.0.2.{rng.randrange(1, 255)}" if rng.random() < 0.5 else f"198.51.100.{rng.randrange(1, 255)}"
                        for h in mx},
                "sts": rng.random() < 0.85, "mode": "enforce" if rng.random() < 0.6 else "testing",
                "max_age": rng.choice([86400, 604800, 2592000]), "dane": rng.random() < 0.25,
                "volume": rng.lognormvariate(0, 1.2) * 40,  # sessions per sender per day, varies per domain
                "failing": rng.random() < 0.35,  # some domains have a standing problem, the others rarely fail
            })

    def policy_string(self, d):
        return ["version: STSv1", f"mode: {d['mode']}", *[f"mx: {h}" for h in d["mx"]], f"max_age: {d['max_age']}"]


class Sender:
    def __init__(self, org, contact, sender_domain, style, weight):
        self.org, self.contact, self.sender_domain, self.style, self.weight = org, contact, sender_domain, style, weight


SENDERS = [
    Sender("Google Inc.", "smtp-tls-reporting@google.com", "google.com", "google", 40),
    Sender("Microsoft Corporation", "tlsrpt-noreply@microsoft.com", "microsoft.com", "microsoft", 30),
    Sender("Mail.ru", "tls_support@corp.mail.ru", "mail.ru", "mailru", 8),
    Sender("Mimecast", "noreply@mimecast.org", "mimecast.org", "mimecast", 8),
    Sender("Example Mail Provider", "smtp-tls-reporting@provider.example", "provider.example", "rfc", 7),
    Sender("Company-X", "sts-reporting@company-x.example", "company-x.example", "rfcpretty", 7),
]


def failure_details(rng, world, d, sender, policy_type, total):
    """`total` failed sessions spread over 1-4 failure details."""
    n = min(total, rng.choice([1, 1, 1, 2, 2, 3, 4]))
    cuts = sorted(rng.sample(range(1, total), n - 1)) if n > 1 else []
    counts = [b - a for a, b in zip([0, *cuts], [*cuts, total])]
    out = []
    for c in counts:
        if policy_type == "tlsa":
            rt = rng.choice(["tlsa-invalid", "dnssec-invalid", "dane-required", "validation-failure"])
        else:
            rt = rng.choices([t for t, _ in RESULT_TYPES], [w for _, w in RESULT_TYPES])[0]
        mx = rng.choice(d["mx"])
        f = {"result-type": rt}
        if sender.style == "mailru":  # no IPs, a reason code (034.json, 046.json)
            f["failure-reason-code"] = rng.choice(REASON_CODES)
        else:
            f["sending-mta-ip"] = f"203.0.113.{rng.randrange(1, 255)}" if rng.random() < 0.7 else f"2001:db8::{rng.randrange(1, 65535):x}"
            if rt not in ("sts-policy-fetch-error", "sts-webpki-invalid", "sts-policy-invalid") or rng.random() < 0.3:
                if sender.style != "google" or rng.random() < 0.5:
                    f["receiving-ip"] = d["ips"][mx]
                f["receiving-mx-hostname"] = mx
            if sender.style in ("rfc", "rfcpretty") and rng.random() < 0.5:
                f["receiving-mx-helo"] = mx
                f["additional-information"] = f"https://reports.{sender.sender_domain}/smtp-tls/{rt}.html"
            if rng.random() < 0.2:
                f["failure-reason-code"] = rng.choice(REASON_CODES)
        f["failed-session-count"] = c
        out.append(f)
    return out


def policy_entry(rng, world, d, sender, policy_type, ok, failed):
    p = {"policy-type": policy_type}
    if policy_type == "sts":
        p["policy-string"] = world.policy_string(d)
    elif policy_type == "tlsa":
        records = [f"3 1 1 {hashlib.sha256((d['name'] + h).encode()).hexdigest().upper()}" for h in d["mx"]]
        p["policy-string"] = [json.dumps(records, separators=(",", ":"))] if sender.style == "microsoft" else records
    p["policy-domain"] = d["name"]
    if policy_type != "no-policy-found" and sender.style in ("google", "mimecast", "rfc", "rfcpretty"):
        p["mx-host"] = list(d["mx"]) if sender.style != "rfcpretty" else d["mx"][0]  # RFC text form: a string
    entry = {"policy": p, "summary": {"total-successful-session-count": ok, "total-failure-session-count": failed}}
    if failed:
        entry["failure-details"] = failure_details(rng, world, d, sender, policy_type, failed)
    elif sender.style == "mimecast":
        entry["failure-details"] = []
    return entry


def policies_for(rng, world, d, sender):
    """1-3 policies: the domain's own (sts or no-policy-found), tlsa when it has DANE, a second domain rarely."""
    out = []

    def sessions():
        ok = lognormal_count(rng, d["volume"] * (sender.weight / 40))
        bad = 0
        if rng.random() < (0.45 if d["failing"] else 0.06):
            bad = lognormal_count(rng, max(1, ok * 0.05), sigma=1.0, cap=ok * 2 + 5)
        return ok, bad

    out.append(policy_entry(rng, world, d, sender, "sts" if d["sts"] else "no-policy-found", *sessions()))
    if d["dane"] and sender.style in ("microsoft", "rfc", "rfcpretty"):
        out.append(policy_entry(rng, world, d, sender, "tlsa", *sessions()))
    if rng.random() < 0.08:
        other = rng.choice(world.domains)
        if other is not d:
            out.append(policy_entry(rng, world, other, sender, "sts" if other["sts"] else "no-policy-found", *sessions()))
    return out


def report_id(rng, sender, domain, start):
    day = start.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "google": f"{day}_{domain}",
        "microsoft": f"{rng.randrange(10**17, 10**18)}+{domain}",
        "mailru": f"{rng.getrandbits(128):032x}@mail.ru",
        "mimecast": f"{rng.getrandbits(256):064x}",
        "rfc": f"{domain}-{start:%Y%m%d}-{rng.getrandbits(32):08x}",
        "rfcpretty": f"{rng.getrandbits(128):032x}",
    }[sender.style]


def render(sender, report):
    if sender.style == "mailru":  # re-serialized: sorted keys, 3-space indent (034.json)
        return json.dumps(report, indent=3, sort_keys=True).encode()
    if sender.style == "rfcpretty":
        return (json.dumps(report, indent=2) + "\n").encode()
    return json.dumps(report, separators=(",", ":")).encode()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--domains", type=int, default=100)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--start", default="2025-12-01", help="the first report day, UTC (YYYY-MM-DD)")
    ap.add_argument("--seed", type=int, default=8460)
    ap.add_argument("--plain-share", type=float, default=0.2, help="share of plain .json files (the rest .json.gz)")
    a = ap.parse_args()

    rng = random.Random(a.seed)
    world = World(rng, a.domains)
    first = dt.datetime.strptime(a.start, "%Y-%m-%d").replace(tzinfo=dt.timezone.utc)
    os.makedirs(a.outdir, exist_ok=True)
    if any(n.endswith((".json", ".json.gz")) for n in os.listdir(a.outdir)):
        sys.exit(f"generate.py: {a.outdir} already holds reports; use an empty directory")

    seen = set()  # (sender, domain, day): one report per sender, domain and day, as senders send them
    totals = {"reports": 0, "policies": 0, "failure_details": 0, "successful": 0, "failed": 0, "gz": 0, "json": 0,
              "bytes": 0, "domains": set(), "senders": {}}
    while totals["reports"] < a.count:
        sender = rng.choices(SENDERS, [s.weight for s in SENDERS])[0]
        d = rng.choice(world.domains)
        day = rng.randrange(a.days)
        if (sender.org, d["name"], day) in seen:
            continue
        seen.add((sender.org, d["name"], day))
        start = first + dt.timedelta(days=day)
        if sender.style == "mailru":
            end, end_text = start + dt.timedelta(days=1), (start + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        else:
            end, end_text = start + dt.timedelta(days=1), (start + dt.timedelta(days=1, seconds=-1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        policies = policies_for(rng, world, d, sender)
        report = {
            "organization-name": sender.org,
            "date-range": {"start-datetime": start.strftime("%Y-%m-%dT%H:%M:%SZ"), "end-datetime": end_text},
            "contact-info": sender.contact,
            "report-id": report_id(rng, sender, d["name"], start),
            "policies": policies,
        }
        body = render(sender, report)
        plain = rng.random() < a.plain_share
        n = totals["reports"]
        name = f"{sender.sender_domain}!{d['name']}!{int(start.timestamp())}!{int(end.timestamp()) - 1}!{n:05d}.json"
        if plain:
            data = body
            totals["json"] += 1
        else:
            data = gzip.compress(body, compresslevel=6, mtime=0)
            name += ".gz"
            totals["gz"] += 1
        with open(os.path.join(a.outdir, name), "wb") as f:
            f.write(data)
        totals["reports"] += 1
        totals["bytes"] += len(data)
        totals["senders"][sender.org] = totals["senders"].get(sender.org, 0) + 1
        for p in policies:
            totals["policies"] += 1
            totals["domains"].add(p["policy"]["policy-domain"])
            totals["successful"] += p["summary"]["total-successful-session-count"]
            totals["failed"] += p["summary"]["total-failure-session-count"]
            totals["failure_details"] += len(p.get("failure-details", []))
    totals["domains"] = len(totals["domains"])
    totals.update(first_day=a.start, last_day=(first + dt.timedelta(days=a.days - 1)).strftime("%Y-%m-%d"), seed=a.seed)
    print(json.dumps(totals, sort_keys=True))


if __name__ == "__main__":
    main()
