#!/usr/bin/env bash
# ACME benchmark (issue 12): one `mta-sts serve` (release build) with an ACME-managed certificate from Debian's pebble
# and a file certificate, measured in the same run:
#   1. time from SIGHUP with a new domain to its pebble-issued certificate being served (order, tls-alpn-01 validated
#      by pebble on this serve's own listener, finalize, install), for ACME_NAMES new domains in turn;
#   2. new TLS handshakes/s and HTTPS keep-alive req/s (wrk -t1 -c$ACME_CONNS -d${ACME_SECS}s) for the name with the
#      ACME certificate and the name with the file certificate, alternating, median of ACME_REPEATS [3].
#
#   Benchmarks/acme/run.sh [WORKDIR]          (default /tmp/mta-sts-acme-bench; needs root: port 443, a mount namespace)
#
# Needs the test world's DNS (scripts/testbed.sh up /tmp/world; MTASTS_TESTBED [/tmp/world]), where
# mta-sts.{static,deflt,file,customer,guarded,moved}.host.test are 127.0.4.1: serve listens on 127.0.4.1:443, which is
# also pebble's tlsPort. wrk sends the URL's host as SNI, so it runs in a private mount namespace whose /etc/hosts maps
# those names to 127.0.4.1 (the system's file is untouched). Both certificates are P-256 leaves. Knobs: ACME_SECS [10],
# ACME_REPEATS [3], ACME_CONNS [50], ACME_BIN (a release binary; default .build-release/release/mta-sts, built when
# missing). Writes Benchmarks/acme/results-<date>.md (the tables and every raw wrk output).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd "$HERE/../.." && pwd -P)
WORK=${1:-/tmp/mta-sts-acme-bench}
SECS=${ACME_SECS:-10}
REPEATS=${ACME_REPEATS:-3}
CONNS=${ACME_CONNS:-50}
WORLD=${MTASTS_TESTBED:-/tmp/world}
BIN=${ACME_BIN:-$ROOT/.build-release/release/mta-sts}
ADDR=127.0.4.1
FILE_DOMAIN=static.host.test
NEW_DOMAINS=(deflt.host.test file.host.test customer.host.test guarded.host.test moved.host.test)
say() { echo "[acme bench] $*" >&2; }

[ "$(id -u)" -eq 0 ] || { say "needs root (port 443, unshare -m)"; exit 1; }
[ -s "$WORLD/env" ] || { say "no test world at $WORLD: scripts/testbed.sh up $WORLD"; exit 1; }
# shellcheck disable=SC1091
. "$WORLD/env"
DNS=127.0.0.1:5300
command -v wrk > /dev/null || { say "installing wrk"; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk > /dev/null; }
[ -x /usr/bin/pebble ] || { say "installing pebble"; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pebble > /dev/null; }
if [ ! -x "$BIN" ]; then
  say "release build"
  (cd "$ROOT" && swift build -c release --product mta-sts --scratch-path .build-release)
fi
rm -rf "$WORK"
mkdir -p "$WORK/pebble" "$WORK/certs"
RAW=$WORK/raw.txt
: > "$RAW"

# --- pebble: its HTTPS listener's certificate from a throwaway CA; validation of tls-alpn-01 on 127.0.4.1:443
P=$WORK/pebble
ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
openssl req -x509 "${ec[@]}" -keyout "$P/ca.key" -out "$P/ca.pem" -days 2 -subj "/CN=bench ACME CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2> /dev/null
openssl req -x509 "${ec[@]}" -keyout "$P/key.pem" -out "$P/cert.pem" -days 2 -subj "/CN=localhost" -CA "$P/ca.pem" \
  -CAkey "$P/ca.key" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -addext "basicConstraints=critical,CA:FALSE" 2> /dev/null
cat > "$P/config.json" << EOF2
{"pebble": {"listenAddress": "127.0.0.1:14900", "managementListenAddress": "127.0.0.1:15900", "certificate": "cert.pem",
 "privateKey": "key.pem", "httpPort": 5902, "tlsPort": 443, "ocspResponderURL": "", "externalAccountBindingRequired": false}}
