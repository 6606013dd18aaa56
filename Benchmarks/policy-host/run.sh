#!/usr/bin/env bash
# Policy host benchmark: `mta-sts serve` (release build) vs nginx serving the same policy as a static file with
# correct headers, same machine, same run, same TLS certificate (P-256) and protocol settings.
#
#   Benchmarks/policy-host/run.sh [WORKDIR]     (default /tmp/mta-sts-serve-bench; needs root: port 443)
#
# Measures with wrk (installed with apt-get when missing): HTTPS keep-alive requests/s and p99 latency
# (`wrk -t1 -c50 -d$PB_SECS --latency`), and new TLS handshakes/s (the same with `Connection: close`, so every
# request is a fresh TCP + TLS connection, as policy fetchers do). Each phase runs PB_REPEATS times [3], the
# servers alternating (the order rotates per repeat); the median is reported. nginx runs with as many workers as
# cores and `access_log off`; mta-sts serve with `access_log: false` (one event loop per core). Writes
# Benchmarks/policy-host/results-<date>.md (the table and every raw wrk output). Knobs: PB_SECS [10], PB_REPEATS [3], PB_CONNS [50],
# PB_ADDR_OURS [127.0.4.21], PB_ADDR_NGINX [127.0.4.20], PB_SKIP_BUILD=1 (use the existing release binary),
# PB_BIN=PATH (that binary instead; no build). PB_BASE_BIN=PATH: a release binary of another commit, served as "base"
# on PB_ADDR_BASE [127.0.4.22] and measured in the same run, alternating with the others (before/after ratios).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd "$HERE/../.." && pwd -P)
WORK=${1:-/tmp/mta-sts-serve-bench}
SECS=${PB_SECS:-10}
REPEATS=${PB_REPEATS:-3}
CONNS=${PB_CONNS:-50}
OURS=${PB_ADDR_OURS:-127.0.4.21}
NGX=${PB_ADDR_NGINX:-127.0.4.20}
BASE_ADDR=${PB_ADDR_BASE:-127.0.4.22}
BASE_BIN=${PB_BASE_BIN:-}
LABELS="ours nginx"
[ -z "$BASE_BIN" ] || LABELS="ours base nginx"
NAME=mta-sts.bench.test
BIN=${PB_BIN:-$ROOT/.build-release/release/mta-sts}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd -P)
RAW=$WORK/raw.txt
: > "$RAW"
say() { echo "[policy-host bench] $*" >&2; }

command -v wrk > /dev/null || { say "installing wrk"; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk > /dev/null; }
if [ "${PB_SKIP_BUILD:-0}" != 1 ] && [ -z "${PB_BIN:-}" ]; then
  say "release build (under /tmp/swift-build.lock)"
  (cd "$ROOT" && flock /tmp/swift-build.lock swift build -c release --product mta-sts --scratch-path .build-release)
fi
[ -x "$BIN" ] || { say "no release binary at $BIN"; exit 1; }

# --- certificates and the policy (the same bytes for both servers)
C=$WORK/certs
mkdir -p "$C" "$WORK/www/.well-known" "$WORK/nginx/logs" "$WORK/nginx/tmp"
ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
openssl req -x509 "${ec[@]}" -keyout "$C/ca.key" -out "$C/ca.pem" -days 2 -subj "/CN=bench CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2> /dev/null
openssl req -x509 "${ec[@]}" -keyout "$C/leaf.key" -out "$C/leaf.pem" -days 2 -subj "/CN=$NAME" -CA "$C/ca.pem" \
  -CAkey "$C/ca.key" -addext "subjectAltName=DNS:$NAME" -addext "basicConstraints=critical,CA:FALSE" 2> /dev/null
cat "$C/leaf.pem" "$C/ca.pem" > "$C/chain.pem"
printf 'version: STSv1\r\nmode: enforce\r\nmx: mx1.bench.test\r\nmx: *.mx.bench.test\r\nmax_age: 604800\r\n' \
  > "$WORK/www/.well-known/mta-sts.txt"

cat > "$WORK/serve.yml" <<EOF2
https: $OURS:443
certificate: $C/chain.pem
key: $C/leaf.key
access_log: false
domains:
  bench.test: {file: $WORK/www/.well-known/mta-sts.txt}
EOF2
sed "s/^https: .*/https: $BASE_ADDR:443/" "$WORK/serve.yml" > "$WORK/serve-base.yml"

