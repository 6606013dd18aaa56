#!/usr/bin/env bash
# Real-peer integration world for MTA-STS tests: NSD (authoritative DNS for t.test, sec.test, bogus.test, dane.test, chk.test,
# host.test),
# nginx (policy hosts, 127.0.1.1:443), a Python fault server (127.0.1.2:443) and MX listeners for `mta-sts check`
# (a dedicated Postfix instance + a scripted server on 127.0.5.x:2525, testbed/mx.sh), all on loopback; 127.0.1.9
# has nothing.
#
#   scripts/testbed.sh up DIR      generate CA, certs, signed zones, configs under DIR; start the peers;
#                                  write DIR/env (DNS_SERVER, CA_FILE, TRUST_ANCHOR, DEAD_DNS_SERVER, ...)
#   scripts/testbed.sh check DIR   probe the running world with dig/curl/openssl (non-zero exit on any failure)
#   scripts/testbed.sh down DIR    stop the peers started for DIR (idempotent; keeps the generated files)
#
# TESTBED_DNS_PORT (default 5300) is NSD's port on 127.0.0.1. Needs root (port 443) and the packages that
# scripts/setup.sh installs. See scripts/testbed/README.md for every domain and its expected outcome.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
DATA=$HERE/testbed
NGINX_ADDR=127.0.1.1
FAULT_ADDR=127.0.1.2
DEAD_ADDR=127.0.1.9

die() { echo "testbed: $*" >&2; exit 1; }
usage() { echo "usage: $0 up|down|check DIR" >&2; exit 2; }

