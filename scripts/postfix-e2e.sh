#!/usr/bin/env bash
# End-to-end harness for `mta-sts resolver` (a Postfix smtp_tls_policy_maps socketmap daemon) with a REAL Postfix.
# Everything runs in a private network namespace (only lo): NSD (DNS, 127.0.0.1:53), nginx (MTA-STS policy host,
# 127.0.0.10:443), and one dedicated Postfix instance: the sender (smtp_tls_policy_maps =
# socketmap:inet:127.0.0.1:8461:postfix) plus smtpd listeners on 127.0.0.2/3/4:25 that play the MX hosts.
# The socketmap server itself is NOT started here: the caller runs it inside the namespace (see `exec`).
#
#   postfix-e2e.sh up DIR                    generate everything under DIR, start the namespace and peers, write DIR/env
#   postfix-e2e.sh down DIR                  stop everything of DIR (and any process left in its namespace), delete
#                                            the namespace (idempotent; generated files and logs stay)
#   postfix-e2e.sh exec DIR -- CMD...        exec CMD inside the namespace (same PID: kill it by $!)
#   postfix-e2e.sh send DIR RCPT             submit one message (sendmail of the instance); prints its queue id
#   postfix-e2e.sh wait DIR QID [SECS] [N]   wait (default 30 s) for the N-th (default 1st) delivery status of QID;
#                                            prints: status=<sent|deferred|bounced> tls=<Verified|Trusted|Untrusted|
#                                            Anonymous|none> relay=<host[addr]:port|none> dsn=<x.y.z>
#   postfix-e2e.sh flush DIR                 postqueue -f (retry deferred mail now)
#   postfix-e2e.sh policy-host stop|start DIR   stop / start the HTTPS policy host (nginx on 127.0.0.10:443)
#   postfix-e2e.sh mx-log DIR ADDR [QID]     the smtpd log lines of the listener on ADDR (127.0.0.2|3|4); with QID
#                                            only the sessions opened during QID's delivery attempts (waits up to
#                                            5 s for open sessions to log their "disconnect" line)
#   postfix-e2e.sh txt-id DIR DOMAIN ID      change DOMAIN's _mta-sts TXT to "v=STSv1; id=ID;" and reload NSD (to
#                                            make a caching daemon refetch the policy)
#   extras: wait-listen DIR HOST:PORT [SECS] | lookup DIR KEY | queue DIR | purge DIR
#
# Exit status: 0 ok, 1 failure (message on stderr), 2 usage. Needs root and the packages of scripts/setup.sh
# (postfix, nsd, nginx-light, openssl, dnsutils, curl, python3, iproute2). See scripts/postfix-e2e/README.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
DATA=$HERE/postfix-e2e
POLICY_ADDR=127.0.0.10
SOCKETMAP_ADDR=127.0.0.1:8461
SENDER_DOMAIN=sender.test
# MX listeners: address, syslog suffix, greeting name (must differ from the sender's), certificate label.
LISTENERS=(
  "127.0.0.2 mx-good mx1.enforce-good.test mx-good"
  "127.0.0.3 mx-wrong mx.wrong-name.test mx-wrong"
  "127.0.0.4 mx-selfsigned mx1.selfsigned.test mx-selfsigned"
  "127.0.0.5 mx-dane mx1.dane-mx.test mx-dane"
  "127.0.0.6 mx-notls mx1.notls.test -"        # no certificate: offers no STARTTLS
)
# A validating resolver (unbound) for Postfix's own DANE and for the socketmap server's trust-ad mode: it trusts
# the signed DANE zones' keys and stubs every test zone to NSD. It caches nothing, so NSD changes show at once.
VALIDATOR_ADDR=127.0.0.53
# DANE domains (signed, enforce policy mx *.dane-mx.test on the policy host): dane-good.test → MX
# mx1.dane-mx.test (TLSA 3 1 1 of the MX key), dane-bad.test → MX mx2.dane-mx.test (TLSA 3 1 1 of another key);
# both MX names are the listener 127.0.0.5, whose CA-signed certificate names both (MTA-STS alone would pass).
DANE_DOMAINS="dane-good.test dane-bad.test"

