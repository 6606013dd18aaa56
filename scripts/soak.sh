#!/usr/bin/env bash
# Soak: N socketmap requests (default 1,000,000) against `mta-sts resolver` with flat memory.
#
#   scripts/soak.sh MTA_STS_BINARY TESTBED_DIR [REQUESTS]
#
# The daemon (memory cache) resolves against the test world; the compiled load generator
# (Benchmarks/resolver/loadgen.c) sends a mix of cached enforce domains, domains without MTA-STS (negative
# cache), parent-domain probes and IP literals over 16 connections, one request in flight each, as Postfix
# does. RSS is read after a 100k-request warm-up and at the end; the soak fails when it grew by more than
# SOAK_MAX_GROWTH_KB (default 8192), when any reply is malformed or unexpected, or when the daemon dies.
set -euo pipefail
BIN=${1:?usage: soak.sh MTA_STS_BINARY TESTBED_DIR [REQUESTS]}
WORLD=${2:?usage: soak.sh MTA_STS_BINARY TESTBED_DIR [REQUESTS]}
REQUESTS=${3:-1000000}
MAX_GROWTH_KB=${SOAK_MAX_GROWTH_KB:-8192}
cd "$(dirname "$0")/.."
. "$WORLD/env"
work=$(mktemp -d -t mta-sts-soak.XXXX)
cc -O2 -Wall -o "$work/loadgen" Benchmarks/resolver/loadgen.c
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BIN" resolver --listen "127.0.0.1:$port" --cache memory --dns-server "$DNS_SERVER" --ca-file "$CA_FILE" \
  --log-level warning 2>"$work/daemon.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
printf '%s\n' good.t.test customer.t.test mixed.t.test none.t.test nodata.t.test .t.test '[127.0.0.1]:25' \
  ctparam.t.test two.t.test '[good.t.test]:587' > "$work/domains"
rss() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
lg() { "$work/loadgen" --connect "127.0.0.1:$port" --conns 16 --domains "$work/domains" --count "$1" --pid "$pid" --label "$2"; }
lg 1000 prime >/dev/null        # discoveries happen here (first lookups may wait for the network)
sleep 1
lg 100000 warmup >/dev/null
before=$(rss)
result=$(lg "$REQUESTS" soak)
after=$(rss)
kill -0 $pid || { echo "soak: the daemon died"; cat "$work/daemon.log"; exit 1; }
echo "soak: $result"
growth=$((after - before))
echo "soak: $REQUESTS requests; RSS ${before} KiB -> ${after} KiB (growth ${growth} KiB, limit ${MAX_GROWTH_KB} KiB)"
python3 - "$result" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
if r.get("error_count", 1) or r["replies"].get("ok", 0) == 0 or r["replies"].get("notfound", 0) == 0 \
        or any(r["replies"].get(k, 0) for k in ("temp", "timeout", "perm", "other")):
    sys.exit(f"soak: FAIL: {r}")
PY
[ "$growth" -le "$MAX_GROWTH_KB" ] || { echo "soak: FAIL: memory grew by ${growth} KiB"; exit 1; }
echo "soak: ok"
