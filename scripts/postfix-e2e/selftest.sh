#!/usr/bin/env bash
# Runs every scenario of scripts/postfix-e2e.sh against a socketmap server and checks the outcomes.
#
#   scripts/postfix-e2e/selftest.sh [DIR]
#
# By default the server is the stand-in stub_socketmap.py with a fixed table. To run the same scenarios against
# the real daemon, set E2E_SOCKETMAP_CMD to its command line; it runs inside the namespace via `bash -c` with the
# variables of DIR/env exported, for example:
#   E2E_SOCKETMAP_CMD='exec .build/debug/mta-sts resolver --listen 127.0.0.1:8461 --dns-server "$DNS_SERVER" --ca-file "$CA_FILE"' \
#     scripts/postfix-e2e/selftest.sh /tmp/e2e
# DIR defaults to a new temporary directory; its logs stay there. Exits non-zero on the first failed check and
# always runs `down`. Needs root.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
E2E=$HERE/../postfix-e2e.sh
DIR=${1:-$(mktemp -d -t mtasts-pfe2e.XXXXXX)}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd -P)
SRV_PID=""
# The daemon's reply to an enforce policy whose only mx is an address (RFC 8461 section 4.1: no MX host name can match).
IPMX_REASON='the MTA-STS policy of ipmx.test names no MX host, only addresses such as 127.0.0.2: no MX can match, mail waits for a corrected policy (RFC 8461 section 4.1)'

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
say() { echo "selftest: $*"; }
fail() { echo "selftest: FAIL: $*" >&2; echo "selftest: logs in $DIR (postfix/maillog, socketmap.log)" >&2; exit 1; }
cleanup() {
  local rc=$?
  "$E2E" down "$DIR" || rc=1
  exit $rc
}
trap cleanup EXIT

start_server() {
  if [ -n "${E2E_SOCKETMAP_CMD:-}" ]; then
    "$E2E" exec "$DIR" -- bash -c "set -a; . '$DIR/env'; set +a; $E2E_SOCKETMAP_CMD" </dev/null >>"$DIR/socketmap.log" 2>&1 &
  else
    "$E2E" exec "$DIR" -- python3 "$HERE/stub_socketmap.py" --log "$DIR/socketmap.log" \
      'enforce-good.test=OK secure match=mx1.enforce-good.test servername=hostname' \
      'enforce-bad.test=OK secure match=mx1.enforce-bad.test servername=hostname' \
      'cached.test=OK secure match=mx1.cached.test servername=hostname' \
      "ipmx.test=TEMP $IPMX_REASON" \
      'dane-good.test=OK dane-only' 'dane-bad.test=OK dane-only' </dev/null >>"$DIR/socketmap.log" 2>&1 &
  fi
  SRV_PID=$!                        # `exec` replaces itself with the server: this is the server's PID
  "$E2E" wait-listen "$DIR" 127.0.0.1:8461 20 || fail "socketmap server did not listen on 127.0.0.1:8461"
}

stop_server() {
  # (children too, in case E2E_SOCKETMAP_CMD does not start with exec)
  kill -TERM $(pgrep -P "$SRV_PID" 2>/dev/null) "$SRV_PID" 2>/dev/null || true
  wait "$SRV_PID" 2>/dev/null || true
  SRV_PID=""
}

# expect_status LABEL QID N WANT: wait for delivery status #N of QID and compare the parsed line.
expect_status() {
  local got
  got=$("$E2E" wait "$DIR" "$2" 30 "$3") || fail "$1: no status"
  [ "$got" = "$4" ] || fail "$1: got [$got], want [$4]"
  say "ok   $1: $got ($(( $(now_ms) - T0 )) ms after send/flush)"
}
send() { T0=$(now_ms); QID=$("$E2E" send "$DIR" "$1") || fail "send $1"; }
log_has() { grep -qF -- "$1" "$DIR/postfix/maillog" || fail "maillog lacks: $1"; }
# no_mail_from LABEL ADDR QID: the listener's sessions for QID did EHLO/STARTTLS/QUIT only.
no_mail_from() {
  local out
  out=$("$E2E" mx-log "$DIR" "$2" "$3")
  grep -q 'disconnect from' <<< "$out" || fail "$1: no session at $2 for $3"
  ! grep -qE ' (mail|rcpt|data)=|: client=' <<< "$out" || fail "$1: the MX saw MAIL/RCPT/DATA: $out"
  say "ok   $1: MX $2 saw only: $(grep -o 'disconnect from .*' <<< "$out" | sort | uniq -c | tr -s ' ' | paste -sd';' -)"
}

t=$(now_ms)
"$E2E" up "$DIR"
say "up took $(( $(now_ms) - t )) ms"
: > "$DIR/socketmap.log"
start_server

