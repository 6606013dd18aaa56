#!/usr/bin/env bash
# Benchmark world for N distinct, COLD MTA-STS lookups (nothing cacheable): NSD + an HTTPS policy host on loopback.
#
#   Benchmarks/world.sh up DIR      (re)generate the CA, zone and configs under DIR, start NSD and the policy host,
#                                   write DIR/env (DNS_SERVER, CA_FILE, ...). BENCH_PREMINT=N pre-mints the leaf
#                                   certificates of mta-sts.d0..d{N-1}.bench.test so minting is not measured.
#   Benchmarks/world.sh down DIR    stop what `up` started for DIR (idempotent; generated files stay)
#
# DNS (NSD, authoritative only, 127.0.0.1:${BENCH_DNS_PORT:-5400}), zone bench.test, all TTLs 0, SOA minimum 0:
#   _mta-sts.<anything>.bench.test   TXT "v=STSv1; id=bench1;"     (wildcard *.bench.test)
#   mta-sts.<anything>.bench.test    A   127.0.1.4                   (the same wildcard)
#   _mta-sts.<x>.nosts.bench.test    NXDOMAIN                        (nosts.bench.test exists, nothing below it)
# HTTPS: Benchmarks/world/policyserver.py on ${BENCH_POLICY_ADDR:-127.0.1.4}:443 (cert minted per SNI name).
# Needs root (port 443), nsd, dig, setsid and a python3 that can import `cryptography` (BENCH_PYTHON to choose).
# Nothing is written outside DIR.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
DNS_PORT=${BENCH_DNS_PORT:-5400}
POLICY_ADDR=${BENCH_POLICY_ADDR:-127.0.1.4}
PREMINT=${BENCH_PREMINT:-0}

die() { echo "world: $*" >&2; exit 1; }
usage() { echo "usage: $0 up|down DIR" >&2; exit 2; }

