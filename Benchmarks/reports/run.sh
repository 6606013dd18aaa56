#!/usr/bin/env bash
# Issue 13's benchmark in one run: N synthetic TLS-RPT reports (generate.py), parsedmarc parsing them, `mta-sts
# reports import` storing them (SQLite, and PostgreSQL unless NO_POSTGRES=1), `mta-sts reports summary` over a year
# of 100 domains; prints one table with the ratios (bench.py). Goal: import ≥ 10× parsedmarc's reports/s, summary
# ≤ 200 ms. See Benchmarks/README.md ("TLS-RPT import and summary").
#
# usage: Benchmarks/reports/run.sh [WORKDIR=/tmp/mta-sts-reports-bench]
#   MTASTS_BIN         a release binary (default: build .build-release/release/mta-sts)
#   PARSEDMARC_PYTHON  a python with parsedmarc[postgresql] (default: WORKDIR/venv, created from PyPI;
#                      PARSEDMARC_VERSION pins it)
#   COUNT=10000 REPEATS=3 SUMMARY_RUNS=9 BATCH=1000 MDA_SAMPLE=300 SEED=8460   NO_POSTGRES=1 skips PostgreSQL
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=$(mkdir -p "${1:-/tmp/mta-sts-reports-bench}" && cd "${1:-/tmp/mta-sts-reports-bench}" && pwd -P)
COUNT=${COUNT:-10000} SEED=${SEED:-8460}

if [ -z "${MTASTS_BIN:-}" ]; then
  echo "== release build of mta-sts (.build-release)"
  nice -n 10 swift build -c release --scratch-path .build-release --product mta-sts 2>&1 | tail -1
  MTASTS_BIN=.build-release/release/mta-sts
fi

if [ -z "${PARSEDMARC_PYTHON:-}" ]; then
  PARSEDMARC_PYTHON=$WORK/venv/bin/python
  if ! "$PARSEDMARC_PYTHON" -c 'import parsedmarc' 2>/dev/null; then
    echo "== parsedmarc from PyPI into $WORK/venv"
    python3 -m venv "$WORK/venv"
    "$WORK/venv/bin/pip" install -q "parsedmarc[postgresql]${PARSEDMARC_VERSION:+==$PARSEDMARC_VERSION}"
  fi
fi

# The same files for every tool; regenerated when the count or seed changed.
if [ "$(cat "$WORK/reports.key" 2>/dev/null)" != "$COUNT $SEED" ]; then
  echo "== $COUNT reports (seed $SEED) into $WORK/reports"
  rm -rf "$WORK/reports" "$WORK/reports.key"
  python3 Benchmarks/reports/generate.py "$WORK/reports" --count "$COUNT" --seed "$SEED" > "$WORK/totals.json"
  echo "$COUNT $SEED" > "$WORK/reports.key"
fi

PG=()
if [ "${NO_POSTGRES:-0}" != 1 ]; then
  echo "== PostgreSQL of our own (scripts/postgres.sh, fsync off) in $WORK/pg"
  scripts/postgres.sh up "$WORK/pg" > /dev/null
  trap 'scripts/postgres.sh down "$WORK/pg" > /dev/null 2>&1 || true' EXIT
  PG=(--postgres-url "$(sed -n 's/^POSTGRES_URL=//p' "$WORK/pg/env")")
fi

echo "== $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- Sources || echo '+local changes'), $(nproc) cores," \
  "load $(cut -d' ' -f1-3 /proc/loadavg), $("$MTASTS_BIN" --version 2>/dev/null || echo mta-sts)"
python3 Benchmarks/reports/bench.py --bin "$MTASTS_BIN" --reports "$WORK/reports" --work "$WORK" \
  --python "$PARSEDMARC_PYTHON" --expect "$WORK/totals.json" --repeats "${REPEATS:-3}" \
  --summary-runs "${SUMMARY_RUNS:-9}" --batch "${BATCH:-1000}" --mda-sample "${MDA_SAMPLE:-300}" "${PG[@]}"
