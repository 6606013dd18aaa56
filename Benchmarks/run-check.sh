#!/usr/bin/env bash
# `mta-sts check` on loopback: a domain with 3 MX hosts (good.chk.test: policy host on nginx, three real Postfix
# smtpd listeners with STARTTLS), checked RUNS times by the release binary. Reports the checker's own probe time
# (JSON `ms`: every DNS query, TLS session, fetch and SMTP session, in parallel) and the wall time of the whole
# process (start-up, trust store loading, output), median / p90 / max. Goal (issue 6): under 300 ms.
#
# usage: Benchmarks/run-check.sh [RUNS=50]      (root; run inside a network namespace of your own if others test)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-50}
if [ -z "${MTASTS_BIN:-}" ]; then    # MTASTS_BIN: an already built release binary
  echo "== release build of mta-sts"
  swift build -c release --product mta-sts 2>&1 | tail -1
fi
BIN=${MTASTS_BIN:-$(swift build -c release --show-bin-path)/mta-sts}
WORLD=$(mktemp -d -t mta-sts-check-bench.XXXX)
trap 'scripts/testbed.sh down "$WORLD" >/dev/null 2>&1 || true; rm -rf "$WORLD"' EXIT
scripts/testbed.sh up "$WORLD" > /dev/null
DNS=$(sed -n 's/^DNS_SERVER=//p' "$WORLD/env")
"$BIN" check --dns-server "$DNS" --ca-file "$WORLD/ca.pem" --smtp-port 2525 good.chk.test > /dev/null  # warm the page cache
probe=() wall=()
for ((i = 0; i < RUNS; i++)); do
  t0=$(date +%s%N)
  out=$("$BIN" check --json --dns-server "$DNS" --ca-file "$WORLD/ca.pem" --smtp-port 2525 good.chk.test)
  t1=$(date +%s%N)
  probe+=("$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["summary"]["errors"] == 0; print(d["ms"])' "$out")")
  wall+=("$(( (t1 - t0) / 100000 ))e-1")
done
stats() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "median %.1f ms, p90 %.1f ms, max %.1f ms (n=%d)\n", v[int((NR + 1) / 2)], v[int(NR * 0.9 + 0.5)], v[NR], NR }'; }
echo "probes (JSON ms):  $(stats "${probe[@]}")"
echo "process wall time: $(stats "${wall[@]}")"