die() { echo "postfix-e2e: $*" >&2; exit 1; }
usage() {
  sed -n '/^#   postfix-e2e.sh up/,/^#   extras/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# ------------------------------------------------------------------------------------------------ arguments

[ $# -ge 2 ] || usage
CMD=$1
if [ "$CMD" = policy-host ]; then
  [ $# -eq 3 ] || usage
  SUB=$2
  RAWDIR=$3
  shift 3
else
  RAWDIR=$2
  shift 2
fi
[ -n "$RAWDIR" ] || usage
[[ $RAWDIR =~ [[:space:]\;\"\'\\\$\`\{\}\#] ]] && die "DIR must not contain whitespace, quotes, ';', '\$', '#', braces or backslashes: $RAWDIR"
DIR=$(realpath -m -- "$RAWDIR")
NS=${MTASTS_E2E_NETNS:-mtasts-e2e-$(printf '%s' "$DIR" | sha256sum | cut -c1-8)}
[[ $NS =~ ^[A-Za-z0-9_.-]{1,40}$ ]] || die "bad namespace name: $NS"
PF=$DIR/postfix
CONF=$PF/etc
MAILLOG=$PF/maillog
RUN=$DIR/run

ns_exists() { [ -e "/run/netns/$NS" ]; }
nsx() { ip netns exec "$NS" "$@"; }
need_root() { [ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces, ports 25/53/443)"; }
need_up() {
  [ -f "$DIR/env" ] || die "$DIR is not up (no $DIR/env): run '$0 up $DIR' first"
  ns_exists || die "namespace $NS does not exist: run '$0 up $DIR' again"
}

# ------------------------------------------------------------------------------------------------ processes

# alive PID: the process exists and is not a zombie (orphans' parent is PID 1, which may reap them late).
alive() {
  local state
  [[ ${1:-} =~ ^[0-9]+$ ]] || return 1
  state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null || true)
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# ns_pids: PIDs of the live processes in our namespace.
ns_pids() {
  local p
  ns_exists || return 0
  ip netns pids "$NS" 2>/dev/null | sort -un | while read -r p; do
    if alive "$p" && [ "$p" != $$ ]; then echo "$p"; fi
  done
  return 0
}

# ours PID MARK: PID lives in our namespace, or (if the namespace is gone) its command line contains MARK (a path
# under DIR). nsfs inode numbers are reused, so a namespace identity recorded earlier is not trusted.
ours() {
  local id
  alive "$1" || return 1
  if ns_exists; then
    id=$(stat -L -c %i "/run/netns/$NS" 2>/dev/null || true)
    [ -n "$id" ] && [ "$(readlink "/proc/$1/ns/net" 2>/dev/null || true)" = "net:[$id]" ] && return 0
  fi
  [ -n "${2:-}" ] && tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$2"
}

# wait_gone SECS PID...: wait until none of the PIDs is alive; false on timeout.
wait_gone() {
  local secs=$1 end p left
  shift
  end=$(( $(now_ms) + secs * 1000 ))
  while :; do
    left=0
    for p in "$@"; do alive "$p" && left=1; done
    [ $left -eq 0 ] && return 0
    [ "$(now_ms)" -lt "$end" ] || return 1
    sleep 0.05
  done
}

# stop_pids SECS PID...: TERM, wait, then KILL what is left.
stop_pids() {
  local secs=$1 p
  shift
  [ $# -gt 0 ] || return 0
  kill -TERM "$@" 2>/dev/null || true
  if ! wait_gone "$secs" "$@"; then
    for p in "$@"; do
      if alive "$p"; then
        echo "postfix-e2e: PID $p ($(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | cut -c1-80)) ignored TERM; killing it" >&2
        kill -KILL "$p" 2>/dev/null || true
      fi
    done
    wait_gone 2 "$@" || true
  fi
}

# pidfile_pid FILE MARK: the PID in FILE if that process is ours (see `ours`).
pidfile_pid() {
  local pid
  [ -f "$1" ] || return 0
  pid=$(tr -dc '0-9\n' < "$1" | head -n1)
  if ours "$pid" "$2"; then echo "$pid"; fi
}

postfix_master_pid() {
  local pid
  pid=$(tr -dc '0-9\n' 2>/dev/null < "$PF/spool/pid/master.pid" | head -n1 || true)
  # the master chdirs to its queue directory: that identifies the instance even outside the namespace
  alive "$pid" && [ "$(readlink "/proc/$pid/cwd" 2>/dev/null || true)" = "$PF/spool" ] && echo "$pid" || true
}

stop_postfix() {
  local pid
  pid=$(postfix_master_pid)
  [ -n "$pid" ] || return 0
  postfix -c "$CONF" stop >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
  wait_gone 10 "$pid" || stop_pids 1 "$pid"
}

start_nginx() {
  nsx nginx -c "$DIR/nginx/nginx.conf" -p "$DIR/nginx/" -e "$DIR/nginx/error.log" </dev/null \
    >>"$DIR/nginx/nginx.out" 2>&1 || { tail -n 20 "$DIR/nginx/nginx.out" "$DIR/nginx/error.log" >&2 || true; return 1; }
  wait_listen "$POLICY_ADDR:443" 10 || { tail -n 20 "$DIR/nginx/error.log" >&2 || true; return 1; }
}

stop_nginx() {
  local pid
  pid=$(pidfile_pid "$DIR/nginx/nginx.pid" "$DIR/nginx/nginx.conf")
  [ -n "$pid" ] || return 0
  # TERM = fast shutdown; the workers exit with the master
  stop_pids 5 "$pid" $(pgrep -P "$pid" 2>/dev/null || true)
}

# down: stop everything of DIR, remove the namespace. Idempotent.
down() {
  local all pids p i left
  rm -f "$DIR/env"
  all=$(ns_pids)                              # snapshot, to wait for their reaping below
  stop_postfix
  stop_nginx
  p=$(pidfile_pid "$DIR/dns/nsd.pid" "$DIR/dns/nsd.conf")
  [ -z "$p" ] || stop_pids 5 "$p" $(pgrep -P "$p" 2>/dev/null || true)
  p=$(pidfile_pid "$DIR/unbound/unbound.pid" "$DIR/unbound/unbound.conf")
  [ -z "$p" ] || stop_pids 5 "$p"
  # Whatever else still runs in the namespace (the caller's socketmap server, stray smtp/postlogd processes).
  pids=$(ns_pids)
  if [ -n "$pids" ]; then
    # shellcheck disable=SC2086
    stop_pids 5 $pids
  fi
  if ns_exists; then
    ip netns del "$NS" 2>/dev/null || { sleep 0.2; ip netns del "$NS"; }
  fi
  rm -rf "/etc/netns/$NS"
  rmdir /etc/netns 2>/dev/null || true
  # The stopped daemons are orphans of PID 1, which here reaps only about once a second: wait up to 3 s until
  # they are gone from the process table (not even <defunct>), so that `pgrep master` is empty afterwards.
  for ((i = 0; i < 60; i++)); do
    left=0
    for p in $all; do kill -0 "$p" 2>/dev/null && { left=1; break; }; done
    [ $left -eq 0 ] && break
    sleep 0.05
  done
}

# wait_listen HOST:PORT SECS: until a TCP socket listens there inside the namespace (checked with ss, so no
# connection is made and no listener logs a spurious session).
wait_listen() {
  local host=${1%:*} port=${1##*:} end
  end=$(( $(now_ms) + $2 * 1000 ))
  until nsx ss -Hltn "sport = :$port" 2>/dev/null | awk -v h="$host:$port" '$4 == h || $4 == "0.0.0.0:" substr(h, index(h, ":") + 1) { f = 1 } END { exit !f }'; do
    [ "$(now_ms)" -lt "$end" ] || return 1
    sleep 0.05
  done
}

fail_up() {
  local what=$1 f
  shift
  echo "postfix-e2e: up failed: $what" >&2
  for f in "$@"; do
    [ -s "$f" ] && { echo "----- $f" >&2; tail -n 30 "$f" >&2; }
  done
  down
  exit 1
}

# ------------------------------------------------------------------------------------------------ up

# domains: "domain mx-address policy-file [mx-name]" lines from the data file.
domains() { sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$DATA/domains"; }

gen_certs() {
  local C=$DIR/certs ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes) d mx pol
  mkdir -p "$C"
  cd "$C"
  openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 7 -subj "/CN=MTA-STS postfix-e2e test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>>openssl.log
  # leaf LABEL DNS-NAME...: CA-signed, SAN exactly those names.
  leaf() {
    local san="" n
    for n in "${@:2}"; do san+="${san:+,}DNS:$n"; done
    openssl req -new "${ec[@]}" -keyout "$1.key" -out "$1.csr" -subj "/CN=$2" 2>>openssl.log
    printf 'subjectAltName=%s\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' \
      "$san" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 7 -out "$1.pem" \
      -extfile "$1.ext" 2>>openssl.log
    cat "$1.pem" ca.pem > "$1.fullchain.pem"          # nginx
    cat "$1.key" "$1.pem" ca.pem > "$1.pfchain.pem"   # Postfix smtpd_tls_chain_files: key first, then the chain
    rm -f "$1.csr" "$1.ext"
  }
  leaf mx-good mx1.enforce-good.test
  leaf mx-wrong mx.wrong-name.test          # wrong name for every MX that points at 127.0.0.3
  openssl req -x509 "${ec[@]}" -keyout mx-selfsigned.key -out mx-selfsigned.pem -days 7 \
    -subj "/CN=mx1.selfsigned.test" -addext "subjectAltName=DNS:mx1.selfsigned.test" 2>>openssl.log
  cat mx-selfsigned.key mx-selfsigned.pem > mx-selfsigned.pfchain.pem
  leaf mx-dane mx1.dane-mx.test mx2.dane-mx.test   # DANE MX: TLSA of mx1 matches its key, that of mx2 does not
  leaf policy-default default.policy.test   # nginx default server (unknown SNI): 404
  for d in $DANE_DOMAINS; do leaf "sts-$d" "mta-sts.$d"; done
  while read -r d mx pol mxname; do
    [ "$pol" = - ] || leaf "sts-$d" "mta-sts.$d"
  done < <(domains)
  chmod 600 ./*.key ./*.pfchain.pem          # read by root before daemons drop privileges
  cd - >/dev/null
}

gen_dns() {
  local D=$DIR/dns d mx pol serial
  serial=$(date -u +%s)
  mkdir -p "$D"
  cat > "$D/nsd.conf" <<EOF
server:
    ip-address: 127.0.0.1
    port: 53
    username: ""
    chroot: ""
    zonesdir: "$D"
    database: ""
    zonelistfile: "$D/zone.list"
    xfrdfile: "$D/xfrd.state"
    pidfile: "$D/nsd.pid"
    logfile: "$D/nsd.log"
    server-count: 1
    verbosity: 1
remote-control:
    control-enable: no
EOF
  while read -r d mx pol mxname; do
    printf 'zone:\n    name: "%s"\n    zonefile: "%s.zone"\n' "$d" "$d" >> "$D/nsd.conf"
    {
      printf '$ORIGIN %s.\n$TTL 60\n' "$d"
      printf '@        IN SOA ns1.%s. hostmaster.%s. %s 3600 600 86400 60\n' "$d" "$d" "$serial"
      printf '@        IN NS  ns1.%s.\nns1      IN A   127.0.0.1\n' "$d"
      if [ -n "$mxname" ]; then
        printf '@        IN MX  10 %s.\n' "$mxname"   # a host of another zone (its own A record there)
      else
        printf '@        IN MX  10 mx1.%s.\nmx1      IN A   %s\n' "$d" "$mx"
      fi
      if [ "$pol" != - ]; then
        printf 'mta-sts  IN A   %s\n_mta-sts IN TXT "v=STSv1; id=%s;"\n' "$POLICY_ADDR" "$serial"
      fi
    } > "$D/$d.zone"
    nsd-checkzone "$d" "$D/$d.zone" >> "$D/check.log" 2>&1 || fail_up "nsd-checkzone $d" "$D/check.log"
  done < <(domains)
  gen_dane_dns || fail_up "DANE zones" "$D/check.log"
  nsd-checkconf "$D/nsd.conf" >> "$D/check.log" 2>&1 || fail_up "nsd-checkconf" "$D/check.log"
}

gen_dane_dns() {
  local D=$DIR/dns C=$DIR/certs serial good bad z
  serial=$(date -u +%s)
  spki() { openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | openssl dgst -sha256 -hex | sed 's/^.*= //'; }
  good=$(spki "$C/mx-dane.pem") && bad=$(spki "$C/ca.pem") || return 1
  zone_head() { printf '$ORIGIN %s.\n$TTL 60\n@ IN SOA ns1.%s. hostmaster.%s. %s 3600 600 86400 60\n@ IN NS ns1.%s.\nns1 IN A 127.0.0.1\n' \
    "$1" "$1" "$1" "$serial" "$1"; }
  { zone_head dane-mx.test
    printf 'mx1 IN A 127.0.0.5\nmx2 IN A 127.0.0.5\n_25._tcp.mx1 IN TLSA 3 1 1 %s\n_25._tcp.mx2 IN TLSA 3 1 1 %s\n' "$good" "$bad"
  } > "$D/dane-mx.test.zone"
  for z in $DANE_DOMAINS; do
    { zone_head "$z"
      printf '@ IN MX 10 %s.dane-mx.test.\n' "$([ "$z" = dane-good.test ] && echo mx1 || echo mx2)"
      printf 'mta-sts IN A %s\n_mta-sts IN TXT "v=STSv1; id=%s;"\n' "$POLICY_ADDR" "$serial"; } > "$D/$z.zone"
  done
  : > "$D/ta.key"
  for z in dane-mx.test $DANE_DOMAINS; do
    ( cd "$D" && ksk=$(ldns-keygen -a ECDSAP256SHA256 -k "$z") && zsk=$(ldns-keygen -a ECDSAP256SHA256 "$z") &&
      ldns-signzone -i "$(date -u -d '-1 day' +%Y%m%d%H%M%S)" -e "$(date -u -d '+30 days' +%Y%m%d%H%M%S)" \
        -f "$z.zone.signed" "$z.zone" "$ksk" "$zsk" &&
      grep -v '^;' "$ksk.key" | sed -e 's/;.*$//' >> ta.key ) >> "$D/check.log" 2>&1 || return 1
    printf 'zone:\n    name: "%s"\n    zonefile: "%s.zone.signed"\n' "$z" "$z" >> "$D/nsd.conf"
    nsd-checkzone "$z" "$D/$z.zone.signed" >> "$D/check.log" 2>&1 || return 1
  done
}

gen_unbound() {
  local U=$DIR/unbound
  mkdir -p "$U"
  cat > "$U/unbound.conf" <<EOF
# Generated by scripts/postfix-e2e.sh: validating resolver of the namespace (resolv.conf), no root anchor.
server:
    interface: $VALIDATOR_ADDR
    port: 53
    do-ip6: no
    username: ""
    chroot: ""
    directory: "$U"
    pidfile: "$U/unbound.pid"
    logfile: "$U/unbound.log"
    use-syslog: no
    verbosity: 1
    val-log-level: 2
    do-not-query-localhost: no
    access-control: 127.0.0.0/8 allow
    module-config: "validator iterator"
    trust-anchor-file: "$DIR/dns/ta.key"
    cache-max-ttl: 0
    cache-max-negative-ttl: 0
    local-zone: "test." nodefault
stub-zone:
    name: "test."
    stub-addr: 127.0.0.1@53
remote-control:
    control-enable: no
EOF
  unbound-checkconf "$U/unbound.conf"
}

gen_nginx() {
  local N=$DIR/nginx W=$DIR/www C=$DIR/certs d mx pol
  mkdir -p "$N/tmp" "$W"
  cat > "$N/nginx.conf" <<EOF
# Generated by scripts/postfix-e2e.sh: the MTA-STS policy host ($POLICY_ADDR:443), one server per SNI name.
user root root;
worker_processes 1;
pid $N/nginx.pid;
error_log $N/error.log notice;
events { worker_connections 128; }
http {
  log_format sni '\$remote_addr [\$time_local] sni=\$ssl_server_name "\$request" \$status \$body_bytes_sent';
  access_log $N/access.log sni;
  client_body_temp_path $N/tmp/client_body;
  proxy_temp_path $N/tmp/proxy;
  fastcgi_temp_path $N/tmp/fastcgi;
  uwsgi_temp_path $N/tmp/uwsgi;
  scgi_temp_path $N/tmp/scgi;
  server_tokens off;
  keepalive_timeout 5s;
  ssl_protocols TLSv1.2 TLSv1.3;
  types { }
  default_type text/plain;
  charset off;
  server {
    listen $POLICY_ADDR:443 ssl default_server;
    server_name _;
    ssl_certificate     $C/policy-default.fullchain.pem;
    ssl_certificate_key $C/policy-default.key;
    return 404;
  }
EOF
  # policy_server DOMAIN: the server block for mta-sts.DOMAIN, serving $W/DOMAIN.txt
  policy_server() {
    cat >> "$N/nginx.conf" <<EOF
  server {
    listen $POLICY_ADDR:443 ssl;
    server_name mta-sts.$1;
    ssl_certificate     $C/sts-$1.fullchain.pem;
    ssl_certificate_key $C/sts-$1.key;
    location = /.well-known/mta-sts.txt { alias $W/$1.txt; }
    location / { return 404; }
  }
EOF
  }
  while read -r d mx pol mxname; do
    [ "$pol" != - ] || continue
    sed 's/\r$//; s/$/\r/' "$DATA/policies/$pol" > "$W/$d.txt"   # CRLF, as RFC 8461 publishers should
    policy_server "$d"
  done < <(domains)
  for d in $DANE_DOMAINS; do
    printf 'version: STSv1\r\nmode: enforce\r\nmx: *.dane-mx.test\r\nmax_age: 86400\r\n' > "$W/$d.txt"
    policy_server "$d"
  done
  echo "}" >> "$N/nginx.conf"
}

gen_postfix() {
  local C=$DIR/certs l addr name helo cert
  mkdir -p "$CONF" "$PF/spool" "$PF/data"
  chown postfix:postfix "$PF/data"            # else: fatal: open lock file .../master.lock: Permission denied
  cp /etc/postfix/master.cf.proto "$CONF/master.cf"
  cat > "$CONF/main.cf" <<EOF
# Generated by scripts/postfix-e2e.sh (dedicated instance; never touches /etc/postfix or /var/spool/postfix).
compatibility_level = 3.6
queue_directory = $PF/spool
data_directory = $PF/data
myhostname = $SENDER_DOMAIN
mydomain = $SENDER_DOMAIN
myorigin = \$myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination = localhost
mynetworks = 127.0.0.0/8
relayhost =
alias_maps =
alias_database =
biff = no
enable_long_queue_ids = yes
maillog_file = $MAILLOG
maillog_file_prefixes = /var, /dev/stdout, $PF
# Deferred mail is retried only by "postfix-e2e.sh flush" (postqueue -f), never behind a test's back.
queue_run_delay = 3600s
minimal_backoff_time = 3600s
maximal_backoff_time = 7200s
# The sender side under test
smtp_tls_security_level = may
smtp_tls_CAfile = $C/ca.pem
smtp_tls_loglevel = 1
smtp_tls_policy_maps = socketmap:inet:$SOCKETMAP_ADDR:postfix
# DNSSEC from the namespace's validating resolver (AD bit; resolv.conf "options trust-ad"), for Postfix's own DANE
smtp_dns_support_level = dnssec
smtpd_tls_loglevel = 1
# Recipients nomap@<DANE domain> go through a transport without our map, at Postfix's own "dane" level.
transport_maps = texthash:$CONF/transport
EOF
  local d
  for d in $DANE_DOMAINS; do printf 'nomap@%s nomap:\n' "$d"; done > "$CONF/transport"
  local PC="postconf -c $CONF"
  $PC -M# smtp/inet                         # the sender itself listens on no SMTP port
  $PC -M "nomap/unix=nomap unix - - n - - smtp"
  $PC -P "nomap/unix/smtp_tls_policy_maps=" "nomap/unix/smtp_tls_security_level=dane" "nomap/unix/syslog_name=postfix/nomap"
  $PC -F '*/*/chroot = n'                   # else chrooted daemons read a stale copy of resolv.conf
  for l in "${LISTENERS[@]}"; do
    read -r addr name helo cert <<< "$l"
    $PC -M "$addr:25/inet=$addr:25 inet n - n - - smtpd"
    $PC -P "$addr:25/inet/syslog_name=postfix/$name" "$addr:25/inet/myhostname=$helo" "$addr:25/inet/content_filter=discard:"
    if [ "$cert" = - ]; then
      $PC -P "$addr:25/inet/smtpd_tls_security_level=none"
    else
      $PC -P "$addr:25/inet/smtpd_tls_security_level=may" "$addr:25/inet/smtpd_tls_chain_files=$C/$cert.pfchain.pem"
    fi
  done
}

up() {
  local t0 t c missing=() id pid i l addr
  need_root
  for c in ip nsd nsd-checkconf nsd-checkzone ldns-keygen ldns-signzone unbound unbound-checkconf nginx openssl postfix postconf postqueue sendmail dig curl ss \
    python3 sha256sum realpath runuser; do
    command -v "$c" >/dev/null 2>&1 || missing+=("$c")
  done
  [ ${#missing[@]} -eq 0 ] || die "missing commands: ${missing[*]} (run scripts/setup.sh)"
  [ -f /etc/postfix/master.cf.proto ] || die "/etc/postfix/master.cf.proto missing (Debian postfix package?)"
  t0=$(now_ms)

  mkdir -p "$DIR"
  down
  rm -rf "$DIR/certs" "$DIR/dns" "$DIR/www" "$DIR/nginx" "$DIR/unbound" "$PF" "$RUN"
  mkdir -p "$RUN"
  chmod a+x "$DIR"   # the postfix user must traverse DIR (mktemp -d makes it 0700)
  runuser -u postfix -- test -x "$DIR" ||
    die "the postfix user cannot reach $DIR (a parent directory is not searchable): use another DIR"

  # namespace: only lo; 127.0.0.0/8 is local on lo, so 127.0.0.2..10 need no "ip addr add" (which would make
  # them Postfix's own addresses: "mail for ... loops back to myself").
  t=$(now_ms)
  ip netns add "$NS" || die "ip netns add $NS failed"
  nsx ip link set lo up
  mkdir -p "/etc/netns/$NS"
  # bind-mounted over /etc/resolv.conf by ip netns exec: the validating unbound, whose AD bit glibc passes on
  printf 'nameserver %s\noptions trust-ad\n' "$VALIDATOR_ADDR" > "/etc/netns/$NS/resolv.conf"
  local t_ns=$(( $(now_ms) - t ))

  t=$(now_ms)
  gen_certs || fail_up "certificates" "$DIR/certs/openssl.log"
  gen_dns
  gen_nginx
  gen_unbound > "$RUN/unbound-check.log" 2>&1 || fail_up "unbound configuration" "$RUN/unbound-check.log"
  gen_postfix > "$RUN/postconf.log" 2>&1 || fail_up "postfix configuration" "$RUN/postconf.log"
  local t_gen=$(( $(now_ms) - t ))

  # NSD (daemonizes; main PID in nsd.pid)
  t=$(now_ms)
  nsx nsd -c "$DIR/dns/nsd.conf" </dev/null >"$DIR/dns/nsd.out" 2>&1 || fail_up nsd "$DIR/dns/nsd.out" "$DIR/dns/nsd.log"
  for ((i = 0; ; i++)); do
    nsx dig @127.0.0.1 +norec +time=1 +tries=1 +short SOA enforce-good.test 2>/dev/null | grep -q hostmaster && break
    [ $i -lt 100 ] || fail_up "nsd not answering" "$DIR/dns/nsd.out" "$DIR/dns/nsd.log"
    sleep 0.05
  done
  local t_nsd=$(( $(now_ms) - t ))

  # unbound (daemonizes; PID in unbound.pid): the namespace's resolver
  t=$(now_ms)
  nsx unbound -c "$DIR/unbound/unbound.conf" </dev/null >"$DIR/unbound/unbound.out" 2>&1 ||
    fail_up unbound "$DIR/unbound/unbound.out" "$DIR/unbound/unbound.log"
  for ((i = 0; ; i++)); do
    [ "$(nsx dig +short MX enforce-good.test 2>/dev/null)" = "10 mx1.enforce-good.test." ] && break   # via resolv.conf
    [ $i -lt 100 ] || fail_up "DNS through /etc/netns/$NS/resolv.conf (unbound)" "$DIR/unbound/unbound.log" "$DIR/dns/nsd.log"
    sleep 0.05
  done
  nsx dig +dnssec MX dane-good.test | grep -q 'flags:.* ad' ||
    fail_up "unbound does not validate dane-good.test (no AD bit)" "$DIR/unbound/unbound.log"
  ! nsx dig +dnssec MX enforce-good.test | grep -q 'flags:.* ad' ||
    fail_up "unbound marks the unsigned enforce-good.test as validated" "$DIR/unbound/unbound.log"
  local t_unbound=$(( $(now_ms) - t ))

  # nginx (daemonizes)
  t=$(now_ms)
  start_nginx || fail_up nginx "$DIR/nginx/nginx.out" "$DIR/nginx/error.log"
  local d mx pol
  while read -r d mx pol mxname; do
    [ "$pol" != - ] || continue
    nsx curl -sS --max-time 5 --cacert "$DIR/certs/ca.pem" "https://mta-sts.$d/.well-known/mta-sts.txt" \
      -o "$RUN/fetch.out" >>"$RUN/fetch.log" 2>&1 || fail_up "policy fetch for $d" "$RUN/fetch.log" "$DIR/nginx/error.log"
    cmp -s "$RUN/fetch.out" "$DIR/www/$d.txt" || fail_up "policy body for $d differs" "$RUN/fetch.out"
  done < <(domains)
  rm -f "$RUN/fetch.out"
  local t_nginx=$(( $(now_ms) - t ))

  # Postfix
  t=$(now_ms)
  # (`postfix start` runs the integrity check and creates the queue directories itself; a separate
  # `postfix check` first only adds 0.5-1.5 s)
  nsx postfix -c "$CONF" start >"$RUN/postfix-start.log" 2>&1 || fail_up "postfix start" "$RUN/postfix-start.log" "$MAILLOG"
  for l in "${LISTENERS[@]}"; do
    read -r addr _ <<< "$l"
    wait_listen "$addr:25" 15 || fail_up "postfix listener $addr:25" "$RUN/postfix-start.log" "$MAILLOG"
  done
  for ((i = 0; ; i++)); do
    grep -q 'postfix/master\[[0-9]*\]: daemon started' "$MAILLOG" 2>/dev/null && break
    [ $i -lt 200 ] || fail_up "postfix master did not log 'daemon started'" "$RUN/postfix-start.log" "$MAILLOG"
    sleep 0.05
  done
  pid=$(postfix_master_pid)
  [ -n "$pid" ] && ours "$pid" || fail_up "postfix master not running in $NS" "$MAILLOG"
  local t_pf=$(( $(now_ms) - t ))

  cat > "$DIR/env.tmp" <<EOF
NETNS=$NS
DNS_SERVER=127.0.0.1:53
VALIDATING_DNS=$VALIDATOR_ADDR:53
CA_FILE=$DIR/certs/ca.pem
MAILLOG=$MAILLOG
POLICY_HOST_ADDR=$POLICY_ADDR
SOCKETMAP_ADDR=$SOCKETMAP_ADDR
POSTFIX_CONFIG=$CONF
WWW_DIR=$DIR/www
MX_GOOD_ADDR=127.0.0.2
MX_WRONG_ADDR=127.0.0.3
MX_SELFSIGNED_ADDR=127.0.0.4
MX_DANE_ADDR=127.0.0.5
E2E_DIR=$DIR
EOF
  mv "$DIR/env.tmp" "$DIR/env"
  echo "postfix-e2e: up in $(( $(now_ms) - t0 )) ms (netns ${t_ns}, generate ${t_gen}, nsd ${t_nsd}, unbound ${t_unbound}, nginx ${t_nginx}, postfix ${t_pf}): netns $NS, env $DIR/env"
}

# ------------------------------------------------------------------------------------------------ mail

send() {
  local rcpt=$1 mark mid qid i
  need_up
  [[ $rcpt =~ ^[^[:space:]\<\>@]+@[^[:space:]\<\>@]+$ ]] || die "bad recipient: $rcpt"
  mark=$(wc -l < "$MAILLOG")
  mid="e2e.$(date +%s%N).$$@$SENDER_DOMAIN"
  printf 'From: <%s>\nTo: <%s>\nSubject: postfix-e2e test to %s\nMessage-ID: <%s>\nDate: %s\n\nMTA-STS end-to-end test message.\n' \
    "root@$SENDER_DOMAIN" "$rcpt" "$rcpt" "$mid" "$(date -R)" |
    nsx sendmail -C "$CONF" -f "root@$SENDER_DOMAIN" -- "$rcpt" || die "sendmail failed"
  for ((i = 0; i < 200; i++)); do
    qid=$(awk -v m="message-id=<$mid>" -v mark="$mark" 'NR > mark && index($0, m) && match($0, /postfix\/cleanup\[[0-9]+\]: [0-9A-Za-z]+: /) {
        s = substr($0, RSTART, RLENGTH); sub(/^.*\]: /, "", s); sub(/: $/, "", s); print s; exit }' "$MAILLOG")
    [ -z "$qid" ] || break
    sleep 0.05
  done
  [ -n "$qid" ] || die "no queue id logged for message-id <$mid> within 10 s"
  echo "$qid"
}

# status_line QID N: the parsed N-th final-for-now status of QID, or nothing.
status_line() {
  awk -v qid="$1" -v n="$2" '
    # TLS outcome per smtp client process, remembered until that process logs a delivery status.
    match($0, / postfix\/[^ ]*smtp\[[0-9]+\]: (Verified|Trusted|Untrusted|Anonymous) TLS connection established to [^ ]+:/) {
      s = substr($0, RSTART + 1, RLENGTH - 2)
      pid = s; sub(/^[^[]*\[/, "", pid); sub(/\].*$/, "", pid)
      lvl = s; sub(/^[^:]*: /, "", lvl); sub(/ .*$/, "", lvl)
      dst = s; sub(/^.* established to /, "", dst)
      tls[pid] = lvl; tlsto[pid] = dst
      next
    }
    match($0, / postfix\/[^ ]+\[[0-9]+\]: [0-9A-Za-z]+: to=<.*, status=(sent|deferred|bounced)/) {
      s = substr($0, RSTART + 1)
      pid = s; sub(/^[^[]*\[/, "", pid); sub(/\].*$/, "", pid)
      q = s; sub(/^[^ ]+ /, "", q); sub(/:.*$/, "", q)
      if (q == qid && ++count == n) {
        st = s; sub(/^.* status=/, "", st); sub(/ .*$/, "", st)
        relay = "none"; if (match(s, / relay=[^ ,]+/)) relay = substr(s, RSTART + 7, RLENGTH - 7)
        dsn = "none";   if (match(s, / dsn=[^ ,]+/))   dsn = substr(s, RSTART + 5, RLENGTH - 5)
        t = (pid in tls && tlsto[pid] == relay) ? tls[pid] : "none"
        printf "status=%s tls=%s relay=%s dsn=%s\n", st, t, relay, dsn
        exit
      }
      delete tls[pid]; delete tlsto[pid]
    }' "$MAILLOG"
}

wait_status() {
  local qid=$1 secs=${2:-30} n=${3:-1} end line
  need_up
  [[ $qid =~ ^[0-9A-Za-z]+$ ]] || die "bad queue id: $qid"
  [[ $secs =~ ^[0-9]+$ ]] && [[ $n =~ ^[1-9][0-9]*$ ]] || usage
  end=$(( $(now_ms) + secs * 1000 ))
  while :; do
    line=$(status_line "$qid" "$n")
    [ -z "$line" ] || { echo "$line"; return 0; }
    [ "$(now_ms)" -lt "$end" ] || die "no delivery status #$n for $qid within $secs s"
    sleep 0.05
  done
}

# mx_lines NAME QID MODE: smtpd log lines of listener NAME; with a QID only the sessions that began during one of
# that message's delivery attempts (between qmgr's "QID: from=... (queue active)" and the attempt's status line;
# test messages are sent one at a time). MODE print: the lines; MODE open: how many of those sessions have not
# logged their "disconnect" line yet.
mx_lines() {
  awk -v tag=" postfix/$1/smtpd[" -v qid="$2" -v mode="$3" '
    FNR == NR {                                    # pass 1: the attempt windows of qid
      if (qid != "") {
        if (index($0, "]: " qid ": from=<") && index($0, "(queue active)")) { n++; ws[n] = FNR; we[n] = 1e18 }
        else if (n && index($0, "]: " qid ": to=<") && $0 ~ /, status=(sent|deferred|bounced) /) we[n] = FNR
      }
      next
    }
    {
      i = index($0, tag); if (!i) next
      pid = substr($0, i + length(tag)); sub(/\].*$/, "", pid)
      if (index($0, "]: connect from ")) {
        keep = (qid == "")
        for (k = 1; k <= n; k++) if (FNR > ws[k] && FNR < we[k]) keep = 1
        if (keep) { track[pid] = 1; open[pid] = 1 } else delete track[pid]
      }
      if (qid != "" && !(pid in track)) next
      if (mode == "print") print
      if (index($0, "]: disconnect from ")) { delete track[pid]; delete open[pid] }
    }
    END { if (mode == "open") { c = 0; for (p in open) c++; print c } }' "$MAILLOG" "$MAILLOG"
}

mx_log() {
  local addr=$1 qid=${2:-} name="" l a nm i
  need_up
  for l in "${LISTENERS[@]}"; do
    read -r a nm _ <<< "$l"
    if [ "$addr" = "$a" ] || [ "$addr" = "$nm" ]; then name=$nm; fi
  done
  [ -n "$name" ] || die "no listener at $addr (have: 127.0.0.2 to 127.0.0.6)"
  [ -z "$qid" ] || [[ $qid =~ ^[0-9A-Za-z]+$ ]] || die "bad queue id: $qid"
  for ((i = 0; i < 100; i++)); do            # up to 5 s for open sessions to end
    [ "$(mx_lines "$name" "$qid" open)" -eq 0 ] && break
    sleep 0.05
  done
  mx_lines "$name" "$qid" print
}

# txt_id DOMAIN ID: rewrite the _mta-sts TXT id in DOMAIN's zone, bump the SOA serial, reload NSD (SIGHUP) and
# wait until the new record is served.
txt_id() {
  local d=$1 id=$2 z=$DIR/dns/$1.zone pid serial i
  need_up
  [[ $id =~ ^[A-Za-z0-9]{1,32}$ ]] || die "bad id (1-32 letters/digits): $id"
  [ -f "$z" ] && grep -q '^_mta-sts ' "$z" || die "$d has no _mta-sts record in this harness"
  pid=$(pidfile_pid "$DIR/dns/nsd.pid" "$DIR/dns/nsd.conf")
  [ -n "$pid" ] || die "nsd is not running"
  serial=$(awk '$3 == "SOA" { print $6 }' "$z")
  sed -i -e "s/^_mta-sts IN TXT .*/_mta-sts IN TXT \"v=STSv1; id=$id;\"/" \
    -e "/ IN SOA /s/ $serial / $((serial + 1)) /" "$z"
  nsd-checkzone "$d" "$z" >/dev/null || die "nsd-checkzone $d failed after the edit"
  for ((i = 0; i < 100; i++)); do
    (( i % 10 == 0 )) && { touch "$z"; kill -HUP "$pid"; }   # NSD rereads zone files whose mtime changed
    nsx dig @127.0.0.1 +norec +time=1 +tries=1 +short TXT "_mta-sts.$d" 2>/dev/null | grep -qF "id=$id;" && return 0
    sleep 0.05
  done
  die "NSD still serves the old TXT for _mta-sts.$d"
}

# ------------------------------------------------------------------------------------------------ main

case $CMD in
  up)
    [ $# -eq 0 ] || usage
    up
    ;;
  down)
    [ $# -eq 0 ] || usage
    need_root
    down
    ;;
  exec)
    [ "${1:-}" = -- ] && shift
    [ $# -ge 1 ] || usage
    need_up
    exec ip netns exec "$NS" "$@"
    ;;
  send)
    [ $# -eq 1 ] || usage
    send "$1"
    ;;
  wait)
    [ $# -ge 1 ] && [ $# -le 3 ] || usage
    wait_status "$@"
    ;;
  flush)
    [ $# -eq 0 ] || usage
    need_up
    nsx postqueue -c "$CONF" -f
    ;;
  policy-host)
    need_up
    case $SUB in
      stop)
        stop_nginx
        ! wait_listen "$POLICY_ADDR:443" 0 || die "something still listens on $POLICY_ADDR:443"
        ;;
      start)
        [ -z "$(pidfile_pid "$DIR/nginx/nginx.pid" "$DIR/nginx/nginx.conf")" ] || exit 0
        start_nginx || die "nginx did not start (see $DIR/nginx/error.log)"
        ;;
      *) usage ;;
    esac
    ;;
  mx-log)
    [ $# -ge 1 ] && [ $# -le 2 ] || usage
    mx_log "$@"
    ;;
  txt-id)
    [ $# -eq 2 ] || usage
    txt_id "$1" "$2"
    ;;
  wait-listen)
    [ $# -ge 1 ] && [ $# -le 2 ] || usage
    need_up
    [[ $1 =~ ^[0-9.]+:[0-9]+$ ]] || die "want HOST:PORT, got $1"
    wait_listen "$1" "${2:-10}" || die "nothing listens on $1 in $NS after ${2:-10} s"
    ;;
  lookup)
    [ $# -eq 1 ] || usage
    need_up
    nsx postmap -c "$CONF" -q "$1" "socketmap:inet:$SOCKETMAP_ADDR:postfix"
    ;;
  queue)
    [ $# -eq 0 ] || usage
    need_up
    nsx postqueue -c "$CONF" -j
    ;;
  purge)
    [ $# -eq 0 ] || usage
    need_up
    nsx postsuper -c "$CONF" -d ALL
    ;;
  *) usage ;;
esac