EOF2

# --- the file certificate: a P-256 leaf for mta-sts.static.host.test (and the default pair)
C=$WORK/certs
openssl req -x509 "${ec[@]}" -keyout "$C/ca.key" -out "$C/ca.pem" -days 2 -subj "/CN=bench file CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2> /dev/null
openssl req -x509 "${ec[@]}" -keyout "$C/leaf.key" -out "$C/leaf.pem" -days 2 -subj "/CN=mta-sts.$FILE_DOMAIN" -CA "$C/ca.pem" \
  -CAkey "$C/ca.key" -addext "subjectAltName=DNS:mta-sts.$FILE_DOMAIN" -addext "basicConstraints=critical,CA:FALSE" 2> /dev/null
cat "$C/leaf.pem" "$C/ca.pem" > "$C/chain.pem"

# config N: the file domain plus the first N new domains (ACME)
config() {
  {
    echo "https: $ADDR:443"
    echo "admin: 127.0.0.1:9479"
    echo "certificate: $C/chain.pem"
    echo "key: $C/leaf.key"
    echo "access_log: false"
    echo "dns_servers: $DNS"
    echo "zone: {addresses: [$ADDR]}"
    echo "acme: {directory: 'https://localhost:14900/dir', storage: $WORK/acme, ca_file: $P/ca.pem}"
    echo "domains:"
    echo "  $FILE_DOMAIN: {mode: enforce, mx: [mx.$FILE_DOMAIN], max_age: 86400, certificate: $C/chain.pem, key: $C/leaf.key}"
    for d in "${NEW_DOMAINS[@]:0:$1}"; do echo "  $d: {mode: enforce, mx: [mx.$d], max_age: 86400}"; done
  } > "$WORK/serve.yml"
}

cleanup() {
  [ -n "${SERVE_PID:-}" ] && kill "$SERVE_PID" 2> /dev/null || true
  [ -n "${PEBBLE_PID:-}" ] && kill -9 "$PEBBLE_PID" 2> /dev/null || true
}
trap cleanup EXIT
(cd "$P" && PEBBLE_VA_NOSLEEP=1 exec pebble -config config.json -dnsserver "$DNS" > "$P/pebble.log" 2>&1) &
PEBBLE_PID=$!
config 0
"$BIN" serve --config "$WORK/serve.yml" --log-level warning 2> "$WORK/serve.log" &
SERVE_PID=$!
for i in $(seq 100); do
  curl -sf --cacert "$P/ca.pem" https://localhost:14900/dir -o /dev/null && curl -sf http://127.0.0.1:9479/healthz -o /dev/null && break
  sleep 0.1
done
curl -sf --cacert "$P/ca.pem" https://localhost:15900/roots/0 > "$WORK/pebble-root.pem"

issuer() { openssl s_client -connect "$ADDR:443" -servername "$1" < /dev/null 2> /dev/null | openssl x509 -noout -issuer 2> /dev/null || true; }
now_ms() { date +%s%3N; }