[ $# -eq 2 ] || usage
CMD=$1
[ -n "$2" ] || usage

# ---------------------------------------------------------------------------------------------- processes

PEERS_NAME=testbed
. "$HERE/lib/peers.sh"

# down [reap]: stop the peers of DIR (see stop_peers).
down() {
  [ -d "$DIR" ] || return 0
  rm -f "$DIR/env"
  [ ! -d "$DIR/postfix" ] || bash "$HERE/testbed/mx.sh" down "$DIR" || true
  stop_peers "${1:-}" "$DIR/run/faultserver.pid" "$DIR/run/nginx.pid" "$DIR/run/nsd.proc.pid"
  rm -f "$DIR/run/nsd.pid" "$DIR/run/faultserver.ready"
}

# ---------------------------------------------------------------------------------------------- generation

# render TEMPLATE OUT: substitute @DIR@, @DNS_PORT@, @SERIAL@, @USER@.
render() {
  local dir=${DIR//\\/\\\\}
  dir=${dir//|/\\|}
  dir=${dir//&/\\&}
  sed -e "s|@DIR@|$dir|g" -e "s|@DNS_PORT@|$DNS_PORT|g" -e "s|@SERIAL@|$SERIAL|g" -e "s|@USER@|$NGINX_USER|g" \
    -e "s|@MXGOOD_SPKI@|${MXGOOD_SPKI:-}|g" "$1" > "$2"
}

# padded_policy FILE SIZE NAME: a valid policy padded with extension lines to exactly SIZE bytes.
padded_policy() {
  awk -v size="$2" -v name="$3" 'BEGIN {
    s = "version: STSv1\nmode: enforce\nmx: mx." name ".t.test\nmax_age: 86400\n"
    while (length(s) + 100 <= size - 10) s = s sprintf("x-pad: %091d\n", 0)
    rest = size - length(s) - 8                      # "x-pad: " + digits + "\n"
    if (rest > 0) s = s "x-pad: " sprintf("%0" rest "d", 0) "\n"
    printf "%s", s
  }' > "$1"
  [ "$(wc -c < "$1")" -eq "$2" ] || die "padded_policy: $1 is not $2 bytes"
}

# free_port START: first port >= START on 127.0.0.1 that nothing has bound (TCP or UDP).
free_port() {
  python3 - "$1" <<'EOF'
import socket, sys
p = int(sys.argv[1])
while True:
    try:
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            s = socket.socket(socket.AF_INET, kind); s.bind(("127.0.0.1", p)); s.close()
        print(p); break
    except OSError:
        p += 1
EOF
}

sign_zone() {
  local zone=$1 ksk zsk
  # (&& chains: this runs on the left of ||, where set -e does not apply)
  cd "$DIR/dns" &&
    ksk=$(ldns-keygen -a ECDSAP256SHA256 -k "$zone") &&
    zsk=$(ldns-keygen -a ECDSAP256SHA256 "$zone") &&
    ldns-signzone -i "$(date -u -d '-1 day' +%Y%m%d%H%M%S)" -e "$(date -u -d '+10 years' +%Y%m%d%H%M%S)" \
      -f "$zone.zone.signed" "$zone.zone" "$ksk" "$zsk" &&
    grep -v '^;' "$ksk.key" | sed -e 's/;.*$//' -e 's/[[:space:]]*$//' >> "$DIR/ta.key" &&
    cd - > /dev/null
}

up() {
  local t0 missing=() c nsd_pid i
  for c in nsd nsd-checkzone nginx ldns-keygen ldns-signzone openssl python3 dig curl awk sed setsid postfix postconf; do
    command -v "$c" >/dev/null 2>&1 || missing+=("$c")
  done
  t0=$(date +%s%N)
  [ ${#missing[@]} -eq 0 ] || die "missing commands: ${missing[*]} (run scripts/setup.sh)"
  if [ "$(id -u)" -ne 0 ] && [ "$(sysctl -n net.ipv4.ip_unprivileged_port_start 2>/dev/null || echo 1024)" -gt 443 ]; then
    die "port 443 needs root (or net.ipv4.ip_unprivileged_port_start <= 443)"
  fi
  NGINX_USER=""
  [ "$(id -u)" -ne 0 ] || NGINX_USER="user root root;"   # workers must read DIR, which may be 0700

  down
  rm -rf "$DIR/certs" "$DIR/dns" "$DIR/www" "$DIR/run" "$DIR/logs" "$DIR/tmp"
  rm -f "$DIR/ca.pem" "$DIR/ca.key" "$DIR/ta.key" "$DIR/delv.anchors" "$DIR/nginx.conf" "$DIR/nsd.conf"
  mkdir -p "$DIR/dns" "$DIR/www" "$DIR/run" "$DIR/logs" "$DIR/tmp"
  SERIAL=$(date -u +%s)

  # PKI
  bash "$DATA/certs.sh" "$DIR" || { [ -f "$DIR/certs/openssl.log" ] && cat "$DIR/certs/openssl.log" >&2; die "certificate generation failed"; }
  # DANE-EE SPKI SHA-256 of the MX listeners' "good" key, for dane.test's TLSA records (a fresh key every run).
  MXGOOD_SPKI=$(openssl x509 -in "$DIR/certs/mxgood.pem" -noout -pubkey | openssl pkey -pubin -outform DER |
    openssl dgst -sha256 -hex | sed 's/^.*= //')
  [ ${#MXGOOD_SPKI} -eq 64 ] || die "cannot compute the TLSA data of certs/mxgood.pem"

  # Policy bodies (tests may rewrite them while the world runs)
  cp "$DATA"/www/* "$DIR/www/"
  padded_policy "$DIR/www/bigcl.txt" 100000 bigcl
  padded_policy "$DIR/www/bigchunked.txt" 100000 bigchunked
  padded_policy "$DIR/www/slowbody.txt" 200 slowbody

  # Zones: t.test unsigned; sec.test and bogus.test signed (fresh keys each run), bogus.test then tampered.
  render "$DATA/t.test.zone.in" "$DIR/dns/t.test.zone"
  render "$DATA/host.test.zone.in" "$DIR/dns/host.test.zone"
  render "$DATA/sec.test.zone.in" "$DIR/dns/sec.test.zone"
  render "$DATA/bogus.test.zone.in" "$DIR/dns/bogus.test.zone"
  render "$DATA/dane.test.zone.in" "$DIR/dns/dane.test.zone"
  render "$DATA/chk.test.zone.in" "$DIR/dns/chk.test.zone"
  : > "$DIR/ta.key"
  sign_zone sec.test >> "$DIR/logs/signzone.log" 2>&1 || fail_peer "zone signing (sec.test)" "$DIR/logs/signzone.log"
  sign_zone bogus.test >> "$DIR/logs/signzone.log" 2>&1 || fail_peer "zone signing (bogus.test)" "$DIR/logs/signzone.log"
  grep -q '"v=STSv1; id=bogus1;"' "$DIR/dns/bogus.test.zone.signed" || die "bogus.test: TXT to tamper not found"
  sed -i 's/"v=STSv1; id=bogus1;"/"v=STSv1; id=EVIL;"/' "$DIR/dns/bogus.test.zone.signed"
  # dane.test: forge the TLSA of bogus-mx and the MX of badmx after signing (their RRSIGs no longer verify).
  sign_zone dane.test >> "$DIR/logs/signzone.log" 2>&1 || fail_peer "zone signing (dane.test)" "$DIR/logs/signzone.log"
  grep -q '^_25._tcp.bogus-mx.dane.test.*TLSA.*3 1 1 1111' "$DIR/dns/dane.test.zone.signed" &&
    grep -q '^badmx.dane.test.*MX[[:space:]]*10 tlsa-mx' "$DIR/dns/dane.test.zone.signed" || die "dane.test: records to tamper not found"
  sed -i -e '/^_25._tcp.bogus-mx.dane.test.*TLSA/s/3 1 1 1111/3 1 1 2222/' \
    -e '/^badmx.dane.test.*MX/s/MX[[:space:]]*10 tlsa-mx/MX\t20 tlsa-mx/' "$DIR/dns/dane.test.zone.signed"
  # The same anchors in BIND's trust-anchors syntax, for delv.
  { echo "trust-anchors {"
    awk '{ k = ""; for (i = 7; i <= NF; i++) k = k $i; printf "  %s static-key %s %s %s \"%s\";\n", $1, $4, $5, $6, k }' "$DIR/ta.key"
    echo "};"; } > "$DIR/delv.anchors"
  render "$DATA/nsd.conf.in" "$DIR/nsd.conf"
  {
    nsd-checkconf "$DIR/nsd.conf" &&
      nsd-checkzone t.test "$DIR/dns/t.test.zone" &&
      nsd-checkzone chk.test "$DIR/dns/chk.test.zone" &&
      nsd-checkzone host.test "$DIR/dns/host.test.zone" &&
      nsd-checkzone sec.test "$DIR/dns/sec.test.zone.signed" &&
      nsd-checkzone bogus.test "$DIR/dns/bogus.test.zone.signed" &&
      nsd-checkzone dane.test "$DIR/dns/dane.test.zone.signed"
  } >> "$DIR/logs/nsd-check.log" 2>&1 || fail_peer "nsd (configuration check)" "$DIR/logs/nsd-check.log"

  # NSD: foreground mode in its own session; killing this PID stops its children too.
  setsid nsd -d -c "$DIR/nsd.conf" < /dev/null >> "$DIR/logs/nsd.out" 2>&1 &
  nsd_pid=$!
  echo "$nsd_pid" > "$DIR/run/nsd.proc.pid"

  # nginx daemonizes after binding, so its exit status says whether it is up.
  render "$DATA/nginx.conf.in" "$DIR/nginx.conf"
  nginx -c "$DIR/nginx.conf" -p "$DIR/" -e "$DIR/logs/nginx-error.log" < /dev/null > "$DIR/logs/nginx.out" 2>&1 \
    || fail_peer nginx "$DIR/logs/nginx.out" "$DIR/logs/nginx-error.log"
  for ((i = 0; i < 50; i++)); do [ -s "$DIR/run/nginx.pid" ] && break; sleep 0.02; done   # written after forking

  # Fault server: writes its pidfile once it listens.
  setsid python3 "$DATA/faultserver.py" --listen "$FAULT_ADDR" --port 443 --certs "$DIR/certs" --www "$DIR/www" \
    --ready "$DIR/run/faultserver.ready" < /dev/null >> "$DIR/logs/faultserver.log" 2>&1 &
  local fault_pid=$!
  echo "$fault_pid" > "$DIR/run/faultserver.pid"

  for ((i = 0; ; i++)); do
    alive "$nsd_pid" || fail_peer nsd "$DIR/logs/nsd.log" "$DIR/logs/nsd.out"
    alive "$fault_pid" || fail_peer faultserver "$DIR/logs/faultserver.log"
    if [ -s "$DIR/run/faultserver.ready" ] &&
       dig @127.0.0.1 -p "$DNS_PORT" +norec +time=1 +tries=1 +short SOA t.test 2>/dev/null | grep -q hostmaster; then
      break
    fi
    [ "$i" -lt 200 ] || fail_peer "nsd or faultserver (not ready after 10 s)" "$DIR/logs/nsd.log" "$DIR/logs/nsd.out" \
      "$DIR/logs/faultserver.log"
    sleep 0.05
  done

  # MX listeners for `mta-sts check`: a dedicated Postfix instance and a STARTTLS-injecting script (127.0.5.x:2525).
  bash "$DATA/mx.sh" up "$DIR" || fail_peer "MX listeners (scripts/testbed/mx.sh)" "$DIR/logs/mx-postfix.log" \
    "$DIR/postfix/maillog" "$DIR/logs/smtpinject.log"

  local dead_port
  dead_port=$(free_port $((DNS_PORT + 1)))
  cat > "$DIR/env.tmp" <<EOF
DNS_SERVER=127.0.0.1:$DNS_PORT
CA_FILE=$DIR/ca.pem
TRUST_ANCHOR=$DIR/ta.key
DEAD_DNS_SERVER=127.0.0.1:$dead_port
TESTBED_DIR=$DIR
WWW_DIR=$DIR/www
POLICY_HOST_ADDR=$NGINX_ADDR
FAULT_HOST_ADDR=$FAULT_ADDR
DEAD_HOST_ADDR=$DEAD_ADDR
MX_PORT=2525
EOF
  mv "$DIR/env.tmp" "$DIR/env"
  echo "testbed: up in $((($(date +%s%N) - t0) / 1000000)) ms: DNS 127.0.0.1:$DNS_PORT, nginx $NGINX_ADDR:443, faults $FAULT_ADDR:443 ($DIR/env)"
}

# ---------------------------------------------------------------------------------------------- check

check() {
  [ -f "$DIR/env" ] || die "no $DIR/env: is the testbed up?"
  local DNS_SERVER CA_FILE DEAD_DNS_SERVER
  DNS_SERVER=$(sed -n 's/^DNS_SERVER=//p' "$DIR/env")
  CA_FILE=$(sed -n 's/^CA_FILE=//p' "$DIR/env")
  DEAD_DNS_SERVER=$(sed -n 's/^DEAD_DNS_SERVER=//p' "$DIR/env")
  local port=${DNS_SERVER##*:} fails=0 out rc tmp
  tmp=$(mktemp -d)
  trap "rm -rf '$tmp'" EXIT

  ok() { echo "ok   $1"; }
  bad() { echo "FAIL $1${2:+: $2}"; fails=$((fails + 1)); }
  expect() { # expect DESC GOT WANT
    if [ "$2" = "$3" ]; then ok "$1"; else bad "$1" "got [$2], want [$3]"; fi
  }
  expect_grep() { # expect_grep DESC TEXT PATTERN (extended regex)
    if grep -qE -- "$3" <<< "$2"; then ok "$1"; else bad "$1" "[$2] does not match /$3/"; fi
  }
  q() { dig @127.0.0.1 -p "$port" +norec +time=2 +tries=1 "$@" 2>&1 || true; }
  status() { q "$@" | sed -n 's/.*status: \([A-Z]*\).*/\1/p' | head -n1; }
  addr() { q +short A "$1" | grep -E '^[0-9.]+$' | paste -sd, -; }
  # fetch NAME [curl args]: GET https://NAME/.well-known/mta-sts.txt at the address(es) our DNS gives.
  fetch() {
    local name=$1; shift
    curl -sS --max-time 5 --cacert "$CA_FILE" --resolve "$name:443:$(addr "$name")" "$@" \
      "https://$name/.well-known/mta-sts.txt"
  }
  # cert NAME ADDR: subject and SAN of the certificate served for SNI NAME.
  cert() {
    openssl s_client -connect "$2:443" -servername "$1" < /dev/null 2>/dev/null |
      openssl x509 -noout -subject -ext subjectAltName 2>/dev/null | tr -s ' \n' ' ' | sed 's/ $//'
  }
  curl_rc() { set +e; fetch "$@" > /dev/null 2>&1; echo $?; set -e; }

  # Slow peers first, in the background.
  ( set +e; fetch mta-sts.slowhead.t.test --max-time 2 -o /dev/null 2>/dev/null; echo $? > "$tmp/slowhead" ) &
  ( set +e; fetch mta-sts.slowbody.t.test --max-time 3 -D "$tmp/slowbody.h" -o "$tmp/slowbody.b" 2>/dev/null
    echo $? > "$tmp/slowbody" ) &

  # --- DNS
  expect "TXT good" "$(q +short TXT _mta-sts.good.t.test)" '"v=STSv1; id=good1;"'
  expect "TXT split (one RR, two strings)" "$(q +short TXT _mta-sts.split.t.test)" '"v=STSv1; i" "d=split1;"'
  expect "CNAME chain" "$(q +short TXT _mta-sts.chain.t.test | paste -sd' ' -)" \
    '_mta-sts.chain2.t.test. _mta-sts.chain3.t.test. "v=STSv1; id=chain3;"'
  expect "CNAME customer -> provider" "$(q +short TXT _mta-sts.customer.t.test | paste -sd' ' -)" \
    '_mta-sts.provider.t.test. "v=STSv1; id=prov1;"'
  expect "TXT two: two records" "$(q +short TXT _mta-sts.two.t.test | sort | paste -sd' ' -)" \
    '"v=STSv1; id=a1;" "v=STSv1; id=a2;"'
  expect "TXT mixed: spf + sts" "$(q +short TXT _mta-sts.mixed.t.test | sort | paste -sd' ' -)" \
    '"v=STSv1; id=mixed1;" "v=spf1 -all"'
  expect "TXT malformed" "$(q +short TXT _mta-sts.malformed.t.test)" '"v=STSv1; id=bad-id"'
  expect "none: NXDOMAIN" "$(status TXT _mta-sts.none.t.test)" NXDOMAIN
  expect "none: domain itself exists" "$(q +short A none.t.test)" 127.0.2.3
  expect "nodata: NOERROR" "$(status TXT _mta-sts.nodata.t.test)" NOERROR
  expect "nodata: no TXT" "$(q +short TXT _mta-sts.nodata.t.test)" ""
  expect "dangling: NXDOMAIN" "$(status TXT _mta-sts.dangling.t.test)" NXDOMAIN
  expect "dangling: CNAME answer" "$(q +short TXT _mta-sts.dangling.t.test)" "_mta-sts.gone.t.test."
  expect_grep "loop: CNAMEs" "$(q +short TXT _mta-sts.loop.t.test | paste -sd' ' -)" '^_mta-sts\.loop2\.t\.test\.'
  expect "nohost: NXDOMAIN" "$(status A mta-sts.nohost.t.test)" NXDOMAIN
  expect "multi: two A" "$(addr mta-sts.multi.t.test)" "127.0.1.9,127.0.1.1"
  expect "MX good" "$(q +short MX good.t.test | sort | paste -sd' ' -)" "10 mx1.good.t.test. 20 a.mx.good.t.test."
  expect "TCP works" "$(q +tcp +short TXT _mta-sts.good.t.test)" '"v=STSv1; id=good1;"'
  expect "host.test: CNAME customer -> provider" "$(q +short TXT _mta-sts.customer.host.test | paste -sd' ' -)" \
    '_mta-sts.provider.host.test. "v=STSv1; id=prov1;"'
  expect_grep "sec.test: RRSIG with +dnssec" "$(q +dnssec TXT _mta-sts.sec.test)" 'RRSIG[[:space:]]+TXT'
  expect_grep "bogus.test: forged TXT served" "$(q +short TXT _mta-sts.bogus.test)" 'id=EVIL'
  expect "ta.key: three KSK DNSKEYs" "$(grep -cE '^(sec|bogus|dane)\.test\.[[:space:]]+(IN[[:space:]]+)?DNSKEY[[:space:]]+257 ' \
    "$DIR/ta.key")" 3
  expect "dane.test: mixed MX" "$(q +short MX mixed.dane.test | sort | paste -sd' ' -)" "10 plain-mx.dane.test. 20 tlsa-mx.dane.test."
  expect_grep "dane.test: forged TLSA served" "$(q +short TLSA _25._tcp.bogus-mx.dane.test)" '^3 1 1 2222'
  expect "dane.test: forged MX served" "$(q +short MX badmx.dane.test)" "20 tlsa-mx.dane.test."
  if command -v delv > /dev/null; then
    d() { delv @127.0.0.1 -p "$port" -a "$DIR/delv.anchors" +root="$1" "${@:2}" 2>&1 || true; }
    expect_grep "delv: sec.test fully validated" "$(d sec.test TXT _mta-sts.sec.test)" '^; fully validated'
    expect_grep "delv: bogus.test fails validation" "$(d bogus.test TXT _mta-sts.bogus.test)" \
      'resolution failed|validation failed|verify failed|SERVFAIL'
  else
    echo "skip delv not installed (DNSSEC validation not checked)"
  fi
  set +e; dig @"${DEAD_DNS_SERVER%:*}" -p "${DEAD_DNS_SERVER##*:}" +time=1 +tries=1 TXT _mta-sts.good.t.test \
    > /dev/null 2>&1; rc=$?; set -e
  expect "DEAD_DNS_SERVER does not answer (dig exit 9)" "$rc" 9

  # --- HTTPS
  expect "fetch good" "$(fetch mta-sts.good.t.test | od -An -c | tr -s ' \n' ' ')" \
    "$(od -An -c < "$DIR/www/good.txt" | tr -s ' \n' ' ')"
  expect_grep "fetch good: Content-Type text/plain" "$(fetch mta-sts.good.t.test -o /dev/null -D - | tr -d '\r')" \
    '^Content-Type: text/plain$'
  expect "fetch good: other path 404" "$(curl -sS --cacert "$CA_FILE" --resolve mta-sts.good.t.test:443:$NGINX_ADDR \
    -o /dev/null -w '%{http_code}' https://mta-sts.good.t.test/)" 404
  expect "cert customer: own name only" "$(cert mta-sts.customer.t.test $NGINX_ADDR)" \
    "subject=CN = mta-sts.customer.t.test X509v3 Subject Alternative Name: DNS:mta-sts.customer.t.test"
  expect_grep "fetch customer" "$(fetch mta-sts.customer.t.test)" 'mx: \*\.mx\.provider\.t\.test'
  expect "cert default (unknown SNI)" "$(cert unknown.t.test $NGINX_ADDR)" \
    "subject=CN = default.t.test X509v3 Subject Alternative Name: DNS:default.t.test"
  expect "default server: 404" "$(curl -sS --cacert "$CA_FILE" --resolve default.t.test:443:$NGINX_ADDR \
    -o /dev/null -w '%{http_code}' https://default.t.test/.well-known/mta-sts.txt)" 404
  for n in chain mixed split ctparam multi cachectl; do
    expect_grep "fetch $n" "$(fetch mta-sts.$n.t.test)" '^version: STSv1'
  done
  for n in sec bogus; do expect_grep "fetch $n" "$(fetch mta-sts.$n.test)" '^version: STSv1'; done
  expect_grep "wrongname: cert is for mta-sts.other.t.test" "$(cert mta-sts.wrongname.t.test $NGINX_ADDR)" \
    'DNS:mta-sts\.other\.t\.test$'
  expect "wrongname: curl rejects (60)" "$(curl_rc mta-sts.wrongname.t.test)" 60
  expect "expired: curl rejects (60)" "$(curl_rc mta-sts.expired.t.test)" 60
  expect "expired: but would verify otherwise" "$(openssl verify -no_check_time -CAfile "$CA_FILE" \
    "$DIR/certs/expired.pem" 2>&1)" "$DIR/certs/expired.pem: OK"
  expect "selfsigned: curl rejects (60)" "$(curl_rc mta-sts.selfsigned.t.test)" 60
  expect "redirect301: not followed" "$(fetch mta-sts.redirect301.t.test -o /dev/null -w '%{http_code} %{redirect_url}')" \
    "301 https://mta-sts.good.t.test/.well-known/mta-sts.txt"
  expect "redirect302: not followed" "$(fetch mta-sts.redirect302.t.test -o /dev/null -w '%{http_code} %{redirect_url}')" \
    "302 https://mta-sts.good.t.test/.well-known/mta-sts.txt"
  expect "notfound: 404" "$(fetch mta-sts.notfound.t.test -o /dev/null -w '%{http_code}')" 404
  expect "servererror: 500" "$(fetch mta-sts.servererror.t.test -o /dev/null -w '%{http_code}')" 500
  expect "html: text/html" "$(fetch mta-sts.html.t.test -o /dev/null -w '%{http_code} %{content_type}')" "200 text/html"
  expect "ctparam: charset" "$(fetch mta-sts.ctparam.t.test -o /dev/null -w '%{http_code} %{content_type}')" \
    "200 text/plain; charset=utf-8"
  out=$(fetch mta-sts.noct.t.test -D - -o /dev/null | tr -d '\r' || true)
  expect_grep "noct: 200" "$out" '^HTTP/1.1 200'
  if grep -qi '^content-type:' <<< "$out"; then bad "noct: no Content-Type"; else ok "noct: no Content-Type"; fi
  out=$(fetch mta-sts.bigcl.t.test -D - -o "$tmp/bigcl" | tr -d '\r' || true)
  expect_grep "bigcl: Content-Length 100000" "$out" '^Content-Length: 100000$'
  out=$(fetch mta-sts.bigchunked.t.test -D - -o "$tmp/bigchunked" | tr -d '\r' || true)
  expect_grep "bigchunked: chunked" "$out" '^Transfer-Encoding: chunked$'
  if grep -qi '^content-length:' <<< "$out"; then bad "bigchunked: no Content-Length"; else ok "bigchunked: no Content-Length"; fi
  expect "bigchunked: 100000 bytes" "$(wc -c < "$tmp/bigchunked")" 100000
  expect "badpolicy: body" "$(fetch mta-sts.badpolicy.t.test | paste -sd'|' -)" "version: STSv1|mode: bogus"
  expect "refused: connection refused (7)" "$(curl_rc mta-sts.refused.t.test)" 7
  expect "nohost: cannot resolve" "$(addr mta-sts.nohost.t.test)" ""
  expect_grep "multi: second address serves" "$(fetch mta-sts.multi.t.test)" 'mx: mx\.multi\.t\.test'
  expect_grep "cachectl: Cache-Control" "$(fetch mta-sts.cachectl.t.test -D - -o /dev/null | tr -d '\r')" \
    '^Cache-Control: max-age=3600$'
  expect "fault server: unknown path 404" "$(curl -sS --cacert "$CA_FILE" --resolve mta-sts.noct.t.test:443:$FAULT_ADDR \
    -o /dev/null -w '%{http_code}' https://mta-sts.noct.t.test/x)" 404
  expect "fault server: SNI picks the cert" "$(cert mta-sts.bigchunked.t.test $FAULT_ADDR)" \
    "subject=CN = mta-sts.bigchunked.t.test X509v3 Subject Alternative Name: DNS:mta-sts.bigchunked.t.test"

  # --- MX listeners of chk.test (`mta-sts check`)
  expect "chk: MX good" "$(q +short MX good.chk.test | sort | paste -sd' ' -)" \
    "10 mx1.good.chk.test. 20 mx2.good.chk.test. 30 mx3.good.chk.test."
  starttls() { timeout 5 openssl s_client -starttls smtp -connect "$1:2525" -servername "$2" -verify_hostname "$2" \
    -CAfile "$CA_FILE" < /dev/null 2>&1 || true; }
  expect_grep "chk: Postfix mx1.good STARTTLS verifies" "$(starttls 127.0.5.1 mx1.good.chk.test)" 'Verify return code: 0 \(ok\)'
  expect_grep "chk: Postfix expired" "$(starttls 127.0.5.6 expired.bad.chk.test)" 'certificate has expired'
  expect_grep "chk: Postfix nostarttls" "$(starttls 127.0.5.8 nostarttls.bad.chk.test)" "Didn't find STARTTLS"
  expect_grep "chk: injection after STARTTLS" "$(printf 'EHLO x\r\nSTARTTLS\r\n' | timeout 5 python3 -c '
import socket, sys
s = socket.create_connection(("127.0.5.9", 2525), 5); s.settimeout(2); data = b""
s.sendall(sys.stdin.buffer.read())
try:
    while True:
        d = s.recv(4096)
        if not d: break
        data += d
except OSError: pass
print(data.decode(errors="replace").replace("\r\n", " | "))')" '220 2.0.0 Ready to start TLS \| 250 injected'

  wait
  expect "slowhead: times out (28)" "$(cat "$tmp/slowhead")" 28
  expect "slowbody: times out (28)" "$(cat "$tmp/slowbody")" 28
  expect_grep "slowbody: headers arrived, Content-Length 200" "$(tr -d '\r' < "$tmp/slowbody.h" 2>/dev/null)" \
    '^Content-Length: 200$'
  expect_grep "slowbody: only a few bytes arrived" "$(wc -c < "$tmp/slowbody.b" 2>/dev/null || echo 0)" '^[0-3]$'

  if [ "$fails" -eq 0 ]; then echo "testbed: all checks passed"; else echo "testbed: $fails check(s) FAILED"; return 1; fi
}

# ---------------------------------------------------------------------------------------------- main

if [ "$CMD" = down ] && [ ! -d "$2" ]; then exit 0; fi
[[ $2 =~ [[:space:]\;\"\'] ]] && die "DIR must not contain whitespace, quotes or ';' (it goes into nginx/NSD configs): $2"
mkdir -p "$2"
DIR=$(cd "$2" && pwd -P)
DNS_PORT=${TESTBED_DNS_PORT:-5300}
[[ $DNS_PORT =~ ^[0-9]+$ ]] || die "TESTBED_DNS_PORT must be a port number"

case $CMD in
  up) up ;;
  down) down reap ;;
  check) check ;;
  *) usage ;;
esac
