#!/usr/bin/env bash
# Generates the testbed's throwaway PKI under OUT (called by scripts/testbed.sh up; OpenSSL 3.0+ needed):
#   OUT/ca.pem, OUT/ca.key                 test CA (P-256, 30 days)
#   OUT/certs/<label>.pem/.key/.chain.pem   leaves (P-256, 30 days, SAN DNS names, serverAuth); chain = leaf + CA
# Special leaves: "expired" (CA-signed, notAfter yesterday, via `openssl ca`), "selfsigned" (not from the CA),
# "other" (only SAN mta-sts.other.t.test; nginx presents it for mta-sts.wrongname.t.test).
set -euo pipefail
OUT=${1:?usage: certs.sh OUT}
C=$OUT/certs
mkdir -p "$C"
LOG=$C/openssl.log
: > "$LOG"

cat > "$C/openssl.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[leaf_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
# for the expired leaf, issued with "openssl ca" (which can set past dates)
[ca]
default_ca = testca
[testca]
database = $C/index.txt
new_certs_dir = $C
serial = $C/serial
certificate = $OUT/ca.pem
private_key = $OUT/ca.key
default_md = sha256
policy = any_policy
unique_subject = no
copy_extensions = none
[any_policy]
commonName = supplied
[expired_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:mta-sts.expired.t.test
[mxexpired_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:expired.bad.chk.test
EOF
export OPENSSL_CONF=$C/openssl.cnf
ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)

openssl req -x509 "${ec[@]}" -keyout "$OUT/ca.key" -out "$OUT/ca.pem" -days 30 \
  -subj "/CN=MTA-STS testbed CA" -extensions ca_ext 2>>"$LOG"

# leaf LABEL NAME...: CA-signed leaf with CN=first name and every name as a SAN.
leaf() {
  local label=$1; shift
  local san="" n
  for n in "$@"; do san+="${san:+,}DNS:$n"; done
  openssl req -x509 "${ec[@]}" -keyout "$C/$label.key" -out "$C/$label.pem" -days "${LEAF_DAYS:-30}" -subj "/CN=$1" \
    -CA "$OUT/ca.pem" -CAkey "$OUT/ca.key" -extensions leaf_ext -addext "subjectAltName=$san" 2>>"$LOG"
  cat "$C/$label.pem" "$OUT/ca.pem" > "$C/$label.chain.pem"
}

leaf default default.t.test
leaf good mta-sts.good.t.test
# RFC 8461 §3.3 name rules (checklist C34, C35): a whole-label wildcard is fine for mta-sts.t.test;
# a partial-label wildcard and a certificate whose name is only in the CN are not.
leaf wildcard '*.t.test'
leaf partial 'mta*.partial.t.test'
openssl req -x509 "${ec[@]}" -keyout "$C/cnonly.key" -out "$C/cnonly.pem" -days 30 -subj "/CN=mta-sts.cnonly.t.test" \
  -CA "$OUT/ca.pem" -CAkey "$OUT/ca.key" -extensions leaf_ext 2>>"$LOG"
cat "$C/cnonly.pem" "$OUT/ca.pem" > "$C/cnonly.chain.pem"
leaf customer mta-sts.customer.t.test
leaf shared mta-sts.chain.t.test mta-sts.mixed.t.test mta-sts.split.t.test mta-sts.sec.test mta-sts.bogus.test
leaf dane mta-sts.ok.dane.test mta-sts.plain.dane.test mta-sts.mixed.dane.test mta-sts.unusable.dane.test \
  mta-sts.badtlsa.dane.test mta-sts.badmx.dane.test
leaf other mta-sts.other.t.test
for f in redirect301 redirect302 notfound servererror html ctparam noct bigcl bigchunked slowhead slowbody \
         badpolicy multi cachectl tls11; do
  leaf "$f" "mta-sts.$f.t.test"
done

# host.test (the policy host's tests, `mta-sts serve` on 127.0.4.x): a default and one leaf per policy host.
leaf host-default default.host.test
for f in static file deflt provider customer guarded moved flaky flakyproxy; do
  leaf "host-$f" "mta-sts.$f.host.test"
done

# Expired: signed by the CA, valid from two days ago until yesterday.
: > "$C/index.txt"
echo 1000 > "$C/serial"
openssl req -new "${ec[@]}" -keyout "$C/expired.key" -out "$C/expired.csr" -subj "/CN=mta-sts.expired.t.test" 2>>"$LOG"
openssl ca -batch -notext -extensions expired_ext -in "$C/expired.csr" -out "$C/expired.pem" \
  -startdate "$(date -u -d '-2 days' +%Y%m%d%H%M%SZ)" -enddate "$(date -u -d '-1 day' +%Y%m%d%H%M%SZ)" 2>>"$LOG"
cat "$C/expired.pem" "$OUT/ca.pem" > "$C/expired.chain.pem"

# Self-signed, not from the CA (its own issuer; the "chain" is just itself).
openssl req -x509 "${ec[@]}" -keyout "$C/selfsigned.key" -out "$C/selfsigned.pem" -days 30 \
  -subj "/CN=mta-sts.selfsigned.t.test" -extensions leaf_ext -addext "subjectAltName=DNS:mta-sts.selfsigned.t.test" \
  2>>"$LOG"
cp "$C/selfsigned.pem" "$C/selfsigned.chain.pem"

# `mta-sts check` world (chk.test.zone.in, mx.sh): one policy-host leaf for every chk.test policy host, and the
# certificates of the Postfix MX listeners: good (three names), provider wildcard, wrong name, expiring in 5 days,
# expired (CA-signed, via `openssl ca`) and self-signed.
leaf chk mta-sts.good.chk.test mta-sts.seed.chk.test mta-sts.bad.chk.test mta-sts.partial.chk.test \
  mta-sts.testing.chk.test mta-sts.off.chk.test
leaf mxgood mx1.good.chk.test mx2.good.chk.test mx3.good.chk.test
leaf mxprovider '*.mx.provider.chk.test'
leaf mxhostprovider '*.mx.provider.host.test'   # the seed end to end: host.test's provider MX (mx.sh 127.0.5.12)
leaf mxwrong other.chk.test
LEAF_DAYS=5 leaf mxsoon soon.bad.chk.test
openssl req -new "${ec[@]}" -keyout "$C/mxexpired.key" -out "$C/mxexpired.csr" -subj "/CN=expired.bad.chk.test" 2>>"$LOG"
openssl ca -batch -notext -extensions mxexpired_ext -in "$C/mxexpired.csr" -out "$C/mxexpired.pem" \
  -startdate "$(date -u -d '-2 days' +%Y%m%d%H%M%SZ)" -enddate "$(date -u -d '-1 day' +%Y%m%d%H%M%SZ)" 2>>"$LOG"
cat "$C/mxexpired.pem" "$OUT/ca.pem" > "$C/mxexpired.chain.pem"
openssl req -x509 "${ec[@]}" -keyout "$C/mxself.key" -out "$C/mxself.pem" -days 30 \
  -subj "/CN=selfsigned.bad.chk.test" -extensions leaf_ext -addext "subjectAltName=DNS:selfsigned.bad.chk.test" 2>>"$LOG"
cp "$C/mxself.pem" "$C/mxself.chain.pem"
