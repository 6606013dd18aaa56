#!/usr/bin/env python3
"""The issue 13 comparison: parsedmarc parsing N report files against `mta-sts reports import` storing them, then
`mta-sts reports summary` over the store. Driven by run.sh; see Benchmarks/README.md.

    bench.py --bin MTA_STS --reports DIR --work DIR --python PARSEDMARC_PYTHON --expect TOTALS.json
             [--repeats 3] [--summary-runs 9] [--batch 1000] [--mda-sample 300] [--postgres-url URL]

Every timed step is one process tree (os.wait4: wall time, and user + system CPU of it and its children). Checks
that every tool read every report: parsedmarc's session sums and `summary --json`'s must equal the generator's.
Prints a markdown table and writes WORK/results.json.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def timed(argv, stdout=subprocess.DEVNULL, env=None, stdin=None):
    """Runs argv (`stdin`: bytes for its standard input); (exit status, wall s, CPU s of the whole tree, stdout bytes or None)."""
    with tempfile.TemporaryFile() as errors, tempfile.TemporaryFile() as given:  # files, not pipes: nothing can block
        given.write(stdin or b"")
        given.seek(0)
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdin=given, stdout=stdout, stderr=errors, env=env)
        out = p.stdout.read() if stdout == subprocess.PIPE else None
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            errors.seek(0)
            sys.stderr.write(errors.read().decode(errors="replace")[-2000:])
    return code, wall, ru.ru_utime + ru.ru_stime, out


def median_run(runs, key="wall"):
    return sorted(runs, key=lambda r: r[key])[len(runs) // 2]


def report_files(d):
    return sorted(os.path.join(d, n) for n in os.listdir(d) if n.endswith((".json", ".json.gz")))


def parsedmarc(a, mode, files, postgres=None):
    runs = []
    for _ in range(a.repeats):  # a new process each time; the clock runs inside, around the parsing loop only
        code, _, _, out = timed([a.python, os.path.join(HERE, "parsedmarc_parse.py"), "--mode", mode, a.reports]
                                + (["--postgres", postgres] if postgres else []), stdout=subprocess.PIPE)
        r = json.loads(out)
        if code != 0 or r["ok"] != len(files) or (r["successful"], r["failed_sessions"]) != (a.totals["successful"], a.totals["failed"]):
            sys.exit(f"parsedmarc {mode}: did not read every report: {r}")
        runs.append({"wall": r["wall_s"], "cpu": r["cpu_s"], "version": r["version"]})
    return runs


def floor(a, files, jobs):
    """The cost of only reading and decompressing every file, in C (`zcat -f`: gzip inflated, JSON copied), nothing
    parsed or stored, on `jobs` processes at once (xargs -P): an importer, which also parses and stores, is slower."""
    runs = []
    listing = b"".join(f.encode() + b"\0" for f in files)
    per_process = -(-len(files) // jobs)
    for _ in range(a.repeats):
        code, wall, cpu, _ = timed(["xargs", "-0", "-P", str(jobs), "-n", str(per_process), "zcat", "-f"], stdin=listing)
        if code != 0:
            sys.exit(f"floor (zcat -f, {jobs} process(es)) exited {code}")
        runs.append({"wall": wall, "cpu": cpu, "jobs": jobs})
    return runs


class Store:
    def __init__(self, a, kind):
        self.a, self.kind = a, kind

    def fresh(self, tag):
        if self.kind == "sqlite":
            path = os.path.join(self.a.work, f"store-{tag}.sqlite")
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(path + suffix):
                    os.remove(path + suffix)
            self.flag = f"sqlite:{path}"
        else:
            subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", self.a.postgres_url, "-c",
                            "DROP TABLE IF EXISTS mta_sts_report_failures, mta_sts_report_policies, mta_sts_reports, "
                            "mta_sts_report_rejections CASCADE"], check=True, stderr=subprocess.DEVNULL)
            self.flag = self.a.postgres_url
        return self.flag


def import_runs(a, store, files, per_run, tag, listed=False):
    """Imports `files` into a fresh store, `per_run` files per `mta-sts reports import` process, one after another
    (as a cron job or an MDA would), named as arguments or (`listed`) in a NUL-separated `--files-from -` list; returns
    wall and CPU summed over the processes."""
    runs = []
    for i in range(a.repeats):
        flag = store.fresh(f"{tag}-{i}")
        wall = cpu = 0.0
        stored = 0
        for k in range(0, len(files), per_run):
            chunk = files[k:k + per_run]
            if listed:
                code, w, c, out = timed([a.bin, "reports", "import", "--store", flag, "--files-from", "-"], stdout=subprocess.PIPE,
                                        stdin=b"".join(f.encode() + b"\0" for f in chunk))
            else:
                code, w, c, out = timed([a.bin, "reports", "import", "--store", flag, *chunk], stdout=subprocess.PIPE)
            if code != 0:
                sys.exit(f"import ({tag}) exited {code}")
            wall, cpu = wall + w, cpu + c
            stored += out.count(b": stored ")
        if stored != len(files):
            sys.exit(f"import ({tag}): {stored} of {len(files)} stored")
        runs.append({"wall": wall, "cpu": cpu, "files": len(files)})
    return runs


def summary_runs(a, flag, first_day):
    """`reports summary --since FIRST_DAY`, text and --json, each --summary-runs times; checks the JSON's totals."""
    out = {}
    for fmt in ("text", "json"):
        runs = []
        for _ in range(a.summary_runs):
            argv = [a.bin, "reports", "summary", "--store", flag, "--since", first_day] + (["--json"] if fmt == "json" else [])
            code, w, c, stdout = timed(argv, stdout=subprocess.PIPE)
            if code != 0:
                sys.exit(f"summary exited {code}")
            runs.append({"wall": w, "cpu": c})
        if fmt == "json":
            s = json.loads(stdout)
            got = (s["reports"], len(s["domains"]), sum(d["successful"] for d in s["domains"]), sum(d["failed"] for d in s["domains"]))
            want = (a.totals["reports"], a.totals["domains"], a.totals["successful"], a.totals["failed"])
            if got != want:
                sys.exit(f"summary --json: (reports, domains, successful, failed) = {got}, expected {want}")
        out[fmt] = runs
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--reports", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--python", required=True, help="the venv python that has parsedmarc")
    ap.add_argument("--expect", required=True, help="generate.py's JSON line, in a file")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--summary-runs", type=int, default=9)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--mda-sample", type=int, default=300, help="files imported one process each (0: skip)")
    ap.add_argument("--postgres-url")
    a = ap.parse_args()
    a.totals = json.load(open(a.expect))
    files = report_files(a.reports)
    n = len(files)
    for f in files:  # into the page cache, for every tool alike
        with open(f, "rb") as fh:
            fh.read()

    results = {"files": n, "totals": a.totals, "load_before": os.getloadavg()}
    results["parsedmarc_file"] = parsedmarc(a, "file", files)
    results["parsedmarc_json"] = parsedmarc(a, "json", files)
    if a.postgres_url:
        results["parsedmarc_postgres"] = parsedmarc(a, "file", files, a.postgres_url)
    results["floor_one"] = floor(a, files, 1)
    results["floor_all"] = floor(a, files, os.cpu_count() or 1)
    stores = [Store(a, "sqlite")] + ([Store(a, "postgres")] if a.postgres_url else [])
    for store in stores:
        k = store.kind
        results[f"{k}_one"] = import_runs(a, store, files, n, f"{k}-one", listed=True)
        results[f"{k}_summary"] = summary_runs(a, store.flag, a.totals["first_day"])
        results[f"{k}_batch"] = import_runs(a, store, files, a.batch, f"{k}-batch")
        if a.mda_sample:
            step = max(1, n // a.mda_sample)
            results[f"{k}_mda"] = import_runs(a, store, files[::step][:a.mda_sample], 1, f"{k}-mda")
    results["load_after"] = os.getloadavg()
    with open(os.path.join(a.work, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    print_table(results, a, stores)


def print_table(results, a, stores):
    n = results["files"]
    rate = lambda r: r.get("files", n) / r["wall"]
    cpu_us = lambda r: r["cpu"] / r.get("files", n) * 1e6
    version = median_run(results["parsedmarc_file"])["version"]
    anchors = [(k, median_run(results[k])) for k in ("parsedmarc_file", "parsedmarc_json", "parsedmarc_postgres") if k in results]
    names = {"parsedmarc_file": f"parsedmarc {version}: parse_report_file (parse only)",
             "parsedmarc_json": f"parsedmarc {version}: parse_smtp_tls_report_json (parse only)",
             "parsedmarc_postgres": f"parsedmarc {version}: parse_report_file + its PostgreSQL output"}
    short = {"parsedmarc_file": "file", "parsedmarc_json": "json", "parsedmarc_postgres": "+PostgreSQL"}
    print(f"\n{n} reports ({a.totals['policies']} policies, {a.totals['failure_details']} failure details, "
          f"{a.totals['gz']} .json.gz + {a.totals['json']} .json), medians of {a.repeats}; "
          f"load {results['load_before'][0]:.2f} -> {results['load_after'][0]:.2f}\n")
    print("| what | reports/s | CPU µs/report | " + " | ".join(f"vs parsedmarc {short[k]}" for k, _ in anchors) + " |")
    print("|---|---|---|" + "---|" * len(anchors))
    rows = [(names[k], r) for k, r in anchors]
    rows += [("floor: only read and decompress every file (`zcat -f`, C), one process", median_run(results["floor_one"])),
             (f"floor: the same on {median_run(results['floor_all'])['jobs']} processes at once (`xargs -P`)",
              median_run(results["floor_all"]))]
    for store in stores:
        k = store.kind
        for mode, what in (("one", f"mta-sts import, {k}, all files in one run (--files-from -)"),
                           ("batch", f"mta-sts import, {k}, {a.batch} files per run"),
                           ("mda", f"mta-sts import, {k}, one file per run (MDA)")):
            if f"{k}_{mode}" in results:
                rows.append((what, median_run(results[f"{k}_{mode}"])))
    for what, r in rows:
        ratios = " | ".join(f"{rate(r) / rate(ar):.2f}×" for _, ar in anchors)
        print(f"| {what} | {rate(r):,.0f} | {cpu_us(r):.1f} | {ratios} |")
    print("\n| summary, a year, 100 domains | median ms | min ms | max ms | CPU ms (median run) |")
    print("|---|---|---|---|---|")
    for store in stores:
        for fmt in ("text", "json"):
            runs = results[f"{store.kind}_summary"][fmt]
            walls = sorted(r["wall"] * 1000 for r in runs)
            m = median_run(runs)
            print(f"| {store.kind}, {fmt} | {statistics.median(walls):.0f} | {walls[0]:.0f} | {walls[-1]:.0f} | {m['cpu'] * 1000:.0f} |")


if __name__ == "__main__":
    main()
