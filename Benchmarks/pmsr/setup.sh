#!/usr/bin/env bash
# Create DIR/venv with postfix-mta-sts-resolver (pmsr) and uvloop, the Python anchor for the cold-lookup benchmark.
#
#   Benchmarks/pmsr/setup.sh DIR        (PMSR_VERSION=x.y.z pins the version; default: newest on PyPI)
#
# Then: DIR/venv/bin/python Benchmarks/pmsr/cold_lookups.py --dns 127.0.0.1:5400 --ca WORLD/ca.pem --count 1000
set -euo pipefail
[ $# -eq 1 ] && [ -n "$1" ] || { echo "usage: $0 DIR" >&2; exit 2; }
mkdir -p "$1"
DIR=$(cd "$1" && pwd -P)
PY=${PYTHON:-python3}

if [ ! -x "$DIR/venv/bin/python" ]; then
  "$PY" -m venv "$DIR/venv"
fi
spec=postfix-mta-sts-resolver
[ -z "${PMSR_VERSION:-}" ] || spec="postfix-mta-sts-resolver==$PMSR_VERSION"
# uvloop: pmsr's daemon uses it when present (and the 8.8 baseline was measured with it).
"$DIR/venv/bin/python" -m pip install --quiet "$spec" uvloop
"$DIR/venv/bin/python" - <<'PY'
import importlib.metadata as m
for p in ("postfix-mta-sts-resolver", "aiodns", "pycares", "aiohttp", "uvloop"):
    try:
        print("%s %s" % (p, m.version(p)))
    except m.PackageNotFoundError:
        print("%s (not installed)" % p)
PY
echo "pmsr: venv ready at $DIR/venv"
