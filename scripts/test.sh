#!/usr/bin/env bash
# Sets up and runs every test: unit, component, CLI and integration tests against the real-peer test world
# (swift test), a soak (1M requests or 90 s, whichever comes first), the end-to-end checks with a real Postfix and
# a real Exim, then each libFuzzer target. FUZZ_SECONDS (default 60) sets the time per fuzz target; SOAK_REQUESTS (default
# 1000000) and SOAK_SECONDS (default 90) bound the soak. A failing step says which step, which command and its
# exit status, after the step's own message.
set -euo pipefail
self=$(realpath "${BASH_SOURCE[0]}")
cd "$(dirname "$0")/.."
step() { current=$1; echo "test: step: $1"; }
# The whole source line, not $BASH_COMMAND: for a pipeline that is only its last command (`tee`).
trap 'rc=$?; echo "test: FAIL: step \"${current:-?}\" exited $rc at line $LINENO: $(sed -n "${LINENO}p" "$self")" >&2' ERR
step setup
scripts/setup.sh

log=$(mktemp -t mta-sts-test.XXXX)
world=$(mktemp -d -t mta-sts-world.XXXX)
pg=$(mktemp -d -t mta-sts-pg.XXXX)
trap 'scripts/testbed.sh down "$world" >/dev/null 2>&1 || true; scripts/postgres.sh down "$pg" >/dev/null 2>&1 || true
      rm -rf "$log" "$world" "$pg"' EXIT
step build
swift build --build-tests

# The real-peer test world (NSD, nginx, fault server on loopback), shared by the integration tests.
step "testbed up"
scripts/testbed.sh up "$world"
export MTASTS_TESTBED="$world"
# A real PostgreSQL on loopback for the fleet store's tests.
step "postgres up"
scripts/postgres.sh up "$pg" >/dev/null
MTASTS_POSTGRES_URL=$(sed -n 's/^POSTGRES_URL=//p' "$pg/env")
export MTASTS_POSTGRES_URL

step "swift test"
swift test 2>&1 | tee "$log"

# Reliability: socketmap requests with flat memory, bounded by count or time (see scripts/soak.sh).
step soak
bin="$(swift build --show-bin-path)/mta-sts"
scripts/soak.sh "$bin" "$world" "${SOAK_REQUESTS:-1000000}" 2>&1 | tee -a "$log"

# End to end: a real Postfix in a network namespace (MX via NSD) with `mta-sts resolver` as its policy table.
step "postfix end to end"
e2e=$(mktemp -d -t mta-sts-e2e.XXXX)
# Its DNS is the namespace's validating resolver, as Postfix's (DNSSEC trust-ad, the default: DANE precedence).
E2E_SOCKETMAP_CMD="exec $bin resolver --listen 127.0.0.1:8461 --cache sqlite:\$E2E_DIR/cache.sqlite --dns-server \"\$VALIDATING_DNS\" --ca-file \"\$CA_FILE\"" \
  scripts/postfix-e2e/selftest.sh "$e2e" | tee -a "$log"

# End to end: a real Exim (Debian's packages, extracted) enforcing MTA-STS through the resolver's line query mode,
# in the same kind of namespace (docs/exim.md).
step "exim end to end"
scripts/exim-e2e.sh "$bin" "$(mktemp -d -t mta-sts-exim.XXXX)" 2>&1 | tee -a "$log"

step fuzz
scripts/fuzz.sh all "${FUZZ_SECONDS:-60}"

# ---- The Debian package (issue 16, docs/packaging.md): the release build in its own scratch path (.build-release),
# lintian, then install, --version, man, completions, the resolver as the mta-sts user, remove and purge in a clean
# Debian 12 root (debootstrap). Each check prints `package-test: ok: ...`; a failure `package-test: FAIL: why`.
step "debian package"
scripts/package-test.sh 2>&1 | tee -a "$log"

# One closing line: the Swift Testing cases plus the end-to-end checks.
passed=$(grep -oE 'Test run with [0-9]+ tests? (in [0-9]+ suites? )?passed' "$log" | grep -oE '[0-9]+' | head -1 || true)
e2e_ok=$(grep -c '^selftest: ok' "$log" || true)
soak_ok=$(grep -c '^soak: ok' "$log" || true)
exim_ok=$(grep -c '^exim-e2e: ok' "$log" || true)
package_ok=$(grep -c '^package-test: ok:' "$log" || true)
echo "tests: $(( ${passed:-0} + e2e_ok + soak_ok + exim_ok + package_ok )) passed, 0 failed"