cat > "$WORK/nginx/nginx.conf" <<EOF2
worker_processes $(nproc);
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log;
$( [ "$(id -u)" -eq 0 ] && echo "user root root;" )
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/tmp; proxy_temp_path $WORK/nginx/tmp; fastcgi_temp_path $WORK/nginx/tmp;
  uwsgi_temp_path $WORK/nginx/tmp; scgi_temp_path $WORK/nginx/tmp;
  keepalive_requests 10000000;
  server {
    listen $NGX:443 ssl;
    server_name $NAME;
    ssl_certificate $C/chain.pem;
    ssl_certificate_key $C/leaf.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    location = /.well-known/mta-sts.txt {
      root $WORK/www;
      types { }
      default_type "text/plain; charset=utf-8";
      add_header Cache-Control "max-age=60";
    }
    location / { return 404; }
  }
}
EOF2

cleanup() {
  [ -n "${SERVE_PID:-}" ] && kill "$SERVE_PID" 2> /dev/null || true
  [ -n "${BASE_PID:-}" ] && kill "$BASE_PID" 2> /dev/null || true
  [ -s "$WORK/nginx/nginx.pid" ] && kill -QUIT "$(cat "$WORK/nginx/nginx.pid")" 2> /dev/null || true
}
trap cleanup EXIT
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx/" -e "$WORK/nginx/logs/error.log"
"$BIN" serve --config "$WORK/serve.yml" --log-level warning 2> "$WORK/serve.log" &
SERVE_PID=$!
if [ -n "$BASE_BIN" ]; then
  "$BASE_BIN" serve --config "$WORK/serve-base.yml" --log-level warning 2> "$WORK/serve-base.log" &
  BASE_PID=$!
fi
for a in $([ -z "$BASE_BIN" ] || echo "$BASE_ADDR"); do
  for i in $(seq 100); do curl -sf --cacert "$C/ca.pem" --resolve "$NAME:443:$a" "https://$NAME/.well-known/mta-sts.txt" -o /dev/null && break; sleep 0.1; done
done
for i in $(seq 100); do
  curl -sf --cacert "$C/ca.pem" --resolve "$NAME:443:$OURS" "https://$NAME/.well-known/mta-sts.txt" -o /dev/null &&
    curl -sf --cacert "$C/ca.pem" --resolve "$NAME:443:$NGX" "https://$NAME/.well-known/mta-sts.txt" -o /dev/null && break
  sleep 0.1
done
# Both answer the same body with the right type.
for a in $OURS $NGX $([ -z "$BASE_BIN" ] || echo "$BASE_ADDR"); do
  curl -sS --cacert "$C/ca.pem" --resolve "$NAME:443:$a" -D "$WORK/headers-$a.txt" "https://$NAME/.well-known/mta-sts.txt" \
    | cmp - "$WORK/www/.well-known/mta-sts.txt"
  grep -qi '^content-type: text/plain; charset=utf-8' "$WORK/headers-$a.txt"
done

# cpu_ticks PID...: utime + stime of the processes (all threads), in clock ticks.
cpu_ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
server_pids() {
  case $1 in ours) echo "$SERVE_PID" ;; base) echo "$BASE_PID" ;; *) pgrep -P "$(cat "$WORK/nginx/nginx.pid")" | paste -sd' ' - ;; esac
}
HZ=$(getconf CLK_TCK)

# run LABEL ADDR MODE: one wrk run; prints "req/s p99_ms server_cpu_us_per_request".
run() {
  local label=$1 addr=$2 mode=$3 extra=() out pids t0 t1
  [ "$mode" = close ] && extra=(-H "Connection: close")
  pids=$(server_pids "$label")
  # shellcheck disable=SC2086
  t0=$(cpu_ticks $pids)
  out=$(wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -H "Host: $NAME" "${extra[@]}" "https://$addr/.well-known/mta-sts.txt" 2>&1)
  # shellcheck disable=SC2086
  t1=$(cpu_ticks $pids)
  { echo "### $label $mode"; echo '```'; echo "$out"; echo "server CPU: $((t1 - t0)) ticks (HZ $HZ), load: $(cut -d' ' -f1-3 /proc/loadavg)"; echo '```'; } >> "$RAW"
  local rps p99 reqs cpu
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<< "$out")
  p99=$(awk '$1 == "99%" {v = $2; if (v ~ /us$/) {sub(/us$/, "", v); v /= 1000} else if (v ~ /ms$/) {sub(/ms$/, "", v)} else if (v ~ /s$/) {sub(/s$/, "", v); v *= 1000}; print v}' <<< "$out")
  if grep -q "Non-2xx\|Socket errors" <<< "$out"; then say "$label $mode: $(grep -E 'Non-2xx|Socket errors' <<< "$out")"; fi
  reqs=$(awk '/requests in/ {print $1}' <<< "$out")
  cpu=$(awk -v t=$((t1 - t0)) -v hz="$HZ" -v n="${reqs:-1}" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }')
  echo "$rps ${p99:-0} $cpu"
}

median() { sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

declare -A RPS P99 CPU
for mode in keepalive close; do
  for label in $LABELS; do RPS[$label-$mode]=""; P99[$label-$mode]=""; CPU[$label-$mode]=""; done
  for r in $(seq "$REPEATS"); do
    # rotate the order per repeat, so that no server always runs first (after the other's connections closed)
    read -ra L <<< "$LABELS"
    order=()
    for ((i = 0; i < ${#L[@]}; i++)); do order+=("${L[(i + r - 1) % ${#L[@]}]}"); done
    for label in "${order[@]}"; do
      case $label in ours) addr=$OURS ;; base) addr=$BASE_ADDR ;; *) addr=$NGX ;; esac
      read -r rps p99 cpu < <(run "$label" "$addr" "$mode")
      say "$mode #$r $label: $rps req/s, p99 $p99 ms, server CPU $cpu µs/req"
      RPS[$label-$mode]+="$rps "
      P99[$label-$mode]+="$p99 "
      CPU[$label-$mode]+="$cpu "
    done
  done
done

m() { tr ' ' '\n' <<< "$1" | grep -v '^$' | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
RSS=$(awk '/^VmHWM/ {print $2}' "/proc/$SERVE_PID/status")
OUT=$HERE/results-$(date -u +%Y-%m-%d).md
{
  echo "# Policy host benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(cd "$ROOT" && git rev-parse --short HEAD)"
  echo
  echo "$(nproc) cores shared by server and wrk; loopback; wrk -t1 -c$CONNS -d${SECS}s; median of $REPEATS runs; nginx $(nginx -v 2>&1 | sed 's/.*\///') with $(nproc) workers;"
  echo "same P-256 certificate, TLS 1.2–1.3, same $(wc -c < "$WORK/www/.well-known/mta-sts.txt")-byte policy. mta-sts serve peak RSS ${RSS} KiB."
  echo
  if [ -n "$BASE_BIN" ]; then
    echo "ours: $BIN; base: $BASE_BIN (built $(date -u -r "$BASE_BIN" +%FT%TZ))."
    echo
    echo "| | mta-sts serve | mta-sts serve (base) | nginx | ratio (ours / nginx) | ratio (ours / base) |"
    echo "|---|---|---|---|---|---|"
  else
    echo "| | mta-sts serve | nginx | ratio (ours / nginx) |"
    echo "|---|---|---|---|"
  fi
  for mode in keepalive close; do
    o=$(m "${RPS[ours-$mode]}"); n=$(m "${RPS[nginx-$mode]}")
    op=$(m "${P99[ours-$mode]}"); np=$(m "${P99[nginx-$mode]}")
    oc=$(m "${CPU[ours-$mode]}"); nc=$(m "${CPU[nginx-$mode]}")
    name="HTTPS keep-alive req/s"; [ "$mode" = close ] && name="new TLS handshakes/s (Connection: close)"
    if [ -n "$BASE_BIN" ]; then
      b=$(m "${RPS[base-$mode]}"); bp=$(m "${P99[base-$mode]}"); bc=$(m "${CPU[base-$mode]}")
      echo "| $name | $o | $b | $n | **$(ratio "$o" "$n")×** | $(ratio "$o" "$b")× |"
      echo "| p99 latency, $mode (ms) | $op | $bp | $np | $(ratio "$op" "$np")× | $(ratio "$op" "$bp")× |"
      echo "| server CPU µs per request, $mode | $oc | $bc | $nc | $(ratio "$oc" "$nc")× | $(ratio "$oc" "$bc")× |"
    else
      echo "| $name | $o | $n | **$(ratio "$o" "$n")×** |"
      echo "| p99 latency, $mode (ms) | $op | $np | $(ratio "$op" "$np")× |"
      echo "| server CPU µs per request, $mode | $oc | $nc | $(ratio "$oc" "$nc")× |"
    fi
  done
  echo
  echo "All runs (req/s): $(for k in ours-keepalive base-keepalive nginx-keepalive ours-close base-close nginx-close; do [ -z "${RPS[$k]:-}" ] || printf '%s: %s; ' "$k" "${RPS[$k]}"; done)"
  echo "All runs (server CPU µs/req): $(for k in ours-keepalive base-keepalive nginx-keepalive ours-close base-close nginx-close; do [ -z "${CPU[$k]:-}" ] || printf '%s: %s; ' "$k" "${CPU[$k]}"; done)"
  echo
  echo "## Raw wrk output"
  echo
  cat "$RAW"
} > "$OUT"
say "results: $OUT"
sed -n '1,16p' "$OUT"