send user@enforce-good.test
expect_status "enforce-good.test" "$QID" 1 "status=sent tls=Verified relay=mx1.enforce-good.test[127.0.0.2]:25 dsn=2.0.0"
log_has "Verified TLS connection established to mx1.enforce-good.test[127.0.0.2]:25"

send user@enforce-bad.test
BAD=$QID
expect_status "enforce-bad.test" "$QID" 1 "status=deferred tls=Untrusted relay=mx1.enforce-bad.test[127.0.0.3]:25 dsn=4.7.5"
log_has "$QID: to=<user@enforce-bad.test>, relay=mx1.enforce-bad.test[127.0.0.3]:25"
log_has "server certificate verification failed for mx1.enforce-bad.test[127.0.0.3]:25: num=62:hostname mismatch"
no_mail_from "enforce-bad.test" 127.0.0.3 "$QID"

send user@testing-bad.test
expect_status "testing-bad.test" "$QID" 1 "status=sent tls=Trusted relay=mx1.testing-bad.test[127.0.0.3]:25 dsn=2.0.0"

send user@nopolicy.test
expect_status "nopolicy.test" "$QID" 1 "status=sent tls=Trusted relay=mx1.nopolicy.test[127.0.0.3]:25 dsn=2.0.0"

send user@selfsigned.test
expect_status "selfsigned.test (extra)" "$QID" 1 "status=sent tls=Untrusted relay=mx1.selfsigned.test[127.0.0.4]:25 dsn=2.0.0"

# ipmx.test: enforce, but the policy's only mx is the MX's address. No MX host name can match it, so nothing may be
# delivered (RFC 8461 section 4.2): the map answers TEMP, and Postfix defers without connecting to the MX at all (an
# address in match= would make Postfix connect and fail on the name; an empty match= is a Postfix configuration error).
send user@ipmx.test
expect_status "ipmx.test (enforce, mx only an IP address)" "$QID" 1 "status=deferred tls=none relay=none dsn=4.7.5"
log_has "warning: socketmap:inet:127.0.0.1:8461:postfix socketmap server temporary error: $IPMX_REASON"
log_has "$QID: to=<user@ipmx.test>, relay=none, "
[ -z "$("$E2E" mx-log "$DIR" 127.0.0.2 "$QID")" ] || fail "ipmx.test: the MX was contacted"
say "ok   ipmx.test: no session at 127.0.0.2 for $QID"

# cached.test: first let the server learn the enforce policy (policy host up), then stop the policy host, make
# the TXT id change (so a caching daemon must try to refetch) and send again: still enforced.
send user@cached.test
expect_status "cached.test (policy host up, primes the cache)" "$QID" 1 \
  "status=deferred tls=Untrusted relay=mx1.cached.test[127.0.0.3]:25 dsn=4.7.5"
t=$(now_ms); "$E2E" policy-host stop "$DIR"; say "policy-host stop took $(( $(now_ms) - t )) ms"
if "$E2E" exec "$DIR" -- curl -sS --max-time 3 --cacert "$DIR/certs/ca.pem" -o /dev/null \
  https://mta-sts.cached.test/.well-known/mta-sts.txt 2>/dev/null; then fail "policy host still answers"; fi
t=$(now_ms); "$E2E" txt-id "$DIR" cached.test 2; say "txt-id took $(( $(now_ms) - t )) ms"
send user@cached.test
CACHED=$QID
expect_status "cached.test (policy host down)" "$QID" 1 \
  "status=deferred tls=Untrusted relay=mx1.cached.test[127.0.0.3]:25 dsn=4.7.5"
no_mail_from "cached.test (policy host down)" 127.0.0.3 "$QID"

# flush: both deferred messages are retried once more, still deferred, still no MAIL FROM
t=$(now_ms); T0=$t; "$E2E" flush "$DIR"
expect_status "enforce-bad.test after flush" "$BAD" 2 "status=deferred tls=Untrusted relay=mx1.enforce-bad.test[127.0.0.3]:25 dsn=4.7.5"
expect_status "cached.test after flush" "$CACHED" 2 "status=deferred tls=Untrusted relay=mx1.cached.test[127.0.0.3]:25 dsn=4.7.5"
say "flush -> both retries logged in $(( $(now_ms) - t )) ms"
no_mail_from "enforce-bad.test, both attempts" 127.0.0.3 "$BAD"
"$E2E" policy-host start "$DIR"

