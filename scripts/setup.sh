#!/usr/bin/env bash
# Installs what building and testing mta-sts needs on Debian/Ubuntu (idempotent; quiet when all is there).
# The Swift toolchain itself (6.0 or later) must already be on PATH: see https://www.swift.org/install/.
set -euo pipefail

# Debian packages: libidn2 (IDNA for U-labels), libunbound (DNS), libsqlite3 (policy cache), zlib (gzip TLS reports); for the test world: NSD, ldns tools (DNSSEC
# signing), dig/delv, nginx, openssl, curl, python3 (fault server), postfix (the MX listeners of testbed/mx.sh for
# `mta-sts check`); for scripts/postfix-e2e.sh also postfix, iproute2 (ip netns) and unbound (the validating
# resolver of Postfix's own DANE there); postgresql for the fleet store's tests (scripts/postgres.sh starts its own
# server on a free port; the cluster Debian's postinst may start on 5432 is not used); dns-root-data (the root
# trust anchor of `--dnssec validate`); for the TLS-RPT and ACME tests: chromium (the reports dashboard, headless),
# dovecot-imapd and fetchmail (a report pulled from an IMAP mailbox), pebble (the ACME server); each test starts its
# own instance on loopback (the daemons the packages' postinst may start are not used).
PACKAGES=(libidn2-dev libunbound-dev libsqlite3-dev zlib1g-dev pkg-config gcc nsd ldnsutils dnsutils nginx-light openssl curl python3 postfix
  iproute2 postgresql unbound dns-root-data chromium dovecot-imapd fetchmail pebble
  # The libraries of Debian's exim4-daemon-heavy, for scripts/exim-e2e.sh (which extracts Exim itself: the package
  # conflicts with postfix).
  libdb5.3 libgnutls-dane0 libgnutls30 libidn12 libidn2-0 libldap-2.5-0 libmariadb3 libnsl2 libpam0g libpcre2-8-0 libperl5.36
  libpq5 libsasl2-2 libspf2-2 libsqlite3-0)

if ! command -v swift >/dev/null 2>&1; then
  echo "setup: the Swift toolchain (6.0 or later) is not on PATH; install it first (swift.org/install)" >&2
  exit 2
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  if [[ " ${missing[*]} " == *" postfix "* ]]; then
    # No system mail server: the package then installs without a main.cf, so its postinst starts nothing and
    # nothing listens on :25 (scripts/postfix-e2e.sh runs its own instance inside a network namespace).
    echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
