#!/usr/bin/env python3
"""Times parsedmarc parsing SMTP TLS report files (the issue 13 benchmark's anchor).

    parsedmarc_parse.py --mode file|json [--repeat N] [--postgres URL] FILE_OR_DIR...

One process; the files are listed and imports done before the clock starts; parsing only, nothing is stored or
written (no Elasticsearch, no output files), unless --postgres. Modes:

- file: `parsedmarc.parse_report_file(path, offline=True)` per file, what parsedmarc runs for each file named
  on its command line: read, gunzip, try the aggregate (DMARC XML) parser, then the SMTP TLS one. offline=True
  turns off DNS and geolocation, which SMTP TLS reports do not use anyway.
- json: read the file, `parsedmarc.extract_report` (gunzip), `parsedmarc.parse_smtp_tls_report_json`: the
  SMTP TLS parser alone, parsedmarc's fastest path for these files.

With --postgres URL each parsed report is also saved by parsedmarc's own PostgreSQL output
(`parsedmarc.postgres.PostgreSQLClient.save_smtp_tls_report_to_postgresql`: one transaction per report, a row per
report, policy and failure detail; needs `parsedmarc[postgresql]`), into tables dropped and created again before
the clock starts: the like-for-like anchor for `mta-sts reports import --store postgres://`.

Prints one JSON line: files, ok, failed, the session sums of the parsed reports (to check that both tools read
the same data), wall and CPU seconds (getrusage user + system of this process) and reports per second (wall);
with --repeat N, the median run and every run's wall time.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time
import warnings

warnings.simplefilter("ignore")  # parsedmarc's dependencies warn on import; nothing to do with parsing
import parsedmarc  # noqa: E402
from importlib.metadata import version  # noqa: E402


def files_of(paths):
    out = []
    for p in paths:
        if os.path.isdir(p):
            out += sorted(os.path.join(p, n) for n in os.listdir(p) if n.endswith((".json", ".json.gz")))
        else:
            out.append(p)
    return out


def parse_file(path):
    result = parsedmarc.parse_report_file(path, offline=True)
    if result["report_type"] != "smtp_tls":
        raise ValueError(f"{path}: parsed as {result['report_type']}")
    return result["report"]


def parse_json(path):
    with open(path, "rb") as f:
        return parsedmarc.parse_smtp_tls_report_json(parsedmarc.extract_report(f.read()))


def fresh_postgres(url):
    from parsedmarc.postgres import PostgreSQLClient
    client = PostgreSQLClient(connection_string=url)
    with client._conn.transaction():
        client._conn.execute("DROP TABLE IF EXISTS smtp_tls_failure_detail, smtp_tls_policy, smtp_tls_report CASCADE")
    client.create_tables()
    return client


def run(files, parse, postgres=None):
    ok = failed = successful = failures = 0
    errors = []
    client = fresh_postgres(postgres) if postgres else None
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    for path in files:
        try:
            report = parse(path)
            if client:
                client.save_smtp_tls_report_to_postgresql(report)
        except Exception as e:  # parsedmarc raises its own ParserError / InvalidSMTPTLSReport
            failed += 1
            if len(errors) < 5:
                errors.append(f"{os.path.basename(path)}: {e}")
            continue
        ok += 1
        for p in report["policies"]:
            successful += p["successful_session_count"]
            failures += p["failed_session_count"]
    wall = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    if client:
        client.close()
    return {"ok": ok, "failed": failed, "successful": successful, "failed_sessions": failures, "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3), "reports_per_s": round(len(files) / wall, 1), "errors": errors}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=["file", "json"], default="file")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--postgres", metavar="URL", help="also save each report with parsedmarc's PostgreSQL output")
    ap.add_argument("paths", nargs="+")
    a = ap.parse_args()
    files = files_of(a.paths)
    if not files:
        sys.exit("parsedmarc_parse.py: no .json or .json.gz files")
    parse = parse_file if a.mode == "file" else parse_json
    runs = [run(files, parse, a.postgres) for _ in range(a.repeat)]
    best = sorted(runs, key=lambda r: r["wall_s"])[len(runs) // 2]
    out = {"tool": "parsedmarc", "version": version("parsedmarc"), "python": sys.version.split()[0], "mode": a.mode + ("+postgres" if a.postgres else ""),
           "files": len(files), **best, "runs_wall_s": [r["wall_s"] for r in runs],
           "median_wall_s": statistics.median(r["wall_s"] for r in runs)}
    print(json.dumps(out))
    sys.exit(0 if best["failed"] == 0 else 1)


if __name__ == "__main__":
    main()
