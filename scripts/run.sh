#!/usr/bin/env bash
# The main job: set up, build mta-sts, check the bundled example records and policies with it (valid ones must
# pass, broken ones must fail), then run the resolver daemon for Postfix in the foreground on 127.0.0.1:8461
# with the embedded SQLite cache (MTASTS_CACHE, default /var/lib/mta-sts/cache.sqlite). Extra arguments go to
# `mta-sts resolver` (e.g. --config FILE). Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product mta-sts >/dev/null
BIN="$(swift build -c release --show-bin-path)/mta-sts"

status=0
echo "== valid policies (examples/policies)"
for f in examples/policies/*.txt; do "$BIN" policy check "$f" || status=1; done
echo "== valid records (examples/records.txt)"
grep -v '^#' examples/records.txt | while IFS= read -r r; do [ -n "$r" ] && "$BIN" record check "$r"; done || status=1
echo "== broken policies (examples/broken): each must be reported invalid"
for f in examples/broken/*.txt; do
  [ "$(basename "$f")" = records.txt ] && continue
  if "$BIN" policy check "$f"; then echo "run: $f was accepted but is broken" >&2; status=1; fi
done
echo "== broken records (examples/broken/records.txt): each must be reported unusable"
while IFS= read -r r; do
  case "$r" in ''|'#'*) continue ;; esac
  if "$BIN" record check "$r"; then echo "run: '$r' was accepted but is broken" >&2; status=1; fi
done < examples/broken/records.txt
[ $status -eq 0 ] || exit $status
echo "run: all examples checked as expected"
echo "== mta-sts resolver (main.cf: smtp_tls_policy_maps = socketmap:inet:127.0.0.1:8461:postfix)"
exec "$BIN" resolver --cache "sqlite:${MTASTS_CACHE:-/var/lib/mta-sts/cache.sqlite}" "$@"
