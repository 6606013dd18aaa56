#!/usr/bin/env bash
# Cold MTA-STS discovery, side by side: our discovery-bench (release build) and the Python anchor
# postfix-mta-sts-resolver (pmsr), on the same bench world, in one run. Each repeat uses fresh names for each
# tool, so every lookup is cold (TXT, A/AAAA, TLS handshake, GET, parse) for both.
#
# usage: Benchmarks/run-discovery.sh [COUNT=1000] [REPEATS=3] [CONCURRENCY=16]
# Needs root (port 443 on loopback), the packages of scripts/setup.sh, python3-cryptography, and PyPI for pmsr.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${1:-1000}
REPEATS=${2:-3}
CONC=${3:-16}
WORK=${BENCH_WORK:-/tmp/mta-sts-bench}
mkdir -p "$WORK"

echo "== release build of discovery-bench"
swift build -c release --product discovery-bench --scratch-path .build-release 2>&1 | tail -1
BENCH=.build-release/release/discovery-bench
[ -d "$WORK/pmsr/venv" ] || Benchmarks/pmsr/setup.sh "$WORK/pmsr" >/dev/null
PY="$WORK/pmsr/venv/bin/python"

Benchmarks/world.sh up "$WORK/world" >/dev/null
trap 'Benchmarks/world.sh down "$WORK/world" >/dev/null 2>&1 || true' EXIT
. "$WORK/world/env"

results="$WORK/results.jsonl"
: > "$results"
for r in $(seq 1 "$REPEATS"); do
  "$BENCH" --dns-server "$DNS_SERVER" --ca-file "$CA_FILE" --count "$COUNT" --concurrency "$CONC" \
    --domain-format "r${r}s%d.bench.test" | tee -a "$results"
  "$PY" Benchmarks/pmsr/cold_lookups.py --dns "$DNS_SERVER" --ca "$CA_FILE" --count "$COUNT" --concurrency "$CONC" \
    --prefix "r${r}p" | tee -a "$results"
  "$BENCH" --dns-server "$DNS_SERVER" --ca-file "$CA_FILE" --count $((COUNT * 10)) --concurrency "$CONC" --phase nosts \
    --domain-format "r${r}s%d.nosts.bench.test" | tee -a "$results"
  "$PY" Benchmarks/pmsr/cold_lookups.py --dns "$DNS_SERVER" --ca "$CA_FILE" --count $((COUNT * 10)) --concurrency "$CONC" \
    --phase nosts | tee -a "$results"
done

python3 - "$results" "$COUNT" "$CONC" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
def med(tool, phase, key):
    vals = [r[key] for r in rows if r["tool"] == tool and r.get("phase", "sts") == phase]
    return statistics.median(vals) if vals else float("nan")
print()
print(f"Cold discovery, {sys.argv[2]} distinct domains (nosts: 10x as many), {sys.argv[3]} at a time, medians of the repeats:")
print()
print("| phase | metric | mta-sts | pmsr | mta-sts better by |")
print("|---|---|---|---|---|")
for phase, label in (("sts", "cold lookup (TXT+A/AAAA+TLS+GET+parse)"), ("nosts", "domain without MTA-STS (TXT NXDOMAIN)")):
    for key, name, lower_is_better in (("cpu_ms_per_lookup", "CPU ms per lookup", True), ("lookups_per_s", "lookups/s", False)):
        ours, theirs = med("mta-sts", phase, key), med("pmsr", phase, key)
        ratio = (theirs / ours) if lower_is_better else (ours / theirs)
        print(f"| {label} | {name} | {ours:.3f} | {theirs:.3f} | {ratio:.2f}x |")
PY