[ $# -eq 2 ] || usage
CMD=$1
[ -n "$2" ] || usage
[[ $DNS_PORT =~ ^[0-9]+$ ]] || die "BENCH_DNS_PORT must be a port number"
[[ $PREMINT =~ ^[0-9]+$ ]] || die "BENCH_PREMINT must be a number"
[[ $POLICY_ADDR =~ ^[0-9.]+$ ]] || die "BENCH_POLICY_ADDR must be an IPv4 address"

# ---------------------------------------------------------------------------------------------- processes
PEERS_NAME=world
. "$HERE/../scripts/lib/peers.sh"

# down [reap]: stop the peers of DIR (see stop_peers).
down() {
  [ -d "$DIR" ] || return 0
  rm -f "$DIR/env"
  stop_peers "${1:-}" "$DIR/run/policyserver.pid" "$DIR/run/nsd.proc.pid"
  rm -f "$DIR/run/nsd.pid" "$DIR/run/policyserver.ready"
}

pick_python() {
  local py
  for py in ${BENCH_PYTHON:-} python3 /usr/bin/python3; do
    if command -v "$py" > /dev/null 2>&1 && "$py" -c 'import cryptography' > /dev/null 2>&1; then
      command -v "$py"; return 0
    fi
  done
  die "no python3 with the cryptography module (apt-get install python3-cryptography, or set BENCH_PYTHON)"
}

# ---------------------------------------------------------------------------------------------- up

up() {
  local t0 missing=() c nsd_pid srv_pid i py serial
  t0=$(date +%s%N)
  for c in nsd nsd-checkconf nsd-checkzone dig setsid pgrep; do
    command -v "$c" > /dev/null 2>&1 || missing+=("$c")
  done
  [ ${#missing[@]} -eq 0 ] || die "missing commands: ${missing[*]} (apt-get install nsd bind9-dnsutils procps util-linux)"
  if [ "$(id -u)" -ne 0 ] && [ "$(sysctl -n net.ipv4.ip_unprivileged_port_start 2>/dev/null || echo 1024)" -gt 443 ]; then
    die "port 443 needs root (or net.ipv4.ip_unprivileged_port_start <= 443)"
  fi
  py=$(pick_python)

  down reap
  rm -rf "$DIR/certs" "$DIR/dns" "$DIR/run" "$DIR/logs"
  rm -f "$DIR/ca.pem" "$DIR/ca.key" "$DIR/nsd.conf"
  mkdir -p "$DIR/certs" "$DIR/dns" "$DIR/run" "$DIR/logs"
  serial=$(date -u +%s)

  "$py" "$HERE/world/policyserver.py" ca --dir "$DIR/" || die "CA generation failed"

  cat > "$DIR/dns/bench.test.zone" <<ZONE
; bench.test: every name below bench.test exists by wildcard, with TTL 0 (nothing can be cached).
\$ORIGIN bench.test.
\$TTL 0
@        0  SOA   ns.bench.test. hostmaster.bench.test. $serial 3600 600 86400 0
@        0  NS    ns.bench.test.
ns       0  A     127.0.0.1
; _mta-sts.dN.bench.test TXT and mta-sts.dN.bench.test A, for any dN (a wildcard matches any number of labels)
*        0  TXT   "v=STSv1; id=bench1;"
*        0  A     $POLICY_ADDR
; the non-MTA-STS phase: nosts.bench.test exists, so *.bench.test no longer applies below it, and nothing else
; does: _mta-sts.nN.nosts.bench.test is NXDOMAIN (SOA minimum and TTL 0: not even negatively cacheable)
nosts    0  A     127.0.2.1
ZONE

  cat > "$DIR/nsd.conf" <<CONF
# NSD config for the MTA-STS benchmark world (written by Benchmarks/world.sh)
server:
  ip-address: 127.0.0.1@$DNS_PORT
  do-ip6: no
  username: ""
  chroot: ""
  zonesdir: "$DIR/dns"
  pidfile: "$DIR/run/nsd.pid"
  database: ""
  zonelistfile: "$DIR/dns/zone.list"
  xfrdfile: "$DIR/dns/xfrd.state"
  xfrdir: "$DIR/dns"
  logfile: "$DIR/logs/nsd.log"
  server-count: 1
  verbosity: 1
  hide-version: yes
  # no rate limiting: thousands of queries per second from one address are the point
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
remote-control:
  control-enable: no
zone:
  name: bench.test
  zonefile: bench.test.zone
CONF
  {
    nsd-checkconf "$DIR/nsd.conf" && nsd-checkzone bench.test "$DIR/dns/bench.test.zone"
  } >> "$DIR/logs/nsd-check.log" 2>&1 || fail_peer "nsd (configuration check)" "$DIR/logs/nsd-check.log"

  # NSD in the foreground in its own session; killing this PID stops its children too.
  setsid nsd -d -c "$DIR/nsd.conf" < /dev/null >> "$DIR/logs/nsd.out" 2>&1 &
  nsd_pid=$!
  echo "$nsd_pid" > "$DIR/run/nsd.proc.pid"

  # Policy host: writes its ready file (its PID) once it has pre-minted and listens.
  setsid "$py" "$HERE/world/policyserver.py" serve --dir "$DIR/" --listen "$POLICY_ADDR" --port 443 \
    --premint "$PREMINT" --ready "$DIR/run/policyserver.ready" < /dev/null >> "$DIR/logs/policyserver.log" 2>&1 &
  srv_pid=$!
  echo "$srv_pid" > "$DIR/run/policyserver.pid"

  # Ready: NSD answers, the policy host listens. Pre-minting takes ~1-3 ms per name: allow for it.
  local limit=$((200 + PREMINT / 5))
  for ((i = 0; ; i++)); do
    alive "$nsd_pid" || fail_peer nsd "$DIR/logs/nsd.log" "$DIR/logs/nsd.out"
    alive "$srv_pid" || fail_peer policyserver "$DIR/logs/policyserver.log"
    if [ -s "$DIR/run/policyserver.ready" ] &&
       dig @127.0.0.1 -p "$DNS_PORT" +norec +time=1 +tries=1 +short SOA bench.test 2>/dev/null | grep -q hostmaster; then
      break
    fi
    [ "$i" -lt "$limit" ] || fail_peer "nsd or policyserver (not ready after $((limit / 20)) s)" \
      "$DIR/logs/nsd.log" "$DIR/logs/nsd.out" "$DIR/logs/policyserver.log"
    sleep 0.05
  done

  cat > "$DIR/env.tmp" <<ENV
DNS_SERVER=127.0.0.1:$DNS_PORT
CA_FILE=$DIR/ca.pem
POLICY_HOST_ADDR=$POLICY_ADDR
BENCH_DIR=$DIR
BENCH_PREMINT=$PREMINT
ENV
  mv "$DIR/env.tmp" "$DIR/env"
  echo "world: up in $((($(date +%s%N) - t0) / 1000000)) ms: DNS 127.0.0.1:$DNS_PORT, HTTPS $POLICY_ADDR:443," \
    "$PREMINT certificates pre-minted ($DIR/env)"
}

# ---------------------------------------------------------------------------------------------- main

if [ "$CMD" = down ] && [ ! -d "$2" ]; then exit 0; fi
[[ $2 =~ [[:space:]\;\"\'\$\`\\] ]] && die "DIR must not contain whitespace, quotes, ';', '\$', '\`' or '\\': $2"
case $CMD in up|down) ;; *) usage ;; esac
mkdir -p "$2"
DIR=$(cd "$2" && pwd -P)

case $CMD in
  up) up ;;
  down) down reap ;;
esac
