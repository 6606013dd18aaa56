#!/usr/bin/env bash
# Sets up and runs every test: unit, component, CLI and integration tests against the real-peer test world
# (swift test), then each libFuzzer target.
# FUZZ_SECONDS (default 60) sets the time per fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

log=$(mktemp -t mta-sts-test.XXXX)
world=$(mktemp -d -t mta-sts-world.XXXX)
trap 'scripts/testbed.sh down "$world" >/dev/null 2>&1 || true; rm -rf "$log" "$world"' EXIT
swift build --build-tests

# The real-peer test world (NSD, nginx, fault server on loopback), shared by the integration tests.
scripts/testbed.sh up "$world"
export MTASTS_TESTBED="$world"

set +e
swift test 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
[ "$rc" -eq 0 ] || { echo "test: swift test failed (exit $rc)" >&2; exit "$rc"; }

scripts/fuzz.sh all "${FUZZ_SECONDS:-60}"

# One closing line with the counts of the Swift Testing run.
passed=$(grep -oE 'Test run with [0-9]+ tests? (in [0-9]+ suites? )?passed' "$log" | grep -oE '[0-9]+' | head -1)
echo "tests: ${passed:-0} passed, 0 failed"