# socketmap server down: fail closed, no connection to the MX at all
stop_server
send user@enforce-good.test
DOWN=$QID
expect_status "enforce-good.test, socketmap server stopped" "$QID" 1 "status=deferred tls=none relay=none dsn=4.7.5"
log_has "$QID: to=<user@enforce-good.test>, relay=none, "
log_has "dsn=4.7.5, status=deferred (client TLS configuration problem)"
log_has "warning: TLS policy lookup for enforce-good.test/mx1.enforce-good.test: client TLS configuration problem"
[ -z "$("$E2E" mx-log "$DIR" 127.0.0.2 "$QID")" ] || fail "the MX was contacted without a policy answer"
say "ok   no session at 127.0.0.2 for $QID"
grep -E "postfix/smtp\[[0-9]+\]: (warning: .*(8461|socketmap|policy)|$QID: )" "$DIR/postfix/maillog" | tail -n 6 | sed 's/^/selftest:      /'

# server back: the retry is delivered
: > "$DIR/socketmap.log"
start_server
T0=$(now_ms); "$E2E" flush "$DIR"
expect_status "enforce-good.test after the server is back + flush" "$DOWN" 2 \
  "status=sent tls=Verified relay=mx1.enforce-good.test[127.0.0.2]:25 dsn=2.0.0"

# left in the queue: enforce-bad.test, ipmx.test and both cached.test messages (all still deferred)
[ "$("$E2E" queue "$DIR" | grep -c '"queue_name": "deferred"')" -eq 4 ] || fail "queue should hold exactly 4 deferred messages"

# DANE takes precedence (RFC 8461 §2): both DANE domains have an enforce policy that a PKIX check would pass
# (the MX certificate is CA-signed for mx1 and mx2.dane-mx.test); only the TLSA record of mx1 matches its key.
"$E2E" exec "$DIR" -- openssl s_client -connect 127.0.0.5:25 -starttls smtp -servername mx2.dane-mx.test \
  -verify_hostname mx2.dane-mx.test -CAfile "$DIR/certs/ca.pem" -verify_return_error </dev/null >"$DIR/openssl-mx2.log" 2>&1 ||
  fail "mx2.dane-mx.test: the certificate should pass a PKIX check (see $DIR/openssl-mx2.log)"
say "ok   mx2.dane-mx.test passes PKIX with its name: MTA-STS alone would deliver to it"
for d in dane-good.test dane-bad.test; do
  got=$("$E2E" lookup "$DIR" "$d") || fail "$d: no policy-map answer"
  [ "$got" = "dane-only" ] || fail "$d: the policy map answered [$got], want [dane-only]"
done
say "ok   the policy map answers dane-only for both DANE domains"
send user@dane-good.test
expect_status "dane-good.test (TLSA matches)" "$QID" 1 "status=sent tls=Verified relay=mx1.dane-mx.test[127.0.0.5]:25 dsn=2.0.0"
send user@dane-bad.test
DANEBAD=$QID
expect_status "dane-bad.test (TLSA does not match)" "$QID" 1 "status=deferred tls=Untrusted relay=mx2.dane-mx.test[127.0.0.5]:25 dsn=4.7.5"
log_has "server certificate verification failed for mx2.dane-mx.test[127.0.0.5]:25: num=65:no matching DANE TLSA records"
no_mail_from "dane-bad.test" 127.0.0.5 "$DANEBAD"
# The same recipients through a transport without our map (Postfix's own DANE): the same results.
send nomap@dane-good.test
expect_status "dane-good.test without our map" "$QID" 1 "status=sent tls=Verified relay=mx1.dane-mx.test[127.0.0.5]:25 dsn=2.0.0"
send nomap@dane-bad.test
expect_status "dane-bad.test without our map" "$QID" 1 "status=deferred tls=Untrusted relay=mx2.dane-mx.test[127.0.0.5]:25 dsn=4.7.5"
grep -q 'postfix/nomap/smtp.*num=65:no matching DANE TLSA records' "$DIR/postfix/maillog" || fail "nomap: no DANE mismatch logged"
stop_server

t=$(now_ms)
NS=$(sed -n 's/^NETNS=//p' "$DIR/env")
PIDS=$(ip netns pids "$NS" | paste -sd' ' -)
"$E2E" down "$DIR"
say "down took $(( $(now_ms) - t )) ms"
! ip netns list | grep -qw "$NS" || fail "namespace $NS still exists"
[ ! -e "/etc/netns/$NS" ] || fail "/etc/netns/$NS still exists"
for p in $PIDS; do
  [ ! -e "/proc/$p" ] || [ "$(awk '/^State:/ { print $2 }' "/proc/$p/status" 2>/dev/null)" = Z ] ||
    fail "process $p ($(tr '\0' ' ' < "/proc/$p/cmdline")) survived down"
done
say "ok   down: no namespace, none of the $(wc -w <<< "$PIDS") processes left"
say "ALL CHECKS PASSED ($DIR)"
