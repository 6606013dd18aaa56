#!/usr/bin/env bash
# Soak: socketmap requests against `mta-sts resolver` with flat memory, for SOAK_SECONDS (default 90) or
# REQUESTS (default 1,000,000), whichever comes first.
#
#   scripts/soak.sh MTA_STS_BINARY TESTBED_DIR [REQUESTS]
#
# The daemon (memory cache) resolves against the test world; the compiled load generator
# (Benchmarks/resolver/loadgen.c) sends a mix of cached enforce domains, domains without MTA-STS (negative
# cache), parent-domain probes and IP literals over 16 connections, one request in flight each, as Postfix
# does. RSS is read after a warm-up (100k requests or 30 s) and at the end; the soak fails when it grew by more
# than SOAK_MAX_GROWTH_KB (default 8192), when any reply is malformed, lost or unexpected (TEMP, TIMEOUT, PERM,
# other), or when the daemon dies. The verdict does not depend on the machine's speed: a slower machine sends
# fewer requests in the time and says how many; an unreached count is not a failure.
set -euo pipefail
usage="usage: soak.sh MTA_STS_BINARY TESTBED_DIR [REQUESTS]"
BIN=${1:?$usage}
WORLD=${2:?$usage}
REQUESTS=${3:-1000000}
SECONDS_LIMIT=${SOAK_SECONDS:-90}
MAX_GROWTH_KB=${SOAK_MAX_GROWTH_KB:-8192}
# Any command that fails without its own message still says where and why.
trap 'echo "soak: FAIL: line $LINENO: \`$BASH_COMMAND\` exited $?" >&2' ERR
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

fail() {
  echo "soak: FAIL: $*" >&2
  echo "soak: daemon log (last 20 lines):" >&2
  tail -n 20 "$work/daemon.log" >&2 || true
  exit 1
}

# lg LABEL COUNT SECONDS: one loadgen run, stopped at COUNT replies or SECONDS, whichever comes first. Prints
# its JSON result; a run that loadgen itself reports as failed (errors, lost replies, its timeout) fails here
# with that result, instead of ending the script silently under `set -e`.
lg() {
  local out rc=0
  out=$("$work/loadgen" --connect "127.0.0.1:$port" --conns 16 --domains "$work/domains" --count "$2" \
    --duration "$3" --pid "$pid" --label "$1") || rc=$?
  kill -0 "$pid" 2>/dev/null || fail "the daemon died during the $1 run (loadgen: ${out:-no output})"
  [ "$rc" -eq 0 ] || fail "loadgen exited $rc in the $1 run: ${out:-no output}"
  echo "$out"
}

lg prime 1000 60 >/dev/null     # discoveries happen here (first lookups may wait for the network)
sleep 1
lg warmup 100000 30 >/dev/null
before=$(rss)
result=$(lg soak "$REQUESTS" "$SECONDS_LIMIT")
after=$(rss)
echo "soak: $result"
growth=$((after - before))
python3 - "$result" "$REQUESTS" "$SECONDS_LIMIT" <<'PY'
import json, sys
r, wanted, limit = json.loads(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
replies = r["replies"]
done = r["requests"]
if r["stopped_by"] == "count":
    print(f"soak: {done} requests in {r['seconds']:.1f} s ({r['rps']:.0f}/s): the count was reached")
else:
    print(f"soak: {done} of {wanted} requests in {r['seconds']:.1f} s ({r['rps']:.0f}/s): stopped by the "
          f"{limit} s time limit (a slower machine; not a failure)")
bad = {k: replies.get(k, 0) for k in ("temp", "timeout", "perm", "other") if replies.get(k, 0)}
if r.get("error_count", 1):
    sys.exit(f"soak: FAIL: {r['error_count']} errors {r['errors']}")
if bad:
    sys.exit(f"soak: FAIL: unexpected replies {bad} (sample: {r.get('sample_unexpected', 'none')})")
if not replies.get("ok") or not replies.get("notfound"):
    sys.exit(f"soak: FAIL: expected both OK and NOTFOUND replies, got {replies}")
PY
echo "soak: RSS ${before} KiB -> ${after} KiB (growth ${growth} KiB, limit ${MAX_GROWTH_KB} KiB)"
[ "$growth" -le "$MAX_GROWTH_KB" ] || fail "memory grew by ${growth} KiB (limit ${MAX_GROWTH_KB} KiB)"
echo "soak: ok"
