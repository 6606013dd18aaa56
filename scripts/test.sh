#!/usr/bin/env bash
# Sets up and runs every test: unit, component, CLI and integration tests against the real-peer test world
# (swift test), a 1M-request soak, the end-to-end checks with a real Postfix, then each libFuzzer target.
# FUZZ_SECONDS (default 60) sets the time per fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

log=$(mktemp -t mta-sts-test.XXXX)
world=$(mktemp -d -t mta-sts-world.XXXX)
pg=$(mktemp -d -t mta-sts-pg.XXXX)
trap 'scripts/testbed.sh down "$world" >/dev/null 2>&1 || true; scripts/postgres.sh down "$pg" >/dev/null 2>&1 || true
      rm -rf "$log" "$world" "$pg"' EXIT
swift build --build-tests

# The real-peer test world (NSD, nginx, fault server on loopback), shared by the integration tests.
scripts/testbed.sh up "$world"
export MTASTS_TESTBED="$world"
# A real PostgreSQL on loopback for the fleet store's tests.
scripts/postgres.sh up "$pg" >/dev/null
MTASTS_POSTGRES_URL=$(sed -n 's/^POSTGRES_URL=//p' "$pg/env")
export MTASTS_POSTGRES_URL

set +e
swift test 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
[ "$rc" -eq 0 ] || { echo "test: swift test failed (exit $rc)" >&2; exit "$rc"; }

# Reliability: a soak of SOAK_REQUESTS (default 1,000,000) socketmap requests with flat memory.
bin="$(swift build --show-bin-path)/mta-sts"
scripts/soak.sh "$bin" "$world" "${SOAK_REQUESTS:-1000000}" | tee -a "$log"

# End to end: a real Postfix in a network namespace (MX via NSD) with `mta-sts resolver` as its policy table.
e2e=$(mktemp -d -t mta-sts-e2e.XXXX)
# Its DNS is the namespace's validating resolver, as Postfix's (DNSSEC trust-ad, the default: DANE precedence).
E2E_SOCKETMAP_CMD="exec $bin resolver --listen 127.0.0.1:8461 --cache sqlite:\$E2E_DIR/cache.sqlite --dns-server \"\$VALIDATING_DNS\" --ca-file \"\$CA_FILE\"" \
  scripts/postfix-e2e/selftest.sh "$e2e" | tee -a "$log"

scripts/fuzz.sh all "${FUZZ_SECONDS:-60}"

# One closing line: the Swift Testing cases plus the end-to-end checks.
passed=$(grep -oE 'Test run with [0-9]+ tests? (in [0-9]+ suites? )?passed' "$log" | grep -oE '[0-9]+' | head -1)
e2e_ok=$(grep -c '^selftest: ok' "$log" || true)
soak_ok=$(grep -c '^soak: ok' "$log" || true)
echo "tests: $(( ${passed:-0} + e2e_ok + soak_ok )) passed, 0 failed"