# --- 1. SIGHUP with a new domain → its certificate served (pebble's issuer on the handshake)
SIGHUP_MS=()
for n in $(seq ${#NEW_DOMAINS[@]}); do
  d=${NEW_DOMAINS[$((n - 1))]}
  config "$n"
  t0=$(now_ms)
  kill -HUP "$SERVE_PID"
  until issuer "mta-sts.$d" | grep -q -i pebble; do
    [ $(($(now_ms) - t0)) -lt 120000 ] || { say "no certificate for mta-sts.$d after 120 s"; cat "$WORK/serve.log" >&2; exit 1; }
    sleep 0.02
  done
  ms=$(($(now_ms) - t0))
  SIGHUP_MS+=("$ms")
  say "SIGHUP → mta-sts.$d served with pebble's certificate: $ms ms"
done
ACME_NAME=mta-sts.${NEW_DOMAINS[0]}
FILE_NAME=mta-sts.$FILE_DOMAIN
# Both names verify: the ACME one against pebble's root, the file one against its CA.
curl -sf --cacert "$WORK/pebble-root.pem" --resolve "$ACME_NAME:443:$ADDR" "https://$ACME_NAME/.well-known/mta-sts.txt" -o /dev/null
curl -sf --cacert "$C/ca.pem" --resolve "$FILE_NAME:443:$ADDR" "https://$FILE_NAME/.well-known/mta-sts.txt" -o /dev/null

# --- 2. handshakes/s and keep-alive req/s, ACME certificate vs file certificate, alternating
printf '%s %s\n%s %s\n' "$ADDR" "$ACME_NAME" "$ADDR" "$FILE_NAME" > "$WORK/hosts"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVE_PID/stat"; }
HZ=$(getconf CLK_TCK)
run() {  # run NAME MODE → "req/s server_cpu_us_per_request"
  local name=$1 mode=$2 extra="" out t0 t1 reqs
  [ "$mode" = close ] && extra='-H "Connection: close"'
  t0=$(cpu_ticks)
  out=$(unshare -m sh -c "mount --bind '$WORK/hosts' /etc/hosts && wrk -t1 -c$CONNS -d${SECS}s $extra https://$name/.well-known/mta-sts.txt" 2>&1)
  t1=$(cpu_ticks)
  { echo "### $name $mode"; echo '```'; echo "$out"; echo "server CPU: $((t1 - t0)) ticks (HZ $HZ)"; echo '```'; } >> "$RAW"
  if grep -q "Non-2xx\|Socket errors" <<< "$out"; then say "$name $mode: $(grep -E 'Non-2xx|Socket errors' <<< "$out")"; fi
  reqs=$(awk '/requests in/ {print $1}' <<< "$out")
  echo "$(awk '/^Requests\/sec:/ {print $2}' <<< "$out") $(awk -v t=$((t1 - t0)) -v hz="$HZ" -v n="${reqs:-1}" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }')"
}
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
declare -A RPS CPU
for mode in close keepalive; do
  for r in $(seq "$REPEATS"); do
    order=(acme file)
    [ $((r % 2)) -eq 0 ] && order=(file acme)
    for label in "${order[@]}"; do
      name=$ACME_NAME
      [ "$label" = file ] && name=$FILE_NAME
      read -r rps cpu < <(run "$name" "$mode")
      say "$mode #$r $label ($name): $rps req/s, server CPU $cpu µs/req"
      RPS[$label-$mode]+="$rps "
      CPU[$label-$mode]+="$cpu "
    done
  done
done

OUT=$HERE/results-$(date -u +%Y-%m-%d).md
{
  echo "# ACME benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(cd "$ROOT" && git rev-parse --short HEAD)"
  echo
  echo "$(nproc) cores shared by serve, pebble and wrk; loopback; one \`mta-sts serve\` ($BIN), P-256 leaves for both names."
  echo
  echo "SIGHUP with a new domain → its pebble-issued certificate on the handshake (DNS precheck, order, tls-alpn-01 on"
  echo "serve's own listener, finalize, store, install), in ms: ${SIGHUP_MS[*]} (median $(echo "${SIGHUP_MS[*]}" | median))."
  echo
  echo "| wrk -t1 -c$CONNS -d${SECS}s, median of $REPEATS | ACME certificate ($ACME_NAME) | file certificate ($FILE_NAME) | ratio (ACME / file) |"
  echo "|---|---|---|---|"
  for mode in close keepalive; do
    a=$(echo "${RPS[acme-$mode]}" | median); f=$(echo "${RPS[file-$mode]}" | median)
    ac=$(echo "${CPU[acme-$mode]}" | median); fc=$(echo "${CPU[file-$mode]}" | median)
    label="new TLS handshakes/s (Connection: close)"; [ "$mode" = keepalive ] && label="HTTPS keep-alive req/s"
    echo "| $label | $a | $f | **$(ratio "$a" "$f")×** |"
    echo "| server CPU µs per request, $mode | $ac | $fc | $(ratio "$ac" "$fc")× |"
  done
  echo
  echo "## Raw wrk output"
  echo
  cat "$RAW"
} > "$OUT"
say "wrote $OUT"
sed -n '1,/^## Raw/p' "$OUT"
